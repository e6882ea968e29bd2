"""``mmlookup predict MODEL INPUT...`` and ``mmlookup app MODEL`` (dispatched by :mod:`mmlookup.cli`)."""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

PREDICT_EPILOG = """\
MODEL: a run folder (its best checkpoint, else its newest; --checkpoint NAME for another), a checkpoint folder, a
model folder (mmlookup export) or a Hugging Face VideoMAE / ViViT folder. INPUT: video or image files, folders
(recursive), or .txt/.lst files listing paths.
Files that cannot be used are reported and counted; the exit code is 1 when any input failed, 0 otherwise.

examples:
  mmlookup predict runs/demo/lookupvit data/synthetic/k400/val --top-k 3 --json runs/predictions.json
  mmlookup predict runs/demo/lookupvit clip.mp4 --gmacs-budget 0.03      # the largest grid under the budget
  mmlookup predict runs/demo/vit clip.mp4 --latency-budget 20 --views 1x1
  mmlookup predict runs/demo/lookupvit long.mp4 --timeline --smooth 3 --json runs/timeline.json --plot runs/timeline.png
  mmlookup predict runs/demo/lookupvit long.mp4 --timeline --cascade 1x2x2,2x2x2,2x4x4 --confidence 0.3
  mmlookup predict runs/demo/lookupvit long.mp4 --timeline --cascade 1x2x2,2x2x2,2x4x4 --gmacs-budget 0.035
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
    p.add_argument("--checkpoint", default=None, metavar="NAME", help="one of a run folder's checkpoints (best, "
                   "step_N; default: best, else the newest)")
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
    add_timeline_options(p)
    args = p.parse_args(argv)
    if args.top_k < 1:
        p.error(f"--top-k must be >= 1, got {args.top_k}")
    problem = check_timeline_args(args)
    if problem:
        p.error(problem)
    if args.timeline:
        return timeline_main(args)
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
    for out in (args.json, args.csv):
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
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


def add_timeline_options(p: argparse.ArgumentParser) -> None:
    """``--timeline`` and the cascade (:mod:`mmlookup.inference.timeline`, :mod:`mmlookup.inference.cascade`)."""
    g = p.add_argument_group("long videos (--timeline: one video -> a timeline of labels)")
    g.add_argument("--timeline", action="store_true", help="label windows over one long video and merge segments")
    g.add_argument("--window", default=None, metavar="SECONDS|FRAMESf",
                   help="window length: seconds (2.5) or frames (29f); default one test clip's span")
    g.add_argument("--stride", default=None, metavar="SECONDS|FRAMESf", help="step between windows; default half "
                   "the window")
    g.add_argument("--smooth", type=int, default=1, metavar="N", help="average probabilities over N windows (odd)")
    g.add_argument("--min-segment", default=None, metavar="SECONDS|FRAMESf",
                   help="shorter runs of windows take a neighbour's label (default: none)")
    g.add_argument("--plot", type=Path, default=None, metavar="PNG", help="draw the timeline to this picture")
    g.add_argument("--truth", type=Path, default=None, metavar="JSON",
                   help="ground-truth segments (mmlookup data longvideo): print frame accuracy and segment F1")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--cascade", default=None, metavar="S1,S2,...",
                   help="adaptive compute: settings run cheapest first (LookupViT 1x2x2,2x2x2,2x4x4; EViT "
                        "rho=0.5,0.7,1.0; ToMe r=8,4,0; ATS budget=0.3,0.6,all)")
    g.add_argument("--confidence", type=float, default=None, metavar="C",
                   help="escalate a window while its confidence is below C")
    g.add_argument("--confidence-measure", default="margin", choices=("margin", "max"),
                   help="top-2 margin (default) or max probability")
    g.add_argument("--calibration", nargs="+", default=None, metavar="INPUT",
                   help="with --cascade --gmacs-budget: clips to calibrate C on (default: 64 windows of the video)")


def check_timeline_args(args: argparse.Namespace) -> str | None:
    """The one-line problem with the long-video options, checked before anything is loaded."""
    if not args.timeline:
        used = [o for o in ("window", "stride", "min_segment", "plot", "truth", "cascade", "confidence", "calibration")
                if getattr(args, o) is not None] + (["smooth"] if args.smooth != 1 else [])
        return f"--{used[0].replace('_', '-')} needs --timeline" if used else None
    if len(args.inputs) != 1:
        return f"--timeline takes one video, got {len(args.inputs)} inputs"
    if args.smooth < 1 or args.smooth % 2 == 0:
        return f"--smooth must be an odd number of windows >= 1, got {args.smooth}"
    if args.cascade is None:
        if args.confidence is not None or args.calibration is not None:
            return "--confidence and --calibration need --cascade"
        return None
    if args.confidence is not None and args.gmacs_budget is not None:
        return "--cascade takes --confidence C or --gmacs-budget X (calibrates C), not both"
    if args.confidence is None and args.gmacs_budget is None:
        return "--cascade needs --confidence C or --gmacs-budget X"
    if args.calibration is not None and args.gmacs_budget is None:
        return "--calibration needs --gmacs-budget"
    if args.latency_budget is not None or args.grid or args.keep_rate is not None or args.r is not None:
        return "--cascade chooses the settings itself: drop --grid / --keep-rate / --r / --latency-budget"
    if args.truth is not None and not args.truth.is_file():
        return f"--truth {args.truth}: no such file"
    return None


def timeline_main(args: argparse.Namespace) -> int:
    """``mmlookup predict MODEL VIDEO --timeline ...``: print the segments, write JSON / CSV / picture."""
    from mmlookup.inference.inputs import InputError

    budget = args.gmacs_budget if args.cascade else None
    if budget is not None:
        args.gmacs_budget = None                                           # the cascade's budget, not a setting's
    predictor = predictor_from_args(args)
    print(predictor.describe())
    path = args.inputs[0]
    cascade = None
    try:
        if args.cascade:
            from mmlookup.inference.cascade import Cascade, parse_cascade

            cascade = Cascade(predictor, parse_cascade(predictor.loaded, args.cascade), threshold=args.confidence,
                              measure=args.confidence_measure)
            if budget is not None:
                cascade.calibrate(calibration_views(predictor, path, args), budget)
            print(cascade.describe())
        result = predictor.predict_timeline(path, window=args.window, stride=args.stride, smooth=args.smooth,
                                            min_segment=args.min_segment, top_k=args.top_k, cascade=cascade,
                                            progress=not args.no_progress)
    except InputError as err:
        print(f"{path}\n  error: {err.reason}")
        return 1
    except ValueError as err:
        print(f"mmlookup predict: error: {err}", file=sys.stderr)
        return 2
    print(f"{path}: {result.duration_s:.1f} s, {result.num_frames} frames at {result.fps:g} fps; {len(result.starts)} "
          f"windows of {result.window} frames every {result.stride}; {result.windows_per_s:.1f} windows/s")
    for s in result.segments:
        print(f"  {s.start_s:9.2f} - {s.end_s:9.2f} s  {s.label:<32} {s.score:.4f}")
    for u in result.unreadable:
        print(f"  unreadable {u.start_s:.2f} - {u.end_s:.2f} s: {u.reason}")
    for note in result.notes:
        print(f"  note: {note}")
    d = result.to_dict()
    if cascade is not None and d.get("mean_gmacs_per_window") is not None:
        from collections import Counter

        counts = Counter(s for s in result.settings or [] if s)
        print(f"cascade: {d['mean_gmacs_per_window']:.4g} GMACs per window (per view); answered by "
              + ", ".join(f"{k} {v}" for k, v in counts.items()))
    truth = None
    if args.truth is not None:
        from mmlookup.inference.longbench import read_truth, score_timeline

        truth = read_truth(args.truth)
        score = score_timeline(result, truth)
        print(f"against {args.truth}: frame accuracy {score['frame_accuracy']:.2f}%, segment F1@0.5 "
              f"{score['f1_50']:.2f}% ({score['predicted_segments']} predicted, {score['true_segments']} true)")
    extra = {"model": str(predictor.loaded.source), "setting": predictor.setting.label,
             "encoder": predictor.setting.encoder, "gmacs": predictor.setting.gmacs}
    if cascade is not None:
        extra.update(setting="cascade", cascade=cascade.labels, cascade_gmacs=cascade.gmacs,
                     confidence=cascade.threshold, confidence_measure=cascade.measure,
                     calibration=cascade.calibration)
    if args.json is not None:
        print(f"wrote {result.write_json(args.json, **extra)}")
    if args.csv is not None:
        print(f"wrote {result.write_csv(args.csv)}")
    if args.plot is not None:
        from mmlookup.viz.timeline import plot_timeline

        print(f"wrote {plot_timeline(result, args.plot, truth=truth)}")
    return 1 if result.unreadable or len(result.segments) == 0 else 0


def calibration_views(predictor, path: str, args: argparse.Namespace):
    """The clips the cascade's threshold is calibrated on: ``--calibration`` files, else 64 windows of the video."""
    import torch

    from mmlookup.inference.timeline import sample_windows

    if args.calibration is None:
        return sample_windows(path, predictor.loaded.preprocess, window=args.window, stride=args.stride, count=64)
    from mmlookup.inference.inputs import InputError, expand_inputs

    views = []
    for item in expand_inputs(args.calibration):
        if item.problem is None:
            try:
                views.append(predictor.read(item.path).video)
            except InputError:
                continue
    if not views or any(v.shape != views[0].shape for v in views):
        raise ValueError("--calibration: no readable clips of one shape")
    return torch.stack(views)


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
    from mmlookup.inference.app import check_port, serve

    check_port(args.host, args.port)  # before the model loads
    predictor = predictor_from_args(args)
    serve(predictor, captioner=args.captioner, examples=args.examples, host=args.host, port=args.port)
    return 0
