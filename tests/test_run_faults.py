"""Faults a cluster user meets, each on real runs: a requeued job that fails at start-up, a cut-short optimizer file,
a mid-epoch resume's counts, ``--resume auto`` before the first checkpoint, a malicious pickle, and the checkpoint
of another encoder. Every one is one line with rc 2 and leaves the run folder as it was."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmlookup.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(synth_k400) -> Path:
    """16 train / 8 val real mp4 clips (8 classes, 8 frames of 32x32): the session's set (tests/conftest.py)."""
    return synth_k400


def _sets(data: Path, out: Path, *extra: str) -> list[str]:
    sets = [f"data.root={data}", f"train.output_dir={out}", "data.synthetic=False", "model.num_frames=4",
            "data.frame_interval=2", "train.batch_size=4", "train.epochs=1", "train.num_workers=0",
            "train.log_every=1", "train.checkpoint_every_steps=1", "eval.num_workers=0", "eval.batch_size=8",
            "train.tensorboard=False", *extra]
    return [x for kv in sets for x in ("--set", kv)]


def _train(recipe: str, data: Path, out: Path, *extra: str, resume: bool = False) -> int:
    return main(["train", recipe, *_sets(data, out, *extra), *(["--resume", "auto"] if resume else [])])


@pytest.fixture(scope="module")
def lookupvit_run(data, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "lookupvit"
    assert _train("synthetic/lookupvit", data, run, "train.max_steps=2") == 0
    return run


def _one_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_failed_requeued_start_ends_the_log_so_the_job_script_stops(data, lookupvit_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(lookupvit_run, run)
    with open(run / "log.txt", "a") as f:
        f.write("stopped at step 2 by SIGUSR1; checkpoint x\n")
    capsys.readouterr()
    # the requeued job's recipe is refused (another learning rate): one line, and log.txt says it failed
    assert _train("synthetic/lookupvit", data, run, "train.max_steps=2", "optim.lr=1", resume=True) == 2
    assert "optim.lr" in _one_line(capsys)
    last = (run / "log.txt").read_text().splitlines()[-1]
    assert last.startswith("failed: ValueError: the recipe differs") and "optim.lr" in last
    # the manual's job script then does not requeue; after a stop it does
    assert _slurm_job(tmp_path, f"printf 'step 1/4\\n%s\\n' '{last}' >> $RUN/log.txt; exit 2")[0] is False
    assert _slurm_job(tmp_path, "printf 'stopped at step 2 by SIGUSR1\\n' >> $RUN/log.txt; exit 138")[0] is True


def test_a_recipe_that_does_not_load_ends_the_log_with_failed(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.txt").write_text("step 2/4  loss 1.0\nstopped at step 2 by SIGUSR1; checkpoint x\n")
    broken = tmp_path / "broken.py"
    broken.write_text("def get_recipe(arg=''):\n    return Recipe(\n")
    capsys.readouterr()
    assert main(["train", str(broken), "--set", f"train.output_dir={run}", "--resume", "auto"]) == 2
    assert "syntax error in recipe" in _one_line(capsys)
    last = (run / "log.txt").read_text().splitlines()[-1]
    assert last.startswith("failed: ValueError: ") and "syntax error in recipe" in last


def _readme_slurm_script() -> str:
    text = (REPO / "docs" / "cluster.md").read_text()
    blocks = re.findall(r"```bash\n(#!/bin/bash\n#SBATCH.*?)```", text, re.S)
    assert len(blocks) == 1, "the manual's SLURM job script (docs/cluster.md)"
    return blocks[0]


def _slurm_job(tmp: Path, srun: str, restarts: int = 0) -> tuple[bool, str]:
    """Run the manual's job script with a stand-in ``srun`` (the shell code ``srun``, with ``$RUN`` the run folder,
    whose ``log.txt`` ends with an earlier attempt's stop line) and ``scontrol`` (records a requeue), as the
    ``restarts``-th requeue of job 42. Returns whether it requeued, and its stderr."""
    work = tmp / f"job{len(list(tmp.glob('job*')))}"
    (work / "bin").mkdir(parents=True)
    script = _readme_slurm_script()
    run = re.search(r"^RUN=(\S+)$", script, re.M).group(1)
    (work / run).mkdir(parents=True)
    (work / run / "log.txt").write_text("step 2/4  loss 1.0\nstopped at step 2 by SIGUSR1; checkpoint x\n")
    (work / "bin/srun").write_text(f"#!/bin/bash\nRUN={run}\n{srun}\n")
    (work / "bin/scontrol").write_text("#!/bin/sh\necho \"$@\" >> requeued.txt\n")
    for f in (work / "bin").iterdir():
        f.chmod(0o755)
    env = {**os.environ, "PATH": f"{work / 'bin'}:{os.environ['PATH']}", "SLURM_JOB_ID": "42",
           "SLURM_RESTART_COUNT": str(restarts)}
    done = subprocess.run(["bash", "-c", script], cwd=work, env=env, timeout=120, capture_output=True, text=True)
    requeued = work / "requeued.txt"
    assert not requeued.exists() or requeued.read_text().split() == ["requeue", "42"]
    return requeued.exists(), done.stderr


def test_the_job_script_requeues_a_stopped_run_and_nothing_else(tmp_path):
    stop = "printf 'step 3/4  loss 1.0\\nstopped at step 3 by SIGUSR1; checkpoint y\\n' >> $RUN/log.txt"
    # stopped: the engine's exit codes (a direct launch), or this attempt's stop line through a launcher (exit 1)
    assert _slurm_job(tmp_path, f"{stop}; exit 138")[0] is True
    assert _slurm_job(tmp_path, "exit 143")[0] is True                  # SIGTERM before the handlers were set
    assert _slurm_job(tmp_path, f"{stop}; exit 1")[0] is True
    # the recipe file does not load: the real CLI exits 2 (the old stop line may not requeue it)
    broken = tmp_path / "broken.py"
    broken.write_text("def get_recipe(arg=''):\n    return Recipe(\n")
    cli = f"{shlex.quote(sys.executable)} -m mmlookup train {broken} --set train.output_dir=$RUN --resume auto"
    requeued, err = _slurm_job(tmp_path, cli)
    assert requeued is False and "exit code 2: failed, not requeued" in err
    # killed hard at start-up (kill -9, an OOM kill): nothing written, exit 137, not requeued
    requeued, err = _slurm_job(tmp_path, "kill -9 $$")
    assert requeued is False and "exit code 137" in err
    assert _slurm_job(tmp_path, "exit 1")[0] is False                  # a launcher's failure without a stop line
    assert _slurm_job(tmp_path, "exit 130")[0] is False                 # Ctrl-C is not a preemption


def test_the_job_script_stops_requeueing_after_its_cap(tmp_path):
    cap = int(re.search(r"^MAX_REQUEUES=(\d+)", _readme_slurm_script(), re.M).group(1))
    stop = "printf 'stopped at step 3 by SIGUSR1; checkpoint y\\n' >> $RUN/log.txt; exit 138"
    assert _slurm_job(tmp_path, stop, restarts=cap - 1)[0] is True
    requeued, err = _slurm_job(tmp_path, stop, restarts=cap)
    assert requeued is False and f"requeued {cap} times already" in err


def test_a_cut_short_optimizer_file_is_one_line_and_the_log_stays_whole(data, lookupvit_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(lookupvit_run, run)
    optimizer = run / "checkpoints" / "step_00000002" / "optimizer.bin"
    optimizer.write_bytes(optimizer.read_bytes()[: optimizer.stat().st_size // 2])
    with open(run / "log.txt", "a") as f:
        f.write("step 3/4  loss 1.0  lr 1e-4\n")  # a step after the checkpoint: a resume would cut it
    log_before = (run / "log.txt").read_text()
    capsys.readouterr()
    assert _train("synthetic/lookupvit", data, run, "train.max_steps=4", resume=True) == 2
    line = _one_line(capsys)
    assert str(optimizer) in line and "cut short" in line
    assert (run / "log.txt").read_text().startswith(log_before)  # not cut back; only the failure line added


def _epoch_lines(run: Path) -> list[tuple[float, int]]:
    found = re.findall(r"^epoch 0: train loss (\S+)  \((\d+) unreadable videos replaced\)",
                       (run / "log.txt").read_text(), re.M)
    return [(float(loss), int(n)) for loss, n in found]


def test_counts_of_an_epoch_resumed_mid_way_cover_the_whole_epoch(data, tmp_path):
    root = tmp_path / "k400"
    shutil.copytree(data, root)
    val_names = {line.split(",")[1] for line in (root / "validate.csv").read_text().splitlines()[1:]}
    train_only = [p for p in sorted((root / "videos").rglob("*.mp4")) if p.stem.rsplit("_", 2)[0] not in val_names]
    for p in train_only[:3]:
        p.write_bytes(b"")  # unreadable: replaced and counted
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert _train("synthetic/lookupvit", root, straight) == 0  # one epoch of 4 steps
    assert _train("synthetic/lookupvit", root, split, "train.max_steps=2") == 0
    assert _train("synthetic/lookupvit", root, split, resume=True) == 0
    (loss, replaced), = _epoch_lines(straight)
    assert replaced == 3
    resumed_loss, resumed_replaced = _epoch_lines(split)[-1]
    assert resumed_replaced == replaced and resumed_loss == pytest.approx(loss, rel=1e-4)


def test_resume_auto_before_any_checkpoint_starts_log_and_tensorboard_afresh(data, tmp_path):
    from mmlookup.engine.logger import RunLogger

    run = tmp_path / "run"
    old = RunLogger(run if run.mkdir() is None else run, True, True)  # an attempt killed before its first checkpoint
    old.info("step 1/2  loss 9.0  lr 1e-4")
    old.scalars({"train/loss": 9.0}, 1)
    old.close()
    assert _train("synthetic/lookupvit", data, run, "train.max_steps=2", "train.tensorboard=True",
                  "train.checkpoint_every_steps=0", resume=True) == 0
    steps = [int(m) for m in re.findall(r"^step (\d+)/\d+", (run / "log.txt").read_text(), re.M)]
    assert steps == [1, 2]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    events = acc.Scalars("train/loss")
    assert [e.step for e in events] == [1, 2] and 9.0 not in [e.value for e in events]


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_is_one_line_naming_the_file(lookupvit_run, tmp_path, capsys):
    evil = _Evil()
    evil.marker = tmp_path / "ran"
    ckpt = tmp_path / "ckpt"
    shutil.copytree(lookupvit_run / "checkpoints" / "step_00000002", ckpt)
    (ckpt / "model.safetensors").unlink()
    torch.save({"encoder.x": evil}, ckpt / "pytorch_model.bin")
    capsys.readouterr()
    assert main(["eval", "synthetic/lookupvit", "--checkpoint", str(ckpt)]) == 2
    line = _one_line(capsys)
    assert str(ckpt / "pytorch_model.bin") in line and "non-tensor objects" in line
    pt = tmp_path / "weights.pt"
    torch.save({"model": evil}, pt)
    from mmlookup.models import create_classifier

    with pytest.raises(ValueError, match=re.escape(f"{pt} holds non-tensor objects")):
        create_classifier("vit_nano", 8, checkpoint=str(pt), num_frames=4, img_size=32, patch_size=8)
    assert not evil.marker.exists()


@pytest.mark.parametrize("name", ["optimizer.bin", "random_states_0.pkl"])
def test_a_malicious_pickle_in_the_runs_own_checkpoint_stops_the_resume(data, lookupvit_run, tmp_path, capsys, name):
    # as optimizer.bin it was a traceback through accelerate; as random_states_0.pkl accelerate skipped it silently,
    # so the resume was no longer exact
    evil = _Evil()
    evil.marker = tmp_path / "ran"
    run = tmp_path / "run"
    shutil.copytree(lookupvit_run, run)
    torch.save({"state": evil}, run / "checkpoints" / "step_00000002" / name)
    log_before = (run / "log.txt").read_text()
    capsys.readouterr()
    assert _train("synthetic/lookupvit", data, run, "train.max_steps=4", resume=True) == 2
    line = _one_line(capsys)
    assert str(run / "checkpoints" / "step_00000002" / name) in line and "not safe to load" in line, line
    assert "GLOBAL posix.system" in line
    assert not evil.marker.exists() and (run / "log.txt").read_text().startswith(log_before)
    assert not (run / "checkpoints" / "step_00000004").exists()


@pytest.mark.parametrize("name", ["optimizer.bin", "random_states_0.pkl"])
def test_a_checkpoint_missing_a_state_file_stops_the_resume(data, lookupvit_run, tmp_path, capsys, name):
    run = tmp_path / "run"
    shutil.copytree(lookupvit_run, run)
    (run / "checkpoints" / "step_00000002" / name).unlink()
    capsys.readouterr()
    assert _train("synthetic/lookupvit", data, run, "train.max_steps=4", resume=True) == 2
    line = _one_line(capsys)
    assert f"{run / 'checkpoints' / 'step_00000002' / name} not found" in line, line


def test_every_state_file_of_every_process_is_checked(lookupvit_run):
    from mmlookup.engine.checkpoint import check_resumable

    ckpt = lookupvit_run / "checkpoints" / "step_00000002"
    check_resumable(ckpt, num_processes=1)
    with pytest.raises(FileNotFoundError, match=r"random_states_1\.pkl not found"):
        check_resumable(ckpt, num_processes=2)


def test_a_checkpoint_of_another_encoder_is_one_line_naming_both(data, lookupvit_run, tmp_path, capsys):
    ckpt = str(lookupvit_run)
    geometry = ["--set", "model.num_frames=4", "--set", "model.img_size=32", "--set", "model.patch_size=8"]
    for argv in (["eval", "synthetic/vit", "--checkpoint", ckpt, *geometry],
                 ["sweep", "synthetic/vit", "--checkpoint", ckpt, "--no-throughput", *geometry],
                 ["train", "coco/caption_synthetic:random", "--set", f"caption.encoder_checkpoint={ckpt}",
                  "--set", "model.encoder=vit_nano", "--set", "model.grids=[]", "--set", "model.encoder_kwargs={}",
                  "--set", f"train.output_dir={tmp_path / 'cap'}"],
                 ["visualize", "--checkpoint", ckpt, "--encoder", "vit_nano", str(next(data.rglob("*.mp4"))),
                  "--out", str(tmp_path / "cap" / "maps")]):
        capsys.readouterr()
        assert main(argv) == 2, argv
        line = _one_line(capsys)
        assert "lookupvit_nano checkpoint" in line and "the recipe builds vit_nano" in line, line
    assert not (tmp_path / "cap").exists()


def test_predict_checks_the_runs_weights_against_its_recipe_first(data, lookupvit_run, tmp_path, capsys):
    """`predict` makes the same encoder check before it builds the model: a run whose recipe.yaml was replaced by
    another encoder's is one line naming the recipe's encoder, rc 2."""
    from mmlookup.config import apply_overrides, load_recipe, save_recipe

    run = tmp_path / "mixed"
    shutil.copytree(lookupvit_run, run)
    recipe = apply_overrides(load_recipe(run / "recipe.yaml"),
                             ["model.encoder=vit_nano", "model.grids=[]", "model.encoder_kwargs={}", "model.pool=auto"])
    save_recipe(recipe, run / "recipe.yaml")
    capsys.readouterr()
    assert main(["predict", str(run), str(next(data.rglob("*.mp4")))]) == 2
    line = _one_line(capsys)
    assert "the recipe builds vit_nano, which cannot load it" in line and "tensors of another shape" in line, line


def test_inputs_are_checked_before_a_model_or_checkpoint_is_read(tmp_path, capsys):
    """`caption` on a non-media file, `visualize` on a missing one: the input's one line comes first (here the
    checkpoint does not even exist), and `eval-captions` on malformed JSON names the file."""
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    missing_ckpt = str(tmp_path / "no_run")
    assert main(["caption", "--checkpoint", missing_ckpt, str(text)]) == 2
    line = _one_line(capsys)
    assert f"{text} is not an image or video file" in line
    assert main(["visualize", "--checkpoint", missing_ckpt, str(tmp_path / "clip.mp4")]) == 2
    assert f"{tmp_path / 'clip.mp4'}: no such file" in _one_line(capsys)
    results, refs = tmp_path / "results.json", tmp_path / "refs.json"
    results.write_text('[{"image_id": 1, "caption": "a"}')  # cut short
    refs.write_text('{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1, "id": 1, '
                    '"caption": "a"}]}')
    assert main(["eval-captions", str(results), str(refs), "--no-meteor"]) == 2
    line = _one_line(capsys)
    assert f"{results}:1:" in line and "not valid JSON" in line


def test_checkpoint_files_are_as_readable_as_the_files_beside_them(lookupvit_run):
    # safetensors writes through a private temporary file: model.safetensors was 0600 beside 0644 files, so a
    # colleague could not read a shared run
    neighbour = (lookupvit_run / "log.txt").stat().st_mode & 0o777
    folders = [lookupvit_run / "checkpoints" / "best", *sorted((lookupvit_run / "checkpoints").glob("step_*"))]
    modes = {str(f.relative_to(lookupvit_run)): oct(f.stat().st_mode & 0o777)
             for folder in folders for f in folder.iterdir()}
    assert any(name.endswith("model.safetensors") for name in modes)
    assert modes == {name: oct(neighbour) for name in modes}
