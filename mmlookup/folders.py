"""Model folders: ``config.json`` + ``model.safetensors``, loadable with no recipe at hand.

    classifier.save_pretrained("out/vit_nano_synth")          # or encoder.save_pretrained(...)
    model = VideoClassifier.from_pretrained("out/vit_nano_synth")
    model = create_classifier(checkpoint="out/vit_nano_synth")  # the same, through the model factory
    classifier.push_to_hub("me/vit-nano-synth")                  # huggingface_hub's PyTorchModelHubMixin

``config.json`` holds ``{"mmlookup": 1, "kind": "encoder"|"classifier", "encoder": registered name,
"encoder_kwargs": {...}, "head": {"pool", "num_classes", "dropout", "fc_norm", "fc_norm_eps"}}`` and, when the
classifier knows its classes (``model.class_names``), ``id2label`` / ``label2id`` (the Hugging Face convention,
which :func:`read_class_names` also reads from VideoMAE / ViViT folders and a run's ``classes.json``): the registry
rebuilds the encoder from its name and arguments (which
:func:`mmlookup.registry.create_encoder` records on every model it builds), the head from its type and size, and
the weights load strictly. Nothing is unpickled. Encoders and classifiers inherit these methods from
:class:`FolderMixin` (itself a ``PyTorchModelHubMixin``, so ``push_to_hub`` and Hub ids work as well).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin
from safetensors.torch import load_model

FOLDER_VERSION = 1
WEIGHTS = "model.safetensors"
CLASSES_FILE = "classes.json"  # a run's class names in label order, written by the trainer


class FolderMixin(PyTorchModelHubMixin, library_name="mmlookup", tags=["video-classification", "mmlookup"]):
    """``save_pretrained(dir)`` / ``from_pretrained(dir_or_hub_id)`` / ``push_to_hub`` for mmlookup models."""

    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> str | None:
        """Write ``config.json`` + ``model.safetensors`` (and the Hub mixin's default ``README.md`` if none)."""
        if kwargs.get("config") is None:
            kwargs["config"] = folder_config(self)
        return super().save_pretrained(save_directory, **kwargs)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None = None, cache_dir: Any = None,
                         force_download: bool = False, local_files_only: bool = False, token: Any = None,
                         map_location: str = "cpu", strict: bool = True, **_: Any) -> nn.Module:
        folder = Path(model_id)
        if not folder.is_dir():
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(model_id, revision=revision, cache_dir=cache_dir, token=token,
                                            force_download=force_download, local_files_only=local_files_only))
        model = load_folder(folder, map_location=map_location, strict=strict)
        if not isinstance(model, cls):
            raise TypeError(f"{folder} holds a {type(model).__name__}, not a {cls.__name__}")
        return model


def is_model_folder(path: Any) -> bool:
    """True for a folder written by :meth:`FolderMixin.save_pretrained`."""
    if not isinstance(path, (str, Path)) or not (Path(path) / "config.json").is_file():
        return False
    try:
        return "mmlookup" in json.loads((Path(path) / "config.json").read_text())
    except json.JSONDecodeError:
        return False


def folder_config(model: nn.Module) -> dict[str, Any]:
    """What :func:`load_folder` needs to rebuild ``model`` (an encoder or a :class:`VideoClassifier`)."""
    from mmlookup.models import VideoClassifier

    encoder = model.encoder if isinstance(model, VideoClassifier) else model
    cfg: dict[str, Any] = {"mmlookup": FOLDER_VERSION, "kind": "encoder", **encoder_config(encoder)}
    if isinstance(model, VideoClassifier):
        cfg.update(kind="classifier", head=head_config(model.head))
        names = getattr(model, "class_names", None)
        if names:
            if len(names) != cfg["head"]["num_classes"]:
                raise ValueError(f"{len(names)} class names for a head of {cfg['head']['num_classes']} classes")
            cfg.update(label_maps(names))
    return cfg


def label_maps(names: list[str]) -> dict[str, dict]:
    """``{"id2label": {"0": name, ...}, "label2id": {name: 0, ...}}`` (JSON keys are strings, as in HF configs)."""
    return {"id2label": {str(i): n for i, n in enumerate(names)}, "label2id": {n: i for i, n in enumerate(names)}}


def read_class_names(path: str | Path) -> list[str] | None:
    """Class names in label order from a folder: ``config.json``'s ``id2label`` (our model folders, Hugging Face
    VideoMAE / ViViT), else a run's ``classes.json``; ``None`` when neither is there.

    Hugging Face's default ``LABEL_0``, ``LABEL_1``... names count as names (they are what the model was given).

    Raises:
        ValueError: a file that is there but malformed (indices not ``0..N-1``, not a list of strings).
    """
    folder = Path(path)
    config = folder / "config.json"
    if config.is_file():
        try:
            id2label = json.loads(config.read_text()).get("id2label")
        except (json.JSONDecodeError, AttributeError):
            id2label = None
        if id2label:
            try:
                by_index = {int(k): str(v) for k, v in id2label.items()}
            except (TypeError, ValueError):
                raise ValueError(f"{config}: id2label keys must be class indices, got {list(id2label)[:3]}") from None
            if sorted(by_index) != list(range(len(by_index))):
                raise ValueError(f"{config}: id2label indices are not 0..{len(by_index) - 1}")
            return [by_index[i] for i in range(len(by_index))]
    classes = folder / CLASSES_FILE
    if classes.is_file():
        names = json.loads(classes.read_text())
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{classes}: expected a JSON list of class names")
        return names
    return None


def encoder_config(encoder: nn.Module) -> dict[str, Any]:
    """The encoder's registered name and arguments, with state set after building (imported LayerNorm eps,
    EViT's keep rate) folded in, so the rebuilt model computes the same function."""
    built = getattr(encoder, "encoder_config", None)
    if built is None:
        raise ValueError(f"this {type(encoder).__name__} was not built by create_encoder, so its name and arguments "
                         "are unknown; build it with mmlookup.create_encoder(...) to save it as a folder")
    from mmlookup.encoders.reducing import vit_geometry
    from mmlookup.encoders.vit import VideoViT

    kwargs = dict(built["kwargs"])
    if isinstance(encoder, VideoViT):          # the whole architecture, so the folder describes itself
        kwargs = {**vit_geometry(encoder), **{k: v for k, v in kwargs.items() if k != "separable_pos"}}
        kwargs["norm_eps"] = encoder.blocks[0].norm1.eps               # an import may have set it after building
    if hasattr(encoder, "keep_rate"):
        kwargs["keep_rate"] = float(encoder.keep_rate)
    for key, value in kwargs.items():
        if isinstance(value, tuple):
            kwargs[key] = list(value)
    try:
        json.dumps(kwargs)
    except TypeError as err:
        raise ValueError(f"encoder arguments {kwargs} cannot be written to config.json: {err}") from None
    return {"encoder": built["name"], "encoder_kwargs": kwargs}


def head_config(head: nn.Module) -> dict[str, Any]:
    """Pooling, class count, dropout and ``fc_norm`` of a head from :mod:`mmlookup.heads`."""
    from mmlookup.heads import head_num_classes

    pool = getattr(head, "pool", None)
    if pool not in ("cls", "mean", "lookup", "shared"):
        raise ValueError(f"cannot describe a {type(head).__name__} head in config.json")
    norm = getattr(head, "fc_norm", None)
    cfg: dict[str, Any] = {"pool": pool, "num_classes": head_num_classes(head.state_dict()), "dropout": head.drop.p,
                           "fc_norm": isinstance(norm, nn.LayerNorm)}
    if isinstance(norm, nn.LayerNorm):
        cfg["fc_norm_eps"] = norm.eps
    return cfg


def load_folder(folder: str | Path, *, map_location: str = "cpu", strict: bool = True) -> nn.Module:
    """Rebuild the encoder or classifier of a model folder and load its weights (no recipe needed)."""
    from mmlookup.heads import build_head
    from mmlookup.models import VideoClassifier
    from mmlookup.registry import create_encoder

    folder = Path(folder)
    if not is_model_folder(folder):
        raise FileNotFoundError(f"{folder} is not an mmlookup model folder (config.json with an 'mmlookup' key)")
    cfg = json.loads((folder / "config.json").read_text())
    if cfg["mmlookup"] > FOLDER_VERSION:
        raise ValueError(f"{folder} was written by a newer mmlookup (folder version {cfg['mmlookup']})")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg["encoder_kwargs"].items()}
    model: nn.Module = create_encoder(cfg["encoder"], **kwargs)
    if cfg["kind"] == "classifier":
        h = cfg["head"]
        head = build_head(model, h["pool"], h["num_classes"], h["dropout"], fc_norm=h.get("fc_norm", False),
                          fc_norm_eps=h.get("fc_norm_eps", 1e-6))
        model = VideoClassifier(model, head)
        model.class_names = read_class_names(folder)
    load_model(model, str(folder / WEIGHTS), strict=strict, device=map_location)
    return model.eval()
