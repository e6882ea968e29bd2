"""``mmlookup bench-onnx``: onnxruntime against PyTorch eager on this machine, every family, batch 1 and 8.

Each family is built at one setting (random weights: speed does not depend on them, except ATS, whose kept-token
count does; its graph always runs the fixed ``min(K, N)`` slots), exported with
:func:`mmlookup.engine.graph_export.export_onnx`, checked for parity, and timed in interleaved rounds with
:func:`mmlookup.bench.throughput.interleaved_throughput` (PyTorch and onnxruntime in turns, so a shared machine's
drifts hit both alike). Both use the same number of threads; onnxruntime's threads do not spin after a run (they
would steal the cores from the PyTorch run timed next). The table gives ms per clip (median of the rounds)
and the ratio PyTorch / onnxruntime (> 1: onnxruntime is faster).

    mmlookup bench-onnx --size tiny --frames 8 --img-size 112 --threads 2 --repeats 5 --out runs/onnx_bench.md
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import torch

SETTINGS = {
    "vit": {},
    "lookupvit": {"grid": (2, 3, 3)},    # 18 compressed tokens for 196 lookup tokens at 8x112x112
    "evit": {"keep_rate": 0.7},
    "tome": {"r": 8},
    "ats": {"budget": 0.5},
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mmlookup bench-onnx", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="tiny", help="model size (default tiny)")
    p.add_argument("--families", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--img-size", type=int, default=112)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--threads", type=int, default=2, help="threads for both backends (default 2)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved timed rounds (default 5)")
    p.add_argument("--out", default=None, help="also write the Markdown table here")
    return p.parse_args(argv)


def bench(args: argparse.Namespace) -> list[dict]:
    """Rows ``{family, setting, batch, torch_ms, ort_ms, ratio, max_diff}`` (ms per clip)."""
    import mmlookup
    from mmlookup.bench.throughput import interleaved_throughput
    from mmlookup.engine.graph_export import export_onnx, need_deploy_extra

    need_deploy_extra("mmlookup bench-onnx")
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    options.log_severity_level = 3
    # no busy-waiting after a run: spinning onnxruntime threads would slow the PyTorch run timed next to it
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            torch.manual_seed(0)
            model = mmlookup.create_classifier(f"{family}_{args.size}", 400, num_frames=args.frames,
                                               img_size=args.img_size, verbose=False, **SETTINGS[family]).eval()
            path = export_onnx(model, Path(tmp) / f"{family}.onnx")
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            setting = {k: "x".join(map(str, v)) if k == "grid" else v for k, v in SETTINGS[family].items()}
            for batch in args.batches:
                x = torch.randn(batch, 3, args.frames, args.img_size, args.img_size)
                xn = x.numpy()
                with torch.inference_mode():
                    diff = float((torch.from_numpy(session.run(["logits"], {"video": xn})[0]) - model(x)).abs().max())

                def run_torch(model=model, x=x):
                    with torch.inference_mode():
                        model(x)

                def run_ort(session=session, xn=xn):
                    session.run(["logits"], {"video": xn})

                t = interleaved_throughput({"torch": run_torch, "ort": run_ort}, batch, torch.device("cpu"),
                                           warmup=1, repeats=args.repeats)
                row = {"family": family, "setting": ", ".join(f"{k} {v}" for k, v in setting.items()) or "-",
                       "batch": batch, "torch_ms": t["torch"].ms_per_clip, "ort_ms": t["ort"].ms_per_clip,
                       "ratio": t["torch"].ms_per_clip / t["ort"].ms_per_clip, "max_diff": diff}
                rows.append(row)
                print(f"{family:<10} batch {batch}: PyTorch {row['torch_ms']:.1f} ms/clip, onnxruntime "
                      f"{row['ort_ms']:.1f} ms/clip, ratio {row['ratio']:.2f}, max |dlogits| {diff:.1e}", flush=True)
    return rows


def table(rows: list[dict], args: argparse.Namespace) -> str:
    import onnxruntime as ort

    cpu = platform.processor() or platform.machine()
    head = (f"`{args.size}` models, {args.frames}x{args.img_size}x{args.img_size} clips, 400 classes, {args.threads} "
            f"threads each, {args.repeats} interleaved rounds (median); {cpu}, {os.cpu_count()} cores, torch "
            f"{torch.__version__}, onnxruntime {ort.__version__}.\n\n"
            "| family | setting | batch | PyTorch ms/clip | onnxruntime ms/clip | PyTorch / onnxruntime "
            "| max abs diff logits |\n"
            "|---|---|---|---|---|---|---|")
    body = [f"| {r['family']} | {r['setting']} | {r['batch']} | {r['torch_ms']:.1f} | {r['ort_ms']:.1f} | "
            f"{r['ratio']:.2f} | {r['max_diff']:.1e} |" for r in rows]
    return "\n".join([head, *body]) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    rows = bench(args)
    text = table(rows, args)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0
