"""The pre-norm transformer block shared by the ViT, EViT/ATS and LookupViT's compressed stream."""
from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn

from mmlookup.layers.attention import Attention, QkvBias
from mmlookup.layers.mlp import DropPath, Mlp, activation


class Block(nn.Module):
    """``x += attn(norm1(x)); x += mlp(norm2(x))`` with stochastic depth.

    ``act_layer`` names the MLP activation (:data:`mmlookup.layers.mlp.ACTIVATIONS`), ``norm_eps`` the LayerNorm
    eps (1e-6 as timm; imported checkpoints bring their own, e.g. 1e-12 for VideoMAE).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: QkvBias = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        act_layer: str = "gelu",
        norm_eps: float = 1e-6,
    ):
        super().__init__()
        norm_layer = partial(nn.LayerNorm, eps=norm_eps)
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop, act_layer=activation(act_layer))
        self.drop_path = DropPath(drop_path)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, return_attn: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        y, attn = self.attn(self.norm1(x), mask=mask, return_attn=return_attn)
        x = x + self.drop_path(y)
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x, attn
