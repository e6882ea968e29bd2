"""LayerNorm fused into the next linear (and MLP) for training: recompute the norm in backward, save less.

Autograd keeps a LayerNorm's input *and* its output (the next linear saves it) although the output is a cheap
function of the input, the mean and the reciprocal std. :func:`norm_linear` and :func:`norm_mlp` are
``torch.autograd.Function`` s that save only the input (plus the per-token statistics; for the MLP also the
pre-activation) and recompute the normalised tokens (and the GELU) in backward. On LookupViT's lookup stream
this removes 2.5 of the ~8 ``N x D`` tensors a block keeps for backward (see ``mmlookup bench --train``).

The modules keep their usual parameters (``nn.LayerNorm``, ``nn.Linear``, :class:`~mmlookup.layers.mlp.Mlp`),
so state dicts do not change; these functions only read them. Under autocast they compute as autocast would
(normalisation in the input's dtype, matrix products in the autocast dtype) and do the same in backward.
Without grad (inference) callers use the plain modules: there is nothing to save.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype autocast would run a matrix product of ``x`` in (``x``'s own when autocast is off)."""
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return x.dtype


def _normalise(x, mean, rstd, w, b) -> torch.Tensor:
    return torch.addcmul(b, (x - mean) * rstd, w)


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, t.shape[-1])


class _NormLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, norm_w, norm_b, eps, weight, bias):
        dtype = _compute_dtype(x)
        with torch.autocast(x.device.type, enabled=False):
            xn, mean, rstd = torch.native_layer_norm(x, (x.shape[-1],), norm_w, norm_b, eps)
            out = F.linear(xn.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype))
        ctx.save_for_backward(x, norm_w, norm_b, mean, rstd, weight)
        ctx.dtype, ctx.has_bias = dtype, bias is not None
        return out

    @staticmethod
    def backward(ctx, g):
        x, norm_w, norm_b, mean, rstd, weight = ctx.saved_tensors
        dtype, d = ctx.dtype, x.shape[-1]
        with torch.autocast(x.device.type, enabled=False):
            g = g.to(dtype)
            xn = _normalise(x, mean, rstd, norm_w, norm_b).to(dtype)
            grad_w = (_flat(g).t() @ _flat(xn)).to(weight.dtype) if ctx.needs_input_grad[4] else None
            grad_b = _flat(g).sum(0).to(weight.dtype) if ctx.has_bias and ctx.needs_input_grad[5] else None
            grad_xn = (g @ weight.to(dtype)).to(x.dtype)
            grad_x, grad_nw, grad_nb = torch.ops.aten.native_layer_norm_backward(
                grad_xn, x, [d], mean, rstd, norm_w, norm_b, list(ctx.needs_input_grad[:3]))
        return grad_x, grad_nw, grad_nb, None, grad_w, grad_b


class _NormMlp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, norm_w, norm_b, eps, w1, b1, w2, b2):
        dtype = _compute_dtype(x)
        with torch.autocast(x.device.type, enabled=False):
            xn, mean, rstd = torch.native_layer_norm(x, (x.shape[-1],), norm_w, norm_b, eps)
            h = F.linear(xn.to(dtype), w1.to(dtype), b1.to(dtype))
            out = F.linear(F.gelu(h), w2.to(dtype), b2.to(dtype))
        ctx.save_for_backward(x, norm_w, norm_b, mean, rstd, w1, w2, h)
        ctx.dtype = dtype
        return out

    @staticmethod
    def backward(ctx, g):
        x, norm_w, norm_b, mean, rstd, w1, w2, h = ctx.saved_tensors
        dtype, d = ctx.dtype, x.shape[-1]
        with torch.autocast(x.device.type, enabled=False):
            g = g.to(dtype)
            a = F.gelu(h)
            grad_w2, grad_b2 = (_flat(g).t() @ _flat(a)).to(w2.dtype), _flat(g).sum(0).to(w2.dtype)
            grad_h = torch.ops.aten.gelu_backward(g @ w2.to(dtype), h)
            del a
            xn = _normalise(x, mean, rstd, norm_w, norm_b).to(dtype)
            grad_w1, grad_b1 = (_flat(grad_h).t() @ _flat(xn)).to(w1.dtype), _flat(grad_h).sum(0).to(w1.dtype)
            grad_xn = (grad_h @ w1.to(dtype)).to(x.dtype)
            grad_x, grad_nw, grad_nb = torch.ops.aten.native_layer_norm_backward(
                grad_xn, x, [d], mean, rstd, norm_w, norm_b, list(ctx.needs_input_grad[:3]))
        return grad_x, grad_nw, grad_nb, None, grad_w1, grad_b1, grad_w2, grad_b2


def _fusable(x: torch.Tensor, norm: nn.LayerNorm) -> bool:
    return torch.is_grad_enabled() and norm.weight is not None and norm.bias is not None and x.shape[-1] > 0


def norm_linear(x: torch.Tensor, norm: nn.LayerNorm, linear: nn.Linear) -> torch.Tensor:
    """``linear(norm(x))``; with grad, saves ``x`` instead of ``norm(x)`` (recomputed in backward)."""
    if not _fusable(x, norm):
        return linear(norm(x))
    return _NormLinear.apply(x, norm.weight, norm.bias, norm.eps, linear.weight, linear.bias)


def norm_mlp(x: torch.Tensor, norm: nn.LayerNorm, mlp: nn.Module) -> torch.Tensor:
    """``mlp(norm(x))`` for a GELU :class:`~mmlookup.layers.mlp.Mlp`; with grad, saves ``x`` and the
    pre-activation only (normalised tokens and GELU output are recomputed in backward). Dropout > 0 or another
    activation falls back to the plain modules."""
    plain = (not _fusable(x, norm) or not isinstance(mlp.act, nn.GELU) or mlp.act.approximate != "none"
             or (mlp.training and mlp.drop.p > 0))
    if plain:
        return mlp(norm(x))
    return _NormMlp.apply(x, norm.weight, norm.bias, norm.eps, mlp.fc1.weight, mlp.fc1.bias, mlp.fc2.weight,
                          mlp.fc2.bias)
