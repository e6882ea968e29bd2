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

aten = torch.ops.aten


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


# ---- analytic formulas (DESIGN §4); MACs per block, LayerNorm/softmax/GELU/residuals not counted ----

def vit_block_macs(n: int, d: int) -> int:
    """``2N²D + 12ND²``: QKV+O projections 4ND², MLP 8ND², QKᵀ and AV N²D each."""
    return 2 * n * n * d + 12 * n * d * d


def lookup_block_macs(n: int, m: int, d: int, fused: bool = False, lookup_mlp_ratio: float = 0.5) -> int:
    """``(3NM + 2M²)D + (4N + 15M)D²``; the fused SDPA trick recomputes KQᵀ, so the NMD coefficient becomes 4."""
    nmd = (4 if fused else 3) * n * m * d
    lookup_mlp = int(2 * n * d * d * lookup_mlp_ratio)
    return nmd + 2 * m * m * d + 3 * n * d * d + lookup_mlp + 15 * m * d * d


def tubelet_macs(n: int, d: int, in_chans: int, t: int, p: int) -> int:
    return n * d * in_chans * t * p * p


def analytic_gmacs(encoder: nn.Module, video_shape: tuple[int, int, int, int], grid=None) -> float | None:
    """Formula GMACs of ViT, EViT, ToMe, LookupViT (tubelet embedding in, heads out); None for ATS (data-dependent)."""
    from mmlookup.encoders.lookupvit import LookupViT
    from mmlookup.encoders.vit import VideoViT
    from mmlookup.layers.attention import use_fused_attn

    c, t, h, w = video_shape
    pe = encoder.patch_embed
    lgrid = pe.grid_for(t, h, w)
    n = lgrid[0] * lgrid[1] * lgrid[2]
    d = encoder.embed_dim
    t_eff = 1 if t == 1 else pe.tubelet_size
    embed = tubelet_macs(n, d, c, t_eff, pe.patch_size)
    if type(encoder) is VideoViT:
        n_all = n + encoder.num_prefix_tokens
        return (embed + encoder.depth * vit_block_macs(n_all, d)) / 1e9
    if hasattr(encoder, "schedule_macs"):  # ToMe: per-layer token counts plus the matching's similarity matrix
        return (embed + encoder.schedule_macs(n + encoder.num_prefix_tokens)) / 1e9
    if hasattr(encoder, "token_schedule"):  # EViT: attention on the tokens a layer receives, MLP on those it keeps
        total, n_in = embed, n + encoder.num_prefix_tokens
        for n_out in encoder.token_schedule(n_in):
            total += 2 * n_in * n_in * d + 4 * n_in * d * d + 8 * n_out * d * d
            n_in = n_out
        return total / 1e9
    if isinstance(encoder, LookupViT):
        cg = encoder.compressed_grid(grid, lgrid)
        m = cg[0] * cg[1] * cg[2]
        fused = use_fused_attn() and encoder.blocks[0].reuse == "logits"
        ratio = encoder.blocks[0].mlp.fc1.out_features / d
        return (embed + encoder.depth * lookup_block_macs(n, m, d, fused=fused, lookup_mlp_ratio=ratio)) / 1e9
    return None
