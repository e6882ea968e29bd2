"""Clip transforms on uint8 video tensors (torchvision ``transforms.v2``), flip label swap, mixup/cutmix.

Train: random resized crop to ``crop_size`` (area fraction ``rrc_scale`` of the decoded frame, so the
short-side resize is not needed), optional horizontal flip (with a label swap built from class names),
optional RandAugment (torchvision's; one op draw per clip, so every frame gets the same change; default
n=4, m=7 on timm's 0-10 scale as in VideoMAE, without timm's magnitude noise), normalisation.

Test: short-side resize to ``short_side``, then one centre crop or three crops (start, centre, end of the
longer side) of ``crop_size``, normalisation. Every temporal clip gets every crop; views are ordered
clip-major (``view = clip * num_crops + crop``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

_FLIP_WORDS = re.compile(r"\b(left|right|counter-?clockwise|anti-?clockwise|clockwise)\b", re.IGNORECASE)
_FLIP_CHOICES: dict[str, tuple[str, ...]] = {
    "left": ("right",),
    "right": ("left",),
    "clockwise": ("counterclockwise", "anticlockwise", "counter-clockwise", "anti-clockwise"),
}


def flip_label_map(classes: list[str]) -> dict[int, int]:
    """Class swaps that a horizontal flip implies, found by name.

    ``left`` <-> ``right`` and ``clockwise`` <-> ``counterclockwise`` (also ``anticlockwise``) are swapped
    word by word (any case, ``_`` read as a space); a class maps to the class whose name is the swapped
    name, when one exists.
    Classes without such a partner map to themselves and are left out of the dict.

    Example: SSv2's "Pulling something from left to right" <-> "Pulling something from right to left".
    """
    def norm(c: str) -> str:
        return c.lower().replace("_", " ")

    by_name = {norm(c): i for i, c in enumerate(classes)}
    mapping: dict[int, int] = {}
    for i, name in enumerate(classes):
        if not _FLIP_WORDS.search(norm(name)):
            continue
        swapped = _swap_all(norm(name))
        for cand in swapped:
            j = by_name.get(cand)
            if j is not None and j != i:
                mapping[i] = j
                break
    return mapping


def _swap_all(name: str) -> list[str]:
    """Every name obtained by swapping each flip word once (several spellings of counterclockwise)."""
    results = [""]
    pos = 0
    for m in _FLIP_WORDS.finditer(name):
        w = m.group(0).replace("-", "")
        options = ("clockwise",) if w in ("counterclockwise", "anticlockwise") else _FLIP_CHOICES[w]
        results = [r + name[pos:m.start()] + o for r in results for o in options]
        pos = m.end()
    return [r + name[pos:] for r in results]


@dataclass(frozen=True)
class ClipTransformCfg:
    """Settings of :class:`ClipTransform` (see the module docstring)."""

    train: bool
    crop_size: int = 224
    short_side: int = 256
    num_crops: int = 1
    flip: bool = True
    randaugment: bool = False
    randaugment_ops: int = 4
    randaugment_magnitude: float = 7.0  # timm's 0-10 scale (VideoMAE's rand-m7-n4); torchvision's is 0-30
    rrc_scale: tuple[float, float] = (0.08, 1.0)
    rrc_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


class ClipTransform:
    """Turns decoded frames ``(V, T, H, W, 3)`` uint8 into normalised views ``(V', C, T, h, w)`` float.

    In training ``V`` is 1. In testing ``V`` is the number of temporal clips and ``V' = V * num_crops``.
    """

    def __init__(self, cfg: ClipTransformCfg, flip_map: dict[int, int] | None = None) -> None:
        if cfg.num_crops not in (1, 3):
            raise ValueError(f"num_crops must be 1 or 3, got {cfg.num_crops}")
        if not cfg.train and cfg.short_side < cfg.crop_size:
            raise ValueError(f"short_side ({cfg.short_side}) must be >= crop_size ({cfg.crop_size})")
        self.cfg = cfg
        self.flip_map = flip_map or {}
        self._rrc = v2.RandomResizedCrop(cfg.crop_size, scale=cfg.rrc_scale, ratio=cfg.rrc_ratio, antialias=True)
        self._randaug = v2.RandAugment(num_ops=cfg.randaugment_ops, num_magnitude_bins=31,
                                       magnitude=int(round(cfg.randaugment_magnitude * 3)))
        self._mean = torch.tensor(cfg.mean).view(3, 1, 1, 1)
        self._std = torch.tensor(cfg.std).view(3, 1, 1, 1)

    def _normalise(self, clip: torch.Tensor) -> torch.Tensor:
        """``(T, C, H, W)`` uint8 -> ``(C, T, H, W)`` float normalised."""
        x = clip.permute(1, 0, 2, 3).float().div_(255.0)
        return x.sub_(self._mean).div_(self._std)

    def __call__(self, frames: torch.Tensor, label: int) -> tuple[torch.Tensor, int]:
        """Apply the transform; returns the views and the (possibly swapped) label."""
        clips = frames.permute(0, 1, 4, 2, 3)  # (V, T, C, H, W)
        if self.cfg.train:
            video = tv_tensors.Video(clips[0])
            video = self._rrc(video)
            if self.cfg.flip and bool(torch.rand(()) < 0.5):
                video = TF.horizontal_flip(video)
                label = self.flip_map.get(label, label)
            if self.cfg.randaugment:
                video = self._randaug(video)
            return self._normalise(video.as_subclass(torch.Tensor)).unsqueeze(0), label
        views = []
        for clip in clips:
            resized = TF.resize(clip, [self.cfg.short_side], antialias=True)
            for crop in self._crops(resized):
                views.append(self._normalise(crop))
        return torch.stack(views), label

    def _crops(self, clip: torch.Tensor) -> list[torch.Tensor]:
        s = self.cfg.crop_size
        h, w = clip.shape[-2:]
        if self.cfg.num_crops == 1:
            return [TF.center_crop(clip, [s, s])]
        top, left = (h - s) // 2, (w - s) // 2
        if w >= h:
            return [clip[..., top:top + s, x:x + s] for x in (0, left, w - s)]
        return [clip[..., y:y + s, left:left + s] for y in (0, top, h - s)]


def mixup_cutmix(video: torch.Tensor, label: torch.Tensor, num_classes: int, mixup_alpha: float = 0.8,
                 cutmix_alpha: float = 1.0, prob: float = 1.0,
                 label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix a training batch (torchvision ``v2.MixUp`` / ``v2.CutMix``) and return soft targets.

    With probability ``prob`` the batch is mixed: by MixUp or CutMix (one of them, chosen with equal odds
    when both alphas are > 0). The same mix applies to every frame (CutMix cuts the same box in all of
    them). Targets are one-hot, mixed, then smoothed: ``t * (1 - ls) + ls / num_classes``.

    Args:
        video: ``(B, C, T, H, W)`` float batch.
        label: ``(B,)`` class indices.
        num_classes: number of classes.
        mixup_alpha: Beta parameter of MixUp; 0 disables it.
        cutmix_alpha: Beta parameter of CutMix; 0 disables it.
        prob: probability that a batch is mixed at all.
        label_smoothing: smoothing applied to the (mixed) targets.

    Returns:
        ``(video, targets)`` with targets ``(B, num_classes)`` float summing to 1.
    """
    if label.min() < 0 or label.max() >= num_classes:
        raise ValueError(f"labels must be in [0, {num_classes}); got {label.min()}..{label.max()}")
    mixers = []
    if mixup_alpha > 0:
        mixers.append(v2.MixUp(alpha=mixup_alpha, num_classes=num_classes))
    if cutmix_alpha > 0:
        mixers.append(v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes))
    if mixers and bool(torch.rand(()) < prob):
        mixer = mixers[int(torch.randint(len(mixers), ()))]
        mixed, targets = mixer(tv_tensors.Video(video), label)
        video = mixed.as_subclass(torch.Tensor)
    else:
        targets = torch.nn.functional.one_hot(label, num_classes).to(video.dtype)
    if label_smoothing > 0:
        targets = targets * (1.0 - label_smoothing) + label_smoothing / num_classes
    return video, targets

