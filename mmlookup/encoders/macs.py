"""Analytic multiply-accumulate counts of the encoders (DESIGN §4), used by ToMe's budget search and the benchmarks
(:mod:`mmlookup.bench.flops` measures them by running the model)."""
from __future__ import annotations

import torch.nn as nn

from mmlookup.encoders.lookupvit import LookupViT
from mmlookup.encoders.vit import VideoViT
from mmlookup.layers.attention import use_fused_attn
from mmlookup.layers.resize import resize_macs

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
        resize = resize_macs(lgrid, cg, d)  # p0 = R(l0): small, but counted, so formula and counter agree
        return (embed + resize + encoder.depth * lookup_block_macs(n, m, d, fused=fused, lookup_mlp_ratio=ratio)) / 1e9
    return None
