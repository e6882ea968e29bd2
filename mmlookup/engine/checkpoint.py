"""Checkpoints through ``accelerator.save_state``: atomic, last-k kept, best kept, exact resume.

Layout of ``RUN/checkpoints/``: ``step_00000120/`` (Accelerate's model, optimizer and RNG files, plus our
``train_state.json`` and, with EMA, ``ema.safetensors``), the newest ``keep_last`` of them, and ``best/``.
A checkpoint is written to a hidden temporary folder and renamed into place by the main process only after
every process has finished writing, so a crash never leaves a half-written ``step_*``.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch.nn as nn
from accelerate import Accelerator
from safetensors.torch import load_file, save_file

from mmlookup.checkpoints import STATE_FILE, latest_checkpoint, read_state_dict, resolve_checkpoint, tensor_shapes
from mmlookup.engine.ema import ModelEma

__all__ = ["EMA_FILE", "STATE_FILE", "TrainState", "check_checkpoint", "latest_checkpoint", "load_checkpoint",
           "load_weights", "read_train_state", "remove_stale", "resolve_checkpoint", "save_checkpoint"]

EMA_FILE = "ema.safetensors"


@dataclass
class TrainState:
    """What the loop needs besides weights and optimizer to continue: the optimizer step and the best score."""

    step: int = 0
    epoch: int = 0
    best_metric: float = float("-inf")
    best_step: int = -1
    log_bytes: int = -1  # size of the run's log.txt when saved; a resume cuts the log back to it (-1: unknown)


def save_checkpoint(accelerator: Accelerator, ckpt_root: Path, state: TrainState, *, keep_last: int,
                    is_best: bool = False, ema: ModelEma | None = None) -> Path:
    """Save the full training state on every process; return the final folder. Collective: call on all ranks."""
    final = ckpt_root / f"step_{state.step:08d}"
    tmp = ckpt_root / f".tmp_step_{state.step:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    if accelerator.is_main_process:
        (tmp / STATE_FILE).write_text(json.dumps(asdict(state), indent=1))
        if ema is not None:
            save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, str(tmp / EMA_FILE))
    accelerator.wait_for_everyone()  # save_state has no barrier of its own
    if accelerator.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        if is_best:
            _replace_dir(final, ckpt_root / "best")
        for old in sorted(ckpt_root.glob("step_*"))[:-keep_last] if keep_last > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def _replace_dir(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".tmp_{dst.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    old = dst.with_name(f".old_{dst.name}")
    if dst.exists():
        os.replace(dst, old)
    os.replace(tmp, dst)
    shutil.rmtree(old, ignore_errors=True)


def remove_stale(ckpt_root: Path) -> list[Path]:
    """Delete temporary folders a crash left behind while saving (``.tmp_*``, ``.old_*``); return them.

    Call on the main process before the run writes its first checkpoint.
    """
    stale = sorted([*ckpt_root.glob(".tmp_*"), *ckpt_root.glob(".old_*")]) if ckpt_root.is_dir() else []
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def read_train_state(path: str | Path) -> TrainState:
    """The :class:`TrainState` of a checkpoint folder, without loading any weights."""
    return TrainState(**json.loads((Path(path) / STATE_FILE).read_text()))


def check_checkpoint(path: str | Path, *, use_ema: bool = False) -> Path:
    """Resolve ``path`` (checkpoint or run folder) and check that it is complete and readable; return the folder.

    Cheap (file headers only), so commands call it before building data or models: a missing, cut-short or
    corrupt checkpoint is a one-line error naming the file, not a traceback after minutes of set-up.
    """
    ckpt = resolve_checkpoint(path)
    try:
        read_train_state(ckpt)
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"{ckpt / STATE_FILE} is unreadable ({e}); the checkpoint is corrupt") from None
    weights = ckpt / (EMA_FILE if use_ema else "model.safetensors")
    if weights.is_file():
        try:
            tensor_shapes(weights)
        except Exception as e:  # safetensors raises its own error types for bad headers and short files
            raise ValueError(f"{weights} is not a readable safetensors file ({e}); the checkpoint is corrupt or "
                             "was cut short") from None
    elif use_ema or not (ckpt / "pytorch_model.bin").is_file():
        raise FileNotFoundError(f"{weights} not found" + (" (was the run trained with train.ema_decay > 0?)"
                                                          if use_ema else ""))
    return ckpt


def load_checkpoint(accelerator: Accelerator, path: str | Path, ema: ModelEma | None = None) -> TrainState:
    """Restore model, optimizer, RNG, EMA and the :class:`TrainState` saved by :func:`save_checkpoint`."""
    path = resolve_checkpoint(path)
    accelerator.load_state(str(path))
    if ema is not None and (path / EMA_FILE).is_file():
        ema.load_state_dict(load_file(str(path / EMA_FILE), device=str(accelerator.device)))
    return read_train_state(path)


def load_weights(model: nn.Module, path: str | Path, *, use_ema: bool = False) -> TrainState:
    """Load only the (EMA) model weights of a checkpoint into an unprepared ``model``, for evaluation."""
    path = resolve_checkpoint(path)
    file = path / EMA_FILE if use_ema else path / "model.safetensors"
    if file.is_file():
        weights = read_state_dict(file)[0]
    elif (path / "pytorch_model.bin").is_file() and not use_ema:
        weights = read_state_dict(path / "pytorch_model.bin")[0]
    else:
        raise FileNotFoundError(f"{file} not found" + (" (was the run trained with train.ema_decay > 0?)"
                                                       if use_ema else ""))
    model.load_state_dict(weights)
    return read_train_state(path)
