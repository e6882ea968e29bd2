"""`mmlookup` command line: one sub-command per job, each owned by the module that does the work.

Each entry maps a sub-command to ``module:function``; the function takes the remaining ``argv`` and
returns an exit code. Modules are imported only when their command runs, so ``mmlookup --help`` is fast.

User mistakes end as one line on stderr with exit code 2 (:data:`USER_ERRORS`: bad values, missing or
unreadable files); ``--debug`` anywhere on the command line, or ``MMLOOKUP_DEBUG=1``, shows the traceback
instead. A training run stopped by a signal prints how to resume it and exits with ``128 + signal``.
"""
from __future__ import annotations

import importlib
import os
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "mmlookup.engine.cli:demo_main",
        "the built-in demo: synthetic data, train LookupViT, evaluate every grid",
    ),
    "train": ("mmlookup.engine.cli:train_main", "train from a recipe: mmlookup train RECIPE [--set k=v ...]"),
    "eval": ("mmlookup.engine.cli:eval_main", "evaluate a checkpoint: mmlookup eval RECIPE --checkpoint DIR"),
    "export": ("mmlookup.engine.export:export_main", "a run's best checkpoint as a model folder (and ONNX / .pt2 "
               "graph): export RUN OUT [--format onnx]"),
    "sweep": ("mmlookup.engine.sweep:main", "training-free sweep: one ViT checkpoint with EViT / ATS / ToMe at many "
              "rates (or LookupViT at its grids): table + plot"),
    "list": ("mmlookup.engine.cli:list_main", "list encoders and recipes"),
    "bench": ("mmlookup.bench.cli:main", "parameters, GFLOPs, throughput and memory of encoders (and --data)"),
    "bench-onnx": ("mmlookup.bench.onnx:main", "onnxruntime vs PyTorch speed of every family (mmlookup[deploy])"),
    "data": ("mmlookup.data.cli:main", "data tools: synth, scan, stats"),
    "caption": ("mmlookup.captioning.cli:caption_main", "caption images or videos with a trained captioner"),
    "eval-captions": ("mmlookup.captioning.cli:eval_captions_main", "score a COCO results file against references"),
    "predict": ("mmlookup.inference.cli:predict_main", "top-k class names of videos and images: MODEL INPUT..."),
    "app": ("mmlookup.inference.cli:app_main", "demo web page for a classifier (Gradio; pip install mmlookup[app])"),
    "visualize": ("mmlookup.viz.cli:visualize_main", "token maps of an encoder on a video or image (GIF + PNG)"),
    "plot": ("mmlookup.viz.cli:plot_main", "accuracy vs GFLOPs / throughput plots from run directories"),
}


#: What a user's mistake raises (bad values, missing, unreadable or malformed files): one line, exit code 2.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, NotADirectoryError,
                                                IsADirectoryError, PermissionError)


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: mmlookup [--version] [--debug] COMMAND [ARGS]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `mmlookup COMMAND --help` for the arguments of a command; --debug (or MMLOOKUP_DEBUG=1) "
              "shows tracebacks instead of one-line errors."]
    return "\n".join(lines)


def debug_enabled() -> bool:
    return os.environ.get("MMLOOKUP_DEBUG", "") not in ("", "0")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    if "--debug" in argv[:cut]:  # accepted anywhere before `--`, for every command
        argv = [a for i, a in enumerate(argv) if not (a == "--debug" and i < cut)]
        os.environ["MMLOOKUP_DEBUG"] = "1"
    if not argv:
        print(_usage(), file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        from mmlookup import __version__

        print(f"mmlookup {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"mmlookup: unknown command {name!r}; valid commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module_name, func_name = COMMANDS[name][0].split(":")
    return run_command(f"mmlookup {name}", getattr(importlib.import_module(module_name), func_name), rest)


def run_command(prog: str, func, argv: list[str]) -> int:
    """Run a sub-command's ``func(argv)``; user errors become one line and exit code 2 (unless debugging)."""
    try:
        return int(func(argv) or 0)
    except USER_ERRORS as err:
        if debug_enabled():
            raise
        message = str(err)
        if isinstance(err, OSError) and err.filename is not None and str(err.filename) not in message:
            message = f"{err.filename}: {err.strerror or message}"
        print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug_enabled():
            raise
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
