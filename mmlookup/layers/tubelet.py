"""Tubelet tokens: a Conv3d with kernel = stride = (t, p, p), images by summing the kernel over time.

Because kernel = stride, the convolution is one matrix product of non-overlapping patches with the kernel
flattened. On quiet CPU cores that (reshape + GEMM) took 37 ms per 16x224² clip at ViT-B width against 106 ms
for PyTorch's Conv3d (measured when the issue was filed); under heavy load from other jobs both were ~400 ms
(median of 12 interleaved runs: 406 vs 397), the patch copy then dominating. ``auto`` uses the GEMM on CPU and
cuDNN's convolution on CUDA. Both read the same
``proj.weight`` / ``proj.bias`` (state dicts unchanged) and give the same tokens (``tests/test_tubelet.py``).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

TUBELET_IMPLS = ("auto", "gemm", "conv")


class TubeletEmbed(nn.Module):
    """Cut ``(B, C, T, H, W)`` video into tubelets and project them to ``(B, N, D)`` tokens.

    An image is ``T == 1``: the kernel is summed over its time axis, which equals feeding the image repeated
    ``t`` times, at ``1/t`` of the cost. Returns the tokens and their grid ``(T/t, H/p, W/p)``.
    """

    def __init__(self, in_chans: int = 3, embed_dim: int = 768, tubelet_size: int = 2, patch_size: int = 16,
                 impl: str = "auto"):
        super().__init__()
        if impl not in TUBELET_IMPLS:
            raise ValueError(f"unknown tubelet implementation {impl!r}; valid: {', '.join(TUBELET_IMPLS)}")
        self.impl = impl  # auto: gemm on CPU, conv elsewhere
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
        weight, t = self.proj.weight, self.tubelet_size
        if video.shape[2] == 1 and t > 1:
            weight, t = weight.sum(dim=2, keepdim=True), 1
        impl = self.impl if self.impl != "auto" else ("gemm" if video.device.type == "cpu" else "conv")
        if impl == "gemm":
            return _tubelet_gemm(video, weight, self.proj.bias, t, self.patch_size), grid
        x = F.conv3d(video, weight, self.proj.bias, stride=(t, self.patch_size, self.patch_size))
        # contiguous (B, N, D): otherwise every later residual add keeps the transposed layout and each LayerNorm
        # on the tokens pays a copy (LookupViT: 2 per block)
        return x.flatten(2).transpose(1, 2).contiguous(), grid


def _tubelet_gemm(video: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, t: int, p: int) -> torch.Tensor:
    """Conv3d with kernel = stride = ``(t, p, p)`` as patches ``(B·N, C·t·p·p)`` times the flattened kernel."""
    b, c, tt, h, w = video.shape
    patches = video.reshape(b, c, tt // t, t, h // p, p, w // p, p).permute(0, 2, 4, 6, 1, 3, 5, 7)
    patches = patches.reshape(b, (tt // t) * (h // p) * (w // p), c * t * p * p)  # (B, N, C·t·p·p), one copy
    return F.linear(patches, weight.reshape(weight.shape[0], -1), bias)


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
