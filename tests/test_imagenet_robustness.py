"""The synthetic image recipe end to end (ImageNet readers on real files, a broken JPEG counted in the epoch line),
then `mmlookup eval` with the ImageNet-C / -R / -O robustness recipes on that run's checkpoint."""
import csv
import os
import re
import shutil

import pytest
import torch

from mmlookup.config import load_recipe
from mmlookup.data.synthetic import IMAGENET_WNIDS
from mmlookup.engine.cli import eval_main
from mmlookup.engine.fit import fit, run_eval
from mmlookup.engine.robustness import find_corruptions, subset_top1

FAST = ["model.img_size=32", "data.short_side=36", "train.batch_size=3", "train.max_steps=3", "train.num_workers=0",
        "eval.num_workers=0", "eval.batch_size=4", "train.tensorboard=False", "data.synthetic=False"]


@pytest.fixture(scope="module")
def run(synth_imagenet):
    base = synth_imagenet                     # generate_imagenet at the tiny sizes, made by tests/conftest.py
    root = str(base / "imagenet")
    wnid = IMAGENET_WNIDS["red"]
    good = open(os.path.join(root, "train", wnid, f"{wnid}_0.JPEG"), "rb").read()
    with open(os.path.join(root, "train", wnid, "broken.JPEG"), "wb") as f:
        f.write(good[: len(good) // 3])  # a truncated JPEG among 9 training images: 3 steps of 3 see each once
    recipe = load_recipe("synthetic/imagenet_lookupvit:quick",
                         [f"data.root={root}", f"train.output_dir={base / 'run'}", *FAST])
    return root, base / "run", fit(recipe)


def test_synthetic_image_recipe_runs_and_counts_the_broken_jpeg(run):  # the recipe runs a few steps
    root, run_dir, result = run
    log = (run_dir / "log.txt").read_text()
    assert "9 train / 8 val" in log
    assert re.search(r"epoch 0: train loss [0-9.]+  \(1 unreadable videos replaced\)", log)
    assert [r.grid for r in result.report.results] == [(1, 2, 2), (1, 3, 3), (1, 4, 4)]
    assert result.report.num_videos == 8 and result.report.num_unreadable == 0 and result.report.num_classes == 8


def _val_by_wnid(root):
    with open(os.path.join(root, "LOC_val_solution.csv")) as f:
        return [(os.path.join(root, "val", r["ImageId"] + ".JPEG"), r["PredictionString"].split()[0])
                for r in csv.DictReader(f)]


def test_imagenet_c_walk_and_scores(run, tmp_path):
    root, run_dir, result = run
    c = tmp_path / "imagenet-c"
    for corruption, severity in (("gaussian_noise", 1), ("gaussian_noise", 2), ("fog", 5)):
        for path, wnid in _val_by_wnid(root):  # clean copies: each folder must score as the plain val set
            os.makedirs(c / corruption / str(severity) / wnid, exist_ok=True)
            shutil.copy(path, c / corruption / str(severity) / wnid)
    os.makedirs(c / "fog" / "extra")  # not a severity: ignored
    (c / "README.txt").write_text("x")
    assert [(k, s) for k, s, _ in find_corruptions(str(c))] == [("fog", 5), ("gaussian_noise", 1),
                                                               ("gaussian_noise", 2)]
    with pytest.raises(ValueError, match="no <corruption>/<severity>"):
        find_corruptions(str(tmp_path))
    recipe = load_recipe("imagenet/robustness_c.py", [f"data.val_annotations={c}", f"data.root={root}",
                                                      "data.short_side=36", "eval.num_workers=0"])
    report = run_eval(recipe, str(run_dir), out=str(tmp_path / "c.json"))
    clean = {"x".join(map(str, r.grid)): r.combined.top1 for r in result.report.results}
    rows = {(r.set, r.grid, r.metric): r.value for r in report.rows}
    assert {g for _, g, _ in rows} == set(clean)  # the run's grids: the model section came from its recipe.yaml
    for grid, top1 in clean.items():
        for folder in ("gaussian_noise/1", "gaussian_noise/2", "fog/5"):
            assert rows[(folder, grid, "top-1")] == pytest.approx(top1)
        assert rows[("all", grid, "mean top-1 error")] == pytest.approx(100 - top1)
    assert (tmp_path / "c.json").is_file()


def test_subset_restricts_each_head_before_the_softmax():
    logits = torch.tensor([[[9.0, 1.0, 0.0, 2.0], [9.0, 0.0, 3.0, 0.0]]])  # (B=1, H=2, K=4): class 0 wins overall
    pred, msp = subset_top1(logits, None)
    assert pred.tolist() == [0]
    subset = torch.tensor([1, 2, 3])
    pred, msp = subset_top1(logits, subset)
    expected = torch.stack([logits[0, 0, 1:].softmax(-1), logits[0, 1, 1:].softmax(-1)]).mean(0)
    assert pred.tolist() == [1 + int(expected.argmax())] and msp.item() == pytest.approx(expected.max().item())


def test_imagenet_r_subset_and_o_aupr_through_the_cli(run, tmp_path, capsys):
    root, run_dir, _ = run
    val = _val_by_wnid(root)
    r_dir, o_dir = tmp_path / "imagenet-r", tmp_path / "imagenet-o" / "n99999999"
    keep = sorted({w for _, w in val})[:2]
    for path, wnid in val:
        if wnid in keep:
            os.makedirs(r_dir / wnid, exist_ok=True)
            shutil.copy(path, r_dir / wnid)
    os.makedirs(o_dir)
    for k, (path, _) in enumerate(val[:3]):
        shutil.copy(path, o_dir / f"o{k}.JPEG")
    def sets(*pairs: str) -> list[str]:
        return [x for kv in pairs for x in ("--set", kv)]

    common = sets(f"data.root={root}", "data.short_side=36", "eval.num_workers=0")
    assert eval_main(["imagenet/robustness_r.py", "--checkpoint", str(run_dir), "--out", str(tmp_path / "r.json"),
                      *common, *sets(f"data.val_annotations={r_dir}")]) == 0
    out = capsys.readouterr()
    assert "imagenet_r imagenet_r grid 1x2x2: top-1" in out.out + out.err
    assert "2 of 8 classes" in out.out + out.err
    assert eval_main(["imagenet/robustness_o.py", "--checkpoint", str(run_dir), "--out", str(tmp_path / "o.json"),
                      *common, *sets(f"data.val_annotations={tmp_path / 'imagenet-o'}",
                                     f"eval.in_distribution={os.path.join(root, 'val')}")]) == 0
    text = "".join(capsys.readouterr())
    assert "AUPR (ImageNet-O positive, score -MSP)" in text and "AUROC" in text
    assert "3 ImageNet-O and 8 in-distribution images; chance AUPR (ImageNet-O positive) = 27.27" in text
