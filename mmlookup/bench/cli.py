"""`mmlookup bench`: parameters, GFLOPs (measured and analytic), throughput and peak memory of encoders.

GFLOPs follow the papers' convention (MACs). For LookupViT two counts are shown: ``GFLOPs`` counts the logits
once (the paper's ``3NMD``, measured on the explicit path), ``exec GMACs`` is what the fused path executes
(``4NMD``: KQᵀ recomputed instead of stored). Ratios are taken against the plain ViT of the same size,
measured in the same run.

    mmlookup bench                      # ViT-B, LookupViT-B at 4 grids (+ EViT/ATS/ToMe), timm ViT-B, 16x224²;
                                        # then image rows (224², batch 8): ViT-B, LookupViT-B 3x3/5x5/7x7, timm ViT-B;
                                        # then the token reducers on images: ViT-S, EViT-S (rho 0.7), ATS-S
                                        # (full budget), ToMe-S (r = 13), ratios against that ViT-S
    mmlookup bench --small              # tiny models at 8x112² (images 112²), < 1 min on 2 CPU cores

ToMe's registered ``r`` (100 merges per layer) is meant for its registered 16x224² clip (1568 patch tokens); on any
other input the bench scales it to merge the same fraction of the tokens per layer
(:func:`~mmlookup.encoders.tome.scale_r`: 13 on 196 patch tokens), shown in the model column.
    mmlookup bench --compile            # the same under torch.compile (compile time in the warm-up)
    mmlookup bench --train ...          # one training step per model (see `mmlookup bench --train --help`)
    mmlookup bench --data ...           # data-loader throughput (see `mmlookup bench --data --help`)
    mmlookup bench --caption ...        # caption decoding speed (see `mmlookup bench --caption --help`)
    mmlookup bench --accuracy ...       # accuracy of every family, mean ± std over seeds, on the motion16 task
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from mmlookup.bench.flops import analytic_gmacs, count_macs, encoder_gmacs
from mmlookup.bench.throughput import interleaved_throughput
from mmlookup.encoders.common import parse_grid
from mmlookup.layers.attention import set_fused_attn, use_fused_attn
from mmlookup.registry import create_encoder, is_encoder
from mmlookup.words import plural

DEFAULT_GRIDS = ("2x5x5", "4x5x5", "4x7x7", "8x7x7")
SMALL_GRIDS = ("2x3x3", "2x5x5", "4x5x5")
IMAGE_GRIDS = ("1x3x3", "1x5x5", "1x7x7")


@dataclass
class Case:
    label: str
    family: str
    model: nn.Module
    grid: tuple[int, int, int] | None = None
    timm_shape: tuple[int, int, int] | None = None  # (C*t, T/t*H, W) for the timm reference


@dataclass
class BenchRow:
    model: str
    input: str
    grid: str
    params_m: float
    tokens: str
    gflops: float
    exec_gmacs: float
    formula_gflops: float | None
    clips_per_s: float
    ms_per_clip: float
    peak_mem_mb: float | None
    gflops_ratio: float | None = None
    speed_ratio: float | None = None
    batch: int = 1


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="mmlookup bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--size", default=None, help="model size: nano, tiny, small, base, large (default base; tiny with --small)"
    )
    p.add_argument(
        "--encoders", nargs="+", default=None, help="encoder names (default: vit, lookupvit, evit, ats, tome of --size)"
    )
    p.add_argument(
        "--grids", nargs="+", default=None, help=f"LookupViT compressed grids TxHxW (default {' '.join(DEFAULT_GRIDS)})"
    )
    p.add_argument("--frames", type=int, default=None, help="clip length T (default 16; 8 with --small)")
    p.add_argument("--img-size", type=int, default=None, help="frame size (default 224; 112 with --small)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per model (default 3 on CPU, 20 on GPU)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="auto: fp32 on CPU, bf16 autocast on GPU",
    )
    p.add_argument("--no-timm", action="store_true", help="skip the timm ViT reference row")
    p.add_argument("--no-images", action="store_true", help="skip the image rows")
    p.add_argument("--reducer-size", default=None,
                   help="size of the token-reducer image rows (ViT, EViT, ATS, ToMe; default small, tiny with "
                        "--small, or --size when given); 'none' skips them")
    p.add_argument("--image-batch", type=int, default=8, help="batch of the image rows (default 8)")
    p.add_argument("--compile", action="store_true", help="torch.compile every model (compile time in the warm-up)")
    p.add_argument("--small", action="store_true", help="tiny models on 8x112x112 clips: under a minute on 2 CPU cores")
    p.add_argument("--format", choices=["md", "csv", "json"], default="md")
    p.add_argument("--out", default=None, help="also write the table to this file")
    return p.parse_args(argv)


def build_cases(args: argparse.Namespace) -> tuple[list[Case], tuple[int, int, int, int]]:
    size = args.size or ("tiny" if args.small else "base")
    frames = args.frames or (8 if args.small else 16)
    img = args.img_size or (112 if args.small else 224)
    grids = [parse_grid(g) for g in (args.grids or (SMALL_GRIDS if args.small else DEFAULT_GRIDS))]
    names = args.encoders or [
        f"{fam}_{size}" for fam in ("vit", "lookupvit", "evit", "ats", "tome") if is_encoder(f"{fam}_{size}")
    ]
    cases: list[Case] = []
    for name in names:
        model = create_encoder(name, num_frames=frames, img_size=img).eval()
        family = name.split("_")[0]
        if hasattr(model, "default_grid"):
            cases += [Case(name, family, model, g) for g in grids]
        else:
            cases.append(Case(reducer_label(name, fit_to_input(model, name, frames, img)), family, model))
    vit = next((c for c in cases if c.family == "vit"), None)
    if vit is not None and not args.no_timm:
        cases.append(_timm_case(vit.model, frames, img))
    return cases, (3, frames, img, img)


def build_image_cases(
    args: argparse.Namespace, video_cases: list[Case]
) -> tuple[list[Case], tuple[int, int, int, int]]:
    """Image rows: the same ViT and LookupViT (T = 1 input) at image grids, and timm's ViT on the image."""
    img = args.img_size or (112 if args.small else 224)
    cases: list[Case] = []
    for case in video_cases:
        if case.family == "vit":
            cases.append(Case(case.label, "vit", case.model))
        elif case.family == "lookupvit" and not any(c.model is case.model for c in cases):
            cases += [Case(case.label, "lookupvit", case.model, parse_grid(g)) for g in IMAGE_GRIDS]
    vit = next((c for c in cases if c.family == "vit"), None)
    if vit is not None and not args.no_timm:
        cases.append(_timm_case(vit.model, 1, img))
    return cases, (3, 1, img, img)


def build_reducer_image_cases(args: argparse.Namespace) -> list[Case]:
    """Image rows of the token reducers against their own ViT: ViT, EViT (rho 0.7), ATS (full budget) and ToMe (r
    scaled to the image: 13 at ViT-S / 224²), each at its registered settings and clip (run at T = 1)."""
    size = args.reducer_size or args.size or ("tiny" if args.small else "small")
    if size == "none":
        return []
    img = args.img_size or (112 if args.small else 224)
    cases = []
    for family in ("vit", "evit", "ats", "tome"):
        name = f"{family}_{size}"
        model = create_encoder(name, img_size=img).eval()
        cases.append(Case(reducer_label(name, fit_to_input(model, name, 1, img)), family, model))
    return cases


def fit_to_input(model: nn.Module, name: str, frames: int, img: int) -> nn.Module:
    """ToMe's registered ``r`` scaled from its registered clip to this input (the same fraction of tokens merged
    per layer, :func:`~mmlookup.encoders.tome.scale_r`); other encoders unchanged."""
    from mmlookup.encoders.tome import ToMe, scale_r

    if isinstance(model, ToMe):
        ref = create_encoder(name, embed_dim=8, num_heads=1)       # a narrow stand-in: registered r, depth and clip
        patches = math.prod(model.patch_embed.grid_for(frames, img, img))
        ref_patches = math.prod(ref.patch_embed.grid_for(ref.num_frames, *ref.img_size))
        model.set_r(scale_r(ref.r, ref_patches, patches))
    return model


def reducer_label(name: str, model: nn.Module) -> str:
    """The encoder's name with its reduction setting: ``tome_small r=13``, ``evit_small rho=0.7``."""
    from mmlookup.encoders.ats import ATS
    from mmlookup.encoders.evit import EViT
    from mmlookup.encoders.tome import ToMe

    if isinstance(model, ToMe):
        r = model.r
        return f"{name} r={r[0] if len(set(r)) == 1 else ','.join(map(str, r))}"
    if isinstance(model, EViT):
        return f"{name} rho={model.keep_rate:g}"
    if isinstance(model, ATS):
        budget = model.blocks[model.sample_layers[0]].budget if model.sample_layers else None
        return f"{name} budget={'all' if budget is None else budget}"
    return name


def _timm_case(vit: nn.Module, frames: int, img: int) -> Case:
    """timm's 2D VisionTransformer fed the same number of tokens (tubelets laid out as a tall image)."""
    from timm.models.vision_transformer import VisionTransformer

    t, p = vit.patch_embed.tubelet_size, vit.patch_embed.patch_size
    t = 1 if frames == 1 else t
    shape = (3 * t, frames // t * img, img)
    model = VisionTransformer(
        img_size=shape[1:], patch_size=p, in_chans=shape[0], embed_dim=vit.embed_dim, depth=vit.depth,
        num_heads=vit.num_heads, num_classes=0, class_token=True, global_pool="token",
    ).eval()
    return Case(f"timm ViT (D={vit.embed_dim})", "timm", model, timm_shape=shape)


def autocast_for(device: torch.device, dtype: str):
    """Autocast to ``dtype`` (``bf16`` / ``fp16``) on ``device``; a no-op for ``fp32``."""
    if dtype in ("bf16", "fp16"):
        return torch.autocast(device.type, dtype=torch.bfloat16 if dtype == "bf16" else torch.float16)
    return nullcontext()


def pick_device(device: str, dtype: str) -> tuple[torch.device, str]:
    """``auto`` → CUDA when available, else CPU; dtype ``auto`` → bf16 autocast on CUDA, fp32 on CPU."""
    from mmlookup.devices import resolve_device

    dev = resolve_device(device)
    return dev, (dtype if dtype != "auto" else ("bf16" if dev.type == "cuda" else "fp32"))


def run_bench(
    cases: list[Case], video_shape, batch_size: int, device: torch.device, dtype: str, warmup: int, repeats: int,
    compile: bool = False,
) -> list[BenchRow]:
    from tqdm import tqdm

    rows, runs = [], {}
    for case in tqdm(cases, desc="counting FLOPs", disable=not sys.stderr.isatty()):
        shape = case.timm_shape or video_shape
        # One seeded clip per input shape: every model sees the same content (ATS's cost depends on it).
        x = torch.randn(batch_size, *shape, generator=torch.Generator().manual_seed(0)).to(device)
        kwargs = {} if case.grid is None else {"grid": case.grid}
        fused = use_fused_attn()
        try:
            if case.timm_shape:
                gmacs = exec_gmacs = count_macs(case.model, x[:1].cpu()) / 1e9
                formula = None
            else:
                exec_gmacs = encoder_gmacs(case.model, video_shape, case.grid, video=x)
                set_fused_attn(False)  # the paper's convention counts LookupViT's logits once
                gmacs = encoder_gmacs(case.model, video_shape, case.grid, video=x)
                formula = analytic_gmacs(case.model, video_shape, case.grid)
        finally:
            set_fused_attn(fused)
        model = case.model.to(device)
        key = f"{case.label} {case.grid or ''} {tuple(x.shape)}"
        if compile:
            model = torch.compile(model)

        def run(model=model, x=x, kwargs=kwargs):
            with torch.inference_mode(), autocast_for(device, dtype):
                return model(x, **kwargs)

        runs[key] = run
        n_tokens = _token_summary(case, video_shape, x)
        rows.append(
            BenchRow(
                model=case.label,
                input="x".join(map(str, video_shape[1:] if video_shape[1] > 1 else video_shape[2:])),
                grid="x".join(map(str, case.grid)) if case.grid else "-",
                params_m=sum(p.numel() for p in case.model.parameters()) / 1e6,
                tokens=n_tokens,
                gflops=gmacs,
                exec_gmacs=exec_gmacs,
                formula_gflops=formula,
                clips_per_s=0.0,
                ms_per_clip=0.0,
                peak_mem_mb=None,
            )
        )
    timings = interleaved_throughput(runs, batch_size, device, warmup=warmup, repeats=repeats)
    for row, key in zip(rows, runs):
        t = timings[key]
        row.clips_per_s, row.ms_per_clip, row.peak_mem_mb = t.clips_per_s, t.ms_per_clip, t.peak_mem_mb
        row.batch = batch_size
    ref = next((r for r in rows if r.model.startswith("vit_")), None)
    if ref is not None:
        for r in rows:
            r.gflops_ratio = ref.gflops / r.gflops
            r.speed_ratio = r.clips_per_s / ref.clips_per_s
    return rows


def _token_summary(case: Case, video_shape, x: torch.Tensor | None = None) -> str:
    if case.timm_shape:
        return str(case.model.patch_embed.num_patches + 1)
    _, t, h, w = video_shape
    g = case.model.patch_embed.grid_for(t, h, w)
    n = g[0] * g[1] * g[2] + getattr(case.model, "num_prefix_tokens", 0)
    if case.grid is not None:
        return f"{n} / {case.grid[0] * case.grid[1] * case.grid[2]}"
    if x is not None and case.family in ("evit", "ats", "tome"):  # token-reducing: mean tokens per layer on the input
        with torch.inference_mode():
            per_layer = case.model(x).info["tokens_per_layer"]
        return f"{n} (mean/layer {sum(per_layer) / len(per_layer):.0f})"
    return str(n)


def num(v: float | None, nd: int = 2) -> str:
    """A table cell: ``v`` with ``nd`` decimals, ``-`` when there is no value."""
    return "-" if v is None else f"{v:.{nd}f}"


def render_table(head: list[str], lines: list[list[str]], fmt: str) -> str:
    """``head`` + ``lines`` (cells already formatted) as csv or a markdown table (the bench tables' two text forms)."""
    if fmt == "csv":
        return "\n".join(",".join(x) for x in [head] + lines)
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(out + ["| " + " | ".join(x) + " |" for x in lines])


def format_rows(rows: list[BenchRow], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows], indent=2)
    head = ["model", "input", "batch", "grid", "params (M)", "tokens N / M", "GFLOPs", "exec GMACs", "formula",
            "clips/s", "ms/clip", "peak MB", "GFLOPs ratio", "speed ratio", "speed/GFLOPs"]
    f = num
    lines = []
    for r in rows:
        eff = None if r.speed_ratio is None or r.gflops_ratio is None else r.speed_ratio / r.gflops_ratio
        lines.append(
            [
                r.model,
                r.input,
                str(r.batch),
                r.grid,
                f(r.params_m, 1),
                r.tokens,
                f(r.gflops),
                f(r.exec_gmacs),
                f(r.formula_gflops),
                f(r.clips_per_s, 3),
                f(r.ms_per_clip, 1),
                f(r.peak_mem_mb, 0),
                f(r.gflops_ratio),
                f(r.speed_ratio),
                f(eff),
            ]
        )
    return render_table(head, lines, fmt)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --accuracy first: it has a --data option of its own
    if "--accuracy" in argv and "--tune" in argv:  # the tuning protocol, on the accuracy benchmark's options
        argv.remove("--accuracy")
        return int(importlib.import_module("mmlookup.bench.tune").main(argv) or 0)
    for flag, module in (("--accuracy", "mmlookup.bench.accuracy"), ("--data", "mmlookup.bench.data"),
                         ("--caption", "mmlookup.bench.caption"), ("--train", "mmlookup.bench.train")):
        if flag in argv:
            argv.remove(flag)
            return int(importlib.import_module(module).main(argv) or 0)
    args = _parse(argv)
    device, dtype = pick_device(args.device, args.dtype)
    repeats = args.repeats or (20 if device.type == "cuda" else 3)
    torch.manual_seed(0)
    cases, video_shape = build_cases(args)
    rows = run_bench(cases, video_shape, args.batch_size, device, dtype, args.warmup, repeats, args.compile)
    if not args.no_images:
        image_cases, image_shape = build_image_cases(args, cases)
        if image_cases:
            rows += run_bench(image_cases, image_shape, args.image_batch, device, dtype, args.warmup, repeats,
                              args.compile)
        reducer_cases = build_reducer_image_cases(args)
        if reducer_cases:
            img = args.img_size or (112 if args.small else 224)
            rows += run_bench(reducer_cases, (3, 1, img, img), args.image_batch, device, dtype, args.warmup, repeats,
                              args.compile)
    table = format_rows(rows, args.format)
    header = (f"device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'} "
              f"({plural(torch.get_num_threads(), 'thread')}), dtype {dtype}, video batch {args.batch_size}, "
              f"image batch {args.image_batch}, compile {args.compile}, torch {torch.__version__}; ratios against the "
              f"ViT of the same input, timed in interleaved turns")
    print(header)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")
    return 0
