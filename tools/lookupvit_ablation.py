"""Fast in-memory ablation of from-scratch training on the synthetic motion classes (issue 18's investigation).

Renders the demo's 8 motion classes with the synthetic generator's renderer straight into tensors (no codec, no
loader: 8 frames of 32x32, 40 or 200 clips per class for training, 100 per class for validation), then trains with
the project's classifier factory, AdamW parameter groups, two-head loss, LR schedule and grid sampling, one torch
thread, and prints one JSON line: top-1 per LookupViT grid (and per head), training seconds, mean loss of the last
50 steps. It is the harness behind the "Why LookupViT learned worse" table in docs/benchmarks.md; the accuracy
benchmark (`mmlookup bench --accuracy`) is the engine-level check.

    python tools/lookupvit_ablation.py enc=lookupvit_nano seed=0 ntrain=200 pos_std=0.2
    python tools/lookupvit_ablation.py enc=lookupvit_nano seed=0 ntrain=200 'kw={"branch_init":"trunc_normal"}'
    python tools/lookupvit_ablation.py enc=vit_nano grids= seed=0 ntrain=200 pos_std=0.2 out=ablation.jsonl

Keys (KEY=VALUE): enc, seed, steps (600), bs (16), lr (5e-4), wd, warm (40 warm-up steps), clip (0: no clipping),
ls (label smoothing), ntrain / nval (clips per class), grids ("222,122,244"; empty for non-LookupViT), kw (JSON
encoder kwargs), pool, pos_std (>0: re-draw the learned position tables at this std after building), zero_vit
(1: zero the ViT blocks' attention and MLP output layers), out (append the JSON line to this file).
Rendered data is cached under $MMLOOKUP_ABLATION_CACHE (default /tmp).
"""
import json
import os
import sys
import time

if __name__ == "__main__":
    from _venv import use_project_venv

    use_project_venv()  # the project's .venv when it exists

import numpy as np
import torch
import torch.nn.functional as F

from mmlookup.data.render import MOTIONS, draw_spec, render
from mmlookup.engine.loop import head_loss
from mmlookup.engine.optim import param_groups, set_lr
from mmlookup.engine.schedule import lr_factor, sample_grid
from mmlookup.heads import combine_probs
from mmlookup.models import create_classifier

DEFAULTS = dict(enc="lookupvit_nano", seed=0, steps=600, bs=16, lr=5e-4, wd=0.05, warm=40, clip=0.0, ls=0.1,
                ntrain=40, nval=100, size=32, patch=8, frames=8, grids="222,122,244", data_seed=0, classes=8,
                kw="{}", pool="auto", hw=1.0, out="", pos_std=0.0, zero_vit=0)


def parse(argv: list[str]) -> dict:
    cfg = dict(DEFAULTS)
    for arg in argv:
        key, _, value = arg.partition("=")
        if key not in cfg:
            sys.exit(f"unknown key {key!r}; valid: {', '.join(cfg)}")
        cfg[key] = value if isinstance(cfg[key], str) else type(cfg[key])(value)
    return cfg


def make(cfg: dict, n_per: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_per`` clips of each of the first ``classes`` motions, normalised ``(N, C, T, H, W)``, and labels."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(cfg["classes"]):
        for _ in range(n_per):
            spec = draw_spec(rng, MOTIONS[c], "x.mp4", frames=cfg["frames"], height=cfg["size"], width=cfg["size"],
                             fps=12)
            xs.append(torch.from_numpy(render(spec)))
            ys.append(c)
    x = torch.stack(xs).permute(0, 4, 1, 2, 3).float().div(255).sub(0.45).div(0.225)
    return x, torch.tensor(ys)


def data(cfg: dict) -> tuple[torch.Tensor, ...]:
    cache = os.path.join(os.environ.get("MMLOOKUP_ABLATION_CACHE", "/tmp"), "mmlookup_ablation_{classes}_{ntrain}_"
                         "{nval}_{size}_{frames}_{data_seed}.pt".format(**cfg))
    if os.path.exists(cache):
        return torch.load(cache)
    xtr, ytr = make(cfg, cfg["ntrain"], 1000 + cfg["data_seed"])
    xva, yva = make(cfg, cfg["nval"], 2000 + cfg["data_seed"])
    torch.save((xtr, ytr, xva, yva), cache)
    return xtr, ytr, xva, yva


def build(cfg: dict, grids: tuple) -> torch.nn.Module:
    torch.manual_seed(cfg["seed"])
    kwargs = dict(num_frames=cfg["frames"], img_size=cfg["size"], tubelet_size=2, patch_size=cfg["patch"],
                  **json.loads(cfg["kw"]))
    if grids:
        kwargs["grid"] = grids[0]
    model = create_classifier(cfg["enc"], cfg["classes"], pool=cfg["pool"], **kwargs)
    if cfg["pos_std"] > 0:
        for name, p in model.named_parameters():
            if name.split(".")[-1] in ("pos_t", "pos_hw", "pos_embed"):
                std = cfg["pos_std"]
                torch.nn.init.trunc_normal_(p, std=std, a=-2 * std, b=2 * std)
    if cfg["zero_vit"]:
        for name, mod in model.named_modules():
            if name.endswith("attn.proj") or name.endswith("mlp.fc2"):
                torch.nn.init.zeros_(mod.weight)
                torch.nn.init.zeros_(mod.bias)
    return model


def main(argv: list[str]) -> None:
    cfg = parse(argv)
    torch.set_num_threads(int(os.environ.get("NT", "1")))
    grids = tuple(tuple(int(c) for c in g) for g in cfg["grids"].split(",")) if cfg["grids"] else ()
    xtr, ytr, xva, yva = data(cfg)
    model = build(cfg, grids)
    opt = torch.optim.AdamW(param_groups(model, cfg["wd"]), lr=cfg["lr"])
    g = torch.Generator().manual_seed(cfg["seed"])
    t0, n, tail = time.time(), len(ytr), []
    perm, pos = torch.randperm(n, generator=g), 0
    for step in range(cfg["steps"]):
        set_lr(opt, cfg["lr"] * lr_factor(step, cfg["steps"], cfg["warm"], 1e-5 / cfg["lr"]))
        if pos + cfg["bs"] > n:
            perm, pos = torch.randperm(n, generator=g), 0
        idx = perm[pos:pos + cfg["bs"]]
        pos += cfg["bs"]
        x, y = xtr[idx], ytr[idx]
        grid = sample_grid(grids, step, cfg["seed"])
        model.train()
        logits = model(x, grid, heads=True) if grid else model(x, heads=True)
        if logits.shape[1] == 2 and cfg["hw"] != 1.0:  # compressed head weighted by hw
            loss = (F.cross_entropy(logits[:, 0], y, label_smoothing=cfg["ls"]) * cfg["hw"]
                    + F.cross_entropy(logits[:, 1], y, label_smoothing=cfg["ls"]))
        else:
            loss = head_loss(logits, y, cfg["ls"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg["clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
        opt.step()
        tail = (tail + [loss.item()])[-50:]
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.3f} {time.time() - t0:.0f}s", flush=True)
    train_s = time.time() - t0
    model.eval()
    res = {}
    with torch.no_grad():
        for gr in grids or (None,):
            correct, heads = 0, None
            for i in range(0, len(yva), 100):
                lo = model(xva[i:i + 100], gr, heads=True) if gr else model(xva[i:i + 100], heads=True)
                correct += (combine_probs(lo).argmax(-1) == yva[i:i + 100]).sum().item()
                hc = (lo.argmax(-1) == yva[i:i + 100, None]).sum(0)
                heads = hc if heads is None else heads + hc
            key = "x".join(map(str, gr)) if gr else "main"
            res[key] = round(100 * correct / len(yva), 2)
            if gr:
                res[key + "_heads"] = [round(100 * h.item() / len(yva), 1) for h in heads]
    out = dict(cfg=cfg, res=res, train_s=round(train_s, 1), final_loss=round(sum(tail) / len(tail), 3))
    print(json.dumps(out))
    if cfg["out"]:
        with open(cfg["out"], "a") as f:
            f.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
