"""``mmlookup predict`` / ``Predictor``: class names that travel, real files in, bad inputs counted, budgets.

Runs are trained for a few steps on a tiny synthetic set of real mp4 files written by the tests (session fixtures
in ``tests/conftest.py``, nothing from ``runs/`` or ``data/``); the VideoMAE folder is a random-weight
``transformers`` model saved with ``save_pretrained``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmlookup import Predictor
from mmlookup.cli import main
from mmlookup.engine.export import export_run
from mmlookup.inference.budget import ats_max_gmacs, choose_by_gmacs
from mmlookup.inference.inputs import InputError
from mmlookup.models import create_classifier

GEOMETRY = dict(num_frames=4, img_size=32, patch_size=8)


@pytest.fixture(scope="module")
def data(synth_k400) -> Path:
    return synth_k400                                       # the session's tiny synthetic set (tests/conftest.py)


@pytest.fixture(scope="module")
def runs(synth_runs) -> dict[str, Path]:
    """2-step runs of the synthetic lookupvit and vit recipes, shared with test_app (tests/conftest.py)."""
    return {f: synth_runs(f) for f in ("lookupvit", "vit")}


def a_clip(data: Path) -> Path:
    return sorted((data / "videos").rglob("*.mp4"))[0]


def test_run_records_classes_and_predict_prints_names_and_writes_json(data, runs, tmp_path, capsys):
    classes = json.loads((runs["lookupvit"] / "classes.json").read_text())
    assert classes == sorted(p.name.replace("_", " ") for p in (data / "videos").iterdir())
    clip = a_clip(data)
    out = tmp_path / "out.json"
    assert main(["predict", str(runs["lookupvit"]), str(clip), "--top-k", "3", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    saved = json.loads(out.read_text())
    labels = saved["results"][0]["labels"]
    assert len(labels) == 3 and all(lab["label"] in classes for lab in labels)
    assert [lab["score"] for lab in labels] == sorted((lab["score"] for lab in labels), reverse=True)
    for lab in labels:
        assert f"{lab['label']:<32} {lab['score']:.4f}" in printed
    assert "1 input: 1 predicted (0 with notes), 0 unreadable" in printed
    # the same through the Python API
    api = Predictor.from_pretrained(runs["lookupvit"], top_k=3, verbose=False).predict(clip)
    assert [x["label"] for x in api] == [x["label"] for x in labels]      # one path: one flat list, as a pipeline
    assert [x["score"] for x in api] == pytest.approx([x["score"] for x in labels], abs=1e-6)


def test_exported_folder_carries_id2label_and_predicts_the_same(data, runs, tmp_path):
    folder = export_run(runs["lookupvit"], tmp_path / "exported")
    cfg = json.loads((folder / "config.json").read_text())
    classes = json.loads((runs["lookupvit"] / "classes.json").read_text())
    assert cfg["id2label"] == {str(i): c for i, c in enumerate(classes)}
    assert cfg["label2id"] == {c: i for i, c in enumerate(classes)}
    clip = a_clip(data)
    from_run = Predictor.from_pretrained(runs["lookupvit"], verbose=False).predict([clip])
    from_folder = Predictor.from_pretrained(folder, verbose=False)
    assert from_folder.loaded.names_from == "config.json id2label"
    got = from_folder.predict([clip])
    assert [x["label"] for x in got[0]] == [x["label"] for x in from_run[0]]
    assert [x["score"] for x in got[0]] == pytest.approx([x["score"] for x in from_run[0]], abs=1e-5)


def test_eval_takes_an_exported_model_folder_as_predict_does(data, runs, tmp_path, capsys):
    folder = export_run(runs["lookupvit"], tmp_path / "exported")
    recipe = str(folder / "recipe.yaml")
    sets = ["--set", f"train.output_dir={tmp_path / 'eval'}"]
    assert main(["eval", recipe, "--checkpoint", str(runs["lookupvit"] / "checkpoints" / "best"),
                 "--out", str(tmp_path / "run.json"), *sets]) == 0
    assert main(["eval", recipe, "--checkpoint", str(folder), "--out", str(tmp_path / "folder.json"), *sets]) == 0
    from_run, from_folder = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("run", "folder"))
    assert from_folder["checkpoint"] == str(folder)
    assert [r["combined"] for r in from_folder["results"]] == [r["combined"] for r in from_run["results"]]
    capsys.readouterr()
    assert main(["eval", "synthetic/vit", "--checkpoint", str(folder)]) == 2  # another encoder: one line
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds lookupvit_nano, the recipe builds vit_nano" in err and recipe in err


def test_checkpoint_folder_and_runs_without_classes_json(data, runs, tmp_path):
    import shutil

    classes = json.loads((runs["vit"] / "classes.json").read_text())
    clip = a_clip(data)
    ckpt = sorted((runs["vit"] / "checkpoints").glob("step_*"))[-1]
    by_ckpt = Predictor.from_pretrained(ckpt, verbose=False)
    assert by_ckpt.classes == classes and by_ckpt.loaded.source == ckpt
    old = tmp_path / "old_run"                              # a run from before runs recorded their classes
    shutil.copytree(runs["vit"], old)
    (old / "classes.json").unlink()
    again = Predictor.from_pretrained(old, verbose=False)
    assert again.classes == classes and again.loaded.names_from == "the recipe's annotations"
    recipe = (old / "recipe.yaml").read_text().replace(str(data), str(tmp_path / "gone"))
    (old / "recipe.yaml").write_text(recipe)                # ... and its data no longer at hand
    nameless = Predictor.from_pretrained(old, verbose=False)
    assert nameless.classes == [f"class {i}" for i in range(len(classes))]
    assert nameless.predict(clip)[0]["label"].startswith("class ")
    with pytest.raises(InputError, match="a folder"):
        nameless.predict(data)


def test_bfloat16_is_close_to_float32(runs):
    clips = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(3))
    fp32 = Predictor.from_pretrained(runs["vit"], verbose=False).probabilities(clips)
    bf16 = Predictor.from_pretrained(runs["vit"], dtype="bfloat16", verbose=False)
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    assert torch.allclose(bf16.probabilities(clips), fp32, atol=0.02)
    with pytest.raises(ValueError, match="unknown dtype"):
        Predictor.from_pretrained(runs["vit"], dtype="int8", verbose=False)


@pytest.mark.parametrize("kind", ["videomae", "vivit"])
def test_random_weight_hf_folder_names_its_classes(data, tmp_path, kind):
    transformers = pytest.importorskip("transformers")
    names = ["archery", "bowling", "cartwheel", "dancing", "eating"]
    common = dict(image_size=32, num_frames=4, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, num_labels=5, id2label=dict(enumerate(names)),
                  label2id={n: i for i, n in enumerate(names)})
    torch.manual_seed(0)
    if kind == "videomae":
        cfg = transformers.VideoMAEConfig(patch_size=8, tubelet_size=2, **common)
        hf = transformers.VideoMAEForVideoClassification(cfg).eval()
    else:
        cfg = transformers.VivitConfig(tubelet_size=[2, 8, 8], **common)
        hf = transformers.VivitForVideoClassification(cfg).eval()
    with torch.no_grad():
        hf.classifier.weight.normal_(0, 1.0)
    hf.save_pretrained(tmp_path / kind)
    predictor = Predictor.from_pretrained(tmp_path / kind, verbose=False, top_k=5)
    assert predictor.classes == names
    clips = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = hf(pixel_values=clips.transpose(1, 2)).logits.softmax(-1)
    assert torch.allclose(predictor.probabilities(clips), ref, atol=1e-5)          # the batched tensor path
    top = predictor.predict(clips)
    assert [row[0]["label"] for row in top] == [names[i] for i in ref.argmax(-1).tolist()]
    assert predictor.predict([a_clip(data)])[0][0]["label"] in names                # and a real file


def _write_one_frame_video(path: Path) -> None:
    from mmlookup.data.encode import write_video

    frame = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    frame[:, 8:24, 8:24] = 200
    write_video(str(path), frame, fps=8)


def test_bad_inputs_are_reported_and_counted_never_skipped(data, runs, tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "mixed"
    folder.mkdir()
    good = a_clip(data)
    (folder / "good.mp4").write_bytes(good.read_bytes())
    (folder / "notes.txt").write_text("not media\n")
    (folder / "text.mp4").write_text("this is a text file named .mp4\n")
    _write_one_frame_video(folder / "still.mp4")
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[..., 0], rgba[10:30, 10:30, 3] = 255, 255
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# inputs\n{folder / 'good.mp4'}\nmissing.mp4\n")
    out = tmp_path / "out.json"
    csv_out = tmp_path / "out.csv"
    rc = main(["predict", str(runs["vit"]), str(folder), str(listing), str(tmp_path / "gone.webm"),
               "--json", str(out), "--csv", str(csv_out)])
    assert rc == 1                                                     # some inputs failed
    printed = capsys.readouterr().out
    results = {Path(r["file"]).name: r for r in json.loads(out.read_text())["results"]}
    assert set(results) == {"alpha.png", "good.mp4", "notes.txt", "still.mp4", "text.mp4", "missing.mp4",
                            "gone.webm"}
    assert results["good.mp4"]["error"] is None and len(results["good.mp4"]["labels"]) == 5
    assert "alpha channel" in results["alpha.png"]["notes"][0] and results["alpha.png"]["labels"]
    assert "1 frame" in results["still.mp4"]["notes"][0] and results["still.mp4"]["labels"]
    assert "not an image or video" in results["notes.txt"]["error"]
    assert "cannot open" in results["text.mp4"]["error"]
    assert results["missing.mp4"]["error"] == results["gone.webm"]["error"] == "missing file"
    assert "8 inputs: 4 predicted (2 with notes), 4 unreadable or unsupported" in printed  # good.mp4 twice
    rows = csv_out.read_text().splitlines()
    assert rows[0] == "file,rank,label,score,error,notes" and len(rows) == 1 + 4 * 5 + 4
    with pytest.raises(InputError, match="cannot open"):
        Predictor.from_pretrained(runs["vit"], verbose=False).predict(folder / "text.mp4")


def test_wrong_model_is_one_line_rc_2(tmp_path, capsys):
    # the console script prints nothing but the one line (no import noise, no traceback): one real process
    proc = subprocess.run([sys.executable, "-m", "mmlookup", "predict", str(tmp_path / "nope"), "x.mp4"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("mmlookup predict: error: ")
    # both wrong models (missing, a folder that is no model) through the same entry point, in-process: a second
    # interpreter start (about 5 s) would test no more
    for model in (str(tmp_path / "nope"), str(tmp_path)):
        capsys.readouterr()
        assert main(["predict", model, "x.mp4"]) == 2
        captured = capsys.readouterr()
        assert captured.err.count("\n") == 1 and captured.err.startswith("mmlookup predict: error: "), captured
        assert captured.out == ""


def _folder(tmp_path: Path, name: str, **kwargs) -> Path:
    torch.manual_seed(0)
    model = create_classifier(name, num_classes=3, **GEOMETRY, **kwargs)
    model.class_names = ["a", "b", "c"]
    model.save_pretrained(tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("name,knob", [("evit_nano", "keep"), ("tome_nano", "r"), ("ats_nano", "budget")])
def test_gmacs_budget_picks_the_largest_setting_under_it(tmp_path, capsys, name, knob):
    from mmlookup.bench.flops import analytic_gmacs

    folder = _folder(tmp_path, name)
    full = Predictor.from_pretrained(folder, verbose=False)
    top = full.setting.gmacs if knob != "keep" else analytic_gmacs(
        create_classifier("vit_nano", num_classes=3, **GEOMETRY).encoder, (3, 4, 32, 32))
    budget = 0.75 * top
    p = Predictor.from_pretrained(folder, gmacs_budget=budget)
    printed = capsys.readouterr().out
    s = p.setting
    assert s.label.startswith(knob) and s.gmacs <= budget and f"GMACs budget {budget:g}: chose {name}" in printed
    # most accurate under the budget: the next more expensive step of the knob would not fit
    value = next(iter(s.kwargs.values()))
    step = {"keep": 0.05, "r": -1, "budget": 0.1}[knob]
    bigger = Predictor.from_pretrained(folder, verbose=False, **{{"keep": "keep_rate", "r": "r",
                                                                  "budget": "budget"}[knob]: round(value + step, 2)})
    assert bigger.setting.gmacs > budget
    assert len(p.predict(torch.randn(2, 3, 4, 32, 32))) == 2
    with pytest.raises(ValueError, match="no setting of .* fits"):
        choose_by_gmacs(p.loaded, 1e-6)


def test_ats_gmacs_bound_holds_on_real_clips(tmp_path):
    from mmlookup.bench.flops import encoder_gmacs

    model = create_classifier("ats_nano", num_classes=3, budget=0.5, **GEOMETRY).eval()
    bound = ats_max_gmacs(model.encoder, (3, 4, 32, 32))
    for seed in range(3):
        clip = torch.randn(1, 3, 4, 32, 32, generator=torch.Generator().manual_seed(seed))
        assert encoder_gmacs(model.encoder, (3, 4, 32, 32), video=clip) <= bound * 1.0001


def test_lookupvit_budget_picks_the_largest_trained_grid_and_vit_uses_its_sweep(runs, data, capsys):
    p = Predictor.from_pretrained(runs["lookupvit"], gmacs_budget=0.02)
    assert p.setting.label == "grid 2x2x2" and p.grid == (2, 2, 2)          # 2x4x4 costs more, 1x2x2 less
    assert "chose lookupvit_nano grid 2x2x2" in capsys.readouterr().out
    assert Predictor.from_pretrained(runs["lookupvit"], gmacs_budget=1.0, verbose=False).grid == (2, 4, 4)
    with pytest.raises(ValueError, match="vit has no compute knob"):
        Predictor.from_pretrained(runs["vit"], gmacs_budget=0.001, verbose=False)
    sweep = runs["vit"] / "sweep_evit_ats_tome"                # where `mmlookup sweep` writes by default
    sweep.mkdir(exist_ok=True)
    rows = [("vit_nano", "vit", "-", 50.0, 0.10), ("evit_nano", "evit", "keep 0.7", 48.0, 0.06),
            ("tome_nano", "tome", "r 4", 49.0, 0.065), ("ats_nano", "ats", "budget 0.5", 40.0, 0.05)]
    (sweep / "sweep.json").write_text(json.dumps({"rows": [dict(encoder=e, family=f, setting=s, top1=t, gmacs=g)
                                                           for e, f, s, t, g in rows]}))
    try:
        p = Predictor.from_pretrained(runs["vit"], gmacs_budget=0.07)
        assert (p.setting.encoder, p.setting.label, p.setting.top1) == ("tome_nano", "r 4", 49.0)
        assert type(p.model.encoder).__name__ == "ToMe" and p.model.encoder.blocks[0].r == 4
        assert "sweep top-1 49.0%" in capsys.readouterr().out
        assert p.predict([a_clip(data)])[0][0]["label"] in p.classes
        assert Predictor.from_pretrained(runs["vit"], gmacs_budget=0.055, verbose=False).setting.encoder == \
            "ats_nano"
    finally:
        (sweep / "sweep.json").unlink()


def test_latency_budget_and_manual_settings(runs):
    p = Predictor.from_pretrained(runs["lookupvit"], latency_budget=1e6, verbose=False)
    assert p.setting.label == "grid 2x4x4" and p.latency_ms is not None and p.latency_ms > 0
    with pytest.raises(ValueError, match="within 0.001 ms"):
        Predictor.from_pretrained(runs["lookupvit"], latency_budget=0.001, verbose=False)
    assert Predictor.from_pretrained(runs["lookupvit"], grid="1x2x2", verbose=False).grid == (1, 2, 2)
    with pytest.raises(ValueError, match="--keep-rate is for evit"):
        Predictor.from_pretrained(runs["lookupvit"], keep_rate=0.5, verbose=False)
    with pytest.raises(ValueError, match="one or the other"):
        Predictor.from_pretrained(runs["lookupvit"], grid="1x2x2", gmacs_budget=1.0, verbose=False)


def test_views_and_batching_give_the_same_answer(runs, data):
    clips = sorted((data / "videos").rglob("*.mp4"))[:3]
    one = Predictor.from_pretrained(runs["vit"], batch_size=1, verbose=False)
    many = Predictor.from_pretrained(runs["vit"], batch_size=8, verbose=False)
    a, b = one.predict(clips), many.predict(clips)
    assert [x["label"] for r in a for x in r] == [x["label"] for r in b for x in r]
    assert [x["score"] for r in a for x in r] == pytest.approx([x["score"] for r in b for x in r], abs=1e-5)
    views = Predictor.from_pretrained(runs["vit"], views="2x3", verbose=False)
    assert views.read(clips[0]).video.shape[0] == 6
    assert len(views.predict(clips[0])) == 5
    with pytest.raises(ValueError, match="CLIPSxCROPS"):
        Predictor.from_pretrained(runs["vit"], views="2", verbose=False)


def test_a_checkpoint_name_the_run_does_not_have_is_one_line(data, runs, tmp_path, capsys):
    # it silently used the run's newest checkpoint
    run, clip = runs["lookupvit"], str(a_clip(data))
    other = f"../{runs['vit'].name}/checkpoints/best"                      # another run's, relative to this one
    for name, says in (("step_00000099", "has no checkpoint 'step_00000099' (it has: best, step_00000002)"),
                       (other, "not a path")):
        capsys.readouterr()
        assert main(["predict", str(run), clip, "--checkpoint", name]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0], err
    folder = export_run(run, tmp_path / "exported")
    assert main(["predict", str(folder), clip, "--checkpoint", "best"]) == 2
    assert "is not one" in capsys.readouterr().err
    assert Predictor.from_pretrained(run, verbose=False).loaded.source == run / "checkpoints" / "best"
    named = Predictor.from_pretrained(run, checkpoint="step_00000002", verbose=False)
    assert named.loaded.source == run / "checkpoints" / "step_00000002"


def test_tensor_users_get_the_evaluation_transform_and_one_line_errors(data, runs):
    """data_config / create_transform turn decoded frames into exactly the views predict reads from the file, and
    every wrong tensor is a one-line ValueError that says what to do."""
    import mmlookup
    from mmlookup.data.decode import read_clip
    from mmlookup.data.sampling import sample_indices

    assert {"Predictor", "data_config", "create_transform"} <= set(dir(mmlookup))
    p = Predictor.from_pretrained(runs["vit"], verbose=False)
    cfg = mmlookup.data_config(p)
    assert cfg == mmlookup.data_config(runs["vit"]) and cfg["input_size"] == (3, 4, 32, 32)
    clip = a_clip(data)
    frames = read_clip(str(clip), lambda n: sample_indices(cfg["sampling"], n, cfg["num_frames"],
                                                           cfg["frame_interval"], train=False, num_clips=1))
    views = mmlookup.create_transform(cfg)(frames[0])                # (T, H, W, 3) uint8 -> (1, 3, T, H, W)
    assert torch.equal(views, p.read(clip).video)
    assert p.predict(views[0]) == p.predict(clip)                     # one clip tensor: one flat list
    assert len(p.predict(views)) == 1 and len(p.predict([clip, clip])) == 2
    good = views.expand(2, -1, -1, -1, -1)
    bad = {"rank 4": good[0], "3 channels at axis -4 .*channels last": good.permute(0, 2, 3, 4, 1),
           "takes 4 frames per clip, got 2": good[:, :, :2], "takes 32x32 frames, got 16x16": good[..., :16, :16],
           "torch.uint8; the Predictor does not normalise": (good * 50).clamp(0, 255).to(torch.uint8),
           "NaN or inf": good.clone().fill_(float("nan")), "raw 0-255 pixels": good * 60,
           "empty batch": good[:0]}
    for message, tensor in bad.items():
        with pytest.raises(ValueError, match=message) as err:
            p.probabilities(tensor)
        assert "\n" not in str(err.value)
    torch.testing.assert_close(p.probabilities(good.double()), p.probabilities(good))   # other floats are cast


def test_export_onnx_and_predict_with_onnxruntime_give_the_default_backends_labels(data, runs, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "onnx"
    assert main(["export", str(runs["lookupvit"]), str(out), "--format", "onnx", "--grid", "1x2x2"]) == 0
    deploy = json.loads((out / "deploy.json").read_text())["onnx"]
    assert deploy["setting"]["grid"] == [1, 2, 2] and deploy["input_shape"][0] == "batch"
    pre = json.loads((out / "preprocessor_config.json").read_text())
    assert pre["num_frames"] == 4 and pre["crop_size"] == {"height": 32, "width": 32}
    assert json.loads((out / "config.json").read_text())["id2label"]
    clips = sorted((data / "videos").rglob("*.mp4"))[:4]
    results = {}
    for backend in ("pytorch", "onnxruntime"):
        capsys.readouterr()
        js = tmp_path / f"{backend}.json"
        setting = ["--grid", "1x2x2"] if backend == "pytorch" else []       # the graph was exported at 1x2x2
        assert main(["predict", str(out), *map(str, clips), *setting, "--json", str(js), "--backend", backend]) == 0
        results[backend] = json.loads(js.read_text())["results"]
    for a, b in zip(results["pytorch"], results["onnxruntime"]):
        assert [x["label"] for x in a["labels"]] == [x["label"] for x in b["labels"]]
        assert [x["score"] for x in a["labels"]] == pytest.approx([x["score"] for x in b["labels"]], abs=1e-5)
    p = Predictor.from_pretrained(out, backend="onnxruntime", verbose=False)
    assert p.grid == (1, 2, 2) and "onnxruntime" in p.describe()
    with pytest.raises(ValueError, match="exported with"):
        p.configure(grid="2x2x2")
    with pytest.raises(ValueError, match="needs a folder with model.onnx"):
        Predictor.from_pretrained(runs["lookupvit"], backend="onnxruntime", verbose=False)
    with pytest.raises(SystemExit) as err:
        main(["export", str(runs["lookupvit"]), str(tmp_path / "x"), "--keep-rate", "0.5", "--format", "onnx"])
    assert err.value.code == 2 and "--keep-rate is for evit models" in capsys.readouterr().err


def test_exported_folder_loads_in_transformers_with_the_clis_labels(data, runs, tmp_path, capsys, monkeypatch):
    """AutoModelForVideoClassification and pipeline("video-classification") with trust_remote_code, offline, give
    the top-1 label and score of mmlookup predict (the folder carries model_type, auto_map, the modeling and
    processing files and the video preprocessor config)."""
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = export_run(runs["lookupvit"], tmp_path / "hf")
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["model_type"] == "mmlookup" and "AutoModelForVideoClassification" in cfg["auto_map"]
    clip = a_clip(data)
    out = tmp_path / "cli.json"
    assert main(["predict", str(folder), str(clip), "--json", str(out)]) == 0
    cli = json.loads(out.read_text())["results"][0]["labels"][0]
    pipe = transformers.pipeline("video-classification", model=str(folder), trust_remote_code=True)
    top = pipe(str(clip))[0]
    assert top["label"] == cli["label"] and abs(top["score"] - cli["score"]) <= 1e-4
    model = transformers.AutoModelForVideoClassification.from_pretrained(str(folder), trust_remote_code=True)
    views = Predictor.from_pretrained(folder, verbose=False).read(clip).video
    with torch.no_grad():
        probs = model(pixel_values=views[None]).logits.softmax(-1)[0]
    assert model.config.id2label[int(probs.argmax())] == cli["label"]
    assert abs(float(probs.max()) - cli["score"]) <= 1e-4
