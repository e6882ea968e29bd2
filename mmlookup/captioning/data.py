"""Caption data for training and evaluation: the recipe's splits, batches of media (or cached memory) + captions.

A batch holds whole images: their media ``(B, C, T, H, W)`` (or their cached encoder memory) and *all* their
reference captions, tokenized. The trainer runs the frozen encoder once per image and repeats its memory for
each caption, so an epoch sees every caption while the encoder cost is paid once per image.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import Dataset

from mmlookup.captioning.model import Memory
from mmlookup.data.coco import CaptionDataset, CaptionSample, read_coco_captions, read_karpathy
from mmlookup.data.video_captions import read_msrvtt, read_vatex

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

    from mmlookup.config import Recipe

log = logging.getLogger(__name__)


@dataclass
class CaptionBatch:
    """A collated batch.

    Attributes:
        image_ids: ``(B,)`` ids of the images that loaded.
        media: ``(B, C, T, H, W)`` float, or ``None`` when ``memory`` is given.
        memory: cached encoder memory ``(B, K, D)`` (+ mask), or ``None``.
        input_ids: ``(S, L)`` tokenized captions of all images, image by image (``S = counts.sum()``).
        attention_mask: ``(S, L)``.
        counts: ``(B,)`` captions per image.
        skipped: items dropped because their media failed to load.
    """

    image_ids: torch.Tensor
    media: torch.Tensor | None
    memory: Memory | None
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    counts: torch.Tensor
    skipped: int = 0

    def to(self, device: torch.device | str, non_blocking: bool = False) -> CaptionBatch:
        def mv(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return CaptionBatch(
            image_ids=mv(self.image_ids), media=mv(self.media),  # type: ignore[arg-type]
            memory=None if self.memory is None else self.memory.to(device),
            input_ids=mv(self.input_ids), attention_mask=mv(self.attention_mask),  # type: ignore[arg-type]
            counts=mv(self.counts), skipped=self.skipped,  # type: ignore[arg-type]
        )

    def __len__(self) -> int:
        return int(self.image_ids.numel())


@dataclass
class CachedItem:
    """One image's cached memory ``(K, D)`` and mask ``(K,)`` (or ``None``) with its sample."""

    hidden: torch.Tensor
    mask: torch.Tensor | None
    sample: CaptionSample


class CachedCaptionDataset(Dataset[CachedItem]):
    """Samples whose frozen-encoder memory is already computed (see :mod:`mmlookup.captioning.cache`)."""

    def __init__(self, samples: Sequence[CaptionSample], hidden: Sequence[torch.Tensor],
                 masks: Sequence[torch.Tensor | None]) -> None:
        if not len(samples) == len(hidden) == len(masks):
            raise ValueError("samples, hidden and masks must have one entry per image")
        self.samples, self.hidden, self.masks = list(samples), list(hidden), list(masks)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> CachedItem:
        return CachedItem(self.hidden[index], self.masks[index], self.samples[index])


def pad_memory(hidden: Sequence[torch.Tensor], masks: Sequence[torch.Tensor | None]) -> Memory:
    """Stack per-image memories ``(K_i, D)``, padding to the longest with mask False where needed."""
    k = max(h.shape[0] for h in hidden)
    if all(m is None for m in masks) and all(h.shape[0] == k for h in hidden):
        return Memory(torch.stack(list(hidden)))
    out = hidden[0].new_zeros(len(hidden), k, hidden[0].shape[-1])  # same dtype as the cache
    mask = torch.zeros(len(hidden), k, dtype=torch.bool)
    for i, (h, m) in enumerate(zip(hidden, masks)):
        out[i, : h.shape[0]] = h
        mask[i, : h.shape[0]] = True if m is None else m.bool()
    return Memory(out, mask)


class CaptionCollate:
    """Collate :class:`CaptionItem` or :class:`CachedItem` lists into a :class:`CaptionBatch`.

    Args:
        tokenizer: the caption tokenizer (adds BOS/EOS).
        max_tokens: captions are truncated to this many tokens, EOS kept.
        with_captions: tokenize the references (training); evaluation batches skip it.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerFast | None, max_tokens: int, with_captions: bool = True):
        self.tokenizer, self.max_tokens, self.with_captions = tokenizer, max_tokens, with_captions

    def __call__(self, items: list) -> CaptionBatch:
        cached = bool(items) and isinstance(items[0], CachedItem)
        good = items if cached else [it for it in items if it.media is not None]
        skipped = len(items) - len(good)
        ids = torch.tensor([it.sample.image_id for it in good], dtype=torch.long)
        caps = [c for it in good for c in it.sample.captions] if self.with_captions else []
        counts = torch.tensor([len(it.sample.captions) if self.with_captions else 0 for it in good], dtype=torch.long)
        if caps and self.tokenizer is not None:
            enc = self.tokenizer(caps, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
            input_ids, attn = enc["input_ids"], enc["attention_mask"]
        else:
            input_ids = attn = torch.zeros(0, 1, dtype=torch.long)
        if not good:
            media, memory = None, None
        elif cached:
            media, memory = None, pad_memory([it.hidden for it in good], [it.mask for it in good])
        else:
            media, memory = torch.stack([it.media for it in good]), None
        return CaptionBatch(ids, media, memory, input_ids, attn, counts, skipped)


def _path(base: str | None, name: str) -> str:
    if not name:
        return name
    return name if Path(name).is_absolute() or base is None or Path(name).exists() else str(Path(base) / name)


def load_splits(recipe: Recipe) -> tuple[list[CaptionSample], list[CaptionSample]]:
    """The recipe's training and evaluation samples (``caption.format``: ``coco``, ``karpathy``, ``msrvtt``, ``vatex``).

    Generates the synthetic dataset first when ``data.synthetic`` is set and it is missing.
    """
    c = recipe.caption
    if recipe.data.synthetic:
        ensure_synthetic(recipe)
    if not c.train_annotations:
        raise ValueError("caption.train_annotations is empty; set it to a COCO captions JSON or dataset_coco.json")
    if c.format == "karpathy":
        train = read_karpathy(c.train_annotations, c.train_splits, c.media_root)
        val = read_karpathy(c.train_annotations, [c.eval_split], c.media_root)
    elif c.format == "msrvtt":
        train = read_msrvtt(c.train_annotations, c.train_splits, c.media_root)
        val = read_msrvtt(c.val_annotations or c.train_annotations, [c.eval_split], c.media_root)
    elif c.format == "vatex":
        if not c.val_annotations:
            raise ValueError("caption.val_annotations is empty; VATEX needs its validation (or test) list")
        train = read_vatex(c.train_annotations, c.media_root)
        val = read_vatex(c.val_annotations, c.media_root)
    else:
        if not c.val_annotations:
            raise ValueError("caption.val_annotations is empty; the COCO format needs a separate evaluation file")
        train = read_coco_captions(c.train_annotations, c.media_root)
        val = read_coco_captions(c.val_annotations, c.media_root)
    if c.max_eval_samples:
        val = val[: c.max_eval_samples]
    if not train or not val:
        raise ValueError(f"empty caption split: {len(train)} training / {len(val)} evaluation images")
    return train, val


def ensure_synthetic(recipe: Recipe) -> None:
    """Generate the synthetic dataset into the folder above ``caption.train_annotations``'s ``coco/`` (or
    ``msrvtt/``) unless a complete one is there."""
    from mmlookup.data.synthetic import ensure_synthetic as ensure
    from mmlookup.data.synthetic import is_complete

    ann = Path(recipe.caption.train_annotations)
    out = ann.parent.parent if ann.parent.name in ("coco", "msrvtt") else ann.parent
    if not is_complete(out):
        log.info("generating the synthetic dataset into %s", out)
        ensure(out, seed=recipe.train.seed)


def media_dataset(recipe: Recipe, samples: Sequence[CaptionSample]) -> CaptionDataset:
    """Images/clips of ``samples`` at the recipe's crop size and clip length."""
    return CaptionDataset(samples, img_size=recipe.model.img_size, num_frames=recipe.model.num_frames)
