"""``mmlookup predict MODEL INPUT...`` and ``mmlookup app MODEL`` (dispatched by :mod:`mmlookup.cli`)."""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

PREDICT_EPILOG = """\
MODEL: a run folder (its best checkpoint), a checkpoint folder, a model folder (mmlookup export) or a Hugging Face
VideoMAE / ViViT folder. INPUT: video or image files, folders (recursive), or .txt/.lst files listing paths.
Files that cannot be used are reported and counted; the exit code is 1 when any input failed, 0 otherwise.

examples:
  mmlookup predict runs/demo/lookupvit data/synthetic/k400/val --top-k 3 --json out.json
  mmlookup predict runs/demo/lookupvit clip.mp4 --gmacs-budget 0.03      # the largest grid under the budget
  mmlookup predict runs/demo/vit clip.mp4 --latency-budget 20 --views 1x1
  mmlookup predict exported_onnx/ clip.mp4 --backend onnxruntime           # mmlookup export RUN OUT --format onnx
"""


def parse_budget(text: str):
    """An ATS budget from the command line: ``all`` (None), a fraction (``0.5``) or an int."""
    if text == "all":
        return None
    return float(text) if "." in text else int(text)


def add_model_options(p: argparse.ArgumentParser) -> None:
    """The options shared by ``predict`` and ``app``: device, precision, views and the compute setting."""
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when there is one)")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"),
                   help="model precision (default float32; bf16 on a CPU is very slow)")
    p.add_argument("--batch-size", type=int, default=8, help="views per forward pass (default 8)")
    p.add_argument("--views", default=None, metavar="CLIPSxCROPS",
                   help="test views, e.g. 1x1 or 2x3 (default: the recipe's test protocol)")
    p.add_argument("--checkpoint", default="best", help="checkpoint of a run folder (default: best, else newest)")
    p.add_argument("--backend", default="pytorch", choices=("pytorch", "onnxruntime"),
                   help="pytorch (default) or onnxruntime: a folder's model.onnx (mmlookup export RUN OUT --format "
                        "onnx; needs mmlookup[deploy]), at the setting it was exported with")
    g = p.add_argument_group("compute setting (one of)")
    g.add_argument("--grid", default=None, help="LookupViT compressed grid TxHxW (default: the run's first)")
    g.add_argument("--keep-rate", type=float, default=None, help="EViT keep rate")
    g.add_argument("--r", type=int, default=None, help="ToMe merges per layer")
    g.add_argument("--budget", type=parse_budget, default=argparse.SUPPRESS,
                   help="ATS budget: an int, a fraction, or 'all'")
    g.add_argument("--gmacs-budget", type=float, default=None, metavar="X",
                   help="choose the most accurate setting with at most X GMACs per view")
    g.add_argument("--latency-budget", type=float, default=None, metavar="MS",
                   help="choose the most accurate setting that runs one view within MS ms here (timed at start-up)")


def predictor_from_args(args: argparse.Namespace):
    from mmlookup.inference.predictor import Predictor

    return Predictor.from_pretrained(
        args.model, checkpoint=args.checkpoint, device=args.device, dtype=args.dtype, batch_size=args.batch_size,
        top_k=getattr(args, "top_k", 5), views=args.views, grid=args.grid, keep_rate=args.keep_rate, r=args.r,
        budget=getattr(args, "budget", "unset"), gmacs_budget=args.gmacs_budget, latency_budget=args.latency_budget,
        backend=args.backend)


def predict_main(argv: list[str]) -> int:
    """``mmlookup predict MODEL INPUT... [--top-k 5] [--json FILE] [--csv FILE] [options]``."""
    p = argparse.ArgumentParser(prog="mmlookup predict", formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Top-k class names and probabilities for videos and images.",
                                epilog=PREDICT_EPILOG)
    p.add_argument("model", help="run folder, checkpoint folder, model folder or Hugging Face folder")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video / image files, folders, or list files")
    p.add_argument("--top-k", type=int, default=5, help="labels per input (default 5)")
    p.add_argument("--json", type=Path, default=None, help="write every result to this JSON file")
    p.add_argument("--csv", type=Path, default=None, help="write every result to this CSV file (one row per label)")
    add_model_options(p)
    args = p.parse_args(argv)
    if args.top_k < 1:
        p.error(f"--top-k must be >= 1, got {args.top_k}")
    predictor = predictor_from_args(args)
    print(predictor.describe())
    results = predictor.predict_files(args.inputs)
    for r in results:
        if r.ok:
            print(f"{r.path}")
            for rank, lab in enumerate(r.labels, 1):
                print(f"  {rank}. {lab['label']:<32} {lab['score']:.4f}")
            for note in r.notes:
                print(f"  note: {note}")
        else:
            print(f"{r.path}\n  error: {r.error}")
    summary = predictor.summary
    print(summary.line())
    records = [{"file": r.path, "labels": r.labels, "error": r.error, "notes": r.notes} for r in results]
    if args.json is not None:
        args.json.write_text(json.dumps({"model": str(predictor.loaded.source), "setting": predictor.setting.label,
                                         "encoder": predictor.setting.encoder, "gmacs": predictor.setting.gmacs,
                                         "views": f"{predictor.loaded.preprocess.num_clips}x"
                                                  f"{predictor.loaded.preprocess.num_crops}",
                                         "results": records}, indent=1))
        print(f"wrote {args.json}")
    if args.csv is not None:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["file", "rank", "label", "score", "error", "notes"])
            for r in results:
                rows = [(i + 1, lab["label"], f"{lab['score']:.6f}") for i, lab in enumerate(r.labels)]
                rows = rows or [("", "", "")]
                for rank, label, score in rows:
                    w.writerow([r.path, rank, label, score, r.error or "", "; ".join(r.notes)])
        print(f"wrote {args.csv}")
    return 0 if summary.failed == 0 else 1


def app_main(argv: list[str]) -> int:
    """``mmlookup app MODEL [--captioner RUN] [--port N]``: the demo web page (Gradio)."""
    p = argparse.ArgumentParser(prog="mmlookup app", description="A demo web page for a classifier: upload or pick "
                                "a video or image; top-5 chart, token map, GMACs and latency, a compute control, "
                                "and a caption when a captioner is given. Offline; needs mmlookup[app].")
    p.add_argument("model", help="run folder, checkpoint folder, model folder or Hugging Face folder")
    p.add_argument("--captioner", default=None, help="a captioning run folder: also caption the input")
    p.add_argument("--examples", nargs="*", default=None, metavar="FILE_OR_FOLDER",
                   help="files to offer as examples (default: a few of the run's validation videos when at hand)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    add_model_options(p)
    args = p.parse_args(argv)
    from mmlookup.inference.app import missing_app_dependency

    missing = missing_app_dependency()
    if missing:
        print(f"mmlookup app: {missing}", file=sys.stderr)
        return 1
    from mmlookup.inference.app import serve

    predictor = predictor_from_args(args)
    serve(predictor, captioner=args.captioner, examples=args.examples, host=args.host, port=args.port)
    return 0
