"""What ``mmlookup predict`` / :class:`~mmlookup.inference.Predictor` accept as MODEL, loaded into one shape.

MODEL is one of:

* a **run folder** (``recipe.yaml`` + ``checkpoints/``; its ``best`` checkpoint, else the newest) or one of its
  **checkpoint folders**: the recipe gives the architecture, the test protocol and the preprocessing;
* a **model folder** written by ``mmlookup export`` / ``save_pretrained`` (``config.json`` with an ``mmlookup``
  key): the preprocessing comes from the ``recipe.yaml`` that export puts beside it, when it is there;
* a **Hugging Face VideoMAE / ViViT folder** (``config.json`` with ``model_type`` ``videomae`` / ``vivit``):
  imported exactly (DESIGN §2), with ``preprocessor_config.json``'s mean, std and sizes when present.

Class names come from the folder (``config.json``'s ``id2label``, a run's ``classes.json``); for runs trained
before runs recorded them, from the recipe's annotations when those are still at hand; else ``class 0``...
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mmlookup.data.coco import IMAGENET_MEAN, IMAGENET_STD
from mmlookup.models import VideoClassifier

Grid = tuple[int, int, int]


@dataclass
class Preprocess:
    """How a file becomes the model's input views (the recipe's test protocol, DESIGN §6)."""

    num_frames: int
    img_size: int
    sampling: str = "dense"
    frame_interval: int = 4
    num_clips: int = 1
    num_crops: int = 1
    short_side: int = 0              # 0: img_size * 256 / 224, the usual test resize
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.short_side <= 0:
            self.short_side = int(round(self.img_size * 256 / 224))
        self.short_side = max(self.short_side, self.img_size)


@dataclass
class LoadedModel:
    """A classifier ready for inference and everything needed to feed it and describe it."""

    model: VideoClassifier
    classes: list[str]
    encoder: str                     # registered encoder name
    source: Path
    kind: str                        # "run" | "model folder" | "Hugging Face folder"
    preprocess: Preprocess
    grids: tuple[Grid, ...] = ()     # LookupViT: the grids it was trained / evaluated at (first = default)
    sweep: Path | None = None        # an ``mmlookup sweep`` result for these weights
    names_from: str = ""             # where the class names came from
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return self.encoder.split("_")[0]


def load_for_inference(model: str | Path, *, checkpoint: str | None = None) -> LoadedModel:
    """Load MODEL (see the module docstring) on the CPU in eval mode. ``checkpoint`` names one of a run folder's
    checkpoints (``best``, ``step_N``); by default the run's ``best``, else its newest
    (:func:`~mmlookup.checkpoints.run_checkpoint`).

    Raises:
        FileNotFoundError: MODEL does not exist.
        ValueError: MODEL is none of the accepted kinds, or is not a classifier.
    """
    from mmlookup.checkpoints import is_model_folder, run_checkpoint

    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such run, checkpoint or model folder")
    is_run = path.is_dir() and (path / "recipe.yaml").is_file() and (path / "checkpoints").is_dir()
    if checkpoint is not None and not is_run:
        raise ValueError(f"--checkpoint {checkpoint!r} names a checkpoint of a run folder, and {path} is not one "
                         "(recipe.yaml + checkpoints/); give the checkpoint folder itself as the model")
    if path.is_dir() and (path / "train_state.json").is_file() and path.parent.name == "checkpoints":
        return _load_run(path.parent.parent, path)
    if is_run:
        return _load_run(path, run_checkpoint(path, checkpoint))
    if is_model_folder(path):
        return _load_model_folder(path)
    if path.is_dir() and _hf_type(path) is not None:
        return _load_hf(path)
    raise ValueError(f"{path} is not a run folder (recipe.yaml + checkpoints/), a checkpoint folder, a model folder "
                     "(mmlookup export) or a Hugging Face VideoMAE / ViViT folder (config.json + weights)")


def _names(found: list[str] | None, num_classes: int, where: str) -> tuple[list[str], str]:
    if found is not None and len(found) == num_classes:
        return list(found), where
    return [f"class {i}" for i in range(num_classes)], "none recorded (class indices)"


def _preprocess_of(recipe) -> Preprocess:
    m, d, e = recipe.model, recipe.data, recipe.eval
    return Preprocess(num_frames=m.num_frames, img_size=m.img_size, sampling=d.sampling,
                      frame_interval=d.frame_interval, num_clips=e.num_clips, num_crops=e.num_crops,
                      short_side=d.short_side, mean=tuple(d.mean), std=tuple(d.std))


def _load_run(run: Path, ckpt: Path) -> LoadedModel:
    from mmlookup.checkpoints import classifier_classes, read_class_names
    from mmlookup.config import derive
    from mmlookup.engine.checkpoint import check_checkpoint, load_weights
    from mmlookup.engine.setup import classes_from_recipe
    from mmlookup.engine.sweep import latest_sweep
    from mmlookup.models import build_model
    from mmlookup.viz.load import read_run_recipe

    recipe = read_run_recipe(run / "recipe.yaml")
    if recipe.task != "classify":
        raise ValueError(f"{run} is a {recipe.task!r} run, not a classifier (captioners: mmlookup caption)")
    use_ema = recipe.eval.use_ema and (ckpt / "ema.safetensors").is_file()
    check_checkpoint(ckpt, use_ema=use_ema, recipe=recipe)  # another encoder's weights: one line naming both
    recipe = derive(recipe, {"model.pretrained": "", "model.init_from": ""})  # the run's weights replace any import
    num_classes = classifier_classes(ckpt / "model.safetensors")
    model = build_model(recipe, num_classes)
    load_weights(model, ckpt, use_ema=use_ema)
    recorded = read_class_names(run)
    names, where = _names(recorded or classes_from_recipe(recipe), num_classes,
                          "classes.json" if recorded else "the recipe's annotations")
    model.class_names = names
    return LoadedModel(model.eval(), names, recipe.model.encoder, ckpt, "run", _preprocess_of(recipe),
                       tuple(tuple(g) for g in recipe.model.grids), latest_sweep(run), where,
                       extra={"data_root": recipe.data.root})


def _load_model_folder(folder: Path) -> LoadedModel:
    from mmlookup.models import load_folder
    from mmlookup.viz.load import read_run_recipe

    model = load_folder(folder)
    if not isinstance(model, VideoClassifier):
        raise ValueError(f"{folder} holds an encoder without a classification head; predict needs a classifier")
    cfg = json.loads((folder / "config.json").read_text())
    num_classes = int(cfg["head"]["num_classes"])
    names, where = _names(model.class_names, num_classes, "config.json id2label")
    model.class_names = names
    enc = model.encoder
    grids: tuple[Grid, ...] = ()
    extra: dict[str, Any] = {}
    if (folder / "recipe.yaml").is_file():
        recipe = read_run_recipe(folder / "recipe.yaml")
        pre = _preprocess_of(recipe)
        grids = tuple(tuple(g) for g in recipe.model.grids)
        extra = {"data_root": recipe.data.root}
    else:
        pre = Preprocess(num_frames=int(enc.num_frames), img_size=int(_side(enc.img_size)))
    if not grids and cfg["encoder_kwargs"].get("grid"):
        grids = (tuple(cfg["encoder_kwargs"]["grid"]),)
    sweep = next((p for p in (folder / "sweep.json", folder / "sweep" / "sweep.json") if p.is_file()), None)
    return LoadedModel(model, names, cfg["encoder"], folder, "model folder", pre, grids, sweep, where, extra)


def _hf_type(folder: Path) -> str | None:
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    from mmlookup.checkpoints import HF_VIDEO_TYPES

    kind = cfg.get("model_type") if isinstance(cfg, dict) else None
    return kind if kind in HF_VIDEO_TYPES else None


def _load_hf(folder: Path) -> LoadedModel:
    from mmlookup.models import create_classifier

    model = create_classifier("vit", checkpoint=str(folder), verbose=False)   # class names: the config's id2label
    num_classes = int(model.head.fc.weight.shape[0]) if hasattr(model.head, "fc") else len(model.class_names or [])
    names, where = _names(model.class_names, num_classes, "config.json id2label")
    model.class_names = names
    enc = model.encoder
    size = int(_side(enc.img_size))
    mean, std, short = IMAGENET_MEAN, IMAGENET_STD, 0
    proc = folder / "preprocessor_config.json"
    if proc.is_file():
        p = json.loads(proc.read_text())
        mean = tuple(p.get("image_mean", mean))
        std = tuple(p.get("image_std", std))
        resize = p.get("size", {})
        short = int(resize.get("shortest_edge", 0)) if isinstance(resize, dict) else 0
    pre = Preprocess(num_frames=int(enc.num_frames), img_size=size, sampling="dense", frame_interval=4,
                     short_side=short, mean=mean, std=std)
    return LoadedModel(model.eval(), names, f"vit ({_hf_type(folder)})", folder, "Hugging Face folder", pre,
                       names_from=where)


def _side(img_size: Any) -> int:
    return int(img_size[0] if isinstance(img_size, (tuple, list)) else img_size)


def describe(loaded: LoadedModel) -> str:
    """One line: what was loaded, from where, with how many classes and where their names came from."""
    p = loaded.preprocess
    return (f"{loaded.encoder} ({loaded.kind} {loaded.source}), {len(loaded.classes)} classes (names: "
            f"{loaded.names_from}), clips of {p.num_frames} frames at {p.img_size}px, {p.sampling} sampling")


def set_dtype(model: torch.nn.Module, dtype: str) -> torch.dtype:
    """Cast ``model`` to ``float32`` / ``bfloat16`` / ``float16``; return the torch dtype."""
    dtypes = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
              "float16": torch.float16, "fp16": torch.float16}
    if dtype not in dtypes:
        raise ValueError(f"unknown dtype {dtype!r}; valid: float32, bfloat16, float16")
    model.to(dtypes[dtype])
    return dtypes[dtype]
