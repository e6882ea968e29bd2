"""Deprecated: model folders moved; this path is kept for one release.

:class:`FolderMixin` is in :mod:`mmlookup.hub`; ``is_model_folder``, ``FOLDER_VERSION`` and ``WEIGHTS`` in
:mod:`mmlookup.checkpoints`; ``folder_config``, ``encoder_config``, ``head_config`` and ``load_folder`` (which build
models) in :mod:`mmlookup.models`. Every name still works from here, with a ``DeprecationWarning``.
"""
from __future__ import annotations

import warnings
from typing import Any

import mmlookup.checkpoints as _checkpoints
import mmlookup.hub as _hub
import mmlookup.models as _models

_MOVED = {
    "FolderMixin": _hub, "FOLDER_VERSION": _checkpoints, "WEIGHTS": _checkpoints, "is_model_folder": _checkpoints,
    "folder_config": _models, "encoder_config": _models, "head_config": _models, "load_folder": _models,
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        home = _MOVED[name]
        warnings.warn(f"mmlookup.folders.{name} moved to {home.__name__}.{name}; the old path will be removed in the "
                      "next release", DeprecationWarning, stacklevel=2)
        return getattr(home, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(_MOVED)
