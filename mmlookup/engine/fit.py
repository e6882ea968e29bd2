"""``fit`` and ``run_eval``: recipe → Accelerator, data, model, optimizer → epochs of train / evaluate / save.

The pieces are public so the captioning trainer reuses them: :func:`build_accelerator`, :func:`setup_run_dir`,
:func:`mmlookup.engine.optim.build_optimizer`, :func:`mmlookup.engine.schedule.loop_lengths` /
``lr_factor``, :mod:`mmlookup.engine.checkpoint` and :class:`mmlookup.engine.logger.RunLogger`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed
from torch.utils.data import DataLoader, Dataset

from mmlookup.config import Recipe, save_recipe
from mmlookup.engine.checkpoint import (
    TrainState,
    latest_checkpoint,
    load_checkpoint,
    load_weights,
    resolve_checkpoint,
    save_checkpoint,
)
from mmlookup.engine.ema import ModelEma
from mmlookup.engine.evaluate import EvalReport, evaluate
from mmlookup.engine.logger import RunLogger
from mmlookup.engine.loop import TrainLoop, set_keep_rate, target_keep_rate, train_one_epoch
from mmlookup.engine.optim import build_optimizer
from mmlookup.engine.schedule import loop_lengths
from mmlookup.engine.seeding import SeededDataset
from mmlookup.models import VideoClassifier, build_model

if TYPE_CHECKING:
    from mmlookup.captioning.evaluate import CaptionReport


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
    """Create ``train.output_dir`` and save the resolved recipe there as ``recipe.yaml`` (main process)."""
    run_dir = Path(recipe.train.output_dir)
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_recipe(recipe, run_dir / "recipe.yaml")
    accelerator.wait_for_everyone()
    return run_dir


def _path(root: str, name: str) -> str:
    return name if not name or Path(name).is_absolute() else str(Path(root) / name)


def build_dataset(recipe: Recipe, train: bool) -> Dataset:
    """The recipe's training or validation dataset (evaluation uses ``eval.num_clips x eval.num_crops`` views)."""
    from mmlookup.data import build_video_dataset

    d, m, e = recipe.data, recipe.model, recipe.eval
    if d.synthetic:
        ensure_synthetic(Path(d.root).parent, seed=recipe.train.seed)
    return build_video_dataset(
        d.format, _path(d.root, d.train_annotations if train else d.val_annotations), d.root, train=train,
        num_frames=m.num_frames, frame_interval=d.frame_interval, sampling=d.sampling,
        num_clips=1 if train else e.num_clips, num_crops=1 if train else e.num_crops, crop_size=m.img_size,
        short_side=d.short_side, labels_file=_path(d.root, d.labels_file) or None, flip=d.flip,
        flip_swap_by_name=d.flip_swap_by_name, randaugment=d.randaugment, mean=d.mean, std=d.std,
        seed=recipe.train.seed, rrc_scale=d.rrc_scale)


def ensure_synthetic(out_dir: Path, seed: int = 0) -> None:
    """Generate the synthetic dataset into ``out_dir`` unless it is already there."""
    if (out_dir / "k400" / "train.csv").is_file():
        return
    from mmlookup.data.synthetic import generate

    generate(out_dir, seed=seed)


def build_loader(dataset: Dataset, batch_size: int, *, train: bool, num_workers: int) -> DataLoader:
    """A plain DataLoader (Accelerate shards it); training drops the last partial batch."""
    from mmlookup.data import collate_clips

    return DataLoader(dataset, batch_size=batch_size, shuffle=train, drop_last=train, num_workers=num_workers,
                      collate_fn=collate_clips, pin_memory=torch.cuda.is_available(),
                      persistent_workers=train and num_workers > 0)


def _mix_fn(recipe: Recipe, num_classes: int) -> Any:
    t = recipe.train
    if t.mixup_alpha <= 0 and t.cutmix_alpha <= 0:
        return None
    from mmlookup.data import mixup_cutmix

    return functools.partial(mixup_cutmix, num_classes=num_classes, mixup_alpha=t.mixup_alpha,
                             cutmix_alpha=t.cutmix_alpha, prob=t.mixup_prob, label_smoothing=t.label_smoothing)


def _num_classes(recipe: Recipe, dataset: Dataset) -> int:
    return recipe.num_classes or int(dataset.num_classes)


@dataclass
class FitResult:
    """What :func:`fit` leaves behind: the final report, the trained (unwrapped) model and where it was saved."""

    report: EvalReport
    model: VideoClassifier
    state: TrainState
    run_dir: Path
    checkpoint: Path


def fit(recipe: Recipe, *, resume: str | None = None, accelerator: Accelerator | None = None,
        datasets: tuple[Dataset, Dataset] | None = None) -> FitResult | Any:
    """Train a classifier from ``recipe`` and evaluate it; captioning recipes go to the captioning trainer.

    Args:
        recipe: the resolved recipe (saved to ``train.output_dir/recipe.yaml``).
        resume: a checkpoint folder, a run folder, or ``"auto"`` (this run's newest checkpoint, if any).
        accelerator: reuse one (tests); built from the recipe otherwise.
        datasets: ``(train, val)`` to use instead of building them from ``recipe.data`` (tests).

    Returns:
        The final report (also written to ``eval.json``) with the model and checkpoint, or the captioner's result.
    """
    if recipe.task == "caption":
        from mmlookup.captioning.train import fit as caption_fit

        return caption_fit(recipe, resume=resume)
    acc = accelerator or build_accelerator(recipe)
    set_seed(recipe.train.seed)
    run_dir = setup_run_dir(recipe, acc)
    logger = RunLogger(run_dir, acc.is_main_process, recipe.train.tensorboard)
    train_ds, val_ds = datasets or (build_dataset(recipe, True), build_dataset(recipe, False))
    num_classes = _num_classes(recipe, train_ds)
    t = recipe.train
    lengths = loop_lengths(len(train_ds), t.batch_size, acc.num_processes, t.accum_steps, t.epochs,
                           recipe.optim.warmup_epochs)
    model = build_model(recipe, num_classes)
    keep_rate = target_keep_rate(model)  # EViT: the schedule moves ρ in training steps; evaluations use this
    optimizer = build_optimizer(model, recipe.optim)
    lr = recipe.optim.lr * (lengths.global_batch / recipe.optim.lr_scale_batch if recipe.optim.lr_scale_batch else 1)
    seeded_train = SeededDataset(train_ds, t.seed)
    train_loader = build_loader(seeded_train, t.batch_size, train=True, num_workers=t.num_workers)
    val_loader = build_loader(val_ds, recipe.eval.batch_size, train=False, num_workers=recipe.eval.num_workers)
    model, optimizer, train_loader, val_loader = acc.prepare(model, optimizer, train_loader, val_loader)
    ema = ModelEma(acc.unwrap_model(model), t.ema_decay) if t.ema_decay > 0 else None
    run = TrainLoop(recipe, acc, model, optimizer, train_loader, lengths, lr, ema=ema,
                    mix=_mix_fn(recipe, num_classes), logger=logger, keep_rate=keep_rate)
    if resume:
        ckpt = _find_resume(resume, run_dir)
        if ckpt is not None:
            run.state = load_checkpoint(acc, ckpt, ema)
            logger.info(f"resumed from {ckpt} at step {run.state.step}")
    n_params = sum(p.numel() for p in acc.unwrap_model(model).parameters())
    logger.info(f"{recipe.name}: {recipe.model.encoder} ({n_params / 1e6:.2f} M params), {len(train_ds)} train / "
                f"{len(val_ds)} val videos, {num_classes} classes, {acc.num_processes} process(es) on {acc.device}, "
                f"global batch {lengths.global_batch}, {lengths.steps_per_epoch} steps/epoch, "
                f"{run.max_steps} steps, lr {lr:.3e}, run dir {run_dir}"
                + (f", keep rate {keep_rate:g} (evaluation; training follows the schedule)" if keep_rate else ""))
    report = None
    ckpt_root = run_dir / "checkpoints"
    spe = lengths.steps_per_epoch
    for epoch in range(run.state.step // spe, t.epochs):
        if run.state.step >= run.max_steps:
            break
        run.state.epoch = epoch
        train_loader.set_epoch(epoch)
        seeded_train.set_epoch(epoch)
        loss, replaced = train_one_epoch(run, epoch)
        done = run.state.step >= run.max_steps
        logger.info(f"epoch {epoch}: train loss {loss:.4f}  ({replaced} unreadable videos replaced)")
        logger.scalars({"train/epoch_loss": loss, "train/unreadable_replaced": replaced}, run.state.step)
        is_best = False
        if done or (t.eval_every > 0 and (epoch + 1) % t.eval_every == 0):
            report = _evaluate(recipe, acc, model, val_loader, num_classes, ema, keep_rate)
            report.step = run.state.step
            _log_report(logger, report, run.state.step)
            is_best = report.best_top1 > run.state.best_metric
            if is_best:
                run.state.best_metric, run.state.best_step = report.best_top1, run.state.step
        if done or (epoch + 1) % max(1, t.checkpoint_every) == 0 or is_best:
            save_checkpoint(acc, ckpt_root, run.state, keep_last=t.keep_last, is_best=is_best, ema=ema)
    if report is None:  # resumed a finished run: just evaluate
        report = _evaluate(recipe, acc, model, val_loader, num_classes, ema, keep_rate)
        report.step = run.state.step
        _log_report(logger, report, run.state.step)
    final = ckpt_root / f"step_{run.state.step:08d}"
    report.checkpoint = str(final)
    if acc.is_main_process:
        report.save(run_dir / "eval.json")
    logger.close()
    acc.wait_for_everyone()
    return FitResult(report, acc.unwrap_model(model), run.state, run_dir, final)


def _find_resume(resume: str, run_dir: Path) -> Path | None:
    if resume == "auto":
        return latest_checkpoint(run_dir)
    return resolve_checkpoint(resume)


def _evaluate(recipe: Recipe, acc: Accelerator, model: torch.nn.Module, loader: DataLoader, num_classes: int,
              ema: ModelEma | None, keep_rate: float | None = None) -> EvalReport:
    """Evaluate the live model or the EMA copy, at EViT's target keep rate (never the schedule's current ρ)."""
    net = ema.module if (ema is not None and recipe.eval.use_ema) else model
    set_keep_rate(acc.unwrap_model(net), keep_rate)
    head_names = acc.unwrap_model(model).head_names
    return evaluate(net, loader, acc, grids=recipe.model.grids, head_names=head_names, num_classes=num_classes,
                    num_clips=recipe.eval.num_clips, num_crops=recipe.eval.num_crops)


def _log_report(logger: RunLogger, report: EvalReport, step: int) -> None:
    for line in report.lines():
        logger.info(line)
    for r in report.results:
        tag = "x".join(map(str, r.grid)) if r.grid else "default"
        values = {f"eval_{tag}/top1": r.combined.top1, f"eval_{tag}/top5": r.combined.top5,
                  f"eval_{tag}/mean_class": r.combined.mean_class}
        values.update({f"eval_{tag}/top1_{n}": a.top1 for n, a in r.heads.items()})
        logger.scalars(values, step)


def run_eval(recipe: Recipe, checkpoint: str, *, use_ema: bool | None = None, out: str | None = None,
             accelerator: Accelerator | None = None, dataset: Dataset | None = None
             ) -> EvalReport | CaptionReport | None:
    """Evaluate a checkpoint (folder or run folder) with the recipe's test protocol; write the JSON report.

    The report goes to ``out`` or, by default, ``eval_<checkpoint name>.json`` in the checkpoint's run folder.
    Captioning recipes go to the captioning evaluator (CIDEr, BLEU-4, METEOR, ROUGE-L).
    """
    if recipe.task == "caption":
        from mmlookup.captioning.train import run_eval as caption_eval

        return caption_eval(recipe, checkpoint, out=out, accelerator=accelerator)
    acc = accelerator or build_accelerator(recipe)
    val_ds = dataset or build_dataset(recipe, False)
    num_classes = _num_classes(recipe, val_ds)
    model: VideoClassifier = build_model(recipe, num_classes)
    ema = recipe.eval.use_ema if use_ema is None else use_ema
    state = load_weights(model, checkpoint, use_ema=ema)
    loader = build_loader(val_ds, recipe.eval.batch_size, train=False, num_workers=recipe.eval.num_workers)
    head_names = model.head_names
    model, loader = acc.prepare(model, loader)
    report = evaluate(model, loader, acc, grids=recipe.model.grids, head_names=head_names,
                      num_classes=num_classes, num_clips=recipe.eval.num_clips, num_crops=recipe.eval.num_crops)
    report.checkpoint, report.step = str(resolve_checkpoint(checkpoint)), state.step
    logger = RunLogger(None, acc.is_main_process, tensorboard=False)
    for line in report.lines():
        logger.info(line)
    if acc.is_main_process:
        ckpt = resolve_checkpoint(checkpoint)
        default = (ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt) / f"eval_{ckpt.name}.json"
        logger.info(f"wrote {report.save(out or default)}")
    return report
