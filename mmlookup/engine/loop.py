"""One training epoch: a short loop to read top to bottom (MAE ``engine_finetune``, Accelerate ``cv_example``).

Per optimizer step: set LR (and EViT's training keep rate, from :attr:`TrainLoop.keep_rate`) from the step index,
pick the step's LookupViT grid, then for each of ``accum_steps`` micro-batches draw a batch, re-seed the RNGs from
(seed, step, rank), mix it, run the model, check the loss is finite on every process and back-propagate (gradient
sync only on the last micro-batch); then clip, step, update the EMA. Because every random choice is a function of
the step, a run resumed from a checkpoint repeats the uninterrupted run exactly; clip augmentation is seeded per
sample by :class:`~mmlookup.engine.seeding.SeededDataset`."""
from __future__ import annotations

import random
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from accelerate import Accelerator
from tqdm.auto import tqdm

from mmlookup.config import Recipe
from mmlookup.engine.checkpoint import TrainState
from mmlookup.engine.distill import Distiller, augmentation_epoch
from mmlookup.engine.ema import ModelEma
from mmlookup.engine.logger import RunLogger
from mmlookup.engine.optim import set_lr
from mmlookup.engine.schedule import LoopLengths, keep_rate_at, lr_factor, sample_grid, step_seed

#: ``(video, labels) -> (video, soft_targets)``; ``None`` trains on hard labels with label smoothing.
MixFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class NonFiniteLossError(FloatingPointError):
    """Raised on every process when any process sees a NaN/inf loss; training stops with a clear message."""


@dataclass
class TrainLoop:
    """Everything :func:`train_one_epoch` needs, built once by :func:`mmlookup.engine.fit.fit`."""

    recipe: Recipe
    accelerator: Accelerator
    model: nn.Module
    optimizer: torch.optim.Optimizer
    loader: torch.utils.data.DataLoader
    lengths: LoopLengths
    lr: float
    state: TrainState = field(default_factory=TrainState)
    ema: ModelEma | None = None
    mix: MixFn | None = None
    logger: RunLogger | None = None
    keep_rate: float | None = None  # EViT's target ρ (None: no keep rate); evaluation always runs at it
    #: called after every optimizer step on every process (checkpoints, stop signals); ``True`` ends the epoch
    after_step: Callable[[], bool] | None = None
    stopped: bool = False  # set when ``after_step`` asked to stop
    distill: Distiller | None = None  # knowledge distillation from a frozen teacher (recipe ``distill``)
    # this process's epoch and log-window totals since they were last added to ``state`` (:meth:`sync_counts`)
    pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    pending_steps: int = 0
    pending_window_steps: int = 0

    def sync_counts(self) -> None:
        """Add the epoch's pending loss sum and unreadable-video count, and the log window's loss sum, reduced over
        processes, to ``state`` (so a checkpoint carries them). Collective: every process calls it (before each
        save, at the epoch's end and when the loss is logged)."""
        if self.pending is None:
            return
        loss, replaced, window = self.pending
        self.state.epoch_loss_sum += self.accelerator.reduce(loss, "mean").item()
        self.state.epoch_replaced += int(self.accelerator.reduce(replaced, "sum").item())
        self.state.epoch_steps += self.pending_steps
        self.state.window_loss_sum += self.accelerator.reduce(window, "mean").item()
        self.state.window_steps += self.pending_window_steps
        for t in self.pending:
            t.zero_()
        self.pending_steps = self.pending_window_steps = 0

    @property
    def max_steps(self) -> int:
        cap = self.recipe.train.max_steps
        return min(cap, self.lengths.total_steps) if cap > 0 else self.lengths.total_steps


def head_loss(logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Sum over heads of cross-entropy: ``logits (B, H, K)``; ``target`` class indices ``(B,)`` or soft ``(B, K)``.

    Soft targets (mixup/cutmix) already carry their smoothing, so ``label_smoothing`` applies to hard labels only.
    """
    ls = label_smoothing if target.ndim == 1 else 0.0
    return sum(F.cross_entropy(logits[:, h].float(), target, label_smoothing=ls) for h in range(logits.shape[1]))


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def set_keep_rate(model: nn.Module, rate: float | None) -> None:
    """Set EViT's keep rate on a classifier's encoder; a no-op for ``None`` or encoders without one."""
    encoder = getattr(model, "encoder", None)
    if rate is not None and encoder is not None and hasattr(encoder, "set_keep_rate"):
        encoder.set_keep_rate(rate)


def target_keep_rate(model: nn.Module) -> float | None:
    """The keep rate a freshly built classifier's encoder runs at (EViT's target ρ), ``None`` without one."""
    encoder = getattr(model, "encoder", None)
    rate = getattr(encoder, "keep_rate", None) if hasattr(encoder, "set_keep_rate") else None
    return None if rate is None else float(rate)


def train_one_epoch(run: TrainLoop, epoch: int) -> tuple[float, int]:
    """Train until the end of ``epoch`` (or ``max_steps``), continuing mid-epoch after a resume.

    Returns:
        Mean training loss over the epoch's steps so far (averaged over processes; a resumed epoch counts the
        steps before the resume too, carried in the train state), NaN if none ran, and the number of training
        samples (over all processes) whose video was unreadable and replaced by another, in the same steps.
        When ``run.after_step`` asks to stop, the epoch ends early with ``run.stopped`` set.
    """
    acc, model, opt, cfg, st = run.accelerator, run.model, run.optimizer, run.recipe.train, run.state
    spe, accum = run.lengths.steps_per_epoch, cfg.accum_steps
    first = st.step - epoch * spe  # optimizer steps of this epoch already done (resume)
    last = min(spe, run.max_steps - epoch * spe)
    if first == 0:  # a new epoch: its counts start at zero (a resume mid-epoch keeps those of its checkpoint)
        st.epoch_loss_sum, st.epoch_steps, st.epoch_replaced = 0.0, 0, 0
        st.window_loss_sum, st.window_steps = 0.0, 0
    if first >= last:
        return float("nan"), 0
    loader = acc.skip_first_batches(run.loader, first * accum) if first > 0 else run.loader
    batches = iter(loader)
    unwrapped = acc.unwrap_model(model)
    keep_target = run.keep_rate
    hold, ramp = (round(e * spe) for e in (cfg.keep_rate_warmup_epochs, cfg.keep_rate_ramp_epochs))
    model.train()
    total, window = torch.zeros((), device=acc.device), torch.zeros((), device=acc.device)
    replaced = torch.zeros((), dtype=torch.long, device=acc.device)
    run.pending, run.pending_steps, run.pending_window_steps = (total, replaced, window), 0, 0
    bar = tqdm(range(first, last), desc=f"epoch {epoch}", disable=not acc.is_local_main_process, leave=False)
    for _ in bar:
        step = st.step
        lr = run.lr * lr_factor(step, run.lengths.total_steps, run.lengths.warmup_steps,
                                run.recipe.optim.min_lr / run.lr if run.lr > 0 else 0.0)
        set_lr(opt, lr)
        if keep_target is not None and keep_target < 1.0:   # training steps only; evaluation resets the target
            set_keep_rate(unwrapped, keep_rate_at(step, keep_target, hold, ramp))
        grid = sample_grid(run.recipe.model.grids, step, cfg.seed)
        step_loss = torch.zeros((), device=acc.device)
        for micro in range(accum):
            batch = next(batches)  # augmentation is seeded per sample (SeededDataset)
            _seed_all(step_seed(cfg.seed, step, acc.process_index, micro))  # then mixup, drop path
            video, target = batch.video, batch.label
            replaced += batch.replaced.sum()
            if run.mix is not None:
                video, target = run.mix(video, target)
            sync = acc.no_sync(model) if micro < accum - 1 else nullcontext()
            with sync, acc.autocast():
                if run.distill is None:
                    loss = head_loss(model(video, grid, heads=True), target, cfg.label_smoothing)
                else:  # the teacher sees the same (mixed) clip, in the same precision, without gradients
                    aug = augmentation_epoch(epoch, run.recipe.distill.cache_views)
                    keys = [(int(i), aug) for i in batch.index]
                    loss = run.distill.step_loss(
                        model, video, grid, lambda lg, tg: head_loss(lg, tg, cfg.label_smoothing), target,
                        keys=keys, keep=batch.replaced == 0)
            _check_finite(acc, loss, step)
            acc.backward(loss / accum)
            step_loss += loss.detach() / accum
        if cfg.clip_grad > 0:
            acc.clip_grad_norm_(model.parameters(), cfg.clip_grad)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if run.ema is not None:
            run.ema.update(unwrapped)
        st.step += 1
        run.pending_steps += 1
        total += step_loss
        window += step_loss
        run.pending_window_steps += 1
        if st.step % cfg.log_every == 0:  # the window's steps before a resume are in the state
            run.sync_counts()
            mean = st.window_loss_sum / max(1, st.window_steps)
            st.window_loss_sum, st.window_steps = 0.0, 0
            bar.set_postfix(loss=f"{mean:.4f}", lr=f"{lr:.2e}")
            if run.logger is not None:
                run.logger.scalars({"train/loss": mean, "train/lr": lr}, st.step)
                run.logger.info(f"step {st.step}/{run.max_steps}  loss {mean:.4f}  lr {lr:.3e}"
                                + (f"  grid {'x'.join(map(str, grid))}" if grid else ""))
        if run.after_step is not None and run.after_step():
            run.stopped = True
            break
    bar.close()
    run.sync_counts()
    run.pending = None
    return st.epoch_loss_sum / max(1, st.epoch_steps), st.epoch_replaced


def _check_finite(acc: Accelerator, loss: torch.Tensor, step: int) -> None:
    """Stop every process together when any process has a non-finite loss (no rank is left in an all-reduce)."""
    bad = (~torch.isfinite(loss.detach())).float().reshape(1)
    if acc.num_processes > 1:
        bad = acc.reduce(bad, "sum")
    if bad.item() > 0:
        raise NonFiniteLossError(
            f"non-finite loss at optimizer step {step} (loss on this process: {loss.item()}); stopping. "
            "Lower optim.lr, raise optim.warmup_epochs, set train.clip_grad, or use train.precision=bf16 "
            "instead of fp16.")
