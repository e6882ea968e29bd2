"""COCO Captions readers (``captions_*.json`` and Karpathy's ``dataset_coco.json``) and media loading.

Both readers return :class:`CaptionSample` items: one image (or video clip) with all its reference captions.
Media are loaded by :func:`load_media` into a float ``(C, T, H, W)`` tensor: a still image is ``T = 1``
(the encoders handle it), a video is a clip of ``num_frames`` frames sampled uniformly over the video,
so video captioning runs through exactly the same code.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".gif"})
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KARPATHY_SPLITS = ("train", "restval", "val", "test")


@dataclass(frozen=True)
class CaptionSample:
    """One image or clip and its references.

    Attributes:
        image_id: COCO image id (``cocoid`` in the Karpathy file); the key of the results format.
        path: the media file.
        captions: raw reference captions, in file order.
        split: Karpathy split name, ``None`` for the COCO format.
    """

    image_id: int
    path: Path
    captions: tuple[str, ...]
    split: str | None = None


@dataclass
class CaptionItem:
    """What :class:`CaptionDataset` returns: the media tensor (or ``None`` if it failed to load) and its sample."""

    media: torch.Tensor | None
    sample: CaptionSample


def _load_json(path: str | Path) -> dict:
    return read_json(path, "annotation file")


def read_json(path: str | Path, what: str = "file") -> Any:
    """A JSON file's content; missing or malformed files are one line naming the file (and the line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a JSON text file (binary content)") from None


def read_coco_references(path: str | Path) -> tuple[dict[int, list[str]], list[int]]:
    """References of a COCO captions file: ``({image_id: [captions in annotation order]}, image order)``.

    Images without annotations are left out of both.
    """
    data = _load_json(path)
    if "annotations" not in data:
        raise ValueError(f"{path}: not a COCO captions file (no 'annotations' key; keys: {sorted(data)})")
    refs: dict[int, list[str]] = {}
    for ann in data["annotations"]:
        refs.setdefault(ann["image_id"], []).append(ann["caption"])
    images = data.get("images") or [{"id": k} for k in refs]
    order = [img["id"] for img in images if img["id"] in refs]
    return refs, order


def read_coco_captions(path: str | Path, media_root: str | Path | None = None) -> list[CaptionSample]:
    """Read a COCO captions file (``images[].id/file_name``, ``annotations[].image_id/caption``).

    Args:
        path: the JSON file.
        media_root: folder the ``file_name`` entries are relative to; default: the JSON file's folder.

    Returns:
        One sample per image that has at least one caption, in the file's image order.
    """
    data = _load_json(path)
    for key in ("images", "annotations"):
        if key not in data:
            raise ValueError(f"{path}: not a COCO captions file (missing {key!r}; keys: {sorted(data)})")
    root = Path(media_root) if media_root is not None else Path(path).parent
    refs: dict[int, list[str]] = {}
    for ann in data["annotations"]:
        refs.setdefault(ann["image_id"], []).append(ann["caption"])
    samples = [
        CaptionSample(image_id=img["id"], path=root / img["file_name"], captions=tuple(refs[img["id"]]))
        for img in data["images"]
        if img["id"] in refs
    ]
    if len(samples) < len(data["images"]):
        log.info("%s: %d of %d images have no caption and are skipped", path, len(data["images"]) - len(samples),
                 len(data["images"]))
    return samples


def read_karpathy(
    path: str | Path, splits: Sequence[str], media_root: str | Path | None = None
) -> list[CaptionSample]:
    """Read Karpathy's ``dataset_coco.json`` (``images[].filepath/filename/split/cocoid/sentences[].raw``).

    Args:
        path: the JSON file.
        splits: splits to keep, e.g. ``("train", "restval")`` for training, ``("test",)`` for evaluation.
        media_root: folder holding ``filepath/filename``; default: the JSON file's folder.

    Returns:
        One sample per image of the chosen splits, in file order.
    """
    bad = [s for s in splits if s not in KARPATHY_SPLITS]
    if bad:
        raise ValueError(f"unknown Karpathy split(s) {bad}; valid: {', '.join(KARPATHY_SPLITS)}")
    data = _load_json(path)
    if "images" not in data or (data["images"] and "sentences" not in data["images"][0]):
        raise ValueError(f"{path}: not a Karpathy split file (needs images[].sentences[].raw)")
    root = Path(media_root) if media_root is not None else Path(path).parent
    keep = set(splits)
    return [
        CaptionSample(
            image_id=int(img.get("cocoid", img.get("imgid"))),
            path=root / img.get("filepath", "") / img["filename"],
            captions=tuple(s["raw"] for s in img["sentences"]),
            split=img["split"],
        )
        for img in data["images"]
        if img["split"] in keep and img["sentences"]
    ]


def references_of(samples: Sequence[CaptionSample]) -> dict[int, list[str]]:
    """``{image_id: captions}`` of samples, for the metrics."""
    return {s.image_id: list(s.captions) for s in samples}


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def read_clip(path: str | Path, num_frames: int) -> torch.Tensor:
    """Decode one clip of ``num_frames`` segment-centre frames with the shared decoder: uint8 ``(T, C, H, W)``.

    Raises:
        mmlookup.data.decode.VideoDecodeError: when the video cannot be opened or decoded.
    """
    from mmlookup.data.decode import read_clip as decode_clip
    from mmlookup.data.sampling import segment_indices

    frames = decode_clip(str(path), lambda n: segment_indices(n, num_frames, train=False)[0])
    return frames.permute(0, 3, 1, 2).contiguous()


def read_image(path: str | Path) -> torch.Tensor:
    """Decode an image as RGB uint8 ``(1, C, H, W)`` (a one-frame clip), with the classification pipeline's decoder.

    Raises:
        mmlookup.data.decode.VideoDecodeError: when the image is missing or cannot be decoded.
    """
    from mmlookup.data.decode import read_image as decode_image

    return decode_image(str(path)).permute(0, 3, 1, 2).contiguous()


def make_transform(img_size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Resize the short side, centre-crop, scale to [0, 1] and normalise; input/output ``(T, C, H, W)``.

    No flips: captions name left and right.
    """
    from torchvision.transforms import v2

    return v2.Compose([
        v2.Resize(img_size, antialias=True),
        v2.CenterCrop(img_size),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def load_media(path: str | Path, num_frames: int, transform: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Load an image (``T = 1``) or a video clip (``T = num_frames``) as float ``(C, T, H, W)``."""
    frames = read_clip(path, num_frames) if is_video(path) else read_image(path)
    return transform(frames).permute(1, 0, 2, 3).contiguous()


class CaptionDataset(Dataset[CaptionItem]):
    """Images or clips with their references; a file that fails to load gives ``media=None`` and is counted.

    Args:
        samples: from :func:`read_coco_captions` or :func:`read_karpathy`.
        img_size: square crop size.
        num_frames: frames per clip for videos (images are always one frame).
    """

    def __init__(self, samples: Sequence[CaptionSample], img_size: int = 224, num_frames: int = 8) -> None:
        self.samples = list(samples)
        self.num_frames = num_frames
        self.transform = make_transform(img_size)
        self.failures = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> CaptionItem:
        sample = self.samples[index]
        try:
            media = load_media(sample.path, self.num_frames, self.transform)
        except Exception as err:  # noqa: BLE001 - any decode failure is skipped and counted, never fatal
            self.failures += 1
            log.warning("skipping unreadable media %s: %s", sample.path, err)
            media = None
        return CaptionItem(media=media, sample=sample)
