"""Typed records of the video data pipeline: one annotation entry, one sample, one batch.

These three dataclasses are the contract between the annotation readers, the dataset and the training
engine; nothing in the pipeline passes string-keyed dicts.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class VideoRecord:
    """One annotation entry.

    Attributes:
        path: absolute path of the video file (it may not exist; the dataset then replaces the sample).
        label: class index; ``-1`` when the annotation has no label (K400 test CSV, SSv2 test JSON).
        name: human-readable id for reports (youtube_id, SSv2 id or the path as written in the list).
    """

    path: str
    label: int
    name: str


@dataclass
class ClipSample:
    """What :class:`~mmlookup.data.dataset.VideoClassificationDataset` returns for one index.

    Attributes:
        video: ``(C, T, H, W)`` float, normalised; with several test views ``(V, C, T, H, W)``.
        label: class index (after any flip label swap); ``-1`` when unlabelled.
        index: index of the record actually decoded.
        replaced: 1 when the requested record was unreadable and another record was substituted, else 0.
    """

    video: torch.Tensor
    label: int
    index: int
    replaced: int


@dataclass
class ClipBatch:
    """A collated batch of :class:`ClipSample`.

    Attributes:
        video: ``(B, C, T, H, W)`` or, with test views, ``(B, V, C, T, H, W)``.
        label: ``(B,)`` long.
        index: ``(B,)`` long, the records actually decoded.
        replaced: ``(B,)`` long; its sum over an epoch is the number of unreadable videos met.
    """

    video: torch.Tensor
    label: torch.Tensor
    index: torch.Tensor
    replaced: torch.Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "ClipBatch":
        """Move every tensor to ``device``."""
        return ClipBatch(
            video=self.video.to(device, non_blocking=non_blocking),
            label=self.label.to(device, non_blocking=non_blocking),
            index=self.index.to(device, non_blocking=non_blocking),
            replaced=self.replaced.to(device, non_blocking=non_blocking),
        )

    def pin_memory(self) -> "ClipBatch":
        """Pin every tensor (called by ``DataLoader(pin_memory=True)``)."""
        return ClipBatch(self.video.pin_memory(), self.label.pin_memory(), self.index.pin_memory(),
                         self.replaced.pin_memory())

    def __len__(self) -> int:
        return int(self.label.shape[0])


def collate_clips(samples: list[ClipSample | list[ClipSample]]) -> ClipBatch:
    """Stack samples into a :class:`ClipBatch` (the ``collate_fn`` of every video ``DataLoader``); lists of
    samples (repeated augmentation: several clips of one decoded video) are flattened in order.

    Raises:
        ValueError: on an empty list or on samples whose video shapes differ.
    """
    samples = [s for item in samples for s in (item if isinstance(item, list) else [item])]
    if not samples:
        raise ValueError("collate_clips got no samples")
    shapes = {tuple(s.video.shape) for s in samples}
    if len(shapes) > 1:
        raise ValueError(f"collate_clips: samples have different video shapes {sorted(shapes)}")
    return ClipBatch(
        video=torch.stack([s.video for s in samples]),
        label=torch.tensor([s.label for s in samples], dtype=torch.long),
        index=torch.tensor([s.index for s in samples], dtype=torch.long),
        replaced=torch.tensor([s.replaced for s in samples], dtype=torch.long),
    )
