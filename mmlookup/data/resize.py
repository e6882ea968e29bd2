"""``mmlookup data resize``: re-encode a video dataset to a short side of 256 / 320 with a short GOP.

The usual Kinetics preparation: downloaded clips are often 720p or larger with a key frame every 250 frames,
so decoding a 16x4 clip decodes far more pixels and frames than it uses. Re-encoded at short side 256 (or 320)
with a key frame every ``gop`` frames (default 16), a clip costs a fraction to decode (``mmlookup bench --data``).

Every video under ``SRC`` (``.mp4 .webm .mkv .avi .mov``) is written to the same relative path under ``DST``
with the same name and container, so the annotation files keep working with ``data.root = DST``. Smaller
videos are not upscaled (only re-encoded). Audio is dropped. It uses the ``ffmpeg`` program when it is on
``PATH``, else PyAV (slower: frames go through numpy). Files that already exist in ``DST`` are skipped, so
an interrupted run can be resumed.

    mmlookup data resize data/kinetics400/videos data/kinetics400/videos_256 --short-side 256 --workers 16
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

VIDEO_EXTS = (".mp4", ".webm", ".mkv", ".avi", ".mov")


@dataclass(frozen=True)
class ResizeJob:
    src: str
    dst: str
    short_side: int
    gop: int
    crf: int
    tool: str  # ffmpeg | pyav


def find_videos(root: str) -> list[str]:
    """Relative paths of the videos under ``root``, sorted."""
    out = []
    for dirpath, _, names in os.walk(root):
        out += [os.path.relpath(os.path.join(dirpath, n), root) for n in names if n.lower().endswith(VIDEO_EXTS)]
    return sorted(out)


def _codec(path: str) -> str:
    return "libvpx-vp9" if path.lower().endswith(".webm") else "libx264"


def ffmpeg_command(job: ResizeJob) -> list[str]:
    """The ``ffmpeg`` command for one file: short side ``short_side`` (no upscaling, even sizes), ``gop``."""
    s = job.short_side
    scale = (f"scale=w='if(lte(iw,ih),min({s},iw),-2)':h='if(lte(iw,ih),-2,min({s},ih))'"
             ":flags=bicubic")
    codec = _codec(job.dst)
    quality = (["-preset", "veryfast", "-crf", str(job.crf), "-pix_fmt", "yuv420p"] if codec == "libx264"
               else ["-deadline", "good", "-cpu-used", "4", "-crf", str(job.crf + 10), "-b:v", "0"])
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", job.src, "-vf", scale, "-an",
            "-c:v", codec, "-g", str(job.gop), "-keyint_min", str(job.gop), *quality, "-threads", "1", job.dst]


def _resize_pyav(job: ResizeJob) -> None:
    import av
    import numpy as np

    from mmlookup.data.decode import scaled_size
    from mmlookup.data.encode import write_video

    frames = []
    with av.open(job.src) as container:
        stream = container.streams.video[0]
        fps = int(round(float(stream.average_rate or 30)))
        for frame in container.decode(video=0):
            size = scaled_size(frame.height, frame.width, job.short_side) or (frame.height, frame.width)
            frames.append(frame.reformat(width=size[1], height=size[0], format="rgb24").to_ndarray())
    if not frames:
        raise RuntimeError("no frames decoded")
    write_video(job.dst, np.stack(frames), fps, codec=_codec(job.dst), gop=job.gop)


def resize_one(job: ResizeJob) -> tuple[str, str]:
    """Re-encode one file; returns ``(src, "")`` or ``(src, reason)`` on failure (the partial output removed)."""
    os.makedirs(os.path.dirname(job.dst) or ".", exist_ok=True)
    tmp = job.dst + ".part" + os.path.splitext(job.dst)[1]
    try:
        if job.tool == "ffmpeg":
            proc = subprocess.run(ffmpeg_command(ResizeJob(job.src, tmp, job.short_side, job.gop, job.crf, "ffmpeg")),
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(" ".join(proc.stderr.split())[-200:] or f"ffmpeg exit {proc.returncode}")
        else:
            _resize_pyav(ResizeJob(job.src, tmp, job.short_side, job.gop, job.crf, "pyav"))
        os.replace(tmp, job.dst)
        return job.src, ""
    except Exception as err:  # one bad file must not stop the dataset
        if os.path.exists(tmp):
            os.remove(tmp)
        return job.src, f"{type(err).__name__}: {err}"[:240]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="mmlookup data resize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", help="folder with the videos (searched recursively)")
    p.add_argument("dst", help="output folder (same relative paths and names)")
    p.add_argument("--short-side", type=int, default=256, help="short side in pixels (256 or 320 usual)")
    p.add_argument("--gop", type=int, default=16, help="frames between key frames (default 16)")
    p.add_argument("--crf", type=int, default=23, help="x264 quality (VP9 uses crf + 10)")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument("--tool", choices=["auto", "ffmpeg", "pyav"], default="auto",
                   help="auto: the ffmpeg program when on PATH, else PyAV")
    args = p.parse_args(argv)
    if not os.path.isdir(args.src):
        p.error(f"source folder {args.src!r} does not exist")
    if args.short_side < 16 or args.gop < 1:
        p.error("--short-side must be >= 16 and --gop >= 1")
    if os.path.abspath(args.src) == os.path.abspath(args.dst):
        p.error("dst must differ from src (files are written beside nothing they replace)")
    tool = args.tool if args.tool != "auto" else ("ffmpeg" if shutil.which("ffmpeg") else "pyav")
    if tool == "ffmpeg" and not shutil.which("ffmpeg"):
        p.error("the ffmpeg program is not on PATH (use --tool pyav)")
    rel = find_videos(args.src)
    todo = [ResizeJob(os.path.join(args.src, r), os.path.join(args.dst, r), args.short_side, args.gop, args.crf, tool)
            for r in rel if not os.path.exists(os.path.join(args.dst, r))]
    print(f"{len(rel)} videos under {args.src}; {len(rel) - len(todo)} already done; re-encoding {len(todo)} to "
          f"short side {args.short_side}, GOP {args.gop} with {tool}, {args.workers} workers", file=sys.stderr)
    failed = []
    from tqdm import tqdm

    with mp.get_context("spawn").Pool(max(1, args.workers)) as pool:
        for src, reason in tqdm(pool.imap_unordered(resize_one, todo), total=len(todo), unit="video",
                                file=sys.stderr):
            if reason:
                failed.append((src, reason))
    for src, reason in sorted(failed):
        print(f"FAILED {src}: {reason}")
    print(f"re-encoded {len(todo) - len(failed)} of {len(todo)} videos into {args.dst}"
          + (f"; {len(failed)} failed (listed above)" if failed else ""))
    return 1 if failed else 0
