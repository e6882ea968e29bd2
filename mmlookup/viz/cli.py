"""``mmlookup visualize`` and ``mmlookup plot`` (dispatched by :mod:`mmlookup.cli`)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmlookup.viz.deps import MissingVizDependency

VISUALIZE_EPILOG = """\
examples:
  mmlookup visualize --checkpoint runs/demo/lookupvit clip.mp4          # trained LookupViT: gather heat maps
  mmlookup visualize --checkpoint runs/demo/vit --encoder evit_nano --keep-rate 0.5 clip.mp4   # training-free EViT
  mmlookup visualize --encoder ats_nano --budget 0.5 photo.jpg           # untrained weights, an image
What is drawn: EViT/ATS the tokens kept after each reduction layer (dark = dropped); LookupViT the gather
attention of the mean compressed token and of --tokens (boxed) per block; a plain ViT the CLS attention.
"""


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _grid(text: str) -> tuple[int, int, int]:
    from mmlookup.encoders.common import parse_grid

    try:
        return parse_grid(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _budget(text: str) -> float | int | None:
    if text == "all":
        return None
    return float(text) if "." in text else int(text)


def visualize_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mmlookup visualize", formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Token maps of an encoder on a video or an image: an animated GIF and "
                                "a PNG contact sheet (rows = maps, columns = frames).", epilog=VISUALIZE_EPILOG)
    p.add_argument("media", help="a video (.mp4, .webm, ...) or an image (.jpg, .png, ...)")
    p.add_argument("--checkpoint", help="a run folder or checkpoint folder (its recipe.yaml gives the geometry), "
                   "or a weights file (.safetensors/.pt, with --encoder)")
    p.add_argument("--encoder", help="encoder name (default: the run's); e.g. evit_nano on a vit_nano run runs "
                   "EViT training-free; without --checkpoint the weights are random (inspection only)")
    p.add_argument("--grid", type=_grid, help="LookupViT compressed grid, e.g. 2x4x4 (default: the run's first)")
    p.add_argument("--layers", type=_int_list, help="0-indexed layers to show, e.g. 1,3 (default: EViT/ATS the "
                   "reduction layers, others every layer)")
    p.add_argument("--tokens", type=_int_list, help="LookupViT compressed tokens to show besides the mean (flat "
                   "indices into the compressed grid; default: the centre one)")
    p.add_argument("--keep-rate", type=float, help="EViT keep rate ρ")
    p.add_argument("--budget", type=_budget, default=argparse.SUPPRESS,
                   help="ATS budget: an int, a fraction like 0.5, or 'all'")
    p.add_argument("--num-frames", type=int, help="clip length (default: the run's / the encoder's)")
    p.add_argument("--img-size", type=int, help="input size (default: the run's / the encoder's)")
    p.add_argument("--sampling", choices=("segment", "dense"),
                   help="dense: consecutive frames the run's frame interval apart (K400 style); segment: frames "
                   "spread over the whole video (default: the run's sampling; segment without a run)")
    p.add_argument("--out", help="output prefix: writes PREFIX.gif and PREFIX.png (default: "
                   "runs/token_maps/<media>_<encoder>)")
    p.add_argument("--cell", type=int, default=96, help="panel width in pixels (default 96)")
    p.add_argument("--fps", type=float, default=3.0, help="GIF frames per second (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights when there is no checkpoint")
    return p


def visualize_main(argv: list[str]) -> int:
    """``mmlookup visualize [--checkpoint CKPT] [--encoder NAME] MEDIA``: write ``PREFIX.gif`` and ``PREFIX.png``."""
    parser = visualize_parser()
    args = parser.parse_args(argv)
    if not args.checkpoint and not args.encoder:
        parser.error("give --checkpoint (a trained run) or --encoder NAME (random weights), or both")
    try:
        from mmlookup.viz.draw import Layout, animation, contact_sheet
        from mmlookup.viz.load import load_encoder
        from mmlookup.viz.media import check_media, load_media
        from mmlookup.viz.tokenmaps import token_maps

        check_media(args.media)  # before the checkpoint is read
        budget = getattr(args, "budget", "unset")
        loaded = load_encoder(args.checkpoint, args.encoder, keep_rate=args.keep_rate, budget=budget,
                              num_frames=args.num_frames, img_size=args.img_size, seed=args.seed)
        media = load_media(args.media, num_frames=loaded.num_frames, img_size=loaded.encoder.img_size,
                           sampling=args.sampling or loaded.sampling, frame_interval=loaded.frame_interval,
                           mean=loaded.mean,
                           std=loaded.std)
        maps = token_maps(loaded.encoder, media.video, grid=args.grid or loaded.grid, layers=args.layers,
                          queries=args.tokens)
        prefix = Path(args.out or f"runs/token_maps/{Path(args.media).stem}_{loaded.name}")
        layout = Layout(cell=args.cell)
        title = f"{loaded.name} ({loaded.weights}) on {Path(args.media).name}"
        labels = [f"frame {i}" for i in media.frame_indices]
        png = contact_sheet(media.frames, maps, prefix.with_suffix(".png"), title=title, layout=layout,
                            frame_labels=labels)
        gif = animation(media.frames, maps, prefix.with_suffix(".gif"), fps=args.fps, layout=layout)
    except MissingVizDependency as err:
        print(f"mmlookup visualize: {err}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError, KeyError, TypeError, RuntimeError) as err:
        print(f"mmlookup visualize: {err}", file=sys.stderr)
        return 2
    for m in maps.maps:
        if m.kind == "mask":
            print(f"  {m.label} (the encoder reports {m.reported} tokens: {m.kept} patches + "
                  f"{m.extra_tokens} CLS/fused)")
    print(f"wrote {png} and {gif}")
    return 0


def plot_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mmlookup plot", description="Accuracy (or CIDEr) against GFLOPs and against "
                                "throughput for runs, one marker per encoder / grid / keep rate, plus a markdown "
                                "table (printed and written next to the picture).")
    p.add_argument("runs", nargs="+", help="run folders (with recipe.yaml and eval.json), folders of runs "
                   "(runs/demo), or eval JSON files")
    p.add_argument("--out", required=True, help="picture to write, e.g. runs/demo/accuracy.png")
    p.add_argument("--metric", default="auto", help="top1 | top5 | mean_class (classification), CIDEr | Bleu_4 | "
                   "METEOR | ROUGE_L (captioning); default top1 or CIDEr")
    p.add_argument("--head", default="combined", help="classification head: combined (default), compressed, lookup")
    p.add_argument("--no-throughput", action="store_true", help="skip measuring throughput (GFLOPs panel only)")
    p.add_argument("--batch-size", type=int, default=4, help="throughput batch (default 4)")
    p.add_argument("--repeats", type=int, default=10, help="throughput repeats, median taken (default 10)")
    p.add_argument("--device", default="cpu", help="throughput device (default cpu)")
    p.add_argument("--title", default="", help="picture title")
    return p


def plot_main(argv: list[str]) -> int:
    """``mmlookup plot RUN_DIR... --out FILE.png``: the picture, ``FILE.md`` with the table, the table on stdout."""
    args = plot_parser().parse_args(argv)
    from mmlookup.viz.runs import find_runs, load_points, measure_throughput

    try:
        points = [pt for recipe, report in find_runs(args.runs)
                  for pt in load_points(recipe, report, metric=args.metric, head=args.head)]
        note = ""
        if not args.no_throughput:
            note = measure_throughput(points, batch_size=args.batch_size, repeats=args.repeats, device=args.device)
        from mmlookup.viz.plot import markdown_table, plot_points

        out = plot_points(points, args.out, title=args.title, throughput_note=note)
    except MissingVizDependency as err:
        print(f"mmlookup plot: {err}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f"mmlookup plot: {err.args[0] if isinstance(err, KeyError) else err}", file=sys.stderr)
        return 2
    table = markdown_table(points)
    notes = [note] if note else []
    chance = {p.chance for p in points}
    if len(chance) == 1 and None not in chance:
        notes.append(f"chance level: {chance.pop():.1f}% top-1")
    if any(p.gmacs_source == "counted" for p in points):
        notes.append("GMACs counted on the recipe's encoder with torch's FLOP counter (heads excluded)")
    text = table + "".join(f"\n\n{n}." for n in notes) + "\n"
    md = Path(out).with_suffix(".md")
    md.write_text(text)
    print(text)
    print(f"wrote {out} and {md}")
    return 0
