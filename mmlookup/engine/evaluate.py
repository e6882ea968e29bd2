"""Evaluation: multi-view averaging, every LookupViT grid from one checkpoint, per-head accuracy, honest counts.

Each process scores its shard; per-sample top-5 predictions, labels and the "unreadable" flags are gathered
with ``gather_for_metrics``, which drops the samples the distributed sampler duplicated to even out the
shards, so N processes count every video exactly once.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from accelerate import Accelerator
from tqdm.auto import tqdm

from mmlookup.metrics.topk import mean_class_accuracy, topk_accuracy

Grid = tuple[int, int, int]


@dataclass
class Accuracy:
    """Top-1 / top-5 / mean per-class top-1, in percent."""

    top1: float
    top5: float
    mean_class: float


@dataclass
class GridResult:
    """Accuracy at one compressed grid (``None`` for encoders without one): combined and per head."""

    grid: Grid | None
    combined: Accuracy
    heads: dict[str, Accuracy] = field(default_factory=dict)
    gmacs: float | None = None  # per view, filled in by callers that measure it


@dataclass
class EvalReport:
    """An evaluation with its protocol: how many videos, how many unreadable, which views."""

    num_videos: int
    num_unreadable: int
    num_clips: int
    num_crops: int
    results: list[GridResult]
    num_classes: int = 0
    checkpoint: str = ""
    step: int = -1

    @property
    def protocol(self) -> str:
        return (f"{self.num_videos} videos evaluated, {self.num_unreadable} unreadable, "
                f"views {self.num_clips}x{self.num_crops} (clips x crops)")

    def lines(self) -> list[str]:
        """One line per grid; each states the counts and view protocol."""
        out = []
        for r in self.results:
            where = f"grid {'x'.join(map(str, r.grid))}" if r.grid else "eval"
            heads = "".join(f"  [{n} top-1 {a.top1:.2f}]" for n, a in r.heads.items()) if len(r.heads) > 1 else ""
            out.append(f"{where}: top-1 {r.combined.top1:.2f}  top-5 {r.combined.top5:.2f}  "
                       f"mean-class {r.combined.mean_class:.2f}{heads}  ({self.protocol})")
        return out

    @property
    def best_top1(self) -> float:
        """The headline number: combined top-1 at the first (default) grid."""
        return self.results[0].combined.top1

    def save(self, path: str | Path) -> Path:
        """Write the report as JSON (read by the plotting tools)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))
        return path


@torch.no_grad()
def evaluate(model: nn.Module, loader: torch.utils.data.DataLoader, accelerator: Accelerator, *,
             grids: tuple[Grid, ...] = (), head_names: tuple[str, ...] = ("main",), num_classes: int,
             num_clips: int = 1, num_crops: int = 1) -> EvalReport:
    """Score ``model`` on ``loader`` at every grid (or once when ``grids`` is empty).

    Batches carry ``video`` ``(B, C, T, H, W)`` or multi-view ``(B, V, C, T, H, W)``, ``label`` and
    ``replaced``. View scores are averaged as softmax probabilities; combined scores average the heads'
    probabilities (DESIGN §4).
    """
    model.eval()
    grid_list: list[Grid | None] = list(grids) if grids else [None]
    preds, labels, replaced = [], [], []
    k = min(5, num_classes)
    for batch in tqdm(loader, desc="eval", disable=not accelerator.is_local_main_process, leave=False):
        video = batch.video
        views = video.shape[1] if video.ndim == 6 else 1
        flat = video.flatten(0, 1) if video.ndim == 6 else video
        per_grid = []
        for grid in grid_list:
            with accelerator.autocast():
                logits = model(flat, grid, heads=True) if grid is not None else model(flat, heads=True)
            probs = logits.float().softmax(-1).unflatten(0, (-1, views)).mean(1)  # (B, H, K)
            scores = torch.cat([probs.mean(1, keepdim=True), probs], dim=1)  # combined first, then heads
            per_grid.append(scores.topk(k, dim=-1).indices)  # (B, 1 + H, k)
        local = torch.stack(per_grid, dim=1)  # (B, G, 1 + H, k)
        p, y, r = accelerator.gather_for_metrics((local, batch.label, batch.replaced.long()))
        preds.append(p.cpu())
        labels.append(y.cpu())
        replaced.append(r.cpu())
    if not preds:
        raise ValueError("the evaluation set is empty (check data.val_annotations and data.root)")
    pred = torch.cat(preds)
    label = torch.cat(labels)
    results = []
    for gi, grid in enumerate(grid_list):
        accs = [_accuracy(pred[:, gi, hi], label, num_classes) for hi in range(pred.shape[2])]
        heads = dict(zip(head_names, accs[1:]))
        results.append(GridResult(tuple(grid) if grid is not None else None, accs[0], heads))
    return EvalReport(int(label.numel()), int(torch.cat(replaced).sum()), num_clips, num_crops, results,
                      num_classes)


def _accuracy(topk_idx: torch.Tensor, label: torch.Tensor, num_classes: int) -> Accuracy:
    # Scores that rank the stored top-k indices in order reproduce top-k accuracy exactly.
    n, k = topk_idx.shape
    scores = torch.zeros(n, num_classes).scatter_(1, topk_idx, torch.arange(k, 0, -1, dtype=torch.float).expand(n, k))
    acc = topk_accuracy(scores, label, (1, 5))
    return Accuracy(acc[1], acc[5], mean_class_accuracy(scores, label, num_classes))
