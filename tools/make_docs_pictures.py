"""Regenerate the README pictures under ``docs/`` from a real run of the synthetic demo.

    python tools/make_docs_pictures.py          # runs/demo and data/synthetic (runs the demo when absent)
    python tools/make_docs_pictures.py --demo runs/demo --data data/synthetic --class "moving left to right"

Writes ``docs/token_maps_lookupvit.png`` (contact sheet of the demo's LookupViT on one validation clip: gather
attention of the mean and the centre compressed token, first and last block), ``docs/token_maps_lookupvit.gif``
(the same, animated), ``docs/token_maps_evit.png`` when the demo also trained a ViT (``--all-encoders``: EViT
run training-free on its weights), ``docs/accuracy_vs_gflops.png`` + ``.md`` (every demo run) and, when the accuracy
benchmark has run (``runs/accuracy_video`` and its ablation ``runs/accuracy_video_ablation``, commands in
docs/benchmarks.md), ``docs/accuracy_benchmark_video.png`` (its default rows plus ``BENCH_EXTRA`` rows). Pictures
larger than ``--max-kb`` are re-saved with a 256-colour palette. Prints the markdown for the README.
"""
from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

if __name__ == "__main__":
    from _venv import use_project_venv

    use_project_venv()  # the project's .venv when it exists (before mmlookup and torch are imported)

from mmlookup.cli import main as mmlookup  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
#: ablation rows drawn beside the accuracy benchmark's default rows
BENCH_EXTRA = ("vit_pos0.2", "lookupvit_prev_defaults", "lookupvit_old_defaults")


def accuracy_benchmark_plot(default: Path, ablation: Path, out: Path) -> Path | None:
    """The default rows of ``default/accuracy.json`` and the :data:`BENCH_EXTRA` rows of ``ablation``'s, one plot."""
    import json

    from mmlookup.bench.accuracy import plot

    if not (default / "accuracy.json").is_file():
        return None
    rows = json.loads((default / "accuracy.json").read_text())["rows"]
    if (ablation / "accuracy.json").is_file():
        rows += [r for r in json.loads((ablation / "accuracy.json").read_text())["rows"] if r["row"] in BENCH_EXTRA]
    return plot(rows, out, "motion16 video: top-1 vs GMACs (mean ± std over 3 seeds, 1,024 clips)")


def pick_clip(data: Path, label: str) -> Path:
    """The first validation clip of class ``label`` in the synthetic K400-format set."""
    k400 = data / "k400"
    with open(k400 / "validate.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["label"] == label:
                name = f"{row['youtube_id']}_{int(row['time_start']):06d}_{int(row['time_end']):06d}.mp4"
                found = list((k400 / "videos").rglob(name))
                if found:
                    return found[0]
    raise FileNotFoundError(f"no validation clip of class {label!r} under {k400}")


def shrink(path: Path, max_kb: int) -> None:
    """Re-save a PNG with a 256-colour palette when it is larger than ``max_kb``."""
    from PIL import Image

    if path.suffix != ".png" or path.stat().st_size <= max_kb * 1024:
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def run(argv: list[str]) -> None:
    print("$ mmlookup " + " ".join(argv))
    if mmlookup(argv) != 0:
        sys.exit(f"failed: mmlookup {' '.join(argv)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--demo", default="runs/demo", help="the demo's output folder (default runs/demo)")
    p.add_argument("--data", default="data/synthetic", help="the synthetic dataset (default data/synthetic)")
    p.add_argument("--class", dest="label", default="moving left to right", help="class of the clip to draw")
    p.add_argument("--out", default=str(ROOT / "docs"), help="where the pictures go (default docs/)")
    p.add_argument("--max-kb", type=int, default=290, help="palette-compress PNGs above this size")
    args = p.parse_args(argv)
    demo, out = Path(args.demo), Path(args.out)
    if not (demo / "lookupvit" / "eval.json").is_file():
        print(f"{demo / 'lookupvit'} has no finished run: running the demo first")
        subprocess.run([sys.executable, "-m", "mmlookup", "demo", "--data", args.data, "--out", str(demo)], check=True)
    clip = pick_clip(Path(args.data), args.label)
    run(["visualize", "--checkpoint", str(demo / "lookupvit"), str(clip), "--layers", "0,3", "--cell", "80",
         "--out", str(out / "token_maps_lookupvit")])
    if (demo / "vit" / "eval.json").is_file():
        run(["visualize", "--checkpoint", str(demo / "vit"), "--encoder", "evit_nano", "--keep-rate", "0.5",
             str(clip), "--cell", "80", "--out", str(out / "token_maps_evit")])
    run(["plot", str(demo), "--out", str(out / "accuracy_vs_gflops.png"), "--batch-size", "8", "--repeats", "20",
         "--title", "synthetic demo (8 classes, 96 validation clips, 1 view)"])
    pictures = sorted(out.glob("token_maps_*.png")) + [out / "accuracy_vs_gflops.png"]
    bench = accuracy_benchmark_plot(ROOT / "runs/accuracy_video", ROOT / "runs/accuracy_video_ablation",
                                    out / "accuracy_benchmark_video.png")
    pictures += [bench] if bench else []
    for pic in pictures:
        shrink(pic, args.max_kb)
    print("\nsizes: " + ", ".join(f"{q.name} {q.stat().st_size // 1024} KB" for q in sorted(out.glob("*.*"))))
    print("\nREADME markdown:\n")
    rel = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"![LookupViT gather attention on a synthetic clip]({rel}/token_maps_lookupvit.png)\n")
    if (out / "token_maps_evit.png").is_file():
        print(f"![EViT (training-free on the demo ViT) kept tokens]({rel}/token_maps_evit.png)\n")
    print(f"![accuracy vs GFLOPs and throughput]({rel}/accuracy_vs_gflops.png)\n")
    print((out / "accuracy_vs_gflops.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
