"""Reading run directories into plot points: one per encoder / compressed grid / keep rate.

A run directory (written by ``mmlookup train`` or ``mmlookup demo``) holds the resolved ``recipe.yaml`` and an
evaluation report: ``eval.json`` (classification: :class:`mmlookup.engine.evaluate.EvalReport`, one result per
grid; captioning: :class:`mmlookup.captioning.evaluate.CaptionReport`) or ``eval_<checkpoint>.json`` from
``mmlookup eval``. A folder without ``recipe.yaml`` whose sub-folders are runs (the demo's ``runs/demo``) stands
for all of them. GMACs per view come from the report when it has them, else they are counted on the recipe's
encoder (untrained weights suffice; the count does not depend on them). Throughput is measured here unless the
report records it (``clips_per_s``).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmlookup.words import plural

Grid = tuple[int, int, int]
CLASSIFY_METRICS = ("top1", "top5", "mean_class")
METRIC_NAMES = {"top1": "top-1 (%)", "top5": "top-5 (%)", "mean_class": "mean-class top-1 (%)"}


@dataclass
class Point:
    """One marker of the plot and one row of the table.

    Attributes:
        run: the run directory.
        encoder: encoder name from the recipe.
        setting: what distinguishes points of one encoder: ``grid 2x4x4``, ``keep 0.7``, ``budget 0.5`` or ``""``.
        metric: what ``value`` is (``top-1 (%)``, ``CIDEr``, ...).
        value: the score.
        gmacs: GMACs per view (the papers' "GFLOPs"), ``None`` when unknown.
        clips_per_s: throughput, ``None`` until measured or when not wanted.
        samples: videos or images evaluated.
        grid: LookupViT compressed grid of this point.
        gmacs_source: ``"report"`` or ``"counted"``; ``throughput_source``: ``"report"``, ``"measured"`` or ``""``.
        chance: the metric's chance level when known (top-1 of uniform guessing: 100 / classes).
        std: spread of ``value`` over repeated runs (seeds), drawn as an error bar; ``None`` for a single run.
    """

    run: str
    encoder: str
    setting: str
    metric: str
    value: float
    gmacs: float | None
    clips_per_s: float | None
    samples: int
    grid: Grid | None = None
    gmacs_source: str = ""
    throughput_source: str = ""
    chance: float | None = None
    std: float | None = None

    @property
    def label(self) -> str:
        return f"{self.encoder} {self.setting}".strip()


def find_runs(paths: list[str | Path]) -> list[tuple[Path, Path]]:
    """``(recipe.yaml, report.json)`` pairs for the given run folders, folders of runs, or report files.

    Raises:
        FileNotFoundError: a path that is none of these, or a run without an evaluation report.
    """
    out: list[tuple[Path, Path]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file() and p.suffix == ".json":
            found = [d / "recipe.yaml" for d in (p.parent, p.parent.parent) if (d / "recipe.yaml").is_file()]
            recipe = found[0] if found else None
            if recipe is None:
                raise FileNotFoundError(f"{p}: no recipe.yaml next to it or one folder up")
            out.append((recipe, p))
        elif (p / "recipe.yaml").is_file():
            out.append((p / "recipe.yaml", _report_of(p)))
        elif p.is_dir() and (subs := sorted(d for d in p.iterdir() if (d / "recipe.yaml").is_file())):
            out += [(d / "recipe.yaml", _report_of(d)) for d in subs]
        else:
            raise FileNotFoundError(f"{p}: not a run directory (no recipe.yaml), a folder of runs, or an eval JSON")
    return out


def _report_of(run: Path) -> Path:
    if (run / "eval.json").is_file():
        return run / "eval.json"
    others = sorted(run.glob("eval_*.json"), key=lambda f: f.stat().st_mtime)
    if not others:
        raise FileNotFoundError(f"{run}: no eval.json or eval_*.json; evaluate it first "
                                f"(mmlookup eval {run / 'recipe.yaml'} --checkpoint {run})")
    return others[-1]


def load_points(recipe_file: Path, report_file: Path, *, metric: str = "auto", head: str = "combined",
                count_gmacs: bool = True) -> list[Point]:
    """The points of one run: one per evaluated grid (classification) or one (captioning).

    Args:
        recipe_file, report_file: from :func:`find_runs`.
        metric: ``top1`` / ``top5`` / ``mean_class`` for classification, a pycocoevalcap name (``CIDEr``,
            ``Bleu_4``, ``METEOR``, ``ROUGE_L``) for captioning; ``auto`` = ``top1`` or ``CIDEr``.
        head: classification: ``combined`` or a head name (``compressed``, ``lookup``).
        count_gmacs: count GMACs on the recipe's encoder when the report has none.

    Raises:
        ValueError: an unknown metric or head, naming the valid ones.
    """
    from mmlookup.viz.load import read_run_recipe

    recipe = read_run_recipe(recipe_file)
    report = json.loads(report_file.read_text())
    run = str(recipe_file.parent)
    enc = recipe.model.encoder
    if "scores" in report:                                                   # a captioning report
        name = "CIDEr" if metric == "auto" else metric
        if name not in report["scores"]:
            raise ValueError(f"{report_file}: no caption metric {name!r}; valid: {', '.join(report['scores'])}")
        points = [Point(run, enc, _setting(recipe, None), name, float(report["scores"][name]), None, None,
                        int(report.get("num_images", 0)))]
    else:
        points = [_classify_point(run, recipe, report, r, "top1" if metric == "auto" else metric, head)
                  for r in report["results"]]
    if count_gmacs:
        for p in points:
            if p.gmacs is None:
                p.gmacs, p.gmacs_source = count_encoder_gmacs(recipe, p.grid), "counted"
    return points


def _classify_point(run: str, recipe: Any, report: dict, result: dict, metric: str, head: str) -> Point:
    if metric not in CLASSIFY_METRICS:
        raise ValueError(f"classification metric {metric!r} is not valid; choose one of {', '.join(CLASSIFY_METRICS)}")
    if head == "combined":
        scores = result["combined"]
    elif head in result.get("heads", {}):
        scores = result["heads"][head]
    else:
        raise ValueError(f"{run}: no head {head!r}; valid: combined, {', '.join(result.get('heads', {})) or '(none)'}")
    grid = tuple(result["grid"]) if result.get("grid") else None
    name = METRIC_NAMES[metric] + ("" if head == "combined" else f", {head} head")
    gmacs = result.get("gmacs")
    point = Point(run, recipe.model.encoder, _setting(recipe, grid), name, float(scores[metric]), gmacs,
                  result.get("clips_per_s"), int(report.get("num_videos", 0)), grid,
                  gmacs_source="report" if gmacs is not None else "")
    if point.clips_per_s is not None:
        point.throughput_source = "report"
    if metric in ("top1", "mean_class") and report.get("num_classes"):
        point.chance = 100.0 / int(report["num_classes"])
    return point


def _setting(recipe: Any, grid: Grid | None) -> str:
    m = recipe.model
    if grid is not None:
        return "grid " + "x".join(map(str, grid))
    if m.encoder.startswith("evit"):
        return f"keep {0.7 if m.keep_rate is None else m.keep_rate:g}"  # None: EViT's default ρ
    if m.encoder.startswith("ats"):
        budget = m.encoder_kwargs.get("budget")
        return "budget " + ("all" if budget is None else f"{budget:g}")
    if m.encoder.startswith("tome") and "r" in m.encoder_kwargs:
        r = m.encoder_kwargs["r"]
        return f"r {r}" if isinstance(r, int) else "r " + ",".join(map(str, r))
    return ""


def build_recipe_encoder(recipe: Any):
    """The recipe's encoder with its geometry and random weights (no pretrained checkpoint is read)."""
    from mmlookup.models import build_encoder

    recipe = copy.deepcopy(recipe)
    recipe.model.pretrained = ""
    recipe.model.grad_checkpointing = False
    return build_encoder(recipe).eval()


def count_encoder_gmacs(recipe: Any, grid: Grid | None) -> float:
    """GMACs per view of the recipe's encoder on one ``(3, T, H, W)`` clip at ``grid``."""
    from mmlookup.bench.flops import gmacs_per_view

    m = recipe.model
    return gmacs_per_view(build_recipe_encoder(recipe), (3, m.num_frames, m.img_size, m.img_size), grid=grid)


def measure_throughput(points: list[Point], *, batch_size: int = 4, repeats: int = 10, device: str = "cpu") -> str:
    """Fill ``clips_per_s`` of the points that lack it, timing every encoder in turns; return a description.

    Uses :func:`mmlookup.bench.throughput.interleaved_throughput` (warm-up, then the median of ``repeats``,
    round-robin so drifts of a shared machine hit every model alike) on random clips of each recipe's shape.
    """
    import torch

    from mmlookup.bench.throughput import interleaved_throughput
    from mmlookup.viz.load import read_run_recipe

    todo = [p for p in points if p.clips_per_s is None]
    if not todo:
        return "throughput from the reports"
    from mmlookup.devices import resolve_device

    dev = resolve_device(device)
    runs, built = {}, {}
    for i, p in enumerate(todo):
        if p.run not in built:                                              # one encoder per run, every grid
            recipe = read_run_recipe(Path(p.run) / "recipe.yaml")
            m = recipe.model
            clip = torch.randn(batch_size, 3, m.num_frames, m.img_size, m.img_size, device=dev)
            built[p.run] = (build_recipe_encoder(recipe).to(dev), clip)
        encoder, clip = built[p.run]
        kwargs = {"grid": p.grid} if p.grid is not None else {}
        runs[str(i)] = _forward(encoder, clip, kwargs)
    timings = interleaved_throughput(runs, batch_size, dev, warmup=2, repeats=repeats)
    for i, p in enumerate(todo):
        p.clips_per_s, p.throughput_source = timings[str(i)].clips_per_s, "measured"
    threads = torch.get_num_threads() if dev.type == "cpu" else None
    where = f"{dev.type}, {plural(threads, 'thread')}" if threads else str(dev)
    return f"throughput measured here: batch {batch_size}, median of {repeats}, {where}, fp32"


def _forward(encoder, clip, kwargs):
    import torch

    def run():
        with torch.inference_mode():
            encoder(clip, **kwargs)
    return run
