"""The encoder to draw: from a run or checkpoint (geometry from its ``recipe.yaml``), a weights file, or a name.

A checkpoint of one family can be drawn as another with the same parameters (``--encoder evit_nano`` on a
``vit_nano`` run: EViT training-free, DESIGN §5); the run's encoder options then apply only to its own family.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from mmlookup.checkpoints import WeightShapeError, load_checkpoint, resolve_checkpoint
from mmlookup.checkpoints import find_recipe as find_recipe  # re-exported: it lived here
from mmlookup.data.coco import IMAGENET_MEAN, IMAGENET_STD

Grid = tuple[int, int, int]


@dataclass
class LoadedEncoder:
    """An encoder in eval mode and how to feed it.

    Attributes:
        encoder: the model.
        name: its registry name.
        weights: ``"random weights"`` or the checkpoint it was loaded from.
        num_frames: clip length (1 is never used here: images are detected from the file).
        grid: the run's default compressed grid (LookupViT) or ``None``.
        sampling: the run's evaluation frame sampling (``dense`` / ``segment``; ``segment`` without a run).
        frame_interval: the run's dense-sampling step.
        mean, std: the run's input normalisation.
    """

    encoder: nn.Module
    name: str
    weights: str
    num_frames: int
    grid: Grid | None
    sampling: str = "segment"
    frame_interval: int = 4
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD


def family(name: str) -> str:
    """``lookupvit_nano`` → ``lookupvit``."""
    return name.split("_")[0]


def read_run_recipe(path: Path):
    """A run's ``recipe.yaml`` as a :class:`~mmlookup.config.Recipe`.

    A record written by an older version may hold keys the current recipe no longer has; then only the sections
    pictures need (``name``, ``task``, ``model``, ``data``, ``eval``) are read, with a warning, so old runs stay
    drawable.
    """
    import warnings

    import yaml

    from mmlookup.config import load_recipe, recipe_from_dict

    try:
        return load_recipe(path)
    except (KeyError, TypeError, ValueError) as err:
        data = yaml.safe_load(Path(path).read_text()) or {}
        kept = {k: data[k] for k in ("name", "task", "model", "data", "eval") if k in data}
        warnings.warn(f"{path}: {err.args[0] if isinstance(err, KeyError) else err}; reading only its "
                      f"{', '.join(kept)} sections", stacklevel=2)
        return recipe_from_dict(kept)


def load_encoder(checkpoint: str | None, encoder: str | None, *, keep_rate: float | None = None,
                 budget: Any = "unset", num_frames: int | None = None, img_size: int | None = None,
                 seed: int = 0) -> LoadedEncoder:
    """Build the encoder to draw.

    Args:
        checkpoint: a run folder, a checkpoint folder, or a weights file; ``None`` = random weights.
        encoder: registry name; default the run's encoder. Required without a run's ``recipe.yaml``.
        keep_rate: EViT ρ (default: the run's when it is an EViT run, else the encoder's default).
        budget: ATS budget (``"unset"`` = the run's / the encoder's default; ``None`` = every token).
        num_frames, img_size: override the clip geometry.
        seed: seed of the random initialisation.

    Raises:
        FileNotFoundError: no checkpoint there. ValueError: no encoder name, or weights that do not fit.
    """
    from mmlookup.registry import create_encoder

    recipe, ckpt_path = None, None
    if checkpoint is not None:
        ckpt_path = _resolve(Path(checkpoint))
        recipe_file = find_recipe(ckpt_path)
        if recipe_file is not None:
            recipe = read_run_recipe(recipe_file)
    name = encoder or (recipe.model.encoder if recipe is not None else None)
    if name is None:
        raise ValueError(f"{checkpoint} has no recipe.yaml nearby; name the encoder with --encoder")
    kwargs: dict[str, Any] = {}
    grid = None
    same_family = recipe is not None and family(recipe.model.encoder) == family(name)
    if recipe is not None:
        m = recipe.model
        kwargs.update(num_frames=m.num_frames, img_size=m.img_size, tubelet_size=m.tubelet_size,
                      patch_size=m.patch_size)
        if same_family:
            kwargs.update(m.encoder_kwargs)
            if m.grids:
                grid = tuple(m.grids[0])
                kwargs["grid"] = grid
    if num_frames is not None:
        kwargs["num_frames"] = num_frames
    if img_size is not None:
        kwargs["img_size"] = img_size
    if budget != "unset":
        if family(name) != "ats":
            raise ValueError(f"--budget is for ATS encoders, not {name}")
        kwargs["budget"] = budget
    torch.manual_seed(seed)
    model = create_encoder(name, **kwargs)
    run_rate = recipe.model.keep_rate if recipe is not None else None
    if keep_rate is not None or (same_family and hasattr(model, "set_keep_rate") and run_rate is not None):
        if not hasattr(model, "set_keep_rate"):
            raise ValueError(f"--keep-rate is for EViT encoders, not {name}")
        model.set_keep_rate(keep_rate if keep_rate is not None else run_rate)
    weights = "random weights"
    if ckpt_path is not None:
        _load_weights(model, ckpt_path)
        short = ckpt_path.parts[-3:] if ckpt_path.parent.name == "checkpoints" else ckpt_path.parts[-2:]
        weights = "weights " + "/".join(short)
    loaded = LoadedEncoder(model.eval(), name, weights, int(model.num_frames), grid)
    if recipe is not None:
        loaded.sampling, loaded.frame_interval = recipe.data.sampling, recipe.data.frame_interval
        loaded.mean, loaded.std = tuple(recipe.data.mean), tuple(recipe.data.std)
    return loaded


def _resolve(path: Path) -> Path:
    if path.is_file():
        return path
    if (path / "model.safetensors").is_file():
        return path
    return resolve_checkpoint(path)


def _load_weights(model: nn.Module, path: Path) -> None:
    """Load through the project's loader; tensors the checkpoint lacks are an error (nothing drawn from noise)."""
    from mmlookup.engine.checkpoint import encoder_mismatch_error

    name = getattr(model, "encoder_config", {}).get("name")
    try:
        report = load_checkpoint(model, path, verbose=False)
    except (RuntimeError, WeightShapeError) as err:  # shapes that cannot be mapped
        raise encoder_mismatch_error(path, name, " ".join(str(err).split())[:200]) from None
    if report.new:
        raise encoder_mismatch_error(path, name, f"{len(report.new)} missing, e.g. {', '.join(report.new[:3])}")
    resized = f" ({len(report.resized)} resized)" if report.resized else ""
    print(f"loaded {len(report.mapped)} tensors from {path}{resized}")
