"""``mmlookup data``: ``synth`` (write the synthetic dataset), ``scan`` (list unusable videos), ``stats``,
``resize`` (re-encode to a short side and a short GOP, :mod:`mmlookup.data.resize`).

Examples::

    mmlookup data synth data/synthetic --seed 0
    mmlookup data scan data/kinetics400/train.csv data/kinetics400/videos      # also lists oversized videos
    mmlookup data scan ssv2/validation.json ssv2/videos --labels ssv2/labels.json
    mmlookup data stats data/synthetic/k400/train.csv data/synthetic/k400
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
from collections import Counter
from dataclasses import dataclass, fields

import numpy as np

from mmlookup.data.annotations import FORMATS, is_image_path, read_annotations
from mmlookup.data.decode import VideoDecodeError, VideoInfo, check_image, check_video, video_info
from mmlookup.data.records import VideoRecord


@dataclass(frozen=True)
class ScanResult:
    """Outcome of checking one record: ``info`` when usable, else ``reason``."""

    record: VideoRecord
    info: VideoInfo | None
    reason: str


def _check(record: VideoRecord, full: bool) -> ScanResult:
    try:
        if is_image_path(record.path):  # ImageNet-style sets: decode the whole image
            return ScanResult(record, check_image(record.path), "")
        return ScanResult(record, check_video(record.path, full=full), "")
    except VideoDecodeError as err:
        return ScanResult(record, None, err.reason)


def _info(record: VideoRecord) -> ScanResult:
    try:
        return ScanResult(record, video_info(record.path), "")
    except VideoDecodeError as err:
        return ScanResult(record, None, err.reason)


def _run(func, records: list[VideoRecord], workers: int, desc: str, timeout: float = 0.0,
         *args) -> list[ScanResult]:
    """``func(record, *args)`` for every record, in worker processes (order kept), progress bar on stderr.

    With ``timeout > 0`` a file whose check has not returned ``timeout`` seconds after it is awaited (a decoder
    stuck inside C code cannot be interrupted) is reported as timed out: the pool, hung worker included, is
    terminated and a fresh one goes on with the records after it.
    """
    from tqdm import tqdm

    results: list[ScanResult] = []
    with tqdm(total=len(records), desc=desc, unit="video", file=sys.stderr) as bar:
        if workers <= 1 and timeout <= 0:
            for record in records:
                results.append(func(record, *args))
                bar.update(1)
            return results
        while len(results) < len(records):
            pool = mp.get_context("fork").Pool(max(1, workers))
            try:
                rest = records[len(results):]
                for record, handle in zip(rest, [pool.apply_async(func, (r, *args)) for r in rest]):
                    try:
                        results.append(handle.get(timeout=timeout if timeout > 0 else None))
                    except mp.TimeoutError:
                        results.append(ScanResult(record, None, f"timed out (no answer within {timeout:g} s)"))
                        bar.update(1)
                        break  # the worker may hang for good: start a fresh pool for the rest
                    bar.update(1)
            finally:
                pool.terminate()
    return results


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("annotations", help="K400 CSV, SSv2 JSON, list file, or a folder per class")
    p.add_argument("root", nargs="?", default=None, help="folder the videos are under (default: beside the file)")
    p.add_argument("--format", default="auto", choices=("auto",) + FORMATS)
    p.add_argument("--labels", default=None, help="class names file (SSv2 labels.json when not beside the file)")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds one file may take before it is reported as timed out (0 = no limit)")


def _records(args: argparse.Namespace) -> list[VideoRecord]:
    root = args.root or (args.annotations if os.path.isdir(args.annotations) else os.path.dirname(args.annotations))
    return read_annotations(args.format, args.annotations, root, labels_file=args.labels).records


def scan_main(argv: list[str]) -> int:
    """``mmlookup data scan``: one line per unusable video, then counts; exit 1 when any is bad."""
    p = argparse.ArgumentParser(prog="mmlookup data scan", description="List missing or undecodable videos.")
    _add_common(p)
    p.add_argument("--full", action="store_true", help="decode every frame (slow) instead of first/middle/last")
    p.add_argument("--short-side", type=int, default=256, metavar="N",
                   help="the recipe's data.short_side (default 256): videos whose short side is more than "
                   f"{OVERSIZED}x this are listed as oversized (0 = do not check)")
    args = p.parse_args(argv)
    records = _records(args)
    results = _run(_check, records, args.workers, "scan", args.timeout, args.full)
    bad = [r for r in results if r.info is None]
    for r in bad:
        print(f"{r.record.name}\t{r.record.path}\t{r.reason}")
    big = oversized(results, args.short_side)
    for r in big:
        i = r.info
        print(f"{r.record.name}\t{r.record.path}\toversized {i.width}x{i.height} (short side {min(i.height, i.width)}"
              f" > {OVERSIZED} x {args.short_side}: ~{_pixels(i, args.short_side):.0f}x the pixels to decode and "
              "convert)")
    reasons = Counter(r.reason.split(" (")[0] for r in bad)
    print(f"scanned {len(results)} videos: {len(results) - len(bad)} ok, {len(bad)} bad"
          + "".join(f"; {n} {why}" for why, n in reasons.most_common())
          + (f"; {len(big)} oversized (decoded far above the training size: re-encode them with `mmlookup data "
             f"resize SRC DST --short-side {args.short_side}`, or scale while decoding with "
             f"--set data.decode_short_side={args.short_side})" if big else ""))
    return 1 if bad else 0


#: ``data scan`` lists videos whose short side is more than this many times the training short side.
OVERSIZED = 2


def oversized(results: list[ScanResult], short_side: int) -> list[ScanResult]:
    """Usable videos (not images) whose short side exceeds :data:`OVERSIZED` x ``short_side``."""
    if short_side <= 0:
        return []
    return [r for r in results if r.info is not None and not is_image_path(r.record.path)
            and min(r.info.height, r.info.width) > OVERSIZED * short_side]


def _pixels(info: VideoInfo, short_side: int) -> float:
    return (min(info.height, info.width) / short_side) ** 2


def _distribution(name: str, values: list[float]) -> str:
    v = np.asarray(values, dtype=np.float64)
    q = np.percentile(v, [0, 5, 50, 95, 100])
    return (f"{name:<10} min {q[0]:.4g}  p5 {q[1]:.4g}  median {q[2]:.4g}  p95 {q[3]:.4g}  max {q[4]:.4g}  "
            f"mean {v.mean():.4g}")


def stats_main(argv: list[str]) -> int:
    """``mmlookup data stats``: frame count, fps, duration and resolution distributions."""
    p = argparse.ArgumentParser(prog="mmlookup data stats", description="Frames / fps / resolution statistics.")
    _add_common(p)
    p.add_argument("--limit", type=int, default=0, help="look at the first N records only (0 = all)")
    args = p.parse_args(argv)
    records = _records(args)
    if args.limit > 0:
        records = records[: args.limit]
    results = _run(_info, records, args.workers, "stats", args.timeout)
    infos = [r.info for r in results if r.info is not None]
    print(f"{len(results)} videos, {len(infos)} readable, {len(results) - len(infos)} unreadable")
    if not infos:
        return 1
    print(_distribution("frames", [i.num_frames for i in infos]))
    print(_distribution("fps", [i.fps for i in infos]))
    print(_distribution("seconds", [i.num_frames / i.fps for i in infos if i.fps > 0] or [0.0]))
    print(_distribution("short side", [min(i.height, i.width) for i in infos]))
    print("resolutions (W x H, most common):")
    for (w, h), n in Counter((i.width, i.height) for i in infos).most_common(10):
        print(f"  {w}x{h}: {n}")
    print("frame rates (most common): " + ", ".join(f"{fps:g}: {n}" for fps, n in
                                                     Counter(round(i.fps, 2) for i in infos).most_common(5)))
    portrait = sum(i.height > i.width for i in infos)
    print(f"portrait videos: {portrait}")
    return 0


def synth_main(argv: list[str]) -> int:
    """``mmlookup data synth OUT``: write the synthetic dataset (see :mod:`mmlookup.data.synthetic`)."""
    from mmlookup.data.synthetic import SynthSizes, complete_with, generate

    p = argparse.ArgumentParser(prog="mmlookup data synth", description="Write the built-in synthetic dataset.")
    p.add_argument("out", help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="the few-clip set the tests use")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--force", action="store_true", help="rewrite a complete set written with the same seed and sizes")
    defaults = SynthSizes()
    for f in fields(SynthSizes):
        p.add_argument("--" + f.name.replace("_", "-"), type=int, default=None,
                       help=f"default {getattr(defaults, f.name)} ({getattr(SynthSizes.tiny(), f.name)} with --tiny)")
    args = p.parse_args(argv)
    base = SynthSizes.tiny() if args.tiny else defaults
    overrides = {f.name: getattr(args, f.name) for f in fields(SynthSizes) if getattr(args, f.name) is not None}
    sizes = SynthSizes(**{**base.__dict__, **overrides})
    if not args.force and complete_with(args.out, args.seed, sizes):
        print(f"{args.out} already holds the complete synthetic dataset (seed {args.seed}, the same sizes); nothing "
              "written (--force rewrites it)")
        return 0
    try:
        paths = generate(args.out, seed=args.seed, sizes=sizes, workers=args.workers)
    except ValueError as err:
        p.error(str(err))
    print(f"wrote the synthetic dataset to {paths.root}")
    for f in fields(paths):
        if f.name not in ("root", "classes"):
            print(f"  {f.name:<26} {getattr(paths, f.name)}")
    print(f"  classes ({len(paths.classes)}): {', '.join(paths.classes)}")
    return 0


def longvideo_main(argv: list[str]) -> int:
    """``mmlookup data longvideo OUT.mp4``: see :mod:`mmlookup.data.longvideo`."""
    from mmlookup.data.longvideo import CLASS_SETS, LongVideoCfg, write_long_video

    p = argparse.ArgumentParser(prog="mmlookup data longvideo", description="Write a long synthetic video of clips of "
                                "known classes and its ground-truth segments (OUT.json) for the long-video benchmark.")
    p.add_argument("out", help="output video (.mp4); the ground truth goes beside it as .json")
    p.add_argument("--minutes", type=float, default=1.0, help="length (default 1)")
    p.add_argument("--classes", default="demo", choices=CLASS_SETS, help="the demo's 8 motions or motion16's 16")
    p.add_argument("--size", type=int, default=112, help="frame side (default 112, the synthetic set's)")
    p.add_argument("--max-clips", type=int, default=4, help="a segment is 1..N clips of its class (default 4)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        truth = write_long_video(args.out, LongVideoCfg(seconds=args.minutes * 60, classes=args.classes,
                                                        size=args.size, max_clips=args.max_clips, seed=args.seed))
    except ValueError as err:
        p.error(str(err))
    print(f"wrote {args.out}: {truth['frames']} frames at {truth['fps']} fps, {len(truth['segments'])} segments "
          f"(ground truth {os.path.splitext(args.out)[0]}.json)")
    return 0


def resize_main(argv: list[str]) -> int:
    """``mmlookup data resize SRC DST``: see :mod:`mmlookup.data.resize`."""
    from mmlookup.data.resize import main as resize

    return resize(argv)


SUBCOMMANDS = {"synth": synth_main, "scan": scan_main, "stats": stats_main, "resize": resize_main,
               "longvideo": longvideo_main}


def main(argv: list[str]) -> int:
    """Dispatch ``mmlookup data SUBCOMMAND``."""
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUBCOMMANDS:
        print("usage: mmlookup data {synth,scan,stats,resize,longvideo} ...\n"
              "  synth OUT [--seed S] [--tiny] [sizes]   write the synthetic dataset\n"
              "  scan ANNOTATIONS [ROOT]                 list missing/undecodable videos (exit 1 if any)\n"
              "  stats ANNOTATIONS [ROOT]                frames / fps / resolution distributions\n"
              "  resize SRC DST [--short-side 256]       re-encode videos to a short side with a short GOP\n"
              "  longvideo OUT.mp4 [--minutes 1]         a long video of known segments (+ OUT.json)",
              file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return SUBCOMMANDS[argv[0]](argv[1:])
