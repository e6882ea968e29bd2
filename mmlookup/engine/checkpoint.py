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
from typing import Any, Mapping

import torch
import torch.nn as nn
from accelerate import Accelerator
from safetensors.torch import load_file, save_file

from mmlookup.checkpoints import STATE_FILE, latest_checkpoint, read_state_dict, resolve_checkpoint, weight_shapes
from mmlookup.engine.ema import ModelEma
from mmlookup.hub import new_file_mode

__all__ = ["EMA_FILE", "STATE_FILE", "TrainState", "check_checkpoint", "check_encoder_fits", "check_resumable",
           "checkpoint_encoder", "encoder_mismatch_error", "latest_checkpoint", "load_checkpoint", "load_weights",
           "read_train_state", "remove_stale", "resolve_checkpoint", "save_checkpoint", "weights_misfit"]

EMA_FILE = "ema.safetensors"


@dataclass
class TrainState:
    """What the loop needs besides weights and optimizer to continue: the optimizer step, the best score and the
    current epoch's counts."""

    step: int = 0
    epoch: int = 0
    best_metric: float = float("-inf")
    best_step: int = -1
    log_bytes: int = -1  # size of the run's log.txt when saved; a resume cuts the log back to it (-1: unknown)
    # the current epoch's running totals (over all processes), so an epoch resumed mid-way reports all its steps
    epoch_loss_sum: float = 0.0  # sum over its optimizer steps of the process-mean training loss
    epoch_steps: int = 0
    epoch_replaced: int = 0  # training samples whose video was unreadable and replaced
    # the steps since the last logged training loss, so the first window logged after a resume averages all of them
    window_loss_sum: float = 0.0
    window_steps: int = 0


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
        mode = new_file_mode()  # safetensors writes through a private temporary file (0600): readable like the rest
        for f in tmp.iterdir():
            if f.is_file():
                f.chmod(mode)
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
    return TrainState(**json.loads((Path(path) / STATE_FILE).read_text()))  # older files: the new fields default


def check_checkpoint(path: str | Path, *, use_ema: bool = False, recipe: Any = None) -> Path:
    """Resolve ``path`` (checkpoint or run folder) and check that it is complete and readable; return the folder.

    Cheap (file headers only), so commands call it before building data or models: a missing, cut-short or
    corrupt checkpoint is a one-line error naming the file, not a traceback after minutes of set-up. With
    ``recipe``, the weights must also fit the recipe's encoder (:func:`check_encoder_fits`).
    """
    ckpt = resolve_checkpoint(path)
    try:
        read_train_state(ckpt)
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"{ckpt / STATE_FILE} is unreadable ({e}); the checkpoint is corrupt") from None
    weights = ckpt / (EMA_FILE if use_ema else "model.safetensors")
    if weights.is_file():
        weight_shapes(weights)
    elif use_ema or not (ckpt / "pytorch_model.bin").is_file():
        raise FileNotFoundError(f"{weights} not found" + (" (was the run trained with train.ema_decay > 0?)"
                                                          if use_ema else ""))
    else:
        weights = ckpt / "pytorch_model.bin"
        weight_shapes(weights)
    if recipe is not None:
        check_encoder_fits(recipe, weights)
    return ckpt


def check_resumable(ckpt: Path, num_processes: int | None = None) -> None:
    """Every file a resume reads is there, complete and safe to load: the weights, Accelerate's ``optimizer.bin``,
    ``scheduler*.bin`` and ``random_states_<rank>.pkl`` (one per process: ``num_processes``, default the launcher's
    ``WORLD_SIZE``), and the EMA. Each torch file is unpickled as the resume will (``weights_only``, memory-mapped,
    so no tensor data is read), which also catches one with objects a safe load refuses (a malicious pickle) that
    Accelerate would otherwise report as a traceback (the optimizer) or silently skip (the random states, so the
    resume would no longer be exact). Called before the run folder is touched: one line naming the file (and the
    run's ``log.txt`` still whole), never a traceback after the log was cut back."""
    import zipfile

    processes = num_processes if num_processes is not None else int(os.environ.get("WORLD_SIZE", "1"))
    again = f"resume from an earlier checkpoint in {ckpt.parent} or start the run again"
    for name in ("optimizer.bin", *(f"random_states_{i}.pkl" for i in range(processes))):
        if not (ckpt / name).is_file():
            raise FileNotFoundError(f"{ckpt / name} not found: the checkpoint is incomplete; {again}")
    for f in sorted(ckpt.iterdir()):
        if f.suffix == ".safetensors":
            weight_shapes(f)
        elif f.suffix in (".bin", ".pt", ".pth", ".pkl"):
            if not zipfile.is_zipfile(f):  # torch.save writes a zip archive; a cut-short one loses its directory
                raise ValueError(f"{f} is cut short or corrupt (not a complete torch file); {again}")
            try:
                with zipfile.ZipFile(f) as z:
                    bad = z.testzip()
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                bad = f"({e})"
            if bad is not None:
                raise ValueError(f"{f} is corrupt (damaged member {bad}); {again}")
            _check_safe_load(f, again)


def _check_safe_load(file: Path, again: str) -> None:
    """Unpickle ``file`` as Accelerate's resume does (its ``load``: ``weights_only`` with NumPy's RNG types
    allowed), memory-mapped; a refusal is one line naming the file and the object it refused."""
    import pickle

    from accelerate.utils.other import load

    try:
        load(file, map_location="cpu", mmap=True)
    except Exception as e:  # any failure to load is this file's fault: one line, as for a cut-short file
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        if isinstance(e, pickle.UnpicklingError):
            refused = next((line for line in lines if "GLOBAL" in line), lines[0] if lines else "")
            raise ValueError(f"{file} is not safe to load ({' '.join(refused.split())[:200]}): it holds objects "
                             f"beyond tensors and plain data, so it is not a checkpoint this project wrote; "
                             f"{again}") from None
        raise ValueError(f"{file} cannot be loaded ({type(e).__name__}: {' '.join(lines[:1])[:200]}); "
                         f"{again}") from None


def checkpoint_encoder(path: str | Path) -> tuple[str | None, Path | None]:
    """The encoder a checkpoint holds and where that is written: its run's ``recipe.yaml`` (``model.encoder``,
    found in the folder or up to three folders up) or a model folder's ``config.json`` (``encoder``)."""
    import yaml

    p = Path(path)
    start = p if p.is_dir() else p.parent
    for folder in [start, *list(start.parents)[:3]]:
        for name in ("recipe.yaml", "config.json"):
            f = folder / name
            if not f.is_file():
                continue
            try:
                data = yaml.safe_load(f.read_text())  # JSON is YAML
            except (yaml.YAMLError, OSError, UnicodeDecodeError):
                continue
            if isinstance(data, dict):
                model = data.get("model")
                enc = model.get("encoder") if isinstance(model, dict) else data.get("encoder")
                if isinstance(enc, dict):
                    enc = enc.get("name")
                if isinstance(enc, str):
                    return enc, f
    return None, None


def weights_misfit(expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]]) -> str:
    """What keeps ``found`` tensor shapes from loading where ``expected`` ones are needed ("" when they fit)."""
    wrong = [k for k in expected if k in found and tuple(found[k]) != tuple(expected[k])]
    missing = [k for k in expected if k not in found]
    parts = []
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} tensors of another shape, e.g. {k} {tuple(found[k])} where "
                     f"{tuple(expected[k])} is needed")
    if missing:
        parts.append(f"{len(missing)} missing, e.g. {missing[0]}")
    return "; ".join(parts)


def encoder_mismatch_error(source: Path, encoder: str | None, detail: str) -> ValueError:
    """The one line every command gives for weights of another encoder: both encoders named."""
    held, where = checkpoint_encoder(source)
    held_txt = f"a {held} checkpoint (from {where})" if held else "weights of another encoder"
    return ValueError(f"{source} holds {held_txt}; the recipe builds {encoder or 'another encoder'}, which cannot "
                      f"load it ({detail}). Use the recipe the checkpoint was trained with (its run's recipe.yaml) "
                      "or a checkpoint of this encoder")


def check_encoder_fits(recipe: Any, weights: str | Path) -> None:
    """A classifier checkpoint's ``encoder.*`` tensors fit the encoder ``recipe`` builds (built on the meta
    device: no memory, no time), else :func:`encoder_mismatch_error`. The one check every command that loads a
    run's weights into a recipe's model makes before it builds data or models."""
    import copy

    from mmlookup.models import build_encoder

    weights = Path(weights)
    found = {k[len("encoder."):]: v for k, v in weight_shapes(weights).items() if k.startswith("encoder.")}
    if not found:
        return  # not a classifier checkpoint: the loader that reads it explains
    r = copy.deepcopy(recipe)
    r.model.pretrained = ""
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build_encoder(r).state_dict().items()}
    detail = weights_misfit(expected, found)
    if detail:
        raise encoder_mismatch_error(weights, recipe.model.encoder, detail)


def load_checkpoint(accelerator: Accelerator, path: str | Path, ema: ModelEma | None = None) -> TrainState:
    """Restore model, optimizer, RNG, EMA and the :class:`TrainState` saved by :func:`save_checkpoint`."""
    path = resolve_checkpoint(path)
    accelerator.load_state(str(path))
    if ema is not None and (path / EMA_FILE).is_file():
        ema.load_state_dict(load_file(str(path / EMA_FILE), device=str(accelerator.device)))
    return read_train_state(path)


def load_weights(model: nn.Module, path: str | Path, *, use_ema: bool = False) -> TrainState:
    """Load only the (EMA) model weights of a checkpoint into an unprepared ``model``, for evaluation.

    Weights of another encoder are one line naming both encoders (:func:`encoder_mismatch_error`)."""
    path = resolve_checkpoint(path)
    file = path / EMA_FILE if use_ema else path / "model.safetensors"
    if file.is_file():
        weights = read_state_dict(file)[0]
    elif (path / "pytorch_model.bin").is_file() and not use_ema:
        file = path / "pytorch_model.bin"
        weights = read_state_dict(file)[0]
    else:
        raise FileNotFoundError(f"{file} not found" + (" (was the run trained with train.ema_decay > 0?)"
                                                       if use_ema else ""))
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    detail = weights_misfit({k: v for k, v in expected.items() if k.startswith("encoder.")},
                            {k: tuple(v.shape) for k, v in weights.items()})
    if detail:
        encoder = getattr(getattr(model, "encoder", model), "encoder_config", {}).get("name")
        raise encoder_mismatch_error(file, encoder, detail)
    model.load_state_dict(weights)
    return read_train_state(path)
