"""Counting multiply-accumulates (the papers' "GFLOPs") by running the model, plus the analytic formulas.

``torch.utils.flop_counter.FlopCounterMode`` knows the CUDA fused-attention kernels but counts **zero** for the
CPU one (``aten._scaled_dot_product_flash_attention_for_cpu``); :data:`SDPA_CPU_FORMULAS` registers it (forward
and backward) so a count on CPU includes attention. The counter reports FLOPs = 2 × MACs for matmuls; this
module reports MACs.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from mmlookup.encoders.macs import analytic_gmacs, lookup_block_macs, tubelet_macs, vit_block_macs

aten = torch.ops.aten
__all__ = ["SDPA_CPU_FORMULAS", "analytic_gmacs", "count_macs", "encoder_gmacs", "flop_counter", "gmacs_per_view",
           "lookup_block_macs", "tubelet_macs", "vit_block_macs"]


def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _sdpa_cpu_backward_flops(
    grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs
) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


SDPA_CPU_FORMULAS: dict[Any, Callable[..., int]] = {
    aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_cpu_backward_flops,
}


def flop_counter() -> FlopCounterMode:
    """A quiet ``FlopCounterMode`` that also counts CPU fused attention."""
    return FlopCounterMode(display=False, custom_mapping=SDPA_CPU_FORMULAS)


def count_macs(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """MACs of one call ``fn(*args, **kwargs)`` (under ``no_grad``)."""
    with torch.no_grad(), flop_counter() as counter:
        fn(*args, **kwargs)
    return counter.get_total_flops() // 2


def encoder_gmacs(
    encoder: nn.Module,
    video_shape: tuple[int, int, int, int] = (3, 16, 224, 224),
    grid=None,
    video: torch.Tensor | None = None,
) -> float:
    """Measured GMACs per clip of ``encoder`` on one ``(C, T, H, W)`` input (``grid`` for LookupViT).

    Pass ``video`` (one clip, ``(1, C, T, H, W)``) for encoders whose cost depends on the content (ATS);
    otherwise a zero clip is used.
    """
    device = next(encoder.parameters()).device
    video = torch.zeros(1, *video_shape, device=device) if video is None else video[:1].to(device)
    was_training = encoder.training
    encoder.eval()
    try:
        kwargs = {} if grid is None else {"grid": grid}
        return count_macs(encoder, video, **kwargs) / 1e9
    finally:
        encoder.train(was_training)


def gmacs_per_view(encoder: nn.Module, video_shape: tuple[int, int, int, int], grid=None) -> float:
    """The GMACs per view every command reports (predict, the app, demo, plot, sweep, export): the formula of
    :func:`analytic_gmacs` where the encoder has one, else counted on a zero clip (:func:`encoder_gmacs`).
    One function, so the same model, input and grid give the same number everywhere."""
    g = analytic_gmacs(encoder, video_shape, grid=grid)
    return g if g is not None else encoder_gmacs(encoder, video_shape, grid=grid)

