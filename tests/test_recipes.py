"""Every recipe file loads, validates, documents itself, and builds its model (meta device for ViT-B sizes)."""
from __future__ import annotations

import ast

import pytest
from accelerate import init_empty_weights

from mmlookup.cli import main
from mmlookup.config import RECIPES_DIR, derive, list_recipes, load_recipe
from mmlookup.engine.cli import list_main
from mmlookup.models import build_model

RECIPES = list_recipes()
CLASSIFY = [r for r in RECIPES if not r.startswith(("coco/", "msrvtt/", "vatex/"))]  # the rest are captioners


def test_recipe_set_is_complete():
    for ds, clip in (("k400", "16x4"), ("ssv2", "16x2")):
        for fam in ("vit", "lookupvit", "evit", "ats", "tome"):
            assert f"{ds}/{fam}_b16_{clip}" in RECIPES
    for fam in ("vit", "lookupvit", "evit", "ats", "tome"):
        assert f"synthetic/{fam}" in RECIPES


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_loads_and_states_command_hardware_expectation(name):
    recipe = load_recipe(name)
    doc = ast.get_docstring(ast.parse((RECIPES_DIR / f"{name}.py").read_text())) or ""
    assert doc, f"{name}: a recipe's docstring says how to run it and what it gives"
    if name in CLASSIFY:  # the captioning recipes (coco/, msrvtt/, vatex/) follow their own docstring layout
        for word in ("Command", "Hardware", "Expected"):
            assert word in doc, f"{name}: docstring must state {word}"
    assert recipe.name and recipe.task in ("classify", "caption")


@pytest.mark.parametrize("name", CLASSIFY)
def test_model_builds_on_meta_device(name):
    recipe = load_recipe(name)
    if recipe.model.init_from:  # the architecture only: the teacher's weights are a placeholder path here
        recipe = derive(recipe, {"model.init_from": "", "distill.teacher": ""})
    with init_empty_weights():  # parameters on the meta device: ViT-B sizes cost nothing
        model = build_model(recipe, num_classes=400 if name.startswith("k400") else 174)
    assert all(p.is_meta for p in model.parameters())
    n = sum(p.numel() for p in model.parameters())
    if "_b16_" in name:  # ViT-B is 87 M; LookupViT-B adds per-block gather/infuse attention and a lookup MLP
        upper = 160e6 if "lookupvit" in name else 100e6
        assert 80e6 < n < upper, f"{name}: {n / 1e6:.1f} M parameters is not a B-size model"
    two_heads = recipe.model.encoder.startswith("lookupvit") and recipe.model.pool != "shared"
    assert len(model.head_names) == (2 if two_heads else 1)


def test_ssv2_recipes_do_not_flip_and_k400_test_protocol_is_multiview():
    for name in CLASSIFY:
        r = load_recipe(name)
        if name.startswith("ssv2/"):
            assert not r.data.flip and r.data.sampling == "segment"
            assert (r.eval.num_clips, r.eval.num_crops) == (2, 3)
        if name.startswith("k400/"):
            assert (r.eval.num_clips, r.eval.num_crops) == (5, 3)
            assert r.optim.layer_decay < 1.0 and r.train.mixup_alpha > 0 and r.train.label_smoothing == 0.1
        if name.startswith("synthetic/") and r.data.format != "imagenet":  # the image recipe's classes are shapes
            assert not r.data.flip  # left-to-right vs right-to-left classes


@pytest.mark.parametrize("arg", ["runlocal"])
def test_runlocal_variant_is_tiny(arg):
    r = load_recipe(f"k400/vit_b16_16x4.py:{arg}")
    assert r.train.max_steps > 0 and r.eval.num_clips == 1
    q = load_recipe("synthetic/lookupvit:quick")
    assert q.train.epochs < load_recipe("synthetic/lookupvit").train.epochs


def test_derived_recipes_share_the_base_and_change_only_their_keys():
    base, evit = load_recipe("k400/vit_b16_16x4"), load_recipe("k400/evit_b16_16x4")
    assert (evit.optim, evit.data, evit.eval) == (base.optim, base.data, base.eval)
    assert evit.model.encoder == "evit_base" and evit.model.keep_rate == 0.7 and base.model.keep_rate is None
    local = load_recipe("ssv2/ats_b16_16x2:runlocal")
    assert local.train.max_steps > 0 and local.eval.num_clips == 1 and local.data.format == "ssv2"
    with pytest.raises(KeyError, match="valid keys under model"):
        derive(base, {"model.keeprate": 0.5})
    with pytest.raises(TypeError, match="model.keep_rate: expected float"):
        derive(base, {"model.keep_rate": "half"})
    assert base.model.encoder == "vit_base"  # derive copies


def test_override_on_a_recipe_and_unknown_key_on_the_command_line(capsys):
    r = load_recipe("synthetic/lookupvit", ["optim.lr=1e-4", "model.grids=[(2,2,2)]"])
    assert r.optim.lr == 1e-4 and r.model.grids == ((2, 2, 2),)
    assert main(["train", "synthetic/lookupvit", "--set", "optim.lrr=1"]) == 2  # one line, exit code 2
    err = capsys.readouterr().err
    assert "unknown recipe key 'optim.lrr'" in err and "optim.lr" in err and "optim.warmup_epochs" in err
    assert main(["train", "synthetic/lookupvit", "--set", "train.epochs=two"]) == 2
    assert "train.epochs: expected int" in capsys.readouterr().err
    assert main(["train", "no/such_recipe"]) == 2
    assert "not found" in capsys.readouterr().err


def test_list_shows_encoders_and_recipes(capsys):
    assert list_main([]) == 0
    out = capsys.readouterr().out
    assert "lookupvit_nano" in out and "synthetic/lookupvit" in out and "k400/vit_b16_16x4" in out
