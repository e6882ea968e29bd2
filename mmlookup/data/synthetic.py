"""The built-in synthetic dataset: real video files of moving shapes, in the K400, SSv2 and COCO layouts.

Every class is defined by motion only: a random shape (square, triangle, star or cross) of a random colour
on a random textured background moves left->right or right->left, up or down, grows or shrinks, or
rotates clockwise or counterclockwise. Shape, colour, background, position and size are drawn from the
same distributions for every class, so a single frame tells nothing about the class; the model has to
compare frames. Captions name colour, shape and motion in several paraphrases.

Layout written by :func:`generate` (``OUT`` is the output folder)::

    OUT/k400/train.csv, validate.csv, classes.txt         official K400 CSV header, youtube-like ids
    OUT/k400/videos/<label_with_underscores>/<id>_<start:06d>_<end:06d>.mp4
    OUT/ssv2/labels.json, train.json, validation.json, videos/<id>.webm
    OUT/coco/captions_train.json, captions_val.json       still images, COCO captions format
    OUT/coco/dataset_coco.json                            Karpathy format (val images split val/test)
    OUT/coco/images/<id>.jpg
    OUT/coco/video_captions_train.json, video_captions_val.json   COCO format, file_name = videos/<id>.mp4
    OUT/coco/videos/<id>.mp4
    OUT/imagenet/train/<wnid>/<wnid>_<k>.JPEG              still images, ImageNet layout: class = the colour
    OUT/imagenet/val/ILSVRC2012_val_<k:08d>.JPEG, LOC_val_solution.csv, LOC_synset_mapping.txt   (flat val)
    OUT/msrvtt/train_val_videodatainfo.json, test_videodatainfo.json   MSR-VTT layout of the same caption clips
    OUT/msrvtt/videos/video<N>.mp4                                     (copies; train+validate = COCO train, test = val)

Defaults (:class:`SynthSizes`): 8 classes; K400 40 train + 12 val clips per class; SSv2 16 + 6 per class;
32 frames of 112x112 at 12 fps (H.264 via PyAV/libx264, GOP 16, CRF 18; VP9 for webm); 160 + 40 caption
clips; 400 + 100 still images; 8 colour classes x (60 + 15) ImageNet-layout stills (1,905 files, ~16 MB).
Videos in COCO ``file_name`` and Karpathy ``filepath/filename`` are relative to ``OUT/coco``.

Use 32-frame clips with at most 29 frames of span (8x4, 16x2 dense, or segment sampling): longer spans
loop. Keep horizontal flip off, or on with ``flip_swap_by_name=True`` (left/right and clockwise/
counterclockwise swap under a mirror).

Atomic: the files are written into a temporary sibling folder and moved into place at the end, then the
marker ``OUT/SYNTHETIC_COMPLETE.json`` is written; :func:`ensure_synthetic` regenerates a set without it, so a
generation that was interrupted is redone rather than used with videos missing.

Determinism: everything is a function of ``seed``; the same seed gives byte-identical annotation files and
identical decoded frames whatever the number of workers (see :mod:`mmlookup.data.encode`). Generation of
the default set takes about 32 s of CPU time (23 s wall on 2 cores).
"""
from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
import shutil
import string
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from mmlookup.data.encode import decord_loaded
from mmlookup.data.render import COLOURS, MOTIONS, SHAPES, ClipSpec, draw_spec, write_spec, write_specs_in_subprocess

__all__ = ["COLOURS", "COMPLETE_MARKER", "IMAGENET_WNIDS", "K400_LABELS", "MOTIONS", "SHAPES", "SSV2_TEMPLATES",
           "SynthSizes", "SyntheticPaths", "captions_for", "ensure_synthetic", "generate", "generate_imagenet",
           "is_complete", "write_imagenet_layout", "write_k400_layout"]

#: Written last by :func:`generate`; a folder without it holds an interrupted (or pre-marker) generation.
COMPLETE_MARKER = "SYNTHETIC_COMPLETE.json"

K400_LABELS: dict[str, str] = {
    "left_to_right": "moving left to right", "right_to_left": "moving right to left",
    "up": "moving up", "down": "moving down", "growing": "growing", "shrinking": "shrinking",
    "rotating_cw": "rotating clockwise", "rotating_ccw": "rotating counterclockwise",
}
SSV2_TEMPLATES: dict[str, str] = {
    "left_to_right": "Moving [something] from left to right", "right_to_left": "Moving [something] from right to left",
    "up": "Moving [something] up", "down": "Moving [something] down",
    "growing": "Making [something] bigger", "shrinking": "Making [something] smaller",
    "rotating_cw": "Rotating [something] clockwise", "rotating_ccw": "Rotating [something] counterclockwise",
}
_MOTION_PHRASES: dict[str, tuple[str, ...]] = {
    "left_to_right": ("{a} moves from left to right", "{a} slides to the right",
                      "{a} travels across from left to right",
                      "{a} moving towards the right side", "{a} going rightwards over a textured background"),
    "right_to_left": ("{a} moves from right to left", "{a} slides to the left", "{a} travels across from right to left",
                      "{a} moving towards the left side", "{a} going leftwards over a textured background"),
    "up": ("{a} moves up", "{a} rises towards the top", "{a} travels upwards", "{a} moving up the frame",
           "{a} going up over a textured background"),
    "down": ("{a} moves down", "{a} falls towards the bottom", "{a} travels downwards", "{a} moving down the frame",
             "{a} going down over a textured background"),
    "growing": ("{a} grows bigger", "{a} gets larger", "{a} expanding in the middle of the frame",
                "{a} becoming bigger and bigger", "{a} increasing in size over a textured background"),
    "shrinking": ("{a} shrinks", "{a} gets smaller", "{a} contracting in the frame",
                  "{a} becoming smaller and smaller", "{a} decreasing in size over a textured background"),
    "rotating_cw": ("{a} rotates clockwise", "{a} spins clockwise", "{a} turning clockwise in place",
                    "{a} rotating in the clockwise direction", "{a} spinning clockwise over a textured background"),
    "rotating_ccw": ("{a} rotates counterclockwise", "{a} spins counterclockwise", "{a} turning anticlockwise in place",
                     "{a} rotating in the counterclockwise direction",
                     "{a} spinning counterclockwise over a textured background"),
}
_STILL_PHRASES: tuple[str, ...] = ("{a} in the {p} of the picture", "{a} on a textured background",
                                   "a picture of {a} near the {p}", "{a} placed in the {p}",
                                   "there is {a} in the {p}")
#: The ImageNet-layout stills' classes: one made-up wnid (``n9`` + 7 digits, no real synset) per colour.
IMAGENET_WNIDS: dict[str, str] = {colour: f"n9{i + 1:07d}" for i, colour in enumerate(COLOURS)}
_YT_ALPHABET = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class SynthSizes:
    """How much to generate. ``tiny()`` is the few-second set the tests use."""

    num_classes: int = 8
    train_per_class: int = 40
    val_per_class: int = 12
    ssv2_train_per_class: int = 16
    ssv2_val_per_class: int = 6
    frames: int = 32
    size: int = 112
    fps: int = 12
    caption_videos_train: int = 160
    caption_videos_val: int = 40
    images_train: int = 400
    images_val: int = 100
    imagenet_train_per_class: int = 60
    imagenet_val_per_class: int = 15

    @classmethod
    def tiny(cls) -> "SynthSizes":
        """2 train + 1 val clip per class, 8 frames of 32x32, a handful of caption clips and images."""
        return cls(train_per_class=2, val_per_class=1, ssv2_train_per_class=2, ssv2_val_per_class=1, frames=8,
                   size=32, caption_videos_train=4,
                   caption_videos_val=2, images_train=6, images_val=4, imagenet_train_per_class=1,
                   imagenet_val_per_class=1)

    def validate(self) -> None:
        """Raises ValueError naming the bad field."""
        if not 1 <= self.num_classes <= len(MOTIONS):
            raise ValueError(f"num_classes must be in 1..{len(MOTIONS)}, got {self.num_classes}")
        if self.size < 16 or self.size % 2:
            raise ValueError(f"size must be even and >= 16 (yuv420p), got {self.size}")
        if self.frames < 2:
            raise ValueError(f"frames must be >= 2, got {self.frames}")
        for name in ("train_per_class", "val_per_class", "ssv2_train_per_class", "ssv2_val_per_class",
                     "caption_videos_train", "caption_videos_val",
                     "images_train", "images_val", "imagenet_train_per_class", "imagenet_val_per_class", "fps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


@dataclass(frozen=True)
class SyntheticPaths:
    """Where :func:`generate` wrote each part (all absolute)."""

    root: str
    k400_root: str
    k400_train: str
    k400_val: str
    k400_classes: str
    ssv2_root: str
    ssv2_labels: str
    ssv2_train: str
    ssv2_val: str
    coco_root: str
    coco_captions_train: str
    coco_captions_val: str
    coco_karpathy: str
    coco_video_captions_train: str
    coco_video_captions_val: str
    classes: list[str] = field(default_factory=list)
    msrvtt_train_val: str = ""
    msrvtt_test: str = ""


def _article(colour: str, shape: str) -> str:
    return f"{'an' if colour[0] in 'aeiou' else 'a'} {colour} {shape}"


def _youtube_id(rng: np.random.Generator, used: set[str]) -> str:
    while True:
        vid = "".join(_YT_ALPHABET[i] for i in rng.integers(len(_YT_ALPHABET), size=11))
        if vid not in used:
            used.add(vid)
            return vid


def _write_json(path: str, data: object) -> None:
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _position_phrase(cx: float, cy: float) -> str:
    horiz = "left" if cx < 0.42 else "right" if cx > 0.58 else ""
    vert = "top" if cy < 0.42 else "bottom" if cy > 0.58 else ""
    return f"{vert} {horiz}".strip() or "centre"


def captions_for(spec: ClipSpec) -> list[str]:
    """Five paraphrased captions naming the colour, the shape and the motion (or position for stills)."""
    a = _article(spec.colour, spec.shape)
    if spec.motion == "still":
        p = _position_phrase(spec.cx[0], spec.cy[0])
        return [s.format(a=a, p=p) for s in _STILL_PHRASES]
    return [s.format(a=a) for s in _MOTION_PHRASES[spec.motion]]


def _k400_part(out: str, rng: np.random.Generator, sizes: SynthSizes, motions: tuple[str, ...],
               specs: list[ClipSpec]) -> None:
    def draw(rng: np.random.Generator, c: int, path: str) -> ClipSpec:
        return draw_spec(rng, motions[c], path, frames=sizes.frames, height=sizes.size, width=sizes.size,
                         fps=sizes.fps)

    write_k400_layout(out, rng, [K400_LABELS[m] for m in motions], (sizes.train_per_class, sizes.val_per_class),
                      draw, specs)


def write_k400_layout(out: str, rng: np.random.Generator, labels: list[str], per_class: tuple[int, int],
                      draw: Callable[[np.random.Generator, int, str], ClipSpec], specs: list[ClipSpec]) -> None:
    """Write ``train.csv``, ``validate.csv`` and ``classes.txt`` (official K400 layout) under ``out`` and append
    the clips to render to ``specs``: ``per_class`` = (train, val) clips of each label, drawn by
    ``draw(rng, label_index, path)``, at ``out/videos/<label_with_underscores>/<id>_<start>_<end>.mp4``."""
    used: set[str] = set()
    header = ["label", "youtube_id", "time_start", "time_end", "split", "is_cc"]
    for csv_name, split, count in (("train.csv", "train", per_class[0]), ("validate.csv", "val", per_class[1])):
        rows = []
        for c, label in enumerate(labels):
            for _ in range(count):
                vid, start = _youtube_id(rng, used), int(rng.integers(0, 290))
                stem = f"{vid}_{start:06d}_{start + 10:06d}"
                path = os.path.join(out, "videos", label.replace(" ", "_"), stem + ".mp4")
                specs.append(draw(rng, c, path))
                rows.append([label, vid, start, start + 10, split, int(rng.integers(2))])
        with open(os.path.join(out, csv_name), "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
    Path(out, "classes.txt").write_text("".join(name + "\n" for name in sorted(labels)), encoding="utf-8")


def _ssv2_part(out: str, rng: np.random.Generator, sizes: SynthSizes, motions: tuple[str, ...],
               specs: list[ClipSpec]) -> None:
    templates = [SSV2_TEMPLATES[m].replace("[", "").replace("]", "") for m in motions]
    _write_json(os.path.join(out, "labels.json"), {t: str(i) for i, t in enumerate(templates)})
    ids = rng.choice(np.arange(1, 250_000), size=len(motions) * (sizes.ssv2_train_per_class + sizes.ssv2_val_per_class),
                     replace=False).tolist()
    for json_name, per_class in (("train.json", sizes.ssv2_train_per_class),
                                 ("validation.json", sizes.ssv2_val_per_class)):
        entries = []
        for motion in motions:
            for _ in range(per_class):
                vid = str(ids.pop())
                spec = draw_spec(rng, motion, os.path.join(out, "videos", vid + ".webm"), frames=sizes.frames,
                                 height=sizes.size, width=sizes.size, fps=sizes.fps, codec="libvpx-vp9")
                specs.append(spec)
                thing = f"{spec.colour} {spec.shape}"
                template = SSV2_TEMPLATES[motion]
                entries.append({"id": vid, "label": template.replace("[something]", thing).lower(),
                                "template": template, "placeholders": [thing]})
        _write_json(os.path.join(out, json_name), entries)


def _coco_json(records: list[tuple[int, ClipSpec]], out: str, description: str) -> dict:
    images, annotations = [], []
    for image_id, spec in records:
        images.append({"id": image_id, "file_name": os.path.relpath(spec.path, out), "width": spec.width,
                       "height": spec.height})
        for caption in captions_for(spec):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "caption": caption})
    return {"info": {"description": description, "version": "1.0"}, "licenses": [], "type": "captions",
            "images": images, "annotations": annotations}


def _coco_part(out: str, rng: np.random.Generator, sizes: SynthSizes, motions: tuple[str, ...],
               specs: list[ClipSpec]) -> None:
    next_id = iter(range(1, 10**9))
    splits: dict[str, list[tuple[int, ClipSpec]]] = {}
    for key, count, kind in (("video_train", sizes.caption_videos_train, "video"),
                             ("video_val", sizes.caption_videos_val, "video"),
                             ("image_train", sizes.images_train, "image"), ("image_val", sizes.images_val, "image")):
        items = []
        for _ in range(count):
            image_id = next(next_id)
            if kind == "video":
                motion = motions[int(rng.integers(len(motions)))]
                spec = draw_spec(rng, motion, os.path.join(out, "videos", f"{image_id:06d}.mp4"), frames=sizes.frames,
                                 height=sizes.size, width=sizes.size, fps=sizes.fps)
            else:
                spec = draw_spec(rng, "still", os.path.join(out, "images", f"{image_id:012d}.jpg"), frames=1,
                                 height=sizes.size, width=sizes.size, fps=sizes.fps)
            items.append((image_id, spec))
            specs.append(spec)
        splits[key] = items
    _write_json(os.path.join(out, "captions_train.json"), _coco_json(splits["image_train"], out, "synthetic stills"))
    _write_json(os.path.join(out, "captions_val.json"), _coco_json(splits["image_val"], out, "synthetic stills"))
    _write_json(os.path.join(out, "video_captions_train.json"),
                _coco_json(splits["video_train"], out, "synthetic clips"))
    _write_json(os.path.join(out, "video_captions_val.json"), _coco_json(splits["video_val"], out, "synthetic clips"))
    karpathy, sentid = [], 0
    for split_name, items in (("train", splits["image_train"]), ("val", splits["image_val"])):
        for k, (image_id, spec) in enumerate(items):
            split = split_name if split_name == "train" else ("val" if k % 2 == 0 else "test")
            sentences = []
            for caption in captions_for(spec):
                sentences.append({"raw": caption, "tokens": caption.lower().split(), "imgid": len(karpathy),
                                  "sentid": sentid})
                sentid += 1
            karpathy.append({"filepath": "images", "filename": os.path.basename(spec.path), "split": split,
                             "cocoid": image_id, "imgid": len(karpathy), "sentences": sentences,
                             "sentids": [s["sentid"] for s in sentences]})
    _write_json(os.path.join(out, "dataset_coco.json"), {"dataset": "coco", "images": karpathy})


def generate(out_dir: str, *, seed: int = 0, sizes: SynthSizes | None = None, workers: int | None = None,
             progress: bool = True) -> SyntheticPaths:
    """Write the synthetic dataset under ``out_dir`` (layout in the module docstring).

    Everything is written into ``.<name>.partial`` beside ``out_dir`` and moved into ``out_dir`` at the end,
    followed by :data:`COMPLETE_MARKER`; an interrupted call leaves only the temporary folder (removed by the
    next call).

    Args:
        out_dir: output folder (created; its ``k400``, ``ssv2``, ``coco``, ``imagenet`` and ``msrvtt`` parts are
            replaced).
        seed: the only source of randomness; the same seed gives the same files.
        sizes: how much to write; default :class:`SynthSizes` (``SynthSizes.tiny()`` for tests).
        workers: processes rendering and encoding clips (default: the CPU count, at most 8).
        progress: show a progress bar.

    Returns:
        The paths of every annotation file and folder.
    """
    sizes = sizes or SynthSizes()
    sizes.validate()
    out = os.path.abspath(out_dir)
    tmp = os.path.join(os.path.dirname(out), f".{os.path.basename(out)}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    motions = MOTIONS[: sizes.num_classes]
    names = ("k400", "ssv2", "coco", "imagenet", "msrvtt")
    parts = {name: os.path.join(tmp, name) for name in names}
    for path in parts.values():
        os.makedirs(path, exist_ok=True)
    specs: list[ClipSpec] = []
    _k400_part(parts["k400"], np.random.default_rng([seed, 1]), sizes, motions, specs)
    _ssv2_part(parts["ssv2"], np.random.default_rng([seed, 2]), sizes, motions, specs)
    _coco_part(parts["coco"], np.random.default_rng([seed, 3]), sizes, motions, specs)
    _imagenet_part(parts["imagenet"], np.random.default_rng([seed, 4]), sizes, specs)
    _write_all(specs, workers, progress)
    _msrvtt_part(parts["coco"], parts["msrvtt"])
    _move_into_place(tmp, out, names, {"seed": seed, "sizes": sizes.__dict__, "files": len(specs)})
    k, s, c, _, m = (os.path.join(out, name) for name in names)
    return SyntheticPaths(
        root=out, k400_root=k, k400_train=os.path.join(k, "train.csv"), k400_val=os.path.join(k, "validate.csv"),
        k400_classes=os.path.join(k, "classes.txt"), ssv2_root=s, ssv2_labels=os.path.join(s, "labels.json"),
        ssv2_train=os.path.join(s, "train.json"), ssv2_val=os.path.join(s, "validation.json"), coco_root=c,
        coco_captions_train=os.path.join(c, "captions_train.json"),
        coco_captions_val=os.path.join(c, "captions_val.json"), coco_karpathy=os.path.join(c, "dataset_coco.json"),
        coco_video_captions_train=os.path.join(c, "video_captions_train.json"),
        coco_video_captions_val=os.path.join(c, "video_captions_val.json"),
        classes=sorted(K400_LABELS[m] for m in motions),
        msrvtt_train_val=os.path.join(m, "train_val_videodatainfo.json"),
        msrvtt_test=os.path.join(m, "test_videodatainfo.json"))


def _msrvtt_part(coco: str, out: str) -> tuple[str, str]:
    """Copy the caption clips (already written in the COCO layout) into the official MSR-VTT layout.

    COCO train clips become ``video0..`` with the last tenth ``validate`` (MSR-VTT has 6,513 train / 497
    validate / 2,990 test); COCO val clips become the ``test`` split in ``test_videodatainfo.json``.
    Captions and their order are the COCO files', so train+validate / test hold exactly the COCO video sets.
    """
    import shutil

    os.makedirs(os.path.join(out, "videos"), exist_ok=True)
    files = []
    n = 0
    for coco_name, file_name, test in (("video_captions_train.json", "train_val_videodatainfo.json", False),
                                       ("video_captions_val.json", "test_videodatainfo.json", True)):
        data = json.loads(Path(coco, coco_name).read_text(encoding="utf-8"))
        refs: dict[int, list[str]] = {}
        for ann in data["annotations"]:
            refs.setdefault(ann["image_id"], []).append(ann["caption"])
        videos, sentences, n_val = [], [], len(data["images"]) // 10
        for k, img in enumerate(data["images"]):
            vid = f"video{n}"
            split = "test" if test else ("validate" if k >= len(data["images"]) - n_val else "train")
            shutil.copyfile(os.path.join(coco, img["file_name"]), os.path.join(out, "videos", vid + ".mp4"))
            videos.append({"category": 0, "url": "", "video_id": vid, "start time": 0.0, "end time": 0.0,
                           "split": split, "id": n})
            sentences += [{"caption": c, "video_id": vid, "sen_id": len(sentences)} for c in refs[img["id"]]]
            n += 1
        _write_json(os.path.join(out, file_name), {"info": {"contributor": "mmlookup synthetic", "year": "2026"},
                                                   "videos": videos, "sentences": sentences})
        files.append(os.path.join(out, file_name))
    return files[0], files[1]


def _move_into_place(tmp: str, out: str, names: tuple[str, ...], info: dict) -> None:
    """Replace ``out``'s parts by ``tmp``'s (each by a rename), then write the completion marker."""
    os.makedirs(out, exist_ok=True)
    marker = os.path.join(out, COMPLETE_MARKER)
    if os.path.exists(marker):
        os.remove(marker)  # from here until the end the folder is incomplete
    for name in names:
        dst, old = os.path.join(out, name), os.path.join(out, f".{name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if os.path.exists(dst):
            os.replace(dst, old)
        os.replace(os.path.join(tmp, name), dst)
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    with open(marker + ".tmp", "w") as f:
        json.dump(info, f, indent=1, default=str)
    os.replace(marker + ".tmp", marker)


def is_complete(out_dir: str | Path) -> bool:
    """Whether ``out_dir`` holds a synthetic set whose generation finished (its marker is there)."""
    return (Path(out_dir) / COMPLETE_MARKER).is_file()


def complete_with(out_dir: str | Path, seed: int, sizes: SynthSizes) -> bool:
    """Whether ``out_dir`` holds a complete synthetic set written with this ``seed`` and these ``sizes``."""
    marker = Path(out_dir) / COMPLETE_MARKER
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return info.get("seed") == seed and info.get("sizes") == json.loads(json.dumps(sizes.__dict__, default=str))


def ensure_synthetic(out_dir: str | Path, seed: int = 0, sizes: SynthSizes | None = None) -> None:
    """Generate the synthetic dataset into ``out_dir`` unless a complete one is already there."""
    if not is_complete(out_dir):
        generate(str(out_dir), seed=seed, sizes=sizes)


def _write_all(specs: list[ClipSpec], workers: int | None, progress: bool) -> None:
    """Render and encode every spec, in forked worker processes when ``workers > 1``.

    When decord is loaded here, PyAV encoding is unsafe in this process (see :mod:`mmlookup.data.encode`),
    so everything is written by a fresh interpreter (``python -m mmlookup.data.render``).
    """
    from tqdm import tqdm

    workers = workers if workers is not None else min(8, os.cpu_count() or 1)
    if decord_loaded():
        write_specs_in_subprocess(specs, workers)
        return
    bar = tqdm(total=len(specs), desc="synthetic clips", unit="clip", disable=not progress)
    if workers <= 1:
        for spec in specs:
            write_spec(spec)
            bar.update()
    else:
        # an executor (unlike multiprocessing.Pool) raises BrokenProcessPool when a worker dies instead of hanging
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_one_thread) as pool:
            for _ in pool.map(write_spec, specs, chunksize=4):
                bar.update()
    bar.close()


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _imagenet_part(out: str, rng: np.random.Generator, sizes: SynthSizes, specs: list[ClipSpec]) -> None:
    """Still images in the ImageNet layouts: ``train/<wnid>/`` class folders and a flat ``val/`` whose labels are in
    ``LOC_val_solution.csv``. The class is the shape's colour (shape, position, size and background are random):
    a cue a tiny ViT learns from a few hundred images in minutes, where the shape itself needs far more data (with
    4 shape classes and 480 images a LookupViT-nano fitted its training set and stayed near chance on val)."""
    import dataclasses

    colours = list(IMAGENET_WNIDS)

    def draw(rng: np.random.Generator, c: int, path: str) -> ClipSpec:
        spec = draw_spec(rng, "still", path, frames=1, height=sizes.size, width=sizes.size, fps=sizes.fps)
        return dataclasses.replace(spec, colour=colours[c])

    write_imagenet_layout(out, rng, IMAGENET_WNIDS, (sizes.imagenet_train_per_class, sizes.imagenet_val_per_class),
                          draw, specs)


def write_imagenet_layout(out: str, rng: np.random.Generator, wnids: dict[str, str], per_class: tuple[int, int],
                          draw: Callable[[np.random.Generator, int, str], ClipSpec], specs: list[ClipSpec]) -> None:
    """Write the ImageNet layouts under ``out`` and append the stills to ``specs``: ``train/<wnid>/<wnid>_<k>.JPEG``
    and a flat ``val/ILSVRC2012_val_<k>.JPEG`` (shuffled, labels in ``LOC_val_solution.csv``), ``per_class`` =
    (train, val) images of each class; ``wnids`` maps class name -> wnid (``LOC_synset_mapping.txt``), in class
    order for ``draw(rng, class_index, path)``."""
    import dataclasses

    os.makedirs(out, exist_ok=True)
    val: list[tuple[ClipSpec, str]] = []
    for c, wnid in enumerate(wnids.values()):
        for k in range(per_class[0] + per_class[1]):
            spec = draw(rng, c, os.path.join(out, "train", wnid, f"{wnid}_{k}.JPEG"))
            if k < per_class[0]:
                specs.append(spec)
            else:
                val.append((spec, wnid))
    rows = []
    for number, i in enumerate(rng.permutation(len(val)).tolist(), start=1):  # not sorted by class, as the real one
        image_id = f"ILSVRC2012_val_{number:08d}"
        spec, wnid = val[i]
        specs.append(dataclasses.replace(spec, path=os.path.join(out, "val", image_id + ".JPEG")))
        rows.append(f"{image_id},{wnid} 0 0 {spec.width - 1} {spec.height - 1}\n")
    Path(out, "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + "".join(rows), encoding="utf-8")
    Path(out, "LOC_synset_mapping.txt").write_text(
        "".join(f"{wnid} {name}\n" for name, wnid in sorted(wnids.items(), key=lambda kv: kv[1])), encoding="utf-8")


def generate_imagenet(out_dir: str, *, seed: int = 0, sizes: SynthSizes | None = None, workers: int | None = None,
                      progress: bool = True) -> str:
    """Write only the ImageNet-layout stills (``OUT/imagenet``, as :func:`generate` does); returns that folder.

    For a synthetic set written before this part existed: the other parts are left as they are.
    """
    sizes = sizes or SynthSizes()
    sizes.validate()
    out = os.path.join(os.path.abspath(out_dir), "imagenet")
    specs: list[ClipSpec] = []
    _imagenet_part(out, np.random.default_rng([seed, 4]), sizes, specs)
    _write_all(specs, workers, progress)
    return out
