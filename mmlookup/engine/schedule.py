"""Pure schedules: LR (linear warm-up + cosine), EViT keep rate, per-step LookupViT grid, loop lengths.

Everything is a function of the optimizer-step index, so a resumed run recomputes the same values and every
process agrees without communication.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class LoopLengths:
    """How many optimizer steps a run takes, sized for world size and gradient accumulation.

    Attributes:
        micro_batches_per_epoch: batches each process draws per epoch (``drop_last``).
        steps_per_epoch: optimizer steps per epoch = micro-batches // accumulation.
        total_steps: ``steps_per_epoch * epochs``.
        warmup_steps: warm-up length in optimizer steps.
        global_batch: samples per optimizer step over all processes.
    """

    micro_batches_per_epoch: int
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    global_batch: int


def loop_lengths(num_samples: int, batch_size: int, world_size: int, accum_steps: int, epochs: int,
                 warmup_epochs: float) -> LoopLengths:
    """Optimizer-step counts for ``num_samples`` training samples.

    Each process sees ``ceil(num_samples / world_size)`` samples (the distributed sampler pads) and keeps
    whole batches; leftover micro-batches that do not fill an accumulation group are skipped.

    Raises:
        ValueError: when the dataset is too small for one optimizer step.
    """
    per_process = math.ceil(num_samples / world_size)
    micro = per_process // batch_size
    steps = micro // accum_steps
    if steps < 1:
        raise ValueError(f"{num_samples} training samples are too few for one step of "
                         f"batch_size={batch_size} x processes={world_size} x accum_steps={accum_steps}")
    return LoopLengths(micro, steps, steps * epochs, round(warmup_epochs * steps),
                       batch_size * world_size * accum_steps)


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float = 0.0) -> float:
    """LR multiplier at ``step``: linear warm-up from ~0 to 1, then half-cosine down to ``min_ratio``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def keep_rate_at(step: int, target: float, hold_steps: int, ramp_steps: int) -> float:
    """EViT keep rate: 1 for ``hold_steps``, then a half-cosine from 1 down to ``target`` over ``ramp_steps``."""
    if step < hold_steps:
        return 1.0
    if ramp_steps <= 0:
        return target
    progress = min(1.0, (step - hold_steps) / ramp_steps)
    return target + (1.0 - target) * 0.5 * (1.0 + math.cos(math.pi * progress))


def sample_grid(grids: tuple[tuple[int, int, int], ...], step: int, seed: int) -> tuple[int, int, int] | None:
    """The compressed grid for one training step: uniform over ``grids``, a pure function of (seed, step).

    Every process computes the same grid for the same step, so a batch is never split across grids.
    """
    if not grids:
        return None
    if len(grids) == 1:
        return tuple(grids[0])
    return tuple(random.Random(seed * 1_000_003 + step).choice(grids))


def step_seed(seed: int, step: int, rank: int, micro: int = 0) -> int:
    """Seed for torch's global RNG at one micro-step (drop path, mixup): resume-exact and rank-distinct."""
    return (seed * 1_000_003 + step * 1009 + micro * 101 + rank * 7919) % (2**63 - 1)
