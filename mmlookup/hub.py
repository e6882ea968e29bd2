"""``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` for encoders and classifiers (model folders).

    classifier.save_pretrained("out/vit_nano_synth")          # or encoder.save_pretrained(...)
    model = VideoClassifier.from_pretrained("out/vit_nano_synth")
    model = create_classifier(checkpoint="out/vit_nano_synth")  # the same, through the model factory
    classifier.push_to_hub("me/vit-nano-synth")                  # huggingface_hub's PyTorchModelHubMixin

``config.json`` holds ``{"mmlookup": 1, "kind": "encoder"|"classifier", "encoder": registered name,
"encoder_kwargs": {...}, "head": {"pool", "num_classes", "dropout", "fc_norm", "fc_norm_eps"}}``: the registry
rebuilds the encoder from its name and arguments (which :func:`mmlookup.registry.create_encoder` records on every
model it builds), the head from its type and size, and the weights load strictly. Nothing is unpickled.

The mixin sits below the encoders (every :class:`~mmlookup.encoders.base.Encoder` inherits it), so it holds no model
code: describing a model (``folder_config``) and rebuilding one (``load_folder``) are the model factory's
(:mod:`mmlookup.models`), which registers them here with :func:`register_folder_io` when it is imported (importing
``mmlookup`` does).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import torch.nn as nn
from huggingface_hub import PyTorchModelHubMixin, snapshot_download
from huggingface_hub.constants import SAFETENSORS_SINGLE_FILE  # "model.safetensors", the folders' WEIGHTS

_FOLDER_IO: dict[str, Callable[..., Any]] = {}


def register_folder_io(config: Callable[[nn.Module], dict[str, Any]], load: Callable[..., nn.Module]) -> None:
    """Set how a model is described in ``config.json`` and rebuilt from a folder (done by :mod:`mmlookup.models`)."""
    _FOLDER_IO.update(config=config, load=load)


def _folder_io(what: str) -> Callable[..., Any]:
    if what not in _FOLDER_IO:
        raise RuntimeError("model folders need mmlookup.models imported (import mmlookup)")
    return _FOLDER_IO[what]


class FolderMixin(PyTorchModelHubMixin, library_name="mmlookup", tags=["video-classification", "mmlookup"]):
    """``save_pretrained(dir)`` / ``from_pretrained(dir_or_hub_id)`` / ``push_to_hub`` for mmlookup models."""

    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> str | None:
        """Write ``config.json`` + ``model.safetensors`` (and the Hub mixin's default ``README.md`` if none)."""
        if kwargs.get("config") is None:
            kwargs["config"] = _folder_io("config")(self)
        result = super().save_pretrained(save_directory, **kwargs)
        weights = Path(save_directory) / SAFETENSORS_SINGLE_FILE
        if weights.is_file():  # safetensors writes through a private temporary file (mode 0600)
            weights.chmod(new_file_mode())
        return result

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None = None, cache_dir: Any = None,
                         force_download: bool = False, local_files_only: bool = False, token: Any = None,
                         map_location: str = "cpu", strict: bool = True, **_: Any) -> nn.Module:
        folder = Path(model_id)
        if not folder.is_dir():
            folder = Path(snapshot_download(model_id, revision=revision, cache_dir=cache_dir, token=token,
                                            force_download=force_download, local_files_only=local_files_only))
        model = _folder_io("load")(folder, map_location=map_location, strict=strict)
        if not isinstance(model, cls):
            raise TypeError(f"{folder} holds a {type(model).__name__}, not a {cls.__name__}")
        return model


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file here: 0666 less the process's umask (0644 with the usual 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask
