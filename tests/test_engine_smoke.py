"""The engine end to end on CPU: a few steps per encoder family, exact resume, checkpoints, eval counts.

The clips come from an in-memory toy dataset (no decoding), so these tests exercise the loop itself;
``test_engine_learning.py`` runs the real synthetic videos through the real readers.
"""
from __future__ import annotations

import json
import re

import pytest
import torch
from torch.utils.data import Dataset

from mmlookup import list_encoders
from mmlookup.config import Recipe, apply_overrides
from mmlookup.data import ClipSample
from mmlookup.engine.checkpoint import latest_checkpoint
from mmlookup.engine.fit import build_accelerator, fit, run_eval


class ToyClips(Dataset):
    """``n`` clips ``(3, T, S, S)``: a class-specific random template plus noise; label ``i % num_classes``."""

    def __init__(self, n: int, num_classes: int = 4, frames: int = 4, size: int = 32, views: int = 1,
                 noise: float = 0.5, seed: int = 0, replaced_every: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.templates = torch.randn(num_classes, 3, frames, size, size, generator=g)
        self.noise = torch.randn(n, 3, frames, size, size, generator=g) * noise
        self.n, self.num_classes, self.views, self.replaced_every = n, num_classes, views, replaced_every

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> ClipSample:
        y = i % self.num_classes
        video = self.templates[y] + self.noise[i]
        if self.views > 1:
            video = torch.stack([video.roll(v, dims=-1) for v in range(self.views)])
        replaced = int(self.replaced_every > 0 and i % self.replaced_every == 0)
        return ClipSample(video=video, label=y, index=i, replaced=replaced)


def toy_recipe(tmp_path, encoder: str = "lookupvit_nano", *extra: str) -> Recipe:
    grids = ["model.grids=[(1,2,2),(2,2,2)]"] if encoder.startswith("lookupvit") else []
    return apply_overrides(Recipe(name="toy"), [
        f"model.encoder={encoder}", "model.num_frames=4", "model.img_size=32", "model.tubelet_size=2",
        "model.patch_size=8", "model.drop_path_rate=0.1", *grids,
        "optim.lr=1e-3", "optim.warmup_epochs=0.5", "optim.min_lr=1e-5",
        "train.epochs=2", "train.batch_size=4", "train.num_workers=0", "train.precision=no",
        "train.log_every=1", "train.tensorboard=false", f"train.output_dir={tmp_path / 'run'}",
        "train.clip_grad=1.0", "eval.batch_size=4", "eval.num_workers=0", *extra]).validate()


def _families() -> list[str]:
    return [f"{fam}_nano" for fam in ("lookupvit", "vit", "evit", "ats", "tome") if f"{fam}_nano" in list_encoders()]


@pytest.mark.parametrize("encoder", _families())
def test_smoke_each_family_trains_evaluates_and_saves(tmp_path, encoder):
    extra = ["model.keep_rate=0.7", "train.keep_rate_warmup_epochs=0.5",
             "train.keep_rate_ramp_epochs=1"] if encoder.startswith("evit") else []
    recipe = toy_recipe(tmp_path, encoder, "train.max_steps=3", "train.epochs=1", *extra)
    report = fit(recipe, accelerator=build_accelerator(recipe), datasets=(ToyClips(16), ToyClips(6, seed=1))).report
    assert report.num_videos == 6 and report.num_unreadable == 0
    grids = recipe.model.grids or (None,)
    assert [r.grid for r in report.results] == list(grids)
    for r in report.results:
        assert 0.0 <= r.combined.top1 <= 100.0
        if encoder.startswith("lookupvit"):
            assert set(r.heads) == {"compressed", "lookup"}
    run = tmp_path / "run"
    assert (run / "recipe.yaml").is_file() and (run / "eval.json").is_file()
    saved = json.loads((run / "eval.json").read_text())
    assert saved["num_videos"] == 6 and len(saved["results"]) == len(grids)
    ckpt = latest_checkpoint(run)
    assert ckpt is not None and ckpt.name == "step_00000003"


def test_unreadable_training_videos_are_counted_per_epoch(tmp_path):
    recipe = toy_recipe(tmp_path, "vit_nano", "train.epochs=2", "train.eval_every=0")
    fit(recipe, accelerator=build_accelerator(recipe), datasets=(ToyClips(16, replaced_every=5), ToyClips(4)))
    log = (tmp_path / "run" / "log.txt").read_text()
    counts = re.findall(r"epoch (\d+): train loss [0-9.]+  \((\d+) unreadable videos replaced\)", log)
    assert counts == [("0", "4"), ("1", "4")]  # samples 0, 5, 10, 15 of 16, every epoch


def _loss_by_step(run_dir) -> dict[int, str]:
    text = (run_dir / "log.txt").read_text()
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^step (\d+)/\d+\s+loss (\S+)", text, re.M)}


def test_exact_resume_matches_uninterrupted_run(tmp_path):
    # accumulation 2, mixup, drop path, EMA and a mid-epoch stop: every source of state must come back
    extra = ["train.accum_steps=2", "train.batch_size=2", "train.mixup_alpha=0.8", "train.cutmix_alpha=1.0",
             "train.ema_decay=0.9", "train.epochs=3"]
    data = (ToyClips(12), ToyClips(6, seed=1))  # 3 steps per epoch
    straight = toy_recipe(tmp_path / "a", "lookupvit_nano", *extra, "train.max_steps=5")
    ra = fit(straight, accelerator=build_accelerator(straight), datasets=data).report
    first = toy_recipe(tmp_path / "b", "lookupvit_nano", *extra, "train.max_steps=2")  # stop mid-epoch
    fit(first, accelerator=build_accelerator(first), datasets=data)
    second = toy_recipe(tmp_path / "b", "lookupvit_nano", *extra, "train.max_steps=5")
    rb = fit(second, resume="auto", accelerator=build_accelerator(second), datasets=data).report
    wa = _weights(latest_checkpoint(tmp_path / "a" / "run"))
    wb = _weights(latest_checkpoint(tmp_path / "b" / "run"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    la, lb = _loss_by_step(tmp_path / "a" / "run"), _loss_by_step(tmp_path / "b" / "run")
    assert [la[s] for s in range(3, 6)] == [lb[s] for s in range(3, 6)]
    assert ra.results == rb.results



def test_the_first_logged_window_after_a_resume_averages_the_steps_before_it_too(tmp_path):
    # log every 4 steps, stop after step 3 (mid-window): the step-4 loss must be the mean of steps 1-4, as in the
    # uninterrupted run, not of step 4 alone; and a resume at a window's end starts a fresh one (step 8)
    extra = ["train.batch_size=2", "train.epochs=1", "train.log_every=4"]
    data = (ToyClips(16), ToyClips(4, seed=1))  # 8 steps in the epoch
    straight = toy_recipe(tmp_path / "a", "vit_nano", *extra)
    fit(straight, accelerator=build_accelerator(straight), datasets=data)
    for stop in (3, 4):
        first = toy_recipe(tmp_path / f"b{stop}", "vit_nano", *extra, f"train.max_steps={stop}")
        fit(first, accelerator=build_accelerator(first), datasets=data)
        second = toy_recipe(tmp_path / f"b{stop}", "vit_nano", *extra)
        fit(second, resume="auto", accelerator=build_accelerator(second), datasets=data)
        la, lb = _loss_by_step(tmp_path / "a" / "run"), _loss_by_step(tmp_path / f"b{stop}" / "run")
        assert sorted(la) == sorted(lb) == [4, 8]
        for step in (4, 8):
            assert float(lb[step]) == pytest.approx(float(la[step]), abs=2e-4), (stop, step, la, lb)

def _weights(ckpt):
    from safetensors.torch import load_file

    return {**load_file(str(ckpt / "model.safetensors")),
            **{f"ema.{k}": v for k, v in load_file(str(ckpt / "ema.safetensors")).items()}}


def test_checkpoints_keep_last_k_and_best_and_eval_from_checkpoint(tmp_path):
    recipe = toy_recipe(tmp_path, "vit_nano", "train.epochs=3", "train.keep_last=2", "eval.num_clips=2",
                        "eval.num_crops=1")
    val = ToyClips(7, seed=1, views=2, replaced_every=3)
    fit(recipe, accelerator=build_accelerator(recipe), datasets=(ToyClips(16), val))
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts[-2:] == ["step_00000008", "step_00000012"] and "best" in ckpts
    assert not [c for c in ckpts if c.startswith(".")]  # nothing half-written left behind
    report = run_eval(recipe, str(tmp_path / "run" / "checkpoints" / "best"), accelerator=build_accelerator(recipe),
                      dataset=val)
    assert report.num_videos == 7 and report.num_unreadable == 3  # indices 0, 3, 6
    assert (report.num_clips, report.num_crops) == (2, 1)
    assert "7 videos evaluated, 3 unreadable, views 2x1" in report.lines()[0]
    assert (tmp_path / "run" / "eval_best.json").is_file()


def test_nan_loss_stops_with_a_clear_error(tmp_path):
    recipe = toy_recipe(tmp_path, "vit_nano", "train.max_steps=2", "train.clip_grad=0.0")
    bad = ToyClips(16)
    bad.noise[:] = float("nan")
    from mmlookup.engine.loop import NonFiniteLossError

    with pytest.raises(NonFiniteLossError, match="non-finite loss at optimizer step 0"):
        fit(recipe, accelerator=build_accelerator(recipe), datasets=(bad, ToyClips(4)))


@pytest.mark.parametrize("use_ema", [False, True])
def test_evit_evaluates_at_the_target_keep_rate_while_the_schedule_holds_one(tmp_path, monkeypatch, use_ema):
    """The keep-rate schedule is for training steps only: live and EMA evaluations both run at the target ρ."""
    from mmlookup.encoders.evit import EViT

    seen: list[tuple[bool, float]] = []
    forward = EViT.forward

    def spy(self, video, **kwargs):
        seen.append((self.training, self.keep_rate))
        return forward(self, video, **kwargs)

    monkeypatch.setattr(EViT, "forward", spy)
    recipe = toy_recipe(tmp_path, "evit_nano", "train.max_steps=2", "train.epochs=1", "model.keep_rate=0.5",
                        "train.keep_rate_warmup_epochs=10", f"train.ema_decay={0.9 if use_ema else 0.0}",
                        f"eval.use_ema={use_ema}")
    fit(recipe, accelerator=build_accelerator(recipe), datasets=(ToyClips(8), ToyClips(4, seed=1)))
    assert {rate for training, rate in seen if training} == {1.0}      # hold phase of the schedule
    assert {rate for training, rate in seen if not training} == {0.5}  # every evaluation at the target
