"""The video classification dataset and its factory, :func:`build_video_dataset`.

A sample is decoded inside ``__getitem__`` (so inside the ``DataLoader`` worker) and never cached. When a
record cannot be decoded, the worker logs a warning once per file, the sample is replaced by another
record (chosen deterministically from ``seed``, the index and the attempt) and carries ``replaced=1``; the
training engine sums ``ClipBatch.replaced`` over the epoch and reports it.

Repeated augmentation (``num_sample > 1``, training only): one decode of a video gives ``num_sample`` clips, each
with its own random start and its own augmentation (VideoMAE fine-tunes with 2). ``__getitem__`` then returns a
list of samples that :func:`~mmlookup.data.records.collate_clips` flattens, so a loader batch of ``B`` indices
holds ``B * num_sample`` clips; decoding, the dominant cost, is paid once per video.
"""
from __future__ import annotations

import logging
import os
import random

from torch.utils.data import Dataset

from mmlookup.data.annotations import FORMATS, read_annotations
from mmlookup.data.decode import BACKENDS, VideoDecodeError, read_frames
from mmlookup.data.records import ClipSample, VideoRecord
from mmlookup.data.sampling import SAMPLINGS, sample_indices
from mmlookup.data.transforms import IMAGENET_MEAN, IMAGENET_STD, ClipTransform, ClipTransformCfg, flip_label_map

logger = logging.getLogger(__name__)

MAX_REPLACEMENTS = 20


class VideoClassificationDataset(Dataset):
    """Clips of videos with class labels.

    Attributes:
        records: the annotation entries, in file order.
        classes: class names; ``label`` indexes this list.
        num_classes: ``len(classes)``.
        num_views: views per sample (``num_clips * num_crops`` in testing, 1 in training).
        num_sample: clips drawn per decoded video in training (repeated augmentation; 1 in testing).
    """

    def __init__(self, records: list[VideoRecord], classes: list[str], *, train: bool, num_frames: int = 16,
                 frame_interval: int = 4, sampling: str = "dense", num_clips: int = 1,
                 transform: ClipTransform, seed: int = 0, num_sample: int = 1, decoder: str = "decord",
                 decode_short_side: int = 0) -> None:
        if sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {sampling!r}; valid: {', '.join(SAMPLINGS)}")
        if decoder not in BACKENDS:
            raise ValueError(f"unknown video decoder {decoder!r}; valid: {', '.join(BACKENDS)}")
        if num_sample < 1:
            raise ValueError(f"num_sample must be >= 1, got {num_sample}")
        if not records:
            raise ValueError("the dataset has no records")
        self.records = records
        self.classes = classes
        self.num_classes = len(classes)
        self.train = train
        self.num_frames = num_frames
        self.frame_interval = frame_interval
        self.sampling = sampling
        self.num_clips = 1 if train else num_clips
        self.transform = transform
        self.num_views = 1 if train else self.num_clips * transform.cfg.num_crops
        self.seed = seed
        self.num_sample = num_sample if train else 1
        self.decoder, self.decode_short_side = decoder, int(decode_short_side)
        self._logged: set[str] = set()  # per process: each worker warns once per bad file

    def __len__(self) -> int:
        return len(self.records)

    def _choose(self, n: int):
        if self.num_sample > 1:  # independent random starts, one decode
            import numpy as np

            return np.concatenate([self._choose_one(n) for _ in range(self.num_sample)])
        return self._choose_one(n)

    def _choose_one(self, n: int):
        return sample_indices(self.sampling, n, self.num_frames, self.frame_interval, train=self.train,
                              num_clips=self.num_clips)

    def read(self, index: int):
        """The sampled frames of record ``index``, ``(V, T, H, W, 3)`` uint8 (decoded here; a cache overrides it).

        Raises:
            VideoDecodeError: when the video (or image) cannot be decoded.
        """
        return read_frames(self.records[index].path, self._choose, backend=self.decoder,
                           short_side=self.decode_short_side)

    def load(self, index: int) -> ClipSample | list[ClipSample]:
        """Decode and transform record ``index`` (no replacement); a list of ``num_sample`` samples when > 1.

        Raises:
            VideoDecodeError: when the video (or image) cannot be decoded.
        """
        record = self.records[index]
        frames = self.read(index)  # (V, T, H, W, 3); an image is one frame
        if self.num_sample > 1:
            samples = []
            for clip in frames:  # each clip its own augmentation
                video, label = self.transform(clip[None], record.label)
                samples.append(ClipSample(video=video[0], label=label, index=index, replaced=0))
            return samples
        video, label = self.transform(frames, record.label)
        if self.num_views == 1:
            video = video[0]
        return ClipSample(video=video, label=label, index=index, replaced=0)

    def __getitem__(self, index: int) -> ClipSample | list[ClipSample]:
        current = index
        for attempt in range(MAX_REPLACEMENTS + 1):
            try:
                sample = self.load(current)
            except VideoDecodeError as err:
                if err.path not in self._logged:
                    self._logged.add(err.path)
                    logger.warning("unreadable video %s (%s): %s; using another sample",
                                   self.records[current].name, err.path, err.reason)
                current = self._replacement(index, attempt)
                continue
            for s in sample if isinstance(sample, list) else [sample]:
                s.replaced = int(attempt > 0)
            return sample
        raise RuntimeError(f"{MAX_REPLACEMENTS + 1} videos in a row were unreadable (starting at record "
                           f"{index}); run `mmlookup data scan` on the annotation file")

    def _replacement(self, index: int, attempt: int) -> int:
        """A deterministic other index for ``index`` after ``attempt + 1`` failures."""
        if len(self.records) == 1:
            return index
        rng = random.Random(f"{self.seed}:{index}:{attempt}")
        other = rng.randrange(len(self.records) - 1)
        return other + (other >= index)


def build_video_dataset(
    format: str,
    annotations: str,
    root: str,
    *,
    train: bool,
    num_frames: int = 16,
    frame_interval: int = 4,
    sampling: str = "dense",
    num_clips: int = 1,
    num_crops: int = 1,
    crop_size: int = 224,
    short_side: int = 256,
    labels_file: str | None = None,
    class_list: list[str] | None = None,
    flip: bool | None = None,
    flip_swap_by_name: bool = False,
    randaugment: bool = False,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    seed: int = 0,
    rrc_scale: tuple[float, float] = (0.08, 1.0),
    randaugment_ops: int = 4,
    randaugment_magnitude: float = 7.0,
    num_sample: int = 1,
    decoder: str = "decord",
    decode_short_side: int = 0,
) -> VideoClassificationDataset:
    """Read an annotation file and build the dataset with its sampler and transforms.

    Args:
        format: ``"k400"`` (official CSV), ``"ssv2"`` (official JSON), ``"list"`` (``path label``),
            ``"folder"`` (folder per class), ``"imagenet"`` (images; class folders or a flat val folder with
            ``LOC_val_solution.csv``) or ``"auto"`` (detected from the file).
        annotations: the annotation file, or the root folder for ``"folder"``. A relative path that does
            not exist is looked up under ``root``.
        root: folder the video paths are relative to (searched recursively for K400 / SSv2 ids).
        train: training sampling and augmentation (one view) instead of the test protocol.
        num_frames: frames per clip.
        frame_interval: step between frames for dense sampling.
        sampling: ``"dense"`` (K400 style) or ``"segment"`` (SSv2 style).
        num_clips: test-time temporal views.
        num_crops: test-time spatial views (1 centre crop or 3 crops).
        crop_size: output height and width.
        short_side: test-time short-side resize before cropping.
        labels_file: class names file (text, JSON list, or SSv2 ``labels.json``).
        class_list: class names (overrides ``labels_file``).
        flip: random horizontal flip in training; ``None`` = on, except for ``"ssv2"`` (direction classes).
        flip_swap_by_name: when flipping, swap left/right (and clockwise/counterclockwise) classes by name.
        randaugment: RandAugment, the same for every frame of a clip.
        mean: normalisation mean (RGB, 0..1 scale).
        std: normalisation std.
        seed: seed of the replacement choice for unreadable videos.
        rrc_scale: area fraction range of the training random resized crop.
        randaugment_ops: RandAugment ops per clip (n).
        randaugment_magnitude: RandAugment magnitude (m) on timm's 0-10 scale.
        num_sample: training clips per decoded video (repeated augmentation; see the module docstring).
        decoder: ``"decord"`` (default) or ``"torchcodec"`` (optional; see :mod:`mmlookup.data.decode`).
        decode_short_side: > 0: decord scales frames to this short side while decoding (training only: the
            test protocol resizes to ``short_side`` itself).

    Raises:
        ValueError: on an unknown format or sampling (listing the valid ones) or bad annotations.
    """
    if format not in FORMATS + ("auto",):
        raise ValueError(f"unknown dataset format {format!r}; valid formats: {', '.join(FORMATS)} (or 'auto')")
    if not os.path.exists(annotations) and not os.path.isabs(annotations):
        annotations = os.path.join(root, annotations)
    if not os.path.exists(annotations):
        raise FileNotFoundError(f"annotation file {annotations!r} does not exist")
    if labels_file and not os.path.exists(labels_file) and not os.path.isabs(labels_file):
        labels_file = os.path.join(root, labels_file)
    ann = read_annotations(format, annotations, root, class_list=class_list, labels_file=labels_file)
    if flip is None:
        flip = format != "ssv2"
    mirror_pairs = flip_label_map(ann.classes)
    flip_map = mirror_pairs if flip_swap_by_name else {}
    if train and flip and mirror_pairs and not flip_swap_by_name:
        logger.warning("horizontal flip is on, %d classes have mirror-image partners (left/right, clockwise) and "
                       "flip_swap_by_name is off: flipped clips keep labels that no longer match them",
                       len(mirror_pairs))
    cfg = ClipTransformCfg(train=train, crop_size=crop_size, short_side=short_side,
                           num_crops=1 if train else num_crops, flip=flip, randaugment=randaugment,
                           rrc_scale=tuple(rrc_scale), mean=tuple(mean), std=tuple(std),
                           randaugment_ops=randaugment_ops, randaugment_magnitude=randaugment_magnitude)
    return VideoClassificationDataset(ann.records, ann.classes, train=train, num_frames=num_frames,
                                      frame_interval=frame_interval, sampling=sampling, num_clips=num_clips,
                                      transform=ClipTransform(cfg, flip_map), seed=seed, num_sample=num_sample,
                                      decoder=decoder, decode_short_side=decode_short_side if train else 0)
