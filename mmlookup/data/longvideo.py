"""Long synthetic videos with ground-truth segments: clips of known classes played one after another.

A segment of class ``c`` is 1..``max_clips`` clips of ``c`` (each a fresh draw of the demo's or motion16's clip of
that class, at the training clip length, so the motion speed matches what the models learnt), so segment lengths
vary; consecutive segments have different classes. The video is rendered and encoded clip by clip (memory flat in
its length: a 30-minute video at 32x32 is written in about a minute of CPU) with the same deterministic H.264
settings as the synthetic dataset, and the ground truth is written beside it::

    OUT.mp4
    OUT.json   {"fps", "frames", "classes", "segments": [{"label", "start_frame", "end_frame", "start_s", "end_s"}]}

``mmlookup data longvideo OUT.mp4 --minutes 30`` writes one; the long-video benchmark
(:mod:`mmlookup.inference.longbench`) scores timelines against the JSON.

Encoding runs in a fresh interpreter when decord is loaded in this process (see :mod:`mmlookup.data.encode`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

CLASS_SETS: tuple[str, ...] = ("demo", "motion16")


@dataclass(frozen=True)
class LongVideoCfg:
    """What to write: ``seconds`` of video from the ``classes`` set, segments of 1..``max_clips`` clips."""

    seconds: float = 60.0
    classes: str = "demo"             # demo (8 motions, K400 label names) | motion16 (its 16 video classes)
    size: int = 112                   # frame side (the synthetic set's; the demo model reads it scaled to 32)
    fps: int = 0                      # 0: the set's own (demo 12, motion16 8)
    clip_frames: int = 0              # 0: the set's own (demo 32, motion16 8)
    max_clips: int = 4
    seed: int = 0

    def resolved(self) -> "LongVideoCfg":
        from dataclasses import replace

        if self.classes not in CLASS_SETS:
            raise ValueError(f"unknown class set {self.classes!r}; valid: {', '.join(CLASS_SETS)}")
        fps = self.fps or (12 if self.classes == "demo" else 8)
        frames = self.clip_frames or (32 if self.classes == "demo" else 8)
        if self.seconds <= 0 or self.size < 16 or self.size % 2 or self.max_clips < 1 or frames < 2:
            raise ValueError(f"bad long-video settings: seconds > 0, even size >= 16, max_clips >= 1 and clip_frames "
                             f">= 2 needed, got {self}")
        return replace(self, fps=fps, clip_frames=frames)


def class_names(classes: str) -> list[str]:
    """The label names of a class set (as the trained runs name them)."""
    if classes == "demo":
        from mmlookup.data.synthetic import K400_LABELS

        return list(K400_LABELS.values())
    if classes == "motion16":
        from mmlookup.data.motion16 import VIDEO_CLASSES

        return list(VIDEO_CLASSES)
    raise ValueError(f"unknown class set {classes!r}; valid: {', '.join(CLASS_SETS)}")


def plan_segments(cfg: LongVideoCfg) -> list[tuple[str, int]]:
    """``[(label, clips)]`` filling ``cfg.seconds`` (the last segment is cut short at the end), no two neighbours of
    the same class."""
    cfg = cfg.resolved()
    rng = np.random.default_rng(cfg.seed)
    names = class_names(cfg.classes)
    total = int(round(cfg.seconds * cfg.fps))
    out: list[tuple[str, int]] = []
    frames, last = 0, -1
    while frames < total:
        c = int(rng.integers(len(names) - 1))
        c = c + 1 if c >= last and last >= 0 else c          # never the previous class
        k = int(rng.integers(1, cfg.max_clips + 1))
        out.append((names[c], k))
        frames += k * cfg.clip_frames
        last = c
    return out


def ground_truth(cfg: LongVideoCfg) -> dict:
    """The JSON written beside the video (segments in frames and seconds)."""
    cfg = cfg.resolved()
    total = int(round(cfg.seconds * cfg.fps))
    segments, start = [], 0
    for label, k in plan_segments(cfg):
        end = min(start + k * cfg.clip_frames, total)
        segments.append({"label": label, "start_frame": start, "end_frame": end, "start_s": start / cfg.fps,
                         "end_s": end / cfg.fps})
        start = end
    return {"fps": cfg.fps, "frames": total, "classes": class_names(cfg.classes), "segments": segments,
            "config": asdict(cfg)}


def _clip_frames(rng: np.random.Generator, cfg: LongVideoCfg, label: str) -> np.ndarray:
    from mmlookup.data.render import draw_spec, render

    if cfg.classes == "demo":
        from mmlookup.data.synthetic import K400_LABELS

        motion = {v: k for k, v in K400_LABELS.items()}[label]
        spec = draw_spec(rng, motion, "", frames=cfg.clip_frames, height=cfg.size, width=cfg.size, fps=cfg.fps)
    else:
        from mmlookup.data.motion16 import draw_clip

        spec = draw_clip(rng, label, "", frames=cfg.clip_frames, size=cfg.size, fps=cfg.fps)
    return render(spec)


def write_long_video(path: str | Path, cfg: LongVideoCfg) -> dict:
    """Write the video and its ground truth JSON (``path`` with ``.json``); return the ground truth.

    Raises:
        ValueError: bad settings.
        RuntimeError: the encoding subprocess failed.
    """
    from mmlookup.data.encode import decord_loaded

    cfg = cfg.resolved()
    path = Path(path)
    truth = ground_truth(cfg)
    if decord_loaded():
        proc = subprocess.run([sys.executable, "-m", "mmlookup.data.longvideo", str(path), json.dumps(asdict(cfg))],
                              capture_output=True, text=True, env=_env())
        if proc.returncode != 0:
            raise RuntimeError(f"writing {path} in a subprocess failed:\n{proc.stderr[-2000:]}")
    else:
        _encode(path, cfg, truth)
    path.with_suffix(".json").write_text(json.dumps(truth, indent=1))
    return truth


def _env() -> dict[str, str]:
    parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [parent, os.environ.get("PYTHONPATH")])))


def _encode(path: Path, cfg: LongVideoCfg, truth: dict) -> None:
    """Render and encode clip by clip: only one clip's frames are in memory at a time."""
    import av

    from mmlookup.data.encode import _yuv_frame

    rng = np.random.default_rng(cfg.seed + 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    index = 0
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=cfg.fps)
        stream.height = stream.width = cfg.size
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "veryfast", "crf": "18", "g": "16", "threads": "1",
                              "x264-params": "cpu-independent=1"}
        stream.codec_context.thread_count = 1
        for seg in truth["segments"]:
            left = seg["end_frame"] - seg["start_frame"]
            while left > 0:
                frames = _clip_frames(rng, cfg, seg["label"])[:left]
                for frame in frames:
                    picture = _yuv_frame(av, frame, "yuv420p")
                    picture.pts, picture.time_base = index, Fraction(1, cfg.fps)
                    for packet in stream.encode(picture):
                        container.mux(packet)
                    index += 1
                left -= len(frames)
        for packet in stream.encode():
            container.mux(packet)


if __name__ == "__main__":  # python -m mmlookup.data.longvideo OUT.mp4 CFG_JSON (decord-free interpreter)
    _cfg = LongVideoCfg(**json.loads(sys.argv[2]))
    _encode(Path(sys.argv[1]), _cfg, ground_truth(_cfg))
