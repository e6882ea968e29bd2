"""The console script on real decoded videos, as a user and a cluster run it: real processes and real signals.

``mmlookup train`` then ``mmlookup eval`` on a tiny synthetic set; a run killed with SIGKILL and one stopped
with SIGTERM (sent to the whole process group, data-loader worker included, as a cluster does) both resume
with ``--resume auto`` to weights bit-identical to an uninterrupted run, with no step repeated in ``log.txt``
or TensorBoard; two ranks agree on the stop step when only rank 0 gets the signal; user mistakes are one
line with exit code 2 before a run folder exists.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
       "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
STOP_LINE = re.compile(r"^stopped at step (\d+) by (SIG\w+); checkpoint (\S+); resume with: (.+ --resume auto)$",
                       re.M)


def _mmlookup() -> list[str]:
    """The installed console script when it belongs to this interpreter, else ``python -m mmlookup``."""
    script = Path(sys.executable).parent / "mmlookup"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "mmlookup"]


@pytest.fixture(scope="module")
def data(synth_k400) -> Path:
    """16 train / 8 val real mp4 clips (8 classes, 8 frames of 32x32): the session's set (tests/conftest.py)."""
    return synth_k400


def _args(data: Path, out: Path, *extra: str) -> list[str]:
    sets = [f"data.root={data}", f"train.output_dir={out}", "data.synthetic=False", "model.num_frames=4",
            "data.frame_interval=2", "train.batch_size=4", "train.epochs=3", "train.num_workers=1",
            "train.log_every=1", "train.checkpoint_every_steps=2", "eval.num_workers=0", "eval.batch_size=8", *extra]
    return ["synthetic/lookupvit", *[x for kv in sets for x in ("--set", kv)]]


def _train(data: Path, out: Path, *extra: str, resume: bool = False, **popen) -> subprocess.Popen:
    """Start a training process; its stderr goes to a file (``proc.err()`` reads it), so a pipe never fills up."""
    cmd = [*_mmlookup(), "train", *_args(data, out, *extra), *(["--resume", "auto"] if resume else [])]
    out.mkdir(parents=True, exist_ok=True)
    err = out.parent / f"{out.name}.{len(list(out.parent.glob(out.name + '.*.err')))}.err"
    with open(err, "w") as f:
        proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=f, text=True, **popen)
    proc.err = lambda: err.read_text()  # type: ignore[attr-defined]
    return proc


def _wait_for(proc: subprocess.Popen, ready, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: rc {proc.returncode}\n{proc.err()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _logged_steps(run: Path) -> list[int]:
    return [int(m) for m in re.findall(r"^step (\d+)/\d+", (run / "log.txt").read_text(), re.M)]


def _weights(run: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / f"step_{step:08d}" / "model.safetensors"))


def test_console_train_then_eval_on_decoded_videos(data, tmp_path):
    run = tmp_path / "run"
    done = subprocess.run([*_mmlookup(), "train", *_args(data, run, "train.max_steps=4", "train.num_workers=0")],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (run / "checkpoints" / "step_00000004" / "model.safetensors").is_file()
    out = tmp_path / "eval.json"
    done = subprocess.run([*_mmlookup(), "eval", str(run / "recipe.yaml"), "--checkpoint", str(run),
                           "--out", str(out)], env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["num_videos"] == 8 and report["num_unreadable"] == 0 and report["step"] == 4
    assert [r["grid"] for r in report["results"]] == [[2, 2, 2], [1, 2, 2], [2, 4, 4]]
    trained = json.loads((run / "eval.json").read_text())
    assert [r["combined"] for r in report["results"]] == [r["combined"] for r in trained["results"]]


def test_kill_9_and_sigterm_then_resume_auto_is_bit_exact(data, tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    straight = _train(data, ref)
    # 1. SIGKILL once the step-2 checkpoint exists: at most 2 steps are lost
    killed = _train(data, run)
    _wait_for(killed, lambda: (run / "checkpoints" / "step_00000002").is_dir(), "the first step checkpoint")
    killed.kill()
    killed.wait()
    assert not (run / "eval.json").exists(), "the run finished before it was killed"
    (run / "checkpoints" / ".tmp_step_00000099").mkdir()  # as a kill -9 during a save leaves behind
    # 2. resume; SIGTERM to the whole process group (as a cluster does) once it has trained past the resume
    stopped = _train(data, run, resume=True, start_new_session=True)
    resumed_at = max(int(p.name[5:]) for p in (run / "checkpoints").glob("step_*"))
    _wait_for(stopped, lambda: "resumed from" in (run / "log.txt").read_text() and _logged_steps(run)[-1] > resumed_at,
              "a step after the resume")
    os.killpg(stopped.pid, signal.SIGTERM)
    stopped.wait(timeout=120)
    err = stopped.err()
    assert stopped.returncode == 128 + signal.SIGTERM, err[-3000:]
    match = STOP_LINE.search(err)
    assert match, err[-3000:]
    step, ckpt = int(match.group(1)), Path(match.group(3))
    assert match.group(2) == "SIGTERM" and ckpt == run / "checkpoints" / f"step_{step:08d}" and ckpt.is_dir()
    assert "mmlookup train synthetic/lookupvit --set" in match.group(4)
    assert step < 12, "the run finished before it was stopped"
    # 3. resume to the end: the same weights as the uninterrupted run, bit for bit
    final = _train(data, run, resume=True)
    assert final.wait(timeout=300) == 0, final.err()[-3000:]
    assert straight.wait(timeout=300) == 0, straight.err()[-3000:]
    a, b = _weights(ref, 12), _weights(run, 12)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # nothing repeated: each step logged once, TensorBoard shows each step once; no temporary folders left
    assert _logged_steps(run) == list(range(1, 13)) == _logged_steps(ref)
    assert _tensorboard_steps(run, "train/loss") == list(range(1, 13))
    assert not list((run / "checkpoints").glob(".*"))


def _tensorboard_steps(run: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    return [e.step for e in acc.Scalars(tag)]


def test_resume_refuses_a_changed_recipe_and_keeps_history(data, tmp_path, capsys):
    # in-process through the same entry point as the console script (no interpreter start-up to pay)
    from mmlookup.cli import main

    run = tmp_path / "run"
    assert main(["train", *_args(data, run, "train.max_steps=2", "train.num_workers=0")]) == 0
    changed = [*_args(data, run, "train.max_steps=4", "train.num_workers=0", "optim.lr=1e-3"), "--resume", "auto"]
    capsys.readouterr()
    assert main(["train", *changed]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "optim.lr: 0.0005 -> 0.001" in lines[0] and "--allow-recipe-change" in lines[0]
    assert main(["train", *changed, "--allow-recipe-change"]) == 0
    history = sorted((run / "recipe_history").glob("*.yaml"))
    assert len(history) == 1 and "lr: 0.0005" in history[0].read_text()
    assert "lr: 0.001" in (run / "recipe.yaml").read_text()
    assert _logged_steps(run) == [1, 2, 3, 4]


def test_engine_counts_real_broken_videos_in_training_and_evaluation(data, tmp_path):
    # real broken files (deleted, empty, cut short, garbage bytes), not flags: the engine logs and counts each
    import shutil

    from mmlookup.config import load_recipe
    from mmlookup.engine.fit import fit

    root = tmp_path / "k400"
    shutil.copytree(data, root)
    train_videos = sorted((root / "videos").rglob("*.mp4"))
    val_names = {line.split(",")[1] for line in (root / "validate.csv").read_text().splitlines()[1:]}
    train_only = [p for p in train_videos if p.stem.rsplit("_", 2)[0] not in val_names]
    val_only = [p for p in train_videos if p.stem.rsplit("_", 2)[0] in val_names]
    train_only[0].unlink()                                          # missing
    train_only[1].write_bytes(b"")                                  # empty
    train_only[2].write_bytes(train_only[2].read_bytes()[:300])     # cut short
    val_only[0].write_bytes(os.urandom(2000))                       # not a video
    sets = _args(root, tmp_path / "run", "train.num_workers=0", "train.epochs=2")[2::2]
    result = fit(load_recipe("synthetic/lookupvit", sets))
    log = (tmp_path / "run" / "log.txt").read_text()
    assert re.findall(r"epoch \d+: train loss \S+  \((\d+) unreadable videos replaced\)", log) == ["3", "3"]
    assert result.report.num_videos == 8 and result.report.num_unreadable == 1


def _rank_zero_child(parent: int) -> int | None:
    """The pid of the process with ``RANK=0`` among the children of ``parent`` (Linux ``/proc``)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != parent:
                continue
            if b"RANK=0" in (stat.parent / "environ").read_bytes().split(b"\0"):
                return int(stat.parent.name)
        except (OSError, IndexError, ValueError):
            continue
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the rank-0 process through /proc")
def test_two_ranks_stop_at_the_same_step_when_only_rank_0_gets_the_signal(data, tmp_path):
    run = tmp_path / "run"
    torchrun = Path(sys.executable).parent / "torchrun"
    cmd = [str(torchrun), "--nproc_per_node", "2", "-m", "mmlookup.train",
           *_args(data, run, "train.num_workers=0", "train.batch_size=2", "train.checkpoint_every_steps=0",
                  "train.epochs=6")]  # 24 steps: room to signal before the end on a fast machine
    err = tmp_path / "torchrun.err"
    with open(err, "w") as f:
        proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=f)
    proc.err = err.read_text  # type: ignore[attr-defined]
    _wait_for(proc, lambda: (run / "log.txt").is_file() and len(_logged_steps(run)) >= 1, "the first step")
    rank0 = _rank_zero_child(proc.pid)
    assert rank0 is not None
    os.kill(rank0, signal.SIGTERM)  # rank 1 is never signalled: it learns of the stop through the all-reduce
    assert proc.wait(timeout=300) != 0
    match = STOP_LINE.search(err.read_text())
    assert match, err.read_text()[-3000:]
    step = int(match.group(1))
    assert 1 <= step < 24 and f"stopped at step {step} by SIGTERM" in (run / "log.txt").read_text()
    ckpt = run / "checkpoints" / f"step_{step:08d}"
    # both ranks took part in the (collective) save: Accelerate writes one RNG file per process
    assert (ckpt / "model.safetensors").is_file() and len(list(ckpt.glob("random_states_*.pkl"))) == 2
    assert "<launcher> -m mmlookup.train synthetic/lookupvit" in match.group(4)
