"""The accuracy-benchmark task "motion16": 16 video classes, half appearance and half temporal order, and its image
variant (8 shape x texture classes). Colour is never the answer: every clip draws it at random.

Video classes (8 frames; one shape of a random colour on a random textured background)::

    appearance (6)   solid / striped  x  square / triangle / star; the shape stays in place with a small jitter
    temporal  (10)   moving left / moving right            (horizontal direction)
                     approaching / receding                (grows / shrinks)
                     rotating clockwise / counterclockwise
                     appearing / disappearing              (order of events: shown from or until a random frame)
                     moving slowly / moving fast           (vertical, up or down at random: speed)

Each temporal pair is one clip and the same clip played backwards (:func:`~mmlookup.data.render.reversed_spec`):
the two classes draw exactly the same frames, so no single frame can tell them apart. The temporal classes draw
shape and fill like the appearance classes, so the shape says nothing about them either. The speed pair is not a
reversal: slow moves 8-16 % of the frame, fast 40-55 %, both up or down.

Image classes (one 64x64 JPEG each): solid / striped x square / triangle / star / cross, random colour, size,
position, rotation and background.

Layout written by :func:`generate_motion16` (``OUT`` the output folder; atomic: written into a temporary sibling
and moved into place, then :data:`~mmlookup.data.synthetic.COMPLETE_MARKER` is written)::

    OUT/k400/train.csv, validate.csv, classes.txt, videos/<label>/<id>_<start>_<end>.mp4   (K400 layout)
    OUT/imagenet/train/<wnid>/*.JPEG, val/ILSVRC2012_val_*.JPEG, LOC_val_solution.csv,
                 LOC_synset_mapping.txt                                                    (ImageNet layouts)

Default sizes (:class:`Motion16Sizes`): 192 train + 64 val clips per class (3,072 + 1,024) of 8 frames x 64x64,
384 + 128 images per class (3,072 + 1,024) of 64x64. Everything is a function of ``seed``.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from mmlookup.data.render import COLOURS, FILLS, SHAPES, ClipSpec, reversed_spec
from mmlookup.data.synthetic import (
    COMPLETE_MARKER,
    _move_into_place,
    _write_all,
    write_imagenet_layout,
    write_k400_layout,
)

__all__ = ["IMAGE_CLASSES", "IMAGE_WNIDS", "VIDEO_CLASSES", "Motion16Sizes", "draw_clip", "draw_image",
           "generate_motion16", "motion16_complete"]

APPEARANCE_SHAPES: tuple[str, ...] = ("square", "triangle", "star")
#: Temporal classes that are the backward playback of another class (the second of each pair).
REVERSED: dict[str, str] = {"moving left": "moving right", "receding": "approaching",
                            "rotating counterclockwise": "rotating clockwise", "disappearing": "appearing"}
APPEARANCE_CLASSES: tuple[str, ...] = tuple(f"{fill} {shape}" for shape in APPEARANCE_SHAPES for fill in FILLS)
TEMPORAL_CLASSES: tuple[str, ...] = ("moving right", "moving left", "approaching", "receding", "rotating clockwise",
                                     "rotating counterclockwise", "appearing", "disappearing", "moving slowly",
                                     "moving fast")
VIDEO_CLASSES: tuple[str, ...] = APPEARANCE_CLASSES + TEMPORAL_CLASSES
IMAGE_CLASSES: tuple[str, ...] = tuple(f"{fill} {shape}" for shape in SHAPES for fill in FILLS)
#: Made-up wnids (``n8`` + 7 digits, no real synset) of the image classes, in class order.
IMAGE_WNIDS: dict[str, str] = {name: f"n8{i + 1:07d}" for i, name in enumerate(IMAGE_CLASSES)}
_PARTS = ("k400", "imagenet")


@dataclass(frozen=True)
class Motion16Sizes:
    """How much to generate; :meth:`quick` is the CI / test size."""

    train_per_class: int = 192
    val_per_class: int = 64
    frames: int = 8
    size: int = 64
    fps: int = 8
    image_train_per_class: int = 384
    image_val_per_class: int = 128
    image_size: int = 64

    @classmethod
    def quick(cls) -> "Motion16Sizes":
        """A few clips per class: seconds to write (pipeline checks, not a ranking)."""
        return cls(train_per_class=12, val_per_class=4, image_train_per_class=8, image_val_per_class=4)

    def validate(self) -> None:
        """Raises ValueError naming the bad field."""
        for name in ("size", "image_size"):
            if getattr(self, name) < 16 or getattr(self, name) % 2:
                raise ValueError(f"{name} must be even and >= 16 (yuv420p), got {getattr(self, name)}")
        if self.frames < 4:
            raise ValueError(f"frames must be >= 4 (temporal classes need an order), got {self.frames}")
        for name in ("train_per_class", "val_per_class", "image_train_per_class", "image_val_per_class", "fps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def _base(rng: np.random.Generator, path: str, frames: int, size: int, fps: int) -> ClipSpec:
    """A shape in place (random shape, fill, colour, size, position, angle, background) with a small jitter."""
    shape = APPEARANCE_SHAPES[rng.integers(len(APPEARANCE_SHAPES))]
    fill = FILLS[rng.integers(len(FILLS))]
    colour = list(COLOURS)[rng.integers(len(COLOURS))]
    x, y, r = float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.14, 0.22))
    a = float(rng.uniform(0, 2 * np.pi))
    jitter = lambda c, s: tuple(float(v) for v in c + rng.normal(0.0, s, frames))  # noqa: E731
    return ClipSpec(path=path, motion="still", shape=shape, colour=colour, height=size, width=size, frames=frames,
                    fps=fps, seed=int(rng.integers(2**31)), cx=jitter(x, 0.01), cy=jitter(y, 0.01), radius=(r, r),
                    angle=jitter(a, 0.03), fill=fill)


def draw_clip(rng: np.random.Generator, label: str, path: str, *, frames: int = 8, size: int = 64,
              fps: int = 8) -> ClipSpec:
    """Draw one clip of class ``label`` (one of :data:`VIDEO_CLASSES`).

    The two classes of a reversed pair (:data:`REVERSED`) make the same draws, so with the same ``rng`` state the
    second class's clip is exactly the first's played backwards.

    Raises:
        ValueError: on an unknown label.
    """
    if label not in VIDEO_CLASSES:
        raise ValueError(f"unknown motion16 class {label!r}; valid: {', '.join(VIDEO_CLASSES)}")
    forward = REVERSED.get(label, label)
    spec = replace(_base(rng, path, frames, size, fps), motion=forward.replace(" ", "_"))
    if forward in APPEARANCE_CLASSES:
        fill, shape = forward.split(" ")
        spec = replace(spec, shape=shape, fill=fill)
    elif forward == "moving right":
        lo, hi = float(rng.uniform(0.2, 0.35)), float(rng.uniform(0.65, 0.8))
        spec = replace(spec, cx=(lo, hi))
    elif forward == "approaching":
        spec = replace(spec, radius=(float(rng.uniform(0.07, 0.11)), float(rng.uniform(0.24, 0.3))))
    elif forward == "rotating clockwise":
        a = spec.angle[0]
        spec = replace(spec, angle=(a, a + float(rng.uniform(0.5, 1.0)) * np.pi))
    elif forward == "appearing":
        spec = replace(spec, visible=(float(rng.uniform(0.3, 0.7)), 1.0))
    elif forward in ("moving slowly", "moving fast"):
        lo, hi = (0.08, 0.16) if forward == "moving slowly" else (0.4, 0.55)
        step = float(rng.uniform(lo, hi)) * (1 if rng.integers(2) else -1)
        start = float(np.clip(0.5 - step / 2 + rng.uniform(-0.1, 0.1), 0.2, 0.8))
        spec = replace(spec, cy=(start, start + step))
    if label != forward:
        spec = replace(reversed_spec(spec, path), motion=label.replace(" ", "_"))
    return spec


def draw_image(rng: np.random.Generator, label: str, path: str, *, size: int = 64) -> ClipSpec:
    """Draw one still of class ``label`` (one of :data:`IMAGE_CLASSES`: ``<fill> <shape>``).

    Raises:
        ValueError: on an unknown label.
    """
    if label not in IMAGE_CLASSES:
        raise ValueError(f"unknown motion16 image class {label!r}; valid: {', '.join(IMAGE_CLASSES)}")
    fill, shape = label.split(" ")
    colour = list(COLOURS)[rng.integers(len(COLOURS))]
    x, y, r = float(rng.uniform(0.25, 0.75)), float(rng.uniform(0.25, 0.75)), float(rng.uniform(0.14, 0.24))
    a = float(rng.uniform(0, 2 * np.pi))
    return ClipSpec(path=path, motion="still", shape=shape, colour=colour, height=size, width=size, frames=1, fps=1,
                    seed=int(rng.integers(2**31)), cx=(x, x), cy=(y, y), radius=(r, r), angle=(a, a), fill=fill)


def motion16_complete(out_dir: str | Path, seed: int, sizes: Motion16Sizes) -> bool:
    """Whether ``out_dir`` holds a finished generation with this ``seed`` and ``sizes``."""
    marker = Path(out_dir) / COMPLETE_MARKER
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return info.get("task") == "motion16" and info.get("seed") == seed and info.get("sizes") == asdict(sizes)


def generate_motion16(out_dir: str, *, seed: int = 0, sizes: Motion16Sizes | None = None, workers: int | None = None,
                      progress: bool = True) -> Path:
    """Write the motion16 videos and images under ``out_dir`` (layout in the module docstring); returns it.

    Atomic: written into ``.<name>.partial`` beside ``out_dir``, moved into place, then the marker is written.
    """
    sizes = sizes or Motion16Sizes()
    sizes.validate()
    out = os.path.abspath(out_dir)
    tmp = os.path.join(os.path.dirname(out), f".{os.path.basename(out)}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    specs: list[ClipSpec] = []

    def clip(rng: np.random.Generator, c: int, path: str) -> ClipSpec:
        return draw_clip(rng, VIDEO_CLASSES[c], path, frames=sizes.frames, size=sizes.size, fps=sizes.fps)

    def image(rng: np.random.Generator, c: int, path: str) -> ClipSpec:
        return draw_image(rng, IMAGE_CLASSES[c], path, size=sizes.image_size)

    os.makedirs(os.path.join(tmp, "k400"), exist_ok=True)
    write_k400_layout(os.path.join(tmp, "k400"), np.random.default_rng([seed, 16, 1]), list(VIDEO_CLASSES),
                      (sizes.train_per_class, sizes.val_per_class), clip, specs)
    write_imagenet_layout(os.path.join(tmp, "imagenet"), np.random.default_rng([seed, 16, 2]), IMAGE_WNIDS,
                          (sizes.image_train_per_class, sizes.image_val_per_class), image, specs)
    _write_all(specs, workers, progress)
    _move_into_place(tmp, out, _PARTS, {"task": "motion16", "seed": seed, "sizes": asdict(sizes),
                                        "files": len(specs)})
    return Path(out)
