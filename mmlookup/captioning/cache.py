"""On-disk cache of frozen-encoder memory, so decoder epochs never re-run the encoder.

One file per split, named by a hash of everything that changes the encoder's output (encoder name and
geometry, weights files, memory choice, compressed grid, crop size, annotation file and its size/mtime).
A stale or foreign cache is therefore never read: a changed setting gives a new file name. Media use the
deterministic evaluation transform, so cached memory equals what the encoder computes at evaluation, up to
storage in float16 (half the disk: COCO train+restval with 49 tokens of width 768 is ~8.5 GB). Files are
memory-mapped when read, so N processes and their loader workers share one copy.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from mmlookup.captioning.data import CachedCaptionDataset, CaptionCollate, media_dataset
from mmlookup.data.coco import CaptionSample

if TYPE_CHECKING:
    from accelerate import Accelerator

    from mmlookup.captioning.model import CaptionModel
    from mmlookup.config import Recipe

log = logging.getLogger(__name__)
CACHE_DTYPE = torch.float16


def _file_id(path: str | None) -> list:
    if not path:
        return []
    p = Path(path)
    if p.is_dir():
        return [str(p.resolve()), sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in p.rglob("*")
                                         if f.is_file() and f.suffix in (".safetensors", ".bin", ".pt", ".pth"))]
    return [str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] if p.exists() else [str(path)]


def cache_key(recipe: Recipe, split: str, num_samples: int) -> str:
    """A short hash of every setting that changes the cached memory of ``split``."""
    m, c = recipe.model, recipe.caption
    ann = c.train_annotations if (c.format == "karpathy" or split == "train" or not c.val_annotations) \
        else c.val_annotations
    parts = {
        "encoder": m.encoder, "num_frames": m.num_frames, "img_size": m.img_size, "tubelet": m.tubelet_size,
        "patch": m.patch_size, "grids": [list(g) for g in m.grids], "kwargs": m.encoder_kwargs,
        "pretrained": _file_id(m.pretrained), "encoder_checkpoint": _file_id(c.encoder_checkpoint),
        "memory": c.memory, "memory_tokens": c.memory_tokens, "format": c.format,
        "annotations": _file_id(ann), "media_root": c.media_root,
        "splits": c.train_splits if split == "train" else [c.eval_split], "n": num_samples, "split": split,
        "max_eval": c.max_eval_samples, "dtype": str(CACHE_DTYPE),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@torch.no_grad()
def compute_memory(model: CaptionModel, recipe: Recipe, samples: Sequence[CaptionSample], device: torch.device,
                   *, batch_size: int, num_workers: int, show_progress: bool = True
                   ) -> tuple[list[CaptionSample], list[torch.Tensor], list[torch.Tensor | None]]:
    """Run the frozen encoder over ``samples``; unreadable media are skipped (and logged by the dataset).

    Returns:
        The samples that loaded, their memory ``(K_i, D)`` on the CPU, and masks ``(K_i,)`` or ``None``.
    """
    loader = DataLoader(media_dataset(recipe, samples), batch_size=batch_size, num_workers=num_workers,
                        collate_fn=CaptionCollate(None, 1, with_captions=False))
    by_id = {s.image_id: s for s in samples}
    kept, hidden, masks = [], [], []
    for batch in tqdm(loader, desc="encoding (cache)", disable=not show_progress, leave=False):
        if batch.media is None:
            continue
        mem = model.encode(batch.media.to(device))
        for i, image_id in enumerate(batch.image_ids.tolist()):
            kept.append(by_id[image_id])
            if mem.mask is None:
                hidden.append(mem.hidden[i].to(CACHE_DTYPE).cpu().clone())
                masks.append(None)
            else:
                real = mem.mask[i].bool().cpu()
                hidden.append(mem.hidden[i].to(CACHE_DTYPE).cpu()[real].clone())  # keep real tokens only
                masks.append(None)
    return kept, hidden, masks


def cached_dataset(model: CaptionModel, recipe: Recipe, split: str, samples: Sequence[CaptionSample],
                   accelerator: Accelerator) -> CachedCaptionDataset:
    """Load ``split``'s memory from ``caption.cache_dir`` or compute it (main process) and save it."""
    assert recipe.caption.cache_dir, "caption.cache_dir is not set"
    path = Path(recipe.caption.cache_dir) / f"{split}_{cache_key(recipe, split, len(samples))}.pt"
    if accelerator.is_main_process and not path.is_file():
        kept, hidden, masks = compute_memory(
            model, recipe, samples, accelerator.device, batch_size=recipe.eval.batch_size,
            num_workers=recipe.eval.num_workers, show_progress=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"image_ids": [s.image_id for s in kept], "hidden": hidden, "masks": masks}, tmp)
        tmp.replace(path)
        log.info("cached %d/%d %s memories in %s", len(kept), len(samples), split, path)
    accelerator.wait_for_everyone()
    data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    by_id = {s.image_id: s for s in samples}
    return CachedCaptionDataset([by_id[i] for i in data["image_ids"]], data["hidden"], data["masks"])
