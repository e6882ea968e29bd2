"""Annotation readers for the real datasets' own file layouts.

Every reader returns an :class:`Annotations` (typed records plus the ordered class names); a missing video
file is kept as a record (the dataset replaces it at run time and ``mmlookup data scan`` lists it).

Supported layouts:

* **Kinetics-400 CSV** (``label,youtube_id,time_start,time_end,split[,is_cc]``; the test CSV has no
  ``label``): files ``{youtube_id}_{time_start:06d}_{time_end:06d}.<ext>`` found anywhere under ``root``
  (flat, or in a folder per label, whether the folder uses spaces or underscores).
* **List file**: one ``relative/path label_index`` per line (paths may contain spaces; ``#`` comments).
* **Something-Something v2 JSON**: ``labels.json`` (template without brackets -> index string) and
  ``train.json`` / ``validation.json`` / ``test.json``; the class is the template with ``[``/``]`` removed;
  videos ``{id}.webm`` (or any extension with that stem) under ``root``.
* **Folder per class**: ``root/<class>/<video>``; classes are the sorted folder names.
* **ImageNet** (``imagenet``, images as one-frame clips): class folders ``<folder>/<wnid>/*.JPEG`` (train; val
  sorted into folders; ImageNet-R/-A/-C folders), or a flat folder of images with ``LOC_val_solution.csv``
  (``ImageId,PredictionString``; the first word of ``PredictionString`` is the wnid) in it or up to four folders
  above, or that CSV itself with the images under ``root``. Class index = sorted wnids, or a class list.

Class indices come from, in order of precedence: ``class_list``, ``labels_file`` (one class per line, or a
JSON list, or an SSv2-style JSON object name -> index), the dataset's own label map (SSv2), or the sorted
label names found in the annotation file (K400).
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from mmlookup.data.records import VideoRecord

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v", ".mpg", ".mpeg")
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpeg", ".jpg", ".png", ".bmp", ".webp")
FORMATS: tuple[str, ...] = ("k400", "ssv2", "list", "folder", "imagenet")
IMAGENET_SOLUTION = "LOC_val_solution.csv"
SSV2_LABEL_NAMES: tuple[str, ...] = ("labels.json", "something-something-v2-labels.json")


@dataclass(frozen=True)
class Annotations:
    """Records read from one annotation file, with the class names indexed by ``label``."""

    records: list[VideoRecord]
    classes: list[str]


def _index_videos(root: str) -> dict[str, str]:
    """Map each video file's stem to its absolute path, searching ``root`` recursively."""
    index: dict[str, str] = {}
    for dirpath, _, files in os.walk(root, followlinks=True):
        for f in files:
            stem, ext = os.path.splitext(f)
            if ext.lower() in VIDEO_EXTENSIONS:
                index.setdefault(stem, os.path.abspath(os.path.join(dirpath, f)))
    return index


def load_class_list(labels_file: str) -> list[str]:
    """Read class names: a text file (one per line), a JSON list, or a JSON object name -> index.

    Raises:
        ValueError: when the file holds no class names or its indices are not ``0..N-1``.
    """
    text = Path(labels_file).read_text(encoding="utf-8")
    if labels_file.endswith(".json"):
        data = json.loads(text)
        if isinstance(data, dict):
            by_index = {int(v): str(k) for k, v in data.items()}
            if sorted(by_index) != list(range(len(by_index))):
                raise ValueError(f"{labels_file}: class indices are not 0..{len(by_index) - 1}")
            names = [by_index[i] for i in range(len(by_index))]
        else:
            names = [str(x) for x in data]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise ValueError(f"{labels_file}: no class names")
    return names


def _resolve_classes(found: list[str], class_list: list[str] | None, labels_file: str | None) -> list[str]:
    if class_list is not None:
        return list(class_list)
    if labels_file:
        return load_class_list(labels_file)
    return sorted(set(found))


def _class_lookup(classes: list[str]) -> dict[str, int]:
    """Name -> index; names match with spaces or underscores and in any case."""
    lookup: dict[str, int] = {}
    for i, c in enumerate(classes):
        for key in (c, c.replace("_", " "), c.replace(" ", "_")):
            lookup.setdefault(key.lower().strip(), i)
    return lookup


def _label_index(name: str, lookup: dict[str, int], source: str) -> int:
    key = name.strip().lower()
    for k in (key, key.replace("_", " ")):
        if k in lookup:
            return lookup[k]
    raise ValueError(f"{source}: label {name!r} is not in the class list ({len(set(lookup.values()))} classes)")


def read_k400_csv(annotations: str, root: str, *, class_list: list[str] | None = None,
                  labels_file: str | None = None) -> Annotations:
    """Read an official Kinetics CSV (train/validate with labels, test without).

    Raises:
        ValueError: when the header lacks ``youtube_id``/``time_start``/``time_end`` or a label is unknown.
    """
    with open(annotations, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
        header = rows[0].keys() if rows else []
    missing = {"youtube_id", "time_start", "time_end"} - set(header)
    if rows and missing:
        raise ValueError(f"{annotations}: not a Kinetics CSV, header lacks {sorted(missing)}")
    has_label = "label" in header
    classes = _resolve_classes([r["label"] for r in rows] if has_label else [], class_list, labels_file)
    lookup = _class_lookup(classes)
    index = _index_videos(root)
    records = []
    for r in rows:
        stem = f"{r['youtube_id']}_{int(float(r['time_start'])):06d}_{int(float(r['time_end'])):06d}"
        label = _label_index(r["label"], lookup, annotations) if has_label else -1
        default = os.path.join(root, r["label"].replace(" ", "_"), stem + ".mp4") if has_label else \
            os.path.join(root, stem + ".mp4")
        records.append(VideoRecord(path=index.get(stem, os.path.abspath(default)), label=label, name=stem))
    return Annotations(records, classes)


def read_list_file(annotations: str, root: str, *, class_list: list[str] | None = None,
                   labels_file: str | None = None) -> Annotations:
    """Read a ``path label_index`` list (the mmaction2 / VideoMAE / PySlowFast format).

    The label is the last whitespace-separated field when it is an integer; otherwise the whole line is a
    path (which may contain spaces) and the entry is unlabelled (``-1``).

    Raises:
        ValueError: when a label index is not below the number of classes.
    """
    records = []
    for line in Path(annotations).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(None, 1)
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            rel, label = parts[0], int(parts[1])
        else:
            rel, label = line, -1
        path = rel if os.path.isabs(rel) else os.path.join(root, rel)
        records.append(VideoRecord(path=os.path.abspath(path), label=label, name=rel))
    if class_list is not None or labels_file:
        classes = _resolve_classes([], class_list, labels_file)
    else:
        classes = [str(i) for i in range(max((r.label for r in records), default=-1) + 1)]
    bad = [r for r in records if r.label >= len(classes)]
    if bad:
        raise ValueError(f"{annotations}: label {bad[0].label} of {bad[0].name!r} >= {len(classes)} classes")
    return Annotations(records, classes)


def find_ssv2_labels(annotations: str) -> str | None:
    """The SSv2 ``labels.json`` beside an annotation file, or ``None``."""
    folder = os.path.dirname(os.path.abspath(annotations))
    for name in SSV2_LABEL_NAMES:
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


def ssv2_class_name(template: str) -> str:
    """The SSv2 class of a template: the template with ``[`` and ``]`` removed."""
    return template.replace("[", "").replace("]", "")


def read_ssv2_json(annotations: str, root: str, *, class_list: list[str] | None = None,
                   labels_file: str | None = None) -> Annotations:
    """Read an SSv2 ``train.json`` / ``validation.json`` / ``test.json`` with its ``labels.json``.

    Raises:
        ValueError: without a label map (none given and no ``labels.json`` beside the file), or when a
            template is not in it.
    """
    if class_list is None:
        labels_file = labels_file or find_ssv2_labels(annotations)
        if not labels_file:
            raise ValueError(f"{annotations}: no labels.json beside it; pass labels_file")
        class_list = load_class_list(labels_file)
    lookup = {c: i for i, c in enumerate(class_list)}
    entries = json.loads(Path(annotations).read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        raise ValueError(f"{annotations}: expected a JSON list of {{id, template, ...}} entries")
    index = _index_videos(root)
    records = []
    for e in entries:
        vid = str(e["id"])
        label = -1
        if "template" in e:
            cls = ssv2_class_name(e["template"])
            if cls not in lookup:
                raise ValueError(f"{annotations}: template {e['template']!r} (id {vid}) is not in the label map")
            label = lookup[cls]
        path = index.get(vid, os.path.abspath(os.path.join(root, vid + ".webm")))
        records.append(VideoRecord(path=path, label=label, name=vid))
    return Annotations(records, list(class_list))


def read_folder(root: str, *, class_list: list[str] | None = None, labels_file: str | None = None) -> Annotations:
    """Read a folder-per-class layout ``root/<class>/<video>`` (videos in nested folders count too).

    Raises:
        ValueError: when ``root`` has no class folders, or a folder is not in the given class list.
    """
    if not os.path.isdir(root):
        raise ValueError(f"{root}: not a folder")
    folders = sorted(d.name for d in os.scandir(root) if d.is_dir())
    if not folders:
        raise ValueError(f"{root}: no class folders")
    classes = _resolve_classes(folders, class_list, labels_file)
    lookup = _class_lookup(classes)
    records = []
    for folder in folders:
        label = _label_index(folder, lookup, root)
        videos = sorted(_index_videos(os.path.join(root, folder)).values())
        if not videos:
            raise ValueError(f"{os.path.join(root, folder)}: class folder without videos; remove it or add videos")
        for path in videos:
            records.append(VideoRecord(path=path, label=label, name=os.path.relpath(path, root)))
    return Annotations(records, classes)


def detect_format(annotations: str) -> str:
    """Guess the annotation format of a file or folder (one of :data:`FORMATS`).

    A folder is ``folder``; a JSON list is ``ssv2``; a CSV whose header names ``youtube_id`` is ``k400``;
    anything else is ``list``.
    """
    if os.path.isdir(annotations):
        return "folder"
    with open(annotations, encoding="utf-8") as f:
        head = f.read(4096).lstrip()
    if head.startswith("[") or annotations.endswith(".json"):
        return "ssv2"
    first = head.splitlines()[0] if head else ""
    if "youtube_id" in first.split(","):
        return "k400"
    return "list"


def read_annotations(format: str, annotations: str, root: str, *, class_list: list[str] | None = None,
                     labels_file: str | None = None) -> Annotations:
    """Dispatch to the reader of ``format`` (``"auto"`` detects it).

    Raises:
        ValueError: on an unknown format, listing the valid ones, or a file that is not in the format
            (binary content, broken JSON, missing fields), naming the file.
    """
    if format not in FORMATS + ("auto",):
        raise ValueError(f"unknown annotation format {format!r}; valid formats: {', '.join(FORMATS)} (or 'auto')")
    readers = {"k400": read_k400_csv, "ssv2": read_ssv2_json, "list": read_list_file, "imagenet": read_imagenet}
    kwargs = dict(class_list=class_list, labels_file=labels_file or None)
    try:
        if format == "auto":
            format = detect_format(annotations)
        if format == "folder":
            return read_folder(annotations, **kwargs)
        return readers[format](annotations, root, **kwargs)
    except (UnicodeDecodeError, csv.Error, json.JSONDecodeError, KeyError, IndexError, TypeError) as e:
        reason = "binary content, not text" if isinstance(e, UnicodeDecodeError) else f"{type(e).__name__}: {e}"
        raise ValueError(f"{annotations}: not a valid {format} annotation file ({reason})") from None
    except ValueError as e:
        if str(annotations) in str(e) or str(labels_file) in str(e):
            raise
        raise ValueError(f"{annotations}: not a valid {format} annotation file ({e})") from None


# ------------------------------------------------------------------------------------------------ ImageNet


def is_image_path(path: str) -> bool:
    """Whether ``path`` names a still image (by extension, any case: ImageNet's files end in ``.JPEG``)."""
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def _list_images(folder: str) -> list[str]:
    """Absolute paths of the images under ``folder`` (recursive), sorted."""
    found = []
    for dirpath, _, files in os.walk(folder, followlinks=True):
        found += [os.path.abspath(os.path.join(dirpath, f)) for f in files if is_image_path(f)]
    return sorted(found)


def load_wnids(labels_file: str) -> list[str]:
    """ImageNet class list: a folder (its sorted sub-folder names, e.g. the ``train`` folder), a text file whose
    lines start with the wnid (a plain wnid list, or ``LOC_synset_mapping.txt``: ``n01440764 tench, Tinca tinca``),
    or any file :func:`load_class_list` reads (JSON).

    Raises:
        ValueError: when no class is found.
    """
    if os.path.isdir(labels_file):
        names = sorted(d.name for d in os.scandir(labels_file) if d.is_dir())
    elif labels_file.endswith(".json"):
        names = load_class_list(labels_file)
    else:
        lines = Path(labels_file).read_text(encoding="utf-8").splitlines()
        names = [line.split()[0] for line in lines if line.strip()]
    if not names:
        raise ValueError(f"{labels_file}: no class names")
    return names


def find_imagenet_solution(folder: str, levels: int = 4) -> str | None:
    """``LOC_val_solution.csv`` in ``folder`` or up to ``levels`` folders above it (the Kaggle layout keeps it
    four levels above ``ILSVRC/Data/CLS-LOC/val``), or ``None``."""
    current = os.path.abspath(folder)
    for _ in range(levels + 1):
        candidate = os.path.join(current, IMAGENET_SOLUTION)
        if os.path.isfile(candidate):
            return candidate
        current = os.path.dirname(current)
    return None


def read_imagenet_solution(csv_path: str) -> dict[str, str]:
    """``{ImageId: wnid}`` from ``LOC_val_solution.csv`` (the first word of ``PredictionString``).

    Raises:
        ValueError: when the header lacks ``ImageId`` or ``PredictionString``, or a row has no wnid.
    """
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"ImageId", "PredictionString"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{csv_path}: not an ImageNet solution CSV, header lacks {sorted(missing)}")
        out = {}
        for row in reader:
            words = (row["PredictionString"] or "").split()
            if not words:
                raise ValueError(f"{csv_path}: image {row['ImageId']!r} has an empty PredictionString")
            out[row["ImageId"].strip()] = words[0]
    return out


def _imagenet_classes(found: list[str], class_list: list[str] | None, labels_file: str | None) -> list[str]:
    if class_list is not None:
        return list(class_list)
    if labels_file:
        return load_wnids(labels_file)
    return sorted(set(found))


def read_imagenet(annotations: str, root: str = "", *, class_list: list[str] | None = None,
                  labels_file: str | None = None, unlabelled: bool = False) -> Annotations:
    """Read an ImageNet-style image set; each image is a one-frame clip.

    Args:
        annotations: a folder of class folders (``train/<wnid>/*.JPEG``, val sorted into folders, ImageNet-R/-A,
            one ImageNet-C ``<corruption>/<severity>`` folder); a flat folder of images with
            ``LOC_val_solution.csv`` in it or up to four folders above; or that CSV, the images then being
            ``<ImageId>.<ext>`` anywhere under ``root``.
        root: where the images of a solution CSV are (unused for folders).
        class_list: class names (wnids) in index order; default: ``labels_file``, else the sorted wnids found.
        labels_file: a wnid list, ``LOC_synset_mapping.txt`` or a folder whose sub-folders are the classes.
        unlabelled: every record gets label ``-1`` and class folders need not be known classes (ImageNet-O).

    Raises:
        ValueError: when nothing is found, or a wnid is not in the class list.
    """
    if os.path.isdir(annotations):
        folders = sorted(d.name for d in os.scandir(annotations) if d.is_dir())
        if folders:
            return _read_imagenet_folders(annotations, folders, class_list, labels_file, unlabelled)
        solution = find_imagenet_solution(annotations)
        if solution is None:
            raise ValueError(f"{annotations}: neither class folders nor a flat folder with {IMAGENET_SOLUTION} "
                             "in it or up to four folders above")
        image_dir = annotations
    elif annotations.endswith(".csv"):
        solution, image_dir = annotations, root
    else:
        raise ValueError(f"{annotations}: an ImageNet set is a folder or {IMAGENET_SOLUTION}")
    wnid_of = read_imagenet_solution(solution)
    classes = _imagenet_classes(list(wnid_of.values()), class_list, labels_file)
    lookup = {c: i for i, c in enumerate(classes)}
    by_stem = {os.path.splitext(os.path.basename(p))[0]: p for p in _list_images(image_dir)}
    records = []
    for image_id in sorted(wnid_of):
        wnid = wnid_of[image_id]
        if not unlabelled and wnid not in lookup:
            raise ValueError(f"{solution}: wnid {wnid!r} of {image_id} is not in the class list "
                             f"({len(classes)} classes)")
        path = by_stem.get(image_id, os.path.abspath(os.path.join(image_dir, image_id + ".JPEG")))
        records.append(VideoRecord(path=path, label=-1 if unlabelled else lookup[wnid], name=image_id))
    return Annotations(records, classes)


def _read_imagenet_folders(folder: str, wnids: list[str], class_list: list[str] | None, labels_file: str | None,
                           unlabelled: bool) -> Annotations:
    classes = _imagenet_classes(wnids, class_list, labels_file)
    lookup = {c: i for i, c in enumerate(classes)}
    records = []
    for wnid in wnids:
        if not unlabelled and wnid not in lookup:
            raise ValueError(f"{folder}: class folder {wnid!r} is not in the class list ({len(classes)} classes)")
        label = -1 if unlabelled else lookup[wnid]
        for path in _list_images(os.path.join(folder, wnid)):
            records.append(VideoRecord(path=path, label=label, name=os.path.relpath(path, folder)))
    if not records:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_EXTENSIONS)}) in its class folders")
    return Annotations(records, classes)
