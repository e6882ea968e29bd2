"""The long-video benchmark and the cascade's accuracy against mean GMACs (docs/tasks/long-videos.md).

    python tools/long_video_bench.py runs/demo_lookupvit runs/demo_lookupvit_s1 runs/demo_lookupvit_s2 \\
        --vit runs/demo_vit_s0 runs/demo_vit_s1 runs/demo_vit_s2 --minutes 5 --videos 3 \\
        --plot docs/long_video_cascade.png

1. Writes ``--videos`` long synthetic videos of ``--minutes`` (demo classes, seeds 100, 101, ...; data/longvideo/).
2. Window / stride / smoothing table of the first run at its default setting: frame accuracy, segment F1@0.5,
   windows per second, averaged over the videos.
3. For every run, every fixed setting and the cascade at a range of thresholds C, on (a) the run's validation clips
   (top-1) and (b) the long videos (frame accuracy, F1@0.5): each setting runs once on every clip / window and the
   cascade at any C is then read off those probabilities (the same answers :class:`~mmlookup.inference.cascade.
   Cascade` gives, without re-running). LookupViT runs use their compressed grids; ViT runs are run as EViT
   (``rho``) and ToMe (``r``) on the same weights, training-free. The calibrated point: C chosen (label-free) on 64
   windows of a separate long video (seed 200) for a budget of ``--budget-fraction`` x the most expensive setting's
   GMACs. Not on training clips: the model is over-confident on what it was trained on, so a C calibrated there
   escalates far more often on new data (measured: budget 0.034, 0.073 spent on the validation clips).
Rows are mean +- std over the runs (seeds).
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mmlookup import Predictor  # noqa: E402
from mmlookup.data.longvideo import LongVideoCfg, write_long_video  # noqa: E402
from mmlookup.inference import longbench as lb  # noqa: E402
from mmlookup.inference import timeline as tl  # noqa: E402
from mmlookup.inference.cascade import Cascade, calibrate, confidence, levels_for, parse_cascade  # noqa: E402

THRESHOLDS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, math.inf)
SMOOTH, MIN_SEGMENT_S = 3, 2.5        # the long-video scores of the cascade table: --smooth 3 --min-segment 2.5
CASCADES = {"lookupvit": "1x2x2,2x2x2,2x4x4", "evit": "rho=0.5,0.7,1.0", "tome": "r=8,4,0"}


def clips(run: Path, split: str, limit: int | None = None) -> tuple[list[str], list[str]]:
    """Video paths and label names of a synthetic K400 split of the run's data (``validate`` or ``train``)."""
    root = Path("data/synthetic/k400")
    paths, labels = [], []
    with open(root / f"{split}.csv") as f:
        for row in csv.DictReader(f):
            name = f"{row['youtube_id']}_{int(row['time_start']):06d}_{int(row['time_end']):06d}.mp4"
            paths.append(str(root / "videos" / row["label"].replace(" ", "_") / name))
            labels.append(row["label"])
    return (paths[:limit], labels[:limit]) if limit else (paths, labels)


def stage_probs_on_clips(cascade: Cascade, paths: list[str]) -> list[torch.Tensor]:
    views = torch.stack([cascade.predictor.read(p).video for p in paths])
    return [cascade.stage_probs(j, views) for j in range(len(cascade.stages))]


def stage_timelines(cascade: Cascade, video: str) -> list[tl.TimelineResult]:
    """One timeline per stage (the predictor's fixed setting swapped for the stage's)."""
    p = cascade.predictor
    out = []
    for j in range(len(cascade.stages)):
        out.append(p.predict_timeline(video, progress=False, cascade=lambda v, j=j: cascade.stage_probs(j, v)))
    return out


def pick(stage: list[torch.Tensor], confs: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    level = levels_for(confs, threshold)
    probs = torch.stack(stage)[level, torch.arange(len(level))]
    return probs, level


def rescored(t: tl.TimelineResult, raw: torch.Tensor, truth: lb.Truth) -> dict:
    """Score per-window probabilities as the timeline would with ``--smooth 3 --min-segment 2.5``."""
    probs = tl.smooth_probs(raw, SMOOTH)
    t2 = tl.TimelineResult(t.path, t.fps, t.num_frames, t.window, t.stride, t.classes, t.starts, probs, raw)
    t2.segments = tl.merge_segments(probs, tl.owner_bounds(t.starts, t.window, t.num_frames), t.classes, t.fps,
                                 int(round(MIN_SEGMENT_S * t.fps)))
    return lb.score_timeline(t2, truth)


def evaluate_run(run: Path, family: str, videos: list[str], measure: str, budget_fraction: float,
                 calibration_video: str) -> list[dict]:
    """Rows (setting, val top-1, long-video frame acc / F1, mean GMACs) for the fixed settings and the cascade."""
    p = Predictor.from_pretrained(run, verbose=False)
    cascade = Cascade(p, parse_cascade(p.loaded, CASCADES[family]), measure=measure)
    gm = np.cumsum(cascade.gmacs)
    val_paths, val_labels = clips(run, "validate")
    y = torch.tensor([p.classes.index(lab) for lab in val_labels])
    val = stage_probs_on_clips(cascade, val_paths)
    val_conf = torch.stack([confidence(s, measure) for s in val[:-1]])
    truths = [lb.read_truth(Path(v).with_suffix(".json")) for v in videos]
    lines = [stage_timelines(cascade, v) for v in videos]
    long_stage = [[t.raw_probs for t in ts] for ts in lines]
    long_conf = [torch.stack([confidence(s, measure) for s in st[:-1]]) for st in long_stage]

    def row(name: str, kind: str, val_probs, val_cost, long_probs, long_cost) -> dict:
        scores = [rescored(ts[0], lp, tr) for ts, lp, tr in zip(lines, long_probs, truths)]
        return {"run": str(run), "family": family, "setting": name, "kind": kind,
                "val_top1": 100.0 * float((val_probs.argmax(1) == y).float().mean()), "val_gmacs": val_cost,
                "frame_acc": float(np.mean([s["frame_accuracy"] for s in scores])),
                "f1": float(np.mean([s["f1_50"] for s in scores])), "long_gmacs": long_cost}

    rows = []
    for j, st in enumerate(cascade.stages):
        rows.append(row(st.setting.label, "fixed", val[j], st.setting.gmacs, [s[j] for s in long_stage],
                        st.setting.gmacs))
    for c in THRESHOLDS:
        vp, vl = pick(val, val_conf, c)
        picks = [pick(st, cf, c) for st, cf in zip(long_stage, long_conf)]
        long_cost = float(np.mean(np.concatenate([gm[lv.numpy()] for _, lv in picks])))
        rows.append(row(f"C={c:g}", "cascade", vp, float(gm[vl.numpy()].mean()), [pp for pp, _ in picks], long_cost))
    budget = budget_fraction * max(cascade.gmacs)
    views = tl.sample_windows(calibration_video, p.loaded.preprocess, count=64)
    calib = [cascade.stage_probs(j, views) for j in range(len(cascade.stages) - 1)]
    try:
        c, _ = calibrate(torch.stack([confidence(s, measure) for s in calib]), cascade.gmacs, budget)
    except ValueError as err:
        print(f"{run}: no calibrated point ({err})")
        return rows
    vp, vl = pick(val, val_conf, c)
    picks = [pick(st, cf, c) for st, cf in zip(long_stage, long_conf)]
    long_cost = float(np.mean(np.concatenate([gm[lv.numpy()] for _, lv in picks])))
    rows.append(row(f"budget {budget:.4g} (C={c:.3g})", "calibrated", vp, float(gm[vl.numpy()].mean()),
                    [pp for pp, _ in picks], long_cost))
    return rows


def mean_rows(rows: list[dict]) -> list[dict]:
    """Mean and std over runs of each (family, setting) row; calibrated rows grouped by kind."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["family"], r["setting"] if r["kind"] != "calibrated" else "calibrated", r["kind"])
        groups.setdefault(key, []).append(r)
    out = []
    for (family, setting, kind), rs in groups.items():
        agg = {"family": family, "setting": setting, "kind": kind, "n": len(rs)}
        for k in ("val_top1", "val_gmacs", "frame_acc", "f1", "long_gmacs"):
            v = np.array([r[k] for r in rs])
            agg[k], agg[k + "_std"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
        if kind == "calibrated":
            agg["setting"] = "calibrated: " + "; ".join(r["setting"] for r in rs)
        out.append(agg)
    return out


def cascade_table(rows: list[dict]) -> str:
    head = ["family", "setting", "val top-1 %", "val GMACs", "long frame acc. %", "long F1@0.5 %", "long GMACs/window"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    def pm(r: dict, k: str) -> str:
        return f"{r[k]:.1f} ± {r[k + '_std']:.1f}" if r["n"] > 1 else f"{r[k]:.1f}"

    for r in rows:
        lines.append(f"| {r['family']} | {r['setting']} | {pm(r, 'val_top1')} | {r['val_gmacs']:.4f} "
                     f"| {pm(r, 'frame_acc')} | {pm(r, 'f1')} | {r['long_gmacs']:.4f} |")
    return "\n".join(lines)


def plot(rows: list[dict], out: Path) -> None:
    from mmlookup.viz.deps import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.2))
    cmap = plt.get_cmap("tab10")
    families = list(dict.fromkeys(r["family"] for r in rows))
    for ax, (acc, cost, title) in zip(axes, (("val_top1", "val_gmacs", "validation clips: top-1 %"),
                                             ("frame_acc", "long_gmacs", "long videos: frame accuracy %"))):
        for i, fam in enumerate(families):
            col = cmap(i % 10)
            casc = sorted((r for r in rows if r["family"] == fam and r["kind"] == "cascade"), key=lambda r: r[cost])
            ax.plot([r[cost] for r in casc], [r[acc] for r in casc], "-", color=col, lw=1.2, label=f"{fam} cascade")
            ax.plot([r[cost] for r in casc], [r[acc] for r in casc], ".", color=col, ms=4)
            for r in rows:
                if r["family"] == fam and r["kind"] != "cascade":
                    marker = "o" if r["kind"] == "fixed" else "*"
                    ax.errorbar([r[cost]], [r[acc]], yerr=[r[acc + "_std"]], fmt=marker, color=col, ms=8 if
                                marker == "o" else 12, markeredgecolor="black", markeredgewidth=0.6, capsize=3)
                    if r["kind"] == "fixed":
                        k = sum(1 for q in rows if q["family"] == fam and q["kind"] == "fixed" and q[cost] < r[cost])
                        ax.annotate(r["setting"], (r[cost], r[acc]), textcoords="offset points",
                                    xytext=(4, -11 if k % 2 else 5), fontsize=7)
        ax.set_xlabel("mean GMACs per view (window)")
        ax.set_ylabel(title)
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], marker="o", ls="", color="grey", markeredgecolor="black"))
    labels.append("fixed setting")
    handles.append(plt.Line2D([], [], marker="*", ls="", color="grey", markeredgecolor="black", ms=12))
    labels.append("calibrated to the budget")
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.suptitle("cascade (mean ± std over seeds) vs fixed settings", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*", type=Path, help="LookupViT runs (seeds)")
    ap.add_argument("--vit", nargs="*", type=Path, default=[], help="ViT runs (seeds), run as EViT and ToMe")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--folder", type=Path, default=Path("data/longvideo"))
    ap.add_argument("--measure", default="margin", choices=("margin", "max"))
    ap.add_argument("--budget-fraction", type=float, default=0.6)
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--skip-windows", action="store_true", help="no window / stride table")
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    videos = []
    for k in range(args.videos):
        path = args.folder / f"bench_{args.minutes:g}min_{100 + k}.mp4"
        if not (path.is_file() and path.with_suffix(".json").is_file()):
            write_long_video(path, LongVideoCfg(seconds=args.minutes * 60, seed=100 + k))
        videos.append(str(path))
    calibration_video = args.folder / f"calibration_{args.minutes:g}min_200.mp4"
    if not calibration_video.is_file():
        write_long_video(calibration_video, LongVideoCfg(seconds=args.minutes * 60, seed=200))
    print(f"videos: {len(videos)} x {args.minutes:g} min ({', '.join(videos)})")
    if not args.skip_windows and args.runs:
        p = Predictor.from_pretrained(args.runs[0], verbose=False)
        rows = lb.sweep(p, videos, windows=("29f", "48f"), strides=("7f", "14f", "29f"))
        rows += lb.sweep(p, videos, windows=("29f",), strides=("7f", "14f"), smooths=(3, 5, 9))
        rows += lb.sweep(p, videos, windows=("29f",), strides=("14f",), smooths=(1, 3), min_segments=("1.5", "2.5"))
        rows += lb.sweep(p, videos, windows=("32f",), strides=("32f",))     # aligned with the clips: an oracle
        print(f"\n{args.runs[0]} at {p.setting.describe()}:\n")
        print(lb.markdown(rows))
    rows = []
    for run in args.runs:
        rows += evaluate_run(run, "lookupvit", videos, args.measure, args.budget_fraction, str(calibration_video))
    for run in args.vit:
        for fam in ("evit", "tome"):
            rows += evaluate_run(run, fam, videos, args.measure, args.budget_fraction, str(calibration_video))
    agg = mean_rows(rows)
    print(f"\ncascade, confidence = {args.measure}, {len(args.runs)} LookupViT / {len(args.vit)} ViT runs:\n")
    print(cascade_table(agg))
    if args.plot:
        plot(agg, args.plot)
        print(f"\nwrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
