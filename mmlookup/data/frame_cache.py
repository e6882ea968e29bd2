"""Decode a dataset once into a uint8 array on disk, then sample and augment clips from it.

For short clips trained many epochs (the accuracy benchmark), decoding costs as much as the model; every video is
read once through the dataset's own reader (decord, or the image reader) into ``(N, F, H, W, 3)`` uint8 in a
``.npy`` file, memory-mapped by each run (the page cache is shared by runs in parallel). Clip sampling,
augmentation and normalisation stay those of the wrapped dataset, so a sample differs from the uncached one only
in where the frames come from.

The file is written under a temporary name and renamed when complete; :func:`cache_frames` reuses a complete file
whose record list (a digest stored beside it) matches. :func:`cache_path` names a file by that digest, so datasets
with different records never share one.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from mmlookup.data.dataset import VideoClassificationDataset
from mmlookup.data.decode import read_frames

__all__ = ["CachedVideoDataset", "cache_frames", "cache_path", "cached", "subset"]


def _digest(dataset: VideoClassificationDataset) -> str:
    h = hashlib.sha256()
    for r in dataset.records:
        h.update(f"{r.path}\t{r.label}\n".encode())
    return h.hexdigest()[:16]


def cache_path(dataset: VideoClassificationDataset, folder: str | Path, name: str) -> Path:
    """``folder/<name>_<digest of the records>.npy``."""
    return Path(folder) / f"{name}_{_digest(dataset)}.npy"


def cache_frames(dataset: VideoClassificationDataset, path: str | Path, *, progress: bool = True,
                 threads: int = 2) -> Path:
    """Decode every record of ``dataset`` completely (all frames, full size) into ``path`` (``.npy``), ``threads``
    videos at a time.

    Raises:
        ValueError: when the videos differ in frame count or size (one array holds them all).
        VideoDecodeError: when a video cannot be decoded (a benchmark must not train on substitutes).
    """
    from tqdm import tqdm

    path = Path(path)
    stamp = path.with_suffix(".records")
    digest = _digest(dataset)
    if path.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial.npy")
    out = None
    every = lambda n: np.arange(n)[None]  # noqa: E731  one view of every frame
    decode = lambda r: read_frames(r.path, every, backend=dataset.decoder)[0].numpy()  # noqa: E731
    with ThreadPoolExecutor(max(1, threads)) as pool:  # the decoders release the GIL
        frames_iter = pool.map(decode, dataset.records)
        for i, (record, frames) in enumerate(tqdm(zip(dataset.records, frames_iter), total=len(dataset),
                                                  desc=f"decoding {path.stem}", unit="video", disable=not progress)):
            if out is None:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(dataset), *frames.shape))
            if frames.shape != out.shape[1:]:
                raise ValueError(f"{record.path}: frames {frames.shape} differ from the first video's "
                                 f"{out.shape[1:]}; the frame cache needs videos of one length and size")
            out[i] = frames
    assert out is not None  # a dataset has records
    out.flush()
    del out
    os.replace(tmp, path)
    stamp.write_text(digest)
    return path


class CachedVideoDataset(VideoClassificationDataset):
    """``dataset`` with its frames read from a :func:`cache_frames` array instead of the video files."""

    def __init__(self, dataset: VideoClassificationDataset, frames: np.ndarray) -> None:
        super().__init__(dataset.records, dataset.classes, train=dataset.train, num_frames=dataset.num_frames,
                         frame_interval=dataset.frame_interval, sampling=dataset.sampling,
                         num_clips=dataset.num_clips, transform=dataset.transform, seed=dataset.seed,
                         num_sample=dataset.num_sample, decoder=dataset.decoder,
                         decode_short_side=dataset.decode_short_side)
        if len(frames) != len(dataset.records):
            raise ValueError(f"the frame cache holds {len(frames)} videos, the dataset {len(dataset.records)}")
        self.frames = frames

    def read(self, index: int) -> torch.Tensor:
        video = torch.from_numpy(np.array(self.frames[index]))  # (F, H, W, 3), copied out of the memory map
        indices = torch.as_tensor(np.asarray(self._choose(video.shape[0]), dtype=np.int64))
        return video[indices.reshape(-1)].reshape(*indices.shape, *video.shape[1:])


def cached(dataset: VideoClassificationDataset, path: str | Path, *, progress: bool = True) -> CachedVideoDataset:
    """``dataset`` served from the frame cache at ``path`` (written first when absent or stale)."""
    return CachedVideoDataset(dataset, np.load(cache_frames(dataset, path, progress=progress), mmap_mode="r"))


class _Rows:
    """Rows ``index`` of an array, read lazily (a memory map stays a memory map)."""

    def __init__(self, frames: np.ndarray, index: list[int]) -> None:
        self.frames, self.index = frames, list(index)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.frames[self.index[i]]


def subset(dataset: CachedVideoDataset, index: list[int]) -> CachedVideoDataset:
    """The records ``index`` of a cached dataset (same classes, sampling and transform), e.g. a held-out part."""
    import copy

    out = copy.copy(dataset)
    out.records = [dataset.records[i] for i in index]
    out.frames = _Rows(dataset.frames, index)
    out._logged = set()
    return out
