"""The long-video benchmark: timelines scored against ground-truth segments.

Metrics (the temporal action segmentation ones, as in MS-TCN):

* **frame accuracy**: the share of frames whose predicted label (the segment that owns the frame) is the true one;
  frames of unreadable stretches count as wrong;
* **segment F1 at IoU 0.5**: a predicted segment is a true positive when it overlaps a not yet matched true segment
  of the same label with temporal IoU >= 0.5 (each true segment matched once, best IoU first); precision over the
  predicted segments, recall over the true ones.

:func:`sweep` runs a predictor over videos for several window / stride (and smoothing) choices and reports them
with windows per second; ``tools/long_video_bench.py`` writes the videos (:mod:`mmlookup.data.longvideo`), runs it
and prints the markdown tables of ``docs/tasks/long-videos.md``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mmlookup.inference.timeline import TimelineResult


@dataclass(frozen=True)
class TrueSegment:
    label: str
    start: int                    # frames, end exclusive
    end: int


@dataclass(frozen=True)
class Truth:
    fps: float
    frames: int
    segments: tuple[TrueSegment, ...]


def read_truth(path: str | Path) -> Truth:
    """The ground-truth JSON written by :func:`mmlookup.data.longvideo.write_long_video`.

    Raises:
        ValueError: not such a file.
    """
    try:
        d = json.loads(Path(path).read_text())
        segs = tuple(TrueSegment(s["label"], int(s["start_frame"]), int(s["end_frame"])) for s in d["segments"])
        return Truth(float(d["fps"]), int(d["frames"]), segs)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a ground-truth segments file ({type(err).__name__}: {err})") from None


def frame_accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    """Percent of frames where ``pred == true`` (over the shorter of the two; a missing frame is wrong)."""
    n = max(len(true), 1)
    m = min(len(pred), len(true))
    return 100.0 * float((pred[:m] == true[:m]).sum()) / n


def _iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def segment_f1(pred: Sequence[tuple[str, int, int]], true: Sequence[tuple[str, int, int]], iou: float = 0.5
               ) -> tuple[float, float, float]:
    """``(precision, recall, F1)`` in percent of predicted vs true ``(label, start, end)`` segments at ``iou``."""
    pairs = sorted(((_iou((p[1], p[2]), (t[1], t[2])), i, j) for i, p in enumerate(pred) for j, t in enumerate(true)
                    if p[0] == t[0]), reverse=True)
    used_p: set[int] = set()
    used_t: set[int] = set()
    for score, i, j in pairs:
        if score < iou:
            break
        if i in used_p or j in used_t:
            continue
        used_p.add(i)
        used_t.add(j)
    tp = len(used_p)
    precision = 100.0 * tp / len(pred) if pred else 0.0
    recall = 100.0 * tp / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def true_frame_labels(truth: Truth, classes: Sequence[str]) -> np.ndarray:
    """Class index per frame (``-2`` for a label the model does not know: never matched)."""
    index = {c: i for i, c in enumerate(classes)}
    out = np.full(truth.frames, -2, dtype=np.int64)
    for s in truth.segments:
        out[s.start:s.end] = index.get(s.label, -2)
    return out


def score_timeline(result: TimelineResult, truth: Truth) -> dict[str, Any]:
    """Frame accuracy and segment F1@0.5 of ``result`` against ``truth`` (frames matched by index)."""
    pred = result.frame_labels()
    acc = frame_accuracy(pred, true_frame_labels(truth, result.classes))
    fps = result.fps
    pred_segs = [(s.label, int(round(s.start_s * fps)), int(round(s.end_s * fps))) for s in result.segments]
    true_segs = [(s.label, s.start, s.end) for s in truth.segments]
    p, r, f1 = segment_f1(pred_segs, true_segs, 0.5)
    return {"frame_accuracy": acc, "precision_50": p, "recall_50": r, "f1_50": f1,
            "predicted_segments": len(pred_segs), "true_segments": len(true_segs)}


def sweep(predictor, videos: Sequence[str | Path], *, windows: Sequence[str | None] = (None,),
          strides: Sequence[str | None] = (None,), smooths: Sequence[int] = (1,),
          min_segments: Sequence[str | None] = (None,), cascade=None, progress: bool = False) -> list[dict[str, Any]]:
    """Score every ``window x stride x smooth x min_segment`` choice on every video (its ground truth beside it,
    ``.json``); one row per choice with the metrics averaged over the videos, windows per second, and the mean GMACs
    per window (per view; the cascade's spend when ``cascade`` is given)."""
    truths = [read_truth(Path(v).with_suffix(".json")) for v in videos]
    rows = []
    for window in windows:
        for stride in strides:
            for smooth, shortest in ((a, b) for a in smooths for b in min_segments):
                scores, speed, gmacs, count = [], [], [], 0
                for video, truth in zip(videos, truths):
                    r = predictor.predict_timeline(video, window=window, stride=stride, smooth=smooth,
                                                   min_segment=shortest, cascade=cascade, progress=progress)
                    scores.append(score_timeline(r, truth))
                    speed.append(r.windows_per_s)
                    d = r.to_dict()
                    gmacs.append(d.get("mean_gmacs_per_window") or predictor.setting.gmacs)
                    count += len(r.starts)
                rows.append({"window": window or "clip span", "stride": stride or "window/2", "smooth": smooth,
                             "min_segment": shortest or "-",
                             "window_frames": r.window, "stride_frames": r.stride, "windows": count,
                             **{k: float(np.mean([s[k] for s in scores]))
                                for k in ("frame_accuracy", "precision_50", "recall_50", "f1_50")},
                             "windows_per_s": float(np.mean(speed)), "gmacs": float(np.mean(gmacs))})
    return rows


def markdown(rows: list[dict[str, Any]], first: Sequence[str] = ("window", "stride", "smooth", "min_segment")
             ) -> str:
    """The rows as a GitHub markdown table."""
    header = list(first) + ["frame acc. %", "F1@0.5 %", "GMACs/window", "windows/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        cells = [str(r[k]) for k in first] + [f"{r['frame_accuracy']:.1f}", f"{r['f1_50']:.1f}", f"{r['gmacs']:.4g}",
                                              f"{r['windows_per_s']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
