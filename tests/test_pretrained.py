"""Weight import: torchvision / timm / Hugging Face image ViTs and our own checkpoints onto ViT, EViT, ATS, LookupViT.

Source models are built randomly initialised (nothing is downloaded); features are compared on one image (T=1).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmlookup.checkpoints import detect_format, load_checkpoint
from mmlookup.encoders.ats import ATS
from mmlookup.encoders.evit import EViT
from mmlookup.encoders.lookupvit import LookupViT
from mmlookup.encoders.vit import VideoViT
from mmlookup.layers.pos_embed import resize_pos_embed_table
from mmlookup.registry import create_encoder

OURS = dict(num_frames=4, img_size=32, patch_size=8, tubelet_size=2, embed_dim=32, depth=2, num_heads=2)
FAMILIES = {"vit": (VideoViT, {}), "evit": (EViT, dict(keep_rate=1.0)),
            "ats": (ATS, dict(budget=10**6, sampler="midpoint"))}   # the budget that keeps every token


def _perturb(model: torch.nn.Module) -> torch.nn.Module:
    """Random init leaves biases/LayerNorms at 0/1 and cls at 0; perturb everything so every mapping matters."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


def _torchvision(size: int = 32):
    from torchvision.models.vision_transformer import VisionTransformer

    return _perturb(VisionTransformer(image_size=size, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                      mlp_dim=128, num_classes=5))


def _timm(size: int = 32):
    from timm.models.vision_transformer import VisionTransformer

    return _perturb(VisionTransformer(img_size=size, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5))


def _hf():
    from transformers import ViTConfig, ViTForImageClassification

    cfg = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, image_size=32,
                    patch_size=8, num_labels=5)
    return _perturb(ViTForImageClassification(cfg))


def _reference(kind: str, src, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The source's pre-head features (CLS after the final norm) and its logits."""
    with torch.no_grad():
        if kind == "timm":
            return src.forward_features(img)[:, 0], src(img)
        if kind == "hf":
            out = src(pixel_values=img, output_hidden_states=True)
            return src.vit.layernorm(out.hidden_states[-1])[:, 0], out.logits
        seen: dict[str, torch.Tensor] = {}

        def grab(module, inputs, output) -> None:
            seen["x"] = inputs[0]

        handle = src.heads.register_forward_hook(grab)
        logits = src(img)
        handle.remove()
        return seen["x"], logits


SOURCES = {"torchvision": _torchvision, "timm": _timm, "hf": _hf}


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("kind", list(SOURCES))
def test_image_features_and_logits_match_the_source(kind, family):
    src = SOURCES[kind]()
    img = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ref_feat, ref_logits = _reference(kind, src, img)
    cls, extra = FAMILIES[family]
    model = cls(**OURS, **extra).eval()
    state = src if kind == "hf" else src.state_dict()      # HF as a module: eps read from its config
    report = load_checkpoint(model, state, verbose=False)
    assert report.source_format == kind and detect_format(src.state_dict()) == kind
    assert report.new == [] and report.head is not None
    with torch.no_grad():
        feat = model(img[:, :, None]).tokens[:, 0]
    torch.testing.assert_close(feat, ref_feat, atol=1e-4, rtol=0)
    torch.testing.assert_close(F.linear(feat, *report.head), ref_logits, atol=1e-4, rtol=0)


@pytest.mark.slow  # ~15-20 s each on 2 cores; the small-config test above covers the same mapping
@pytest.mark.parametrize("kind", ["torchvision", "timm"])
def test_full_size_vit_b_16_imports_onto_vit_base(kind):
    if kind == "torchvision":
        from torchvision.models import vit_b_16

        src = vit_b_16(weights=None).eval()
    else:
        import timm

        src = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
    img = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    ref_feat, _ = _reference(kind, src, img)
    model = create_encoder("vit_base", checkpoint=src.state_dict(), checkpoint_format=kind).eval()
    with torch.no_grad():
        feat = model(img[:, :, None]).tokens[:, 0]
    torch.testing.assert_close(feat, ref_feat, atol=1e-4, rtol=0)


def test_position_table_is_resized_and_prints_the_report(capsys):
    src = _timm(size=32)
    model = VideoViT(**{**OURS, "img_size": 48}, separable_pos=True)
    report = load_checkpoint(model, src.state_dict())
    table = src.pos_embed.detach()
    torch.testing.assert_close(model.pos_embed.pos_hw.detach(), resize_pos_embed_table(table[:, 1:], (4, 4), (6, 6)))
    torch.testing.assert_close(model.cls_pos.detach(), table[:, :1])
    assert (model.pos_embed.pos_t == 0).all() and report.resized
    printed = capsys.readouterr().out
    assert "timm checkpoint" in printed and "resized" in printed


def test_joint_position_table_and_central_inflation_give_the_same_image_features():
    src = _timm()
    img = torch.randn(1, 3, 32, 32)
    ref, _ = _reference("timm", src, img)
    model = VideoViT(**OURS, separable_pos=False).eval()
    load_checkpoint(model, src.state_dict(), inflate="central", verbose=False)
    w = model.patch_embed.proj.weight
    assert (w[:, :, 0] == 0).all() and w[:, :, 1].abs().sum() > 0        # central slice of t=2 is index 1
    with torch.no_grad():
        torch.testing.assert_close(model(img[:, :, None]).tokens[:, 0], ref, atol=1e-4, rtol=0)


def test_shape_mismatch_names_the_tensor():
    src = _timm()
    model = VideoViT(**{**OURS, "embed_dim": 64})
    with pytest.raises(ValueError, match=r"blocks\.0\.|patch_embed|pos_embed|cls"):
        load_checkpoint(model, src.state_dict(), verbose=False)
    deeper = VideoViT(**OURS, mlp_ratio=2.0)
    with pytest.raises(ValueError, match=r"blocks\.0\.mlp\.fc1\.weight"):
        load_checkpoint(deeper, src.state_dict(), verbose=False)


def test_unknown_format_and_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="checkpoint format"):
        load_checkpoint(VideoViT(**OURS), {"foo.weight": torch.zeros(2)}, verbose=False)
    with pytest.raises(ValueError, match="valid"):
        load_checkpoint(VideoViT(**OURS), {}, checkpoint_format="jax", verbose=False)


def test_lookupvit_takes_the_vit_blocks_as_its_compressed_stream():
    src = _timm()
    model = LookupViT(**OURS, grid=(1, 2, 2))
    report = load_checkpoint(model, src.state_dict(), verbose=False)
    torch.testing.assert_close(model.blocks[1].refine.attn.qkv.weight, src.blocks[1].attn.qkv.weight)
    torch.testing.assert_close(model.norm_compressed.weight, src.norm.weight)
    new = set(report.new)
    assert {"blocks.0.q.weight", "blocks.0.kv.weight", "blocks.0.mlp.fc1.weight", "blocks.0.proj_l.weight"} <= new
    assert not any(".refine." in k for k in new) and "cls_token" in report.ignored
    assert model(torch.randn(1, 3, 4, 32, 32)).compressed.shape == (1, 4, 32)


def test_our_checkpoints_round_trip_with_resizing(tmp_path):
    """A trained classifier's state dict (encoder.* + head.*) on disk → EViT/ATS of another clip geometry."""
    torch.manual_seed(0)
    vit = _perturb(VideoViT(**OURS))
    classifier_state = {**{f"encoder.{k}": v for k, v in vit.state_dict().items()},
                        "head.fc.weight": torch.randn(5, 32), "head.fc.bias": torch.randn(5)}
    path = tmp_path / "model.pth"
    torch.save(classifier_state, path)
    same = create_encoder("evit_nano", **OURS, keep_rate=1.0, checkpoint=str(path)).eval()
    x = torch.randn(1, 3, 4, 32, 32)
    torch.testing.assert_close(same(x).tokens, vit(x).tokens, atol=1e-5, rtol=1e-5)

    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in classifier_state.items()}, str(tmp_path / "model.safetensors"))
    other = ATS(**{**OURS, "num_frames": 8, "img_size": 48, "tubelet_size": 4})
    report = load_checkpoint(other, tmp_path, verbose=False)
    assert report.source_format == "mmlookup" and report.new == []
    assert {r.split()[0] for r in report.resized} == {"pos_embed.pos_hw", "patch_embed.proj.weight"}
    torch.testing.assert_close(other.patch_embed.proj.weight.sum(2), vit.patch_embed.proj.weight.sum(2))
    assert report.head is not None and "head.fc.weight" not in report.ignored and report.head_classes == 5


def test_hf_older_key_layout_maps_the_same():
    """transformers < 5 names (encoder.layer.i.attention.attention.query, intermediate.dense, ...) load identically."""
    src = _hf()
    renames = {"attention.q_proj": "attention.attention.query", "attention.k_proj": "attention.attention.key",
               "attention.v_proj": "attention.attention.value", "attention.o_proj": "attention.output.dense",
               "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"}
    old = {}
    for k, v in src.state_dict().items():
        for new_name, old_name in renames.items():
            k = k.replace(f".{new_name}.", f".{old_name}.")
        old[k.replace("vit.layers.", "vit.encoder.layer.")] = v
    a, b = VideoViT(**OURS).eval(), VideoViT(**OURS).eval()
    load_checkpoint(a, src, verbose=False)
    load_checkpoint(b, old, verbose=False)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
