"""Learned position embeddings for token grids, separable (``pos_t + pos_hw``) or joint, resized on demand."""
from __future__ import annotations

import torch
import torch.nn as nn

from mmlookup.layers.resize import resize_grid

Grid3 = tuple[int, int, int]


class PosEmbed3d(nn.Module):
    """Learned position embedding for a ``(t, h, w)`` token grid.

    ``separable=True`` keeps ``pos_t (1, t, D)`` and ``pos_hw (1, h*w, D)`` and adds them (the default: it
    imports a 2D ViT's spatial table as is and starts time at zero); otherwise one joint ``(1, t*h*w, D)``
    table. ``forward(grid)`` returns ``(1, prod(grid), D)``, resized with the anti-aliased resampler when the
    grid differs from the one it was built for (other frame counts or resolutions, images with ``t = 1``).
    """

    def __init__(self, grid: Grid3, embed_dim: int, separable: bool = True):
        super().__init__()
        self.grid, self.separable = tuple(int(g) for g in grid), separable
        t, h, w = self.grid
        if separable:
            self.pos_t = nn.Parameter(torch.zeros(1, t, embed_dim))
            self.pos_hw = nn.Parameter(torch.zeros(1, h * w, embed_dim))
            nn.init.trunc_normal_(self.pos_hw, std=0.02)
        else:
            self.pos_embed = nn.Parameter(torch.zeros(1, t * h * w, embed_dim))
            nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, grid: Grid3) -> torch.Tensor:
        grid = tuple(int(g) for g in grid)
        t, h, w = grid
        if not self.separable:
            return resize_grid(self.pos_embed, self.grid, grid)
        pos_t = resize_grid(self.pos_t, self.grid[:1], (t,))
        pos_hw = resize_grid(self.pos_hw, self.grid[1:], (h, w))
        return (pos_t[:, :, None, :] + pos_hw[:, None, :, :]).reshape(1, t * h * w, -1)


def resize_pos_embed_table(table: torch.Tensor, old_grid: tuple[int, ...], new_grid: tuple[int, ...]) -> torch.Tensor:
    """Resize a stored ``(1, prod(old_grid), D)`` table (e.g. when loading a checkpoint at another resolution)."""
    return resize_grid(table, old_grid, new_grid)
