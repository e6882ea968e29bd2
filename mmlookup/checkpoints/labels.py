"""Class names that travel with checkpoints: ``config.json``'s ``id2label`` / ``label2id`` (the Hugging Face
convention, written in our model folders and read from VideoMAE / ViViT folders) and a run's ``classes.json``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CLASSES_FILE = "classes.json"  # a run's class names in label order, written by the trainer


def label_maps(names: list[str]) -> dict[str, dict]:
    """``{"id2label": {"0": name, ...}, "label2id": {name: 0, ...}}`` (JSON keys are strings, as in HF configs)."""
    return {"id2label": {str(i): n for i, n in enumerate(names)}, "label2id": {n: i for i, n in enumerate(names)}}


def id2label_names(config: Any, where: str = "config") -> list[str] | None:
    """Class names in label order from a config's ``id2label``; ``None`` when it has none.

    Hugging Face's default ``LABEL_0``, ``LABEL_1``... names count as names (they are what the model was given).

    Raises:
        ValueError: ``id2label`` keys that are not the class indices ``0..N-1``.
    """
    id2label = config.get("id2label") if isinstance(config, dict) else None
    if not id2label or not isinstance(id2label, dict):
        return None
    try:
        by_index = {int(k): str(v) for k, v in id2label.items()}
    except (TypeError, ValueError):
        raise ValueError(f"{where}: id2label keys must be class indices, got {list(id2label)[:3]}") from None
    if sorted(by_index) != list(range(len(by_index))):
        raise ValueError(f"{where}: id2label indices are not 0..{len(by_index) - 1}")
    return [by_index[i] for i in range(len(by_index))]


def read_class_names(path: str | Path) -> list[str] | None:
    """Class names in label order from a folder: ``config.json``'s ``id2label`` (our model folders, Hugging Face
    VideoMAE / ViViT), else a run's ``classes.json``; ``None`` when neither is there.

    Raises:
        ValueError: a file that is there but malformed (indices not ``0..N-1``, not a list of strings).
    """
    folder = Path(path)
    config = folder / "config.json"
    if config.is_file():
        try:
            cfg = json.loads(config.read_text())
        except json.JSONDecodeError:
            cfg = None
        names = id2label_names(cfg, str(config))
        if names:
            return names
    classes = folder / CLASSES_FILE
    if classes.is_file():
        names = json.loads(classes.read_text())
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{classes}: expected a JSON list of class names")
        return names
    return None
