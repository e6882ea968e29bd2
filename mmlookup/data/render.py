"""Drawing and encoding of the synthetic clips: shapes on textured backgrounds, written with PyAV.

Shapes are drawn as approximate signed-distance fields over the whole ``(T, H, W)`` grid at once (no
per-pixel Python loops), with a one-pixel soft edge. Angles increase clockwise on screen (y points down).

A :class:`ClipSpec`'s position, radius and angle are key frames spread evenly over the clip and interpolated
linearly (two keys: start and end; more: a path, e.g. a jitter); ``fill`` draws the shape solid or striped (the
stripes turn with it); ``visible`` is the part of the clip (0..1) in which the shape is shown.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass

import numpy as np
import torch

from mmlookup.data.encode import write_video

MOTIONS: tuple[str, ...] = ("left_to_right", "right_to_left", "up", "down", "growing", "shrinking",
                            "rotating_cw", "rotating_ccw")
SHAPES: tuple[str, ...] = ("square", "triangle", "star", "cross")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 30, 30), "green": (30, 200, 50), "blue": (40, 80, 240), "yellow": (240, 220, 30),
    "purple": (160, 40, 210), "orange": (250, 140, 20), "cyan": (30, 220, 230), "white": (250, 250, 250),
}
FILLS: tuple[str, ...] = ("solid", "striped")

@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to render one clip or image (drawn in the parent, rendered in a worker)."""

    path: str
    motion: str
    shape: str
    colour: str
    height: int
    width: int
    frames: int
    fps: int
    seed: int  # background texture
    cx: tuple[float, ...]  # key frames, evenly spread from start to end (fraction of width)
    cy: tuple[float, ...]
    radius: tuple[float, ...]  # fraction of min(height, width)
    angle: tuple[float, ...]  # radians; increasing = clockwise on screen (y points down)
    codec: str = "libx264"
    fill: str = "solid"  # solid | striped
    visible: tuple[float, float] = (0.0, 1.0)  # the shape is drawn in frames whose time (0..1) lies in this range


def reversed_spec(spec: ClipSpec, path: str) -> ClipSpec:
    """The clip of ``spec`` played backwards (same frames in reverse order), written to ``path``."""
    import dataclasses

    rev = lambda keys: tuple(reversed(keys))  # noqa: E731
    return dataclasses.replace(spec, path=path, cx=rev(spec.cx), cy=rev(spec.cy), radius=rev(spec.radius),
                               angle=rev(spec.angle), visible=(1.0 - spec.visible[1], 1.0 - spec.visible[0]))


def draw_spec(rng: np.random.Generator, motion: str, path: str, *, frames: int, height: int, width: int,
              fps: int, codec: str = "libx264") -> ClipSpec:
    """Draw the random parameters of one clip of ``motion`` (``frames=1`` for a still image)."""
    shape = SHAPES[rng.integers(len(SHAPES))]
    colour = list(COLOURS)[rng.integers(len(COLOURS))]
    r = float(rng.uniform(0.12, 0.2))
    x, y = float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.3, 0.7))
    a = float(rng.uniform(0, 2 * np.pi))
    lo, hi = float(rng.uniform(0.15, 0.3)), float(rng.uniform(0.7, 0.85))
    cx, cy, radius, angle = (x, x), (y, y), (r, r), (a, a)
    if motion in ("left_to_right", "right_to_left"):
        cx = (lo, hi) if motion == "left_to_right" else (hi, lo)
    elif motion in ("up", "down"):
        cy = (hi, lo) if motion == "up" else (lo, hi)
    elif motion in ("growing", "shrinking"):
        small, big = float(rng.uniform(0.06, 0.1)), float(rng.uniform(0.22, 0.3))
        radius = (small, big) if motion == "growing" else (big, small)
    elif motion in ("rotating_cw", "rotating_ccw"):
        turn = float(rng.uniform(0.5, 1.0)) * np.pi * (1 if motion == "rotating_cw" else -1)
        angle = (a, a + turn)
    elif motion != "still":
        raise ValueError(f"unknown motion {motion!r}; valid: {', '.join(MOTIONS)} or 'still'")
    if motion == "still":
        cx, cy = (float(rng.uniform(0.25, 0.75)),) * 2, (float(rng.uniform(0.25, 0.75)),) * 2
    return ClipSpec(path=path, motion=motion, shape=shape, colour=colour, height=height, width=width, frames=frames,
                    fps=fps, seed=int(rng.integers(2**31)), cx=cx, cy=cy, radius=radius, angle=angle, codec=codec)


def _background(seed: int, height: int, width: int) -> np.ndarray:
    """A smooth random texture (two octaves of noise plus stripes), tinted, dull; ``(H, W, 3)`` float."""
    g = torch.Generator().manual_seed(seed)
    tint = torch.rand(3, generator=g) * 80 + 50
    coarse = torch.rand(1, 3, 6, 6, generator=g)
    fine = torch.rand(1, 3, max(2, height // 6), max(2, width // 6), generator=g)
    noise = (torch.nn.functional.interpolate(coarse, (height, width), mode="bilinear", align_corners=False) * 50
             + torch.nn.functional.interpolate(fine, (height, width), mode="bilinear", align_corners=False) * 25)
    freq, theta = float(torch.rand((), generator=g)) * 0.4 + 0.1, float(torch.rand((), generator=g)) * np.pi
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")
    stripes = torch.sin((xx * np.cos(theta) + yy * np.sin(theta)) * freq) * 12
    bg = tint.view(3, 1, 1) + noise[0] - 37 + stripes
    return bg.permute(1, 2, 0).numpy()


def _shape_sdf(shape: str, u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Approximate signed distance (pixels) of shape-local coordinates to a shape of radius ``r``."""
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) - r * 0.75
    if shape == "triangle":
        normals = [(np.cos(t), np.sin(t)) for t in (-np.pi / 2 + k * 2 * np.pi / 3 + np.pi for k in range(3))]
        return np.max(np.stack([u * c + v * s for c, s in normals]), axis=0) - r * 0.5
    if shape == "cross":
        arm = r * 0.3
        return np.minimum(np.maximum(np.abs(u) - arm, np.abs(v) - r), np.maximum(np.abs(v) - arm, np.abs(u) - r))
    if shape == "star":
        theta = np.arctan2(v, u)
        sector = 2 * np.pi / 5
        tri = np.abs(((theta + np.pi / 2) % sector) / sector - 0.5) * 2  # 1 at the tips, 0 between them
        return np.hypot(u, v) - r * (0.45 + 0.55 * tri)
    raise ValueError(f"unknown shape {shape!r}; valid: {', '.join(SHAPES)}")


def render(spec: ClipSpec) -> np.ndarray:
    """Render a clip: ``(frames, H, W, 3)`` uint8. Vectorised over frames and pixels."""
    h, w, n = spec.height, spec.width, spec.frames
    times = np.linspace(0.0, 1.0, n, dtype=np.float32)
    scale = min(h, w)
    cx, cy, r, ang = (_track(spec.cx, times) * w, _track(spec.cy, times) * h, _track(spec.radius, times) * scale,
                      _track(spec.angle, times))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xx[None] + 0.5 - cx, yy[None] + 0.5 - cy
    cos, sin = np.cos(ang), np.sin(ang)
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos  # rotate by -angle into the shape's frame
    alpha = np.clip(0.5 - _shape_sdf(spec.shape, u, v, r), 0.0, 1.0)
    lo, hi = spec.visible
    shown = (times >= lo - 1e-6) & (times <= hi + 1e-6)
    alpha = (alpha * shown[:, None, None].astype(np.float32))[..., None]
    colour = np.asarray(COLOURS[spec.colour], dtype=np.float32)
    if spec.fill == "striped":  # dark bands across the shape, in its own frame (they turn with it)
        period = np.maximum(r * 0.5, 3.0)
        dark = (np.floor(u / period) % 2 == 1)[..., None]
        colour = np.where(dark, colour * 0.3, colour)
    elif spec.fill != "solid":
        raise ValueError(f"unknown fill {spec.fill!r}; valid: {', '.join(FILLS)}")
    frames = _background(spec.seed, h, w)[None] * (1 - alpha) + colour * alpha
    return np.clip(frames + 0.5, 0, 255).astype(np.uint8)


def _track(keys: tuple[float, ...], times: np.ndarray) -> np.ndarray:
    """Key frames (evenly spread over 0..1) interpolated linearly at ``times``: ``(T, 1, 1)`` float32."""
    if len(keys) == 2:  # start and end: the original float32 lerp (keeps earlier data sets' pixels)
        values = keys[0] + (keys[1] - keys[0]) * times
    else:
        values = np.interp(times, np.linspace(0.0, 1.0, len(keys)), np.asarray(keys, dtype=np.float64))
    return np.asarray(values, dtype=np.float32)[:, None, None]


def write_spec(spec: ClipSpec) -> None:
    """Render ``spec`` and write it: a JPEG (first frame) when the path ends in ``.jpg``/``.JPEG``, else a video."""
    frames = render(spec)
    if spec.path.lower().endswith((".jpg", ".jpeg")):
        from PIL import Image

        os.makedirs(os.path.dirname(spec.path), exist_ok=True)
        Image.fromarray(frames[0]).save(spec.path, quality=92)
    else:
        write_video(spec.path, frames, spec.fps, spec.codec)


def write_specs_in_subprocess(specs: list[ClipSpec], workers: int = 1) -> None:
    """Write ``specs`` from a fresh interpreter (``python -m mmlookup.data.render``), free of decord's libraries.

    Raises:
        RuntimeError: when the subprocess fails, with its last output lines.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump([asdict(s) for s in specs], f)
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # above mmlookup/
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])))
    try:
        proc = subprocess.run([sys.executable, "-m", "mmlookup.data.render", f.name, str(workers)], env=env,
                              capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        raise RuntimeError(f"writing {len(specs)} clips in a subprocess failed:\n{proc.stderr[-2000:]}")


def _main(argv: list[str]) -> int:
    """``python -m mmlookup.data.render SPECS.json [WORKERS]``: write every spec in the JSON list."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with open(argv[0], encoding="utf-8") as f:
        specs = [ClipSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}) for d in json.load(f)]
    workers = int(argv[1]) if len(argv) > 1 else 1
    if workers <= 1:
        for spec in specs:
            write_spec(spec)
    else:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=torch.set_num_threads,
                                 initargs=(1,)) as pool:
            list(pool.map(write_spec, specs, chunksize=4))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
