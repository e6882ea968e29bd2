"""The video ViT with token-reducing blocks: the forward loop shared by EViT and ATS.

A reducing block subclasses :class:`~mmlookup.layers.block.Block` (same parameters, so a ``vit_*`` state dict
loads unchanged) and maps ``(x, mask, pos, num_input) → (x, mask, pos, attn)``: ``mask (B, N)`` marks real tokens of a
ragged batch (``None`` = all real) and ``pos (B, N)`` holds each token's index in the input sequence (CLS 0,
patch ``i`` at ``i + 1``, a fused token −1, padding −1), which is what ``info["kept_indices"]`` reports.

Without a CLS token (``class_token=False``, e.g. a VideoMAE checkpoint) patch ``i`` sits at ``i`` and EViT / ATS
rank tokens by the mean query's attention ``softmax(q̄ Kᵀ/√d)`` instead of the CLS row: this project's extension
(:func:`~mmlookup.encoders.token_ops.query_attention`), logged when such an encoder is built.
"""
from __future__ import annotations

import logging
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from mmlookup.encoders.base import EncoderOutput
from mmlookup.encoders.token_ops import apply_to_real, fixed_shapes, real_counts
from mmlookup.encoders.vit import VideoViT
from mmlookup.layers.attention import explicit_attention, key_padding_bias, qkv_bias_of, use_fused_attn
from mmlookup.layers.block import Block

log = logging.getLogger(__name__)
BlockState = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]


def default_layers(depth: int, kind: str) -> tuple[int, ...]:
    """EViT: ``(D/4, D/2, 3D/4)`` (3, 6, 9 for 12 layers); ATS: every layer from ``D/4`` on (3..11 for 12)."""
    if kind == "evit":
        return tuple(sorted({depth // 4, depth // 2, (3 * depth) // 4}))
    return tuple(range(depth // 4, depth))


def check_layers(layers: Sequence[int], depth: int) -> tuple[int, ...]:
    out = tuple(sorted({int(i) for i in layers}))
    bad = [i for i in out if not 0 <= i < depth]
    if bad:
        raise ValueError(f"reduction layers {bad} are outside 0..{depth - 1}")
    return out


class ReducingBlock(Block):
    """A :class:`Block` whose forward threads ``(x, mask, pos)``; subclasses reduce between attention and MLP.

    ``num_prefix`` (set by the encoder) is the number of leading tokens that are not patches: 1 with a CLS token.
    """

    num_prefix: int = 1

    def qkv(self, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``q, k, v`` as ``(B, h, N, d)``, projected from the real rows only (padding rows are zero)."""
        attn = self.attn
        qkv = apply_to_real(lambda t: attn.qkv(self.norm1(t)), x, mask)
        b, n, _ = qkv.shape
        q, k, v = qkv.reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
        return q, k, v

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, return_attn: bool,
            bias: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attention of queries ``q`` over all keys: fused SDPA, or the explicit reference path (``return_attn``).

        ``bias``: an additive ``(B, 1, 1, N)`` key bias used instead of the mask's (ToMe's ``log size``).
        """
        if bias is None:
            bias = key_padding_bias(mask, q.dtype)
        drop = self.attn.attn_drop if self.training else 0.0
        if use_fused_attn() and not return_attn:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=drop)
            return self.attn.merge(out), None
        out, weights = explicit_attention(q, k, v, bias)
        if drop > 0:
            out = F.dropout(weights, drop) @ v
        return self.attn.merge(out), weights

    def mlp_residual(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x + MLP(LN(x))`` computed on real tokens only; padded rows are zeroed."""
        y = apply_to_real(lambda t: self.mlp(self.norm2(t)), x, mask)
        x = x + self.drop_path(y)
        return x if mask is None else x * mask.unsqueeze(-1).to(x.dtype)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, pos: torch.Tensor, num_input: int,
                return_attn: bool = False) -> BlockState:
        """One block on ``(x, mask, pos)``; ``num_input`` is the number of patch tokens the encoder started with."""
        q, k, v = self.qkv(x, mask)
        out, weights = self.mix(q, k, v, mask, return_attn)
        x = x + self.drop_path(out)
        return self.mlp_residual(x, mask), mask, pos, weights


class ReducingViT(VideoViT):
    """:class:`VideoViT` whose blocks may drop tokens; ``EncoderOutput.mask`` marks real tokens when ragged."""

    scores_by_cls = True  # EViT / ATS rank tokens by the CLS row (the mean query's without CLS); ToMe does not

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for blk in self.blocks:
            blk.num_prefix = self.num_prefix_tokens
        if self.scores_by_cls and not self.num_prefix_tokens:
            log.warning("%s without a CLS token: tokens are ranked by the attention of the mean query, "
                        "softmax(q_mean K^T / sqrt(d)), instead of the CLS row (mmlookup's extension, not the "
                        "paper's method)", type(self).__name__)

    def forward(self, video: torch.Tensor, *, grid=None, return_attn: bool = False) -> EncoderOutput:
        if grid is not None:
            raise ValueError(f"{type(self).__name__} has no compressed grid; `grid=` is for LookupViT encoders")
        x, token_grid = self.embed(video)
        b, n, _ = x.shape
        pos = torch.arange(n, device=x.device).expand(b, n)
        num_patch = n - self.num_prefix_tokens
        mask: torch.Tensor | None = None
        counts, attns = [], []
        for blk in self.blocks:
            if self.grad_checkpointing and self.training and not return_attn:
                x, mask, pos, attn = checkpoint(blk, x, mask, pos, num_patch, use_reentrant=False)
            else:
                x, mask, pos, attn = blk(x, mask, pos, num_patch, return_attn=return_attn)
            counts.append(real_counts(mask, b, x.shape[1]))
            if return_attn:
                attns.append(attn)
        per_layer = torch.stack(counts)                                   # (depth, B)
        info = {
            "grid": token_grid,
            "num_prefix_tokens": self.num_prefix_tokens,
            "tokens_per_layer": per_layer.mean(dim=1) if fixed_shapes() else per_layer.mean(dim=1).tolist(),
            "tokens_per_sample": per_layer.t(),                             # (B, depth)
            "kept_indices": pos if mask is None else pos.masked_fill(~mask, -1),
        }
        if return_attn:
            info["attn"] = attns
        return EncoderOutput(tokens=self.norm(x), mask=mask, info=info)

    @classmethod
    def from_vit(cls, vit: VideoViT, **kwargs) -> "ReducingViT":
        """The same-geometry model of this class carrying ``vit``'s weights (training-free use)."""
        model = cls(**vit_geometry(vit), **kwargs)
        model.load_state_dict(vit.state_dict())
        return model.train(vit.training)


def vit_geometry(vit: VideoViT) -> dict:
    """Constructor arguments that rebuild ``vit``'s architecture (so its state dict fits)."""
    blk = vit.blocks[0]
    pe = vit.patch_embed
    act = "gelu_tanh" if getattr(blk.mlp.act, "approximate", "none") == "tanh" else "gelu"
    return dict(
        num_frames=vit.num_frames, img_size=vit.img_size, patch_size=pe.patch_size, tubelet_size=pe.tubelet_size,
        in_chans=pe.proj.in_channels, embed_dim=vit.embed_dim, depth=vit.depth, num_heads=vit.num_heads,
        mlp_ratio=blk.mlp.fc1.out_features / vit.embed_dim, qkv_bias=qkv_bias_of(blk.attn.qkv),
        class_token=bool(vit.num_prefix_tokens), pos_embed=vit.pos_embed.kind, act_layer=act,
        norm_eps=blk.norm1.eps, final_norm=isinstance(vit.norm, nn.LayerNorm),
        stem_norm=vit.patch_norm is not None,
    )
