"""Separable, anti-aliased linear resampling of token grids (DESIGN §4).

``resample_matrix(n_in, n_out)`` is the 1-D operator of ``jax.image.resize(method="linear", antialias=True)``:
half-pixel centres, a triangle kernel stretched by the down-scale factor, rows normalised to sum to 1. A grid
of any rank is resized by one such matrix per axis, which is linear, exact, differentiable, maps a constant
grid to the same constant, and works for every grid size — the property multi-resolution training needs.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch

Grid = tuple[int, ...]


@lru_cache(maxsize=256)
def _resample_rows(n_in: int, n_out: int) -> tuple[tuple[float, ...], ...]:
    """The matrix as Python floats (float64): cached as plain numbers, never as a tensor, so a tensor made while
    ``torch.export`` / ``torch.compile`` trace (a fake tensor) cannot leak into the cache and later eager calls."""
    if n_in < 1 or n_out < 1:
        raise ValueError(f"grid sizes must be positive, got {n_in} -> {n_out}")
    if n_in == n_out:
        return tuple(tuple(1.0 if i == j else 0.0 for j in range(n_in)) for i in range(n_out))
    scale = n_out / n_in
    kernel_scale = min(scale, 1.0)  # stretch the kernel only when downsampling (anti-aliasing)
    rows = []
    for o in range(n_out):
        centre = (o + 0.5) / scale - 0.5                                  # output centre in input coordinates
        w = [max(1.0 - abs((i - centre) * kernel_scale), 0.0) for i in range(n_in)]
        total = math.fsum(w)
        rows.append(tuple(v / total for v in w))
    return tuple(rows)


def resample_matrix(n_in: int, n_out: int, *, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """The ``(n_out, n_in)`` 1-D resampling matrix; each row sums to 1."""
    rows = _resample_rows(int(n_in), int(n_out))
    return torch.tensor(rows, dtype=torch.float64).to(dtype=dtype, device=device)


def resize_grid(x: torch.Tensor, in_grid: Grid, out_grid: Grid) -> torch.Tensor:
    """Resize flattened grid tokens ``(B, prod(in_grid), D)`` to ``(B, prod(out_grid), D)``.

    Axes are resampled one after another (cheapest order: the result is identical because the operator is
    separable). Equal grids return ``x`` unchanged.
    """
    in_grid, out_grid = tuple(int(g) for g in in_grid), tuple(int(g) for g in out_grid)
    if len(in_grid) != len(out_grid):
        raise ValueError(f"grid ranks differ: {in_grid} vs {out_grid}")
    b, n, d = x.shape
    if n != _prod(in_grid):
        raise ValueError(f"{n} tokens do not form the grid {in_grid}")
    if in_grid == out_grid:
        return x
    y = x.reshape(b, *in_grid, d)
    # in x's dtype, outside autocast: under bf16 autocast tensordot failed ("both inputs should have same dtype")
    with torch.autocast(x.device.type, enabled=False):
        for axis, (n_in, n_out) in enumerate(zip(in_grid, out_grid)):
            if n_in == n_out:
                continue
            r = resample_matrix(n_in, n_out, dtype=x.dtype, device=x.device)
            y = torch.movedim(torch.tensordot(r, torch.movedim(y, axis + 1, 0), dims=([1], [0])), 0, axis + 1)
    return y.reshape(b, _prod(out_grid), d)


def resize_macs(in_grid: Grid, out_grid: Grid, d: int) -> int:
    """Multiply-accumulates of :func:`resize_grid` on one sample of width ``d``: each resampled axis is an
    ``(n_out, n_in)`` matrix applied to every line of the grid as it is at that point (axes in the same order)."""
    cur, total = [int(g) for g in in_grid], 0
    for axis, n_out in enumerate(int(g) for g in out_grid):
        n_in = cur[axis]
        if n_in != n_out:
            total += n_out * n_in * (_prod(cur) // n_in) * d
            cur[axis] = n_out
    return total


def _prod(g: Grid) -> int:
    out = 1
    for v in g:
        out *= v
    return out
