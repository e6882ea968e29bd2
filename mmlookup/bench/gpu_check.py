"""One-command GPU check (``tools/gpu_check.sh``): inference and training bench, a recipe's training steps and
caption training steps, written as one Markdown report.

On a GPU (< 8 min on one H100/H200-class device): ViT-B, LookupViT-B at 2x5x5 / 4x5x5 / 4x7x7, EViT-B and ATS-B
on 16x224² clips in bf16 autocast, inference at batch 64 and one AdamW training step at batch 32 (batch sizes
that keep an 80 GB device busy), with model FLOP utilisation = achieved FLOP/s ÷ the device's dense bf16 peak
(named in the report; ``unknown peak`` for devices not in ``BF16_PEAK_TFLOPS``); then 50 optimizer steps of
``recipes/k400/lookupvit_b16_16x4.py`` on synthetic K400-format videos at full size (64 frames, 256², decoded
by the real loader) and 50 steps of ``recipes/coco/caption_synthetic.py``.

``--dry-run`` runs the same code on CPU at tiny sizes (nano models on 8x64² clips, two training steps of each
recipe on the few-clip synthetic set) in well under a minute; CI runs it.

    tools/gpu_check.sh                    # on a GPU node; writes runs/gpu_check.md
    tools/gpu_check.sh --dry-run          # CPU, tiny
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from mmlookup.words import plural

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CheckSizes:
    """What to run; :meth:`full` on a GPU, :meth:`dry` on CPU."""

    size: str
    frames: int
    img: int
    grids: tuple[str, ...]
    infer_batch: int
    train_batch: int
    repeats: int
    recipe_steps: int
    recipe_batch: int
    caption_steps: int
    dtype: str

    @classmethod
    def full(cls) -> CheckSizes:
        return cls("base", 16, 224, ("2x5x5", "4x5x5", "4x7x7"), 64, 32, 10, 50, 12, 50, "bf16")

    @classmethod
    def dry(cls) -> CheckSizes:
        return cls("nano", 8, 64, ("2x2x2", "2x4x4"), 2, 2, 1, 2, 2, 2, "fp32")


def _bench_args(s: CheckSizes) -> argparse.Namespace:
    return argparse.Namespace(size=s.size, encoders=None, grids=list(s.grids), frames=s.frames, img_size=s.img,
                              small=False, no_timm=True)


def _mfu(gmacs: float, clips_per_s: float, peak: float | None) -> str:
    return "-" if peak is None else f"{100 * 2 * gmacs * 1e9 * clips_per_s / (peak * 1e12):.1f}%"


def bench_section(s: CheckSizes, device: torch.device) -> list[str]:
    """Inference and training tables (one interleaved run each)."""
    from mmlookup.bench.cli import build_cases, format_rows, run_bench
    from mmlookup.bench.throughput import device_peak_tflops
    from mmlookup.bench.train import format_train_rows, run_train_bench

    peak = device_peak_tflops(device)
    cases, shape = build_cases(_bench_args(s))
    rows = run_bench(cases, shape, s.infer_batch, device, s.dtype, warmup=2, repeats=s.repeats)
    mfu = [_mfu(r.exec_gmacs, r.clips_per_s, peak) for r in rows]
    table = format_rows(rows, "md").splitlines()
    table = [table[0] + " MFU |", table[1] + "---|"] + [line + f" {m} |" for line, m in zip(table[2:], mfu)]
    out = [f"### Inference ({s.dtype}, batch {s.infer_batch}, {s.frames}x{s.img}²)", "", *table, ""]
    cases, shape = build_cases(_bench_args(s))  # fresh models for training
    train_rows = run_train_bench(cases, shape, s.train_batch, device, s.dtype, warmup=2, repeats=s.repeats)
    out += [f"### One training step: forward + backward + AdamW ({s.dtype}, batch {s.train_batch})", "",
            format_train_rows(train_rows, "md"), ""]
    return out


def _synthetic(root: Path, dry: bool) -> Path:
    from mmlookup.data.synthetic import SynthSizes, generate

    sizes = SynthSizes.tiny() if dry else SynthSizes(train_per_class=16, val_per_class=2, ssv2_train_per_class=1,
                                                      ssv2_val_per_class=1, frames=64, size=256,
                                                      caption_videos_train=32, caption_videos_val=8)
    generate(str(root), seed=0, sizes=sizes, workers=min(16, os.cpu_count() or 1), progress=False)
    return root


def recipe_section(s: CheckSizes, work: Path, dry: bool) -> list[str]:
    """Training steps of the K400 LookupViT recipe on synthetic full-size videos, and of the caption recipe."""
    from mmlookup.config import apply_overrides, load_recipe, resolve_paths
    from mmlookup.engine.fit import fit

    data = _synthetic(work / "synthetic", dry)
    workers = 0 if dry else max(1, min(10, (os.cpu_count() or 2) - 2))
    k400 = load_recipe(REPO / "recipes/k400/lookupvit_b16_16x4.py")
    over = [f"data.root={data / 'k400'}", "data.synthetic=False", f"train.max_steps={s.recipe_steps}",
            f"train.batch_size={s.recipe_batch}", "train.accum_steps=1", f"train.num_workers={workers}",
            "train.tensorboard=False", "train.eval_every=0", f"train.output_dir={work / 'runs/k400'}",
            "eval.num_clips=1", "eval.num_crops=1", f"eval.num_workers={workers}", "train.log_every=10"]
    if dry:
        over += ["model.encoder=lookupvit_nano", "model.num_frames=8", "model.img_size=64", "model.patch_size=8",
                 "model.grids=((2,4,4),)", "data.frame_interval=1", "data.randaugment=False"]
    lines = ["### Recipes", "", "| run | steps | seconds | seconds/step | result |", "|---|---|---|---|---|"]
    t0 = time.perf_counter()
    result = fit(apply_overrides(k400, over))
    secs = time.perf_counter() - t0
    lines.append(f"| {k400.name} on synthetic K400 ({s.recipe_batch} clips/step) | {s.recipe_steps} | {secs:.0f} | "
                 f"{secs / s.recipe_steps:.2f} (incl. start, eval, checkpoint) | {_short(result)} |")
    # the speed check trains on a random frozen encoder (``:random``), whatever runs/ holds; the recipe's relative
    # paths (data/synthetic/coco/...) are resolved against the work folder, so nothing depends on the current one
    work.joinpath("data").mkdir(parents=True, exist_ok=True)
    if not (work / "data/synthetic").exists():
        os.symlink(data, work / "data/synthetic")
    cap = resolve_paths(load_recipe(f"{REPO / 'recipes/coco/caption_synthetic.py'}:random"), work)
    prec = "bf16" if s.dtype == "bf16" else "no"
    over = [f"train.max_steps={s.caption_steps}", "train.tensorboard=False", f"train.precision={prec}",
            f"train.output_dir={work / 'runs/caption'}", "caption.max_eval_samples=8"]
    over += ["train.batch_size=2"] if dry else []
    t0 = time.perf_counter()
    result = fit(apply_overrides(cap, over))
    secs = time.perf_counter() - t0
    lines.append(f"| {cap.name} | {s.caption_steps} | {secs:.0f} | {secs / s.caption_steps:.2f} (incl. cache, "
                 f"eval) | {_short(result)} |")
    return lines + [""]


def _short(result) -> str:
    report = getattr(result, "report", result)
    text = " ".join(str(report).split())
    return text[:120] + ("..." if len(text) > 120 else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tools/gpu_check.sh", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="same code, tiny sizes, on CPU")
    p.add_argument("--out", default="runs/gpu_check.md", help="Markdown report (default runs/gpu_check.md)")
    p.add_argument("--skip-recipes", action="store_true", help="only the bench tables")
    args = p.parse_args(argv)
    from mmlookup.bench.throughput import device_peak_tflops

    if args.dry_run:
        device, sizes = torch.device("cpu"), CheckSizes.dry()
    elif torch.cuda.is_available():
        device, sizes = torch.device("cuda"), CheckSizes.full()
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        print("no CUDA device visible; run with --dry-run for the CPU check", file=sys.stderr)
        return 2
    if device.type == "cuda":
        peak = device_peak_tflops(device)
        name = torch.cuda.get_device_name(device)
        peak_txt = f"dense bf16 peak {peak:.0f} TFLOP/s" if peak else "unknown peak (MFU not computed)"
    else:
        name, peak_txt = f"CPU ({plural(torch.get_num_threads(), 'thread')}), dry run at tiny sizes", "no peak (CPU)"
    t0 = time.perf_counter()
    lines = [f"## GPU check: {name}", "", f"torch {torch.__version__}, {peak_txt}; MFU = achieved FLOP/s "
             "(2 x executed MACs x clips/s) / peak. Ratios against ViT of the same size, timed in interleaved turns.",
             ""]
    lines += bench_section(sizes, device)
    if not args.skip_recipes:
        with tempfile.TemporaryDirectory(prefix="mmlookup_gpu_check_") as tmp:
            lines += recipe_section(sizes, Path(tmp), args.dry_run)
    lines.append(f"total {time.perf_counter() - t0:.0f} s")
    report = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
