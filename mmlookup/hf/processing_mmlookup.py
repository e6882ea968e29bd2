"""The video processor of an mmlookup model folder for transformers (``trust_remote_code``).

It reads a video path exactly as ``mmlookup predict`` does (the run's frame sampling, resize, crops, mean and std:
``mmlookup.inference.inputs.read_views``) and returns ``pixel_values`` ``(1, V, C, T, H, W)``.
"""
from __future__ import annotations

from transformers.feature_extraction_utils import BatchFeature
from transformers.video_processing_utils import BaseVideoProcessor

FIELDS = ("num_frames", "img_size", "sampling", "frame_interval", "num_clips", "num_crops", "short_side", "mean",
          "std")


class MmlookupVideoProcessor(BaseVideoProcessor):
    model_input_names = ["pixel_values"]

    def __init__(self, **kwargs) -> None:
        self.data_config = {k: kwargs.pop(k) for k in FIELDS if k in kwargs}
        super().__init__(**kwargs)

    def __call__(self, videos, return_tensors=None, **_) -> BatchFeature:
        import torch

        from mmlookup.inference.inputs import read_views
        from mmlookup.inference.source import Preprocess

        pre = Preprocess(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.data_config.items()})
        paths = [videos] if isinstance(videos, str) else list(videos)
        views = torch.stack([read_views(str(p), pre).video for p in paths])
        return BatchFeature({"pixel_values": views}, tensor_type=return_tensors)
