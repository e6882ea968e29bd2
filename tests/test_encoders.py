"""Contract tests over every registered encoder (small inputs, reduced depth so large widths stay fast)."""
import pytest
import torch

from mmlookup import EncoderOutput, create_encoder, list_encoders


def small(name: str) -> torch.nn.Module:
    kwargs = dict(num_frames=4, img_size=32, patch_size=8, depth=4)  # lookup grid 2x4x4 = 32 tokens
    if name.startswith("lookupvit"):
        kwargs["grid"] = (1, 2, 2)
        kwargs["branch_init"] = "trunc_normal"  # zero-initialised branches would leave their inputs without gradient
    torch.manual_seed(0)
    return create_encoder(name, **kwargs)


@pytest.mark.parametrize("name", list_encoders())
def test_forward_shapes_no_nan_and_every_parameter_gets_a_gradient(name):
    enc = small(name).train()
    out = enc(torch.randn(2, 3, 4, 32, 32))
    assert isinstance(out, EncoderOutput)
    assert out.tokens.ndim == 3 and out.tokens.shape[0] == 2 and out.tokens.shape[-1] == enc.embed_dim
    assert torch.isfinite(out.tokens).all()
    loss = out.pooled().square().mean()
    if out.compressed is not None:
        assert out.compressed.shape == (2, 4, enc.embed_dim)
        loss = loss + out.compressed.square().mean()
    loss.backward()
    missing = [
        n for n, p in enc.named_parameters() if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all())
    ]
    assert not missing, f"parameters without a finite gradient: {missing}"
    assert not [
        n for n, p in enc.named_parameters() if p.grad is not None and p.grad.abs().sum() == 0 and "pos_t" not in n
    ]


@pytest.mark.parametrize("name", list_encoders())
def test_image_input(name):
    enc = small(name).eval()
    with torch.no_grad():
        out = enc(torch.randn(2, 3, 1, 32, 32))
    assert out.tokens.shape[0] == 2 and torch.isfinite(out.tokens).all()
    assert out.info["grid"][0] == 1


@pytest.mark.parametrize("name", ["vit_nano", "lookupvit_nano"])
def test_contract_methods(name):
    enc = create_encoder(name)
    assert any("pos_embed" in n for n in enc.no_weight_decay())
    assert enc.layer_id("patch_embed.proj.weight") == 0
    assert enc.layer_id("blocks.2.mlp.fc1.weight") == 3
    assert enc.layer_id("norm.weight") == enc.depth + 1


@pytest.mark.parametrize("name", ["vit_nano", "lookupvit_nano"])
def test_grad_checkpointing_gives_the_same_gradients(name):
    x = torch.randn(1, 3, 8, 64, 64)
    grads = []
    for ckpt in (False, True):
        enc = create_encoder(name).train()
        torch.manual_seed(0)
        enc.load_state_dict(create_encoder(name).state_dict())
        enc.set_grad_checkpointing(ckpt)
        enc(x).tokens.sum().backward()
        grads.append(enc.patch_embed.proj.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_vit_rejects_grid():
    with pytest.raises(ValueError, match="LookupViT"):
        create_encoder("vit_nano")(torch.randn(1, 3, 8, 64, 64), grid=(2, 2, 2))
