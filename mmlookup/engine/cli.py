"""Sub-commands ``mmlookup train | eval | list | demo`` (dispatched by :mod:`mmlookup.cli`)."""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from mmlookup.config import list_recipes, valid_keys
from mmlookup.engine.args import _load, _parse
from mmlookup.engine.args import add_set_argument as add_set_argument  # re-exported: it lived here


def train_main(argv: list[str]) -> int:
    """``mmlookup train RECIPE [--set k=v ...] [--resume auto|DIR]``; multi-process via ``accelerate launch``."""
    parser = argparse.ArgumentParser(
        prog="mmlookup train", description="Train from a recipe. Multi-GPU: accelerate launch --multi_gpu "
        "--num_processes N -m mmlookup.train RECIPE ...; multi-process CPU: torchrun --nproc_per_node N -m "
        "mmlookup.train RECIPE .... SIGTERM, SIGINT or SIGUSR1 finish the current step, save a checkpoint and "
        "exit with 128 + the signal number; a second signal exits at once.")
    parser.add_argument("recipe", help="recipe name or file (k400/vit_b16_16x4, recipes/synthetic/lookupvit.py, "
                        "path.py:runlocal, or a run's recipe.yaml)")
    add_set_argument(parser)
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="auto|DIR",
                        help="'auto': continue from this run's newest checkpoint if there is one, else start fresh "
                        "(safe in requeued jobs); DIR: a checkpoint or run folder")
    parser.add_argument("--allow-recipe-change", action="store_true",
                        help="resume even though the recipe differs from the checkpoint's (the old one is kept in "
                        "RUN/recipe_history/)")
    parser.add_argument("--keys", action="store_true", help="print every recipe key and exit")
    args = _parse(parser, argv)
    if args.keys:
        print("\n".join(valid_keys()))
        return 0
    try:
        recipe = _load(args)
    except Exception as err:  # a recipe that does not load (syntax error, bad --set): the run folder is in --set
        note_failure(output_dir_from_sets(args.set), err)
        raise
    from mmlookup.engine.checks import check_recipe
    from mmlookup.engine.fit import fit
    from mmlookup.engine.preempt import TrainingStopped, signal_name

    try:
        check_recipe(recipe, train=True)
        fit(recipe, resume=args.resume, allow_recipe_change=args.allow_recipe_change)
    except TrainingStopped as stop:
        if _is_main_process():
            print(f"stopped at step {stop.step} by {signal_name(stop.signum)}; checkpoint {stop.checkpoint}; "
                  f"resume with: {resume_command(args)}", file=sys.stderr, flush=True)
        return stop.exit_code
    except Exception as err:
        note_failure(recipe.train.output_dir, err)
        raise
    return 0


def note_failure(run_dir: str | None, err: BaseException) -> None:
    """End an existing ``RUN/log.txt`` with ``failed: ...``, so its last line is never an old ``stopped at step``
    line after a requeued job failed (a job script that requeues on that line would requeue forever)."""
    if not run_dir:
        return
    log = os.path.join(run_dir, "log.txt")
    if os.path.isfile(log) and _is_main_process():
        with open(log, "a") as f:
            f.write(f"failed: {type(err).__name__}: {' '.join(str(err).split())}\n")


def output_dir_from_sets(sets: list[str]) -> str | None:
    """The run folder a command line names with ``--set train.output_dir=DIR`` (the last one wins), if any."""
    found = [value for key, _, value in (kv.partition("=") for kv in sets) if key.strip() == "train.output_dir"]
    return found[-1].strip() if found else None


def resume_command(args: argparse.Namespace) -> str:
    """The command line that continues this run: same recipe and overrides, ``--resume auto``."""
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    head = ["<launcher>", "-m", "mmlookup.train"] if launched else ["mmlookup", "train"]
    sets = [x for kv in args.set for x in ("--set", kv)]
    extra = ["--allow-recipe-change"] if args.allow_recipe_change else []
    return " ".join([*head, shlex.join([args.recipe, *sets]), "--resume", "auto", *extra])


def _is_main_process() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


def eval_main(argv: list[str]) -> int:
    """``mmlookup eval RECIPE [--checkpoint DIR] [--set k=v ...]``: every grid, per-head, JSON report."""
    parser = argparse.ArgumentParser(prog="mmlookup eval", description="Evaluate a checkpoint with a recipe's "
                                     "test protocol (eval.num_clips x eval.num_crops views, every grid).")
    parser.add_argument("recipe", help="recipe name or file, or the run's recipe.yaml")
    parser.add_argument("--checkpoint", default=None, help="checkpoint folder (RUN/checkpoints/step_N or best) "
                        "or a run folder (its best, else its newest); omit it to evaluate an imported classifier "
                        "given as --set model.pretrained=PATH")
    add_set_argument(parser)
    parser.add_argument("--ema", action="store_true", help="evaluate the EMA weights")
    parser.add_argument("--out", default=None, help="JSON report path (default: RUN/eval_<checkpoint>.json)")
    args = _parse(parser, argv)
    recipe = _load(args)
    from mmlookup.engine.checkpoint import check_checkpoint
    from mmlookup.engine.checks import check_recipe
    from mmlookup.engine.fit import run_eval

    recipe, args.checkpoint = model_folder_as_pretrained(recipe, args.checkpoint)
    check_recipe(recipe, train=False)
    if args.checkpoint is None and (recipe.task == "caption" or not recipe.model.pretrained):
        raise ValueError("nothing to evaluate: pass --checkpoint (a run's checkpoint) or "
                         "--set model.pretrained=PATH")
    use_ema = True if args.ema else None
    if recipe.task == "classify" and args.checkpoint is not None:
        if recipe.eval.robustness:  # these recipes evaluate with the run's own model section: check against it
            from mmlookup.engine.robustness import run_model_section

            recipe = run_model_section(recipe, args.checkpoint)
        check_checkpoint(args.checkpoint, use_ema=bool(use_ema if use_ema is not None else recipe.eval.use_ema),
                         recipe=recipe)
    run_eval(recipe, args.checkpoint, use_ema=use_ema, out=args.out)
    return 0


def model_folder_as_pretrained(recipe, checkpoint: str | None):
    """``--checkpoint`` naming a model folder (``mmlookup export``, ``save_pretrained``), which predict, the app,
    ``create_classifier`` and ``distill.teacher`` take too: evaluated as the classifier it holds
    (``model.pretrained``, its own head), after checking that it holds the recipe's encoder."""
    from mmlookup.checkpoints import is_model_folder
    from mmlookup.checkpoints.ours import read_model_folder_config
    from mmlookup.config import derive

    if checkpoint is None or recipe.task != "classify" or not is_model_folder(checkpoint):
        return recipe, checkpoint
    held = read_model_folder_config(checkpoint).get("encoder")
    if held != recipe.model.encoder:
        beside = Path(checkpoint) / "recipe.yaml"
        hint = f"; evaluate it with its own recipe: mmlookup eval {beside} --checkpoint {checkpoint}" \
            if beside.is_file() else ""
        raise ValueError(f"model folder {checkpoint} holds {held}, the recipe builds {recipe.model.encoder}{hint}")
    return derive(recipe, {"model.pretrained": str(checkpoint), "model.init_from": ""}), None


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
    from mmlookup.cli import main as _main

    sys.exit(_main(["train", *sys.argv[1:]]))
