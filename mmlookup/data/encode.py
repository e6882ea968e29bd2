"""Deterministic video encoding with PyAV, kept apart from decord's libraries.

Determinism: RGB -> YUV is done in numpy, timestamps are explicit, the encoders run single-threaded and
x264 runs with ``cpu-independent=1`` (without it the same frames encoded differently from process to
process). The same frames therefore give the same decoded pixels on every run.

decord loads its own FFmpeg, libx264 and libvpx with ``RTLD_GLOBAL``. Once it is imported, PyAV's
encoders bind some symbols to those older libraries: VP9/VP8 fail to open ("avcodec_open2 returned 22")
and H.264 output changes. :func:`write_video` therefore encodes in a fresh interpreter (this file run as a
script, which imports only numpy and PyAV) whenever decord is loaded in the calling process.

This module must not import anything from ``mmlookup`` (it runs as a standalone script).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from fractions import Fraction

import numpy as np


def decord_loaded() -> bool:
    """Whether decord's libraries are loaded in this process (PyAV encoding is then unsafe here)."""
    return "decord" in sys.modules


def write_video(path: str, frames: np.ndarray, fps: int, codec: str = "libx264", gop: int = 16) -> None:
    """Encode ``(T, H, W, 3)`` uint8 frames to ``path`` with PyAV, single-threaded (deterministic).

    ``codec`` ``libx264`` (mp4; falls back to ``mpeg4`` when FFmpeg lacks it; odd frame sizes use 4:4:4)
    or ``libvpx-vp9`` / ``libvpx`` (webm), with a key frame every ``gop`` frames. When decord is loaded,
    the encoding runs in a subprocess.

    Raises:
        RuntimeError: when the encoding subprocess fails.
    """
    if decord_loaded():
        _encode_in_subprocess(path, frames, fps, codec, gop)
        return
    import av

    if codec == "libx264" and "libx264" not in av.codecs_available:
        codec = "mpeg4"
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        odd = frames.shape[1] % 2 or frames.shape[2] % 2
        stream.pix_fmt = "yuv444p" if odd and codec == "libx264" else "yuv420p"  # 4:2:0 needs even sizes
        if codec == "libx264":
            # cpu-independent: without it x264's output varied from process to process for the same frames
            stream.options = {"preset": "veryfast", "crf": "18", "g": str(gop), "threads": "1",
                              "x264-params": "cpu-independent=1"}
        elif codec.startswith("libvpx"):
            stream.options = {"deadline": "realtime", "cpu-used": "8", "crf": "24", "b": "0", "threads": "1",
                              "g": str(gop)}
        stream.codec_context.thread_count = 1
        for index, frame in enumerate(frames):
            picture = _yuv_frame(av, frame, stream.pix_fmt)
            picture.pts = index  # explicit timestamps: x264's rate control reads them
            picture.time_base = Fraction(1, fps)
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def rgb_to_yuv(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited-range Y, Cb, Cr planes (float32, full resolution) of an ``(H, W, 3)`` uint8 frame.

    Done in numpy so the encoder input is a plain function of the frames (no CPU-specific swscale paths).
    """
    rgb = frame.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    cb = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0
    cr = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0
    return y, cb, cr


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def _yuv_frame(av, frame: np.ndarray, pix_fmt: str):
    """A PyAV frame in ``pix_fmt`` (yuv420p with 2x2-averaged chroma, or yuv444p) built from RGB in numpy.

    Every plane is written with its row padding zeroed, so no uninitialised bytes reach the encoder.
    """
    y, cb, cr = rgb_to_yuv(frame)
    if pix_fmt == "yuv420p":
        def half(c: np.ndarray) -> np.ndarray:
            return (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]) * 0.25

        cb, cr = half(cb), half(cr)
    out = av.VideoFrame(frame.shape[1], frame.shape[0], pix_fmt)
    for plane, data in zip(out.planes, (y, cb, cr)):
        rows = plane.buffer_size // plane.line_size
        buf = np.zeros((rows, plane.line_size), dtype=np.uint8)
        buf[: data.shape[0], : data.shape[1]] = _to_u8(data)
        plane.update(buf)
    return out


def _encode_in_subprocess(path: str, frames: np.ndarray, fps: int, codec: str, gop: int) -> None:
    with tempfile.NamedTemporaryFile(suffix=".npy", delete=False) as f:
        np.save(f, np.ascontiguousarray(frames, dtype=np.uint8))
    try:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), f.name, path, str(fps), codec, str(gop)],
                              capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        raise RuntimeError(f"encoding {path} in a subprocess failed:\n{proc.stderr[-2000:]}")


if __name__ == "__main__":  # python encode.py FRAMES.npy OUT FPS CODEC GOP
    write_video(sys.argv[2], np.load(sys.argv[1]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
