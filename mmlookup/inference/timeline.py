"""Long videos: a timeline of labels from windows, decoded as a stream.

A long video is cut into **windows** (``window`` frames every ``stride`` frames); each window is read exactly as the
recipe reads a test video (:func:`~mmlookup.data.sampling.sample_indices` over the window's frames, then the test
transform: ``num_clips`` x ``num_crops`` views), so a window of the clip's own length gives what ``predict`` gives
on a clip of that length. Windows are classified in batches; the per-window probabilities are optionally smoothed
over neighbouring windows and consecutive windows with the same top label are merged into **segments**
``(label, start s, end s, mean score)``. Each window owns the frames closer to its centre than to its neighbours'
centres, so segments tile the video without overlaps.

Decoding streams: the video is opened once and each batch of windows decodes only its own frames (decord
``get_batch`` of the batch's indices), in a background thread that keeps at most ``prefetch`` batches ahead of the
model, so memory stays flat in the video's length and decoding overlaps compute. A window whose frames do not
decode is an **unreadable stretch** (its time range and the decoder's reason are reported) and the rest goes on.
A video shorter than one window is predicted as one clip, with a note.
"""
from __future__ import annotations

import csv
import json
import math
import queue
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np
import torch

from mmlookup.inference.inputs import InputError
from mmlookup.inference.source import Preprocess

Label = dict[str, Any]


# ------------------------------------------------------------------------------------------------ windows


@dataclass(frozen=True)
class Window:
    """Frames ``[start, start + length)`` of the video and the frame indices its views read ``(V, T)``."""

    start: int
    length: int
    indices: np.ndarray

    @property
    def centre(self) -> float:
        return self.start + self.length / 2


def clip_span(pre: Preprocess) -> int:
    """Frames one test clip covers: ``(T - 1) * interval + 1`` for dense sampling (also the default window)."""
    return (pre.num_frames - 1) * max(1, pre.frame_interval) + 1


def parse_span(value: str | float | int | None, fps: float, default: int, what: str = "window") -> int:
    """A window or stride in frames: ``"29f"`` (frames), ``"2.5s"`` or ``2.5`` (seconds), ``None`` (``default``).

    Raises:
        ValueError: not a positive number of seconds or frames.
    """
    if value is None:
        return default
    text = str(value).strip().lower()
    try:
        if text.endswith("f"):
            frames = int(text[:-1])
        else:
            seconds = float(text[:-1] if text.endswith("s") else text)
            if not math.isfinite(seconds) or seconds <= 0:
                raise ValueError
            frames = max(1, int(round(seconds * fps)))
    except ValueError:
        raise ValueError(f"--{what} must be seconds (2.5 or 2.5s) or frames (29f), > 0; got {value!r}") from None
    if frames < 1:
        raise ValueError(f"--{what} must be at least one frame, got {value!r}")
    return frames


def plan_windows(num_frames: int, pre: Preprocess, window: int, stride: int) -> list[Window]:
    """Windows of ``window`` frames every ``stride`` frames covering ``num_frames`` (the last one ends on the last
    frame); a video shorter than ``window`` is one window of all its frames."""
    from mmlookup.data.sampling import sample_indices

    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1 frame, got {window} and {stride}")
    window = min(window, num_frames)
    starts = list(range(0, num_frames - window + 1, stride))
    if starts[-1] != num_frames - window:
        starts.append(num_frames - window)
    rel = sample_indices(pre.sampling, window, pre.num_frames, pre.frame_interval, train=False,
                         num_clips=pre.num_clips)
    return [Window(s, window, rel + s) for s in starts]


# ------------------------------------------------------------------------------------------------ decoding


class FrameSource(Protocol):
    """Random access to a video's frames: ``num_frames``, ``fps`` and ``get(indices) -> (n, H, W, 3) uint8``."""

    num_frames: int
    fps: float

    def get(self, indices: list[int]) -> np.ndarray: ...


class DecordSource:
    """One decord ``VideoReader`` kept open over the whole timeline (reopened after a failure), frames scaled
    to ``short_side`` by the decoder; only the asked frames are ever decoded into memory."""

    def __init__(self, path: str, short_side: int = 0) -> None:
        from mmlookup.data.decode import VideoDecodeError, open_video, usable_frames

        self.path, self.short_side = path, short_side
        try:
            self.reader = open_video(path, short_side)
        except VideoDecodeError as err:
            raise InputError(path, err.reason) from None
        self.num_frames = usable_frames(self.reader)
        self.fps = float(self.reader.get_avg_fps()) or 1.0

    def get(self, indices: list[int]) -> np.ndarray:
        """The frames at ``indices``; after a failure, tried once more on a freshly opened reader (decord's state
        after an error depends on what it decoded before, so a retry on a fresh reader makes the outcome a property
        of the frames asked for)."""
        from mmlookup.data.decode import open_video

        try:
            return self.reader.get_batch(indices).asnumpy()
        except Exception:
            self.reader = open_video(self.path, self.short_side)
        try:
            return self.reader.get_batch(indices).asnumpy()
        except Exception:
            self.reader = open_video(self.path, self.short_side)
            raise


@dataclass
class _Batch:
    windows: list[int]                       # positions in the plan of the windows in ``views``
    views: torch.Tensor | None               # (b, V, C, T, H, W)
    failed: list[tuple[int, str]]            # (position, reason)


_DECORD_NOISE = re.compile(r"\[\d\d:\d\d:\d\d\] \S+:\d+: |Check failed: ")


def _short(err: BaseException) -> str:
    """The decoder's reason in one short line (decord's time stamps and source locations dropped)."""
    text = _DECORD_NOISE.sub("", " ".join(str(err).split()))
    return f"{type(err).__name__}: {text[:160]}" if text else type(err).__name__


def _read_batches(source: FrameSource, plan: list[Window], batch_windows: int,
                  transform: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[_Batch]:
    """Decode the plan ``batch_windows`` windows at a time (one ``get`` of their unique frames); when a batch fails,
    its windows are retried one by one so only the unreadable ones are lost."""
    for lo in range(0, len(plan), batch_windows):
        chunk = list(range(lo, min(lo + batch_windows, len(plan))))
        try:
            yield _Batch(chunk, _views(source, [plan[i] for i in chunk], transform), [])
            continue
        except Exception:  # noqa: BLE001 - retry window by window below, naming each failure
            pass
        ok, views, failed = [], [], []
        for i in chunk:
            try:
                views.append(_views(source, [plan[i]], transform))
                ok.append(i)
            except Exception as err:  # noqa: BLE001 - an unreadable stretch is reported, never a crash
                failed.append((i, _short(err)))
        yield _Batch(ok, torch.cat(views) if views else None, failed)


def _views(source: FrameSource, windows: list[Window], transform: Callable[[torch.Tensor], torch.Tensor]
           ) -> torch.Tensor:
    idx = np.stack([w.indices for w in windows])                        # (b, V, T)
    unique, inverse = np.unique(idx, return_inverse=True)
    frames = source.get(unique.tolist())
    if frames.ndim != 4 or frames.shape[0] != len(unique) or frames.shape[-1] != 3:
        raise RuntimeError(f"decoder returned frames of shape {frames.shape} for {len(unique)} indices")
    clips = torch.from_numpy(frames)[torch.from_numpy(inverse.reshape(-1))].reshape(*idx.shape, *frames.shape[1:])
    return torch.stack([transform(c) for c in clips])                   # (b, V', C, T, H, W)


def prefetch(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Run the iterator ``items`` in a background thread, at most ``depth`` items ahead of the consumer (decoding
    overlaps compute; memory is bounded by ``depth``). Exceptions are re-raised in the consumer."""
    if depth < 1:
        yield from items
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", done))
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            q.put(("error", err))

    thread = threading.Thread(target=work, name="timeline-decode", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


# ------------------------------------------------------------------------------------------------ results


@dataclass
class Segment:
    """Consecutive windows with the same top label: ``score`` is that label's mean probability over them."""

    label: str
    start_s: float
    end_s: float
    score: float


@dataclass
class Stretch:
    """A time range whose frames did not decode, and why."""

    start_s: float
    end_s: float
    reason: str


@dataclass
class TimelineResult:
    """Everything a timeline gives: per window, merged segments, unreadable stretches, notes and timing."""

    path: str
    fps: float
    num_frames: int
    window: int                                   # frames
    stride: int                                   # frames
    classes: list[str]
    starts: list[int]                             # window start frames
    probs: torch.Tensor                           # (N, K) smoothed probabilities, NaN rows for unreadable windows
    raw_probs: torch.Tensor                       # (N, K) before smoothing
    top_k: int = 5
    smooth: int = 1
    min_segment: int = 0                          # frames: shorter runs of windows were absorbed by a neighbour
    segments: list[Segment] = field(default_factory=list)
    unreadable: list[Stretch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: list[str] | None = None             # cascade: the setting that answered each window
    gmacs: list[float] | None = None              # cascade: GMACs spent on each window (per view)
    seconds: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    @property
    def windows_per_s(self) -> float:
        return len(self.starts) / self.seconds if self.seconds > 0 else float("nan")

    def window_range(self, i: int) -> tuple[float, float]:
        return self.starts[i] / self.fps, (self.starts[i] + min(self.window, self.num_frames)) / self.fps

    def window_top(self, i: int) -> list[Label]:
        row = self.probs[i]
        if torch.isnan(row).any():
            return []
        scores, idx = row.topk(min(self.top_k, row.numel()))
        return [{"label": self.classes[int(j)], "score": round(float(s), 6)} for s, j in zip(scores, idx)]

    def frame_labels(self) -> np.ndarray:
        """The predicted class index of every frame (``-1`` where unreadable), from the segments' owners."""
        out = np.full(self.num_frames, -1, dtype=np.int64)
        index = {c: i for i, c in enumerate(self.classes)}
        for s in self.segments:
            out[int(round(s.start_s * self.fps)):int(round(s.end_s * self.fps))] = index[s.label]
        return out

    def to_dict(self) -> dict[str, Any]:
        windows = []
        for i in range(len(self.starts)):
            start, end = self.window_range(i)
            w: dict[str, Any] = {"start_s": round(start, 4), "end_s": round(end, 4), "labels": self.window_top(i)}
            if self.settings is not None:
                w["setting"], w["gmacs"] = self.settings[i], self.gmacs[i] if self.gmacs else None
            windows.append(w)
        out = {"video": self.path, "fps": self.fps, "frames": self.num_frames, "duration_s": round(self.duration_s, 4),
               "window_frames": self.window, "stride_frames": self.stride, "smooth": self.smooth,
               "min_segment_frames": self.min_segment,
               "segments": [asdict(s) for s in self.segments], "unreadable": [asdict(s) for s in self.unreadable],
               "notes": self.notes, "windows": windows, "seconds": round(self.seconds, 3),
               "windows_per_s": round(self.windows_per_s, 3)}
        if self.gmacs is not None and self.settings is not None:
            spent = [g for g, s in zip(self.gmacs, self.settings) if s]
            out["mean_gmacs_per_window"] = float(np.mean(spent)) if spent else None
        return out

    def write_json(self, path: str | Path, **extra: Any) -> Path:
        path = Path(path)
        path.write_text(json.dumps({**extra, **self.to_dict()}, indent=1))
        return path

    def write_csv(self, path: str | Path) -> Path:
        """One row per segment, unreadable stretch and window: ``kind,start_s,end_s,label,score,setting``."""
        path = Path(path)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["kind", "start_s", "end_s", "label", "score", "setting"])
            for s in self.segments:
                w.writerow(["segment", f"{s.start_s:.3f}", f"{s.end_s:.3f}", s.label, f"{s.score:.6f}", ""])
            for u in self.unreadable:
                w.writerow(["unreadable", f"{u.start_s:.3f}", f"{u.end_s:.3f}", "", "", u.reason])
            for i in range(len(self.starts)):
                start, end = self.window_range(i)
                top = self.window_top(i)
                label, score = (top[0]["label"], f"{top[0]['score']:.6f}") if top else ("", "")
                setting = self.settings[i] if self.settings is not None else ""
                w.writerow(["window", f"{start:.3f}", f"{end:.3f}", label, score, setting])
        return path


def smooth_probs(probs: torch.Tensor, width: int) -> torch.Tensor:
    """Moving average of ``(N, K)`` probabilities over ``width`` windows (odd; centred; at the ends and next to
    unreadable windows, NaN rows, the mean of the readable neighbours). NaN rows stay NaN."""
    if width < 1 or width % 2 == 0:
        raise ValueError(f"--smooth must be an odd number of windows >= 1, got {width}")
    if width == 1 or len(probs) == 0:
        return probs.clone()
    bad = torch.isnan(probs).any(1)
    x = torch.where(bad[:, None], torch.zeros_like(probs), probs)
    ok = (~bad).float()
    kernel = torch.ones(1, 1, width)
    pad = width // 2
    num = torch.nn.functional.conv1d(x.T[:, None], kernel, padding=pad)[:, 0].T
    den = torch.nn.functional.conv1d(ok[None, None], kernel, padding=pad)[0, 0]
    out = num / den.clamp_min(1)[:, None]
    out[bad] = float("nan")
    return out


def owner_bounds(starts: list[int], window: int, num_frames: int) -> list[tuple[int, int]]:
    """Frames each window owns: from the midpoint of its and the previous window's centres to the midpoint with the
    next one's (the first from frame 0, the last to the end), so the windows tile the video."""
    centres = [s + window / 2 for s in starts]
    cuts = [0] + [int(round((a + b) / 2)) for a, b in zip(centres, centres[1:])] + [num_frames]
    return list(zip(cuts[:-1], cuts[1:]))


def window_labels(probs: torch.Tensor, bounds: list[tuple[int, int]], min_frames: int = 0) -> list[int]:
    """Top label per window (``-1`` for an unreadable one). With ``min_frames``, a run of windows with one label
    that owns fewer frames is given to the neighbouring run (left or right, not across an unreadable window) whose
    label has the higher mean probability over it, shortest run first, until every run is long enough or has no
    readable neighbour."""
    bad = torch.isnan(probs).any(1) if len(probs) else torch.zeros(0, dtype=torch.bool)
    labels = [-1 if b else int(row.argmax()) for row, b in zip(probs, bad.tolist())]
    if min_frames <= 0:
        return labels
    while True:
        runs, i = [], 0
        while i < len(labels):
            j = i
            while j + 1 < len(labels) and labels[j + 1] == labels[i]:
                j += 1
            runs.append((i, j))
            i = j + 1
        short = [(bounds[b][1] - bounds[a][0], k) for k, (a, b) in enumerate(runs)
                 if labels[a] >= 0 and bounds[b][1] - bounds[a][0] < min_frames]
        changed = False
        for _, k in sorted(short):
            a, b = runs[k]
            options = [labels[runs[n][0]] for n in (k - 1, k + 1) if 0 <= n < len(runs) and labels[runs[n][0]] >= 0]
            if options:
                best = max(options, key=lambda c: float(probs[a:b + 1, c].mean()))
                labels[a:b + 1] = [best] * (b - a + 1)
                changed = True
                break
        if not changed:
            return labels


def merge_segments(probs: torch.Tensor, bounds: list[tuple[int, int]], classes: list[str], fps: float,
                   min_frames: int = 0) -> list[Segment]:
    """Consecutive readable windows with the same top label → one :class:`Segment` each (an unreadable window, a
    NaN row, ends a segment); the score is the mean probability of the label over the merged windows. Runs shorter
    than ``min_frames`` are absorbed by a neighbour first (:func:`window_labels`)."""
    out: list[Segment] = []
    run: list[int] = []
    label = -1
    tops = window_labels(probs, bounds, min_frames)

    def close() -> None:
        if run:
            out.append(Segment(classes[label], round(bounds[run[0]][0] / fps, 4), round(bounds[run[-1]][1] / fps, 4),
                               round(float(probs[run, label].mean()), 6)))

    for i, top in enumerate(tops):
        if top < 0:
            close()
            run, label = [], -1
            continue
        if top != label:
            close()
            run, label = [], top
        run.append(i)
    close()
    return out


def unreadable_stretches(failed: dict[int, str], bounds: list[tuple[int, int]], fps: float) -> list[Stretch]:
    """Consecutive failed windows (same reason) → one :class:`Stretch` over the frames they own."""
    out: list[Stretch] = []
    for i in sorted(failed):
        lo, hi = bounds[i]
        if out and i - 1 in failed and failed[i - 1] == out[-1].reason:
            out[-1].end_s = round(hi / fps, 4)
        else:
            out.append(Stretch(round(lo / fps, 4), round(hi / fps, 4), failed[i]))
    return out


# ------------------------------------------------------------------------------------------------ the loop


def _transform(pre: Preprocess) -> Callable[[torch.Tensor], torch.Tensor]:
    from mmlookup.data.transforms import ClipTransform, ClipTransformCfg

    cfg = ClipTransformCfg(train=False, crop_size=pre.img_size, short_side=pre.short_side, num_crops=pre.num_crops,
                           mean=tuple(pre.mean), std=tuple(pre.std))
    transform = ClipTransform(cfg)
    return lambda clip: transform(clip, 0)[0]


def sample_windows(path: str, pre: Preprocess, *, window: str | float | None = None,
                   stride: str | float | None = None, count: int = 64, source: FrameSource | None = None
                   ) -> torch.Tensor:
    """Views ``(n, V, C, T, H, W)`` of up to ``count`` windows spread evenly over the video (unreadable ones
    skipped): label-free clips to calibrate a cascade on.

    Raises:
        InputError: the file cannot be opened, or no sampled window decodes.
    """
    source = source or DecordSource(path, pre.short_side)
    win = parse_span(window, source.fps, clip_span(pre), "window")
    plan = plan_windows(source.num_frames, pre, win, parse_span(stride, source.fps, max(1, win // 2), "stride"))
    picks = sorted({int(i) for i in np.linspace(0, len(plan) - 1, min(count, len(plan))).round()})
    transform, views = _transform(pre), []
    for i in picks:
        try:
            views.append(_views(source, [plan[i]], transform))
        except Exception:  # noqa: BLE001 - an unreadable window is left out of the calibration
            continue
    if not views:
        raise InputError(path, "no window decoded for calibration")
    return torch.cat(views)

ProbsFn = Callable[[torch.Tensor], "torch.Tensor | tuple[torch.Tensor, list[str], list[float]]"]


def run_timeline(path: str, pre: Preprocess, classes: list[str], probs_fn: ProbsFn, *,
                 window: str | float | None = None, stride: str | float | None = None, smooth: int = 1,
                 min_segment: str | float | None = None, top_k: int = 5, batch_windows: int = 8,
                 prefetch_batches: int = 2, progress: bool = True,
                 source: FrameSource | None = None) -> TimelineResult:
    """The timeline of ``path`` (see the module docstring). ``probs_fn`` maps views ``(b, V, C, T, H, W)`` to
    probabilities ``(b, K)``, or to ``(probs, settings, gmacs)`` per window (a cascade). ``min_segment`` (seconds or
    ``"Nf"`` frames, like ``window``): runs of windows shorter than it are absorbed by a neighbour.

    Raises:
        InputError: the file cannot be opened at all (a stretch that does not decode is reported instead).
        ValueError: a bad window, stride or smoothing width.
    """
    import os

    from tqdm.auto import tqdm

    if not os.path.isfile(path):
        raise InputError(path, "missing file")
    if batch_windows < 1:
        raise ValueError(f"batch_windows must be >= 1, got {batch_windows}")
    if source is None:
        source = DecordSource(path, pre.short_side)
    n, fps = source.num_frames, source.fps
    default = clip_span(pre)
    win = parse_span(window, fps, default, "window")
    step = parse_span(stride, fps, max(1, win // 2), "stride")
    shortest = parse_span(min_segment, fps, 0, "min-segment")
    smooth_probs(torch.zeros(0, 1), smooth)                              # checks the width before any work
    notes = []
    if n < win:
        notes.append(f"the video ({n} frames, {n / fps:.2f} s) is shorter than one window ({win} frames, "
                     f"{win / fps:.2f} s): predicted as one clip")
    plan = plan_windows(n, pre, win, step)
    views_of = _transform(pre)
    raw = torch.full((len(plan), len(classes)), float("nan"))
    settings: list[str] | None = None
    gmacs: list[float] | None = None
    failed: dict[int, str] = {}
    start = time.perf_counter()
    bar = tqdm(total=len(plan), desc="timeline", unit="window", disable=not progress, leave=False)
    try:
        for batch in prefetch(_read_batches(source, plan, batch_windows, views_of), prefetch_batches):
            failed.update(dict(batch.failed))
            if batch.views is not None:
                out = probs_fn(batch.views)
                if isinstance(out, tuple):
                    out, names, costs = out
                    if settings is None:
                        settings, gmacs = [""] * len(plan), [0.0] * len(plan)
                    for i, s, g in zip(batch.windows, names, costs):
                        settings[i], gmacs[i] = s, g
                raw[batch.windows] = out.float().cpu()
            bar.update(len(batch.windows) + len(batch.failed))
    finally:
        bar.close()
    probs = smooth_probs(raw, smooth)
    bounds = owner_bounds([w.start for w in plan], plan[0].length, n)
    result = TimelineResult(path, fps, n, plan[0].length, step, list(classes), [w.start for w in plan], probs, raw,
                            top_k=top_k, smooth=smooth, min_segment=shortest, notes=notes, settings=settings,
                            gmacs=gmacs)
    result.segments = merge_segments(probs, bounds, classes, fps, shortest)
    result.unreadable = unreadable_stretches(failed, bounds, fps)
    if len(failed) == len(plan):
        notes.append("no window decoded")
    result.seconds = time.perf_counter() - start
    return result
