"""``mmlookup bench --data``: data-loader throughput (clips/s) of the training pipeline.

Measures the full training path (decord decode of a 16x4 dense clip, random resized crop to 224,
flip, normalisation, collation) for several ``DataLoader`` worker counts. By default it first writes
K400-like source videos: 10 s at 30 fps, 340x256 (short side 256), H.264 with x264's default key-frame
interval of 250, as downloaded K400 clips typically are. ``--videos`` points it at real files instead
(an annotation file or a folder per class; see ``mmlookup data scan``).

``--options`` compares loader options side by side (one table row per option and worker count):

* ``decord`` — the default path;
* ``torchcodec`` — TorchCodec's CPU decoder (skipped, with the reason, when it cannot load);
* ``short224`` — decord scales frames to short side 224 while decoding (``data.decode_short_side``);
* ``ns2`` — repeated augmentation, two clips per decoded video (``data.num_sample=2``);
* ``gop16`` — the source re-encoded by ``mmlookup data resize`` (same short side, key frame every 16 frames).

Example::

    mmlookup bench --data --workers 0 1 2 --clips 48
    mmlookup bench --data --workers 1 --options decord torchcodec short224 ns2 gop16
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

OPTIONS = ("decord", "torchcodec", "short224", "ns2", "gop16")


@dataclass(frozen=True)
class LoaderResult:
    """Throughput of one worker count."""

    option: str
    workers: int
    clips: int
    seconds: float

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.seconds

    @property
    def clips_per_s_per_worker(self) -> float:
        return self.clips_per_s / max(1, self.workers)


def write_source_videos(out_dir: str, count: int, *, frames: int, height: int, width: int, fps: int, gop: int,
                        seed: int = 0) -> str:
    """Write ``count`` synthetic source videos and a ``path label`` list file; returns the list file."""
    from mmlookup.data.encode import write_video
    from mmlookup.data.render import MOTIONS, draw_spec, render

    rng = np.random.default_rng(seed)
    lines = []
    for i in range(count):
        motion = MOTIONS[i % len(MOTIONS)]
        spec = draw_spec(rng, motion, os.path.join(out_dir, f"{i:03d}.mp4"), frames=frames, height=height,
                         width=width, fps=fps)
        write_video(spec.path, render(spec), fps, gop=gop)
        lines.append(f"{i:03d}.mp4 {i % len(MOTIONS)}")
    list_file = os.path.join(out_dir, "list.txt")
    with open(list_file, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return list_file


def measure(dataset, workers: int, clips: int, batch_size: int, seed: int = 0, option: str = "decord") -> LoaderResult:
    """Clips/s of one full pass setting over ``clips`` clips (after one warm-up batch)."""
    from mmlookup.data import collate_clips

    per_video = getattr(dataset, "num_sample", 1)
    batch_size = max(1, batch_size // per_video)  # a batch holds batch_size clips whatever num_sample is
    clips = clips // per_video
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=clips + batch_size,
                                             generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                        collate_fn=collate_clips, persistent_workers=False)
    it = iter(loader)
    next(it)  # warm-up: worker start, first open
    start, n = time.perf_counter(), 0
    for batch in it:
        n += len(batch)
    return LoaderResult(option, workers, n, time.perf_counter() - start)


def _resize_sources(src_root: str, list_file: str, dst_root: str, short_side: int, gop: int) -> str:
    """Re-encode the list's videos with ``mmlookup data resize``; returns the copied list file."""
    import shutil

    from mmlookup.data.resize import main as resize_main

    if resize_main([src_root, dst_root, "--short-side", str(short_side), "--gop", str(gop), "--workers", "2"]):
        raise RuntimeError("re-encoding the source videos failed")
    return shutil.copy(list_file, os.path.join(dst_root, os.path.basename(list_file)))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a Markdown table; returns 0."""
    p = argparse.ArgumentParser(prog="mmlookup bench --data", description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", default=None, help="annotation file or class folder of real videos")
    p.add_argument("--root", default=None, help="video root for --videos (default: beside the file)")
    p.add_argument("--format", default="auto")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--clips", type=int, default=48, help="clips timed per worker count")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--num-frames", type=int, default=16)
    p.add_argument("--frame-interval", type=int, default=4)
    p.add_argument("--crop-size", type=int, default=224)
    p.add_argument("--source-videos", type=int, default=8, help="synthetic source videos to write")
    p.add_argument("--source-frames", type=int, default=300)
    p.add_argument("--source-size", type=int, nargs=2, default=[256, 340], metavar=("H", "W"))
    p.add_argument("--source-gop", type=int, default=250)
    p.add_argument("--options", nargs="+", default=["decord"], choices=OPTIONS,
                   help="loader options to compare (default decord)")
    args = p.parse_args(argv)
    from mmlookup.data import build_video_dataset

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="mmlookup_bench_data_") as tmp:
        if args.videos:
            annotations = args.videos
            root = args.root or (annotations if os.path.isdir(annotations) else os.path.dirname(annotations))
            source = f"{annotations}"
        else:
            t0 = time.perf_counter()
            annotations = write_source_videos(tmp, args.source_videos, frames=args.source_frames,
                                              height=args.source_size[0], width=args.source_size[1], fps=30,
                                              gop=args.source_gop)
            root = tmp
            source = (f"{args.source_videos} synthetic H.264 videos, {args.source_frames} frames, "
                      f"{args.source_size[1]}x{args.source_size[0]}, GOP {args.source_gop} "
                      f"(written in {time.perf_counter() - t0:.1f} s)")
        from mmlookup.data.decode import backend_available

        fmt = args.format if args.videos else "list"
        results, skipped = [], []
        for option in args.options:
            kwargs, ann, opt_root = {}, annotations, root
            if option == "torchcodec":
                ok, why = backend_available("torchcodec")
                if not ok:
                    skipped.append(why)
                    continue
                kwargs["decoder"] = "torchcodec"
            elif option == "short224":
                kwargs["decode_short_side"] = 224
            elif option == "ns2":
                kwargs["num_sample"] = 2
            elif option == "gop16":
                if args.videos:
                    skipped.append("gop16 needs the synthetic sources (re-encode real ones with `mmlookup data "
                                   "resize` and pass them as --videos)")
                    continue
                opt_root = os.path.join(tmp, "gop16")
                ann = _resize_sources(root, annotations, opt_root, min(args.source_size), 16)
            dataset = build_video_dataset(fmt, ann, opt_root, train=True, num_frames=args.num_frames,
                                          frame_interval=args.frame_interval, crop_size=args.crop_size, **kwargs)
            results += [measure(dataset, w, args.clips, args.batch_size, option=option) for w in args.workers]
    print(f"data loader: {args.num_frames}x{args.frame_interval} dense clips, RRC {args.crop_size}, flip, "
          f"normalise; batch {args.batch_size} clips; {os.cpu_count()} CPUs; source: {source}")
    print("| option | workers | clips | seconds | clips/s | clips/s per worker |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.option} | {r.workers} | {r.clips} | {r.seconds:.1f} | {r.clips_per_s:.2f} | "
              f"{r.clips_per_s_per_worker:.2f} |")
    for why in skipped:
        print(f"skipped: {why}")
    return 0
