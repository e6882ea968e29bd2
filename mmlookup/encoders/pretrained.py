"""Deprecated: the checkpoint code moved to :mod:`mmlookup.checkpoints`; this path is kept for one release.

``from mmlookup.encoders.pretrained import load_checkpoint`` (and the module's other public names) still works and
warns with a ``DeprecationWarning``; import them from :mod:`mmlookup.checkpoints` instead.
"""
from __future__ import annotations

import mmlookup.checkpoints as _checkpoints
from mmlookup.moved import forward_moved

_MOVED = (
    "ARCH_KEYS", "FORMATS", "HF_ACTIVATIONS", "HF_VIDEO_TYPES", "READERS", "LoadReport", "SourceMeta", "SourceParts",
    "StateDict", "apply_checkpoint_config", "checkpoint_config", "detect_format", "fit_to_model",
    "hf_video_encoder_kwargs", "hf_video_to_native", "image_to_native", "load_checkpoint", "read_hf", "read_mmlookup",
    "read_state_dict", "read_timm", "read_torchvision", "resolve_encoder_args", "torch_load", "vit_to_lookupvit",
    "WeightShapeError",
)
__getattr__, __dir__ = forward_moved(__name__, dict.fromkeys(_MOVED, _checkpoints))
