"""``mmlookup bench --accuracy``: rank the encoder families by accuracy on CPU, mean ± std over training seeds.

Task: "motion16" (:mod:`mmlookup.data.motion16`): 16 classes, 6 by appearance (shape x texture) and 10 that need
the order of the frames (direction, approach / recede, rotation sense, appear / disappear, speed), 3,072 train and
1,024 validation clips of 8 x 64x64 as real mp4 files in the K400 layout; ``--task image``: its image variant
(8 shape x texture classes, JPEG, ImageNet layouts, 3,072 / 1,024 images).

Every row is a family's synthetic recipe (``recipes/synthetic/<family>.py``: its optimiser, regularisation and
family settings) moved onto the benchmark's data, clip and schedule, which are the same for every row (see
:func:`bench_recipe`), trained by the project's engine (:func:`mmlookup.engine.fit.fit`) for each seed. Each split
is decoded once into a frame cache (:mod:`mmlookup.data.frame_cache`) that every run reads.

    mmlookup bench --accuracy                                  # 5 families x 3 seeds, video task
    mmlookup bench --accuracy --quick                          # CI smoke: tiny data, 1 seed, vit + lookupvit
    mmlookup bench --accuracy --families lookupvit --seeds 0 1 2 \\
        --rows noclip=lookupvit:train.clip_grad=0 --rows lr3e-4=lookupvit:optim.lr=3e-4,train.clip_grad=0

Writes ``OUT/accuracy.md`` (table), ``OUT/accuracy.json`` (every run and the aggregated rows) and
``OUT/accuracy.png`` (top-1 against GMACs/view, error bars = std over seeds). Each run's result is kept in
``OUT/runs/<row>-<hash>/seed<k>/result.json``; a run whose result exists is not trained again, and an
interrupted one continues from its last checkpoint, so the same command continues a long benchmark.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmlookup.config import Recipe, apply_overrides, derive, load_recipe, recipe_to_dict
from mmlookup.engine.cli import add_set_argument

FAMILIES: tuple[str, ...] = ("vit", "evit", "ats", "tome", "lookupvit")
TASKS: tuple[str, ...] = ("video", "image")


@dataclass(frozen=True)
class Schedule:
    """The training schedule every row shares (epochs of the benchmark's train split)."""

    epochs: int
    batch_size: int
    eval_batch_size: int = 128


#: Video: 2,304 steps of batch 16 on 32x32 input (0.15-0.17 CPU s per step at 1 thread), so 5 families x 3 seeds take
#: ~5,600 CPU s: 45.0 min measured on 2 idle cores (docs/benchmarks.md). The first schedule, 960 steps of batch 32
#: on 64x64 input with 16x16 patches, left every family on its plateau (no row learned the temporal classes; 2,688
#: steps of batch 16 there: ViT-nano 11.6%, LookupViT-nano 14.0%); on 32x32 with 8x8 patches LookupViT-nano reached
#: 31.2% in 1,344 steps (seed 0). Image: 960 steps of batch 32 (not yet re-measured on this schedule).
SCHEDULES: dict[str, Schedule] = {"video": Schedule(epochs=12, batch_size=16),
                                  "image": Schedule(epochs=10, batch_size=32),
                                  "quick": Schedule(epochs=1, batch_size=8, eval_batch_size=64)}


@dataclass(frozen=True)
class RowSpec:
    """One row of the table: a family's recipe with extra ``KEY=VALUE`` overrides, under ``label``."""

    label: str
    family: str
    overrides: tuple[str, ...] = ()


_KEY_START = re.compile(r",(?=\s*[A-Za-z_][\w]*\.[\w.]+\s*=)")  # a comma that starts the next KEY=VALUE


def parse_row(text: str) -> RowSpec:
    """``[LABEL=]FAMILY[:KEY=VALUE,KEY=VALUE...]`` -> :class:`RowSpec` (a value may hold commas: tuples).

    Raises:
        ValueError: on an unknown family or an item that is not ``KEY=VALUE``.
    """
    head, _, rest = text.partition(":")
    label, _, family = head.rpartition("=")
    family = family.strip()
    if family not in FAMILIES:
        raise ValueError(f"--rows {text!r}: unknown family {family!r}; valid: {', '.join(FAMILIES)} "
                         "(form: [LABEL=]FAMILY[:KEY=VALUE,KEY=VALUE...])")
    overrides = tuple(item.strip() for item in _KEY_START.split(rest) if item.strip()) if rest else ()
    for item in overrides:
        if "=" not in item or "." not in item.partition("=")[0]:
            raise ValueError(f"--rows {text!r}: {item!r} is not KEY=VALUE (e.g. train.clip_grad=0)")
    return RowSpec(label.strip() or (text if rest else family), family, overrides)


def bench_recipe(row: RowSpec, seed: int, *, task: str, data: Path, run_dir: Path, schedule: Schedule,
                 sets: tuple[str, ...] = (), tuned: bool = True) -> Recipe:
    """The family's synthetic recipe on the benchmark: data, clip and schedule replaced, then the family's tuned
    configuration (``tuned``, video only: what ``--tune`` chose, :data:`~mmlookup.bench.search_space.TUNED_LEVELS`),
    ``sets`` and the row's overrides applied (in that order).

    The demo recipes keep their own settings: the motion16 choice cost the 600-step demo 15-30 points (LookupViT
    69.8 / 52.1 at 2x2x2 for seeds 0 / 1 against 83.3 / 84.4 with its recipe; docs/benchmarks.md).

    Video: 8 frames (interval 1) of the 64x64 clips decoded at 32x32, tubelet 2x8x8 -> 4x4x4 = 64 tokens (the
    demo's clip geometry and token count: the same 64 tokens cut as 2x16x16 tubelets of the 64x64 frames left every
    family on its plateau for 2,688 steps, see docs/benchmarks.md);
    image: 64x64 stills, patch 8 -> 8x8 = 64 tokens, LookupViT grids 1x2x2 / 1x3x3 / 1x4x4 (from the image recipe).
    Warm-ups (LR, EViT's keep rate) keep their fraction of the family recipe's schedule.
    """
    base = load_recipe(f"synthetic/{row.family}.py")
    frac = schedule.epochs / base.train.epochs
    changes: dict[str, Any] = {
        "name": f"accuracy_{task}_{row.family}", "data.synthetic": False, "data.rrc_scale": (0.8, 1.0),
        "train.epochs": schedule.epochs, "train.batch_size": schedule.batch_size, "train.max_steps": 0,
        "train.seed": seed, "train.output_dir": str(run_dir), "train.num_workers": 0, "train.eval_every": 0,
        "train.checkpoint_every": 1000, "train.checkpoint_every_minutes": 5.0, "train.keep_last": 1,
        "train.tensorboard": False, "train.log_every": 20,
        # rounded, so a recipe's warm-up and the same fraction written as an override give one recipe (one hash)
        "optim.warmup_epochs": round(base.optim.warmup_epochs * frac, 6),
        "train.keep_rate_warmup_epochs": round(base.train.keep_rate_warmup_epochs * frac, 6),
        "train.keep_rate_ramp_epochs": round(base.train.keep_rate_ramp_epochs * frac, 6),
        "eval.batch_size": schedule.eval_batch_size, "eval.num_workers": 0, "eval.num_clips": 1, "eval.num_crops": 1,
    }
    if task == "video":
        changes.update({"model.num_frames": 8, "model.img_size": 32, "model.tubelet_size": 2, "model.patch_size": 8,
                        "data.format": "k400", "data.root": str(data / "k400"), "data.train_annotations": "train.csv",
                        "data.val_annotations": "validate.csv", "data.frame_interval": 1, "data.sampling": "dense",
                        "data.short_side": 32, "data.flip": False})
    elif task == "image":
        changes.update({"model.num_frames": 1, "model.img_size": 64, "model.tubelet_size": 1, "model.patch_size": 8,
                        "data.format": "imagenet", "data.root": str(data / "imagenet"),
                        "data.train_annotations": "train", "data.val_annotations": "val", "data.short_side": 64,
                        "data.flip": True})
        if base.model.grids:
            changes["model.grids"] = ((1, 2, 2), (1, 3, 3), (1, 4, 4))
    else:
        raise ValueError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")
    try:
        first: tuple[str, ...] = ()
        if tuned and task == "video":
            from mmlookup.bench.search_space import trial_overrides, tuned_levels

            first = trial_overrides(row.family, tuned_levels(row.family), base.model.encoder_kwargs, schedule.epochs)
        return apply_overrides(derive(base, changes), list(first) + list(sets) + list(row.overrides)).validate()
    except (KeyError, TypeError) as e:  # a bad --set / --rows key or value: one line (ValueError) from the CLI
        raise ValueError(f"row {row.label!r}: {e.args[0] if isinstance(e, KeyError) else e}") from None


def run_key(row: RowSpec, recipe: Recipe) -> str:
    """``<label>-<hash>``: the folder of a row's runs; the hash covers the recipe except seed and folder."""
    d = recipe_to_dict(recipe)
    d["train"] = {k: v for k, v in d["train"].items() if k not in ("seed", "output_dir")}
    digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', row.label).strip('_')[:60]}-{digest}"


def _gmacs(recipe: Recipe, grid: list[int] | None) -> float | None:
    from mmlookup.engine.demo import _gmacs as count

    return count(recipe, grid)


def train_one(recipe: Recipe, row: RowSpec, seed: int, datasets: tuple[Any, Any]) -> dict[str, Any]:
    """Train and evaluate one (row, seed); the result dict (also written to ``result.json`` in the run folder)."""
    from mmlookup.engine.fit import fit

    run_dir = Path(recipe.train.output_dir)
    resumed = (run_dir / "checkpoints").is_dir()
    start, cpu = time.perf_counter(), time.process_time()
    res = fit(recipe, resume="auto", datasets=datasets)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    report = res.report
    grids = []
    for r in report.results:
        grids.append({"grid": "x".join(map(str, r.grid)) if r.grid else None, "top1": r.combined.top1,
                      "top5": r.combined.top5, "heads": {n: a.top1 for n, a in r.heads.items()} if len(r.heads) > 1
                      else {}, "gmacs": _gmacs(recipe, list(r.grid) if r.grid else None)})
    groups = group_top1(recipe, res.model, datasets[1])
    for g in grids:
        g["groups"] = {name: by_grid[g["grid"]] for name, by_grid in groups.items()}
    result = {"row": row.label, "family": row.family, "overrides": list(row.overrides), "seed": seed,
              "encoder": recipe.model.encoder, "train_eval_s": seconds, "cpu_s": cpu, "resumed": resumed,
              "steps": res.state.step,
              "num_val": report.num_videos, "num_unreadable": report.num_unreadable,
              "num_classes": report.num_classes, "train_size": len(datasets[0]), "grids": grids,
              "torch_threads": _threads(), "loadavg_end": os.getloadavg()[0], "recipe": recipe_to_dict(recipe)}
    tmp = run_dir / "result.json.tmp"
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(run_dir / "result.json")
    return result


def training_free(recipe: Recipe, label: str, seed: int, val: Any) -> list[dict[str, Any]]:
    """One trained ViT-family run evaluated as EViT, ATS and ToMe at the sweep's default rates, as result dicts
    (one per reducer, a "grid" per rate) that :func:`aggregate` takes like trained rows; kept in the run folder
    (``sweep_training_free/sweep.json``) and read from there when present."""
    from mmlookup.engine.checkpoint import check_checkpoint
    from mmlookup.engine.sweep import REDUCERS, plan_variants, run_sweep

    run_dir = Path(recipe.train.output_dir)
    out = run_dir / "sweep_training_free"
    if not (out / "sweep.json").is_file():
        ckpt = check_checkpoint(str(run_dir), recipe=recipe)
        run_sweep(recipe, str(ckpt), plan_variants(recipe, list(REDUCERS), {}), out=out, throughput=False,
                  dataset=val)
    sweep = json.loads((out / "sweep.json").read_text())["rows"]
    results = []
    for family in REDUCERS:
        mine = [r for r in sweep if r["family"] == family]
        if mine:
            results.append({"row": f"{label}→{family}", "family": family, "seed": seed, "encoder": mine[0]["encoder"],
                            "train_eval_s": 0.0, "cpu_s": 0.0, "num_val": mine[0]["videos"],
                            "num_classes": len(val.classes), "training_free": True,
                            "grids": [{"grid": r["setting"], "top1": r["top1"], "top5": r["top5"], "heads": {},
                                       "gmacs": r["gmacs"], "groups": {}} for r in mine]})
    return results


def group_top1(recipe: Recipe, model: Any, val: Any) -> dict[str, dict[str | None, float]]:
    """Top-1 (combined heads) on the appearance and on the temporal classes of the motion16 videos, per grid:
    ``{"appearance": {grid: top1}, "temporal": {...}}``; empty when ``val`` has neither (the image variant)."""
    from torch.utils.data import Subset

    from mmlookup.data.motion16 import APPEARANCE_CLASSES, TEMPORAL_CLASSES
    from mmlookup.engine.evaluate import evaluate
    from mmlookup.engine.fit import build_accelerator, build_loader

    acc, out = build_accelerator(recipe), {}
    for name, members in (("appearance", APPEARANCE_CLASSES), ("temporal", TEMPORAL_CLASSES)):
        idx = [i for i, r in enumerate(val.records) if val.classes[r.label] in members]
        if not idx or len(idx) == len(val.records):
            continue
        loader = build_loader(Subset(val, idx), recipe.eval.batch_size, train=False, num_workers=0)
        report = evaluate(model, loader, acc, grids=recipe.model.grids, head_names=model.head_names,
                          num_classes=val.num_classes)  # EViT: fit left the model at its evaluation keep rate
        out[name] = {"x".join(map(str, r.grid)) if r.grid else None: r.combined.top1 for r in report.results}
    return out


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def aggregate(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (row, grid) in first-seen order: mean and sample std (n-1) of top-1 over the seeds."""
    groups: dict[tuple[str, str | None], list[tuple[dict, dict]]] = {}
    for res in results:
        for g in res["grids"]:
            groups.setdefault((res["row"], g["grid"]), []).append((res, g))
    rows = []
    for (label, grid), items in groups.items():
        top1 = [g["top1"] for _, g in items]
        heads: dict[str, list[float]] = {}
        for _, g in items:
            for name, v in g["heads"].items():
                heads.setdefault(name, []).append(v)
        groups: dict[str, list[float]] = {}
        for _, g in items:
            for name, v in g.get("groups", {}).items():
                groups.setdefault(name, []).append(v)
        res0 = items[0][0]
        rows.append({"row": label, "family": res0["family"], "encoder": res0["encoder"], "grid": grid,
                     "seeds": [r["seed"] for r, _ in items], "top1": top1, "top1_mean": statistics.fmean(top1),
                     "top1_std": statistics.stdev(top1) if len(top1) > 1 else None,
                     "top5_mean": statistics.fmean(g["top5"] for _, g in items),
                     "heads_mean": {n: statistics.fmean(v) for n, v in heads.items()},
                     "groups_mean": {n: statistics.fmean(v) for n, v in groups.items()},
                     "gmacs": items[0][1]["gmacs"],
                     "train_eval_s_mean": statistics.fmean(r["train_eval_s"] for r, _ in items),
                     "cpu_s_mean": statistics.fmean(r.get("cpu_s", float("nan")) for r, _ in items),
                     "num_val": res0["num_val"], "num_classes": res0["num_classes"]})
    return rows


def pareto(rows: list[dict[str, Any]]) -> list[bool]:
    """Per aggregated row, whether it is on the accuracy–GMACs Pareto front: no other row reaches at least its mean
    top-1 at no more GMACs with one of the two strictly better. Rows without GMACs are never on it."""
    known = [(r["gmacs"], r["top1_mean"]) for r in rows if r["gmacs"] is not None]
    return [r["gmacs"] is not None and not any(g <= r["gmacs"] and t >= r["top1_mean"] and (g, t) != (
        r["gmacs"], r["top1_mean"]) for g, t in known) for r in rows]


def markdown(rows: list[dict[str, Any]]) -> str:
    """The aggregated rows as a GitHub markdown table."""
    from mmlookup.bench.cli import num, render_table

    head = ["row", "encoder", "grid", "top-1 mean ± std", "top-1 per seed", "appearance / temporal top-1 (mean)",
            "top-5 mean", "per-head top-1 (mean)",
            "GMACs/view", "Pareto", "train+eval s (mean)", "CPU s (mean)", "seeds"]
    lines = []
    for r, front in zip(rows, pareto(rows)):
        spread = f"{r['top1_mean']:.1f} ± {r['top1_std']:.1f}" if r["top1_std"] is not None else f"{r['top1_mean']:.1f}"
        heads = " / ".join(f"{n} {v:.1f}" for n, v in r["heads_mean"].items()) or "-"
        groups = " / ".join(f"{v:.1f}" for v in r.get("groups_mean", {}).values()) or "-"
        lines.append([r["row"], r["encoder"], r["grid"] or "-", spread, " / ".join(f"{v:.1f}" for v in r["top1"]),
                      groups, f"{r['top5_mean']:.1f}", heads, num(r["gmacs"], 4), "★" if front else "",
                      f"{r['train_eval_s_mean']:.0f}",
                      f"{r['cpu_s_mean']:.0f}", ",".join(map(str, r["seeds"]))])
    return render_table(head, lines, "md")


def _setting_label(grid: str | None) -> str:
    """A LookupViT grid as ``grid 2x2x2``; a training-free rate (``keep 0.7``, ``r 8``) as it is."""
    if not grid:
        return ""
    return f"grid {grid}" if re.fullmatch(r"\d+x\d+x\d+", grid) else grid


def plot(rows: list[dict[str, Any]], out: Path, title: str) -> Path | None:
    """Top-1 against GMACs/view with error bars (std over seeds); ``None`` when matplotlib is missing."""
    try:
        from mmlookup.viz.plot import plot_points
        from mmlookup.viz.runs import Point
    except ImportError:
        return None
    points = [(Point(run=r["row"], encoder=r["row"], setting=_setting_label(r["grid"]),
                     metric="top-1 (%)", value=r["top1_mean"], gmacs=r["gmacs"], clips_per_s=None,
                     samples=r["num_val"], chance=100.0 / r["num_classes"] if r["num_classes"] else None,
                     std=r["top1_std"]), front) for r, front in zip(rows, pareto(rows)) if r["gmacs"] is not None]
    if not points:
        return None
    try:
        return plot_points([p for p, _ in points], out, title=title, front=[p for p, f in points if f])
    except ImportError as err:  # matplotlib absent: the table and JSON are still written
        print(f"no plot: {err}", file=sys.stderr)
        return None


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mmlookup bench --accuracy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=TASKS, default="video", help="motion16 videos (default) or its image variant")
    p.add_argument("--data", default=None, help="benchmark data folder, generated when absent "
                   "(default data/motion16, with --quick data/motion16_quick)")
    p.add_argument("--out", default=None, help="output folder (default runs/accuracy_<task>[_quick])")
    p.add_argument("--families", nargs="*", default=None, metavar="FAMILY",
                   help=f"family rows to train (default all: {' '.join(FAMILIES)}; --quick: vit lookupvit; "
                   "none when given without a family: only the --rows)")
    p.add_argument("--rows", action="append", default=[], metavar="[LABEL=]FAMILY[:KEY=VALUE,...]",
                   help="an extra row (repeatable), e.g. noclip=lookupvit:train.clip_grad=0")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="training seeds (default 0 1 2; --quick: 0)")
    p.add_argument("--epochs", type=int, default=None, help="override the schedule's epochs (every row)")
    p.add_argument("--batch-size", type=int, default=None, help="override the schedule's batch size (every row)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the generated data (default 0)")
    p.add_argument("--quick", action="store_true", help="CI smoke run: tiny data, 1 seed, vit + lookupvit, "
                   "1 epoch at batch 8 (about a minute; not a ranking)")
    p.add_argument("--jobs", type=int, default=2, help="runs trained at the same time, each in its own process "
                   "(default 2: on 2 cores two 1-thread runs train faster than one 2-thread run)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per run (default: CPU count / jobs)")
    p.add_argument("--untuned", action="store_true", help="train each family's synthetic recipe as it is, not the "
                   "configuration the tuning protocol chose (mmlookup.bench.search_space.TUNED_LEVELS)")
    p.add_argument("--training-free", action="append", default=[], metavar="ROW",
                   help="also evaluate each seed of this ViT row training-free as EViT / ATS / ToMe at the sweep's "
                   "default rates (mmlookup sweep; rows 'ROW→evit' ... in the table and on the frontier)")
    add_set_argument(p, help="override every row's recipe, one KEY=VALUE per --set (before the rows' own)")
    t = p.add_argument_group("tuning (--tune: one protocol for every family, mmlookup.bench.tune)")
    t.add_argument("--tune", action="store_true", help="search each family's configuration on held-out training "
                   "clips (L8 design + the main-effects guess) instead of training the rows")
    t.add_argument("--trials", type=int, default=None, help="rows of the L8 design per family (default 8; --quick 2)")
    t.add_argument("--tune-epochs", type=int, default=None,
                   help="epochs of each trial (default half the benchmark schedule; --quick 1)")
    t.add_argument("--holdout", type=int, default=6, help="every N-th training clip of each class is held out to "
                   "score the trials (default 6)")
    return p.parse_args(argv)


def ensure_data(data: Path, args: argparse.Namespace) -> float:
    """Generate the benchmark data into ``data`` unless it is complete; the seconds it took."""
    from mmlookup.data.motion16 import Motion16Sizes, generate_motion16, motion16_complete

    start = time.perf_counter()
    sizes = Motion16Sizes.quick() if args.quick else Motion16Sizes()
    if not motion16_complete(data, args.data_seed, sizes):
        print(f"generating the motion16 data into {data} ...", file=sys.stderr)
        generate_motion16(str(data), seed=args.data_seed, sizes=sizes)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        return _worker(Path(argv[1]))
    args = parse_args(argv)
    suffix = "_quick" if args.quick else ""
    data = Path(args.data or f"data/motion16{suffix}")
    if args.tune:  # mmlookup bench routes --tune to mmlookup.bench.tune, which parses with this parser
        raise ValueError("--tune runs through `mmlookup bench --accuracy --tune` (mmlookup.bench.tune.main)")
    out = Path(args.out or f"runs/accuracy_{args.task}{suffix}").resolve()
    families = args.families if args.families is not None else (["vit", "lookupvit"] if args.quick
                                                                 else list(FAMILIES))
    for f in families:
        if f not in FAMILIES:
            raise ValueError(f"unknown family {f!r}; valid: {', '.join(FAMILIES)}")
    specs = [RowSpec(f, f) for f in families] + [parse_row(r) for r in args.rows]
    if not specs:
        raise ValueError("nothing to train: give --families or --rows")
    if len({s.label for s in specs}) < len(specs):
        raise ValueError("two rows have the same label; name them LABEL=FAMILY:...")
    for label in args.training_free:
        spec = next((s for s in specs if s.label == label), None)
        if spec is None or spec.family == "lookupvit":
            raise ValueError(f"--training-free {label!r}: not a ViT-family row of this run; rows: "
                             f"{', '.join(s.label for s in specs if s.family != 'lookupvit')}")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    seeds = args.seeds if args.seeds is not None else ([0] if args.quick else [0, 1, 2])
    schedule = SCHEDULES["quick" if args.quick else args.task]
    schedule = Schedule(args.epochs or schedule.epochs, args.batch_size or schedule.batch_size,
                        schedule.eval_batch_size)
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    # every recipe is resolved (unknown keys, bad values) before data or training start
    plan: list[tuple[RowSpec, int, Recipe]] = []
    for spec in specs:
        for seed in seeds:
            recipe = bench_recipe(spec, seed, task=args.task, data=data.resolve(), run_dir=Path("."),
                                  schedule=schedule, sets=tuple(args.set), tuned=not args.untuned)
            run_dir = out / "runs" / run_key(spec, recipe) / f"seed{seed}"
            plan.append((spec, seed, derive(recipe, {"train.output_dir": str(run_dir)})))
    start, load_start = time.perf_counter(), os.getloadavg()[0]
    data_s = ensure_data(data, args)
    pending = [(spec, seed, recipe) for spec, seed, recipe in plan
               if not (Path(recipe.train.output_dir) / "result.json").is_file()]
    print(f"{len(plan)} runs, {len(plan) - len(pending)} done before; {args.jobs} at a time, {threads} torch "
          f"thread(s) each", file=sys.stderr)
    for _, _, recipe in pending:  # decode each split once, here, before any worker reads the cache
        _datasets(recipe, out / "cache", args.task)
    if args.jobs == 1:
        import torch

        torch.set_num_threads(threads)
        for i, (spec, seed, recipe) in enumerate(pending):
            print(f"[{i + 1}/{len(pending)}] {spec.label} seed {seed} -> {recipe.train.output_dir}", file=sys.stderr)
            train_one(recipe, spec, seed, _datasets(recipe, out / "cache", args.task))
    else:
        _run_parallel(pending, args.jobs, threads, out / "cache", args.task)
    results = [json.loads((Path(r.train.output_dir) / "result.json").read_text()) for _, _, r in plan]
    for label in args.training_free:
        for spec, seed, recipe in plan:
            if spec.label == label:
                results += training_free(recipe, label, seed, _datasets(recipe, out / "cache", args.task)[1])
    rows = aggregate(results)
    total = time.perf_counter() - start
    write_outputs(out, args, rows, results, schedule, data_s=data_s, total_s=total,
                  load=(load_start, os.getloadavg()[0]), jobs=(args.jobs, threads))
    return 0


def _run_parallel(pending: list[tuple[RowSpec, int, Recipe]], jobs: int, threads: int, cache: Path,
                  task: str, split: int | None = None) -> None:
    """Train ``pending`` runs ``jobs`` at a time, each in its own process (``--worker``) with ``threads`` threads;
    each worker's output goes to ``worker.log`` in its run folder.

    Raises:
        RuntimeError: when a run fails (after the others finished), naming its log.
    """
    import subprocess

    from tqdm import tqdm

    queue, running, failed = list(pending), [], []
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    bar = tqdm(total=len(pending), desc="accuracy runs", unit="run")
    while queue or running:
        while queue and len(running) < jobs:
            spec, seed, recipe = queue.pop(0)
            run_dir = Path(recipe.train.output_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            job = run_dir / "worker.json"
            job.write_text(json.dumps({"row": [spec.label, spec.family, list(spec.overrides)], "seed": seed,
                                       "recipe": recipe_to_dict(recipe), "cache": str(cache), "task": task,
                                       "threads": threads, "split": split}))
            log = open(run_dir / "worker.log", "w")
            proc = subprocess.Popen([sys.executable, "-m", "mmlookup.bench.accuracy", "--worker", str(job)],
                                    stdout=log, stderr=subprocess.STDOUT, env=env)
            running.append((proc, log, spec, seed, run_dir))
        time.sleep(1.0)
        for item in list(running):
            proc, log, spec, seed, run_dir = item
            if proc.poll() is None:
                continue
            running.remove(item)
            log.close()
            bar.update()
            if proc.returncode != 0 or not (run_dir / "result.json").is_file():
                failed.append(f"{spec.label} seed {seed} (rc {proc.returncode}, log {run_dir / 'worker.log'})")
                continue
            res = json.loads((run_dir / "result.json").read_text())
            tops = " / ".join(f"{g['top1']:.1f}" for g in res["grids"])
            bar.write(f"{spec.label} seed {seed}: top-1 {tops}  ({res['train_eval_s']:.0f} s)")
    bar.close()
    if failed:
        raise RuntimeError("runs failed: " + "; ".join(failed))


def _worker(job_file: Path) -> int:
    """``python -m mmlookup.bench.accuracy --worker JOB.json``: train one run described by ``JOB.json``."""
    import torch

    from mmlookup.config import recipe_from_dict

    job = json.loads(job_file.read_text())
    torch.set_num_threads(int(job["threads"]))
    label, family, overrides = job["row"]
    recipe = recipe_from_dict(job["recipe"])
    train_one(recipe, RowSpec(label, family, tuple(overrides)), int(job["seed"]),
              _datasets(recipe, Path(job["cache"]), job["task"], progress=False, split=job.get("split")))
    return 0


def _datasets(recipe: Recipe, cache: Path, task: str, progress: bool = True,
              split: int | None = None) -> tuple[Any, Any]:
    """The recipe's train and val datasets, served from frame caches (decoded once, shared by all runs).

    ``split=N`` (tuning): the training clips less every N-th of each class, and those held-out clips (evaluated as
    validation clips are) instead of the validation set, which tuning never sees.
    """
    from mmlookup.data.frame_cache import cache_path, cached, subset
    from mmlookup.engine.fit import build_dataset

    train = build_dataset(recipe, True)
    train_c = cached(train, cache_path(train, cache, f"{task}_train"), progress=progress)
    if split is None:
        val = build_dataset(recipe, False)
        return train_c, cached(val, cache_path(val, cache, f"{task}_val"), progress=progress)
    from mmlookup.bench.search_space import holdout_indices

    as_val = build_dataset(derive(recipe, {"data.val_annotations": recipe.data.train_annotations}), False)
    as_val_c = cached(as_val, cache_path(as_val, cache, f"{task}_train"), progress=progress)  # the same frames
    fit_idx, held_idx = holdout_indices([r.label for r in train.records], split)
    return subset(train_c, fit_idx), subset(as_val_c, held_idx)


def write_outputs(out: Path, args: argparse.Namespace, rows: list[dict], results: list[dict], schedule: Schedule,
                  *, data_s: float, total_s: float, load: tuple[float, float], jobs: tuple[int, int]) -> None:
    """``accuracy.md``, ``accuracy.json`` and ``accuracy.png`` in ``out``; the table is printed too."""
    import platform

    import torch

    out.mkdir(parents=True, exist_ok=True)
    n_val = rows[0]["num_val"] if rows else 0
    n_cls = rows[0]["num_classes"] if rows else 0
    trained = sum(not r.get("resumed") for r in results)
    machine = (f"{platform.machine()}, {os.cpu_count()} CPU cores visible, torch {torch.__version__}, fp32, "
               f"{jobs[0]} run(s) at a time with {jobs[1]} thread(s) each")
    header = (f"motion16 {args.task}{' (quick)' if args.quick else ''}: {n_val} validation "
              f"{'clips' if args.task == 'video' else 'images'}, {n_cls} classes (chance "
              f"{100 / max(n_cls, 1):.1f}%), {schedule.epochs} epochs at batch {schedule.batch_size}, seeds "
              f"{' '.join(map(str, sorted({r['seed'] for r in results})))}. {machine}; load average "
              f"{load[0]:.1f} at the start, {load[1]:.1f} at the end. Total {total_s / 60:.1f} min (data "
              f"{data_s:.0f} s; {len(results)} runs, {len(results) - trained} of them resumed or done before).")
    table = markdown(rows)
    (out / "accuracy.md").write_text(header + "\n\n" + table + "\n")
    summary = {"task": args.task, "quick": args.quick, "argv": sys.argv, "header": header,
               "schedule": schedule.__dict__, "total_s": total_s, "data_s": data_s, "loadavg": load,
               "rows": rows, "runs": results}
    (out / "accuracy.json").write_text(json.dumps(summary, indent=1))
    png = plot(rows, out / "accuracy.png", f"motion16 {args.task}: top-1 vs GMACs (mean ± std over seeds)")
    print("\n" + header + "\n\n" + table)
    print(f"\nwrote {out / 'accuracy.md'}, {out / 'accuracy.json'}" + (f", {png}" if png else ""))


if __name__ == "__main__":
    sys.exit(main())
