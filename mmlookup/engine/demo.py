"""``mmlookup demo``: the README's main job, on a CPU in minutes.

Generates the synthetic dataset when it is absent, trains the synthetic LookupViT recipe, evaluates it at every
compressed grid, and prints top-1 / top-5 (the demo LookupViT has one shared head, ``model.pool=shared``; a
two-head LookupViT also gets each head's top-1), GMACs per view and the evaluated / unreadable counts.
``--all-encoders`` adds the other families' synthetic recipes; ``--quick`` runs a ~1 minute smoke variant that
stops before the model learns (near chance).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mmlookup.config import Recipe, load_recipe
from mmlookup.engine.args import add_set_argument
from mmlookup.engine.preempt import TrainingStopped

FAMILIES = ("lookupvit", "vit", "evit", "ats", "tome")


@dataclass
class DemoRow:
    """One line of the demo table."""

    recipe: str
    encoder: str
    grid: str
    top1: float
    top5: float
    heads: str
    gmacs: float | None
    videos: int
    unreadable: int
    views: str
    train_s: float


def _gmacs(recipe: Recipe, grid) -> float | None:
    try:
        from mmlookup.bench.flops import gmacs_per_view
        from mmlookup.models import build_encoder
    except ImportError:
        return None
    m = recipe.model
    return gmacs_per_view(build_encoder(recipe).eval(), video_shape=(3, m.num_frames, m.img_size, m.img_size),
                         grid=tuple(grid) if grid else None)


def run_one(recipe: Recipe) -> tuple[list[DemoRow], int]:
    """Train and evaluate one recipe; one row per evaluated grid, and the number of classes."""
    from mmlookup.engine.fit import fit

    start = time.perf_counter()
    report = fit(recipe).report
    seconds = time.perf_counter() - start
    rows = []
    for r in report.results:
        heads = "  ".join(f"{n} {a.top1:.1f}" for n, a in r.heads.items()) if len(r.heads) > 1 else "-"
        rows.append(DemoRow(recipe.name, recipe.model.encoder, "x".join(map(str, r.grid)) if r.grid else "-",
                            r.combined.top1, r.combined.top5, heads, _gmacs(recipe, r.grid), report.num_videos,
                            report.num_unreadable, f"{report.num_clips}x{report.num_crops}", seconds))
    return rows, report.num_classes


def format_table(rows: list[DemoRow], num_classes: int | None = None) -> str:
    """A plain-text table; chance level is stated when the number of classes is known."""
    header = ("recipe", "encoder", "grid", "top-1", "top-5", "per-head top-1", "GMACs/view", "videos",
              "unreadable", "views", "train+eval s")
    body = [(r.recipe, r.encoder, r.grid, f"{r.top1:.1f}", f"{r.top5:.1f}", r.heads,
             f"{r.gmacs:.3f}" if r.gmacs is not None else "n/a", str(r.videos), str(r.unreadable), r.views,
             f"{r.train_s:.0f}") for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*b) for b in body]
    if num_classes:
        lines.append(f"chance: top-1 {100 / num_classes:.1f}%  ({num_classes} classes)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mmlookup demo", description=__doc__.split("\n\n")[1])
    parser.add_argument("--data", default="data/synthetic", help="synthetic dataset folder (made when absent)")
    parser.add_argument("--out", default="runs/demo", help="folder for the runs and demo.json")
    parser.add_argument("--quick", action="store_true", help="~1 minute smoke run (240 steps: ends before "
                        "the model learns, near chance)")
    parser.add_argument("--all-encoders", action="store_true", help="also train vit, evit, ats and tome")
    add_set_argument(parser, help="override every demo recipe, one KEY=VALUE per --set, e.g. --set train.epochs=2")
    args = parser.parse_args(argv)
    from mmlookup.data.synthetic import ensure_synthetic

    start = time.perf_counter()
    data = Path(args.data)
    ensure_synthetic(data)
    overrides = args.set
    rows: list[DemoRow] = []
    num_classes = 0
    for family in FAMILIES if args.all_encoders else FAMILIES[:1]:
        name = f"synthetic/{family}" + (":quick" if args.quick else "")
        recipe = load_recipe(name, [f"data.root={data / 'k400'}", f"train.output_dir={Path(args.out) / family}",
                                    "data.synthetic=False", *overrides])
        try:
            new_rows, num_classes = run_one(recipe)
        except TrainingStopped as stop:
            print(f"{stop}; the demo starts over when run again", file=sys.stderr)
            return stop.exit_code
        rows += new_rows
    elapsed = time.perf_counter() - start
    table = format_table(rows, num_classes) + f"\ntotal time (data, training, evaluation): {elapsed:.0f} s"
    print("\n" + table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo.json").write_text(json.dumps([r.__dict__ for r in rows], indent=1))
    (out / "demo.txt").write_text(table + "\n")
    return 0

