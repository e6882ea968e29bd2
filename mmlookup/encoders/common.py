"""Pieces shared by the encoder families: size table, weight init, grid parsing."""
from __future__ import annotations

from typing import Any, Sequence

import torch.nn as nn

# name -> (embed_dim, depth, num_heads). ViT-B is 768/12/12 (DESIGN §2); "nano" is the CPU-recipe size.
SIZES: dict[str, tuple[int, int, int]] = {
    "nano": (128, 4, 4),
    "tiny": (192, 12, 3),
    "small": (384, 12, 6),
    "base": (768, 12, 12),
    "large": (1024, 24, 16),
}

# Input defaults per size: the CPU size runs on small clips; the others on the usual 16x224x224, tubelet 2x16x16.
INPUT_DEFAULTS: dict[str, dict[str, Any]] = {
    "nano": dict(num_frames=8, img_size=64, patch_size=8, tubelet_size=2),
}
_DEFAULT_INPUT = dict(num_frames=16, img_size=224, patch_size=16, tubelet_size=2)


def size_kwargs(size: str, **overrides: Any) -> dict[str, Any]:
    dim, depth, heads = SIZES[size]
    kwargs: dict[str, Any] = dict(
        embed_dim=dim, depth=depth, num_heads=heads, **INPUT_DEFAULTS.get(size, _DEFAULT_INPUT)
    )
    kwargs.update(overrides)
    return kwargs


def drop_path_rates(rate: float, depth: int) -> list[float]:
    """Stochastic-depth rate per block, rising linearly from 0 to ``rate`` (plain floats: builds on ``meta`` too)."""
    return [rate * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]


#: ``weight_init`` of every family: ``"timm"`` (truncated normal 0.02, :func:`init_weights`) or ``"torch"`` (PyTorch's
#: own layer init, uniform ±1/√fan_in: lucidrains' from-scratch choice, a shared switch since issue 26)
WEIGHT_INITS = ("timm", "torch")


def check_weight_init(weight_init: str) -> str:
    if weight_init not in WEIGHT_INITS:
        raise ValueError(f"unknown weight_init {weight_init!r}; valid: {', '.join(WEIGHT_INITS)}")
    return weight_init


def init_weights(module: nn.Module) -> None:
    """timm-style init: truncated normal (std 0.02) for linear layers, zero biases, unit LayerNorm."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv3d):
        # Same as a linear layer over the flattened tubelet (as in MAE / timm patch embeddings).
        nn.init.trunc_normal_(module.weight.view(module.weight.shape[0], -1), std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def parse_grid(grid: str | Sequence[int]) -> tuple[int, int, int]:
    """``"4x7x7"`` or ``(4, 7, 7)`` → ``(4, 7, 7)``; anything else is a clear error."""
    if isinstance(grid, str):
        parts = grid.lower().replace("×", "x").split("x")
    else:
        parts = list(grid)
    try:
        out = tuple(int(v) for v in parts)
    except (TypeError, ValueError):
        out = ()
    if len(out) != 3 or min(out) < 1:
        raise ValueError(f"a compressed grid is three positive sizes (t, h, w) or 'TxHxW', got {grid!r}")
    return out  # type: ignore[return-value]
