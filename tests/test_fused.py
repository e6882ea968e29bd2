"""LayerNorm fused into the next linear / MLP: same outputs and gradients as the plain modules, fewer saved bytes."""
import pytest
import torch

from mmlookup.layers.fused import norm_linear, norm_mlp
from mmlookup.layers.mlp import Mlp
from mmlookup.layers.norm import LayerNorm


def _modules(seed=0):
    torch.manual_seed(seed)
    norm, linear, mlp = LayerNorm(16), torch.nn.Linear(16, 24), Mlp(16, 8)
    with torch.no_grad():
        for m in (norm, linear, mlp):
            for p in m.parameters():
                p.normal_()
    return norm, linear, mlp


def _saved_bytes(fn) -> tuple[torch.Tensor, int]:
    seen = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(seen.values())


@pytest.mark.parametrize("which", ["linear", "mlp"])
def test_fused_matches_plain_modules(which):
    norm, linear, mlp = _modules()
    mod, fused = (linear, norm_linear) if which == "linear" else (mlp, norm_mlp)
    x = torch.randn(2, 40, 16, requires_grad=True)
    params = [x, *norm.parameters(), *mod.parameters()]
    y_fused, saved_fused = _saved_bytes(lambda: fused(x, norm, mod))
    y_plain, saved_plain = _saved_bytes(lambda: mod(norm(x)))
    assert "Backward" in type(y_fused.grad_fn).__name__ and y_fused.grad_fn.name() != y_plain.grad_fn.name()
    g = torch.randn_like(y_plain)
    for a, b in zip(torch.autograd.grad(y_fused, params, g), torch.autograd.grad(y_plain, params, g)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(y_fused, y_plain)
    assert saved_fused < saved_plain  # the normalised tokens (and the GELU output) are recomputed, not kept


def test_no_grad_and_dropout_use_the_plain_modules():
    norm, linear, mlp = _modules()
    x = torch.randn(1, 4, 16)
    with torch.no_grad():
        torch.testing.assert_close(norm_linear(x, norm, linear), linear(norm(x)))
    mlp.drop.p = 0.5
    y = norm_mlp(x.requires_grad_(), norm, mlp.train())
    assert "NormMlp" not in type(y.grad_fn).__name__


def test_bf16_autocast_matches_plain_modules():
    """Under autocast the fused functions compute like autocast (norm in fp32, products in bf16), both ways."""
    norm, linear, mlp = _modules()
    x = torch.randn(1, 8, 16, requires_grad=True)
    for mod, fused in ((linear, norm_linear), (mlp, norm_mlp)):
        params = [x, *norm.parameters(), *mod.parameters()]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y_fused, y_plain = fused(x, norm, mod), mod(norm(x))
        assert y_fused.dtype == y_plain.dtype == torch.bfloat16
        torch.testing.assert_close(y_fused, y_plain)
        g = torch.randn_like(y_plain)
        for a, b in zip(torch.autograd.grad(y_fused, params, g), torch.autograd.grad(y_plain, params, g)):
            assert a.dtype == b.dtype
            torch.testing.assert_close(a, b, atol=0.1, rtol=0.05)
