"""``fit`` and ``run_eval``: recipe → Accelerator, data, model, optimizer → epochs of train / evaluate / save.

The run set-up is :mod:`mmlookup.engine.setup`, shared with the captioning trainer, which also reuses
:func:`mmlookup.engine.optim.build_optimizer`, :func:`mmlookup.engine.schedule.loop_lengths` /
``lr_factor``, :mod:`mmlookup.engine.checkpoint` and :class:`mmlookup.engine.logger.RunLogger`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, Dataset

from mmlookup.config import Recipe, derive
from mmlookup.engine.checkpoint import (
    TrainState,
    load_checkpoint,
    load_weights,
    resolve_checkpoint,
    save_checkpoint,
)
from mmlookup.engine.distill import (
    Distiller,
    augmentation_epoch,
    build_teacher,
    check_teacher_classes,
    make_distiller,
)
from mmlookup.engine.ema import ModelEma
from mmlookup.engine.evaluate import EvalReport, evaluate
from mmlookup.engine.logger import RunLogger
from mmlookup.engine.loop import TrainLoop, set_keep_rate, target_keep_rate, train_one_epoch
from mmlookup.engine.optim import build_optimizer, param_groups
from mmlookup.engine.preempt import (
    CheckpointPolicy,
    StopSignals,
    TrainingStopped,
    signal_name,
)
from mmlookup.engine.schedule import loop_lengths
from mmlookup.engine.seeding import SeededDataset
from mmlookup.engine.setup import (  # noqa: F401  (build_accelerator, build_loader ... re-exported: they lived here)
    _mix_fn,
    _num_classes,
    build_accelerator,
    build_dataset,
    build_loader,
    find_resume,
    open_run_logger,
    record_classes,
    release_workers,
    setup_run_dir,
    yaml_differs,
)
from mmlookup.models import VideoClassifier, build_model

if TYPE_CHECKING:
    from mmlookup.captioning.evaluate import CaptionReport
    from mmlookup.engine.robustness import RobustnessReport


def _build_distiller(recipe: Recipe, model: VideoClassifier, num_classes: int, acc: Accelerator
                     ) -> Distiller | None:
    """The frozen teacher and loss settings of ``recipe.distill`` (``None`` when no teacher is set)."""
    if not recipe.distill.teacher:
        return None
    teacher = build_teacher(recipe.distill, recipe, verbose=acc.is_main_process)
    check_teacher_classes(teacher, num_classes, recipe.distill.teacher)
    return make_distiller(recipe, teacher, model, acc.device)


@dataclass
class FitResult:
    """What :func:`fit` leaves behind: the final report, the trained (unwrapped) model and where it was saved."""

    report: EvalReport
    model: VideoClassifier
    state: TrainState
    run_dir: Path
    checkpoint: Path
    distiller: Distiller | None = None  # the frozen teacher and the (prepared) feature projector, when distilling


def fit(recipe: Recipe, *, resume: str | None = None, accelerator: Accelerator | None = None,
        datasets: tuple[Dataset, Dataset] | None = None, allow_recipe_change: bool = False) -> FitResult | Any:
    """Train a classifier from ``recipe`` and evaluate it; captioning recipes go to the captioning trainer.

    Args:
        recipe: the resolved recipe (saved to ``train.output_dir/recipe.yaml``).
        resume: a checkpoint folder, a run folder, or ``"auto"`` (this run's newest checkpoint, if any).
        accelerator: reuse one (tests); built from the recipe otherwise.
        datasets: ``(train, val)`` to use instead of building them from ``recipe.data`` (tests).
        allow_recipe_change: resume even when the recipe differs from the checkpoint's (see :func:`find_resume`).

    Returns:
        The final report (also written to ``eval.json``) with the model and checkpoint, or the captioner's result.

    Raises:
        TrainingStopped: after SIGTERM / SIGINT / SIGUSR1, once the checkpoint of the current step is written.
    """
    if recipe.task == "caption":
        from mmlookup.captioning.train import fit as caption_fit

        return caption_fit(recipe, resume=resume, allow_recipe_change=allow_recipe_change)
    acc = accelerator or build_accelerator(recipe)
    set_seed(recipe.train.seed)
    # everything a user can get wrong is checked before the run folder is touched: resume, data, model
    ckpt = find_resume(recipe, resume, allow_recipe_change=allow_recipe_change)
    train_ds, val_ds = datasets or (build_dataset(recipe, True), build_dataset(recipe, False))
    num_classes = _num_classes(recipe, train_ds)
    t, ns = recipe.train, recipe.data.num_sample
    if t.batch_size % ns:
        raise ValueError(f"train.batch_size ({t.batch_size}) must be a multiple of data.num_sample ({ns})")
    lengths = loop_lengths(len(train_ds) * ns, t.batch_size, acc.num_processes, t.accum_steps, t.epochs,
                           recipe.optim.warmup_epochs)
    model = build_model(recipe, num_classes)
    distiller = _build_distiller(recipe, model, num_classes, acc)  # before the run folder: a wrong teacher is rc 2
    keep_rate = target_keep_rate(model)  # EViT: the schedule moves ρ in training steps; evaluations use this
    run_dir = setup_run_dir(recipe, acc)
    model.class_names = record_classes(run_dir, train_ds, num_classes, acc.is_main_process)
    logger = open_run_logger(recipe, acc, run_dir, ckpt)
    optimizer = build_optimizer(model, recipe.optim)
    if distiller is not None and distiller.projector is not None:  # trained with the student, saved as model_1
        for group in param_groups(distiller.projector, recipe.optim.weight_decay):
            optimizer.add_param_group({**group, "group_name": "distill_" + group["group_name"]})
    lr = recipe.optim.lr * (lengths.global_batch / recipe.optim.lr_scale_batch if recipe.optim.lr_scale_batch else 1)
    seeded_train = SeededDataset(train_ds, t.seed)
    train_loader = build_loader(seeded_train, t.batch_size // ns, train=True, num_workers=t.num_workers)
    val_loader = build_loader(val_ds, recipe.eval.batch_size, train=False, num_workers=recipe.eval.num_workers)
    if distiller is not None and distiller.projector is not None:
        model, distiller.projector, optimizer, train_loader, val_loader = acc.prepare(
            model, distiller.projector, optimizer, train_loader, val_loader)
    else:
        model, optimizer, train_loader, val_loader = acc.prepare(model, optimizer, train_loader, val_loader)
    if t.compile:
        model = torch.compile(model)
    ema = ModelEma(acc.unwrap_model(model), t.ema_decay) if t.ema_decay > 0 else None
    run = TrainLoop(recipe, acc, model, optimizer, train_loader, lengths, lr, ema=ema,
                    mix=_mix_fn(recipe, num_classes), logger=logger, keep_rate=keep_rate, distill=distiller)
    if ckpt is not None:
        run.state = load_checkpoint(acc, ckpt, ema)
        logger.info(f"resumed from {ckpt} at step {run.state.step}")
    n_params = sum(p.numel() for p in acc.unwrap_model(model).parameters())
    logger.info(f"{recipe.name}: {recipe.model.encoder} ({n_params / 1e6:.2f} M params), {len(train_ds)} train / "
                f"{len(val_ds)} val videos, {num_classes} classes, {acc.num_processes} process(es) on {acc.device}, "
                f"global batch {lengths.global_batch}, {lengths.steps_per_epoch} steps/epoch, "
                f"{run.max_steps} steps, lr {lr:.3e}, run dir {run_dir}"
                + (f", keep rate {keep_rate:g} (evaluation; training follows the schedule)" if keep_rate else ""))
    if distiller is not None:
        d = recipe.distill
        logger.info(f"distilling from {d.teacher} ({type(distiller.teacher.encoder).__name__}, "
                    f"{sum(p.numel() for p in distiller.teacher.parameters()) / 1e6:.2f} M params, frozen): "
                    f"kind {d.kind}, alpha {d.alpha:g}" + (f", tau {d.tau:g}" if d.kind == "soft" else "")
                    + (f", cache top-{d.cache_topk}" if d.cache else ""))
    ckpt_root = run_dir / "checkpoints"
    saved_step = run.state.step if ckpt is not None else -1

    def save(is_best: bool = False) -> Path:
        nonlocal saved_step
        run.sync_counts()  # the epoch's loss and unreadable-video counts so far travel in the checkpoint
        run.state.log_bytes = logger.log_bytes()
        logger.flush()
        path = save_checkpoint(acc, ckpt_root, run.state, keep_last=t.keep_last, is_best=is_best, ema=ema)
        saved_step = run.state.step
        policy.saved()
        return path

    def after_step() -> bool:
        save_now, stop = policy.poll(run.state.step)
        if save_now and not stop and saved_step != run.state.step:  # a stop saves once, after the loop
            save()
        return stop

    run.after_step = after_step
    with StopSignals() as signals:
        policy = CheckpointPolicy(acc, t.checkpoint_every_steps, t.checkpoint_every_minutes, signals)
        report = _train_epochs(recipe, acc, run, model, val_loader, train_loader, seeded_train, num_classes, ema,
                               logger, save, lambda: saved_step)
        release_workers(train_loader)
        if distiller is not None and distiller.cache is not None:
            c = distiller.cache
            logger.info(f"distill cache (this process): {c.hits} clips from the cache, {c.misses} through the teacher, "
                        f"{len(c.store)} stored")
        if run.stopped:
            path = save() if saved_step != run.state.step else ckpt_root / f"step_{run.state.step:08d}"
            logger.info(f"stopped at step {run.state.step} by {signal_name(policy.stop_signal)}; checkpoint {path}")
            logger.close()
            raise TrainingStopped(run.state.step, policy.stop_signal, path)
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
    return FitResult(report, acc.unwrap_model(model), run.state, run_dir, final, distiller)


def _train_epochs(recipe: Recipe, acc: Accelerator, run: TrainLoop, model: torch.nn.Module, val_loader: DataLoader,
                  train_loader: DataLoader, seeded_train: SeededDataset, num_classes: int, ema: ModelEma | None,
                  logger: RunLogger, save: Callable[[bool], Path], saved_step: Callable[[], int]
                  ) -> EvalReport | None:
    """The epochs from the current step: train, evaluate, checkpoint; the last report (``None`` if none ran).

    Returns early with ``run.stopped`` set when a stop signal arrives (during a step or an evaluation).
    """
    t, spe, report = recipe.train, run.lengths.steps_per_epoch, None
    for epoch in range(run.state.step // spe, t.epochs):
        if run.state.step >= run.max_steps:
            break
        run.state.epoch = epoch
        train_loader.set_epoch(epoch)
        seeded_train.set_epoch(augmentation_epoch(epoch, recipe.distill.cache_views if recipe.distill.teacher else 0))
        loss, replaced = train_one_epoch(run, epoch)
        if run.stopped:
            return report
        done = run.state.step >= run.max_steps
        logger.info(f"epoch {epoch}: train loss {loss:.4f}  ({replaced} unreadable videos replaced)")
        logger.scalars({"train/epoch_loss": loss, "train/unreadable_replaced": replaced}, run.state.step)
        is_best = False
        if done or (t.eval_every > 0 and (epoch + 1) % t.eval_every == 0):
            report = _evaluate(recipe, acc, model, val_loader, num_classes, ema, run.keep_rate)
            report.step = run.state.step
            _log_report(logger, report, run.state.step)
            is_best = report.best_top1 > run.state.best_metric
            if is_best:
                run.state.best_metric, run.state.best_step = report.best_top1, run.state.step
        if is_best or ((done or (epoch + 1) % max(1, t.checkpoint_every) == 0) and saved_step() != run.state.step):
            save(is_best)
        if not done and run.after_step is not None and run.after_step():  # a signal during the evaluation
            run.stopped = True
            return report
    return report


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


def run_eval(recipe: Recipe, checkpoint: str | None, *, use_ema: bool | None = None, out: str | None = None,
             accelerator: Accelerator | None = None, dataset: Dataset | None = None
             ) -> EvalReport | CaptionReport | RobustnessReport | None:
    """Evaluate a checkpoint (folder or run folder) with the recipe's test protocol; write the JSON report.

    The report goes to ``out`` or, by default, ``eval_<checkpoint name>.json`` in the checkpoint's run folder.
    ``checkpoint=None`` evaluates the model as the recipe builds it, i.e. an imported ``model.pretrained``
    classifier (VideoMAE, ViViT, a model folder) with its own head; the report goes to
    ``train.output_dir/eval_pretrained.json``.
    Captioning recipes go to the captioning evaluator (CIDEr, BLEU-4, METEOR, ROUGE-L).
    """
    if recipe.task == "caption":
        from mmlookup.captioning.train import run_eval as caption_eval

        return caption_eval(recipe, checkpoint, out=out, accelerator=accelerator)
    if recipe.eval.robustness:  # ImageNet-C / -R / -A / -O on an ImageNet run
        from mmlookup.engine.robustness import run_robustness

        return run_robustness(recipe, checkpoint, use_ema=use_ema, out=out, accelerator=accelerator)
    acc = accelerator or build_accelerator(recipe)
    val_ds = dataset or build_dataset(recipe, False)
    num_classes = _num_classes(recipe, val_ds)
    if checkpoint is not None and recipe.model.init_from:  # the checkpoint has every weight: no teacher needed
        recipe = derive(recipe, {"model.init_from": ""})
    model: VideoClassifier = build_model(recipe, num_classes)
    ema = recipe.eval.use_ema if use_ema is None else use_ema
    if checkpoint is None and not recipe.model.pretrained:
        raise ValueError("nothing to evaluate: pass --checkpoint (a run's checkpoint) or "
                         "--set model.pretrained=PATH (an imported classifier)")
    state = load_weights(model, checkpoint, use_ema=ema) if checkpoint is not None else TrainState(step=-1)
    loader = build_loader(val_ds, recipe.eval.batch_size, train=False, num_workers=recipe.eval.num_workers)
    head_names = model.head_names
    model, loader = acc.prepare(model, loader)
    report = evaluate(model, loader, acc, grids=recipe.model.grids, head_names=head_names,
                      num_classes=num_classes, num_clips=recipe.eval.num_clips, num_crops=recipe.eval.num_crops)
    source = resolve_checkpoint(checkpoint) if checkpoint is not None else Path(recipe.model.pretrained)
    report.checkpoint, report.step = str(source), state.step
    logger = RunLogger(None, acc.is_main_process, tensorboard=False)
    for line in report.lines():
        logger.info(line)
    if acc.is_main_process:
        if checkpoint is None:
            default = Path(recipe.train.output_dir) / "eval_pretrained.json"
        else:
            ckpt = resolve_checkpoint(checkpoint)
            default = (ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt) / f"eval_{ckpt.name}.json"
        logger.info(f"wrote {report.save(out or default)}")
    return report
