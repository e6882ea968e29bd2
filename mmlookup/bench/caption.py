"""``mmlookup bench --caption``: caption decoding speed with memory = compressed tokens vs lookup tokens.

The decoder cross-attends the frozen encoder's memory at every generated token and every beam, so its cost
grows with the number of memory tokens K: LookupViT's M compressed tokens versus its N lookup tokens (and
both). Each case is timed two ways, interleaved round-robin: *decode* (beam search from precomputed memory)
and *end-to-end* (encoder + decode). Every caption is exactly ``--max-length`` tokens long (EOS is
forbidden until then), so the cases do the same number of decoding steps. Weights are random: speed only.

    mmlookup bench --caption --small                     # CPU, < 1 min: lookupvit_nano, 64x64 images
    mmlookup bench --caption                             # lookupvit_base on 224x224 images, beam 3, 20 tokens
    mmlookup bench --caption --input video --num-frames 16 --format json --out runs/caption_bench.json
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass

import torch

from mmlookup.bench.throughput import interleaved_throughput
from mmlookup.captioning.config import CaptionCfg
from mmlookup.captioning.model import CaptionModel, build_decoder
from mmlookup.registry import create_encoder
from mmlookup.words import plural


@dataclass
class CaptionBenchRow:
    """One memory choice: memory tokens K, decode-only and end-to-end speed, peak memory of decoding."""

    memory: str
    tokens: int
    decode_captions_per_s: float
    decode_ms_per_caption: float
    e2e_captions_per_s: float
    e2e_ms_per_caption: float
    decode_peak_mem_mb: float | None
    decode_speedup: float | None = None  # vs memory="lookup"


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mmlookup bench --caption", description=__doc__.split("\n\n")[0])
    p.add_argument("--small", action="store_true", help="CPU preset: lookupvit_nano, 64x64, decoder 256x3")
    p.add_argument("--encoder", default=None, help="encoder name (default lookupvit_base; nano with --small)")
    p.add_argument("--input", choices=("image", "video"), default="image")
    p.add_argument("--img-size", type=int, default=None)
    p.add_argument("--num-frames", type=int, default=None, help="clip length for --input video")
    p.add_argument("--grid", default=None, help="compressed grid t_p x h_p x w_p, e.g. 4x7x7 (default: encoder's)")
    p.add_argument("--memories", default="compressed,lookup,both", help="comma-separated memory choices")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--num-beams", type=int, default=3)
    p.add_argument("--max-length", type=int, default=20)
    p.add_argument("--decoder-width", type=int, default=None)
    p.add_argument("--decoder-layers", type=int, default=None)
    p.add_argument("--decoder-heads", type=int, default=None)
    p.add_argument("--vocab-size", type=int, default=10000)
    p.add_argument("--device", default="auto")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--format", choices=("md", "json"), default="md")
    p.add_argument("--out", default=None, help="also write the table (md) or rows (json) here")
    args = p.parse_args(argv)
    small = args.small
    defaults = dict(encoder="lookupvit_nano" if small else "lookupvit_base", img_size=64 if small else 224,
                    num_frames=8 if small else 16, batch_size=8 if small else 32,
                    decoder_width=256 if small else 512, decoder_layers=3 if small else 6,
                    decoder_heads=4 if small else 8)
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    return args


def build_bench_captioner(args: argparse.Namespace, memory: str, encoder: torch.nn.Module) -> CaptionModel:
    cfg = CaptionCfg(memory=memory, decoder_width=args.decoder_width, decoder_layers=args.decoder_layers,
                     decoder_heads=args.decoder_heads, max_length=args.max_length, decoder_dropout=0.0)
    decoder = build_decoder(cfg, args.vocab_size, bos_id=2, eos_id=3, pad_id=0)
    return CaptionModel(encoder, decoder, memory=memory, adapter=True)


def run_caption_bench(args: argparse.Namespace) -> tuple[list[CaptionBenchRow], str]:
    """Time every memory choice; returns the rows and a one-line description of the setting."""
    from mmlookup.devices import resolve_device

    device = resolve_device(args.device)
    repeats = args.repeats or (10 if device.type == "cuda" else 3)
    torch.manual_seed(0)
    kwargs = dict(img_size=args.img_size, num_frames=args.num_frames)
    if args.grid:
        kwargs["grid"] = tuple(int(v) for v in args.grid.lower().split("x"))
    encoder = create_encoder(args.encoder, **kwargs).to(device).eval()
    frames = 1 if args.input == "image" else args.num_frames
    video = torch.randn(args.batch_size, 3, frames, args.img_size, args.img_size, device=device)
    memories = [m.strip() for m in args.memories.split(",") if m.strip()]
    runs, tokens = {}, {}
    for memory in memories:
        model = build_bench_captioner(args, memory, encoder).to(device).eval()
        mem = model.encode(video)
        tokens[memory] = int(mem.hidden.shape[1])

        def decode(model=model, mem=mem) -> torch.Tensor:
            return model.generate(mem, num_beams=args.num_beams, max_length=args.max_length,
                                  min_length=args.max_length)

        def e2e(model=model) -> torch.Tensor:
            return model.generate(model.encode(video), num_beams=args.num_beams, max_length=args.max_length,
                                  min_length=args.max_length)

        runs[f"{memory}/decode"], runs[f"{memory}/e2e"] = decode, e2e
    with torch.inference_mode():
        timings = interleaved_throughput(runs, args.batch_size, device, warmup=args.warmup, repeats=repeats)
    rows = [CaptionBenchRow(m, tokens[m], timings[f"{m}/decode"].clips_per_s, timings[f"{m}/decode"].ms_per_clip,
                            timings[f"{m}/e2e"].clips_per_s, timings[f"{m}/e2e"].ms_per_clip,
                            timings[f"{m}/decode"].peak_mem_mb) for m in memories]
    ref = next((r for r in rows if r.memory == "lookup"), None)
    for r in rows:
        r.decode_speedup = r.decode_captions_per_s / ref.decode_captions_per_s if ref else None
    threads = plural(torch.get_num_threads(), "thread")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({threads})"
    setting = (f"device: {where}, fp32, torch {torch.__version__}; {args.encoder} {args.input} "
               f"{frames}x{args.img_size}x{args.img_size}, batch {args.batch_size}, beam {args.num_beams}, "
               f"{args.max_length} tokens/caption, GPT-2 decoder {args.decoder_layers}x{args.decoder_width}, "
               f"vocab {args.vocab_size}, median of {repeats}")
    return rows, setting


def format_rows(rows: list[CaptionBenchRow]) -> str:
    head = ["memory", "tokens K", "decode captions/s", "decode ms/caption", "end-to-end captions/s",
            "decode peak MB", "decode speed vs lookup"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        mem = "-" if r.decode_peak_mem_mb is None else f"{r.decode_peak_mem_mb:.0f}"
        ratio = "-" if r.decode_speedup is None else f"{r.decode_speedup:.2f}x"
        out.append(f"| {r.memory} | {r.tokens} | {r.decode_captions_per_s:.1f} | {r.decode_ms_per_caption:.1f} | "
                   f"{r.e2e_captions_per_s:.1f} | {mem} | {ratio} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = _parse(list(argv or []))
    rows, setting = run_caption_bench(args)
    text = json.dumps({"setting": setting, "rows": [asdict(r) for r in rows]}, indent=2) if args.format == "json" \
        else f"{setting}\n{format_rows(rows)}"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0
