"""Position embeddings for token grids: learned separable (``pos_t + pos_hw``) or joint, VideoMAE's fixed
sinusoid table, or a fixed per-axis sin-cos table; resized on demand."""
from __future__ import annotations

import torch
import torch.nn as nn

from mmlookup.layers.resize import resize_grid

Grid3 = tuple[int, int, int]
POS_EMBED_KINDS = ("learned_separable", "learned_joint", "sincos", "sincos_3d")
FIXED_KINDS = ("sincos", "sincos_3d")  # buffers, never trained


def sinusoid_table(n: int, dim: int) -> torch.Tensor:
    """VideoMAE's fixed table ``(1, n, dim)`` over the flattened token index ``i`` (time-major, as its tokens):
    column ``j`` is ``sin`` (even ``j``) or ``cos`` (odd ``j``) of ``i / 10000^(2·(j // 2) / dim)``.

    Computed in float64 and rounded once, as the original (NumPy) does.
    """
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    j = torch.arange(dim, dtype=torch.float64)
    angle = pos / torch.pow(10000.0, 2 * torch.div(j, 2, rounding_mode="floor") / dim)
    table = torch.where(j.remainder(2) == 0, torch.sin(angle), torch.cos(angle))
    return table.float().unsqueeze(0)


def sincos_3d_table(grid: Grid3, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """A fixed ``(1, t*h*w, dim)`` table (time-major) that encodes each axis of the grid separately.

    ``dim`` is split into three even parts (time gets the remainder: 44 / 42 / 42 of 128); the part of an axis
    holds ``[sin(i·ω_k), cos(i·ω_k)]`` for coordinate ``i`` and frequencies ``ω_k = temperature^(-k/(K-1))``,
    ``k < K``. On a ``t = 1`` grid (an image) the time part is constant, so the table is a 2D sin-cos table plus a
    constant: the layout of the simple-ViT 2D table that lucidrains' LookViT adds, extended to time.
    """
    if dim % 2 or dim < 12:
        raise ValueError(f"a sin-cos table needs an even dimension >= 12, got {dim}")
    d_hw = 2 * (dim // 6)
    parts = []
    for n, d in zip(grid, (dim - 2 * d_hw, d_hw, d_hw)):
        k = d // 2
        omega = temperature ** -(torch.arange(k, dtype=torch.float64) / max(k - 1, 1))
        angle = torch.arange(n, dtype=torch.float64)[:, None] * omega[None, :]
        parts.append(torch.cat((angle.sin(), angle.cos()), dim=1))  # (n, d)
    t, h, w = grid
    table = torch.cat((parts[0][:, None, None, :].expand(t, h, w, -1), parts[1][None, :, None, :].expand(t, h, w, -1),
                       parts[2][None, None, :, :].expand(t, h, w, -1)), dim=-1)
    return table.reshape(1, t * h * w, dim).float()


class PosEmbed3d(nn.Module):
    """Position embedding for a ``(t, h, w)`` token grid, of one of three kinds:

    * ``"learned_separable"`` (the default): ``pos_t (1, t, D)`` + ``pos_hw (1, h*w, D)``; imports a 2D ViT's
      spatial table as is (with ``pos_t`` set to zero by the importer);
    * ``"learned_joint"``: one ``(1, t*h*w, D)`` table (ViViT);
    * ``"sincos"``: VideoMAE's fixed sinusoid table (:func:`sinusoid_table`), a non-persistent buffer, so it is
      in no state dict and never trained;
    * ``"sincos_3d"``: the fixed per-axis table of :func:`sincos_3d_table` (also a non-persistent buffer).

    ``forward(grid)`` returns ``(1, prod(grid), D)``, resized with the anti-aliased resampler when the grid
    differs from the one it was built for (other frame counts or resolutions, images with ``t = 1``).
    ``kind`` defaults to what ``separable`` says (the older spelling). ``init_std=None`` is timm's init (std 0.02;
    ``pos_t`` starts at zero); a float draws every learned table, ``pos_t`` included, at that std: LookupViT-nano
    trained from scratch on the synthetic clips needs 0.2 (about half the tubelet features' own scale at init) to
    leave the chance plateau reliably (docs/benchmarks.md, "Why LookupViT learned worse").
    """

    def __init__(self, grid: Grid3, embed_dim: int, separable: bool = True, kind: str | None = None,
                 init_std: float | None = None):
        super().__init__()
        kind = kind or ("learned_separable" if separable else "learned_joint")
        if kind not in POS_EMBED_KINDS:
            raise ValueError(f"unknown position embedding {kind!r}; valid: {', '.join(POS_EMBED_KINDS)}")
        self.grid, self.kind = tuple(int(g) for g in grid), kind
        self.separable = kind == "learned_separable"
        t, h, w = self.grid
        if kind == "learned_separable":
            self.pos_t = nn.Parameter(torch.zeros(1, t, embed_dim) if init_std is None
                                      else _trunc_normal((1, t, embed_dim), init_std))
            self.pos_hw = nn.Parameter(_trunc_normal((1, h * w, embed_dim), init_std))
        elif kind == "learned_joint":
            self.pos_embed = nn.Parameter(_trunc_normal((1, t * h * w, embed_dim), init_std))
        else:
            self.register_buffer("table", self.fixed_table(embed_dim), persistent=False)

    def fixed_table(self, embed_dim: int | None = None) -> torch.Tensor:
        """The fixed (``sincos`` / ``sincos_3d``) table of this grid: the non-persistent buffer, recomputed
        (loaders that leave non-persistent buffers empty, such as transformers' ``from_pretrained``, call it)."""
        dim = int(embed_dim if embed_dim is not None else self.table.shape[-1])
        t, h, w = self.grid
        return sinusoid_table(t * h * w, dim) if self.kind == "sincos" else sincos_3d_table(self.grid, dim)

    def forward(self, grid: Grid3) -> torch.Tensor:
        grid = tuple(int(g) for g in grid)
        t, h, w = grid
        if self.kind in FIXED_KINDS:
            return resize_grid(self.table, self.grid, grid)
        if not self.separable:
            return resize_grid(self.pos_embed, self.grid, grid)
        pos_t = resize_grid(self.pos_t, self.grid[:1], (t,))
        pos_hw = resize_grid(self.pos_hw, self.grid[1:], (h, w))
        return (pos_t[:, :, None, :] + pos_hw[:, None, :, :]).reshape(1, t * h * w, -1)


def _trunc_normal(shape: tuple[int, ...], std: float | None) -> torch.Tensor:
    """``None``: timm's std 0.02 (cut at ±2); a float: normal of ``std`` cut at ±2 std."""
    if std is None:
        return nn.init.trunc_normal_(torch.zeros(shape), std=0.02)
    return nn.init.trunc_normal_(torch.empty(shape), std=std, a=-2 * std, b=2 * std)


def resize_pos_embed_table(table: torch.Tensor, old_grid: tuple[int, ...], new_grid: tuple[int, ...]) -> torch.Tensor:
    """Resize a stored ``(1, prod(old_grid), D)`` table (e.g. when loading a checkpoint at another resolution)."""
    return resize_grid(table, old_grid, new_grid)
