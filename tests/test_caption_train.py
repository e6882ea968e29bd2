"""End to end: a tiny captioner learns, writes COCO results, resumes, captions files; video clips use the same path."""
from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import pytest
import torch

pytest.importorskip("pycocoevalcap")
pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="caption evaluation needs java (PTB tokenizer)")

from mmlookup.captioning.cli import caption_main  # noqa: E402
from mmlookup.captioning.generate import caption_files  # noqa: E402
from mmlookup.captioning.train import fit  # noqa: E402
from mmlookup.config import Recipe, apply_overrides  # noqa: E402

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


def _make_images(root: Path, n_train: int = 48, n_val: int = 12, size: int = 32, seed: int = 0) -> tuple[Path, Path]:
    """Still images of a coloured square on the left or right, three paraphrased captions each."""
    from PIL import Image

    rng = random.Random(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    files = []
    for name, n, start in (("train", n_train, 1000), ("val", n_val, 5000)):
        images, anns = [], []
        for i in range(n):
            colour, side = list(COLOURS)[i % 3], ("left", "right")[rng.random() < 0.5]
            img = torch.full((size, size, 3), 128, dtype=torch.uint8)
            x0 = 2 if side == "left" else size // 2 + 2
            img[8:24, x0:x0 + size // 2 - 4] = torch.tensor(COLOURS[colour], dtype=torch.uint8)
            Image.fromarray(img.numpy()).save(root / "images" / f"{name}_{i}.jpg", quality=95)
            images.append({"id": start + i, "file_name": f"images/{name}_{i}.jpg"})
            for j, text in enumerate((f"a {colour} square on the {side}", f"A {colour} box at the {side}.",
                                      f"{colour} square, {side} side")):
                anns.append({"id": 10 * (start + i) + j, "image_id": start + i, "caption": text})
        f = root / f"captions_{name}.json"
        f.write_text(json.dumps({"images": images, "annotations": anns}))
        files.append(f)
    return files[0], files[1]


def _recipe(tmp: Path, train: Path, val: Path, **over: object) -> Recipe:
    sets = {
        "model.encoder": "lookupvit_nano", "model.img_size": 32, "model.num_frames": 4, "model.patch_size": 8,
        "model.grids": [(1, 2, 2)], "caption.train_annotations": str(train), "caption.val_annotations": str(val),
        "caption.decoder_width": 64, "caption.decoder_layers": 2, "caption.decoder_heads": 2,
        "caption.decoder_dropout": 0.0, "caption.num_beams": 2, "caption.max_length": 10,
        "caption.cache_dir": str(tmp / "cache"), "train.epochs": 12, "train.batch_size": 8, "train.num_workers": 0,
        "train.eval_every": 0, "train.checkpoint_every": 100, "train.tensorboard": False, "train.log_every": 1000,
        "train.output_dir": str(tmp / "run"), "eval.batch_size": 16, "eval.num_workers": 0, "optim.lr": 3e-3,
        "optim.warmup_epochs": 1.0, "optim.weight_decay": 0.0, "train.label_smoothing": 0.0,
    }
    sets.update(over)
    recipe = Recipe(name="tiny_caption", task="caption")
    return apply_overrides(recipe, [f"{k}={v}" for k, v in sets.items()]).validate()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("caption")
    train, val = _make_images(tmp / "data")
    torch.manual_seed(0)
    recipe = _recipe(tmp, train, val)
    report = fit(recipe)
    return tmp, recipe, report, (train, val)


def test_tiny_run_learns_beyond_the_trivial_baseline(trained) -> None:
    tmp, recipe, report, _ = trained
    run = Path(recipe.train.output_dir)
    losses = [float(x) for x in re.findall(r"caption loss ([0-9.]+)", (run / "log.txt").read_text())]
    assert len(losses) == recipe.train.epochs and losses[-1] < 0.5 * losses[0]
    results = json.loads((run / "results_val.json").read_text())
    assert {r["image_id"] for r in results} == set(range(5000, 5012))  # every val image exactly once
    captions = {r["caption"] for r in results}
    assert len(captions) >= 3 and all(c and "[" not in c for c in captions)  # not one caption for all
    assert report.scores["CIDEr"] > report.baseline["CIDEr"] + 0.5
    assert report.baseline_caption  # the most frequent training caption
    saved = json.loads((run / "eval.json").read_text())
    assert saved["scores"]["CIDEr"] == pytest.approx(report.scores["CIDEr"])
    assert any("SPICE unavailable" in n for n in saved["notes"])
    assert len(list(Path(recipe.caption.cache_dir).glob("*.pt"))) == 2  # train and eval memory cached


def test_resume_of_a_finished_run_reevaluates_identically(trained) -> None:
    tmp, recipe, report, _ = trained
    again = fit(recipe, resume="auto")
    assert again.step == report.step and again.scores == pytest.approx(report.scores)


def test_run_eval_of_the_checkpoint_matches_training_report(trained) -> None:
    from mmlookup.captioning.train import run_eval

    tmp, recipe, report, _ = trained
    again = run_eval(recipe, recipe.train.output_dir, out=tmp / "eval_again.json")
    assert again.scores == pytest.approx(report.scores) and again.step == report.step
    assert json.loads((tmp / "eval_again.json").read_text())["baseline"] == pytest.approx(report.baseline)


def test_mmlookup_eval_command_dispatches_caption_recipes(trained) -> None:
    from mmlookup.cli import main

    tmp, recipe, report, _ = trained
    run = Path(recipe.train.output_dir)
    assert main(["eval", str(run / "recipe.yaml"), "--checkpoint", str(run), "--out", str(tmp / "eval_cli.json")]) == 0
    saved = json.loads((tmp / "eval_cli.json").read_text())
    assert saved["scores"]["CIDEr"] == pytest.approx(report.scores["CIDEr"])


def test_caption_command_prints_captions(trained, capsys: pytest.CaptureFixture[str]) -> None:
    tmp, recipe, _, _ = trained
    images = sorted((tmp / "data" / "images").glob("val_*.jpg"))[:3]
    assert caption_main(["--checkpoint", recipe.train.output_dir, *map(str, images), "--num-beams", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all("\t" in ln and ln.split("\t")[1].strip() for ln in lines)
    # the same captions as the evaluation wrote for those images (beam 2 there: compare with beam 2 here)
    results = {r["image_id"]: r["caption"] for r in json.loads(
        (Path(recipe.train.output_dir) / "results_val.json").read_text())}
    got = caption_files(recipe.train.output_dir, images, num_beams=2)
    ids = [5000 + int(p.stem.split("_")[1]) for p in images]
    assert [c for _, c in got] == [results[i] for i in ids]


def _make_videos(root: Path, n: int, start: int, name: str) -> Path:
    import av

    (root / "videos").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n):
        path = root / "videos" / f"{name}_{i}.mp4"
        with av.open(str(path), "w") as out:
            stream = out.add_stream("mpeg4", rate=8)
            stream.width = stream.height = 64
            stream.pix_fmt = "yuv420p"
            for k in range(8):
                arr = torch.full((64, 64, 3), 100, dtype=torch.uint8)
                x = 4 + 6 * k if i % 2 == 0 else 52 - 6 * k
                arr[24:40, x:x + 8] = 250
                for packet in stream.encode(av.VideoFrame.from_ndarray(arr.numpy(), format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        images.append({"id": start + i, "file_name": f"videos/{name}_{i}.mp4"})
        text = "a square moves to the right" if i % 2 == 0 else "a square moves to the left"
        anns.append({"id": start + i, "image_id": start + i, "caption": text})
    f = root / f"video_{name}.json"
    f.write_text(json.dumps({"images": images, "annotations": anns}))
    return f


def _classification_checkpoint(root: Path, recipe: Recipe) -> dict[str, torch.Tensor]:
    """A fake classification run (encoder + head) in this project's checkpoint layout; returns its encoder weights."""
    from safetensors.torch import save_file

    from mmlookup.models import build_encoder

    torch.manual_seed(123)
    enc = {k: v.clone() for k, v in build_encoder(recipe).state_dict().items()}
    best = root / "checkpoints" / "best"
    best.mkdir(parents=True)
    save_file({**{f"encoder.{k}": v for k, v in enc.items()}, "head.weight": torch.zeros(8, 4)},
              str(best / "model.safetensors"))
    return enc


def test_video_clips_train_and_caption_through_the_same_code(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    train = _make_videos(tmp_path / "data", 8, 100, "train")
    val = _make_videos(tmp_path / "data", 3, 200, "val")
    (tmp_path / "data" / "videos" / "val_2.mp4").write_bytes(b"corrupt")  # skipped and counted, not fatal
    over = {"caption.cache_dir": None, "train.epochs": 1, "train.max_steps": 2, "model.num_frames": 4,
            "caption.memory": "both", "optim.weight_decay": 0.5, "caption.encoder_checkpoint": str(tmp_path / "cls")}
    recipe = _recipe(tmp_path, train, val, **over)
    source = _classification_checkpoint(tmp_path / "cls", recipe)
    report = fit(recipe)
    assert report.num_images == 2 and report.skipped == 1
    assert set(report.scores) >= {"Bleu_4", "METEOR", "ROUGE_L", "CIDEr"}
    got = caption_files(recipe.train.output_dir, [tmp_path / "data" / "videos" / "val_0.mp4"])
    assert got[0][1]
    # the frozen encoder came from the classification run and is bit-identical after training steps with decay
    saved = load_file(str(Path(recipe.train.output_dir) / "checkpoints" / "best" / "model.safetensors"))
    assert all(torch.equal(saved[f"encoder.{k}"], v) for k, v in source.items())


def test_an_epoch_resumed_mid_way_reports_the_loss_of_all_its_steps(tmp_path: Path) -> None:
    """The epoch's loss sum travels in the checkpoint: 3 steps, resume, 3 more = the loss of 6 straight steps."""
    import re

    train, val = _make_images(tmp_path / "data", n_train=48, n_val=4)
    over = {"train.epochs": 1, "caption.max_eval_samples": 2, "caption.max_length": 3}
    straight = _recipe(tmp_path / "a", train, val, **over)
    fit(straight)
    fit(_recipe(tmp_path / "b", train, val, **over, **{"train.max_steps": 3}))
    fit(_recipe(tmp_path / "b", train, val, **over), resume="auto")

    def losses(run: Path) -> list[float]:
        return [float(x) for x in re.findall(r"^epoch 0: caption loss (\S+)$", (run / "log.txt").read_text(), re.M)]

    (full,) = losses(tmp_path / "a" / "run")
    assert losses(tmp_path / "b" / "run")[-1] == pytest.approx(full, rel=1e-4)
