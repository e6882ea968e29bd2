"""Tubelet tokens: a Conv3d with kernel = stride = (t, p, p), images by summing the kernel over time."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class TubeletEmbed(nn.Module):
    """Cut ``(B, C, T, H, W)`` video into tubelets and project them to ``(B, N, D)`` tokens.

    An image is ``T == 1``: the kernel is summed over its time axis, which equals feeding the image repeated
    ``t`` times, at ``1/t`` of the cost. Returns the tokens and their grid ``(T/t, H/p, W/p)``.
    """

    def __init__(self, in_chans: int = 3, embed_dim: int = 768, tubelet_size: int = 2, patch_size: int = 16):
        super().__init__()
        self.tubelet_size, self.patch_size = int(tubelet_size), int(patch_size)
        kernel = (self.tubelet_size, self.patch_size, self.patch_size)
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=kernel, stride=kernel)

    def grid_for(self, t: int, h: int, w: int) -> tuple[int, int, int]:
        """Token grid for an input of ``t`` frames at ``h × w``; a clear ``ValueError`` when it does not divide."""
        tt, p = self.tubelet_size, self.patch_size
        if h % p or w % p:
            raise ValueError(f"frame size {h}x{w} is not divisible by the patch size {p}")
        if t != 1 and t % tt:
            raise ValueError(f"{t} frames are not divisible by the tubelet length {tt} (use T=1 for an image)")
        return (1 if t == 1 else t // tt, h // p, w // p)

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        if video.ndim != 5:
            raise ValueError(f"expected video (B, C, T, H, W), got shape {tuple(video.shape)}")
        grid = self.grid_for(*video.shape[2:])
        if video.shape[2] == 1 and self.tubelet_size > 1:
            weight = self.proj.weight.sum(dim=2, keepdim=True)
            x = F.conv3d(video, weight, self.proj.bias, stride=(1, self.patch_size, self.patch_size))
        else:
            x = self.proj(video)
        # contiguous (B, N, D): otherwise every later residual add keeps the transposed layout and each LayerNorm
        # on the tokens pays a copy (LookupViT: 2 per block)
        return x.flatten(2).transpose(1, 2).contiguous(), grid


def inflate_patch_weight(weight_2d: torch.Tensor, tubelet_size: int, mode: str = "average") -> torch.Tensor:
    """Inflate a 2D patch-embedding weight ``(D, C, p, p)`` to a tubelet weight ``(D, C, t, p, p)``.

    ``"average"`` copies the kernel into every time slice divided by ``t``; ``"central"`` puts it in the
    centre slice and zeros elsewhere. On a static video both give exactly the 2D model's patch tokens.
    """
    if weight_2d.ndim != 4:
        raise ValueError(f"expected a 2D patch weight (D, C, p, p), got shape {tuple(weight_2d.shape)}")
    t = int(tubelet_size)
    if mode == "average":
        return weight_2d.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
    if mode == "central":
        out = weight_2d.new_zeros(weight_2d.shape[0], weight_2d.shape[1], t, *weight_2d.shape[2:])
        out[:, :, t // 2] = weight_2d
        return out
    raise ValueError(f"unknown inflation mode {mode!r}; valid modes: average, central")
