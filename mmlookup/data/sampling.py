"""Which frames make a clip: dense (K400 style) and segment (SSv2 style) sampling, with test views.

All functions are pure: they take the video length and return frame indices as an ``(num_views, T)``
integer array (one row per temporal view). Training jitter draws from ``torch``'s global generator, so a
``DataLoader`` worker's seed fixes it.

Short videos. When a video has fewer frames than the clip needs, **dense** sampling loops: the clip's
indices are taken modulo the video length (mmaction2's ``out_of_bound_opt='loop'``), so a 1-frame video
gives ``T`` copies of frame 0. **Segment** sampling needs no special case: with fewer frames than
segments, consecutive segments share frames (indices repeat, in order).
"""
from __future__ import annotations

import numpy as np
import torch

SAMPLINGS: tuple[str, ...] = ("dense", "segment")


def _check(num_frames_video: int, num_frames: int, num_clips: int) -> None:
    if num_frames_video < 1:
        raise ValueError(f"video has {num_frames_video} frames")
    if num_frames < 1 or num_clips < 1:
        raise ValueError(f"num_frames ({num_frames}) and num_clips ({num_clips}) must be >= 1")


def dense_indices(num_frames_video: int, num_frames: int, frame_interval: int, *, train: bool,
                  num_clips: int = 1) -> np.ndarray:
    """Dense clips: ``num_frames`` frames ``frame_interval`` apart.

    Training draws one clip with a uniformly random start. Testing places ``num_clips`` clips evenly:
    one clip is centred; ``K > 1`` clips start at ``floor(k * (n - span) / (K - 1) + 0.5)`` for ``k = 0..K-1``,
    so the first starts at frame 0 and the last ends on the last frame. ``span = (T - 1) * interval + 1``.
    A video shorter than ``span`` loops (indices modulo its length); the clip then starts at 0 in testing
    and at a random frame in training.

    Args:
        num_frames_video: frames in the video (``n``).
        num_frames: frames per clip (``T``).
        frame_interval: step between sampled frames.
        train: random start (one clip) instead of fixed test positions.
        num_clips: test-time temporal views (ignored when ``train``).

    Returns:
        ``(1 if train else num_clips, T)`` int64 frame indices.
    """
    _check(num_frames_video, num_frames, num_clips)
    if frame_interval < 1:
        raise ValueError(f"frame_interval must be >= 1, got {frame_interval}")
    n = num_frames_video
    span = (num_frames - 1) * frame_interval + 1
    offsets = np.arange(num_frames, dtype=np.int64) * frame_interval
    slack = n - span
    if train:
        high = slack + 1 if slack >= 0 else n
        starts = np.array([int(torch.randint(0, high, (1,)))], dtype=np.int64)
    elif slack < 0:
        starts = np.zeros(num_clips, dtype=np.int64)
    elif num_clips == 1:
        starts = np.array([slack // 2], dtype=np.int64)
    else:
        starts = np.floor(np.arange(num_clips) * slack / (num_clips - 1) + 0.5).astype(np.int64)
    return (starts[:, None] + offsets[None, :]) % n


def segment_indices(num_frames_video: int, num_frames: int, *, train: bool, num_clips: int = 1) -> np.ndarray:
    """Segment (TSN) sampling: split the video into ``T`` equal segments and take one frame from each.

    Segment ``i`` covers ``[i * n / T, (i + 1) * n / T)``. Training takes a uniformly random frame in each
    segment (independently). Testing with ``K`` clips takes the frame at relative position
    ``(k + 0.5) / K`` inside every segment, so one clip takes segment centres.

    Returns:
        ``(1 if train else num_clips, T)`` int64 frame indices, non-decreasing within a row.
    """
    _check(num_frames_video, num_frames, num_clips)
    n = num_frames_video
    seg = n / num_frames
    base = np.arange(num_frames, dtype=np.float64) * seg
    if train:
        pos = torch.rand(num_frames, dtype=torch.float64).numpy()[None, :]
    else:
        pos = ((np.arange(num_clips, dtype=np.float64) + 0.5) / num_clips)[:, None]
    idx = np.floor(base[None, :] + pos * seg).astype(np.int64)
    return np.clip(idx, 0, n - 1)


def sample_indices(sampling: str, num_frames_video: int, num_frames: int, frame_interval: int, *, train: bool,
                   num_clips: int = 1) -> np.ndarray:
    """Dispatch to :func:`dense_indices` or :func:`segment_indices` by name.

    Raises:
        ValueError: on an unknown sampling, listing the valid ones.
    """
    if sampling == "dense":
        return dense_indices(num_frames_video, num_frames, frame_interval, train=train, num_clips=num_clips)
    if sampling == "segment":
        return segment_indices(num_frames_video, num_frames, train=train, num_clips=num_clips)
    raise ValueError(f"unknown sampling {sampling!r}; valid: {', '.join(SAMPLINGS)}")
