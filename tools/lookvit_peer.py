"""lucidrains' LookViT (``vit-pytorch``, the only other public LookupViT code) against ours, one plain loop (issue 18).

Both models train on the accuracy benchmark's image variant (motion16 images: 8 shape x texture classes, 3,072
training and 1,024 validation 64x64 JPEGs, generated on first use by ``mmlookup bench --accuracy --task image``'s
generator) with the same data pipeline (the benchmark's image recipe: its decoding, augmentation and frame cache),
the same loop and the same schedule: AdamW with the project's parameter groups and the benchmark image recipe's
LR (5e-4, linear warm-up then cosine to 1e-5), weight decay (0.05) and label smoothing (0.1), batch 32, 960 steps,
one torch thread per run. Same width and depth (D=128, 4 layers, 4 heads of 32), the same 8x8 = 64 lookup tokens
(patch 8) and a 4x4 compressed grid.

Rows (``--rows``; default peer, peer_k1, ours):
    peer        vit_pytorch.look_vit.LookViT: its 7x7-conv patch stem, fixed sin-cos positions, one head on the sum
                of both streams' mean tokens, lookup MLP ratio 0.5 (ours), compressed grid fixed at 4x4
    peer_k1     the same with a 1x1 "conv" stem: a linear patch embedding like ours (the 7x7 stem costs 0.077 of
                its 0.111 GMACs per image)
    ours        lookupvit_nano as the benchmark trains it: grids 1x2x2 / 1x3x3 / 1x4x4 sampled per step, two heads
    ours_4x4    lookupvit_nano trained at the 4x4 grid only (the peer's setting)
    ours+A+B    ours with some of the peer's choices, as switches of our encoder / head (any subset, in this order):
                stem_norm (LayerNorm on the patch tokens before the positions), post_norm (LayerNorm of the lookup
                stream after each infuse), sincos (fixed per-axis sin-cos positions, ``pos_embed="sincos_3d"``),
                torch_init (PyTorch's layer init, no zeroed branches), shared_head (one head on the sum of both
                streams' means, ``pool="shared"``); ``ours+peer`` is all five

    pip install vit-pytorch==1.26.14           # not a project dependency; the tool says so when it is missing
    python tools/lookvit_peer.py --rows ours peer_k1 --seeds 0 1 2   # 12.7 min on 2 cores (measured)
    python tools/lookvit_peer.py --seeds 0 1 2          # + the 7x7 peer, about 1.7x as long per run
    python tools/lookvit_peer.py --rows ours+peer --seeds 0 1 2                        # ours with all five choices
    python tools/lookvit_peer.py --seeds 0 --rows ours+stem_norm ours+post_norm ours+sincos ours+torch_init \
        ours+shared_head ours+stem_norm+post_norm+sincos+torch_init                   # one at a time (seed 0)

Writes ``OUT/peer.json`` and ``OUT/peer.md``: every finished run in OUT (this and earlier invocations), mean +- std
top-1 per row and grid over the seeds that ran, GMACs per image.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    from _venv import use_project_venv

    use_project_venv()  # the project's .venv when it exists

ROWS = ("peer", "peer_k1", "ours", "ours_4x4")
SWITCHES = ("stem_norm", "post_norm", "sincos", "torch_init", "shared_head")


def row_name(text: str) -> str:
    """``--rows`` values: a fixed row, or ``ours+`` a subset of :data:`SWITCHES` (``ours+peer``: all of them)."""
    if text in ROWS:
        return text
    base, *switches = text.split("+")
    if switches == ["peer"]:
        return "+".join(("ours", *SWITCHES))
    if base != "ours" or not switches or any(s not in SWITCHES for s in switches):
        raise argparse.ArgumentTypeError(f"unknown row {text!r}; valid: {', '.join(ROWS)}, or ours+ any of "
                                         f"{', '.join(SWITCHES)} joined by +, or ours+peer")
    return text
DEFAULT_ROWS = ("peer", "peer_k1", "ours")
GRIDS = ((1, 2, 2), (1, 3, 3), (1, 4, 4))


def build(row: str, num_classes: int, seed: int):
    """The classifier of ``row``: ``model(x (B, C, 1, H, W), grid) -> logits (B, K)`` and its eval grids."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    if row.startswith("peer"):
        try:
            from vit_pytorch.look_vit import LookViT
        except ImportError:
            sys.exit("the peer needs vit-pytorch: pip install vit-pytorch==1.26.14")

        class Peer(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = LookViT(dim=128, image_size=64, num_classes=num_classes, depth=4, patch_size=16,
                                   heads=4, dim_head=32, mlp_factor=4, highres_patch_size=8,
                                   highres_mlp_factor=0.5, cross_attn_heads=4, cross_attn_dim_head=32,
                                   patch_conv_kernel_size=1 if row == "peer_k1" else 7, dropout=0.0)

            def forward(self, x: torch.Tensor, grid=None) -> torch.Tensor:
                return self.net(x[:, :, 0]).unsqueeze(1)  # one head

        return Peer(), ((1, 4, 4),)
    from mmlookup.models import create_classifier

    grids = ((1, 4, 4),) if row == "ours_4x4" else GRIDS
    switches = set(row.split("+")[1:])
    kwargs: dict = {"pos_init_std": 0.2}
    if "sincos" in switches:
        kwargs = {"pos_embed": "sincos_3d"}
    if "torch_init" in switches:
        kwargs.update(weight_init="torch", branch_init="trunc_normal")
    model = create_classifier("lookupvit_nano", num_classes, num_frames=1, img_size=64, tubelet_size=1,
                              patch_size=8, grid=grids[-1], pool="shared" if "shared_head" in switches else "auto",
                              stem_norm="stem_norm" in switches, lookup_post_norm="post_norm" in switches, **kwargs)
    return model, grids


def image_recipe(data: Path, out: Path, seed: int = 0):
    """The accuracy benchmark's image recipe (LookupViT row): data, augmentation and optimiser settings for both."""
    from mmlookup.bench.accuracy import SCHEDULES, RowSpec, bench_recipe

    return bench_recipe(RowSpec("lookupvit", "lookupvit"), seed, task="image", data=data, run_dir=out / "unused",
                        schedule=SCHEDULES["image"])


def train(row: str, seed: int, data: Path, out: Path, steps: int, batch_size: int) -> dict:
    """One run; returns its result (also written to ``out/<row>_s<seed>.json``)."""
    import torch

    from mmlookup.bench.accuracy import _datasets
    from mmlookup.bench.flops import count_macs, encoder_gmacs
    from mmlookup.data import collate_clips
    from mmlookup.engine.loop import head_loss
    from mmlookup.engine.optim import param_groups, set_lr
    from mmlookup.engine.schedule import lr_factor, sample_grid

    torch.set_num_threads(1)
    recipe = image_recipe(data, out, seed)
    train_set, val_set = _datasets(recipe, out / "cache", "image", progress=False)
    model, grids = build(row, len(train_set.classes), seed)
    o = recipe.optim  # LR 5e-4 -> min 1e-5, weight decay 0.05, warm-up 1/15 of the schedule
    lr, warm = o.lr, round(steps * o.warmup_epochs / recipe.train.epochs)
    opt = torch.optim.AdamW(param_groups(model, o.weight_decay), lr=lr)
    loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True,
                                         collate_fn=collate_clips, generator=torch.Generator().manual_seed(seed))
    start, cpu, step = time.perf_counter(), time.process_time(), 0
    model.train()
    while step < steps:
        for batch in loader:
            if step >= steps:
                break
            x, y = batch.video, batch.label
            set_lr(opt, lr * lr_factor(step, steps, warm, o.min_lr / lr))
            loss = head_loss(model(x, sample_grid(grids, step, seed), heads=True), y, recipe.train.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    model.eval()
    top1 = {}
    with torch.no_grad():
        for grid in grids:
            correct = total = 0
            for batch in torch.utils.data.DataLoader(val_set, batch_size=128, collate_fn=collate_clips):
                x, y = batch.video, batch.label
                correct += int((model(x, grid).argmax(-1) == y).sum())
                total += len(y)
            top1["x".join(map(str, grid))] = 100 * correct / total
    if row.startswith("peer"):  # its own head included (128 x 8 MACs); ours count the encoder only
        gmacs = {"1x4x4": count_macs(model.net, torch.zeros(1, 3, 64, 64)) / 1e9}
    else:
        gmacs = {"x".join(map(str, g)): encoder_gmacs(model.encoder, (3, 1, 64, 64), grid=g) for g in grids}
    result = {"row": row, "seed": seed, "top1": top1, "gmacs": gmacs, "steps": steps, "batch_size": batch_size,
              "num_val": total, "train_s": seconds, "cpu_s": cpu}
    (out / f"{row}_s{seed}.json").write_text(json.dumps(result))
    return result


def table(results: list[dict]) -> str:
    lines = ["| row | grid | top-1 mean ± std | per seed | GMACs/image | train s (mean) |", "|---|---|---|---|---|---|"]
    for row in dict.fromkeys(r["row"] for r in results):
        runs = sorted((r for r in results if r["row"] == row), key=lambda r: r["seed"])
        if not runs:
            continue
        for grid in runs[0]["top1"]:
            vals = [r["top1"][grid] for r in runs]
            sd = f" ± {statistics.stdev(vals):.1f}" if len(vals) > 1 else ""
            lines.append(f"| {row} | {grid} | {statistics.mean(vals):.1f}{sd} | "
                         f"{' / '.join(f'{v:.1f}' for v in vals)} | {runs[0]['gmacs'][grid]:.4f} | "
                         f"{statistics.mean(r['train_s'] for r in runs):.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", nargs="+", type=row_name, default=list(DEFAULT_ROWS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=960)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data", default="data/motion16", help="motion16 folder (generated when absent)")
    parser.add_argument("--out", default="runs/lookvit_peer")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    parser.add_argument("--worker", nargs=2, metavar=("ROW", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out, data = Path(args.out).resolve(), Path(args.data).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.worker:
        train(args.worker[0], int(args.worker[1]), data, out, args.steps, args.batch_size)
        return 0
    from mmlookup.bench.accuracy import _datasets
    from mmlookup.data.motion16 import Motion16Sizes, generate_motion16, motion16_complete

    if not motion16_complete(data, 0, Motion16Sizes()):
        generate_motion16(str(data), seed=0)
    _datasets(image_recipe(data, out), out / "cache", "image")  # decode once, before the workers read the cache
    todo = [(row, s) for s in args.seeds for row in args.rows if not (out / f"{row}_s{s}.json").is_file()]
    start, running = time.perf_counter(), []
    env = dict(os.environ, OMP_NUM_THREADS="1")
    while todo or running:
        while todo and len(running) < args.jobs:
            row, seed = todo.pop(0)
            cmd = [sys.executable, __file__, "--worker", row, str(seed), "--steps", str(args.steps), "--batch-size",
                   str(args.batch_size), "--data", str(data), "--out", str(out)]
            log = open(out / f"{row}_s{seed}.log", "w")
            running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log, row, seed))
        time.sleep(1.0)
        for item in list(running):
            if item[0].poll() is not None:
                running.remove(item)
                item[1].close()
                print(f"{item[2]} seed {item[3]}: rc {item[0].returncode}", flush=True)
    # the table covers every finished run in OUT (earlier invocations' rows and seeds too), requested rows first
    runs = [json.loads(f.read_text()) for f in sorted(out.glob("*_s*.json"))]
    order = {row: i for i, row in enumerate(args.rows)}
    results = sorted((r for r in runs if r.get("steps") == args.steps and r.get("batch_size") == args.batch_size),
                     key=lambda r: (order.get(r["row"], len(order)), r["row"], r["seed"]))
    text = (f"motion16 images, {results[0]['num_val'] if results else 0} validation images, {args.steps} steps at "
            f"batch {args.batch_size}, every run in {out.name}/; this invocation "
            f"{time.perf_counter() - start:.0f} s\n\n" + table(results))
    (out / "peer.json").write_text(json.dumps(results, indent=1))
    (out / "peer.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
