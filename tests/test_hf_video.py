"""Hugging Face video ViTs (VideoMAE, ViViT) imported into vit / evit / ats: the source's logits to 1e-4.

Sources are the real ``transformers`` classes built from small configs with randomly perturbed weights (nothing is
downloaded), written to a folder with ``save_pretrained`` as the Hub's checkpoints are.
"""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from mmlookup.checkpoints import hf_video_encoder_kwargs, load_checkpoint
from mmlookup.layers.pos_embed import sinusoid_table
from mmlookup.models import create_classifier
from mmlookup.registry import create_encoder

transformers = pytest.importorskip("transformers")

SMALL = dict(image_size=32, num_frames=4, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
             intermediate_size=64, num_labels=5)
FAMILIES = {"vit": {}, "evit": dict(keep_rate=1.0), "ats": dict(budget=10**6, sampler="midpoint"),
            "tome": dict(r=0)}


def _perturb(model: torch.nn.Module) -> torch.nn.Module:
    """Random init leaves biases / LayerNorms at 0 / 1; perturb every tensor so every mapping matters."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


def videomae(mean_pooling: bool = True):
    cfg = transformers.VideoMAEConfig(patch_size=8, tubelet_size=2, use_mean_pooling=mean_pooling, **SMALL)
    return _perturb(transformers.VideoMAEForVideoClassification(cfg))


def vivit():
    cfg = transformers.VivitConfig(tubelet_size=[2, 8, 8], **SMALL)
    return _perturb(transformers.VivitForVideoClassification(cfg))


def _clip() -> torch.Tensor:
    return torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(1))     # (B, C, T, H, W)


def _source_logits(src, clip: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return src(pixel_values=clip.transpose(1, 2)).logits                          # HF takes (B, T, C, H, W)


def _logits(encoder, report, clip: torch.Tensor) -> torch.Tensor:
    """The source's head applied by hand to our encoder's output (token 0 after the final norm, or the mean
    through fc_norm), independent of our heads."""
    with torch.no_grad():
        out = encoder(clip)
        head = report.head_state
        if report.head_pool == "mean":
            x = out.pooled()
            if "fc_norm.weight" in head:
                x = F.layer_norm(x, x.shape[-1:], head["fc_norm.weight"], head["fc_norm.bias"], report.head_norm_eps)
        else:
            x = out.tokens[:, 0]
        return F.linear(x, head["fc.weight"], head["fc.bias"])


def test_sinusoid_table_is_videomaes():
    from transformers.models.videomae.modeling_videomae import get_sinusoid_encoding_table

    assert torch.equal(sinusoid_table(50, 32), get_sinusoid_encoding_table(50, 32))
    enc = create_encoder("vit_nano", num_frames=4, img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2,
                         pos_embed="sincos", class_token=False)
    assert not any("pos_embed" in k for k in enc.state_dict())          # fixed, so in no state dict
    assert torch.equal(enc.pos_embed((2, 4, 4)), sinusoid_table(32, 32))
    assert enc.pos_embed((1, 4, 4)).shape == (1, 16, 32)                 # other grids: the table resized
    assert enc(torch.randn(1, 3, 1, 32, 32)).tokens.shape == (1, 16, 32)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("source", ["videomae", "vivit"])
def test_hf_video_classifier_logits_match_the_source(tmp_path, source, family):
    """create_classifier(family, checkpoint=DIR, checkpoint_format="hf") gives the source's logits; EViT, ATS and
    ToMe at no reduction (rho = 1, full budget, r = 0), with a CLS token (ViViT) and without (VideoMAE)."""
    src = videomae() if source == "videomae" else vivit()
    src.save_pretrained(tmp_path)
    clip = _clip()
    model = create_classifier(family, checkpoint=tmp_path, checkpoint_format="hf", **FAMILIES[family]).eval()
    assert model.encoder.encoder_config["name"] == f"{family}_base"
    assert model.head.pool == ("mean" if source == "videomae" else "cls")
    with torch.no_grad():
        ours = model(clip)
    torch.testing.assert_close(ours, _source_logits(src, clip), atol=1e-4, rtol=0)


def test_hf_video_encoder_and_hand_made_head_match_the_source(tmp_path):
    """The encoder alone (built from hf_video_encoder_kwargs, loaded with load_checkpoint) + the source's head."""
    for src in (videomae(), vivit()):
        src.save_pretrained(tmp_path)
        kwargs = hf_video_encoder_kwargs(json.loads((tmp_path / "config.json").read_text()))
        encoder = create_encoder("vit_base", **kwargs).eval()
        report = load_checkpoint(encoder, tmp_path, checkpoint_format="hf")
        assert not report.new, report.new
        clip = _clip()
        torch.testing.assert_close(_logits(encoder, report, clip), _source_logits(src, clip), atol=1e-4, rtol=0)


def test_videomae_first_token_pooling_and_old_bias_names(tmp_path, capsys):
    """use_mean_pooling=False keeps the final norm and classifies token 0; q_bias / v_bias (older transformers)."""
    src = videomae(mean_pooling=False)
    sd = {k.replace("attention.attention.query.bias", "attention.attention.q_bias")
          .replace("attention.attention.value.bias", "attention.attention.v_bias"): v
          for k, v in src.state_dict().items()}
    kwargs = hf_video_encoder_kwargs(src.config.to_dict())
    assert kwargs["final_norm"] and kwargs["qkv_bias"] == "qv" and not kwargs["class_token"]
    encoder = create_encoder("vit_base", **kwargs).eval()
    report = load_checkpoint(encoder, sd, checkpoint_format="hf")
    assert report.head_pool == "cls" and not report.new
    assert "tensors mapped" in capsys.readouterr().out
    clip = _clip()
    torch.testing.assert_close(_logits(encoder, report, clip), _source_logits(src, clip), atol=1e-4, rtol=0)


def test_hf_video_into_a_mismatched_target_is_a_clear_error(tmp_path):
    src = vivit()
    src.save_pretrained(tmp_path)
    kwargs = hf_video_encoder_kwargs(src.config.to_dict())
    with pytest.raises(ValueError, match="pos_embed='learned_joint'"):
        load_checkpoint(create_encoder("vit_base", **{**kwargs, "pos_embed": "learned_separable"}), tmp_path)
    with pytest.raises(ValueError, match="gelu_fast.*act_layer='gelu_tanh'"):
        load_checkpoint(create_encoder("vit_base", **{**kwargs, "act_layer": "gelu"}), tmp_path)


def test_pytorch_model_bin_is_read_weights_only(tmp_path):
    src = vivit()
    src.config.save_pretrained(tmp_path)                  # the layout of older Hub checkpoints (transformers < 5)
    torch.save(src.state_dict(), tmp_path / "pytorch_model.bin")
    model = create_classifier("vit", checkpoint=tmp_path).eval()
    clip = _clip()
    with torch.no_grad():
        torch.testing.assert_close(model(clip), _source_logits(src, clip), atol=1e-4, rtol=0)


def test_bare_family_name_takes_the_checkpoints_config(tmp_path):
    src = videomae()
    src.save_pretrained(tmp_path)
    encoder = create_encoder("evit", checkpoint=tmp_path, checkpoint_format="hf", keep_rate=1.0)
    assert encoder.encoder_config["name"] == "evit_base"       # no size matches 32/2/2: base with the config's dims
    assert encoder.embed_dim == 32 and encoder.num_prefix_tokens == 0 and encoder.pos_embed.kind == "sincos"
    with pytest.raises(ValueError, match="vit_small is embed_dim/depth/heads 384/12/6.*config says 32/2/2"):
        create_encoder("vit_small", checkpoint=tmp_path)
    with pytest.raises(ValueError, match=r"num_frames=8 contradicts the checkpoint's config \(num_frames=4\)"):
        create_encoder("vit", checkpoint=tmp_path, num_frames=8)
    same = create_encoder("vit", checkpoint=tmp_path, num_frames=4, img_size=32, drop_path_rate=0.1)
    assert same.num_frames == 4


@pytest.mark.slow
def test_full_size_videomae_base_config(tmp_path):
    """The published VideoMAE-B K400 classifier's config (16x224x224, tubelet 2x16x16, 400 classes), random weights."""
    cfg = transformers.VideoMAEConfig(num_labels=400)                 # the defaults are VideoMAE-B/16, 16 frames
    src = _perturb(transformers.VideoMAEForVideoClassification(cfg))
    src.save_pretrained(tmp_path)
    model = create_classifier("vit_base", checkpoint=tmp_path, num_frames=16, img_size=224, verbose=False).eval()
    clip = torch.randn(1, 3, 16, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(model(clip), _source_logits(src, clip), atol=1e-4, rtol=0)


def test_reducers_run_reduced_on_an_imported_videomae(tmp_path):
    """Training-free reduction on the CLS-less checkpoint: fewer tokens, finite logits of the source's shape."""
    videomae().save_pretrained(tmp_path)
    clip = _clip()
    for family, kwargs in (("evit", dict(keep_rate=0.5, reduce_layers=(1,))), ("ats", dict(budget=0.5)),
                           ("tome", dict(r=8))):
        model = create_classifier(family, checkpoint=tmp_path, verbose=False, **kwargs).eval()
        with torch.no_grad():
            out = model.encoder(clip)
            logits = model.head(out)
        assert logits.shape == (2, 1, 5) and torch.isfinite(logits).all()
        assert min(out.info["tokens_per_layer"]) < 32, family


def test_lookupvit_from_a_videomae_folder_names_model_init_from(tmp_path):
    videomae().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="checkpoint's config sets act_layer.*model.init_from") as err:
        create_classifier("lookupvit", checkpoint=tmp_path, verbose=False)
    assert "\n" not in str(err.value)
