"""Sub-commands ``mmlookup train | eval | list | demo`` (dispatched by :mod:`mmlookup.cli`)."""
from __future__ import annotations

import argparse
import sys

from mmlookup.config import list_recipes, load_recipe, valid_keys

_SET_HELP = "override a recipe value, e.g. --set optim.lr=3e-4 --set model.grids='[(2,4,4)]' (repeatable)"


def _load(parser: argparse.ArgumentParser, args: argparse.Namespace):
    try:
        return load_recipe(args.recipe, [kv for group in args.set for kv in group])
    except (KeyError, TypeError, ValueError, FileNotFoundError) as e:
        parser.error(str(e.args[0] if isinstance(e, KeyError) else e))


def train_main(argv: list[str]) -> int:
    """``mmlookup train RECIPE [--set k=v ...] [--resume [DIR]]``; multi-process via ``accelerate launch``."""
    parser = argparse.ArgumentParser(
        prog="mmlookup train", description="Train from a recipe. Multi-GPU: accelerate launch --multi_gpu "
        "--num_processes N -m mmlookup.train RECIPE ...; multi-process CPU: torchrun --nproc_per_node N -m "
        "mmlookup.train RECIPE ...")
    parser.add_argument("recipe", help="recipe file (recipes/k400/vit_b16_16x4.py, synthetic/lookupvit, "
                        "path.py:runlocal, or a run's recipe.yaml)")
    parser.add_argument("--set", nargs="+", action="append", default=[], metavar="KEY=VALUE", help=_SET_HELP)
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="DIR",
                        help="continue from a checkpoint or run folder (no value: this run's newest checkpoint)")
    parser.add_argument("--keys", action="store_true", help="print every recipe key and exit")
    args = parser.parse_args(argv)
    if args.keys:
        print("\n".join(valid_keys()))
        return 0
    recipe = _load(parser, args)
    from mmlookup.engine.fit import fit

    fit(recipe, resume=args.resume)
    return 0


def eval_main(argv: list[str]) -> int:
    """``mmlookup eval RECIPE [--checkpoint DIR] [--set k=v ...]``: every grid, per-head, JSON report."""
    parser = argparse.ArgumentParser(prog="mmlookup eval", description="Evaluate a checkpoint with a recipe's "
                                     "test protocol (eval.num_clips x eval.num_crops views, every grid).")
    parser.add_argument("recipe", help="recipe file, or the run's recipe.yaml")
    parser.add_argument("--checkpoint", default=None, help="checkpoint folder (RUN/checkpoints/step_N or best) "
                        "or a run folder (its newest checkpoint); omit it to evaluate an imported classifier "
                        "given as --set model.pretrained=PATH")
    parser.add_argument("--set", nargs="+", action="append", default=[], metavar="KEY=VALUE", help=_SET_HELP)
    parser.add_argument("--ema", action="store_true", help="evaluate the EMA weights")
    parser.add_argument("--out", default=None, help="JSON report path (default: RUN/eval_<checkpoint>.json)")
    args = parser.parse_args(argv)
    recipe = _load(parser, args)
    from mmlookup.engine.fit import run_eval

    if args.checkpoint is None and (recipe.task == "caption" or not recipe.model.pretrained):
        parser.error("nothing to evaluate: pass --checkpoint (a run's checkpoint) or --set model.pretrained=PATH")
    run_eval(recipe, args.checkpoint, use_ema=True if args.ema else None, out=args.out)
    return 0


def list_main(argv: list[str]) -> int:
    """``mmlookup list [encoders|recipes] [--pattern GLOB]``."""
    parser = argparse.ArgumentParser(prog="mmlookup list", description="List encoders and recipes.")
    parser.add_argument("what", nargs="?", choices=("all", "encoders", "recipes"), default="all")
    parser.add_argument("--pattern", default="*", help="shell pattern for encoder names, e.g. 'lookupvit_*'")
    args = parser.parse_args(argv)
    if args.what in ("all", "encoders"):
        from mmlookup import list_encoders

        print("encoders:")
        print("\n".join(f"  {n}" for n in list_encoders(args.pattern)))
    if args.what in ("all", "recipes"):
        print("recipes:")
        for name in list_recipes():
            print(f"  {name:<28} {_first_doc_line(name)}")
    return 0


def _first_doc_line(name: str) -> str:
    import ast

    from mmlookup.config import RECIPES_DIR

    doc = ast.get_docstring(ast.parse((RECIPES_DIR / f"{name}.py").read_text())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def demo_main(argv: list[str]) -> int:
    """``mmlookup demo [--quick] [--all-encoders]``: see :mod:`mmlookup.engine.demo`."""
    from mmlookup.engine.demo import main

    return main(argv)


if __name__ == "__main__":
    sys.exit(train_main(sys.argv[1:]))
