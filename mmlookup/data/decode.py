"""Frame decoding with decord, made safe for ``DataLoader`` workers.

Rules (see ``DESIGN.md`` §6 and ``reference/video_anchors.md`` §4):

* a ``VideoReader`` is opened per call, inside the worker, with ``num_threads=1``; one made before the
  workers fork hangs them;
* frames are fetched with one ``get_batch`` of the unique sorted indices (exact frames; ``seek`` lands on
  key frames);
* the frame count decord reports comes from container metadata, which can exceed what decodes and make
  ``get_batch`` spin forever (decord#373), so it is clamped to the number of packets decord indexed when
  it opened the file;
* when ``get_batch`` fails on a file that opened, the frames are decoded sequentially with PyAV instead
  (decord 0.6 fails on some valid files, e.g. narrow frames);
* every failure (missing, empty, truncated, not a video, no frames, decode error) raises
  :class:`VideoDecodeError` with a short reason, which the dataset logs once and counts.

Options for feeding a fast accelerator (``mmlookup bench --data`` measures them):

* ``short_side``: decord scales frames to this short side inside the decoder (``VideoReader(width=, height=)``,
  the size read from the container header with PyAV) when the video is larger; the RGB conversion and every
  transform then work on fewer pixels. Decoding itself still runs at the stored size: re-encode the dataset
  (``mmlookup data resize``) to cut that.
* ``backend="torchcodec"``: TorchCodec's ``VideoDecoder`` (FFmpeg from the system, one thread, exact frame
  indices), an optional dependency (``pip install mmlookup[torchcodec]`` plus FFmpeg 4-7 libraries);
  :func:`backend_available` says whether it loads. decord stays the default.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch


class VideoDecodeError(RuntimeError):
    """A video could not be opened or decoded; ``reason`` says why in a few words."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class VideoInfo:
    """Stream facts of one video: the usable frame count, frame rate and frame size."""

    num_frames: int
    fps: float
    height: int
    width: int


def _short_reason(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:160]}" if text else type(err).__name__


_FD2_LOCK = threading.Lock()


@contextlib.contextmanager
def native_stderr() -> Iterator[list[str]]:
    """Hold back what native code writes to file descriptor 2 inside the block (decord's C++ log, FFmpeg's
    ``av_log``: Python's ``sys.stderr`` never sees them); the text is in the yielded list afterwards."""
    captured: list[str] = []
    with _FD2_LOCK, tempfile.TemporaryFile() as tmp:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no fd 2 to hold back (closed): nothing to quiet
            yield captured
            return
        os.dup2(tmp.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured.append(tmp.read().decode("utf-8", errors="replace"))


#: FFmpeg's log prefix (``[mov,mp4,... @ 0x5638..]``) and decord's (``[23:36:37] .../video_reader.cc:83:``)
FFMPEG_LINE = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")
DECORD_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] \S+:\d+: ")


def _native_reason(log: str, err: BaseException, path: str) -> str:
    """The whole reason a file did not open, from decord's and FFmpeg's lines (``ERROR opening: PATH, WHY`` and
    ``[mov,mp4,... @ 0x..] moov atom not found``), else from the exception. Other lines (another thread's output
    while fd 2 was held back) go to stderr as they were."""
    why, details, other = "", [], []
    for line in log.splitlines():
        opening = re.search(r"ERROR opening: " + re.escape(path) + r", (.+)$", line)
        if opening:
            why = opening.group(1).strip()
        elif FFMPEG_LINE.match(line):
            text = FFMPEG_LINE.sub("", line).strip().rstrip(".")
            if text and text not in details:
                details.append(text)
        elif not DECORD_LINE.match(line):
            other.append(line)
    if other:
        sys.stderr.write("\n".join(other) + "\n")
    if why or details:
        return why + (f" ({'; '.join(details)})" if why and details else "; ".join(details) if not why else "")
    return _short_reason(err)


BACKENDS: tuple[str, ...] = ("decord", "torchcodec")


def backend_available(backend: str) -> tuple[bool, str]:
    """Whether a decoding backend can be used here, and if not a one-line reason."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown video decoder {backend!r}; valid: {', '.join(BACKENDS)}")
    try:
        if backend == "torchcodec":
            from torchcodec.decoders import VideoDecoder  # noqa: F401  (loads FFmpeg: fails without it)
        else:
            import decord  # noqa: F401
    except Exception as err:  # ImportError, or RuntimeError/OSError when FFmpeg's libraries are missing
        return False, f"{backend} unavailable: {_short_reason(err)}"
    return True, ""


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise VideoDecodeError(path, "missing file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")


def scaled_size(height: int, width: int, short_side: int) -> tuple[int, int] | None:
    """``(h, w)`` with the short side ``short_side`` (aspect kept, even sizes), or None when not smaller."""
    if short_side <= 0 or min(height, width) <= short_side:
        return None
    scale = short_side / min(height, width)
    def even(v: float) -> int:
        return max(2, int(round(v / 2)) * 2)

    return (short_side, even(width * scale)) if height <= width else (even(height * scale), short_side)


def _probe_size(path: str) -> tuple[int, int] | None:
    """Frame ``(height, width)`` from the container header (PyAV; no frame is decoded), None if unknown."""
    import av

    try:
        with av.open(path) as container:
            ctx = container.streams.video[0].codec_context
            return int(ctx.height), int(ctx.width)
    except Exception:
        return None


def _video_streams(path: str) -> int | None:
    """How many video streams PyAV finds in the container (``None`` when it cannot open it either)."""
    import av

    try:
        with av.open(path) as container:
            return len(container.streams.video)
    except Exception:
        return None


def open_video(path: str, short_side: int = 0):  # -> decord.VideoReader (decord has no type stubs)
    """Open ``path`` with decord, one thread, after cheap file checks; frames scaled to ``short_side`` if > 0.

    Raises:
        VideoDecodeError: missing, empty or unreadable file, or a video with no frames.
    """
    import decord

    _check_file(path)
    size = None
    if short_side > 0:
        probed = _probe_size(path)
        size = None if probed is None else scaled_size(*probed, short_side)
    try:
        with native_stderr() as log:
            if size is None:
                reader = decord.VideoReader(path, num_threads=1)
            else:
                reader = decord.VideoReader(path, num_threads=1, height=size[0], width=size[1])
    except Exception as err:  # decord raises `Error reading PATH...`; the why went to fd 2 (held back in `log`)
        if _video_streams(path) == 0:  # decord's own words would be `st_nb >= 0 (-1381258232 vs. 0)`
            raise VideoDecodeError(path, "no video stream (an audio-only or data-only file)") from None
        raise VideoDecodeError(path, f"cannot open: {_native_reason(''.join(log), err, path)}") from None
    if log and log[0]:  # a file that opened: FFmpeg's warnings pass through as before
        sys.stderr.write(log[0])
    if usable_frames(reader) < 1:
        raise VideoDecodeError(path, "no frames")
    return reader


def usable_frames(reader) -> int:
    """Frames that can be indexed: the metadata count clamped to the packets decord indexed."""
    n = len(reader)
    if n < 1:
        return 0
    try:
        reader.get_frame_timestamp(0)
        pts = getattr(reader, "_frame_pts", None)
        if pts is not None:
            n = min(n, int(pts.shape[0]))
    except Exception:
        return 0
    return n


def video_info(path: str) -> VideoInfo:
    """Frame count, fps and size of a video (opens it; decodes one frame).

    Raises:
        VideoDecodeError: as :func:`open_video`, or when the first frame does not decode.
    """
    reader = open_video(path)
    try:
        h, w = reader[0].shape[:2]
    except Exception as err:
        h, w = _read_with_pyav(path, np.zeros(1, dtype=np.int64), err).shape[1:3]
    return VideoInfo(num_frames=usable_frames(reader), fps=float(reader.get_avg_fps()), height=int(h), width=int(w))


def _choose_checked(path: str, choose: Callable[[int], np.ndarray], n: int) -> np.ndarray:
    indices = np.asarray(choose(n), dtype=np.int64)
    if indices.size == 0:
        raise ValueError(f"{path}: no frame indices chosen")
    if indices.min() < 0 or indices.max() >= n:
        raise ValueError(f"{path}: frame indices out of range [0, {n}): {indices.min()}..{indices.max()}")
    return indices


def read_clip(path: str, choose: Callable[[int], np.ndarray], *, backend: str = "decord",
              short_side: int = 0) -> torch.Tensor:
    """Decode the frames that ``choose(num_frames)`` picks.

    Args:
        path: video file.
        choose: maps the usable frame count to an integer index array of any shape (e.g. ``(V, T)``).
        backend: ``"decord"`` (default) or ``"torchcodec"``.
        short_side: > 0: decord scales frames to this short side while decoding (when larger); torchcodec
            ignores it (frames at the stored size).

    Returns:
        ``uint8`` tensor of shape ``choose(n).shape + (H, W, 3)``.

    Raises:
        VideoDecodeError: when the file cannot be opened or the frames do not decode.
    """
    if backend == "torchcodec":
        return _read_with_torchcodec(path, choose)
    if backend != "decord":
        raise ValueError(f"unknown video decoder {backend!r}; valid: {', '.join(BACKENDS)}")
    reader = open_video(path, short_side)
    n = usable_frames(reader)
    indices = _choose_checked(path, choose, n)
    unique, inverse = np.unique(indices, return_inverse=True)
    try:
        frames = reader.get_batch(unique.tolist()).asnumpy()
    except Exception as err:
        frames = _read_with_pyav(path, unique, err)
        if short_side > 0:
            frames = _resize_frames(frames, short_side)
    finally:
        del reader
    if frames.ndim != 4 or frames.shape[0] != len(unique) or frames.shape[-1] != 3:
        raise VideoDecodeError(path, f"decoder returned frames of shape {frames.shape}")
    out = torch.from_numpy(frames)[torch.from_numpy(inverse.reshape(-1))]
    return out.reshape(*indices.shape, *frames.shape[1:])


def _resize_frames(frames: np.ndarray, short_side: int) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 scaled to ``short_side`` (bilinear) when larger: the PyAV fallback's frames match
    what decord's scaled reader would have returned."""
    size = scaled_size(frames.shape[1], frames.shape[2], short_side)
    if size is None:
        return frames
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _read_with_torchcodec(path: str, choose: Callable[[int], np.ndarray], device: str = "cpu") -> torch.Tensor:
    """Decode the chosen frames with TorchCodec (exact indices, one FFmpeg thread)."""
    ok, why = backend_available("torchcodec")
    if not ok:
        raise RuntimeError(why)
    from torchcodec.decoders import VideoDecoder

    _check_file(path)
    try:
        decoder = VideoDecoder(path, device=device, dimension_order="NHWC", num_ffmpeg_threads=1)
        n = int(decoder.metadata.num_frames or len(decoder))
    except Exception as err:
        raise VideoDecodeError(path, f"cannot open ({_short_reason(err)})") from None
    if n < 1:
        raise VideoDecodeError(path, "no frames")
    indices = _choose_checked(path, choose, n)
    unique, inverse = np.unique(indices, return_inverse=True)
    try:
        frames = decoder.get_frames_at(unique.tolist()).data
    except Exception as err:
        raise VideoDecodeError(path, f"decode failed ({_short_reason(err)})") from None
    if frames.ndim != 4 or frames.shape[0] != len(unique) or frames.shape[-1] != 3:
        raise VideoDecodeError(path, f"decoder returned frames of shape {tuple(frames.shape)}")
    out = frames[torch.from_numpy(inverse.reshape(-1)).to(frames.device)]
    return out.reshape(*indices.shape, *frames.shape[1:])


def _read_with_pyav(path: str, indices: np.ndarray, decord_error: BaseException) -> np.ndarray:
    """Decode ``indices`` (sorted, unique) sequentially with PyAV after decord's ``get_batch`` failed.

    decord 0.6 fails on some valid files, e.g. frames narrower than 80 px whose width is not a multiple of
    32 ("DECORDArrayCopyFromTo: The size must exactly match"); PyAV decodes them.

    Raises:
        VideoDecodeError: when PyAV fails too or the file has fewer frames than requested.
    """
    import av

    wanted = set(indices.tolist())
    out: dict[int, np.ndarray] = {}
    try:
        with av.open(path) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i in wanted:
                    out[i] = frame.to_ndarray(format="rgb24")
                if i >= indices[-1]:
                    break
    except Exception as err:
        raise VideoDecodeError(path, f"decode failed (decord: {_short_reason(decord_error)}; "
                                     f"PyAV: {_short_reason(err)})") from None
    if len(out) != len(wanted):
        raise VideoDecodeError(path, f"decode failed (decord: {_short_reason(decord_error)}; PyAV decoded "
                                     f"{len(out)} of {len(wanted)} frames)")
    return np.stack([out[i] for i in indices.tolist()])


def check_video(path: str, *, full: bool = False) -> VideoInfo:
    """Open a video and decode its first, middle and last frames (every frame when ``full``).

    Used by ``mmlookup data scan``. Returns its :class:`VideoInfo`.

    Raises:
        VideoDecodeError: naming the reason the file is unusable.
    """
    reader = open_video(path)
    n = usable_frames(reader)
    idx = list(range(n)) if full else sorted({0, n // 2, n - 1})
    try:
        frames = reader.get_batch(idx).asnumpy()
    except Exception as err:
        frames = _read_with_pyav(path, np.asarray(idx, dtype=np.int64), err)
    if frames.shape[0] != len(idx):
        raise VideoDecodeError(path, f"decoded {frames.shape[0]} of {len(idx)} frames")
    return VideoInfo(num_frames=n, fps=float(reader.get_avg_fps()), height=int(frames.shape[1]),
                     width=int(frames.shape[2]))


# ------------------------------------------------------------------------------------------------- images


def read_image(path: str) -> torch.Tensor:
    """Decode a still image (JPEG, PNG, ...) as RGB uint8 ``(1, H, W, 3)``: a one-frame clip.

    Pillow decodes it fully here (grey and CMYK JPEGs become RGB), so a truncated file fails now, not later.

    Raises:
        VideoDecodeError: missing, empty, truncated or undecodable file (the dataset logs, counts, replaces it).
    """
    from PIL import Image

    if not os.path.exists(path):
        raise VideoDecodeError(path, "missing file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")
    try:
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB"))
    except Exception as err:  # PIL raises UnidentifiedImageError / OSError ("image file is truncated") / ...
        raise VideoDecodeError(path, f"cannot decode image ({_short_reason(err)})") from None
    return torch.from_numpy(array.copy()).unsqueeze(0)


def read_frames(path: str, choose: Callable[[int], np.ndarray], *, backend: str = "decord",
                short_side: int = 0) -> torch.Tensor:
    """:func:`read_clip` for videos (``backend``, ``short_side`` as there); for an image (by extension) its single
    frame, indexed by ``choose(1)`` (so every sampled frame of every view is that frame). Returns
    ``choose(n).shape + (H, W, 3)`` uint8.

    Raises:
        VideoDecodeError: when the file cannot be decoded.
    """
    from mmlookup.data.annotations import is_image_path

    if not is_image_path(path):
        return read_clip(path, choose, backend=backend, short_side=short_side)
    frame = read_image(path)
    indices = torch.as_tensor(np.asarray(choose(1), dtype=np.int64))
    return frame[indices.reshape(-1)].reshape(*indices.shape, *frame.shape[1:])


def check_image(path: str) -> VideoInfo:
    """Decode an image completely (``mmlookup data scan``); its :class:`VideoInfo` has one frame and fps 0.

    Raises:
        VideoDecodeError: as :func:`read_image`.
    """
    frame = read_image(path)
    return VideoInfo(num_frames=1, fps=0.0, height=int(frame.shape[1]), width=int(frame.shape[2]))
