"""Our own checkpoints: runs, checkpoint folders (``RUN/checkpoints/step_*``, ``best``), model folders, state dicts."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch.nn as nn
import yaml
from safetensors.torch import load_model

from mmlookup.checkpoints.read import checkpoint_config
from mmlookup.checkpoints.report import LoadReport, SourceParts, StateDict


def read_mmlookup(sd: StateDict, report: LoadReport) -> SourceParts:
    """Our checkpoints: a bare encoder state dict, or a classifier's (``encoder.*`` + ``head.*``).

    The head's pooling is not in the state dict; :func:`load_checkpoint` reads it from the run's ``recipe.yaml``.
    """
    if not any(k.startswith("encoder.") for k in sd):
        return SourceParts(dict(sd), layout="native")
    out = {k[len("encoder."):]: v for k, v in sd.items() if k.startswith("encoder.")}
    head = {k[len("head."):]: v for k, v in sd.items() if k.startswith("head.")}
    report.ignored += [k for k in sd if not k.startswith(("encoder.", "head."))]
    pool = "lookup" if "fc_lookup.weight" in head else ("mean" if "fc_norm.weight" in head else None)
    if pool is None and "fc.weight" in head and "fc.bias" not in head and "norm_compressed.weight" in out:
        pool = "shared"                                                   # LookupViT's single bias-free head
    return SourceParts(out, head, pool, layout="native")


def _folder_head(folder: Path) -> tuple[str, float | None] | None:
    """Pooling and ``fc_norm`` eps of a model folder's head, from its ``config.json`` (``None``: not a folder)."""
    cfg = checkpoint_config(folder)
    if not cfg or "mmlookup" not in cfg or "head" not in cfg:
        return None
    head = cfg["head"]
    return head["pool"], head.get("fc_norm_eps") if head.get("fc_norm") else None


def _run_pool(checkpoint: Path) -> str | None:
    """The pooling of the run a checkpoint folder belongs to, from its ``recipe.yaml`` (``None`` if not found).

    Runs written before ``model.pool`` existed trained a mean-pooled head, so a recipe without the key means
    ``"mean"``.
    """
    path = find_recipe(checkpoint)
    if path is None:
        return None
    model = (yaml.safe_load(path.read_text()) or {}).get("model", {})
    pool = model.get("pool", "mean")
    if str(model.get("encoder", "")).startswith("lookupvit"):
        return "shared" if pool == "shared" else "lookup"
    return None if pool == "auto" else pool


def find_recipe(checkpoint: Path) -> Path | None:
    """The ``recipe.yaml`` of the run a checkpoint path belongs to (the path itself or up to three folders up)."""
    start = checkpoint if checkpoint.is_dir() else checkpoint.parent
    for folder in [start, *list(start.parents)[:3]]:
        if (folder / "recipe.yaml").is_file():
            return folder / "recipe.yaml"
    return None


STATE_FILE = "train_state.json"        # beside Accelerate's files in every checkpoint folder of a run
FOLDER_VERSION = 1                      # the model-folder format (``config.json`` + ``model.safetensors``)
WEIGHTS = "model.safetensors"


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest ``step_*`` folder under ``run_dir/checkpoints`` (or ``None``)."""
    found = sorted((Path(run_dir) / "checkpoints").glob("step_*"))
    return found[-1] if found else None


BEST = "best"                           # RUN/checkpoints/best: the checkpoint with the best validation score


def run_checkpoint(run_dir: str | Path, name: str | None = None) -> Path:
    """Which checkpoint a run folder means, the one rule for every command that uses a run's model (predict, app,
    eval, sweep, visualize, caption, export, ``distill.teacher``, ``model.init_from``): ``RUN/checkpoints/NAME``
    when ``name`` is given (it must exist), else ``best``, else the newest ``step_*``. Resuming is the one
    exception: it continues from the newest (:func:`resume_checkpoint`)."""
    run, ckpts = Path(run_dir), Path(run_dir) / "checkpoints"
    if name is not None:
        if name in ("", ".", "..") or Path(name).name != name:
            raise ValueError(f"--checkpoint {name!r}: the name of one of {run}'s checkpoints (best, step_N), not a "
                             f"path; to use another run's checkpoint, give that checkpoint folder as the model")
        if not _is_checkpoint(ckpts / name):
            found = sorted(p.name for p in ckpts.glob("[!.]*") if _is_checkpoint(p)) if ckpts.is_dir() else []
            raise FileNotFoundError(f"run {run} has no checkpoint {name!r} (it has: {', '.join(found) or 'none'})")
        return ckpts / name
    if _is_checkpoint(ckpts / BEST):
        return ckpts / BEST
    latest = latest_checkpoint(run)
    if latest is None:
        raise FileNotFoundError(f"no checkpoint at {run} (expected a folder with {STATE_FILE} or a run folder "
                                f"with checkpoints/best or checkpoints/step_*)")
    return latest


def _is_checkpoint(folder: Path) -> bool:
    return (folder / STATE_FILE).is_file() or (folder / WEIGHTS).is_file()


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder as it is; a run folder → the checkpoint it means (:func:`run_checkpoint`: ``best``,
    else the newest); raise with a clear message when there is none."""
    p = Path(path)
    return p if (p / STATE_FILE).is_file() else run_checkpoint(p)


def resume_checkpoint(path: str | Path) -> Path:
    """What ``--resume DIR`` continues from: a checkpoint folder as it is, a run folder's newest ``step_*``."""
    p = Path(path)
    if (p / STATE_FILE).is_file():
        return p
    latest = latest_checkpoint(p)
    if latest is None:
        raise FileNotFoundError(f"no checkpoint to resume at {p} (expected a checkpoint folder with {STATE_FILE} "
                                f"or a run folder with checkpoints/step_*)")
    return latest


def resolve_reference(ref: str) -> str:
    """A run folder → the checkpoint it means (:func:`run_checkpoint`); any other reference unchanged (it must
    exist). What ``distill.teacher`` and ``model.init_from`` name."""
    path = Path(ref)
    if path.is_dir() and (path / "checkpoints").is_dir():
        return str(run_checkpoint(path))
    if not path.exists():
        raise FileNotFoundError(f"{ref}: no such run, folder or checkpoint file")
    return ref


def is_model_folder(path: Any) -> bool:
    """True for a folder written by ``save_pretrained`` (:class:`mmlookup.hub.FolderMixin`)."""
    if not isinstance(path, (str, Path)) or not (Path(path) / "config.json").is_file():
        return False
    try:
        return "mmlookup" in json.loads((Path(path) / "config.json").read_text())
    except json.JSONDecodeError:
        return False


def read_model_folder_config(folder: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a model folder, checked: a model folder, and not from a newer mmlookup."""
    folder = Path(folder)
    if not is_model_folder(folder):
        raise FileNotFoundError(f"{folder} is not an mmlookup model folder (config.json with an 'mmlookup' key)")
    cfg = json.loads((folder / "config.json").read_text())
    if cfg["mmlookup"] > FOLDER_VERSION:
        raise ValueError(f"{folder} was written by a newer mmlookup (folder version {cfg['mmlookup']})")
    return cfg


def run_dir_of(checkpoint: Path) -> Path:
    """The run folder of a checkpoint folder (``RUN/checkpoints/step_*`` or ``RUN/checkpoints/best``)."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint


def load_folder_weights(model: nn.Module, folder: str | Path, *, map_location: str = "cpu",
                        strict: bool = True) -> None:
    """Load a model folder's ``model.safetensors`` into the model rebuilt from its ``config.json``."""
    load_model(model, str(Path(folder) / WEIGHTS), strict=strict, device=map_location)

