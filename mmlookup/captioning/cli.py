"""``mmlookup caption`` and ``mmlookup eval-captions``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def eval_captions_main(argv: list[str]) -> int:
    """Score a COCO results file against COCO-format references; prints one metric per line."""
    p = argparse.ArgumentParser(
        prog="mmlookup eval-captions",
        description="BLEU-1..4, METEOR, ROUGE-L, CIDEr of a COCO results file [{image_id, caption}] with "
        "pycocoevalcap (PTB tokenizer). SPICE is reported as unavailable unless its CoreNLP jars are installed.",
    )
    p.add_argument("results", type=Path, help="results JSON: [{\"image_id\": int, \"caption\": str}, ...]")
    p.add_argument("annotations", type=Path, help="COCO captions JSON with images and annotations")
    p.add_argument("--no-meteor", action="store_true", help="skip METEOR (saves the ~8 s JVM start)")
    p.add_argument("--spice", action="store_true", help="also try SPICE (needs the CoreNLP 3.6.0 jars)")
    p.add_argument("--json", type=Path, default=None, help="also write the scores to this JSON file")
    args = p.parse_args(argv)

    from mmlookup.metrics.caption import evaluate_results_file

    try:
        scores = evaluate_results_file(args.results, args.annotations, meteor=not args.no_meteor, spice=args.spice)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"mmlookup eval-captions: {err}", file=sys.stderr)
        return 2
    print(scores.format())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**scores.as_dict(), "num_images": scores.num_images,
                                         "notes": scores.notes}, indent=2))
    return 0


def caption_main(argv: list[str]) -> int:
    """Caption images or videos with a trained captioner run directory."""
    p = argparse.ArgumentParser(
        prog="mmlookup caption",
        description="Print a caption for each image or video with a trained captioner.",
    )
    p.add_argument("--checkpoint", required=True, type=Path, help="captioner run directory (or its checkpoint dir)")
    p.add_argument("inputs", nargs="+", type=Path, help="image or video files, or folders of them")
    p.add_argument("--num-beams", type=int, default=None, help="beam width (default: the recipe's)")
    p.add_argument("--max-length", type=int, default=None, help="max generated tokens (default: the recipe's)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--json", type=Path, default=None, help="also write [{file, caption}] to this JSON file")
    args = p.parse_args(argv)

    from mmlookup.captioning.generate import caption_files

    try:
        results = caption_files(args.checkpoint, args.inputs, num_beams=args.num_beams,
                                max_length=args.max_length, batch_size=args.batch_size)
    except (FileNotFoundError, ValueError) as err:
        print(f"mmlookup caption: {err}", file=sys.stderr)
        return 2
    for path, caption in results:
        print(f"{path}\t{caption if caption is not None else '<unreadable>'}")
    if args.json is not None:
        args.json.write_text(json.dumps([{"file": str(f), "caption": c} for f, c in results], indent=2))
    return 0 if all(c is not None for _, c in results) else 1
