"""``mmlookup sweep``: one set of trained weights, evaluated training-free at many token budgets.

A ViT checkpoint (``vit``, ``evit``, ``ats`` or ``tome`` run: they share one state dict) is evaluated as the plain
ViT and as each reducer at each rate: EViT at keep rates ρ, ATS at budgets (fraction of the input tokens, or an
int), ToMe at merges per layer ``r``. A LookupViT checkpoint is evaluated at each compressed grid instead. Every
variant sees the same validation set with the recipe's test protocol (views, pooling). The table (top-1, top-5,
GMACs per view, clips/s, tokens per layer) is written as ``sweep.md`` and ``sweep.json``, with the
accuracy-vs-GMACs plot of ``mmlookup plot`` as ``sweep.png``, into ``--out`` or ``RUN/sweep_<reducers>``
(``sweep_evit_ats_tome``, ``sweep_tome``, ``sweep_grids``; numbered ``_2``, ``_3`` rather than overwriting an
earlier sweep). ``--rates`` for a family that ``--encoders`` leaves out are reported, not silently dropped.

    mmlookup sweep runs/demo/vit/recipe.yaml --checkpoint runs/demo/vit --encoders evit ats tome
    mmlookup sweep RECIPE --checkpoint RUN --encoders tome --rates tome=4,8,16

Default rates: EViT ρ 0.9, 0.8, 0.7, 0.6, 0.5; ATS budget 0.9, 0.7, 0.5, 0.3; ToMe the ``r`` whose analytic GMACs
match EViT's at each default ρ (:func:`mmlookup.encoders.tome.r_for_gmacs`), so the two compare at equal cost.
GMACs are counted on real validation clips (ATS's cost depends on the content: the mean over ``--gmacs-clips``);
clips/s is timed for all variants in turns on one validation batch (the same machine, the same input).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from mmlookup.engine.args import _load, _parse, add_set_argument
from mmlookup.engine.checkpoint import check_checkpoint
from mmlookup.words import plural

REDUCERS = ("evit", "ats", "tome")
BACKBONES = ("vit", "evit", "ats", "tome")
DEFAULT_RATES: dict[str, tuple[float, ...]] = {"evit": (0.9, 0.8, 0.7, 0.6, 0.5), "ats": (0.9, 0.7, 0.5, 0.3)}
RATE_KWARG = {"evit": "keep_rate", "ats": "budget", "tome": "r"}
SETTING = {"evit": "keep", "ats": "budget", "tome": "r"}


@dataclass
class Variant:
    """One evaluated model: an encoder name and what to pass it (a rate or a grid)."""

    encoder: str
    family: str
    setting: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    grid: tuple[int, int, int] | None = None


@dataclass
class SweepRow:
    """One line of the sweep table."""

    encoder: str
    family: str
    setting: str
    top1: float
    top5: float
    gmacs: float
    clips_per_s: float | None
    tokens_per_layer: list[float]
    videos: int
    views: str


def parse_rates(items: list[str]) -> dict[str, list[float | int]]:
    """``["evit=0.9,0.7", "tome=4,8"]`` → ``{"evit": [0.9, 0.7], "tome": [4, 8]}`` (ints stay ints).

    Raises:
        ValueError: an unknown family or a value that is not a number.
    """
    out: dict[str, list[float | int]] = {}
    for item in items:
        fam, _, values = item.partition("=")
        if fam not in REDUCERS or not values:
            raise ValueError(f"--rates takes FAMILY=V1,V2,... with FAMILY one of {', '.join(REDUCERS)}; got {item!r}")
        try:
            out[fam] = [float(v) if "." in v else int(v) for v in values.split(",") if v]
        except ValueError:
            raise ValueError(f"--rates {item!r}: values must be numbers") from None
    return out


def _size(encoder: str) -> str:
    return encoder.split("_", 1)[1]


def default_tome_rates(size: str, geometry: dict[str, Any], keep_rates: tuple[float, ...]) -> list[int]:
    """ToMe ``r`` per EViT keep rate, matched in analytic GMACs on the recipe's clip."""
    from mmlookup.bench.flops import analytic_gmacs
    from mmlookup.encoders.tome import r_for_gmacs
    from mmlookup.registry import create_encoder

    shape = (3, geometry["num_frames"], geometry["img_size"], geometry["img_size"])
    tome = create_encoder(f"tome_{size}", **geometry)
    rates = []
    for rho in keep_rates:
        target = analytic_gmacs(create_encoder(f"evit_{size}", keep_rate=rho, **geometry), shape)
        rates.append(r_for_gmacs(tome, target, shape))
    return list(dict.fromkeys(rates))


def plan_variants(recipe, encoders: list[str] | None, rates: dict[str, list[float | int]]) -> list[Variant]:
    """What to evaluate: a LookupViT run at each grid; a ViT-family run as the ViT and each reducer at each rate.

    Raises:
        ValueError: reducers asked for a LookupViT run, or a family / rate that does not apply.
    """
    m = recipe.model
    family = m.encoder.split("_")[0]
    if family == "lookupvit":
        if encoders:
            raise ValueError("EViT / ATS / ToMe reduce a ViT's tokens; a LookupViT checkpoint is swept over its "
                             "compressed grids (drop --encoders, set model.grids to choose them)")
        return [Variant(m.encoder, family, "grid " + "x".join(map(str, g)), grid=tuple(g)) for g in m.grids]
    if family not in BACKBONES:
        raise ValueError(f"cannot sweep a {m.encoder} checkpoint; valid: {', '.join(BACKBONES)} or lookupvit runs")
    bad = [e for e in encoders or REDUCERS if e not in REDUCERS]
    if bad:
        raise ValueError(f"unknown reducer(s) {', '.join(bad)}; valid: {', '.join(REDUCERS)}")
    size = _size(m.encoder)
    out = [Variant(f"vit_{size}", "vit", "-")]
    geometry = _geometry(recipe)
    for fam in encoders or REDUCERS:
        values = rates.get(fam)
        if values is None:
            values = (default_tome_rates(size, geometry, DEFAULT_RATES["evit"]) if fam == "tome"
                      else list(DEFAULT_RATES[fam]))
        for v in values:
            if fam == "tome" and (not isinstance(v, int) or v < 0):
                raise ValueError(f"ToMe rates are merges per layer r (ints >= 0), got {v}")
            if fam == "evit" and not 0.0 < float(v) <= 1.0:
                raise ValueError(f"EViT rates are keep rates in (0, 1], got {v}")
            out.append(Variant(f"{fam}_{size}", fam, f"{SETTING[fam]} {v:g}", {RATE_KWARG[fam]: v}))
    return out


def unswept_rates(encoders: list[str] | None, rates: dict[str, list[float | int]]) -> list[str]:
    """Families given ``--rates`` that ``--encoders`` leaves out (their rates would be dropped silently)."""
    swept = encoders or list(REDUCERS)
    return [fam for fam in rates if fam not in swept]


def output_folder(run_dir: Path, variants: list[Variant]) -> Path:
    """The default output folder: ``RUN/sweep_<reducers>`` (``RUN/sweep_grids`` for LookupViT), numbered
    ``_2``, ``_3``, ... when that one already holds a sweep, so a sweep never overwrites an earlier one."""
    families = list(dict.fromkeys(v.family for v in variants if v.family not in ("vit", "lookupvit")))
    base = run_dir / ("sweep_" + ("_".join(families) if families else
                                  "grids" if any(v.grid for v in variants) else "vit"))
    out, n = base, 1
    while (out / "sweep.md").exists() or (out / "sweep.json").exists():
        n += 1
        out = base.with_name(f"{base.name}_{n}")
    return out


def latest_sweep(run_dir: Path) -> Path | None:
    """The ``sweep.json`` of a run's newest sweep (``RUN/sweep_*/``, or an older ``RUN/sweep/``), or ``None``: what
    ``mmlookup predict --gmacs-budget`` chooses from and ``mmlookup export`` copies into a model folder."""
    found = [p for p in Path(run_dir).glob("sweep*/sweep.json") if p.is_file()]
    return max(found, key=lambda p: (p.stat().st_mtime_ns, str(p))) if found else None


def _geometry(recipe) -> dict[str, Any]:
    m = recipe.model
    return dict(num_frames=m.num_frames, img_size=m.img_size, tubelet_size=m.tubelet_size, patch_size=m.patch_size)


def vit_architecture(encoder_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The entries of a ViT-family run's ``encoder_kwargs`` that :class:`~mmlookup.encoders.vit.VideoViT` itself
    takes (architecture: ``pos_embed``, ``stem_norm``, ``qkv_bias``...), so EViT / ATS / ToMe built on the run's
    weights have its architecture; a reducer's own rates (``keep_rate``, ``budget``, ``r``...) are left out."""
    import inspect

    from mmlookup.encoders.vit import VideoViT

    accepted = set(inspect.signature(VideoViT.__init__).parameters) - {"self"}
    return {k: v for k, v in encoder_kwargs.items() if k in accepted}


def build_variant(recipe, variant: Variant, num_classes: int, checkpoint: str) -> torch.nn.Module:
    """The classifier of ``variant`` (:func:`mmlookup.models.create_classifier`) carrying the checkpoint's weights."""
    from mmlookup.engine.checkpoint import load_weights
    from mmlookup.models import create_classifier

    m = recipe.model
    kwargs = dict(_geometry(recipe), **variant.kwargs)
    if variant.encoder == m.encoder:
        kwargs = {**m.encoder_kwargs, **kwargs}
    elif variant.family != "lookupvit":  # the run's ViT architecture (positions, stem, init...), not its rates
        kwargs = {**vit_architecture(m.encoder_kwargs), **kwargs}
    if variant.grid is not None:
        kwargs["grid"] = variant.grid
    model = create_classifier(variant.encoder, num_classes, pool=m.pool, head_dropout=m.head_dropout, verbose=False,
                              **kwargs)
    load_weights(model, checkpoint)
    return model.eval()


class TokenCounter:
    """Forward hook on an encoder: the clip-weighted mean of ``info["tokens_per_layer"]`` over every call."""

    def __init__(self) -> None:
        self.total: torch.Tensor | None = None
        self.clips = 0

    def __call__(self, _module, args, output) -> None:
        b = args[0].shape[0]
        per_layer = torch.tensor(output.info["tokens_per_layer"], dtype=torch.float64) * b
        self.total = per_layer if self.total is None else self.total + per_layer
        self.clips += b

    def mean(self) -> list[float]:
        return [] if self.total is None else (self.total / self.clips).tolist()


def _first_clips(loader, limit: int) -> torch.Tensor:
    batch = next(iter(loader))
    video = batch.video
    flat = video.flatten(0, 1) if video.ndim == 6 else video
    return flat[:limit]


def run_sweep(recipe, checkpoint: str, variants: list[Variant], *, out: Path, throughput: bool = True,
              gmacs_clips: int = 4, speed_batch: int = 8, repeats: int = 5, dataset=None) -> list[SweepRow]:
    """Evaluate every variant, write ``sweep.md``, ``sweep.json`` and ``sweep.png`` under ``out``; return the rows.

    ``dataset``: the validation set (default: the recipe's). One process: run it without ``accelerate launch``.
    """
    from mmlookup.bench.flops import encoder_gmacs, gmacs_per_view
    from mmlookup.engine.evaluate import evaluate
    from mmlookup.engine.setup import _num_classes, build_accelerator, build_dataset, build_loader

    acc = build_accelerator(recipe)
    val_ds = dataset if dataset is not None else build_dataset(recipe, False)
    num_classes = _num_classes(recipe, val_ds)
    loader = acc.prepare(build_loader(val_ds, recipe.eval.batch_size, train=False,
                                      num_workers=recipe.eval.num_workers))
    clips = _first_clips(loader, max(gmacs_clips, speed_batch)).to(acc.device)
    rows, models = [], {}
    for v in variants:
        start = time.perf_counter()
        model = build_variant(recipe, v, num_classes, checkpoint).to(acc.device)
        counter = TokenCounter()
        handle = model.encoder.register_forward_hook(counter)
        try:
            report = evaluate(model, loader, acc, grids=(v.grid,) if v.grid else (), head_names=model.head_names,
                              num_classes=num_classes, num_clips=recipe.eval.num_clips,
                              num_crops=recipe.eval.num_crops)
        finally:
            handle.remove()
        if hasattr(model.encoder, "set_budget"):  # ATS: the cost depends on the clip, so counted on real ones
            gmacs = sum(encoder_gmacs(model.encoder, tuple(clips.shape[1:]), v.grid, video=c[None])
                        for c in clips[:gmacs_clips]) / min(gmacs_clips, len(clips))
        else:  # the number predict and demo give for the same setting
            gmacs = gmacs_per_view(model.encoder, tuple(clips.shape[1:]), v.grid)
        r = report.results[0].combined
        rows.append(SweepRow(v.encoder, v.family, v.setting, r.top1, r.top5, gmacs, None, counter.mean(),
                             report.num_videos, f"{report.num_clips}x{report.num_crops}"))
        models[len(rows) - 1] = (model, v.grid)
        acc.print(f"{v.encoder:<14} {v.setting:<12} top-1 {r.top1:6.2f}  top-5 {r.top5:6.2f}  GMACs {gmacs:.4g}  "
                  f"({time.perf_counter() - start:.0f} s)")
    speed_note = ""
    if throughput:
        speed_note = _measure_speed(rows, models, clips[:speed_batch], repeats)
    write_outputs(rows, out, recipe=recipe.name, checkpoint=str(checkpoint), speed_note=speed_note,
                  num_classes=num_classes)
    return rows


def _measure_speed(rows: list[SweepRow], models: dict, clips: torch.Tensor, repeats: int) -> str:
    from mmlookup.bench.throughput import interleaved_throughput

    def run_fn(model, grid):
        def run():
            with torch.inference_mode():
                model(clips, grid) if grid is not None else model(clips)
        return run

    runs = {str(i): run_fn(*models[i]) for i in range(len(rows))}
    timings = interleaved_throughput(runs, len(clips), clips.device, warmup=1, repeats=repeats)
    for i, row in enumerate(rows):
        row.clips_per_s = timings[str(i)].clips_per_s
    cpu = clips.device.type == "cpu"
    where = f"cpu, {plural(torch.get_num_threads(), 'thread')}" if cpu else str(clips.device)
    return (f"clips/s: batch {len(clips)} of validation clips, median of {repeats} repeats taken in turns, {where}, "
            f"fp32, classifier included")


def format_table(rows: list[SweepRow]) -> str:
    """The sweep as a GitHub markdown table."""
    head = ["encoder", "setting", "top-1", "top-5", "GMACs/view", "vs first row", "clips/s", "tokens per layer (MLP)"]
    base = rows[0].gmacs if rows else 1.0
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        tokens = " ".join(f"{t:.0f}" if abs(t - round(t)) < 1e-6 else f"{t:.1f}" for t in r.tokens_per_layer)
        speed = "n/a" if r.clips_per_s is None else f"{r.clips_per_s:.1f}"
        lines.append(f"| {r.encoder} | {r.setting} | {r.top1:.2f} | {r.top5:.2f} | {r.gmacs:.4g} | "
                     f"{r.gmacs / base:.2f} | {speed} | {tokens} |")
    return "\n".join(lines)


def write_outputs(rows: list[SweepRow], out: Path, *, recipe: str, checkpoint: str, speed_note: str,
                  num_classes: int) -> None:
    """``sweep.md`` (table + protocol), ``sweep.json`` and ``sweep.png`` (accuracy vs GMACs, and vs clips/s)."""
    from mmlookup.viz.deps import MissingVizDependency
    from mmlookup.viz.plot import plot_points
    from mmlookup.viz.runs import Point

    out.mkdir(parents=True, exist_ok=True)
    views = rows[0].views if rows else "-"
    notes = [f"recipe {recipe}, checkpoint {checkpoint}, training-free (one set of weights)",
             f"{rows[0].videos if rows else 0} validation videos, views {views} (clips x crops); "
             f"chance top-1 {100 / num_classes:.1f}%",
             "GMACs per view counted on validation clips (encoder only, heads excluded); tokens per layer: the mean "
             "number of tokens at each block's MLP (CLS and fused tokens included)"]
    if speed_note:
        notes.append(speed_note)
    text = format_table(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    (out / "sweep.md").write_text(text)
    (out / "sweep.json").write_text(json.dumps({"recipe": recipe, "checkpoint": checkpoint, "notes": notes,
                                                "rows": [asdict(r) for r in rows]}, indent=1))
    points = [Point(str(out / r.family), r.encoder, r.setting if r.setting != "-" else "", "top-1 (%)", r.top1,
                    r.gmacs, r.clips_per_s, r.videos, chance=100 / num_classes) for r in rows]
    try:
        plot_points(points, out / "sweep.png", title=f"training-free sweep: {recipe}", throughput_note=speed_note)
    except MissingVizDependency as err:
        print(f"no plot: {err}")
    print(text)
    print(f"wrote {out / 'sweep.md'}, {out / 'sweep.json'}" + (", sweep.png" if (out / "sweep.png").is_file() else ""))


def main(argv: list[str]) -> int:
    """``mmlookup sweep RECIPE --checkpoint PATH [--encoders evit ats tome] [--rates FAM=V,...] [--out DIR]``."""

    parser = argparse.ArgumentParser(prog="mmlookup sweep", description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[2:]))
    parser.add_argument("recipe", help="the run's recipe.yaml or a recipe file (data, clip and test protocol)")
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder or run folder (its best, else "
                        "its newest checkpoint)")
    parser.add_argument("--encoders", nargs="+", default=None, metavar="FAMILY",
                        help=f"reducers to sweep on a ViT checkpoint (default: {' '.join(REDUCERS)})")
    parser.add_argument("--rates", nargs="+", default=[], metavar="FAMILY=V1,V2",
                        help="rates per reducer: evit=0.9,0.7 (keep rate), ats=0.5,0.25 or ats=32 (budget), "
                        "tome=4,8 (merges per layer)")
    parser.add_argument("--out", default=None,
                        help="output folder (default: RUN/sweep_<reducers>, numbered rather than overwritten)")
    parser.add_argument("--no-throughput", action="store_true", help="skip the clips/s timing")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per variant (default 5)")
    parser.add_argument("--gmacs-clips", type=int, default=4, help="validation clips GMACs are averaged over")
    add_set_argument(parser)
    args = _parse(parser, argv)
    recipe = _load(args)
    try:
        variants = plan_variants(recipe, args.encoders, parse_rates(args.rates))
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    ckpt = check_checkpoint(args.checkpoint, recipe=recipe)  # missing, corrupt, another encoder's: one line
    dropped = unswept_rates(args.encoders, parse_rates(args.rates))
    if dropped:
        print(f"mmlookup sweep: warning: --rates for {', '.join(dropped)} ignored: not among the swept encoders "
              f"({', '.join(args.encoders or REDUCERS)}); add them to --encoders to sweep them", file=sys.stderr)
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt
    out = Path(args.out) if args.out else output_folder(run_dir, variants)
    run_sweep(recipe, str(ckpt), variants, out=out, throughput=not args.no_throughput, repeats=args.repeats,
              gmacs_clips=args.gmacs_clips)
    return 0
