"""Inputs of ``mmlookup predict``: which files, and each file as the model's test views.

INPUT items are video files, image files, folders (searched recursively) and text files listing paths (``.txt``,
``.lst``, ``.list``: one path per line, ``#`` comments; relative paths are taken from the list's folder when they
are not found from the current one). Nothing is dropped silently: a missing path, a file that is neither image nor
video, an unreadable file each become an :class:`InputItem` with a ``problem`` that the caller reports and counts.

Reading follows the evaluation protocol (:mod:`mmlookup.data.sampling`, :class:`~mmlookup.data.transforms.
ClipTransform` in test mode): ``num_clips`` temporal views × ``num_crops`` spatial crops after a short-side
resize. An image is a still clip (its frame repeated over the clip, as the datasets read images). Two inputs are
used but flagged with a note: an image with an alpha channel (composited on white, not silently dropped) and a
video of a single frame (a still).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from mmlookup.data.coco import VIDEO_SUFFIXES
from mmlookup.inference.source import Preprocess

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})


class InputError(ValueError):
    """One input cannot be used; ``reason`` says why in a few words."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


@dataclass
class InputItem:
    """One file to predict, or a path already known to be unusable (``problem``)."""

    path: str
    problem: str | None = None


@dataclass
class Views:
    """A file read as model input: ``video (V, C, T, H, W)`` and notes about how it was read."""

    video: torch.Tensor
    notes: list[str] = field(default_factory=list)
    frames: int = 0                      # frames in the file (1 for an image)


def is_media(path: str | Path) -> bool:
    suffix = Path(path).suffix.lower()
    return suffix in IMAGE_SUFFIXES or suffix in VIDEO_SUFFIXES


def expand_inputs(items: Iterable[str | Path]) -> list[InputItem]:
    """Files, folders (recursive, sorted) and list files → one :class:`InputItem` per file, in order."""
    out: list[InputItem] = []
    for item in items:
        _expand(Path(item), out, depth=0)
    return out


def _expand(p: Path, out: list[InputItem], depth: int) -> None:
    if not p.exists():
        out.append(InputItem(str(p), "missing file"))
    elif p.is_dir():
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            out.append(InputItem(str(f)) if is_media(f) else InputItem(str(f), _unsupported(f)))
    elif is_media(p):
        out.append(InputItem(str(p)))
    elif p.suffix.lower() in LIST_SUFFIXES and depth == 0:
        for line in _list_lines(p):
            q = Path(line)
            if not q.is_absolute() and not q.exists():
                q = p.parent / q
            _expand(q, out, depth + 1)
    else:
        out.append(InputItem(str(p), _unsupported(p)))


def _unsupported(p: Path) -> str:
    return f"not an image or video ({p.suffix or 'no suffix'}); videos: {' '.join(sorted(VIDEO_SUFFIXES))}; " \
           f"images: {' '.join(sorted(IMAGE_SUFFIXES))}"


def _list_lines(p: Path) -> list[str]:
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{p}: cannot read the list of paths ({err})") from None
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]


def read_views(path: str, pre: Preprocess) -> Views:
    """Read ``path`` as ``pre.num_clips × pre.num_crops`` normalised views ``(V, C, T, H, W)``.

    Raises:
        InputError: a missing, empty, unreadable or undecodable file (with the reason).
    """
    from mmlookup.data.decode import VideoDecodeError, read_clip
    from mmlookup.data.sampling import sample_indices
    from mmlookup.data.transforms import ClipTransform, ClipTransformCfg

    if not os.path.isfile(path):
        raise InputError(path, "missing file")
    if os.path.getsize(path) == 0:
        raise InputError(path, "empty file (0 bytes)")
    counted: list[int] = []

    def choose(n: int) -> np.ndarray:
        counted.append(n)
        return sample_indices(pre.sampling, n, pre.num_frames, pre.frame_interval, train=False,
                              num_clips=pre.num_clips)

    notes: list[str] = []
    try:
        if Path(path).suffix.lower() in IMAGE_SUFFIXES:
            still = _read_still(path, notes)
            idx = torch.as_tensor(choose(1))
            frames = still[idx.reshape(-1)].reshape(*idx.shape, *still.shape[1:])
        else:
            frames = read_clip(path, choose)                                   # (V, T, H, W, 3)
            if counted and counted[0] == 1:
                notes.append(f"a video of 1 frame: predicted as a still (the frame repeated {pre.num_frames} times)")
        cfg = ClipTransformCfg(train=False, crop_size=pre.img_size, short_side=pre.short_side,
                               num_crops=pre.num_crops, mean=tuple(pre.mean), std=tuple(pre.std))
        video, _ = ClipTransform(cfg)(frames, 0)
    except InputError:
        raise
    except VideoDecodeError as err:
        raise InputError(path, err.reason) from None
    except Exception as err:  # noqa: BLE001 - any other failure on one file is that file's problem, not a crash
        raise InputError(path, f"cannot read ({type(err).__name__}: {' '.join(str(err).split())[:160]})") from None
    return Views(video, notes, counted[0] if counted else 0)


def _read_still(path: str, notes: list[str]) -> torch.Tensor:
    """An image as RGB uint8 ``(1, H, W, 3)``; transparency is composited on white (and noted)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
            if alpha:
                rgba = img.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                rgb = Image.alpha_composite(background, rgba).convert("RGB")
                notes.append(f"image with an alpha channel ({img.mode}): transparent pixels composited on white")
            else:
                rgb = img.convert("RGB")
            array = np.asarray(rgb)
    except Exception as err:  # noqa: BLE001 - PIL raises UnidentifiedImageError / OSError (truncated) / ...
        raise InputError(path, f"cannot decode image ({type(err).__name__}: {' '.join(str(err).split())[:120]})") \
            from None
    return torch.from_numpy(array.copy()).unsqueeze(0)
