"""Video ViT baseline: tubelet tokens, optional CLS token, joint space-time attention (fused SDPA)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from mmlookup.encoders.base import Encoder, EncoderOutput
from mmlookup.encoders.common import check_weight_init, drop_path_rates, init_weights, pair, size_kwargs
from mmlookup.layers.attention import QkvBias
from mmlookup.layers.block import Block
from mmlookup.layers.pos_embed import PosEmbed3d
from mmlookup.layers.tubelet import TubeletEmbed
from mmlookup.registry import register_encoder


class VideoViT(Encoder):
    """A plain video ViT over ``(B, C, T, H, W)`` clips; images are ``T = 1``.

    ``block_fn`` builds each block (``block_fn(dim=, num_heads=, mlp_ratio=, qkv_bias=, drop=, attn_drop=,
    drop_path=, act_layer=, norm_eps=, layer=)``); EViT and ATS inject theirs here and keep this model's state dict.

    The defaults are timm's ViT with a separable learned position table. Imported video checkpoints set the rest:
    ``pos_embed`` (``"learned_separable"``, ``"learned_joint"`` as ViViT, ``"sincos"`` as VideoMAE; the older
    ``separable_pos=False`` means ``"learned_joint"``), ``qkv_bias`` (``True``, ``False`` or ``"qv"``: query and
    value biases only, as VideoMAE), ``act_layer`` (``"gelu"`` or ``"gelu_tanh"``, ViViT's ``gelu_fast``),
    ``norm_eps`` (every LayerNorm) and ``final_norm`` (``False``: no norm after the last block, as VideoMAE with
    mean pooling, whose classifier normalises the pooled token instead). ``pos_init_std`` is the learned position
    tables' init std (``None``: timm's; see ``PosEmbed3d``).

    The from-scratch switches every family shares (issue 26: the same names on ViT, EViT, ATS, ToMe and LookupViT,
    so one tuning protocol searches the same space for each): ``stem_norm`` (a LayerNorm on the tubelet tokens
    before the position embedding), ``pos_embed="sincos_3d"`` (a fixed per-axis sin-cos table) and
    ``weight_init="torch"`` (PyTorch's own layer init instead of timm's truncated normal 0.02; the CLS token and
    its position keep timm's draw). Pooling is the classifier's (``model.pool``: ``cls`` or ``mean``).
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
        qkv_bias: QkvBias = True,
        class_token: bool = True,
        separable_pos: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        block_fn: Callable[..., nn.Module] | None = None,
        pos_embed: str | None = None,
        act_layer: str = "gelu",
        norm_eps: float = 1e-6,
        final_norm: bool = True,
        pos_init_std: float | None = None,
        stem_norm: bool = False,
        weight_init: str = "timm",
    ):
        super().__init__()
        check_weight_init(weight_init)
        self.embed_dim, self.depth, self.num_heads = embed_dim, depth, num_heads
        self.num_frames, self.img_size = num_frames, pair(img_size)
        self.num_prefix_tokens = 1 if class_token else 0
        self.patch_embed = TubeletEmbed(in_chans, embed_dim, tubelet_size, patch_size)
        self.grid = self.patch_embed.grid_for(num_frames, *self.img_size)
        self.patch_norm = nn.LayerNorm(embed_dim, eps=norm_eps) if stem_norm else None
        self.pos_embed = PosEmbed3d(self.grid, embed_dim, separable=separable_pos, kind=pos_embed,
                                    init_std=pos_init_std)
        if class_token:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
            self.cls_pos = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        block_fn = block_fn or _plain_block
        dpr = drop_path_rates(drop_path_rate, depth)
        self.blocks = nn.ModuleList(
            block_fn(
                dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop_rate,
                attn_drop=attn_drop_rate, drop_path=dpr[i], act_layer=act_layer, norm_eps=norm_eps, layer=i,
            )
            for i in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps) if final_norm else nn.Identity()
        if weight_init == "timm":
            self.apply(init_weights)
        if class_token:
            # timm's layout: CLS token ~0, its position entry drawn like the patch table (std 0.02). A zero cls_pos
            # leaves the CLS row at ~1e-6, which block 0's LayerNorm amplifies ~1000x in the backward pass: the CLS
            # gradient then dominates the global norm and clip_grad starves the rest (a CLS-headed ViT-nano stayed at
            # chance on the synthetic demo).
            nn.init.normal_(self.cls_token, std=1e-6)
            nn.init.trunc_normal_(self.cls_pos, std=0.02)

    def embed(self, video: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        """Tubelet tokens + position embedding (+ CLS first): ``(B, num_prefix + N, D)`` and the grid."""
        x, grid = self.patch_embed(video)
        if self.patch_norm is not None:
            x = self.patch_norm(x)
        x = x + self.pos_embed(grid)
        if self.num_prefix_tokens:
            cls = (self.cls_token + self.cls_pos).expand(x.shape[0], -1, -1)
            x = torch.cat([cls, x], dim=1)
        return self.pos_drop(x), grid

    def forward(self, video: torch.Tensor, *, grid=None, return_attn: bool = False) -> EncoderOutput:
        if grid is not None:
            raise ValueError(f"{type(self).__name__} has no compressed grid; `grid=` is for LookupViT encoders")
        x, token_grid = self.embed(video)
        attns = []
        for blk in self.blocks:
            if self.grad_checkpointing and self.training and not return_attn:
                x, attn = checkpoint(blk, x, use_reentrant=False)
            else:
                x, attn = blk(x, return_attn=return_attn)
            if return_attn:
                attns.append(attn)
        info = {
            "grid": token_grid,
            "num_prefix_tokens": self.num_prefix_tokens,
            "tokens_per_layer": [x.shape[1]] * self.depth,
        }
        if return_attn:
            info["attn"] = attns
        return EncoderOutput(tokens=self.norm(x), info=info)


def _plain_block(*, layer: int, **kwargs) -> Block:
    return Block(**kwargs)


def _make(size: str, **kwargs) -> VideoViT:
    return VideoViT(**size_kwargs(size, **kwargs))


@register_encoder
def vit_nano(**kwargs) -> VideoViT:
    """CPU-recipe size: D=128, 4 layers, 4 heads; 8x64x64 clips, tubelet 2x8x8."""
    return _make("nano", **kwargs)


@register_encoder
def vit_tiny(**kwargs) -> VideoViT:
    """D=192, 12 layers, 3 heads; 16x224x224, tubelet 2x16x16."""
    return _make("tiny", **kwargs)


@register_encoder
def vit_small(**kwargs) -> VideoViT:
    """D=384, 12 layers, 6 heads; 16x224x224, tubelet 2x16x16."""
    return _make("small", **kwargs)


@register_encoder
def vit_base(**kwargs) -> VideoViT:
    """ViT-B: D=768, 12 layers, 12 heads; 16x224x224, tubelet 2x16x16."""
    return _make("base", **kwargs)


@register_encoder
def vit_large(**kwargs) -> VideoViT:
    """ViT-L: D=1024, 24 layers, 16 heads; 16x224x224, tubelet 2x16x16."""
    return _make("large", **kwargs)
