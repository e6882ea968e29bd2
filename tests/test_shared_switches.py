"""Issue 26: the from-scratch switches every family shares (``stem_norm``, ``pos_embed="sincos_3d"``,
``weight_init``), with the same names on vit / evit / ats / tome / lookupvit, checked against an explicit
computation of the embedding, and carried by the training-free route from a ViT to its reducers."""
from __future__ import annotations

import pytest
import torch

from mmlookup.encoders.ats import ATS
from mmlookup.encoders.evit import EViT
from mmlookup.encoders.tome import ToMe
from mmlookup.layers.pos_embed import sincos_3d_table
from mmlookup.registry import create_encoder

KW = dict(num_frames=4, img_size=32, patch_size=8, tubelet_size=2, embed_dim=32, depth=2, num_heads=4)
FAMILIES = ("vit_nano", "evit_nano", "ats_nano", "tome_nano", "lookupvit_nano")
SWITCHES = dict(stem_norm=True, pos_embed="sincos_3d", weight_init="torch")


def _video() -> torch.Tensor:
    return torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_takes_the_shared_switches(name):
    torch.manual_seed(0)
    enc = create_encoder(name, **KW, **SWITCHES).eval()
    assert enc.patch_norm is not None and enc.pos_embed.kind == "sincos_3d"
    assert not list(enc.pos_embed.parameters())                         # fixed table: nothing to train
    plain = create_encoder(name, **KW)
    assert plain.patch_norm is None and plain.pos_embed.kind == "learned_separable"
    out = enc(_video())
    assert torch.isfinite(out.tokens).all()
    with pytest.raises(ValueError, match="weight_init.*timm, torch"):
        create_encoder(name, **KW, weight_init="xavier")


@pytest.mark.parametrize("name", ("vit_nano", "tome_nano"))
def test_vit_stem_is_layernorm_then_sincos_positions(name):
    """The first block sees ``[cls + cls_pos; LN(conv(x)) + sincos_3d(grid)]``: checked by hand."""
    torch.manual_seed(0)
    enc = create_encoder(name, **KW, **SWITCHES).eval()
    x = _video()
    with torch.no_grad():
        tokens, grid = enc.patch_embed(x)
        mean, var = tokens.mean(-1, keepdim=True), tokens.var(-1, unbiased=False, keepdim=True)
        normed = (tokens - mean) / torch.sqrt(var + enc.patch_norm.eps) * enc.patch_norm.weight + enc.patch_norm.bias
        want = normed + sincos_3d_table(grid, KW["embed_dim"])
        got, _ = enc.embed(x)
    torch.testing.assert_close(got[:, 1:], want)
    torch.testing.assert_close(got[:, :1], (enc.cls_token + enc.cls_pos).expand(2, -1, -1))


def test_torch_init_keeps_pytorchs_layer_init_for_the_vit():
    torch.manual_seed(0)
    timm = create_encoder("vit_nano", **KW).blocks[0].attn.qkv.weight
    w = create_encoder("vit_nano", **KW, weight_init="torch").blocks[0].attn.qkv.weight
    fan_in = w.shape[1]
    assert float(timm.detach().std()) < 0.025                                     # truncated normal, std 0.02
    assert abs(float(w.detach().std()) - (3 * fan_in) ** -0.5) < 0.01             # uniform ±1/sqrt(fan_in)


@pytest.mark.parametrize("cls,kwargs", [(EViT, dict(keep_rate=1.0)), (ATS, dict(budget=10**6, sampler="midpoint")),
                                        (ToMe, dict(r=0))])
def test_reducers_built_from_a_switched_vit_equal_it(cls, kwargs):
    """Training-free: a ViT trained with the switches becomes EViT / ATS / ToMe with its state dict and stem."""
    torch.manual_seed(0)
    vit = create_encoder("vit_nano", **KW, **SWITCHES).eval()
    model = cls.from_vit(vit, **kwargs).eval()
    assert model.patch_norm is not None and model.pos_embed.kind == "sincos_3d"
    x = _video()
    torch.testing.assert_close(model(x).tokens, vit(x).tokens, atol=1e-5, rtol=1e-5)


def test_layer_decay_puts_the_stem_norm_with_the_embedding():
    enc = create_encoder("vit_nano", **KW, stem_norm=True)
    assert enc.layer_id("patch_norm.weight") == 0
