"""Deprecated: model folders moved; this path is kept for one release.

:class:`FolderMixin` is in :mod:`mmlookup.hub`; ``is_model_folder``, ``FOLDER_VERSION``, ``WEIGHTS``,
``CLASSES_FILE``, ``label_maps`` and ``read_class_names`` in :mod:`mmlookup.checkpoints`; ``folder_config``,
``encoder_config``, ``head_config`` and ``load_folder`` (which build models) in :mod:`mmlookup.models`.
Every name still works from here, with a ``DeprecationWarning``.
"""
from __future__ import annotations

import mmlookup.checkpoints as _checkpoints
import mmlookup.hub as _hub
import mmlookup.models as _models
from mmlookup.moved import forward_moved

__getattr__, __dir__ = forward_moved(__name__, {
    "FolderMixin": _hub, "FOLDER_VERSION": _checkpoints, "WEIGHTS": _checkpoints, "is_model_folder": _checkpoints,
    "CLASSES_FILE": _checkpoints, "label_maps": _checkpoints, "read_class_names": _checkpoints,
    "folder_config": _models, "encoder_config": _models, "head_config": _models, "load_folder": _models,
})
