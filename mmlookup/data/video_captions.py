"""Video-captioning readers: MSR-VTT and VATEX in their official annotation layouts.

Both return :class:`~mmlookup.data.coco.CaptionSample` items (one clip, all its references), so training,
caching, evaluation and ``mmlookup caption`` run exactly as for COCO; the clip is ``num_frames`` frames sampled
uniformly over the whole video (:func:`mmlookup.data.coco.read_clip`).

* **MSR-VTT** (Xu et al., CVPR 2016): ``train_val_videodatainfo.json`` and ``test_videodatainfo.json``, each
  ``{"videos": [{"video_id": "video12", "split": "train"|"validate"|"test", ...}], "sentences": [{"video_id",
  "caption", "sen_id"}]}``; videos ``videoN.mp4`` directly under the media root or in its official
  ``TrainValVideo/`` / ``TestVideo/`` folders. The standard split is 6,513 train / 497 validate / 2,990 test
  clips with 20 captions each. The results ``image_id`` is ``N`` of ``videoN``.
* **VATEX** (Wang et al., ICCV 2019): ``vatex_training_v1.0.json`` / ``vatex_validation_v1.0.json`` style lists
  of ``{"videoID": "<youtube_id>_<start:06d>_<end:06d>", "enCap": [10 English captions], ...}``; the videos are
  Kinetics clips named as in the Kinetics layout, ``<youtube_id>_<start:06d>_<end:06d>.mp4``, found flat under
  the media root or anywhere below it (a folder per label). The results ``image_id`` is the clip's 0-based
  position in the annotation file (YouTube ids are strings; the same file gives the same ids to
  ``mmlookup eval-captions``).

A video missing on disk is kept (the caption dataset logs it, skips it and counts it as unreadable, like an
undecodable one) and the reader logs how many are missing, since YouTube-sourced sets always lose some.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from mmlookup.data.annotations import VIDEO_EXTENSIONS, _index_videos
from mmlookup.data.coco import CaptionSample

log = logging.getLogger(__name__)

MSRVTT_SPLITS: tuple[str, ...] = ("train", "validate", "test")
MSRVTT_FOLDERS: tuple[str, ...] = ("", "TrainValVideo", "TestVideo", "videos")
_MSRVTT_ID = re.compile(r"^video(\d+)$")
_VATEX_ID = re.compile(r"^(?P<yt>.+)_(?P<start>\d+)_(?P<end>\d+)$")


def _load(path: str | Path) -> object:
    from mmlookup.data.coco import read_json

    return read_json(path, "annotation file")


def msrvtt_id(video_id: str) -> int:
    """``"video123"`` -> ``123`` (the results ``image_id``); anything else is a ``ValueError``."""
    m = _MSRVTT_ID.match(str(video_id))
    if m is None:
        raise ValueError(f"MSR-VTT video_id {video_id!r} is not of the form 'videoN'")
    return int(m.group(1))


def _log_missing(name: str, samples: Sequence[CaptionSample], root: Path) -> None:
    missing = sum(not s.path.is_file() for s in samples)
    if missing:
        log.warning("%s: %d of %d videos not found under %s; they are skipped and counted as unreadable", name,
                    missing, len(samples), root)


def read_msrvtt(path: str | Path, splits: Sequence[str], media_root: str | Path | None = None, *,
                check_files: bool = True) -> list[CaptionSample]:
    """Read an MSR-VTT ``*_videodatainfo.json`` file.

    Args:
        path: ``train_val_videodatainfo.json`` or ``test_videodatainfo.json``.
        splits: splits to keep (``train``, ``validate``, ``test``).
        media_root: folder of the videos (``videoN.mp4``, optionally in ``TrainValVideo/`` or ``TestVideo/``);
            default: the JSON file's folder.
        check_files: look the videos up on disk (and log the missing ones); ``False`` for references only.

    Returns:
        One sample per video of the chosen splits that has captions, in file order, captions in file order.
    """
    bad = [s for s in splits if s not in MSRVTT_SPLITS]
    if bad:
        raise ValueError(f"unknown MSR-VTT split(s) {bad}; valid: {', '.join(MSRVTT_SPLITS)}")
    data = _load(path)
    if not isinstance(data, dict) or "videos" not in data or "sentences" not in data:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path}: not an MSR-VTT videodatainfo file (needs 'videos' and 'sentences'; got {keys})")
    root = Path(media_root) if media_root is not None else Path(path).parent
    refs: dict[str, list[str]] = {}
    for s in data["sentences"]:
        refs.setdefault(s["video_id"], []).append(s["caption"])
    folders = [root / f for f in MSRVTT_FOLDERS if check_files and (root / f).is_dir()]
    keep, samples = set(splits), []
    for v in data["videos"]:
        if v.get("split") not in keep or v["video_id"] not in refs:
            continue
        name = f"{v['video_id']}.mp4"
        file = next((d / name for d in folders if (d / name).is_file()), root / name)
        samples.append(CaptionSample(image_id=msrvtt_id(v["video_id"]), path=file,
                                     captions=tuple(refs[v["video_id"]]), split=v["split"]))
    if check_files:
        _log_missing(str(path), samples, root)
    return samples


def vatex_file_stem(video_id: str) -> str:
    """The Kinetics-layout file stem of a VATEX ``videoID`` (``<youtube_id>_<start:06d>_<end:06d>``).

    YouTube ids may contain ``_``; the last two fields are the start and end seconds.
    """
    m = _VATEX_ID.match(video_id)
    if m is None:
        raise ValueError(f"VATEX videoID {video_id!r} is not of the form '<youtube_id>_<start>_<end>'")
    return f"{m['yt']}_{int(m['start']):06d}_{int(m['end']):06d}"


def read_vatex(path: str | Path, media_root: str | Path | None = None, *, check_files: bool = True
               ) -> list[CaptionSample]:
    """Read a VATEX annotation list (``[{"videoID", "enCap": [...]}, ...]``).

    Args:
        path: e.g. ``vatex_training_v1.0.json`` or ``vatex_validation_v1.0.json``.
        media_root: folder of the Kinetics-layout clips (flat or a folder per label); default: the JSON's folder.
        check_files: look the videos up on disk (and log the missing ones); ``False`` for references only.

    Returns:
        One sample per entry with English captions; ``image_id`` = its 0-based position in the file.
    """
    data = _load(path)
    if not isinstance(data, list) or (data and not {"videoID", "enCap"} <= set(data[0])):
        raise ValueError(f"{path}: not a VATEX annotation file (a JSON list of {{'videoID', 'enCap'}} objects)")
    root = Path(media_root) if media_root is not None else Path(path).parent
    index: dict[str, str] | None = None
    samples = []
    for pos, entry in enumerate(data):
        if not entry["enCap"]:
            continue
        stem = vatex_file_stem(entry["videoID"])
        file = None if check_files else root / f"{stem}.mp4"
        if file is None:
            file = next((root / (stem + ext) for ext in VIDEO_EXTENSIONS if (root / (stem + ext)).is_file()), None)
        if file is None:
            if index is None:  # not flat: index the tree once (a folder per label)
                index = _index_videos(str(root)) if root.is_dir() else {}
            file = Path(index[stem]) if stem in index else root / f"{stem}.mp4"
        samples.append(CaptionSample(image_id=pos, path=file, captions=tuple(entry["enCap"])))
    if check_files:
        _log_missing(str(path), samples, root)
    return samples


def read_video_references(path: str | Path) -> tuple[dict[int, list[str]], list[int]] | None:
    """References of an MSR-VTT or VATEX file keyed like the readers' ``image_id``; ``None`` for other files."""
    data = _load(path)
    if isinstance(data, dict) and "videos" in data and "sentences" in data:
        samples = read_msrvtt(path, MSRVTT_SPLITS, check_files=False)
    elif isinstance(data, list) and data and isinstance(data[0], dict) and "enCap" in data[0]:
        samples = read_vatex(path, check_files=False)
    else:
        return None
    return {s.image_id: list(s.captions) for s in samples}, [s.image_id for s in samples]
