"""The run set-up shared by the classifier's and the captioner's training and evaluation: the accelerator, the run
folder and its recipe record, the class names it was trained on, where to resume, the video datasets and their loaders.

Both :func:`mmlookup.engine.fit.fit` and :func:`mmlookup.captioning.train.fit` start from here, so neither calls
into the other for its set-up.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration
from torch.utils.data import DataLoader, Dataset

from mmlookup.checkpoints import CLASSES_FILE, resume_checkpoint
from mmlookup.config import RESUME_FREE_KEYS, Recipe, load_recipe, recipe_diff, recipe_to_dict, save_recipe
from mmlookup.engine.checkpoint import (
    check_checkpoint,
    check_resumable,
    latest_checkpoint,
    read_train_state,
    remove_stale,
)
from mmlookup.engine.logger import RunLogger
from mmlookup.engine.preempt import ignore_stop_signals


def build_accelerator(recipe: Recipe, cpu: bool | None = None) -> Accelerator:
    """An Accelerator for the recipe: CPU (gloo, fp32) when no GPU is visible, else mixed precision.

    ``cpu=True`` matters beyond speed: without it, N processes launched on a GPU-less machine each become an
    independent single-process run (see ``reference/video_anchors.md`` §5). The data loaders get a seeded
    sampler so the data order is a function of (seed, epoch) on any number of processes.
    """
    cpu = not torch.cuda.is_available() if cpu is None else cpu
    precision = "no" if cpu else recipe.train.precision
    return Accelerator(cpu=cpu, mixed_precision=precision,
                       dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True,
                                                                 data_seed=recipe.train.seed))


def setup_run_dir(recipe: Recipe, accelerator: Accelerator) -> Path:
    """Create ``train.output_dir``, save the resolved recipe there as ``recipe.yaml`` and remove temporary
    checkpoint folders a crash left behind (main process).

    A different ``recipe.yaml`` already there (a resume with ``--allow-recipe-change``, or a new run in an old
    folder) is kept as ``recipe_history/NNN.yaml``, so every recipe a run folder has seen stays on record.
    """
    run_dir = Path(recipe.train.output_dir)
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        current = run_dir / "recipe.yaml"
        if current.is_file() and yaml_differs(current, recipe):
            history = run_dir / "recipe_history"
            history.mkdir(exist_ok=True)
            current.replace(history / f"{len(list(history.glob('*.yaml'))):03d}.yaml")
        save_recipe(recipe, current)
        remove_stale(run_dir / "checkpoints")
    accelerator.wait_for_everyone()
    return run_dir


def yaml_differs(saved: Path, recipe: Recipe) -> bool:
    import yaml

    try:
        return yaml.safe_load(saved.read_text()) != recipe_to_dict(recipe)
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return True


def find_resume(recipe: Recipe, resume: str | None, *, allow_recipe_change: bool = False) -> Path | None:
    """The checkpoint to resume from, checked before anything is built; ``None`` for a fresh start.

    ``resume`` is a checkpoint folder, a run folder, or ``"auto"`` (this run's newest checkpoint if there is
    one, else a fresh start: requeued jobs can always pass it). The recipe is compared with the one saved in
    the checkpoint's run folder; differences outside :data:`~mmlookup.config.RESUME_FREE_KEYS` are an error
    listing them, unless ``allow_recipe_change``.
    """
    if not resume:
        return None
    if resume == "auto":
        ckpt = latest_checkpoint(recipe.train.output_dir)
        if ckpt is None:
            return None
        ckpt = check_checkpoint(ckpt, recipe=recipe)
    else:
        ckpt = check_checkpoint(resume_checkpoint(resume), recipe=recipe)  # a run folder: its newest checkpoint
    check_resumable(ckpt)
    saved = ckpt.parent.parent / "recipe.yaml" if ckpt.parent.name == "checkpoints" else ckpt / "recipe.yaml"
    if saved.is_file():
        diff = recipe_diff(load_recipe(saved), recipe, RESUME_FREE_KEYS)
        if diff and not allow_recipe_change:
            raise ValueError(f"the recipe differs from the one {ckpt} was trained with ({saved}): "
                             f"{'; '.join(diff)}. Resume with the same values, pass --allow-recipe-change to "
                             "continue anyway, or set train.output_dir to start a new run")
    return ckpt


def open_run_logger(recipe: Recipe, acc: Accelerator, run_dir: Path, ckpt: Path | None) -> RunLogger:
    """The run's logger. Resumed: ``log.txt`` cut back to the checkpoint and later TensorBoard events purged. A
    start from step 0 in a folder without checkpoints (a first start, or ``--resume auto`` after an attempt that
    died before its first checkpoint): ``log.txt`` and TensorBoard start afresh, so no step appears twice."""
    resumed = read_train_state(ckpt) if ckpt is not None else None
    own = ckpt is not None and ckpt.parent.resolve() == (run_dir / "checkpoints").resolve()
    fresh = ckpt is None and latest_checkpoint(run_dir) is None
    return RunLogger(run_dir, acc.is_main_process, recipe.train.tensorboard, fresh=fresh,
                     resume_step=resumed.step if resumed else None, log_bytes=resumed.log_bytes if own else -1)


def _path(root: str, name: str) -> str:
    return name if not name or Path(name).is_absolute() else str(Path(root) / name)


def build_dataset(recipe: Recipe, train: bool) -> Dataset:
    """The recipe's training or validation dataset (evaluation uses ``eval.num_clips x eval.num_crops`` views)."""
    from mmlookup.data import build_video_dataset

    d, m, e = recipe.data, recipe.model, recipe.eval
    if d.synthetic:
        from mmlookup.data.synthetic import ensure_synthetic

        ensure_synthetic(Path(d.root).parent, seed=recipe.train.seed)
    return build_video_dataset(
        d.format, _path(d.root, d.train_annotations if train else d.val_annotations), d.root, train=train,
        num_frames=m.num_frames, frame_interval=d.frame_interval, sampling=d.sampling,
        num_clips=1 if train else e.num_clips, num_crops=1 if train else e.num_crops, crop_size=m.img_size,
        short_side=d.short_side, labels_file=_path(d.root, d.labels_file) or None, flip=d.flip,
        flip_swap_by_name=d.flip_swap_by_name, randaugment=d.randaugment, mean=d.mean, std=d.std,
        seed=recipe.train.seed, rrc_scale=d.rrc_scale, randaugment_ops=d.randaugment_ops,
        randaugment_magnitude=d.randaugment_magnitude, num_sample=d.num_sample,
        decoder=d.decoder, decode_short_side=d.decode_short_side)


def build_loader(dataset: Dataset, batch_size: int, *, train: bool, num_workers: int) -> DataLoader:
    """A plain DataLoader (Accelerate shards it); training drops the last partial batch."""
    from mmlookup.data import collate_clips

    return DataLoader(dataset, batch_size=batch_size, shuffle=train, drop_last=train, num_workers=num_workers,
                      collate_fn=collate_clips, pin_memory=torch.cuda.is_available(),
                      persistent_workers=train and num_workers > 0,
                      worker_init_fn=ignore_stop_signals if num_workers > 0 else None)


def release_workers(loader: DataLoader) -> None:
    """End a loader's persistent workers now. Left alive until the interpreter exits, they are ended by
    ``multiprocessing``'s exit handler with SIGTERM, which torch's SIGCHLD handler then reports as a failed worker
    (a traceback after a run that finished well, seen after ``mmlookup demo --all-encoders``)."""
    iterator = getattr(loader, "_iterator", None)
    if iterator is not None and hasattr(iterator, "_shutdown_workers"):
        iterator._shutdown_workers()
    loader._iterator = None


def _mix_fn(recipe: Recipe, num_classes: int) -> Any:
    t = recipe.train
    if t.mixup_alpha <= 0 and t.cutmix_alpha <= 0:
        return None
    from mmlookup.data import mixup_cutmix

    return functools.partial(mixup_cutmix, num_classes=num_classes, mixup_alpha=t.mixup_alpha,
                             cutmix_alpha=t.cutmix_alpha, prob=t.mixup_prob, label_smoothing=t.label_smoothing)


def _num_classes(recipe: Recipe, dataset: Dataset) -> int:
    return recipe.num_classes or int(dataset.num_classes)


def classes_from_recipe(recipe: Recipe) -> list[str] | None:
    """The class names of a recipe's validation annotations, or ``None`` when they cannot be read here."""
    from mmlookup.data.annotations import read_annotations

    d = recipe.data
    try:
        ann = read_annotations(d.format, _path(d.root, d.val_annotations), d.root,
                               labels_file=_path(d.root, d.labels_file) or None)
    except Exception:  # noqa: BLE001 - the data is often not at hand where a model is used
        return None
    return [str(c) for c in ann.classes] or None


def record_classes(run_dir: Path, dataset: Dataset, num_classes: int, main_process: bool) -> list[str] | None:
    """Write the training set's class names (label order) to ``RUN/classes.json`` so predictions can name classes
    without the dataset at hand (``mmlookup predict``, ``mmlookup export``); return them (``None``: the dataset
    has no names, or not one per class)."""
    import json

    names = getattr(dataset, "classes", None)
    if not names or len(names) != num_classes:
        return None
    names = [str(n) for n in names]
    if main_process:
        (run_dir / CLASSES_FILE).write_text(json.dumps(names, indent=1))
    return names
