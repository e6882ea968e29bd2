"""VideoMAE (Hugging Face ``VideoMAEModel`` / ``VideoMAEForVideoClassification``): what its ``config.json`` fixes.

Its tensors are read by :func:`mmlookup.checkpoints.hf_vit.read_hf` (the key layout of every Hugging Face ViT) and
fitted by :func:`mmlookup.checkpoints.hf_video.hf_video_to_native`.
"""
from __future__ import annotations

from typing import Any, Mapping

#: The config values ``transformers`` assumes when a VideoMAE ``config.json`` leaves them out.
DEFAULTS = {"hidden_act": "gelu", "num_frames": 16, "layer_norm_eps": 1e-12}


def architecture(config: Mapping[str, Any]) -> tuple[Any, int, dict[str, Any]]:
    """Patch size (as the config writes it), tubelet length, and the video ViT arguments particular to VideoMAE:
    no CLS token, the fixed sinusoid table, query/value biases, and no final norm when it mean-pools (its
    ``fc_norm`` is part of the head)."""
    patch, tubelet = config.get("patch_size", 16), int(config.get("tubelet_size", 2))
    qv = config.get("qv_bias", config.get("qkv_bias", True))
    mean_pool = bool(config.get("use_mean_pooling", True))
    return patch, tubelet, dict(qkv_bias="qv" if qv else False, class_token=False, pos_embed="sincos",
                                final_norm=not mean_pool)
