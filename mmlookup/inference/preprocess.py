"""Preprocessing for tensor users: a model's data config and the transform evaluation applies.

    import mmlookup
    cfg = mmlookup.data_config("runs/demo/lookupvit")      # or a VideoClassifier, a Predictor, a model folder
    transform = mmlookup.create_transform(cfg)              # decoded uint8 frames -> normalised views
    views = transform(frames)                               # (T, H, W, 3) or (V, T, H, W, 3) -> (V', 3, T, h, w)
    logits = model(views)                                   # (V', K)

As timm's ``resolve_data_config`` + ``create_transform`` and transformers' image processors: the transform is
:class:`~mmlookup.data.transforms.ClipTransform` in test mode (short-side resize, ``num_crops`` crops, ``/ 255``,
the model's mean and std), exactly what evaluation and :class:`~mmlookup.inference.Predictor` feed the model.
Which frames to decode is the config's ``sampling`` / ``frame_interval`` (:func:`mmlookup.data.sampling.
sample_indices`); the transform takes frames already chosen.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from mmlookup.inference.source import Preprocess


def data_config(model: Any) -> dict[str, Any]:
    """The input a model expects, as a plain dict.

    ``model`` is a path (run, checkpoint, model or Hugging Face folder: its recipe's test protocol), a
    :class:`~mmlookup.inference.Predictor`, a :class:`~mmlookup.models.VideoClassifier` or encoder (its clip
    geometry; ImageNet mean / std, the recipes' default), or a dict this function returned.

    Keys: ``input_size`` ``(3, T, H, W)``, ``num_frames``, ``img_size``, ``short_side`` (the test resize),
    ``mean``, ``std`` (applied after ``/ 255``), ``sampling``, ``frame_interval``, ``num_clips``, ``num_crops``.
    """
    if isinstance(model, dict):
        pre = Preprocess(**{k: v for k, v in model.items() if k != "input_size"})
    elif isinstance(model, (str, Path)):
        from mmlookup.inference.source import load_for_inference

        pre = load_for_inference(model).preprocess
    elif hasattr(model, "loaded") and hasattr(model.loaded, "preprocess"):       # a Predictor
        pre = model.loaded.preprocess
    elif isinstance(model, torch.nn.Module):
        encoder = getattr(model, "encoder", model)
        if not hasattr(encoder, "num_frames") or not hasattr(encoder, "img_size"):
            raise ValueError(f"{type(model).__name__} has no clip geometry (num_frames, img_size); pass a "
                             "classifier or encoder built by mmlookup, or its folder")
        size = encoder.img_size
        pre = Preprocess(num_frames=int(encoder.num_frames),
                         img_size=int(size[0] if isinstance(size, (tuple, list)) else size))
    else:
        raise TypeError(f"data_config takes a path, a Predictor, a classifier or encoder, or a dict; got "
                        f"{type(model).__name__}")
    cfg = asdict(pre)
    cfg["mean"], cfg["std"] = tuple(cfg["mean"]), tuple(cfg["std"])
    return {"input_size": (3, pre.num_frames, pre.img_size, pre.img_size), **cfg}


class VideoTransform:
    """Decoded frames → the model's normalised views, exactly as evaluation (test mode of ``ClipTransform``).

    ``__call__(frames)``: ``uint8`` frames ``(T, H, W, 3)`` (one clip) or ``(V, T, H, W, 3)`` (``V`` temporal
    clips) → float views ``(V · num_crops, 3, T, img_size, img_size)``.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        from mmlookup.data.transforms import ClipTransform, ClipTransformCfg

        self.config = config
        self._transform = ClipTransform(ClipTransformCfg(
            train=False, crop_size=int(config["img_size"]), short_side=int(config["short_side"]),
            num_crops=int(config["num_crops"]), mean=tuple(config["mean"]), std=tuple(config["std"])))

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        frames = torch.as_tensor(frames)
        if frames.ndim == 4:
            frames = frames[None]
        if frames.ndim != 5 or frames.shape[-1] != 3:
            raise ValueError(f"expected decoded frames (T, H, W, 3) or (V, T, H, W, 3), got {tuple(frames.shape)}")
        if frames.dtype != torch.uint8:
            raise ValueError(f"expected uint8 frames (0-255, as decoders return them), got {frames.dtype}")
        return self._transform(frames, 0)[0]

    def __repr__(self) -> str:
        c = self.config
        return (f"VideoTransform(resize short side {c['short_side']}, {c['num_crops']} crop(s) of {c['img_size']}, "
                f"/255, mean {tuple(c['mean'])}, std {tuple(c['std'])})")


def create_transform(model: Any) -> VideoTransform:
    """The evaluation transform of ``model`` (anything :func:`data_config` takes, or its dict)."""
    return VideoTransform(data_config(model))


def check_clips(clips: Any, num_frames: int, img_size: int) -> torch.Tensor:
    """``clips`` as normalised float clips ``(B, C, T, H, W)`` or views ``(B, V, C, T, H, W)`` for a model of
    ``num_frames`` frames at ``img_size``; anything else is a one-line ``ValueError`` that says what to do.

    Tensors are used as given: they must already be normalised (:func:`create_transform` does it); ``uint8`` and
    integer tensors are refused rather than guessed at. Floating dtypes other than the model's are cast.
    """
    want = f"(B, 3, {num_frames}, {img_size}, {img_size})"
    if not isinstance(clips, torch.Tensor):
        raise ValueError(f"expected a tensor {want}, got {type(clips).__name__}")
    shape = tuple(clips.shape)
    if clips.ndim not in (5, 6):
        raise ValueError(f"expected clips {want} or views (B, V, 3, T, H, W), got rank {clips.ndim} {shape}")
    if clips.shape[0] == 0 or clips.numel() == 0:
        raise ValueError(f"empty batch {shape}: give at least one clip {want}")
    c, t, h, w = shape[-4:]
    if c != 3:
        hint = " (channels last? use clips.permute(0, 4, 1, 2, 3) for (B, T, H, W, C))" if w == 3 else ""
        raise ValueError(f"expected 3 channels at axis -4 {want}, got {shape}{hint}")
    if t != num_frames:
        raise ValueError(f"this model takes {num_frames} frames per clip, got {t} {shape} (sample "
                         f"{num_frames} frames: mmlookup.data_config(model)['sampling'])")
    if (h, w) != (img_size, img_size):
        raise ValueError(f"this model takes {img_size}x{img_size} frames, got {h}x{w} {shape} (resize and crop with "
                         "mmlookup.create_transform(model))")
    if clips.dtype == torch.uint8 or not clips.is_floating_point():
        raise ValueError(f"clips are {clips.dtype}; the Predictor does not normalise tensors: turn decoded uint8 "
                         "frames into model input with mmlookup.create_transform(model)")
    if not bool(torch.isfinite(clips).all()):
        raise ValueError(f"clips {shape} contain NaN or inf values")
    peak = float(clips.abs().max())
    if peak > 25.0:
        raise ValueError(f"clips reach |x| = {peak:.1f}; normalised clips stay within a few units: these look like "
                         "raw 0-255 pixels (normalise with mmlookup.create_transform(model))")
    return clips
