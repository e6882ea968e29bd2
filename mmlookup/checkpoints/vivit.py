"""ViViT (Hugging Face ``VivitModel`` / ``VivitForVideoClassification``): what its ``config.json`` fixes.

Its tensors are read by :func:`mmlookup.checkpoints.hf_vit.read_hf` (the key layout of every Hugging Face ViT) and
fitted by :func:`mmlookup.checkpoints.hf_video.hf_video_to_native`.
"""
from __future__ import annotations

from typing import Any, Mapping

#: The config values ``transformers`` assumes when a ViViT ``config.json`` leaves them out.
DEFAULTS = {"hidden_act": "gelu_fast", "num_frames": 32, "layer_norm_eps": 1e-6}


def architecture(config: Mapping[str, Any]) -> tuple[Any, int, dict[str, Any]]:
    """Patch size, tubelet length, and the video ViT arguments particular to ViViT: a CLS token whose position is
    row 0 of one joint learned table, full qkv biases, a final norm. Only square patches are supported."""
    tubelet, p_h, p_w = (int(v) for v in config.get("tubelet_size", (2, 16, 16)))
    if p_h != p_w:
        raise ValueError(f"ViViT tubelet {tubelet}x{p_h}x{p_w}: only square patches are supported")
    return p_h, tubelet, dict(qkv_bias=bool(config.get("qkv_bias", True)), class_token=True,
                              pos_embed="learned_joint", final_norm=True)
