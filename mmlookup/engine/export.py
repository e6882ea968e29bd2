"""``mmlookup export RUN OUT_DIR [--format folder|onnx|pt2]``: a run's best checkpoint as a model folder with a
model card, and optionally a deployable graph beside it.

The folder (``config.json`` + ``model.safetensors``, :mod:`mmlookup.hub`) loads with no recipe at hand
(``VideoClassifier.from_pretrained(OUT_DIR)`` or ``create_classifier(checkpoint=OUT_DIR)``); beside it go the
run's resolved ``recipe.yaml``, ``preprocessor_config.json`` (:func:`mmlookup.data_config` of the run, with the
Hugging Face image-processor keys) and a ``README.md`` card: recipe, data, accuracy per grid from the run's
evaluation reports, GMACs per view, and the commands that reproduce and re-evaluate it. ``--format onnx`` / ``pt2``
add ``model.onnx`` / ``model.pt2`` at one compute setting (``--grid``, ``--keep-rate``, ``--r``, ``--budget``; default
the run's) and ``deploy.json`` describing the graph (:mod:`mmlookup.engine.graph_export`).
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from mmlookup.checkpoints import classifier_classes, read_class_names
from mmlookup.config import Recipe, derive, load_recipe
from mmlookup.hf import write_remote_code

CARD = """---
library_name: mmlookup
tags: [video-classification, mmlookup, {encoder}]
---
# {name}

A `{encoder}` video classifier ({num_classes} classes) trained with the mmlookup recipe
`{name}`, exported from `{run}` (checkpoint `{checkpoint}`, optimizer step {step}).

```python
from mmlookup.models import VideoClassifier
model = VideoClassifier.from_pretrained("{out}")      # clips (B, 3, {num_frames}, {img_size}, {img_size})
```

## Data
{data}

## Accuracy
{accuracy}

## Cost
{cost}

## Reproduce
```bash
mmlookup train recipe.yaml                                  # the resolved recipe of this run, beside this card
mmlookup eval recipe.yaml --checkpoint {run}/checkpoints/best
```
"""


SETTING_FAMILIES = {"grid": "lookupvit", "keep_rate": "evit", "r": "tome", "budget": "ats"}


def export_run(run: str | Path, out: str | Path, checkpoint: str | None = None, fmt: str = "folder",
               setting: dict[str, Any] | None = None) -> Path:
    """Write ``run``'s checkpoint ``checkpoint`` (a name under ``RUN/checkpoints``; default ``best``, else the
    newest: :func:`~mmlookup.checkpoints.run_checkpoint`) to ``out`` as a model folder; return ``out``.

    ``fmt`` ``"onnx"`` / ``"pt2"`` also writes the graph at ``setting`` (``grid``, ``keep_rate``, ``r``,
    ``budget``: the family's knob; default the run's own setting).
    """
    from mmlookup.checkpoints import run_checkpoint
    from mmlookup.engine.checkpoint import load_weights
    from mmlookup.engine.graph_export import FORMATS, need_deploy_extra, write_graph
    from mmlookup.engine.sweep import latest_sweep
    from mmlookup.models import build_model

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    setting = {k: v for k, v in (setting or {}).items() if v is not None}
    if setting and fmt == "folder":
        raise ValueError(f"--{next(iter(setting)).replace('_', '-')} sets the graph's setting: use it with "
                         "--format onnx or pt2")
    if fmt == "onnx":
        need_deploy_extra("mmlookup export --format onnx")
    run, out = Path(run), Path(out)
    recipe_file = run / "recipe.yaml"
    if not recipe_file.is_file():
        raise FileNotFoundError(f"{recipe_file} not found: {run} is not a finished run folder (RUN/recipe.yaml and "
                                f"RUN/checkpoints/)")
    ckpt = run_checkpoint(run, checkpoint)
    if not (ckpt / "model.safetensors").is_file():
        raise FileNotFoundError(f"{ckpt / 'model.safetensors'} not found: the checkpoint has no weights")
    # the run's weights replace any import or teacher initialisation (a distilled run exports without its teacher)
    recipe = derive(load_recipe(recipe_file), {"model.pretrained": "", "model.init_from": ""})
    family = recipe.model.encoder.split("_")[0]
    for key in setting:
        if SETTING_FAMILIES.get(key) != family:
            raise ValueError(f"--{key.replace('_', '-')} is for {SETTING_FAMILIES.get(key, '?')} models; this run is "
                             f"{recipe.model.encoder}")
    num_classes = classifier_classes(ckpt / "model.safetensors")
    model = build_model(recipe, num_classes)
    use_ema = recipe.eval.use_ema and (ckpt / "ema.safetensors").is_file()
    state = load_weights(model, ckpt, use_ema=use_ema)
    model.class_names = _run_classes(run, recipe, num_classes)
    model.save_pretrained(out)
    shutil.copyfile(recipe_file, out / "recipe.yaml")
    sweep = latest_sweep(run)
    if sweep is not None:                                     # measured settings: predict --gmacs-budget uses them
        shutil.copyfile(sweep, out / "sweep.json")
    card = CARD.format(
        name=recipe.name, encoder=recipe.model.encoder, num_classes=num_classes, run=run, checkpoint=checkpoint,
        step=state.step, out=out, num_frames=recipe.model.num_frames, img_size=recipe.model.img_size,
        data=_data_section(recipe), accuracy=_accuracy_section(run), cost=_cost_section(model.encoder, recipe),
    )
    (out / "README.md").write_text(card)
    write_preprocessor_config(out, recipe)
    write_remote_code(out)                                      # transformers: AutoModel / pipeline, trust_remote_code
    print(f"exported {ckpt} ({'EMA ' if use_ema else ''}step {state.step}) -> {out}")
    if fmt != "folder":
        from mmlookup.inference.budget import _set_knob

        grid = setting.pop("grid", None)
        _set_knob(model.encoder, setting)
        graph = write_graph(model.eval(), out, fmt, grid=tuple(grid) if grid else None)
        print(f"graph ({fmt}, dynamic batch axis) -> {graph}")
    return out


def write_preprocessor_config(out: Path, recipe: Recipe) -> Path:
    """``preprocessor_config.json``: :func:`mmlookup.data_config` of the run plus the Hugging Face image-processor
    keys (``image_mean``, ``image_std``, ``size.shortest_edge``, ``crop_size``, ``rescale_factor``)."""
    from mmlookup.inference.preprocess import data_config
    from mmlookup.inference.source import _preprocess_of

    cfg = data_config({k: v for k, v in vars(_preprocess_of(recipe)).items()})
    hf = {"do_resize": True, "size": {"shortest_edge": cfg["short_side"]}, "do_center_crop": True,
          "crop_size": {"height": cfg["img_size"], "width": cfg["img_size"]}, "do_rescale": True,
          "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": list(cfg["mean"]),
          "image_std": list(cfg["std"])}
    path = out / "preprocessor_config.json"
    path.write_text(json.dumps({**hf, **{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}},
                               indent=1))
    return path


def _run_classes(run: Path, recipe: Recipe, num_classes: int) -> list[str] | None:
    """The run's class names: its ``classes.json``, or (runs trained before it was written) the recipe's
    annotations when they are still at hand; ``None`` (with a note) otherwise."""
    from mmlookup.engine.setup import classes_from_recipe

    names = read_class_names(run) or classes_from_recipe(recipe)
    if names is not None and len(names) != num_classes:
        names = None
    if names is None:
        print(f"note: no class names for {run} (no classes.json, annotations not found): the folder's config.json "
              "gets no id2label, so predictions will name classes by index")
    return names


def _data_section(recipe: Recipe) -> str:
    d, e = recipe.data, recipe.eval
    return (f"`{d.format}` annotations under `{d.root}` (train `{d.train_annotations}`, val `{d.val_annotations}`); "
            f"{recipe.model.num_frames} frames at {recipe.model.img_size}x{recipe.model.img_size}, "
            f"{d.sampling} sampling (frame interval {d.frame_interval}); test views {e.num_clips} clips x "
            f"{e.num_crops} crops.")


def _accuracy_section(run: Path) -> str:
    """One table row per evaluation report of the run (``eval.json``, ``eval_*.json``) and grid."""
    rows = []
    for path in sorted(run.glob("eval*.json")):
        try:
            report = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        for r in report.get("results", []):
            grid = "x".join(map(str, r["grid"])) if r.get("grid") else "-"
            c = r["combined"]
            rows.append(f"| {path.name} | {grid} | {c['top1']:.2f} | {c['top5']:.2f} | {report.get('num_videos', '?')}"
                        f" | {report.get('num_clips', '?')}x{report.get('num_crops', '?')} |")
    if not rows:
        return "No evaluation report in the run folder; run the `mmlookup eval` command below."
    head = "| report | grid | top-1 | top-5 | videos | views |\n|---|---|---|---|---|---|"
    return "\n".join([head, *rows])


def _cost_section(encoder, recipe: Recipe) -> str:
    from mmlookup.bench.flops import analytic_gmacs, encoder_gmacs

    shape = (3, recipe.model.num_frames, recipe.model.img_size, recipe.model.img_size)
    lines = []
    for grid in recipe.model.grids or (None,):
        gmacs = analytic_gmacs(encoder, shape, grid=grid)
        how = "analytic"
        if gmacs is None:
            gmacs, how = encoder_gmacs(encoder, shape, grid=grid), "measured on a zero clip"
        where = f"grid {'x'.join(map(str, grid))}" if grid else "encoder"
        lines.append(f"- {where}: {gmacs:.3f} GMACs per view ({how})")
    return "\n".join(lines)


def export_main(argv: list[str]) -> int:
    """``mmlookup export RUN OUT_DIR [--checkpoint NAME] [--format folder|onnx|pt2] [--grid ...]``."""
    from mmlookup.encoders.common import parse_grid
    from mmlookup.inference.cli import parse_budget

    parser = argparse.ArgumentParser(prog="mmlookup export", description="Write a run's checkpoint (best, else the "
                                     "newest; --checkpoint NAME for another) as a model folder (config.json + "
                                     "model.safetensors + preprocessor_config.json + README.md model card); "
                                     "--format onnx / pt2 adds model.onnx / model.pt2 (dynamic batch axis, "
                                     "normalised clips in, (B, K) logits out) and deploy.json.")
    parser.add_argument("run", help="run folder (train.output_dir)")
    parser.add_argument("out", help="output folder")
    parser.add_argument("--checkpoint", default=None, metavar="NAME", help="one of RUN's checkpoints (best, step_N; "
                        "default: best, else the newest)")
    parser.add_argument("--format", default="folder", choices=("folder", "onnx", "pt2"),
                        help="folder: the model folder only; onnx: + model.onnx (needs mmlookup[deploy]); pt2: + "
                             "torch.export's model.pt2")
    parser.add_argument("--grid", help="LookupViT: the graph's compressed grid TxHxW (default: the run's first)")
    parser.add_argument("--keep-rate", type=float, help="EViT: the graph's keep rate (default: the run's)")
    parser.add_argument("--r", type=int, help="ToMe: the graph's merges per layer (default: the run's)")
    parser.add_argument("--budget", help="ATS: the graph's budget, int, fraction or 'all' (default: the run's; "
                        "exported with a fixed min(budget, tokens) slots per sampling layer, duplicates masked)")
    args = parser.parse_args(argv)
    try:
        setting = {"grid": parse_grid(args.grid) if args.grid else None, "keep_rate": args.keep_rate, "r": args.r}
        if args.budget is not None:
            setting["budget"] = parse_budget(args.budget)
        export_run(args.run, args.out, args.checkpoint, args.format, setting)
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    return 0
