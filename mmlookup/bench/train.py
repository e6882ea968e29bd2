"""``mmlookup bench --train``: one optimizer step (forward, backward, AdamW) per encoder and grid.

Reported per row: step time and clips/s (median of interleaved repeats: the models take turns, so a shared
machine's load drifts hit them alike), the executed training GMACs per clip (forward + backward, counted by
running them), the activation memory and the peak memory, and ratios against the ViT of the same size measured
in the same run.

* **activation MB** — the bytes autograd keeps for backward, parameters excluded: every tensor saved in the
  forward pass is seen by ``torch.autograd.graph.saved_tensors_hooks`` and each storage is counted once. It is
  exact and deterministic (the same on every run and on any device), so the memory targets use it.
* **peak MB** — on CUDA the allocator's peak during one step above what was allocated before it (parameters
  and AdamW state excluded; gradients and the backward's temporaries included); on CPU the rise of the
  process's peak resident set (an estimate: the heap keeps freed blocks).
* **MFU** (CUDA only) — achieved FLOP/s (2 × executed training MACs × clips/s) ÷ the device's dense bf16 peak,
  named in the header (``unknown peak`` for a device not in :data:`BF16_PEAK_TFLOPS`).

    mmlookup bench --train                    # ViT-B, LookupViT-B at 3 grids, EViT-B, ATS-B, 16x224², batch 1
    mmlookup bench --train --small            # tiny models, 8x112², batch 2: under a minute on 2 CPU cores
    mmlookup bench --train --compile          # the same under torch.compile
    mmlookup bench --train --small --teacher vit_tiny   # + each step with a frozen teacher's forward (distillation)

With ``--teacher ENCODER`` every model gets a second row, ``+ teacher``: the same step plus the teacher's forward on
the same clip under ``no_grad`` in the same precision (what ``distill.teacher`` adds to a training step; its cost
depends only on the teacher's architecture, so random weights measure it). Its ``teacher overhead`` column is the
step-time increase over the row without the teacher; its GFLOPs stay the student's.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from mmlookup.bench.cli import Case, autocast_for, build_cases, num, pick_device, render_table
from mmlookup.bench.flops import flop_counter
from mmlookup.bench.throughput import device_peak_tflops, interleaved_throughput
from mmlookup.words import plural

TRAIN_GRIDS = ("2x5x5", "4x5x5", "4x7x7")
TRAIN_SMALL_GRIDS = ("2x3x3", "2x5x5")


@dataclass
class TrainRow:
    model: str
    input: str
    grid: str
    batch: int
    step_s: float
    clips_per_s: float
    gmacs: float  # forward, papers' convention
    train_gmacs: float  # executed forward + backward
    activation_mb: float
    peak_mb: float | None
    mfu: float | None = None
    gmacs_ratio: float | None = None
    speed_ratio: float | None = None
    activation_ratio: float | None = None
    teacher_overhead: float | None = None  # step-time increase with the teacher's forward (``--teacher``)


def _loss(out) -> torch.Tensor:
    """A scalar touching every output (the head's cost is negligible and left out)."""
    loss = out.tokens.float().square().mean()
    if out.compressed is not None:
        loss = loss + out.compressed.float().square().mean()
    return loss


def saved_activation_bytes(fn, params: nn.Module | None = None) -> int:
    """Bytes autograd saves for backward during ``fn()``: each storage once, parameters' storages excluded."""
    skip = {p.untyped_storage().data_ptr() for p in params.parameters()} if params is not None else set()
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values())


def make_step(model: nn.Module, x: torch.Tensor, grid, device: torch.device, dtype: str, compile: bool = False,
              teacher: nn.Module | None = None):
    """A closure running one AdamW step of ``model`` (compiled when asked) on ``x``, and one returning the loss of
    the plain (uncompiled) model, for counting FLOPs and saved bytes. With ``teacher``, each step also runs the
    frozen teacher's forward on ``x`` under ``no_grad`` in the same autocast (a distillation step's extra work)."""
    kwargs = {} if grid is None else {"grid": grid}
    forward = torch.compile(model) if compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.05)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast_for(device, dtype):
            if teacher is not None:
                with torch.no_grad():
                    teacher(x)
            loss = _loss(forward(x, **kwargs))
        loss.backward()
        opt.step()

    def loss_fn() -> torch.Tensor:
        with autocast_for(device, dtype):
            return _loss(model(x, **kwargs))

    return step, loss_fn


def train_macs(loss_fn, model: nn.Module) -> int:
    """Executed MACs of one forward + backward (autograd's recomputations included)."""
    with flop_counter() as counter:
        loss_fn().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() // 2


def run_train_bench(cases: list[Case], video_shape, batch_size: int, device: torch.device, dtype: str,
                    warmup: int, repeats: int, compile: bool = False, teacher: nn.Module | None = None
                    ) -> list[TrainRow]:
    """Measure every case (interleaved timing) and fill the ratios against the first ``vit_*`` row; with
    ``teacher``, each case also gets a ``+ teacher`` row and its step-time overhead."""
    from mmlookup.bench.flops import encoder_gmacs
    from mmlookup.layers.attention import set_fused_attn, use_fused_attn

    rows, runs = [], {}
    for case in cases:
        model = case.model.to(device).train()
        x = torch.randn(batch_size, *video_shape, generator=torch.Generator().manual_seed(0)).to(device)
        fused = use_fused_attn()
        set_fused_attn(False)  # forward GMACs in the papers' convention (LookupViT's logits counted once)
        try:
            gmacs = encoder_gmacs(model, video_shape, case.grid, video=x)
        finally:
            set_fused_attn(fused)
        model.train()
        step, loss_fn = make_step(model, x, case.grid, device, dtype, compile=compile)
        key = f"{case.label} {case.grid or ''}"
        runs[key] = step
        executed = train_macs(loss_fn, model) / batch_size / 1e9
        act = saved_activation_bytes(loss_fn, model) / batch_size / 2**20
        rows.append(TrainRow(model=case.label, input="x".join(map(str, video_shape[1:])),
                             grid="x".join(map(str, case.grid)) if case.grid else "-", batch=batch_size, step_s=0.0,
                             clips_per_s=0.0, gmacs=gmacs, train_gmacs=executed, activation_mb=act, peak_mb=None))
        if teacher is not None:
            runs[key + " + teacher"] = make_step(model, x, case.grid, device, dtype, compile, teacher.to(device))[0]
            rows.append(TrainRow(**{**asdict(rows[-1]), "model": f"{case.label} + teacher"}))
    timings = interleaved_throughput(runs, batch_size, device, warmup=warmup, repeats=repeats)
    peak = device_peak_tflops(device)
    for row, key in zip(rows, runs):
        t = timings[key]
        row.clips_per_s, row.step_s = t.clips_per_s, batch_size / t.clips_per_s
        row.peak_mb = None if t.peak_mem_mb is None else t.peak_mem_mb / batch_size
        if peak is not None:
            row.mfu = 2 * row.train_gmacs * 1e9 * row.clips_per_s / (peak * 1e12)
    for plain, with_teacher in zip(rows, rows[1:]):
        if teacher is not None and with_teacher.model == f"{plain.model} + teacher" and plain.grid == with_teacher.grid:
            with_teacher.teacher_overhead = with_teacher.step_s / plain.step_s - 1.0
    ref = next((r for r in rows if r.model.startswith("vit_")), None)
    if ref is not None:
        for r in rows:
            r.gmacs_ratio = ref.gmacs / r.gmacs
            r.speed_ratio = r.clips_per_s / ref.clips_per_s
            r.activation_ratio = r.activation_mb / ref.activation_mb
    return rows


def format_train_rows(rows: list[TrainRow], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows], indent=2)
    head = ["model", "input", "grid", "batch", "step s", "clips/s", "GFLOPs", "train GMACs", "activation MB/clip",
            "peak MB/clip", "MFU", "GFLOPs ratio", "speed ratio", "speed/GFLOPs", "activation ratio"]
    teacher = any(r.model.endswith(" + teacher") for r in rows)
    if teacher:
        head.append("teacher overhead")
    f = num
    lines = []
    for r in rows:
        eff = None if r.speed_ratio is None else r.speed_ratio / r.gmacs_ratio
        lines.append([r.model, r.input, r.grid, str(r.batch), f(r.step_s, 3), f(r.clips_per_s, 3), f(r.gmacs),
                      f(r.train_gmacs), f(r.activation_mb, 1), f(r.peak_mb, 0),
                      "-" if r.mfu is None else f"{100 * r.mfu:.1f}%", f(r.gmacs_ratio), f(r.speed_ratio), f(eff),
                      f(r.activation_ratio)])
        if teacher:
            lines[-1].append("-" if r.teacher_overhead is None else f"{100 * r.teacher_overhead:+.0f}%")
    return render_table(head, lines, fmt)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mmlookup bench --train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default=None, help="model size (default base; tiny with --small)")
    p.add_argument("--encoders", nargs="+", default=None, help="encoder names (default: vit, lookupvit, evit, ats)")
    p.add_argument("--grids", nargs="+", default=None,
                   help=f"LookupViT compressed grids (default {' '.join(TRAIN_GRIDS)})")
    p.add_argument("--frames", type=int, default=None, help="clip length (default 16; 8 with --small)")
    p.add_argument("--img-size", type=int, default=None, help="frame size (default 224; 112 with --small)")
    p.add_argument("--batch-size", type=int, default=None, help="clips per step (default 1; 2 with --small)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=None, help="timed steps per model (default 3 on CPU, 10 on GPU)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="auto: fp32 on CPU, bf16 autocast on GPU")
    p.add_argument("--compile", action="store_true", help="torch.compile every model (compile time in the warm-up)")
    p.add_argument("--small", action="store_true", help="tiny models, 8x112², batch 2: under a minute on 2 cores")
    p.add_argument("--teacher", default=None, metavar="ENCODER",
                   help="also time each step with this frozen teacher's forward (distillation), e.g. vit_base")
    p.add_argument("--format", choices=["md", "csv", "json"], default="md")
    p.add_argument("--out", default=None, help="also write the table to this file")
    args = p.parse_args(argv)
    args.grids = args.grids or list(TRAIN_SMALL_GRIDS if args.small else TRAIN_GRIDS)
    args.no_timm = True
    device, dtype = pick_device(args.device, args.dtype)
    repeats = args.repeats or (10 if device.type == "cuda" else 3)
    batch = args.batch_size or (2 if args.small else 1)
    torch.manual_seed(0)
    cases, video_shape = build_cases(args)
    teacher = _teacher(args.teacher, video_shape) if args.teacher else None
    rows = run_train_bench(cases, video_shape, batch, device, dtype, args.warmup, repeats, compile=args.compile,
                           teacher=teacher)
    peak = device_peak_tflops(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    peak_txt = "" if device.type != "cuda" else (f", bf16 peak {peak:.0f} TFLOP/s" if peak else ", unknown peak")
    threads = plural(torch.get_num_threads(), "thread")
    print(f"train step (fwd+bwd+AdamW): device {name} ({threads}{peak_txt}), dtype {dtype}, "
          f"batch {batch}, compile {args.compile}, torch {torch.__version__}"
          + (f", teacher {args.teacher} (frozen, no_grad)" if teacher is not None else ""))
    table = format_train_rows(rows, args.format)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")
    return 0


def _teacher(name: str, video_shape) -> nn.Module:
    """A frozen teacher encoder ``name`` in eval mode at the bench's clip geometry (random weights: cost only)."""
    from mmlookup.registry import create_encoder, is_encoder, list_encoders

    if not is_encoder(name):
        raise ValueError(f"--teacher {name!r} is not a registered encoder; valid: {', '.join(list_encoders())}")
    teacher = create_encoder(name, num_frames=video_shape[1], img_size=video_shape[2])
    teacher.requires_grad_(False)
    return teacher.eval()


if __name__ == "__main__":
    sys.exit(main())
