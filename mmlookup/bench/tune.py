"""``mmlookup bench --accuracy --tune``: one tuning protocol for every family (issue 26, DESIGN §9 "equal footing").

Every family gets the same search: the same factors at two levels each, the same trials, the same shortened
schedule, scored on a **held-out part of the training clips** (every ``1/holdout``-th clip of each class; never the
validation set). The trials are the eight rows of the two-level orthogonal array L8 (every factor at each level in
four trials, every pair of factors balanced), then a ninth trial at the level of each factor whose four trials
scored higher on average (the main-effects guess, which is often not among the eight). The family's tuned
configuration is the trial with the best held-out top-1 (the mean over its evaluated settings, e.g. LookupViT's
grids). The winners are then trained on the whole training split for the benchmark's full schedule and scored on
the validation set by ``mmlookup bench --accuracy`` (the family recipes under ``recipes/synthetic/`` carry them).

Factors (:data:`FACTORS`): the from-scratch switches every family shares (``stem_norm``, fixed ``sincos_3d``
positions, PyTorch's ``weight_init``), the pooling (CLS / mean for the ViT family; two heads / one shared head for
LookupViT), the learning rate, the warm-up and gradient clipping. Everything else is the family recipe's.

    mmlookup bench --accuracy --tune                          # 5 families x 9 trials, video task
    mmlookup bench --accuracy --tune --families vit lookupvit --tune-epochs 6
    mmlookup bench --accuracy --tune --quick                  # CI smoke: tiny data, 2 trials + the guess, vit

Writes ``OUT/tune.md`` (each family's search table, main effects and winner), ``OUT/tune.json`` (every trial and
each winner as ``--rows`` overrides); runs live in ``OUT/trials/``, and an interrupted search continues.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from mmlookup.bench.accuracy import RowSpec, Schedule
from mmlookup.bench.search_space import FACTORS, L8, guess_levels, main_effects, trial_overrides


def score(result: dict[str, Any]) -> float:
    """A trial's held-out score: top-1 averaged over the settings it was evaluated at (LookupViT's grids)."""
    return statistics.fmean(g["top1"] for g in result["grids"])


def main(argv: list[str]) -> int:
    """``mmlookup bench --accuracy --tune [options]`` (the accuracy benchmark's options; ``--rows`` do not apply)."""
    from mmlookup.bench.accuracy import FAMILIES, parse_args

    args = parse_args([a for a in argv if a != "--tune"] + ["--tune"])
    if args.rows:
        raise ValueError("--tune searches the families' configurations; --rows are for the training runs")
    for f in args.families or []:
        if f not in FAMILIES:
            raise ValueError(f"unknown family {f!r}; valid: {', '.join(FAMILIES)}")
    suffix = "_quick" if args.quick else ""
    data = Path(args.data or f"data/motion16{suffix}")
    out = Path(args.out or f"runs/tune_{args.task}{suffix}").resolve()
    return tune(args, data, out, tuple(args.set))


def tune(args: Any, data: Path, out: Path, sets: tuple[str, ...]) -> int:
    """Run the search for ``args.families`` (parsed by :mod:`mmlookup.bench.accuracy`); writes the outputs."""
    from mmlookup.bench.accuracy import (
        SCHEDULES,
        _datasets,
        _run_parallel,
        bench_recipe,
        run_key,
        train_one,
    )
    from mmlookup.config import derive, load_recipe

    families = args.families if args.families is not None else (["vit"] if args.quick else
                                                                 ["vit", "evit", "ats", "tome", "lookupvit"])
    trials = args.trials or (2 if args.quick else len(L8))
    if not 1 <= trials <= len(L8):
        raise ValueError(f"--trials must be 1 to {len(L8)} (rows of the L8 design), got {trials}")
    base = SCHEDULES["quick" if args.quick else args.task]
    schedule = Schedule(args.tune_epochs or (base.epochs if args.quick else max(1, base.epochs // 2)),
                        args.batch_size or base.batch_size, base.eval_batch_size)
    holdout = args.holdout
    trial_dir = out / "trials"

    def plan_for(family: str, label: str, levels: tuple[int, ...]):
        fam = load_recipe(f"synthetic/{family}.py")
        spec = RowSpec(label, family, trial_overrides(family, levels, fam.model.encoder_kwargs, schedule.epochs))
        recipe = bench_recipe(spec, 0, task=args.task, data=data.resolve(), run_dir=Path("."), schedule=schedule,
                              sets=sets, tuned=False)  # a trial starts from the family recipe as it is
        return spec, 0, derive(recipe, {"train.output_dir": str(trial_dir / run_key(spec, recipe))})

    def run(plan: list) -> list[dict[str, Any]]:
        pending = [p for p in plan if not (Path(p[2].train.output_dir) / "result.json").is_file()]
        if not pending:
            return [json.loads((Path(r.train.output_dir) / "result.json").read_text()) for _, _, r in plan]
        for _, _, recipe in pending:  # decode once, before the workers read the cache
            _datasets(recipe, out / "cache", args.task, split=holdout)
        if args.jobs == 1:
            for spec, seed, recipe in pending:
                print(f"{spec.label} -> {recipe.train.output_dir}", file=sys.stderr)
                train_one(recipe, spec, seed, _datasets(recipe, out / "cache", args.task, split=holdout))
        else:
            _run_parallel(pending, args.jobs, args.threads or max(1, (os.cpu_count() or 1) // args.jobs),
                          out / "cache", args.task, split=holdout)
        return [json.loads((Path(r.train.output_dir) / "result.json").read_text()) for _, _, r in plan]

    start = time.perf_counter()
    # resolve every trial first (bad --set keys fail before data or training)
    first = [plan_for(f, f"{f}/t{k + 1}", L8[k]) for f in families for k in range(trials)]
    from mmlookup.bench.accuracy import ensure_data

    ensure_data(data, args)
    print(f"tuning {', '.join(families)}: {trials} trials + the main-effects guess each, {schedule.epochs} epochs "
          f"at batch {schedule.batch_size}, scored on every {holdout}th training clip", file=sys.stderr)
    results = run(first)
    report: dict[str, Any] = {"families": {}, "schedule": schedule.__dict__, "holdout_every": holdout,
                              "factors": [{"name": f.name, "labels": list(f.labels),
                                           "lookupvit_labels": list(f.lookup_labels or f.labels)} for f in FACTORS]}
    guesses = []
    for f in families:
        mine = [(L8[k], r) for k, r in enumerate(r for r in results if r["family"] == f)]
        effects = main_effects([(lv, score(r)) for lv, r in mine])
        guess = guess_levels(effects)
        guesses.append((f, guess, effects, mine))
    second = [plan_for(f, f"{f}/guess", g) for f, g, _, mine in guesses if g not in [lv for lv, _ in mine]]
    extra = {r["row"].split("/")[0]: r for r in run(second)}
    for f, guess, effects, mine in guesses:
        trials_out = [{"trial": f"t{k + 1}", "levels": list(lv), "score": score(r), "result": r}
                      for k, (lv, r) in enumerate(mine)]
        if f in extra:
            trials_out.append({"trial": "guess", "levels": list(guess), "score": score(extra[f]), "result": extra[f]})
        best = max(trials_out, key=lambda t: t["score"])  # first on a tie
        full = trial_overrides(f, tuple(best["levels"]), load_recipe(f"synthetic/{f}.py").model.encoder_kwargs,
                               base.epochs)  # warm-up as the same fraction of the full schedule
        report["families"][f] = {"trials": trials_out, "effects": effects, "guess": list(guess),
                                 "best": {"trial": best["trial"], "levels": best["levels"], "score": best["score"],
                                          "overrides": list(full)}}
    report["total_s"] = time.perf_counter() - start
    write_tune(out, report)
    return 0


def rows_argument(family: str, overrides: list[str]) -> str:
    """The ``--rows`` text that trains a family's winner on the full benchmark schedule."""
    return f"{family}_tuned={family}:" + ",".join(overrides)


def write_tune(out: Path, report: dict[str, Any]) -> None:
    """``tune.md`` (a search table per family, its main effects and winner) and ``tune.json``; printed too."""
    from mmlookup.bench.cli import render_table

    out.mkdir(parents=True, exist_ok=True)
    s = report["schedule"]
    lines = [f"Tuning protocol (issue 26): {s['epochs']} epochs at batch {s['batch_size']} on the training clips "
             f"less every {report['holdout_every']}th of each class, scored on those held-out clips (top-1, mean over "
             f"the row's settings). Total {report['total_s'] / 60:.1f} min.", ""]
    head = ["trial", *[f.name for f in FACTORS], "held-out top-1", "appearance / temporal", "train+eval s"]
    for family, fam in report["families"].items():
        rows = []
        for t in fam["trials"]:
            r = t["result"]
            groups = r["grids"][0].get("groups") or {}
            g = " / ".join(f"{statistics.fmean(x['groups'][k] for x in r['grids']):.1f}" for k in groups) or "-"
            mark = " **best**" if t["trial"] == fam["best"]["trial"] else ""
            rows.append([t["trial"] + mark, *[FACTORS[j].label(family, lv) for j, lv in enumerate(t["levels"])],
                         f"{t['score']:.1f}", g, f"{r['train_eval_s']:.0f}"])
        effects = ["main effect (level 1 − level 0)", *[f"{e1 - e0:+.1f}" for e0, e1 in fam["effects"]], "", "", ""]
        lines += [f"### {family}", "", render_table(head, rows + [effects], "md"), "",
                  f"Winner: {fam['best']['trial']} ({fam['best']['score']:.1f}); full-schedule row: "
                  f"`--rows '{rows_argument(family, fam['best']['overrides'])}'`", ""]
    text = "\n".join(lines)
    (out / "tune.md").write_text(text + "\n")
    (out / "tune.json").write_text(json.dumps(report, indent=1))
    print(text)
    print(f"wrote {out / 'tune.md'}, {out / 'tune.json'}")
