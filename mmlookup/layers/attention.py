"""Multi-head attention: fused ``scaled_dot_product_attention`` by default, an explicit path that can return maps.

``set_fused_attn(False)`` (or ``MMLOOKUP_FUSED_ATTN=0``) switches every attention to the explicit path, which is
the slow reference used by the tests.
"""
from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

_FUSED = os.environ.get("MMLOOKUP_FUSED_ATTN", "1") != "0"


def set_fused_attn(enable: bool) -> None:
    global _FUSED
    _FUSED = bool(enable)


def use_fused_attn() -> bool:
    return _FUSED


def key_padding_bias(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """``(B, N)`` bool key mask (True = real) → additive ``(B, 1, 1, N)`` bias for SDPA / explicit attention."""
    if mask is None:
        return None
    bias = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    bias.masked_fill_(~mask, torch.finfo(dtype).min)
    return bias[:, None, None, :]


def explicit_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference attention on ``(B, h, L, d)`` tensors; returns the output and the ``(B, h, Lq, Lk)`` weights."""
    logits = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
    if bias is not None:
        logits = logits + bias
    attn = logits.softmax(dim=-1)
    return attn @ v, attn


QkvBias = bool | str
QKV_BIAS = (True, False, "qv")


class QVBiasLinear(nn.Linear):
    """The fused ``qkv`` projection with query and value biases and no key bias (BEiT, VideoMAE).

    Parameters ``weight (3D, D)``, ``q_bias (D,)``, ``v_bias (D,)``; the key bias is a constant zero, not a
    parameter, so training cannot move it. Called like the ``nn.Linear`` it replaces.
    """

    def __init__(self, dim: int):
        super().__init__(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
        return F.linear(x, self.weight, bias)


def qkv_linear(dim: int, qkv_bias: QkvBias) -> nn.Linear:
    """The ``qkv`` projection for ``qkv_bias`` ``True`` / ``False`` / ``"qv"`` (query and value biases only)."""
    if qkv_bias not in QKV_BIAS or isinstance(qkv_bias, int) and not isinstance(qkv_bias, bool):
        raise ValueError(f"qkv_bias must be one of True, False, 'qv'; got {qkv_bias!r}")
    if qkv_bias == "qv":
        return QVBiasLinear(dim)
    return nn.Linear(dim, 3 * dim, bias=bool(qkv_bias))


def qkv_bias_of(linear: nn.Linear) -> QkvBias:
    """The ``qkv_bias`` value that rebuilds ``linear`` (inverse of :func:`qkv_linear`)."""
    if isinstance(linear, QVBiasLinear):
        return "qv"
    return linear.bias is not None


class Attention(nn.Module):
    """Self-attention over ``(B, N, D)`` tokens with an optional key padding mask ``(B, N)``.

    ``qkv_bias``: ``True`` (timm, torchvision, ViViT), ``False``, or ``"qv"`` (no key bias: VideoMAE, BEiT).
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: QkvBias = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed dim {dim} is not divisible by {num_heads} heads")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = qkv_linear(dim, qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop, self.proj_drop = float(attn_drop), nn.Dropout(proj_drop)

    def qkv_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]

    def merge(self, out: torch.Tensor) -> torch.Tensor:
        b, h, n, d = out.shape
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, h * d)))

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, return_attn: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns the output and, when ``return_attn`` (explicit path), the ``(B, h, N, N)`` weights."""
        q, k, v = self.qkv_heads(x)
        bias = key_padding_bias(mask, q.dtype)
        if use_fused_attn() and not return_attn:
            drop = self.attn_drop if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=drop)
            return self.merge(out), None
        out, attn = explicit_attention(q, k, v, bias)
        if self.training and self.attn_drop > 0:
            out = F.dropout(attn, self.attn_drop) @ v
        return self.merge(out), attn


# Largest (B·h)·M·N for which LookupViT materialises its gather logits once and reuses them for the infuse
# step instead of two fused SDPA calls (the second recomputes K Qᵀ); see ``share_logits``. Default 0 (never):
# on the 2-core CPU the shared path was 2-3x slower than the two fused calls at every compressed grid measured
# (M = 50..392, N = 1568, 12 heads, inference; 15 interleaved repeats; README "Infuse"): the flash kernel's
# extra K Qᵀ costs less than writing and reading the M x N map and its two softmaxes.
SHARED_LOGITS_MAX = int(os.environ.get("MMLOOKUP_SHARED_LOGITS_MAX", "0"))


def share_logits(bh: int, m: int, n: int) -> bool:
    """Whether a cross-attention pair over ``bh`` heads with ``m`` queries and ``n`` keys should compute its
    ``(bh, m, n)`` logits once for both directions.

    Only without grad: in training the two softmax maps it would keep for backward (``2·bh·m·n`` floats) cost more
    memory than the fused calls keep (their outputs), and activation memory is what LookupViT saves.
    """
    return not torch.is_grad_enabled() and bh * m * n <= SHARED_LOGITS_MAX
