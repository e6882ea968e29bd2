"""``mmlookup visualize`` and ``mmlookup plot`` on run directories written by the real engine (a few steps)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mmlookup.cli import main
from mmlookup.viz.draw import Layout

GRIDS = ((1, 2, 2), (2, 2, 2))


@pytest.fixture(scope="module")
def runs(random_clip_runs):
    """One-step lookupvit_nano (grids ``GRIDS``) and vit_nano runs on random ``(3, 4, 32, 32)`` clips with labels
    ``i % 3``, shared with test_sweep (tests/conftest.py)."""
    return random_clip_runs


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    from mmlookup.data.encode import write_video

    folder = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(12, 40, 48, 3), dtype=np.uint8)
    write_video(str(folder / "clip.mp4"), frames, fps=8)
    Image.fromarray(frames[0]).save(folder / "photo.png")
    return folder


def _check_outputs(prefix, rows: int, frames: int, side: int = 32, cell: int = 96) -> None:
    layout = Layout(cell=cell)
    with Image.open(prefix.with_suffix(".png")) as im:
        im.load()
        assert im.format == "PNG" and im.size == layout.sheet_size(rows, frames, (side, side))
    with Image.open(prefix.with_suffix(".gif")) as im:
        assert im.format == "GIF" and im.n_frames == frames
        panels = rows
        assert im.size == layout.gif_size(panels, (side, side))


def test_visualize_trained_lookupvit_video(runs, media, tmp_path, capsys):
    prefix = tmp_path / "lv"
    code = main(["visualize", "--checkpoint", str(runs["lookupvit"]), str(media / "clip.mp4"), "--out", str(prefix),
                 "--tokens", "0,1", "--layers", "0,3"])
    assert code == 0, capsys.readouterr().err
    _check_outputs(prefix, rows=1 + 2 * 3, frames=4)                     # input + (mean, 2 tokens) x 2 layers


def test_visualize_evit_training_free_on_a_vit_run_reports_counts(runs, media, tmp_path, capsys):
    prefix = tmp_path / "evit"
    code = main(["visualize", "--checkpoint", str(runs["vit"]), "--encoder", "evit_nano", "--keep-rate", "0.5",
                 str(media / "clip.mp4"), "--out", str(prefix)])
    out = capsys.readouterr().out
    assert code == 0
    _check_outputs(prefix, rows=1 + 3, frames=4)                          # evit_nano reduces at layers 1, 2, 3
    assert "layer 1: 16/32 kept" in out                                    # ceil(0.5 * 32) of the 2x4x4 grid


def test_visualize_untrained_ats_on_an_image(media, tmp_path, capsys):
    prefix = tmp_path / "ats"
    code = main(["visualize", "--encoder", "ats_nano", "--budget", "0.5", "--img-size", "32", "--num-frames", "4",
                 str(media / "photo.png"), "--out", str(prefix), "--cell", "64"])
    assert code == 0, capsys.readouterr().err
    _check_outputs(prefix, rows=1 + 3, frames=1, cell=64)


def test_visualize_errors_are_clear(media, tmp_path, capsys):
    assert main(["visualize", "--encoder", "vit_nano", str(tmp_path / "none.mp4")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["visualize", "--encoder", "nope_nano", str(media / "photo.png")]) == 2
    assert "valid encoders" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["visualize", str(media / "photo.png")])                      # neither checkpoint nor encoder


def test_plot_runs_table_and_picture(runs, tmp_path, capsys):
    out = tmp_path / "acc.png"
    code = main(["plot", str(runs["lookupvit"]), str(runs["vit"]), "--out", str(out), "--repeats", "1",
                 "--batch-size", "1"])
    text = capsys.readouterr().out
    assert code == 0
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 400
    rows = [line for line in out.with_suffix(".md").read_text().splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(GRIDS) + 1                                     # one row per grid, one for the ViT
    report = json.loads((runs["lookupvit"] / "eval.json").read_text())
    for row, result in zip(rows, report["results"]):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == "grid " + "x".join(map(str, result["grid"]))
        assert float(cells[3]) == pytest.approx(result["combined"]["top1"], abs=0.01)
        assert float(cells[4]) > 0 and float(cells[5]) > 0                # GMACs counted, throughput measured
    gmacs = [float(r.strip("|").split("|")[4]) for r in rows[:2]]
    assert gmacs[0] < gmacs[1]                                             # 1x2x2 costs less than 2x2x2
    assert "throughput measured here" in text and "chance level: 33.3% top-1" in text   # 3 classes


def test_plot_caption_report_and_missing_eval(runs, tmp_path, capsys):
    run = tmp_path / "cap"
    run.mkdir()
    (run / "recipe.yaml").write_text((runs["vit"] / "recipe.yaml").read_text())
    (run / "eval.json").write_text(json.dumps({"scores": {"CIDEr": 0.42, "Bleu_4": 0.1}, "num_images": 7}))
    code = main(["plot", str(run), "--out", str(tmp_path / "cap.png"), "--no-throughput"])
    assert code == 0
    table = (tmp_path / "cap.md").read_text()
    assert "| CIDEr |" in table and "| 0.420 |" in table
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "recipe.yaml").write_text("name: x\n")
    assert main(["plot", str(empty), "--out", str(tmp_path / "x.png")]) == 2
    assert "no eval.json" in capsys.readouterr().err


def test_old_run_records_with_removed_keys_stay_readable(runs, tmp_path):
    import shutil

    import yaml

    old = tmp_path / "old_run"
    shutil.copytree(runs["vit"], old)
    record = yaml.safe_load((old / "recipe.yaml").read_text())
    record["caption"]["a_key_removed_since"] = 1
    (old / "recipe.yaml").write_text(yaml.safe_dump(record))
    with pytest.warns(UserWarning, match="a_key_removed_since"):
        assert main(["plot", str(old), "--out", str(tmp_path / "old.png"), "--no-throughput"]) == 0
