"""`mmlookup` command line: one sub-command per job, each owned by the module that does the work.

Each entry maps a sub-command to ``module:function``; the function takes the remaining ``argv`` and
returns an exit code. Modules are imported only when their command runs, so ``mmlookup --help`` is fast.
"""
from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "mmlookup.engine.cli:demo_main",
        "the built-in demo: synthetic data, train LookupViT, evaluate every grid",
    ),
    "train": ("mmlookup.engine.cli:train_main", "train from a recipe: mmlookup train RECIPE [--set k=v ...]"),
    "eval": ("mmlookup.engine.cli:eval_main", "evaluate a checkpoint: mmlookup eval RECIPE --checkpoint DIR"),
    "export": ("mmlookup.engine.export:export_main", "a run's best checkpoint as a model folder: export RUN OUT"),
    "sweep": ("mmlookup.engine.sweep:main", "training-free sweep: one ViT checkpoint with EViT / ATS / ToMe at many "
              "rates (or LookupViT at its grids): table + plot"),
    "list": ("mmlookup.engine.cli:list_main", "list encoders and recipes"),
    "bench": ("mmlookup.bench.cli:main", "parameters, GFLOPs, throughput and memory of encoders (and --data)"),
    "data": ("mmlookup.data.cli:main", "data tools: synth, scan, stats"),
    "caption": ("mmlookup.captioning.cli:caption_main", "caption images or videos with a trained captioner"),
    "eval-captions": ("mmlookup.captioning.cli:eval_captions_main", "score a COCO results file against references"),
    "visualize": ("mmlookup.viz.cli:visualize_main", "token maps of an encoder on a video or image (GIF + PNG)"),
    "plot": ("mmlookup.viz.cli:plot_main", "accuracy vs GFLOPs / throughput plots from run directories"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: mmlookup COMMAND [ARGS]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `mmlookup COMMAND --help` for the arguments of a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"mmlookup: unknown command {name!r}; valid commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module_name, func_name = COMMANDS[name][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
