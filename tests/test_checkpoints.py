"""The checkpoint layer's own entry points, and the old import paths that forward to it for one release."""
from __future__ import annotations

import json
import warnings

import pytest
import torch
from safetensors.torch import save_file

import mmlookup.checkpoints as checkpoints
import mmlookup.hub
import mmlookup.models
from mmlookup.models import create_classifier

TINY = dict(num_frames=2, img_size=16, patch_size=8, embed_dim=16, depth=1, num_heads=2)


def test_read_checkpoint_gives_kind_config_tensors_head_and_class_names(tmp_path):
    model = create_classifier("vit_nano", 2, pool="cls", verbose=False, **TINY)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"id2label": {"0": "cat", "1": "dog"}}))
    ckpt = checkpoints.read_checkpoint(tmp_path)
    assert ckpt.kind == "mmlookup" and ckpt.parts.layout == "native"
    assert ckpt.class_names == ["cat", "dog"] and ckpt.config["id2label"]["1"] == "dog"
    assert set(ckpt.parts.head) == {"fc.weight", "fc.bias"}
    assert torch.equal(ckpt.parts.encoder["norm.weight"], model.encoder.norm.weight)
    assert checkpoints.read_checkpoint(model.state_dict()).class_names is None
    with pytest.raises(ValueError, match="unknown checkpoint_format"):
        checkpoints.read_checkpoint(model.state_dict(), "caffe")


def test_tensor_shapes_reads_the_header_only(tmp_path):
    save_file({"a": torch.zeros(3, 4)}, str(tmp_path / "w.safetensors"))
    assert checkpoints.tensor_shapes(tmp_path / "w.safetensors") == {"a": (3, 4)}


@pytest.mark.parametrize("module,name,home", [
    ("mmlookup.encoders.pretrained", "load_checkpoint", checkpoints),
    ("mmlookup.encoders.pretrained", "hf_video_encoder_kwargs", checkpoints),
    ("mmlookup.encoders.pretrained", "FORMATS", checkpoints),
    ("mmlookup.folders", "FolderMixin", mmlookup.hub),
    ("mmlookup.folders", "is_model_folder", checkpoints),
    ("mmlookup.folders", "load_folder", mmlookup.models),
])
def test_old_import_paths_forward_with_a_deprecation_warning(module, name, home):
    import importlib

    old = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=f"{name} moved to {home.__name__}"):
        value = getattr(old, name)
    assert value is getattr(home, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not hasattr(old, "no_such_name")


def _fake_run(run, steps=(2, 4), best=True):
    for name in [f"step_{s:08d}" for s in steps] + (["best"] if best else []):
        (run / "checkpoints" / name).mkdir(parents=True)
        (run / "checkpoints" / name / checkpoints.STATE_FILE).write_text("{}")
    return run / "checkpoints"


def test_one_rule_for_the_checkpoint_a_run_folder_means(tmp_path):
    from mmlookup.engine.checkpoint import resolve_checkpoint as engine_resolve

    ckpts = _fake_run(tmp_path / "run")
    run = tmp_path / "run"
    # using a run's model (predict, app, eval, sweep, visualize, caption, export, teacher, init_from): best ...
    assert checkpoints.run_checkpoint(run) == checkpoints.resolve_checkpoint(run) == ckpts / "best"
    assert engine_resolve(run) == ckpts / "best" and checkpoints.resolve_reference(str(run)) == str(ckpts / "best")
    assert checkpoints.run_checkpoint(run, "step_00000002") == ckpts / "step_00000002"
    assert checkpoints.resolve_checkpoint(ckpts / "step_00000002") == ckpts / "step_00000002"
    # ... resuming continues from the newest
    assert checkpoints.resume_checkpoint(run) == ckpts / "step_00000004"
    assert checkpoints.resume_checkpoint(ckpts / "best") == ckpts / "best"
    # without best: the newest
    _fake_run(tmp_path / "nobest", best=False)
    assert checkpoints.run_checkpoint(tmp_path / "nobest").name == "step_00000004"


@pytest.mark.parametrize("name, error, match", [
    ("step_00000099", FileNotFoundError, r"has no checkpoint 'step_00000099' \(it has: best, step_00000002, step_"),
    ("../../other/checkpoints/step_00000002", ValueError, "not a path; to use another run's checkpoint"),
    ("..", ValueError, "not a path"),
])
def test_a_checkpoint_name_that_is_not_the_runs_is_an_error(tmp_path, name, error, match):
    _fake_run(tmp_path / "run")
    _fake_run(tmp_path / "other")
    with pytest.raises(error, match=match):
        checkpoints.run_checkpoint(tmp_path / "run", name)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        checkpoints.run_checkpoint(tmp_path / "empty")
