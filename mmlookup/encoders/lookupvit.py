"""Spatio-temporal LookupViT (arXiv 2407.12753; DESIGN §4).

N lookup tokens (tubelets) and M << N compressed tokens (an anti-aliased resize of the lookup grid). Each block:
compressed tokens *gather* from lookup tokens by cross-attention, *refine* themselves with a full ViT block,
then lookup tokens *infuse* the refined compressed tokens through the same logits (softmax over the compressed
axis) and pass a D/2 MLP. No N×N tensor is ever formed.

Because ``softmax_M(Sᵀ) = softmax(K Qᵀ / √d)``, both directions run as fused ``scaled_dot_product_attention``
calls (query=K, key=Q for the infuse step) without storing the ``(B, h, M, N)`` logits; the explicit path
computes ``S`` once and is the reference. ``reuse="post_softmax"`` is the alternative reading (transposed
post-softmax weights, no renormalisation); it needs the explicit path.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from mmlookup.encoders.base import Encoder, EncoderOutput
from mmlookup.encoders.common import check_weight_init, drop_path_rates, init_weights, pair, parse_grid, size_kwargs
from mmlookup.layers.attention import share_logits, use_fused_attn
from mmlookup.layers.block import Block
from mmlookup.layers.fused import norm_linear, norm_mlp
from mmlookup.layers.mlp import DropPath, Mlp
from mmlookup.layers.norm import LayerNorm
from mmlookup.layers.pos_embed import PosEmbed3d
from mmlookup.layers.resize import resize_grid
from mmlookup.layers.tubelet import TubeletEmbed
from mmlookup.registry import register_encoder

REUSE_MODES = ("logits", "post_softmax")
BRANCH_INITS = ("zero", "trunc_normal")
#: how the compressed tokens start (issue 26's ablation): the paper's anti-aliased resize of the lookup grid, a box
#: average over each compressed cell (adaptive average pooling), or content-free learned queries (Perceiver-style
#: latents; a table at the default grid, resized to other grids)
COMPRESSED_INITS = ("resize", "pool", "learned")


class LookupBlock(nn.Module):
    """gather (l→p) → refine (ViT block on p) → infuse (p→l, same logits) → lookup MLP (D → D/2 → D)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        lookup_mlp_ratio: float = 0.5,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        reuse: str = "logits",
        post_norm: bool = False,
    ):
        super().__init__()
        if reuse not in REUSE_MODES:
            raise ValueError(f"unknown attention reuse {reuse!r}; valid: {', '.join(REUSE_MODES)}")
        self.num_heads, self.head_dim, self.reuse, self.attn_drop = num_heads, dim // num_heads, reuse, attn_drop
        # gather: queries from compressed tokens, keys/values from lookup tokens
        self.norm_p = LayerNorm(dim)
        self.norm_l = LayerNorm(dim)
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.proj_p = nn.Linear(dim, dim)
        # refine: a full pre-LN ViT block on the compressed tokens
        self.refine = Block(dim, num_heads, mlp_ratio, qkv_bias, drop, attn_drop, drop_path)
        # infuse: values from the refined compressed tokens, output projection on the lookup side
        self.norm_v = LayerNorm(dim)
        self.v_p = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj_l = nn.Linear(dim, dim)
        # optional LayerNorm of the lookup stream after infusing (lucidrains' LookViT), then the cheap lookup MLP
        self.norm_post = LayerNorm(dim) if post_norm else None
        self.norm_mlp = LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * lookup_mlp_ratio), drop=drop)
        self.drop = nn.Dropout(drop)
        self.drop_path = DropPath(drop_path)

    def zero_new_branches(self) -> None:
        """Zero the output layers of the branches a ViT block does not have (gather, infuse, lookup MLP).

        Each block then starts as the identity on the lookup stream and as a plain ViT block on the compressed
        stream; the branches grow from there (their inputs are not zero, so their output layers get gradients).
        """
        for layer in (self.proj_p, self.proj_l, self.mlp.fc2):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    @staticmethod
    def _merge(x: torch.Tensor) -> torch.Tensor:
        b, h, n, d = x.shape
        return x.transpose(1, 2).reshape(b, n, h * d)

    def forward(
        self, lookup: torch.Tensor, compressed: torch.Tensor, return_attn: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Returns updated ``(lookup, compressed)`` and, when ``return_attn``, the gather weights ``(B, h, M, N)``."""
        q = self._heads(norm_linear(compressed, self.norm_p, self.q))        # (B, h, M, d)
        k, v = self._kv(lookup)                                              # (B, h, N, d) each
        drop = self.attn_drop if self.training else 0.0
        fused = (use_fused_attn() and self.reuse == "logits" and not return_attn
                 and not share_logits(q.shape[0] * self.num_heads, q.shape[2], k.shape[2]))
        gather_w = None
        if fused:
            gathered = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:
            logits = (q * self.head_dim**-0.5) @ k.transpose(-2, -1)         # S: (B, h, M, N), the only M×N tensor
            gather_w = logits.softmax(dim=-1)
            gathered = F.dropout(gather_w, drop) @ v if drop else gather_w @ v
        compressed = compressed + self.drop_path(self.drop(self.proj_p(self._merge(gathered))))
        compressed, _ = self.refine(compressed)
        vp = self._heads(norm_linear(compressed, self.norm_v, self.v_p))     # (B, h, M, d)
        if fused:
            infused = F.scaled_dot_product_attention(k, q, vp, dropout_p=drop)  # softmax_M(Sᵀ) without storing S
        else:
            infuse_w = (
                logits.transpose(-2, -1).softmax(dim=-1) if self.reuse == "logits" else gather_w.transpose(-2, -1)
            )
            infused = F.dropout(infuse_w, drop) @ vp if drop else infuse_w @ vp
        lookup = lookup + self.drop_path(self.drop(self.proj_l(self._merge(infused))))
        if self.norm_post is not None:
            lookup = self.norm_post(lookup)
        lookup = lookup + self.drop_path(norm_mlp(lookup, self.norm_mlp, self.mlp))
        return lookup, compressed, gather_w

    def _kv(self, lookup: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, d = lookup.shape
        kv = norm_linear(lookup, self.norm_l, self.kv).view(b, n, 2, self.num_heads, self.head_dim)
        kv = kv.permute(2, 0, 3, 1, 4)
        return kv[0], kv[1]


def fit_compressed_grid(grid: str | Sequence[int], lookup_grid: Sequence[int]) -> tuple[int, int, int]:
    """``grid`` as a compressed grid over ``lookup_grid``; an image (lookup ``t = 1``) gets ``t_p = 1``.

    Every command that takes a grid comes through here (the forward pass, the GMACs formula, the recipe check), so
    a grid larger than the lookup grid on any axis is one clear error before any work: it would upsample the
    tokens it is meant to compress, at many times the trained cost.
    """
    t, h, w = parse_grid(grid)
    cgrid = (1 if lookup_grid[0] == 1 else t, h, w)
    if any(c > n for c, n in zip(cgrid, lookup_grid)):
        raise ValueError(f"compressed grid {'x'.join(map(str, cgrid))} is larger than the lookup grid "
                         f"{'x'.join(map(str, lookup_grid))} of this model and input: each of t, h, w must be at "
                         "most the lookup grid's")
    return cgrid


class LookupViT(Encoder):
    """Spatio-temporal LookupViT encoder; ``forward(video, grid=(t_p, h_p, w_p))`` runs at any compressed grid.

    Three switches take lucidrains' ``LookViT`` choices (issue 18's peer; off by default, measured in
    docs/benchmarks.md): ``stem_norm`` (a LayerNorm on the tubelet tokens before the position embedding),
    ``lookup_post_norm`` (a LayerNorm of the lookup stream after each infuse step) and ``weight_init="torch"``
    (PyTorch's default layer init, uniform ±1/√fan_in, instead of timm's truncated normal 0.02; the new branches are
    then zeroed only with ``branch_init="zero"``, and ``"trunc_normal"`` means "like the other layers").

    ``compressed_init`` (:data:`COMPRESSED_INITS`) is how the compressed tokens start: ``"resize"`` (the paper,
    DESIGN §4), ``"pool"`` (mean of the lookup tokens in each compressed cell) or ``"learned"`` (queries that do not
    depend on the clip).

    ``pos_embed`` picks the lookup tokens' position embedding kind (:class:`~mmlookup.layers.pos_embed.PosEmbed3d`;
    ``None``: what ``separable_pos`` says); ``"sincos"`` is VideoMAE's fixed table, for a student initialised from
    a VideoMAE teacher.
    """

    def __init__(
        self,
        num_frames: int = 16,
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 16,
        tubelet_size: int = 2,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        lookup_mlp_ratio: float = 0.5,
        qkv_bias: bool = True,
        grid: str | Sequence[int] = (4, 7, 7),
        reuse: str = "logits",
        separable_pos: bool = True,
        pos_embed: str | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        branch_init: str = "zero",
        pos_init_std: float | None = None,
        stem_norm: bool = False,
        lookup_post_norm: bool = False,
        weight_init: str = "timm",
        compressed_init: str = "resize",
    ):
        super().__init__()
        if compressed_init not in COMPRESSED_INITS:
            raise ValueError(f"unknown compressed_init {compressed_init!r}; valid: {', '.join(COMPRESSED_INITS)}")
        if branch_init not in BRANCH_INITS:
            raise ValueError(f"unknown branch_init {branch_init!r}; valid: {', '.join(BRANCH_INITS)}")
        check_weight_init(weight_init)
        self.embed_dim, self.depth, self.num_heads = embed_dim, depth, num_heads
        self.num_frames, self.img_size = num_frames, pair(img_size)
        self.default_grid = parse_grid(grid)
        self.patch_embed = TubeletEmbed(in_chans, embed_dim, tubelet_size, patch_size)
        self.lookup_grid = self.patch_embed.grid_for(num_frames, *self.img_size)
        self.patch_norm = LayerNorm(embed_dim) if stem_norm else None
        self.pos_embed = PosEmbed3d(self.lookup_grid, embed_dim, separable=separable_pos, kind=pos_embed,
                                    init_std=pos_init_std)
        self.pos_drop = nn.Dropout(drop_rate)
        self.compressed_init = compressed_init
        self.compressed_queries = None
        if compressed_init == "learned":
            t, h, w = self.default_grid
            queries = nn.init.trunc_normal_(torch.empty(1, t * h * w, embed_dim), std=0.02)
            self.compressed_queries = nn.Parameter(queries)
        dpr = drop_path_rates(drop_path_rate, depth)
        self.blocks = nn.ModuleList(
            LookupBlock(
                embed_dim, num_heads, mlp_ratio, lookup_mlp_ratio, qkv_bias, drop_rate, attn_drop_rate, dpr[i], reuse,
                lookup_post_norm,
            )
            for i in range(depth)
        )
        self.norm = LayerNorm(embed_dim)
        self.norm_compressed = LayerNorm(embed_dim)
        if weight_init == "timm":
            self.apply(init_weights)
        if branch_init == "zero":
            for blk in self.blocks:
                blk.zero_new_branches()

    def compressed_grid(self, grid, lookup_grid: tuple[int, int, int]) -> tuple[int, int, int]:
        """The compressed grid to use: ``grid`` (or the default) checked by :func:`fit_compressed_grid`."""
        return fit_compressed_grid(self.default_grid if grid is None else grid, lookup_grid)

    def initial_compressed(self, lookup: torch.Tensor, lookup_grid: tuple[int, int, int],
                           cgrid: tuple[int, int, int]) -> torch.Tensor:
        """The compressed tokens before block 0, ``(B, M, D)``, as ``compressed_init`` says."""
        if self.compressed_queries is not None:
            queries = resize_grid(self.compressed_queries, self.default_grid, cgrid)
            return queries.expand(lookup.shape[0], -1, -1)
        if self.compressed_init == "pool":
            b, _, d = lookup.shape
            cells = lookup.transpose(1, 2).reshape(b, d, *lookup_grid)
            return F.adaptive_avg_pool3d(cells, cgrid).flatten(2).transpose(1, 2)
        return resize_grid(lookup, lookup_grid, cgrid)

    def forward(self, video: torch.Tensor, *, grid=None, return_attn: bool = False) -> EncoderOutput:
        lookup, lookup_grid = self.patch_embed(video)
        if self.patch_norm is not None:
            lookup = self.patch_norm(lookup)
        lookup = self.pos_drop(lookup + self.pos_embed(lookup_grid))
        cgrid = self.compressed_grid(grid, lookup_grid)
        compressed = self.initial_compressed(lookup, lookup_grid, cgrid)     # p0 = R(l0): features + position
        attns = []
        for blk in self.blocks:
            if self.grad_checkpointing and self.training and not return_attn:
                lookup, compressed, attn = checkpoint(blk, lookup, compressed, use_reentrant=False)
            else:
                lookup, compressed, attn = blk(lookup, compressed, return_attn=return_attn)
            if return_attn:
                attns.append(attn)
        n, m = lookup.shape[1], compressed.shape[1]
        info = {"grid": cgrid, "lookup_grid": lookup_grid, "num_prefix_tokens": 0, "tokens_per_layer": [n] * self.depth,
                "compressed_per_layer": [m] * self.depth}
        if return_attn:
            info["attn"] = attns
        return EncoderOutput(tokens=self.norm(lookup), compressed=self.norm_compressed(compressed), info=info)


def _make(size: str, **kwargs) -> LookupViT:
    defaults = {"nano": (2, 4, 4)}
    kwargs.setdefault("grid", defaults.get(size, (4, 7, 7)))
    return LookupViT(**size_kwargs(size, **kwargs))


@register_encoder
def lookupvit_nano(**kwargs) -> LookupViT:
    """CPU-recipe size: D=128, 4 layers, 4 heads; 8x64x64 clips, tubelet 2x8x8 (lookup 4x8x8), compressed 2x4x4."""
    return _make("nano", **kwargs)


@register_encoder
def lookupvit_tiny(**kwargs) -> LookupViT:
    """D=192, 12 layers, 3 heads; 16x224x224, tubelet 2x16x16, compressed 4x7x7."""
    return _make("tiny", **kwargs)


@register_encoder
def lookupvit_small(**kwargs) -> LookupViT:
    """D=384, 12 layers, 6 heads; 16x224x224, tubelet 2x16x16, compressed 4x7x7."""
    return _make("small", **kwargs)


@register_encoder
def lookupvit_base(**kwargs) -> LookupViT:
    """LookupViT-B: D=768, 12 layers, 12 heads; 16x224x224, tubelet 2x16x16, compressed 4x7x7."""
    return _make("base", **kwargs)


@register_encoder
def lookupvit_large(**kwargs) -> LookupViT:
    """LookupViT-L: D=1024, 24 layers, 16 heads; 16x224x224, tubelet 2x16x16, compressed 4x7x7."""
    return _make("large", **kwargs)
