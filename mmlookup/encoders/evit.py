"""EViT on the video ViT (Liang et al., ICLR 2022; reference ``token_reduction.md`` §2, DESIGN §5).

At the reducing layers (default 3, 6, 9 of 12), after the attention residual and before the MLP, keep the
``ceil(ρ·(N−1))`` patch tokens with the largest head-averaged CLS attention and fuse the rest into one token
weighted by that attention (appended last; later layers may keep or fuse it again). The top-k is global over
space and time. The CLS row ``softmax(q_cls Kᵀ/√d)`` is computed on its own (cost N·D), so the attention itself
stays a fused SDPA call. ``ρ = 1`` is exactly the plain ViT, so a ``vit_*`` checkpoint runs training-free.

Training uses a keep-rate warm-up (ρ = 1 for the first epochs, then a cosine to ρ): the engine calls
:meth:`EViT.set_keep_rate` every step (``mmlookup.engine.schedule.keep_rate_at``).
"""
from __future__ import annotations

from typing import Sequence

import torch

from mmlookup.encoders.common import size_kwargs
from mmlookup.encoders.reducing import BlockState, ReducingBlock, ReducingViT, check_layers, default_layers
from mmlookup.encoders.token_ops import evit_keep_count, evit_reduce, gather_tokens, query_attention
from mmlookup.registry import register_encoder


class EViTBlock(ReducingBlock):
    """A ViT block that, when ``reduce`` and ``keep_rate < 1``, keeps the attentive tokens and fuses the rest."""

    def __init__(self, *args, reduce: bool = False, keep_rate: float = 1.0, fuse: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.reduce, self.keep_rate, self.fuse = reduce, float(keep_rate), fuse

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, pos: torch.Tensor, num_input: int,
                return_attn: bool = False) -> BlockState:
        q, k, v = self.qkv(x, mask)
        out, weights = self.mix(q, k, v, mask, return_attn)
        x = x + self.drop_path(out)
        p0 = self.num_prefix
        num_patch = x.shape[1] - p0
        if self.reduce and self.keep_rate < 1.0 and num_patch > 1:
            keep = evit_keep_count(num_patch, self.keep_rate)
            if keep < num_patch:
                row = weights[:, :, 0] if weights is not None and p0 else query_attention(q, k, mask, p0)
                cls_attn = row.mean(dim=1)[:, p0:]                               # (B, N-1), head mean
                x, keep_idx, _ = evit_reduce(x, cls_attn, keep, self.fuse, prefix=p0)
                parts = [pos[:, :p0], gather_tokens(pos[:, p0:], keep_idx)]
                if x.shape[1] > keep + p0:
                    parts.append(torch.full_like(pos[:, :1], -1))
                pos = torch.cat(parts, dim=1)
        return self.mlp_residual(x, mask), mask, pos, weights

    def extra_repr(self) -> str:
        return f"reduce={self.reduce}, keep_rate={self.keep_rate}, fuse={self.fuse}"


class EViT(ReducingViT):
    """Video ViT with EViT token reorganisation; same state dict as :class:`~mmlookup.encoders.vit.VideoViT`.

    Args:
        keep_rate: ρ, the fraction of non-CLS tokens kept at each reducing layer (1 = plain ViT).
        reduce_layers: 0-indexed reducing layers (default ``depth/4, depth/2, 3·depth/4``: 3, 6, 9 of 12).
        fuse_token: fuse the inattentive tokens into one extra token (else drop them).
        **kwargs: :class:`VideoViT` arguments.
    """

    def __init__(self, *, keep_rate: float = 0.7, reduce_layers: Sequence[int] | None = None, fuse_token: bool = True,
                 **kwargs):
        depth = int(kwargs.get("depth", 12))
        layers = check_layers(default_layers(depth, "evit") if reduce_layers is None else reduce_layers, depth)

        def block_fn(*, layer: int, **kw) -> EViTBlock:
            return EViTBlock(reduce=layer in layers, keep_rate=keep_rate, fuse=fuse_token, **kw)

        super().__init__(block_fn=block_fn, **kwargs)
        self.reduce_layers = layers
        self.set_keep_rate(keep_rate)

    @property
    def keep_rate(self) -> float:
        return self.blocks[self.reduce_layers[0]].keep_rate if self.reduce_layers else 1.0

    def set_keep_rate(self, keep_rate: float) -> None:
        """Set ρ at every reducing layer (the trainer calls this each step for the warm-up schedule)."""
        evit_keep_count(1, keep_rate)  # validates the range
        for blk in self.blocks:
            blk.keep_rate = float(keep_rate)

    def token_schedule(self, num_tokens: int) -> list[int]:
        """Tokens (CLS, if any, included) at each layer's MLP for ``num_tokens`` input tokens, at the current ρ."""
        out, n, p0 = [], num_tokens, self.num_prefix_tokens
        for blk in self.blocks:
            if blk.reduce and blk.keep_rate < 1.0 and n - p0 > 1:
                keep = evit_keep_count(n - p0, blk.keep_rate)
                if keep < n - p0:
                    n = p0 + keep + (1 if blk.fuse else 0)
            out.append(n)
        return out


def _make(size: str, **kwargs) -> EViT:
    return EViT(**size_kwargs(size, **kwargs))


@register_encoder
def evit_nano(**kwargs) -> EViT:
    """CPU-recipe size (D=128, 4 layers, 4 heads; 8x64x64, tubelet 2x8x8); reduces at layers 1, 2, 3, ρ=0.7."""
    return _make("nano", **kwargs)


@register_encoder
def evit_tiny(**kwargs) -> EViT:
    """D=192, 12 layers, 3 heads; 16x224x224, tubelet 2x16x16; reduces at 3, 6, 9, ρ=0.7."""
    return _make("tiny", **kwargs)


@register_encoder
def evit_small(**kwargs) -> EViT:
    """D=384, 12 layers, 6 heads; 16x224x224, tubelet 2x16x16; reduces at 3, 6, 9, ρ=0.7."""
    return _make("small", **kwargs)


@register_encoder
def evit_base(**kwargs) -> EViT:
    """ViT-B weights: D=768, 12 layers, 12 heads; 16x224x224, tubelet 2x16x16; reduces at 3, 6, 9, ρ=0.7."""
    return _make("base", **kwargs)


@register_encoder
def evit_large(**kwargs) -> EViT:
    """ViT-L weights: D=1024, 24 layers, 16 heads; 16x224x224, tubelet 2x16x16; reduces at 6, 12, 18, ρ=0.7."""
    return _make("large", **kwargs)
