"""``create_classifier``: imported image classifiers give the source's own logits; pooling choices; errors.

Sources are built small and randomly initialised, then perturbed (nothing is downloaded); images are ``T = 1``.
"""
from __future__ import annotations

import pytest
import torch

import mmlookup
from mmlookup.config import Recipe
from mmlookup.encoders.base import EncoderOutput
from mmlookup.heads import ClsHead, LookupHeads, PooledHead
from mmlookup.models import build_model, create_classifier
from tests.test_pretrained import OURS, SOURCES

# ρ = 1 / full budget. ATS: the midpoint sampler with a budget that hits every token; the official rule always drops
# the lowest-scoring token, so it is never the plain ViT.
FULL = {"vit": {}, "evit": dict(keep_rate=1.0), "ats": dict(budget=10**6, sampler="midpoint")}


def _source_logits(kind: str, src, img: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return src(pixel_values=img).logits if kind == "hf" else src(img)


@pytest.mark.parametrize("family", list(FULL))
@pytest.mark.parametrize("kind", list(SOURCES))
def test_imported_classifier_gives_the_source_logits(kind, family):
    src = SOURCES[kind]()
    img = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ref = _source_logits(kind, src, img)
    ckpt = src if kind == "hf" else src.state_dict()
    model = create_classifier(f"{family}_nano", checkpoint=ckpt, verbose=False, **OURS, **FULL[family]).eval()
    assert isinstance(model.head, ClsHead) and model.head.fc.out_features == 5
    with torch.no_grad():
        logits = model(img[:, :, None])
    assert logits.shape == (2, 5)
    torch.testing.assert_close(logits, ref, atol=1e-4, rtol=0)


def test_top_level_export_and_reduced_model_runs_on_a_clip():
    src = SOURCES["timm"]()
    model = mmlookup.create_classifier("evit_nano", checkpoint=src.state_dict(), verbose=False,
                                       **{**OURS, "depth": 2}, keep_rate=0.5, reduce_layers=(1,)).eval()
    assert model.encoder.keep_rate == 0.5
    out = model(torch.randn(2, 3, 4, 32, 32))
    assert out.shape == (2, 5) and torch.isfinite(out).all()


def test_num_classes_required_without_a_head_and_new_head_when_it_differs(capsys):
    with pytest.raises(ValueError, match="num_classes is required because no checkpoint"):
        create_classifier("vit_nano", **OURS)
    src = SOURCES["timm"]()
    bare = {k: v for k, v in src.state_dict().items() if not k.startswith("head.")}
    with pytest.raises(ValueError, match="carries no classifier head"):
        create_classifier("vit_nano", checkpoint=bare, verbose=False, **OURS)
    model = create_classifier("vit_nano", 7, checkpoint=src.state_dict(), **OURS)
    assert model.head.fc.out_features == 7 and "not imported: it has 5 classes, 7 asked" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown pool 'max'; valid: auto, cls, mean, shared"):
        create_classifier("vit_nano", 3, pool="max", **OURS)


def test_pool_auto_per_family_and_mean_excludes_the_fused_token():
    assert isinstance(create_classifier("ats_nano", 3, **OURS).head, ClsHead)
    assert isinstance(create_classifier("vit_nano", 3, class_token=False, **OURS).head, PooledHead)
    assert isinstance(create_classifier("lookupvit_nano", 3).head, LookupHeads)
    with pytest.raises(ValueError, match="LookupViT has no CLS token"):
        create_classifier("lookupvit_nano", 3, pool="cls")
    with pytest.raises(ValueError, match="needs a CLS token"):
        create_classifier("vit_nano", 3, pool="cls", class_token=False, **OURS)
    torch.manual_seed(0)
    model = create_classifier("evit_nano", 3, pool="mean", **OURS, keep_rate=0.5, reduce_layers=(1,)).eval()
    out = model.encoder(torch.randn(2, 3, 4, 32, 32))
    kept = out.info["kept_indices"]
    assert (kept[:, -1] == -1).all() and (kept[:, 1:-1] > 0).all()   # one fused token, last
    torch.testing.assert_close(out.pooled(), out.tokens[:, 1:-1].mean(dim=1))


def test_mean_head_with_fc_norm_is_videomae_style():
    head = PooledHead(8, 3, fc_norm=True)
    tokens = torch.randn(2, 5, 8)
    out = EncoderOutput(tokens=tokens, info={"num_prefix_tokens": 0})
    expect = head.fc(torch.nn.functional.layer_norm(tokens.mean(1), (8,), head.fc_norm.weight, head.fc_norm.bias,
                                                    eps=1e-6))
    torch.testing.assert_close(head(out)[:, 0], expect)
    assert {"fc_norm.weight", "fc.weight"} <= set(head.state_dict())


def test_our_classifier_checkpoint_round_trips_with_its_head(tmp_path):
    torch.manual_seed(0)
    a = create_classifier("vit_nano", 4, **OURS).eval()
    torch.save(a.state_dict(), tmp_path / "model.pth")
    b = create_classifier("evit_nano", checkpoint=str(tmp_path / "model.pth"), verbose=False, **OURS,
                          keep_rate=1.0).eval()
    x = torch.randn(1, 3, 4, 32, 32)
    torch.testing.assert_close(b(x), a(x))


def test_build_model_uses_the_factory_and_recipe_pool():
    recipe = Recipe()
    recipe.model.encoder, recipe.model.num_frames, recipe.model.img_size = "evit_nano", 4, 32
    recipe.model.patch_size = 8
    model = build_model(recipe, 3)
    assert isinstance(model.head, ClsHead) and model.encoder.keep_rate == 0.7   # family default
    recipe.model.pool, recipe.model.keep_rate = "mean", 0.5
    model = build_model(recipe.validate(), 3)
    assert isinstance(model.head, PooledHead) and model.encoder.keep_rate == 0.5


def test_a_recipe_leaving_evit_at_keep_rate_one_is_logged(caplog):
    recipe = Recipe()
    recipe.model.encoder, recipe.model.num_frames, recipe.model.img_size = "evit_nano", 4, 32
    recipe.model.patch_size, recipe.model.keep_rate = 8, 1.0
    with caplog.at_level("WARNING", logger="mmlookup.models"):
        assert build_model(recipe.validate(), 3).encoder.keep_rate == 1.0
    assert "runs at keep rate 1" in caplog.text and "plain ViT" in caplog.text


def test_a_run_recorded_before_model_pool_keeps_its_mean_pooled_head(tmp_path):
    import yaml

    from mmlookup.config import load_recipe, save_recipe

    path = save_recipe(Recipe(), tmp_path / "recipe.yaml")
    assert load_recipe(path).model.pool == "auto"
    data = yaml.safe_load(path.read_text())
    del data["model"]["pool"]
    path.write_text(yaml.safe_dump(data))
    assert load_recipe(path).model.pool == "mean"


def test_lookupvit_shared_head_switch(tmp_path):
    """pool='shared': lucidrains' single bias-free classifier on the sum of both streams' means."""
    from mmlookup.heads import SharedLookupHead

    torch.manual_seed(0)
    model = create_classifier("lookupvit_nano", 5, pool="shared").eval()
    assert isinstance(model.head, SharedLookupHead) and model.head_names == ("main",)
    x = torch.randn(2, 3, 8, 64, 64)
    with torch.no_grad():
        out = model.encoder(x)
        expect = (out.compressed.mean(1) + out.tokens.mean(1)) @ model.head.fc.weight.T
        torch.testing.assert_close(model(x), expect)
    torch.save(model.state_dict(), tmp_path / "model.pth")
    again = create_classifier("lookupvit_nano", checkpoint=str(tmp_path / "model.pth"), verbose=False).eval()
    assert isinstance(again.head, SharedLookupHead)
    with pytest.raises(ValueError, match="pool='shared' sums LookupViT"):
        create_classifier("vit_nano", 3, pool="shared", **OURS)


@pytest.mark.parametrize("encoder,pool,head", [("lookupvit_nano", "auto", LookupHeads),
                                               ("vit_nano", "mean", PooledHead), ("vit_nano", None, PooledHead)])
def test_a_run_checkpoint_brings_its_head_and_pooling(tmp_path, encoder, pool, head):
    """Our run folders: the pooling comes from the run's recipe.yaml (None: a record from before model.pool)."""
    import yaml
    from safetensors.torch import save_file

    from mmlookup.config import save_recipe

    recipe = Recipe()
    geometry = {} if encoder.startswith("lookupvit") else OURS
    recipe.model.encoder, recipe.model.pool = encoder, pool or "auto"
    path = save_recipe(recipe, tmp_path / "run" / "recipe.yaml")
    if pool is None:
        data = yaml.safe_load(path.read_text())
        del data["model"]["pool"]
        path.write_text(yaml.safe_dump(data))
    torch.manual_seed(0)
    trained = create_classifier(encoder, 4, pool=pool or "mean", **geometry).eval()
    ckpt = tmp_path / "run" / "checkpoints" / "step_00000001"
    ckpt.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, str(ckpt / "model.safetensors"))
    loaded = create_classifier(encoder, checkpoint=str(ckpt), verbose=False, **geometry).eval()
    assert type(loaded.head) is head
    x = torch.randn(1, 3, 4, 32, 32) if geometry else torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), trained(x))


@pytest.mark.parametrize("family", ["vit", "evit", "ats", "tome"])
def test_cls_token_gradient_does_not_swamp_the_rest_at_init(family):
    # With a zero cls_pos the CLS row entering block 0 is cls_token alone (std 1e-6); its LayerNorm then divides by
    # ~sqrt(eps) and the CLS gradient becomes ~2.5x the patch embedding's and half the global norm, so clip_grad
    # shrinks every other gradient ~10x: the synthetic CLS-headed ViT stayed at chance (13.5% top-1 after 600 steps).
    # cls_pos starts as the patch position table does (std 0.02, timm's layout), bringing the ratio under 1.
    torch.manual_seed(0)
    model = create_classifier(f"{family}_nano", 8, num_frames=8, img_size=32, verbose=False)
    assert isinstance(model.head, ClsHead)
    video = torch.randn(8, 3, 8, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.nn.functional.cross_entropy(model(video), torch.arange(8)).backward()
    cls_grad = model.encoder.cls_token.grad.norm()
    patch_grad = model.encoder.patch_embed.proj.weight.grad.norm()
    assert cls_grad < 1.5 * patch_grad, (cls_grad, patch_grad)


def test_classifiers_return_b_k_logits_combined_as_evaluation_combines_heads():
    """(B, K) by default for every pooling; LookupViT's two heads give log(mean of the heads' probabilities), so
    softmax / argmax of the output are evaluation's combined probabilities / prediction; forward_heads keeps them."""
    from mmlookup.heads import combine_probs

    torch.manual_seed(0)
    x = torch.randn(3, 3, 4, 32, 32)
    for name, pool in (("lookupvit_nano", "auto"), ("lookupvit_nano", "shared"), ("vit_nano", "cls"),
                       ("vit_nano", "mean")):
        model = create_classifier(name, 6, pool=pool, num_frames=4, img_size=32, patch_size=8, verbose=False).eval()
        with torch.no_grad():
            out, heads = model(x), model.forward_heads(x)
        assert out.shape == (3, 6) and heads.shape == (3, len(model.head_names), 6)
        torch.testing.assert_close(out.softmax(-1), combine_probs(heads))
        if heads.shape[1] == 1:
            assert torch.equal(out, heads[:, 0])       # one head: its own logits
    assert model.forward_heads(x, features=True)[1].shape == (3, 1, model.encoder.embed_dim)


def test_hub_habits_are_one_line_errors_that_say_what_to_do():
    for build in (lambda **kw: mmlookup.create_encoder("lookupvit_base", **kw),
                  lambda **kw: mmlookup.create_classifier("lookupvit_nano", 3, **kw)):
        with pytest.raises(ValueError, match="downloads no weights; pass checkpoint=PATH") as err:
            build(pretrained=True)
        assert "\n" not in str(err.value)
        with pytest.raises(ValueError, match="takes no argument 'colour'; valid: .*num_frames"):
            build(colour="red")
