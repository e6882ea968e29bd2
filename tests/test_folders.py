"""Model folders: save_pretrained / from_pretrained are bit-identical; mmlookup export round-trips a run."""
from __future__ import annotations

import json

import pytest
import torch

from mmlookup.encoders.base import Encoder
from mmlookup.heads import PooledHead, build_head
from mmlookup.models import VideoClassifier, create_classifier
from mmlookup.registry import create_encoder

TINY = dict(num_frames=4, img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


@pytest.mark.parametrize("name,extra,pool", [("vit_nano", dict(norm_eps=1e-12, act_layer="gelu_tanh"), "cls"),
                                             ("vit_nano", dict(class_token=False, final_norm=False), "fc_norm"),
                                             ("evit_nano", dict(keep_rate=0.5), "cls"),
                                             ("ats_nano", dict(budget=0.5), "mean"),
                                             ("tome_nano", dict(r=2), "cls"),
                                             ("tome_nano", dict(r=2, partition="patches"), "cls"),
                                             ("lookupvit_nano", dict(grid=(1, 2, 2)), "lookup"),
                                             ("lookupvit_nano", dict(grid=(1, 2, 2)), "shared")])
def test_classifier_folder_round_trip_is_bit_identical(tmp_path, name, extra, pool):
    encoder = create_encoder(name, **TINY, **extra)
    if pool == "fc_norm":
        head = PooledHead(encoder.embed_dim, 7, 0.1, fc_norm=True, fc_norm_eps=1e-5)
    else:
        head = build_head(encoder, pool, 7, 0.1)
    model = _perturbed(VideoClassifier(encoder, head))
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "model.safetensors"}
    back = VideoClassifier.from_pretrained(tmp_path)
    assert type(back.encoder) is type(encoder) and type(back.head) is type(head)
    sd, sd2 = model.state_dict(), back.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    clip = torch.randn(2, 3, 4, 32, 32)
    factory = create_classifier(checkpoint=tmp_path, verbose=False).eval()   # the same through the model factory
    with torch.no_grad():
        assert torch.equal(model(clip), back(clip))
        assert torch.equal(model(clip), factory(clip))


def test_tome_folder_records_its_partition(tmp_path):
    """A ToMe folder names its partition even when built with the default, so a later default cannot change it."""
    create_encoder("tome_nano", **TINY, r=2).save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["encoder_kwargs"]["partition"] == "sequence"


def test_encoder_folder_round_trip_and_kind_check(tmp_path):
    encoder = _perturbed(create_encoder("vit_nano", **TINY, qkv_bias="qv", class_token=False, pos_embed="sincos"))
    encoder.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["kind"] == "encoder" and cfg["encoder"] == "vit_nano" and cfg["encoder_kwargs"]["qkv_bias"] == "qv"
    back = Encoder.from_pretrained(tmp_path)
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.equal(encoder(clip).tokens, back(clip).tokens)
    with pytest.raises(TypeError, match="not a VideoClassifier"):
        VideoClassifier.from_pretrained(tmp_path)
    # the registry builds from a folder's config: a bare family name, the folder's geometry
    again = create_encoder("vit", checkpoint=tmp_path)
    with torch.no_grad():
        assert torch.equal(encoder(clip).tokens, again(clip).tokens)


def _fake_run(tmp_path):
    """A run folder in the trainer's layout: recipe.yaml, checkpoints/best/{model.safetensors, train_state.json},
    eval.json, with the tiny synthetic ViT recipe's model."""
    from safetensors.torch import save_model

    from mmlookup.config import derive, load_recipe, save_recipe
    from mmlookup.engine.evaluate import Accuracy, EvalReport, GridResult
    from mmlookup.models import build_model

    recipe = derive(load_recipe("recipes/synthetic/vit.py"), {"train.output_dir": str(tmp_path / "run")})
    run = tmp_path / "run"
    best = run / "checkpoints" / "best"
    best.mkdir(parents=True)
    save_recipe(recipe, run / "recipe.yaml")
    model = _perturbed(build_model(recipe, 8))
    save_model(model, str(best / "model.safetensors"))
    (best / "train_state.json").write_text(json.dumps({"step": 12, "epoch": 1, "best_metric": 50.0, "best_step": 12}))
    EvalReport(96, 0, 1, 1, [GridResult(None, Accuracy(74.0, 99.0, 73.5))], 8).save(run / "eval.json")
    return run, model, recipe


def test_export_round_trip(tmp_path, capsys):
    from mmlookup.cli import main

    run, model, recipe = _fake_run(tmp_path)
    out = tmp_path / "exported"
    assert main(["export", str(run), str(out)]) == 0
    card = (out / "README.md").read_text()
    assert "| eval.json | - | 74.00 | 99.00 | 96 | 1x1 |" in card and "GMACs per view" in card
    assert "mmlookup train recipe.yaml" in card and (out / "recipe.yaml").is_file()
    back = create_classifier(checkpoint=out).eval()                  # no recipe at hand
    clip = torch.randn(2, 3, recipe.model.num_frames, recipe.model.img_size, recipe.model.img_size)
    with torch.no_grad():
        assert torch.equal(model(clip), back(clip))
        assert torch.equal(model(clip), VideoClassifier.from_pretrained(out)(clip))
    # the exported ViT runs training-free as EViT at rho = 1 (same weights, same pooling): the same logits
    evit = create_classifier("evit", checkpoint=out, keep_rate=1.0).eval()
    assert evit.encoder.encoder_config["name"] == "evit_nano"
    with torch.no_grad():
        torch.testing.assert_close(evit(clip), model(clip), atol=1e-5, rtol=0)


def test_export_of_a_missing_run_is_one_line_rc_2(tmp_path, capsys):
    from mmlookup.cli import main

    with pytest.raises(SystemExit) as e:
        main(["export", str(tmp_path / "nowhere"), str(tmp_path / "out")])
    assert e.value.code == 2 and "not a finished run folder" in capsys.readouterr().err


def test_trained_run_exports_and_evaluates_without_its_checkpoint(tmp_path):
    """A real (tiny) training run → mmlookup export → `mmlookup eval` with model.pretrained=OUT and no --checkpoint
    scores exactly as evaluating the run's best checkpoint."""
    from test_engine_smoke import ToyClips, toy_recipe

    from mmlookup.config import derive
    from mmlookup.engine.export import export_run
    from mmlookup.engine.fit import build_accelerator, fit, run_eval

    recipe = toy_recipe(tmp_path, "vit_nano", "train.max_steps=3", "train.epochs=1")
    val = ToyClips(6, seed=1)
    fit(recipe, accelerator=build_accelerator(recipe), datasets=(ToyClips(16), val))
    out = export_run(tmp_path / "run", tmp_path / "exported")
    from_run = run_eval(recipe, str(tmp_path / "run" / "checkpoints" / "best"), dataset=val,
                        accelerator=build_accelerator(recipe))
    imported = derive(recipe, {"model.pretrained": str(out)})
    from_folder = run_eval(imported, None, dataset=val, accelerator=build_accelerator(recipe))
    assert from_folder.results[0].combined == from_run.results[0].combined
    assert (tmp_path / "run" / "eval_pretrained.json").is_file()
    with pytest.raises(ValueError, match="nothing to evaluate"):
        run_eval(recipe, None, dataset=val, accelerator=build_accelerator(recipe))


def test_model_folder_files_get_the_usual_mode(tmp_path):
    """model.safetensors gets the mode of every other new file (0644 under umask 022), not safetensors' 0600."""
    import os

    from mmlookup import create_encoder

    old = os.umask(0o022)
    try:
        create_encoder("vit_nano", num_frames=2, img_size=16).save_pretrained(tmp_path)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes["model.safetensors"] == modes["config.json"] == 0o644, modes
