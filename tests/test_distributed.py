"""Two real CPU processes (gloo) through ``accelerate.debug_launcher``.

Checks what a distributed run must get right: gradients are all-reduced (both ranks hold identical weights
after steps on different shards), the schedule is sized for the world size, checkpoints written by two ranks
load back, and evaluation on an uneven dataset counts every video exactly once.
(``accelerate launch --cpu --num_processes 2`` would start only one process; see video_anchors.md §5.)
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from test_engine_smoke import ToyClips, toy_recipe


def _reset_accelerate_state() -> None:
    # the forked child inherits the parent's single-process singletons; start from scratch
    from accelerate.state import AcceleratorState, GradientState, PartialState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    PartialState._reset_state()


def _train_two_ranks(tmp: str) -> None:
    # a forked child must not reuse the parent's OpenMP thread pool (it deadlocks once the parent has used it)
    torch.set_num_threads(1)
    _reset_accelerate_state()
    from mmlookup.engine.fit import build_accelerator, fit, run_eval
    from mmlookup.heads import combine_probs
    from mmlookup.metrics.topk import topk_accuracy

    recipe = toy_recipe(Path(tmp), "lookupvit_nano", "train.epochs=2", "train.batch_size=2", "train.accum_steps=2",
                        "eval.batch_size=2")
    acc = build_accelerator(recipe, cpu=True)
    assert acc.num_processes == 2 and acc.distributed_type.value == "MULTI_CPU"
    val = ToyClips(7, seed=1, replaced_every=3)  # 7 videos over 2 ranks: one rank gets a padded duplicate
    result = fit(recipe, accelerator=acc, datasets=(ToyClips(24), val))
    report, ckpt = result.report, result.checkpoint
    assert ckpt.name == "step_00000006"  # 24 clips / 2 ranks / (2 x 2) = 3 steps per epoch x 2 epochs

    # 1. gradients were synchronised: identical in-memory weights on both ranks after different shards
    flat = torch.cat([p.detach().flatten() for p in result.model.parameters()])
    both = acc.gather(flat[None])
    assert torch.equal(both[0], both[1]), "ranks diverged: gradients were not all-reduced"
    model = result.model

    # 2. every validation video counted exactly once: 7 videos, unreadable flags at 0, 3, 6
    assert report.num_videos == 7 and report.num_unreadable == 3
    again = run_eval(recipe, str(ckpt), accelerator=acc, dataset=val, out=str(Path(tmp) / "eval_again.json"))
    assert again.results == report.results and again.num_videos == 7
    if acc.is_main_process:  # the same numbers as a single-process pass over all 7 videos
        model.eval()
        with torch.no_grad():
            video = torch.stack([val[i].video for i in range(7)])
            labels = torch.tensor([val[i].label for i in range(7)])
            for r in report.results:
                expected = topk_accuracy(combine_probs(model.forward_heads(video, r.grid)), labels, (1,))[1]
                assert abs(expected - r.combined.top1) < 1e-6, (r.grid, expected, r.combined.top1)
    acc.wait_for_everyone()


def test_two_cpu_processes_sync_gradients_and_count_each_video_once(tmp_path):
    # launch from a fresh interpreter: forking a pytest process whose earlier tests used torch's thread pools
    # can deadlock the children regardless of this code
    code = ("import functools, sys; from accelerate import debug_launcher; import test_distributed as t; "
            f"debug_launcher(functools.partial(t._train_two_ranks, {str(tmp_path)!r}), num_processes=2)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(Path(__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "2 process(es)" in log and "global batch 8" in log and "3 steps/epoch" in log
