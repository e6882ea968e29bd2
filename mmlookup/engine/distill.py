"""Knowledge distillation from a frozen teacher classifier (DESIGN §9; recipe section ``distill``).

The teacher is any checkpoint reference :func:`mmlookup.create_classifier` accepts (a run, a checkpoint or model
folder, a Hugging Face VideoMAE / ViViT folder, a timm / torchvision / HF state-dict file), built by
:func:`build_teacher`, frozen (``requires_grad_(False)``, ``eval()``), and run under ``no_grad`` inside the
student's autocast (the same precision) on the same augmented clip. It is not part of the prepared model, so it is
in no checkpoint and in no GMACs count, and a resume rebuilds it from the recipe.

Per student head ``h`` (LookupViT has two), the loss is ``(1 - alpha) * CE_h + alpha * KD_h`` with

* ``soft``: ``tau² · KL(softmax(t / tau) || softmax(s_h / tau))``, averaged over the batch (Hinton et al. 2015);
* ``hard``: ``CE(s_h, argmax t)``, DeiT's hard-label distillation (Touvron et al. 2021, eq. 3, applied to the
  class head since our students have no distillation token);
* ``feature``: ``MSE(P_h f_h, g)``: the student head's input ``f_h`` (pooled feature) through a learned linear
  projection ``P_h`` to the teacher's width, against the teacher's pooled feature ``g``.

A teacher with several heads (a LookupViT teacher) gives the mean of its heads' logits (and features).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmlookup.checkpoints import resolve_reference
from mmlookup.config import DistillCfg

if TYPE_CHECKING:
    from mmlookup.config import Recipe
    from mmlookup.models import VideoClassifier


# ---- losses (pure functions) ------------------------------------------------------------------------------------

def soft_kd_loss(student: torch.Tensor, teacher: torch.Tensor, tau: float) -> torch.Tensor:
    """``tau² · KL(softmax(teacher / tau) || softmax(student / tau))``, mean over the batch; logits ``(B, K)``.

    Teacher logits of ``-inf`` (classes outside a cached top-k) get probability 0 and add nothing.
    """
    log_p_s = F.log_softmax(student.float() / tau, dim=-1)
    p_t = F.softmax(teacher.float() / tau, dim=-1)
    return F.kl_div(log_p_s, p_t, reduction="batchmean") * tau * tau


def hard_kd_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """DeiT's hard distillation: cross-entropy of ``student (B, K)`` against the teacher's decision ``argmax``."""
    return F.cross_entropy(student.float(), teacher.argmax(dim=-1))


def feature_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Sum over student heads of ``MSE(student[:, h], teacher)``: projected ``(B, H, Dt)`` vs ``(B, Dt)``."""
    return sum(F.mse_loss(student[:, h].float(), teacher.float()) for h in range(student.shape[1]))


def distill_loss(kind: str, logits: torch.Tensor, ce: torch.Tensor, teacher: torch.Tensor, *, alpha: float,
                 tau: float = 1.0, features: torch.Tensor | None = None, projector: nn.Module | None = None
                 ) -> torch.Tensor:
    """``(1 - alpha) · ce + alpha · KD`` with KD summed over the student's heads (as ``ce`` is).

    Args:
        kind: ``soft``, ``hard`` or ``feature``.
        logits: the student's ``(B, H, K)``.
        ce: the label loss, already summed over heads (:func:`mmlookup.engine.loop.head_loss`).
        teacher: the teacher's logits ``(B, K)`` (``soft`` / ``hard``) or pooled features ``(B, Dt)`` (``feature``).
        features: the student heads' inputs ``(B, H, Ds)`` (``feature``).
        projector: one linear map per student head, ``Ds → Dt`` (``feature``).
    """
    if kind == "soft":
        kd = sum(soft_kd_loss(logits[:, h], teacher, tau) for h in range(logits.shape[1]))
    elif kind == "hard":
        kd = sum(hard_kd_loss(logits[:, h], teacher) for h in range(logits.shape[1]))
    elif kind == "feature":
        if features is None or projector is None:
            raise ValueError("feature distillation needs the student's features and a projector")
        kd = feature_loss(projector(features), teacher)
    else:
        raise ValueError(f"unknown distillation kind {kind!r}; valid: soft, hard, feature")
    return (1.0 - alpha) * ce + alpha * kd


class FeatureProjector(nn.Module):
    """One ``Linear(student_dim, teacher_dim)`` per student head: ``(B, H, Ds) → (B, H, Dt)``.

    A module with its own ``forward`` so Accelerate can wrap it (DDP synchronises its gradients across processes);
    it is trained with the student and saved in the training state (``model_1.safetensors``), never in the student.
    """

    def __init__(self, student_dim: int, teacher_dim: int, num_heads: int) -> None:
        super().__init__()
        self.proj = nn.ModuleList(nn.Linear(student_dim, teacher_dim) for _ in range(num_heads))
        for layer in self.proj:
            nn.init.trunc_normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.stack([p(features[:, h]) for h, p in enumerate(self.proj)], dim=1)


# ---- the teacher ------------------------------------------------------------------------------------------------

def build_teacher(cfg: DistillCfg, student: "Recipe", *, verbose: bool = False) -> "VideoClassifier":
    """The frozen teacher classifier ``cfg.teacher`` names, in eval mode, for a student trained by ``student``.

    A run's (or checkpoint folder's) geometry and encoder come from its ``recipe.yaml``; any other reference is
    built by :func:`mmlookup.create_classifier` with ``cfg.teacher_encoder`` (or the name its config gives) and the
    student's clip geometry (a Hugging Face or model-folder config fixes its own and must agree).
    """
    from mmlookup.checkpoints import find_recipe
    from mmlookup.models import _encoder_kwargs, _finish_encoder, create_classifier
    from mmlookup.viz.load import read_run_recipe

    ref = resolve_reference(cfg.teacher)
    saved = find_recipe(Path(ref)) if Path(ref).is_dir() and not (Path(ref) / "config.json").is_file() else None
    if saved is not None:
        run = read_run_recipe(saved)
        kwargs = {k: v for k, v in _encoder_kwargs(run).items() if k != "drop_path_rate"}
        teacher = create_classifier(cfg.teacher_encoder or run.model.encoder, None, checkpoint=ref,
                                    pool=run.model.pool, verbose=verbose, **kwargs)
        _finish_encoder(run, teacher.encoder)
    else:
        m = student.model
        geometry: dict[str, Any] = dict(num_frames=m.num_frames, img_size=m.img_size, tubelet_size=m.tubelet_size,
                                        patch_size=m.patch_size)
        is_folder_with_config = Path(ref).is_dir() and (Path(ref) / "config.json").is_file()
        if is_folder_with_config:
            geometry = {}  # the folder's config fixes the architecture (and create_classifier checks it)
        elif not cfg.teacher_encoder:
            raise ValueError(f"distill.teacher={cfg.teacher!r} is a weights file; name its encoder with "
                             "distill.teacher_encoder (e.g. vit_base)")
        name = cfg.teacher_encoder or None
        if name is None and is_folder_with_config:  # a Hugging Face video folder: the video ViT its config describes
            from mmlookup.checkpoints import HF_VIDEO_TYPES, checkpoint_config

            name = "vit" if (checkpoint_config(ref) or {}).get("model_type") in HF_VIDEO_TYPES else None
        teacher = create_classifier(name, None, checkpoint=ref, verbose=verbose, **geometry)
    teacher.requires_grad_(False)
    return teacher.eval()


def check_teacher_classes(teacher: "VideoClassifier", num_classes: int, ref: str) -> None:
    """A teacher whose head has another number of classes than the student's is a one-line error."""
    k = teacher_classes(teacher)
    if k != num_classes:
        raise ValueError(f"distill.teacher {ref} has {k} classes but the student has {num_classes}; distil from a "
                         "teacher trained on the same classes (or fine-tune it first)")


def teacher_classes(teacher: nn.Module) -> int:
    """Number of classes the classifier's head predicts."""
    return int(next(m.out_features for m in teacher.head.modules() if isinstance(m, nn.Linear)))


def teacher_dim(teacher: "VideoClassifier") -> int:
    """Width of the teacher's pooled feature (its heads' input)."""
    return int(teacher.encoder.embed_dim)


# ---- the cache --------------------------------------------------------------------------------------------------

@dataclass
class TeacherCache:
    """The teacher's top-k logits per (clip index, augmentation epoch), in memory on each process.

    Stored in float16 with int32 class indices (``k · 6`` bytes per clip and view). With the cache on, the teacher's
    soft target is always the top-k one (the other classes get probability 0), hit or miss, so the loss does not
    depend on what is cached; ``hard`` only needs the top-1 and is exact.
    """

    k: int
    num_classes: int
    store: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    def lookup(self, keys: list[tuple[int, int]], device: torch.device) -> torch.Tensor | None:
        """Dense ``(B, K)`` logits (``-inf`` outside the top-k) when every key is cached, else ``None``."""
        if not all(key in self.store for key in keys):
            self.misses += len(keys)
            return None
        self.hits += len(keys)
        values = torch.stack([self.store[key][0] for key in keys]).to(device)
        index = torch.stack([self.store[key][1] for key in keys]).to(device)
        return expand_topk(values, index, self.num_classes)

    def put(self, keys: list[tuple[int, int]], logits: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Store the top-k of ``logits (B, K)`` for rows where ``keep``; return the top-k dense logits."""
        values, index = logits.float().topk(min(self.k, logits.shape[-1]), dim=-1)
        values = values.half()
        for row, key in enumerate(keys):
            if bool(keep[row]):
                self.store[key] = (values[row].cpu(), index[row].int().cpu())
        return expand_topk(values, index, self.num_classes)


def expand_topk(values: torch.Tensor, index: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Top-k ``values``/``index`` ``(B, k)`` → ``(B, num_classes)`` float logits, ``-inf`` elsewhere."""
    out = torch.full((values.shape[0], num_classes), float("-inf"), device=values.device)
    return out.scatter(1, index.long(), values.float())


def augmentation_epoch(epoch: int, views: int) -> int:
    """The epoch that seeds clip augmentation: ``epoch``, or ``epoch % views`` when ``distill.cache_views > 0``."""
    return epoch % views if views > 0 else epoch


# ---- the training-loop side -------------------------------------------------------------------------------------

@dataclass
class Distiller:
    """What the loop needs to add distillation to a step: the frozen teacher, the loss settings, the feature
    projector (prepared by Accelerate, trained with the student) and the optional cache."""

    teacher: nn.Module
    cfg: DistillCfg
    projector: nn.Module | None = None
    cache: TeacherCache | None = None

    def step_loss(self, model: nn.Module, video: torch.Tensor, grid: Any, ce_fn: Any, target: torch.Tensor,
                  keys: list[tuple[int, int]] | None = None, keep: torch.Tensor | None = None) -> torch.Tensor:
        """The distillation loss of one micro-batch (call inside the student's autocast)."""
        cfg = self.cfg
        if cfg.kind == "feature":
            logits, features = model(video, grid, heads=True, features=True)
            teacher = self._teacher_features(video)
            return distill_loss("feature", logits, ce_fn(logits, target), teacher, alpha=cfg.alpha,
                                features=features, projector=self.projector)
        logits = model(video, grid, heads=True)
        teacher = self._teacher_logits(video, keys, keep)
        return distill_loss(cfg.kind, logits, ce_fn(logits, target), teacher, alpha=cfg.alpha, tau=cfg.tau)

    @torch.no_grad()
    def _teacher_logits(self, video: torch.Tensor, keys: list[tuple[int, int]] | None,
                        keep: torch.Tensor | None) -> torch.Tensor:
        if self.cache is not None and keys is not None:
            cached = self.cache.lookup(keys, video.device)
            if cached is not None:
                return cached
        logits = self.teacher(video, heads=True).float().mean(dim=1)  # mean of the heads' logits
        if self.cache is not None and keys is not None:
            return self.cache.put(keys, logits, keep if keep is not None else torch.ones(len(keys), dtype=torch.bool))
        return logits

    @torch.no_grad()
    def _teacher_features(self, video: torch.Tensor) -> torch.Tensor:
        _, features = self.teacher(video, heads=True, features=True)
        return features.float().mean(dim=1)


def make_distiller(recipe: "Recipe", teacher: nn.Module, student: "VideoClassifier", device: torch.device
                   ) -> Distiller:
    """A :class:`Distiller` for ``recipe.distill`` with the teacher moved to ``device`` (projector not prepared)."""
    cfg = recipe.distill
    teacher = teacher.to(device)
    projector = None
    if cfg.kind == "feature":
        projector = FeatureProjector(int(student.encoder.embed_dim), teacher_dim(teacher), len(student.head_names))
    cache = TeacherCache(cfg.cache_topk, teacher_classes(teacher)) if cfg.cache else None
    return Distiller(teacher, cfg, projector, cache)
