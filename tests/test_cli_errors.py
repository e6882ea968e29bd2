"""User mistakes on the command line: one line on stderr naming the thing and what is valid, exit code 2, and no
run folder left behind; ``--debug`` shows the traceback instead. In-process through ``mmlookup.cli.main``, the
console script's entry point."""
from __future__ import annotations

import importlib.util
import json
import os
import socket

import pytest

from mmlookup.cli import main

HAS_GRADIO = importlib.util.find_spec("gradio") is not None  # the app is an optional extra


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fails(capsys, argv: list[str], *expected: str) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for text in expected:
        assert text in err, err
    return err


def _train(tmp_path, *sets: str) -> list[str]:
    base = [f"train.output_dir={tmp_path / 'run'}", *sets]
    return ["train", "synthetic/vit", *[x for kv in base for x in ("--set", kv)]]


def test_unknown_encoder_and_encoder_kwargs_fail_before_the_run_folder(tmp_path, capsys):
    _fails(capsys, _train(tmp_path, "model.encoder=vit_huge"), "model.encoder='vit_huge'", "vit_nano", "lookupvit_base")
    _fails(capsys, _train(tmp_path, "model.encoder_kwargs={'depht': 2}"), "'depht'", "valid:", "depth", "num_heads")
    _fails(capsys, _train(tmp_path, "model.encoder_kwargs={'num_frames': 4}"), "set model.num_frames instead")
    _fails(capsys, _train(tmp_path, "model.pretrained=/no/such/weights.pth"), "model.pretrained")
    assert not (tmp_path / "run").exists()


def test_missing_binary_and_malformed_annotations(tmp_path, capsys):
    root = tmp_path / "data"
    root.mkdir()
    sets = [f"data.root={root}", "data.synthetic=False"]
    _fails(capsys, _train(tmp_path, *sets), "data.train_annotations='train.csv'", "no such file")
    (root / "train.csv").write_bytes(bytes(range(256)) * 8)
    (root / "validate.csv").write_text("label,youtube_id,time_start,time_end,split\n")
    _fails(capsys, _train(tmp_path, *sets), "data.train_annotations", "not a text annotation file")
    (root / "train.csv").write_text("label,youtube_id,time_start,time_end,split\nup,abc,oops,10,train\n")
    _fails(capsys, _train(tmp_path, *sets), "train.csv", "not a valid k400 annotation file")
    assert not (tmp_path / "run").exists()


def test_empty_class_folder(tmp_path, capsys):
    for split in ("train", "val"):
        (tmp_path / "data" / split / "up").mkdir(parents=True)
        (tmp_path / "data" / split / "up" / "a.mp4").write_bytes(b"x")
        (tmp_path / "data" / split / "down").mkdir()
    sets = [f"data.root={tmp_path / 'data'}", "data.synthetic=False", "data.format=folder",
            "data.train_annotations=train", "data.val_annotations=val"]
    _fails(capsys, _train(tmp_path, *sets), "down", "class folder without videos")
    assert not (tmp_path / "run").exists()


def test_missing_and_corrupt_checkpoints(tmp_path, capsys):
    _fails(capsys, ["eval", "synthetic/vit", "--checkpoint", str(tmp_path / "nothing")], "no checkpoint at")
    ckpt = tmp_path / "run" / "checkpoints" / "step_00000004"
    ckpt.mkdir(parents=True)
    (ckpt / "train_state.json").write_text(json.dumps({"step": 4}))
    (ckpt / "model.safetensors").write_bytes(os.urandom(300))
    _fails(capsys, ["eval", "synthetic/vit", "--checkpoint", str(tmp_path / "run")], "model.safetensors",
           "corrupt")
    _fails(capsys, _train(tmp_path / "other") + ["--resume", str(ckpt)], "model.safetensors", "corrupt")
    (ckpt / "train_state.json").write_text("{not json")
    _fails(capsys, ["eval", "synthetic/vit", "--checkpoint", str(ckpt)], "train_state.json", "unreadable")


def test_recipe_syntax_error_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text('"""A recipe."""\nfrom mmlookup.config import Recipe\n\n\ndef get_recipe(arg=""):\n'
                   "    return Recipe(name='x',\n")
    _fails(capsys, ["train", str(bad)], f"{bad}:6", "syntax error")
    bad.write_text('def get_recipe(arg=""):\n    return Recipee()\n')
    _fails(capsys, ["eval", str(bad), "--checkpoint", "x"], f"{bad}:2", "NameError")
    yml = tmp_path / "bad.yaml"
    yml.write_text("model:\n  encoder: [vit_nano\n")
    _fails(capsys, ["train", str(yml)], str(yml))


def test_set_is_repeatable_and_never_swallows_the_recipe(tmp_path, capsys):
    # the recipe after --set is still the recipe; an error follows only because the encoder name is bad
    argv = ["train", "--set", "optim.lr=1e-3", "synthetic/vit", "--set", "model.encoder=nope",
            "--set", f"train.output_dir={tmp_path / 'run'}"]
    _fails(capsys, argv, "model.encoder='nope'")
    with pytest.raises(SystemExit) as e:
        main(["train", "--set", "optim.lr=1e-3", "train.epochs=2", "synthetic/vit"])
    assert e.value.code == 2 and "one KEY=VALUE" in capsys.readouterr().err


def test_debug_shows_the_traceback_and_data_commands_fail_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MMLOOKUP_DEBUG", "0")  # restored after the test; --debug sets it to 1
    with pytest.raises(ValueError, match="vit_huge"):
        main(["--debug", *_train(tmp_path, "model.encoder=vit_huge")])
    monkeypatch.setenv("MMLOOKUP_DEBUG", "0")
    _fails(capsys, ["data", "stats", str(tmp_path / "none.csv"), str(tmp_path)], "none.csv")
    capsys.readouterr()
    assert main([]) == 2 and "usage: mmlookup" in capsys.readouterr().err
    assert main(["--version"]) == 0 and capsys.readouterr().out.startswith("mmlookup ")


@pytest.fixture(scope="module")
def lookupvit_folder(tmp_path_factory):
    """A random-weight lookupvit_nano model folder on 4x32x32 clips: lookup grid 2x4x4."""
    import torch

    from mmlookup.models import create_classifier

    torch.manual_seed(0)
    model = create_classifier("lookupvit_nano", num_classes=3, num_frames=4, img_size=32, patch_size=8)
    model.class_names = ["a", "b", "c"]
    folder = tmp_path_factory.mktemp("models") / "lookupvit_nano"
    model.save_pretrained(folder)
    return folder


def test_a_grid_larger_than_the_lookup_grid_is_one_line_in_every_command(lookupvit_folder, tmp_path, capsys):
    from PIL import Image

    image = tmp_path / "a.png"
    Image.new("RGB", (32, 32), (90, 20, 200)).save(image)
    why = "compressed grid 9x9x9 is larger than the lookup grid"
    model = str(lookupvit_folder)
    _fails(capsys, ["predict", model, str(image), "--grid", "9x9x9"], why, "2x4x4")
    _fails(capsys, ["predict", model, str(image), "--grid", "1x5x4"], "1x5x4 is larger")  # one axis is enough
    if HAS_GRADIO:
        _fails(capsys, ["app", model, "--grid", "9x9x9", "--port", str(free_port())], why)
    _fails(capsys, ["visualize", str(image), "--encoder", "lookupvit_nano", "--grid", "9x9x9", "--out",
                    str(tmp_path / "viz")], "larger than the lookup grid 1x8x8")
    _fails(capsys, ["eval", "synthetic/lookupvit", "--checkpoint", str(tmp_path / "none"),
                    "--set", "model.grids=[[9,9,9]]"], "model.grids:", why)
    _fails(capsys, ["bench", "--encoders", "lookupvit_nano", "--grids", "9x9x9", "--frames", "4", "--img-size",
                    "32", "--no-images", "--no-timm", "--device", "cpu"], why)
    assert not (tmp_path / "viz").exists()
    # the grid that fits still runs, and an image gets t_p = 1 from a 2-frame grid
    assert main(["predict", model, str(image), "--grid", "2x4x4"]) == 0


def test_a_device_this_machine_lacks_is_one_line(lookupvit_folder, tmp_path, capsys, monkeypatch):
    import torch

    from mmlookup.devices import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model = str(lookupvit_folder)
    why = "--device cuda: this machine has no CUDA GPU"
    _fails(capsys, ["predict", model, str(tmp_path / "a.png"), "--device", "cuda"], why, "use --device cpu")
    if HAS_GRADIO:
        _fails(capsys, ["app", model, "--device", "cuda", "--port", str(free_port())], why)
    _fails(capsys, ["bench", "--small", "--device", "cuda"], why)
    _fails(capsys, ["bench", "--train", "--small", "--device", "cuda"], why)
    _fails(capsys, ["predict", model, "a.png", "--device", "gpu"], "--device 'gpu' is not a device", "cuda:N")
    assert resolve_device(None) == resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ValueError, match=r"has 2 CUDA GPUs \(cuda:0..cuda:1\)"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("option", ["--gmacs-budget", "--latency-budget"])
def test_a_budget_that_is_not_a_positive_number_is_one_line(lookupvit_folder, capsys, option):
    for value in ("nan", "inf", "0", "-1"):  # nan passed the old `<= 0` check
        _fails(capsys, ["predict", str(lookupvit_folder), "a.png", option, value],
               f"{option} must be a finite number > 0, got {value}")


def test_counts_of_one_are_singular(lookupvit_folder, tmp_path, capsys):
    from PIL import Image

    from mmlookup.words import plural

    Image.new("RGB", (32, 32), (90, 20, 200)).save(tmp_path / "a.png")
    capsys.readouterr()
    assert main(["predict", str(lookupvit_folder), str(tmp_path / "a.png")]) == 0
    assert "\n1 input: 1 predicted (0 with notes), 0 unreadable or unsupported;" in capsys.readouterr().out
    assert [plural(n, "thread") for n in (0, 1, 2)] == ["0 threads", "1 thread", "2 threads"]
    assert plural(1, "category", "categories") == "1 category" and plural(3, "category", "categories") == \
        "3 categories"
