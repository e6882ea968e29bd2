"""Reproduce the distillation table of docs/tasks/distillation.md on the synthetic data (one command).

    python tools/distill_table.py                         # 3 seeds, the recipes' full schedule (30 epochs)
    python tools/distill_table.py --seeds 0 1 2 --student-epochs 5 --out runs/distill_table

Per seed s it trains (or reuses, when the run's eval.json exists) the teacher ViT (`synthetic/vit`, seed s) and,
with the same number of steps each, LookupViT from scratch, LookupViT initialised from the teacher without
distillation, and with soft / hard / feature distillation (`synthetic/lookupvit_distill`), EViT fine-tuned from the
teacher, and evaluates training-free EViT on the teacher's weights. Every row is top-1 at every evaluated grid,
mean ± std (sample std) over the seeds; the soft row is evaluated after every epoch to count the student steps it
takes to come within 1 point of its teacher. Runs go one after another (set OMP_NUM_THREADS to bound CPU use).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROWS = ("teacher", "scratch", "init", "soft", "hard", "feature", "evit_ft", "evit_free")
LABELS = {
    "teacher": "teacher ViT-nano (synthetic/vit, 30 epochs)",
    "scratch": "LookupViT-nano from scratch (its from-scratch recipe)",
    "init": "LookupViT-nano initialised from the teacher, no distillation",
    "soft": "  + soft distillation (tau 2, alpha 0.5)",
    "hard": "  + hard distillation (DeiT, alpha 0.5)",
    "feature": "  + feature distillation (alpha 0.5)",
    "evit_ft": "EViT-nano (rho 0.7) fine-tuned from the teacher",
    "evit_free": "EViT-nano (rho 0.7) training-free on the teacher's weights",
}


def commands(row: str, seed: int, out: Path, epochs: int) -> list[list[str]]:
    """The ``mmlookup`` command(s) of one table cell."""
    teacher = out / f"teacher_s{seed}"
    run = out / f"{row}_s{seed}"
    common = ["--set", f"train.seed={seed}", "--set", f"train.output_dir={run}"]
    student = [*common, "--set", f"train.epochs={epochs}", "--set", "train.eval_every=0"]
    mm = [sys.executable, "-m", "mmlookup"]
    if row == "teacher":
        return [[*mm, "train", "synthetic/vit", *common]]
    if row == "scratch":
        return [[*mm, "train", "synthetic/lookupvit", *student]]
    if row == "init":  # the distillation recipe's layout (the paper's, so every ViT tensor has its place)
        from mmlookup.config import load_recipe

        layout = load_recipe("synthetic/lookupvit_distill").model
        return [[*mm, "train", "synthetic/lookupvit", *student, "--set", f"model.init_from={teacher}",
                 "--set", f"model.encoder_kwargs={layout.encoder_kwargs!r}", "--set", f"model.pool={layout.pool}"]]
    if row in ("soft", "hard", "feature"):
        every = ["--set", "train.eval_every=1"] if row == "soft" else []
        return [[*mm, "train", "synthetic/lookupvit_distill", *student, *every, "--set", f"distill.teacher={teacher}",
                 "--set", f"distill.kind={row}"]]
    if row == "evit_ft":  # from a trained ViT: no keep-rate warm-up, a short ramp to rho = 0.7
        return [[*mm, "train", "synthetic/evit", *student, "--set", f"model.init_from={teacher}",
                 "--set", "train.keep_rate_warmup_epochs=0", "--set", "train.keep_rate_ramp_epochs=1"]]
    if row == "evit_free":
        return [[*mm, "eval", "synthetic/evit", "--checkpoint", str(teacher), "--set", f"train.output_dir={run}",
                 "--out", str(run / "eval.json")]]
    raise ValueError(row)


def top1(run: Path) -> dict[str, float]:
    """Combined top-1 per grid label from a run's ``eval.json``."""
    data = json.loads((run / "eval.json").read_text())
    return {("x".join(map(str, r["grid"])) if r["grid"] else "-"): r["combined"]["top1"] for r in data["results"]}


def curve(run: Path) -> list[tuple[int, float]]:
    """``(step, top-1 at the default grid)`` of each evaluation in a run's log."""
    points, step = [], 0
    for line in (run / "log.txt").read_text().splitlines():
        m = re.search(r"step (\d+)/\d+", line)
        if m:
            step = int(m.group(1))
        m = re.search(r"top-1 ([\d.]+)", line)
        if m and "eval" in line and (not points or points[-1][0] != step):
            points.append((step, float(m.group(1))))
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--student-epochs", type=int, default=30, help="epochs of every student (20 steps each)")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    parser.add_argument("--out", default="runs/distill_table")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = ["teacher", *[r for r in args.rows if r != "teacher"]]
    for seed in args.seeds:
        for row in rows:
            run = out / f"{row}_s{seed}"
            if (run / "eval.json").is_file():
                continue
            for cmd in commands(row, seed, out, args.student_epochs):
                t0 = time.time()
                print("$", " ".join(cmd), flush=True)
                with open(out / f"{row}_s{seed}.log", "w") as log:
                    done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
                print(f"  rc {done.returncode}, {time.time() - t0:.0f} s", flush=True)
    print(render(out, args.seeds, rows, args.student_epochs))
    return 0


def render(out: Path, seeds: list[int], rows: list[str], epochs: int) -> str:
    """The markdown table (mean ± std over the seeds whose run finished) and the steps-to-teacher line."""
    lines = [f"| model ({epochs * 20} student steps) | grid | top-1 % (mean ± std) | per seed |", "|---|---|---|---|"]
    for row in rows:
        per_grid: dict[str, dict[int, float]] = {}
        for s in seeds:
            run = out / f"{row}_s{s}"
            if (run / "eval.json").is_file():
                for g, v in top1(run).items():
                    per_grid.setdefault(g, {})[s] = v
        for g, by_seed in per_grid.items():
            vals = list(by_seed.values())
            mean = statistics.mean(vals)
            spread = f"{mean:.1f} ± {statistics.stdev(vals):.1f}" if len(vals) > 1 else f"{mean:.1f}"
            each = ", ".join(f"s{s} {v:.1f}" for s, v in by_seed.items())
            lines.append(f"| {LABELS[row]} | {g} | {spread} | {each} |")
    reached = []
    for s in seeds:
        soft, teacher = out / f"soft_s{s}", out / f"teacher_s{s}"
        if (soft / "eval.json").is_file() and (teacher / "eval.json").is_file():
            target = next(iter(top1(teacher).values())) - 1.0
            step = next((st for st, v in curve(soft) if v >= target), None)
            reached.append(f"seed {s}: " + (f"{step} steps" if step is not None else f"not within {epochs * 20}"))
    if reached:
        lines.append("")
        lines.append("Soft-distilled student within 1 point of its teacher (default grid, evaluated every epoch): "
                     + "; ".join(reached))
    return "\n".join(lines)


if __name__ == "__main__":
    from _venv import use_project_venv

    use_project_venv()  # the project's .venv when it exists
    sys.exit(main())
