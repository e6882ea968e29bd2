"""Robustness evaluation of an ImageNet run (``mmlookup eval RECIPE --checkpoint RUN`` with ``eval.robustness``).

* ``imagenet_c``: ``data.val_annotations`` is the ImageNet-C root, ``<corruption>/<severity 1..5>/<wnid>/*.JPEG``;
  top-1 per corruption and severity, per corruption (mean over severities) and the mean top-1 error over all of
  them. mCE (errors divided by AlexNet's) is not reported: the AlexNet table is not in the reference notes.
  ImageNet-C images are already 224x224 centre crops, so its recipe resizes to 224 (a no-op), not 256.
* ``imagenet_r`` / ``imagenet_a``: class folders named by wnid, 200 of the 1,000 classes; each head's logits are
  restricted to the wnids present (the others are never predicted), then softmax, then the heads' average.
* ``imagenet_o``: out-of-distribution detection with the maximum-softmax-probability detector; ImageNet-O images
  are the positives ("anomalies", anomaly score = -MSP) and ``eval.in_distribution`` (ImageNet val) the negatives,
  as in Hendrycks et al.'s protocol; the headline is that AUPR (chance = the fraction of ImageNet-O images).
  Also reported: AUPR with the in-distribution images as positives (score = MSP) and AUROC.

The model section comes from the run's ``recipe.yaml`` when the checkpoint belongs to a run (so one robustness
recipe serves ViT and LookupViT runs alike); the 1,000-class index from ``data.labels_file``, else the sorted class
folders of ``data.root/data.train_annotations`` (as in training). LookupViT runs are scored at every grid.
"""
from __future__ import annotations

import copy
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from accelerate import Accelerator

from mmlookup.checkpoints import find_recipe, resolve_checkpoint
from mmlookup.config import Recipe
from mmlookup.data.annotations import read_imagenet
from mmlookup.data.dataset import VideoClassificationDataset
from mmlookup.data.transforms import ClipTransform, ClipTransformCfg
from mmlookup.engine.checkpoint import load_weights
from mmlookup.engine.logger import RunLogger
from mmlookup.engine.setup import build_accelerator, build_loader
from mmlookup.metrics.ood import auroc, average_precision
from mmlookup.models import build_model

log = logging.getLogger(__name__)

Grid = tuple[int, int, int]
KINDS: tuple[str, ...] = ("imagenet_c", "imagenet_r", "imagenet_a", "imagenet_o")


@dataclass
class RobustnessRow:
    """One number of the report: ``metric`` on image set ``set`` at one grid (``"-"`` without grids)."""

    set: str
    grid: str
    metric: str
    value: float
    images: int
    unreadable: int


@dataclass
class RobustnessReport:
    kind: str
    checkpoint: str
    step: int
    rows: list[RobustnessRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"{self.kind} {r.set} grid {r.grid}: {r.metric} {r.value:.2f}  ({r.images} images, "
                f"{r.unreadable} unreadable)" for r in self.rows] + [f"note: {n}" for n in self.notes]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))
        return path


# ---------------------------------------------------------------------------------------------- pure parts


def find_corruptions(root: str) -> list[tuple[str, int, str]]:
    """``(corruption, severity, folder)`` for every ``root/<corruption>/<severity>/`` of ImageNet-C, sorted.

    Raises:
        ValueError: when ``root`` has no ``<corruption>/<1..5>`` folders.
    """
    if not os.path.isdir(root):
        raise ValueError(f"{root}: not a folder (expected ImageNet-C: <corruption>/<severity>/<wnid>/*.JPEG)")
    found = []
    for corruption in sorted(d.name for d in os.scandir(root) if d.is_dir()):
        for sev in os.scandir(os.path.join(root, corruption)):
            if sev.is_dir() and sev.name.isdigit():
                found.append((corruption, int(sev.name), sev.path))
    if not found:
        raise ValueError(f"{root}: no <corruption>/<severity>/ folders (ImageNet-C layout)")
    return sorted(found)


def subset_top1(logits: torch.Tensor, subset: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions and max-softmax scores from ``logits (B, H, K)`` (H heads).

    With ``subset`` (class indices), every head's logits are restricted to it before the softmax (ImageNet-R/-A);
    predictions are then indices into the full K classes. The heads' probabilities are averaged (DESIGN §4).
    Returns ``(pred (B,), msp (B,))``.
    """
    logits = logits.float()
    if subset is not None:
        logits = logits[..., subset]
    probs = logits.softmax(-1).mean(1)
    msp, pred = probs.max(-1)
    return (subset[pred] if subset is not None else pred), msp


def class_list(recipe: Recipe) -> list[str]:
    """The run's class index: ``data.labels_file`` (wnids), else the sorted class folders of the training set."""
    from mmlookup.data.annotations import load_wnids

    d = recipe.data
    labels = d.labels_file
    if labels and not os.path.exists(labels) and not os.path.isabs(labels):
        labels = os.path.join(d.root, labels)
    if labels:
        return load_wnids(labels)
    train = d.train_annotations if os.path.isabs(d.train_annotations) else os.path.join(d.root, d.train_annotations)
    if not os.path.isdir(train):
        raise ValueError(f"no class list: set data.labels_file (wnid list or LOC_synset_mapping.txt) or point "
                         f"data.root/data.train_annotations at the training class folders (tried {train})")
    return load_wnids(train)


def run_model_section(recipe: Recipe, checkpoint: str) -> Recipe:
    """A copy of ``recipe`` with the model section of the run ``checkpoint`` belongs to (its ``recipe.yaml``)."""
    from mmlookup.viz.load import read_run_recipe

    recipe = copy.deepcopy(recipe)
    saved = find_recipe(Path(checkpoint))
    if saved is not None:
        recipe.model = read_run_recipe(saved).model
        log.info("model section taken from %s (%s)", saved, recipe.model.encoder)
    recipe.model.pretrained = ""  # the weights come from the checkpoint
    return recipe


# ------------------------------------------------------------------------------------------------ running


def _dataset(recipe: Recipe, folder: str, classes: list[str], *, unlabelled: bool = False,
             ) -> VideoClassificationDataset:
    d, m, e = recipe.data, recipe.model, recipe.eval
    ann = read_imagenet(folder, d.root, class_list=classes, unlabelled=unlabelled)
    cfg = ClipTransformCfg(train=False, crop_size=m.img_size, short_side=d.short_side, num_crops=e.num_crops,
                           flip=False, mean=tuple(d.mean), std=tuple(d.std))
    return VideoClassificationDataset(ann.records, classes, train=False, num_frames=m.num_frames, num_clips=1,
                                      transform=ClipTransform(cfg), seed=recipe.train.seed)


@torch.no_grad()
def score_set(model: nn.Module, dataset: VideoClassificationDataset, recipe: Recipe, acc: Accelerator,
              grids: list[Grid | None], subset: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Predictions, max-softmax scores (per grid), labels and unreadable flags of every image, gathered.

    Returns ``pred (N, G)``, ``msp (N, G)``, ``label (N,)``, ``replaced (N,)``.
    """

    loader = acc.prepare(build_loader(dataset, recipe.eval.batch_size, train=False,
                                      num_workers=recipe.eval.num_workers))
    sub = subset.to(acc.device) if subset is not None else None
    out: dict[str, list[torch.Tensor]] = {"pred": [], "msp": [], "label": [], "replaced": []}
    model.eval()
    for batch in loader:
        video = batch.video
        views = video.shape[1] if video.ndim == 6 else 1
        flat = video.flatten(0, 1) if video.ndim == 6 else video
        preds, msps = [], []
        for grid in grids:
            with acc.autocast():
                logits = model(flat, grid, heads=True) if grid is not None else model(flat, heads=True)
            logits = logits.float().log_softmax(-1).unflatten(0, (-1, views)).exp().mean(1).log()  # view average
            p, s = subset_top1(logits, sub)
            preds.append(p)
            msps.append(s)
        gathered = acc.gather_for_metrics((torch.stack(preds, 1), torch.stack(msps, 1), batch.label,
                                           batch.replaced.long()))
        for key, value in zip(out, gathered):
            out[key].append(value.cpu())
    if not out["label"]:
        raise ValueError("an evaluation set is empty")
    return {k: torch.cat(v) for k, v in out.items()}


def run_robustness(recipe: Recipe, checkpoint: str, *, use_ema: bool | None = None, out: str | None = None,
                   accelerator: Accelerator | None = None) -> RobustnessReport:
    """Evaluate ``checkpoint`` with the robustness protocol ``recipe.eval.robustness`` and write the JSON report
    (``out``, default ``RUN/eval_<checkpoint>_<kind>.json``)."""
    kind = recipe.eval.robustness
    if kind not in KINDS:
        raise ValueError(f"eval.robustness={kind!r}; valid: {', '.join(KINDS)}")
    acc = accelerator or build_accelerator(recipe)
    recipe = run_model_section(recipe, checkpoint)
    classes = class_list(recipe)
    model = build_model(recipe, len(classes))
    state = load_weights(model, checkpoint, use_ema=recipe.eval.use_ema if use_ema is None else use_ema)
    model = acc.prepare(model)
    grids: list[Grid | None] = [tuple(g) for g in recipe.model.grids] or [None]
    names = ["x".join(map(str, g)) if g else "-" for g in grids]
    ckpt = resolve_checkpoint(checkpoint)
    report = RobustnessReport(kind, str(ckpt), state.step)
    target = recipe.data.val_annotations
    if kind == "imagenet_c":
        _imagenet_c(report, model, recipe, acc, grids, names, classes, target)
    elif kind in ("imagenet_r", "imagenet_a"):
        ds = _dataset(recipe, target, classes)
        subset = torch.tensor(sorted({r.label for r in ds.records}))
        res = score_set(model, ds, recipe, acc, grids, subset)
        for gi, name in enumerate(names):
            top1 = 100.0 * (res["pred"][:, gi] == res["label"]).double().mean().item()
            report.rows.append(RobustnessRow(kind, name, "top-1", top1, len(res["label"]), int(res["replaced"].sum())))
        report.notes.append(f"{len(subset)} of {len(classes)} classes; logits restricted to them")
    else:
        _imagenet_o(report, model, recipe, acc, grids, names, classes, target)
    logger = RunLogger(None, acc.is_main_process, tensorboard=False)
    for line in report.lines():
        logger.info(line)
    if acc.is_main_process:
        default = (ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt) / f"eval_{ckpt.name}_{kind}.json"
        logger.info(f"wrote {report.save(out or default)}")
    return report


def _imagenet_c(report: RobustnessReport, model: nn.Module, recipe: Recipe, acc: Accelerator,
                grids: list[Grid | None], names: list[str], classes: list[str], root: str) -> None:
    per: dict[tuple[str, str], list[float]] = {}
    for corruption, severity, folder in find_corruptions(root):
        res = score_set(model, _dataset(recipe, folder, classes), recipe, acc, grids)
        for gi, name in enumerate(names):
            top1 = 100.0 * (res["pred"][:, gi] == res["label"]).double().mean().item()
            per.setdefault((corruption, name), []).append(top1)
            report.rows.append(RobustnessRow(f"{corruption}/{severity}", name, "top-1", top1, len(res["label"]),
                                             int(res["replaced"].sum())))
    for name in names:
        means = {c: sum(v) / len(v) for (c, n), v in per.items() if n == name}
        for c, m in sorted(means.items()):
            report.rows.append(RobustnessRow(c, name, "top-1 (mean over severities)", m, 0, 0))
        all_top1 = [t for (c, n), v in per.items() if n == name for t in v]
        report.rows.append(RobustnessRow("all", name, "mean top-1 error", 100.0 - sum(all_top1) / len(all_top1), 0, 0))
    report.notes.append("mCE is not reported (needs AlexNet's per-corruption errors); 'mean top-1 error' is the "
                        "unnormalised mean over every corruption and severity")


def _imagenet_o(report: RobustnessReport, model: nn.Module, recipe: Recipe, acc: Accelerator,
                grids: list[Grid | None], names: list[str], classes: list[str], root: str) -> None:
    in_dist = recipe.eval.in_distribution
    if not in_dist:
        raise ValueError("eval.robustness=imagenet_o needs eval.in_distribution (ImageNet val: flat with "
                         "LOC_val_solution.csv or class folders)")
    ood = score_set(model, _dataset(recipe, root, classes, unlabelled=True), recipe, acc, grids)
    ind = score_set(model, _dataset(recipe, in_dist, classes, unlabelled=True), recipe, acc, grids)
    n_o, n_in = len(ood["label"]), len(ind["label"])
    bad = int(ood["replaced"].sum() + ind["replaced"].sum())
    is_ood = torch.cat([torch.ones(n_o, dtype=torch.bool), torch.zeros(n_in, dtype=torch.bool)])
    for gi, name in enumerate(names):
        msp = torch.cat([ood["msp"][:, gi], ind["msp"][:, gi]]).double()
        report.rows += [
            RobustnessRow("imagenet_o", name, "AUPR (ImageNet-O positive, score -MSP)",
                          100.0 * average_precision(-msp, is_ood), n_o + n_in, bad),
            RobustnessRow("imagenet_o", name, "AUPR (in-distribution positive, score MSP)",
                          100.0 * average_precision(msp, ~is_ood), n_o + n_in, bad),
            RobustnessRow("imagenet_o", name, "AUROC", 100.0 * auroc(-msp, is_ood), n_o + n_in, bad),
        ]
    report.notes.append(f"{n_o} ImageNet-O and {n_in} in-distribution images; chance AUPR (ImageNet-O positive) = "
                        f"{100.0 * n_o / (n_o + n_in):.2f}")
