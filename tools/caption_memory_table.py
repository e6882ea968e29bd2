"""The README's two synthetic captioning tables, reproducibly: random vs trained frozen encoder, and memory kinds
at an equal number of memory tokens.

    mmlookup demo --all-encoders                                                  # the trained ViT and LookupViT
    python tools/caption_memory_table.py --demo runs/demo                         # every run (OMP_NUM_THREADS=1)
    python tools/caption_memory_table.py --demo runs/demo --only-table            # re-measure finished runs

``--demo DIR`` needs the classification runs ``DIR/lookupvit`` and ``DIR/vit``. The README's tables used
``mmlookup train recipes/synthetic/lookupvit.py`` and ``recipes/synthetic/vit.py --set model.pool=mean`` (seed 0,
``--set train.output_dir=DIR/...``): with CLS pooling the 600-step ViT stays at chance.

Every row is one ``mmlookup train recipes/coco/caption_synthetic.py[:video]`` run (same decoder, schedule and
seed; only the frozen encoder and its memory change), written to ``--out/<set>_<row>``; a run whose ``eval.json``
exists is not repeated. Encoders, all frozen, all from the demo's classification runs:

* ``lookupvit random``: LookupViT-nano with its random initialisation (the ``random`` recipe argument);
* ``lookupvit compressed`` at 2x2x2 and 2x4x4 (still images: 1x2x2 and 1x4x4): the demo's trained LookupViT;
* ``evit`` / ``ats`` / ``tome`` reduced to the same number of tokens (``caption.memory=reduced``,
  ``caption.memory_tokens``), training-free on the demo's trained **ViT** weights (same state dict);
* ``vit`` all tokens (``caption.memory=lookup``): the unreduced reference.

After the runs, for each row: memory tokens (mean real tokens per item over the evaluation set), encoder GMACs
(torch's FLOP counter on one evaluation item, as ``mmlookup bench``) and captions/s (frozen encoder + beam
search on a batch of evaluation items, 1 thread, all rows of a set timed in turns, median of the repeats).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = "recipes/coco/caption_synthetic.py"
NAMES = {"evit": "EViT", "ats": "ATS", "tome": "ToMe"}
SETS = {"clips": ("video", (8, 32), ((2, 2, 2), (2, 4, 4))), "images": ("", (4, 16), ((2, 2, 2), (2, 4, 4)))}


@dataclass
class Row:
    """One captioning run of a table."""

    set: str
    name: str
    kind: str
    weights: str
    overrides: list[str]
    arg: str = ""
    tokens: float = 0.0
    gmacs: float = 0.0
    cider: float = 0.0
    bleu4: float = 0.0
    captions_per_s: float = 0.0
    run_s: float = 0.0


def _has(encoder: str) -> bool:
    from mmlookup import list_encoders

    return bool(list_encoders(encoder))


def run_encoder_kwargs(run: Path) -> dict:
    """``model.encoder_kwargs`` of a classification run (its ``recipe.yaml``; ``{}`` when there is none)."""
    if not (run / "recipe.yaml").is_file():
        return {}
    from mmlookup.viz.load import read_run_recipe

    return dict(read_run_recipe(run / "recipe.yaml").model.encoder_kwargs)


def plan(set_name: str, demo: Path, reducers: list[str], with_vit: bool) -> list[Row]:
    """The runs of one set: random vs trained LookupViT, LookupViT's two grids, reducers at the same sizes."""
    arg, sizes, grids = SETS[set_name]
    lvit, vit = str(demo / "lookupvit"), str(demo / "vit")
    still = set_name == "images"

    def label(g: tuple[int, int, int]) -> str:
        return "x".join(map(str, (1, *g[1:]) if still else g))

    # the demo LookupViT's architecture switches (issue 18's from-scratch choices), for the random row too
    kwargs = [f"model.encoder_kwargs={run_encoder_kwargs(demo / 'lookupvit')!r}"]
    vit_kwargs = [f"model.encoder_kwargs={run_encoder_kwargs(demo / 'vit')!r}"]  # not the LookupViT's switches
    rows = [Row(set_name, "lookupvit_random", f"LookupViT compressed {label(grids[0])}", "random",
                [f"model.grids=[{grids[0]}]", *kwargs], arg=",".join(filter(None, [arg, "random"])))]
    for g in grids:
        rows.append(Row(set_name, f"lookupvit_{'x'.join(map(str, g))}", f"LookupViT compressed {label(g)}",
                        "trained LookupViT", [f"model.grids=[{g}]", *kwargs, f"caption.encoder_checkpoint={lvit}"],
                        arg=arg))
    for k in sizes:
        for red in reducers:
            rows.append(Row(set_name, f"{red}_{k}", f"{NAMES.get(red, red)} reduced to {k}",
                            "trained ViT (training-free)",
                            [f"model.encoder={red}_nano", "model.grids=[]", *vit_kwargs, "caption.memory=reduced",
                             f"caption.memory_tokens={k}", f"caption.encoder_checkpoint={vit}"], arg=arg))
    if with_vit:
        rows.append(Row(set_name, "vit_all", "ViT all tokens", "trained ViT",
                        ["model.encoder=vit_nano", "model.grids=[]", *vit_kwargs, "caption.memory=lookup",
                         f"caption.encoder_checkpoint={vit}"], arg=arg))
    return rows


def run_dir(out: Path, row: Row) -> Path:
    return out / f"{row.set}_{row.name}"


def train(row: Row, out: Path, data: Path, extra: list[str]) -> None:
    """``mmlookup train`` for one row (OMP_NUM_THREADS=1 as in the README), unless its eval.json exists."""
    run = run_dir(out, row)
    if (run / "eval.json").is_file():
        return
    prefix = "video_captions" if row.set == "clips" else "captions"
    sets = [f"train.output_dir={run}", f"caption.train_annotations={data / 'coco' / f'{prefix}_train.json'}",
            f"caption.val_annotations={data / 'coco' / f'{prefix}_val.json'}",
            f"caption.cache_dir={out / 'cache'}", "train.tensorboard=False", *row.overrides, *extra]
    recipe = f"{RECIPE}:{row.arg}" if row.arg else RECIPE
    cmd = [sys.executable, "-m", "mmlookup", "train", recipe, *[x for kv in sets for x in ("--set", kv)]]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    t0 = time.time()
    print(f"[{time.strftime('%H:%M:%S')}] {run.name}: {' '.join(cmd[3:])}", flush=True)
    run.mkdir(parents=True, exist_ok=True)
    with open(run.parent / f"{run.name}.out", "w") as log:
        rc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    if rc:
        raise SystemExit(f"{run.name} failed (rc {rc}); see {run.parent / f'{run.name}.out'}")
    (run / "wall_s.txt").write_text(f"{time.time() - t0:.1f}\n")


def measure(rows: list[Row], out: Path, batch: int, repeats: int) -> None:
    """Fill tokens, GMACs, CIDEr and captions/s of finished rows (captions/s timed in turns within a set)."""
    import torch

    from mmlookup.bench.flops import count_macs
    from mmlookup.bench.throughput import interleaved_throughput
    from mmlookup.captioning.data import load_splits, media_dataset
    from mmlookup.captioning.generate import load_captioner

    torch.set_num_threads(1)
    by_set: dict[str, dict[str, object]] = {}
    for row in rows:
        run = run_dir(out, row)
        report = json.loads((run / "eval.json").read_text())
        row.cider, row.bleu4 = report["scores"]["CIDEr"], report["scores"]["Bleu_4"]
        wall = run / "wall_s.txt"
        row.run_s = float(wall.read_text()) if wall.is_file() else 0.0
        model, _, recipe = load_captioner(run)
        _, val = load_splits(recipe)
        ds = media_dataset(recipe, val)
        video = torch.stack([ds[i].media for i in range(min(batch, len(ds)))])
        with torch.no_grad():
            counts = []
            for i in range(0, len(ds), 32):
                mem = model.encode(torch.stack([ds[j].media for j in range(i, min(i + 32, len(ds)))]))
                counts += ([mem.hidden.shape[1]] * mem.hidden.shape[0] if mem.mask is None
                           else mem.mask.sum(1).tolist())
            row.tokens = sum(counts) / len(counts)
            model.encode(video[:1])  # sets a reducer's schedule for this input size
            row.gmacs = count_macs(model.encoder, video[:1]) / 1e9
        c = recipe.caption

        def e2e(model=model, video=video, c=c) -> object:
            return model.generate(model.encode(video), num_beams=c.num_beams, max_length=c.max_length)

        by_set.setdefault(row.set, {})[row.name] = e2e
    for set_name, runs in by_set.items():
        with torch.inference_mode():
            timings = interleaved_throughput(runs, batch, torch.device("cpu"), warmup=1, repeats=repeats)
        for row in rows:
            if row.set == set_name:
                row.captions_per_s = timings[row.name].clips_per_s


def format_tables(rows: list[Row]) -> str:
    """Markdown: (a) random vs trained encoder, (b) memory kinds at equal size."""
    out = ["| synthetic set | frozen encoder | memory | CIDEr | BLEU-4 |", "|---|---|---|---|---|"]
    for row in rows:
        if row.name == "lookupvit_random" or row.name == "lookupvit_2x2x2":
            weights = "random weights" if row.weights == "random" else "trained (synthetic classification run)"
            out.append(f"| {row.set} | LookupViT-nano, {weights} | {row.kind} | {row.cider:.3f} | "
                       f"{row.bleu4:.3f} |")
    out += ["", "| synthetic set | memory kind | weights | memory tokens | encoder GMACs | CIDEr | BLEU-4 "
            "| captions/s |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if row.name != "lookupvit_random":
            out.append(f"| {row.set} | {row.kind} | {row.weights} | {row.tokens:.1f} | {row.gmacs:.4f} | "
                       f"{row.cider:.3f} | {row.bleu4:.3f} | {row.captions_per_s:.1f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--demo", type=Path, default=Path("runs/demo"), help="`mmlookup demo --all-encoders` output")
    p.add_argument("--data", type=Path, default=Path("data/synthetic"), help="the synthetic dataset")
    p.add_argument("--out", type=Path, default=Path("runs/caption_tables"))
    p.add_argument("--sets", default="clips,images", help="comma list of: clips, images")
    p.add_argument("--reducers", default="evit,ats,tome", help="token reducers to compare (those registered)")
    p.add_argument("--no-vit", action="store_true", help="skip the all-tokens ViT reference row")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time (each uses one thread)")
    p.add_argument("--rows", default="", help="comma list of row names to run (default all), e.g. lookupvit_random")
    p.add_argument("--only-table", action="store_true", help="do not train; measure and print finished runs")
    p.add_argument("--set", nargs="*", default=[], help="extra overrides for every run (smoke tests)")
    p.add_argument("--batch", type=int, default=16, help="items per timed captioning batch")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    reducers = [r for r in args.reducers.split(",") if r and _has(f"{r}_nano")]
    sets = [s for s in args.sets.split(",") if s]
    bad = [s for s in sets if s not in SETS]
    if bad:
        p.error(f"unknown set(s) {bad}; valid: {', '.join(SETS)}")
    if not (args.data / "coco").is_dir():
        from mmlookup.data.synthetic import generate

        generate(str(args.data))
    rows = [row for s in sets for row in plan(s, args.demo.resolve(), reducers, not args.no_vit)]
    if args.rows:
        rows = [row for row in rows if row.name in args.rows.split(",")]
    for family in ("lookupvit", "vit"):
        if any(f"{args.demo.resolve() / family}" in " ".join(r.overrides) for r in rows) and not (
                args.demo / family / "checkpoints").is_dir():
            p.error(f"{args.demo / family} is not a classification run; run `mmlookup demo --all-encoders` first")
    if not args.only_table:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(args.jobs) as pool:  # each run is its own process with one thread
            list(pool.map(lambda row: train(row, args.out.resolve(), args.data.resolve(), args.set), rows))
    rows = [row for row in rows if (run_dir(args.out, row) / "eval.json").is_file()]
    measure(rows, args.out, args.batch, args.repeats)
    table = format_tables(rows)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tables.md").write_text(table + "\n")
    (args.out / "rows.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    from _venv import use_project_venv

    use_project_venv()  # the project's .venv when it exists
    raise SystemExit(main())
