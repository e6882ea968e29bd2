"""The search space of issue 26's tuning protocol (``mmlookup bench --accuracy --tune``, :mod:`mmlookup.bench.tune`):
the two-level factors every family is searched over, the L8 design, the overrides of one trial, main effects, the
held-out split, and the configuration each family's search chose (:data:`TUNED_LEVELS`), which
``mmlookup bench --accuracy`` trains by default. Pure functions; nothing here trains or imports the engine.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Factor:
    """One two-level factor: its name, the labels of its levels and, per family kind, the overrides of each level.

    ``levels`` maps ``"vit"`` (ViT, EViT, ATS, ToMe) and ``"lookupvit"`` to ``(level 0, level 1)``; a level is a
    dict of recipe keys, where ``encoder_kwargs.NAME`` entries are merged into ``model.encoder_kwargs``.
    """

    name: str
    labels: tuple[str, str]
    levels: dict[str, tuple[dict[str, Any], dict[str, Any]]]
    lookup_labels: tuple[str, str] | None = None  # LookupViT's, where its levels differ

    def label(self, family: str, level: int) -> str:
        return (self.lookup_labels or self.labels)[level] if family == "lookupvit" else self.labels[level]


def _same(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    return {"vit": (a, b), "lookupvit": (a, b)}


#: warm-up levels as fractions of the schedule (the family recipes: 2 of 30 epochs, 0.07)
WARMUP_FRACTIONS = (0.05, 0.2)

FACTORS: tuple[Factor, ...] = (
    Factor("stem_norm", ("off", "on"), _same({"encoder_kwargs.stem_norm": False}, {"encoder_kwargs.stem_norm": True})),
    Factor("positions", ("learned", "sincos_3d"),
           _same({"encoder_kwargs.pos_embed": None}, {"encoder_kwargs.pos_embed": "sincos_3d"})),
    Factor("weight_init", ("timm", "torch"),
           _same({"encoder_kwargs.weight_init": "timm"}, {"encoder_kwargs.weight_init": "torch"})),
    Factor("pool", ("cls", "mean"),
           {"vit": ({"model.pool": "cls"}, {"model.pool": "mean"}),
            "lookupvit": ({"model.pool": "auto"}, {"model.pool": "shared"})}, ("two heads", "shared")),
    Factor("lr", ("3e-4", "1e-3"), _same({"optim.lr": 3e-4}, {"optim.lr": 1e-3})),
    Factor("warmup", tuple(f"{f:.0%}" for f in WARMUP_FRACTIONS),  # type: ignore[arg-type]
           _same({"warmup_fraction": WARMUP_FRACTIONS[0]}, {"warmup_fraction": WARMUP_FRACTIONS[1]})),
    Factor("clip_grad", ("0", "1.0"), _same({"train.clip_grad": 0.0}, {"train.clip_grad": 1.0})),
)

#: the two-level orthogonal array L8(2^7): row = trial, column = factor (in :data:`FACTORS` order)
L8: tuple[tuple[int, ...], ...] = (
    (0, 0, 0, 0, 0, 0, 0),
    (0, 0, 0, 1, 1, 1, 1),
    (0, 1, 1, 0, 0, 1, 1),
    (0, 1, 1, 1, 1, 0, 0),
    (1, 0, 1, 0, 1, 0, 1),
    (1, 0, 1, 1, 0, 1, 0),
    (1, 1, 0, 0, 1, 1, 0),
    (1, 1, 0, 1, 0, 0, 1),
)


#: The configuration each family's search chose on motion16 video (levels of :data:`FACTORS`), which
#: ``mmlookup bench --accuracy`` trains by default (``--untuned``: the family recipe as it is). Measured 2026-12-08
#: with ``mmlookup bench --accuracy --tune --families vit lookupvit --tune-epochs 4`` (docs/benchmarks.md, "Equal
#: footing"): both chose trial 3, sin-cos positions, PyTorch's init, no stem norm, CLS / two heads, LR 3e-4, 20%
#: warm-up, clipping at 1.0. EViT, ATS and ToMe are built on the ViT and take its levels until their own search runs.
TUNED_LEVELS: dict[str, tuple[int, ...]] = {"vit": (0, 1, 1, 0, 0, 1, 1), "lookupvit": (0, 1, 1, 0, 0, 1, 1)}


def tuned_levels(family: str) -> tuple[int, ...]:
    return TUNED_LEVELS.get(family, TUNED_LEVELS["vit"])


def family_kind(family: str) -> str:
    return "lookupvit" if family == "lookupvit" else "vit"


def trial_overrides(family: str, levels: tuple[int, ...], base_kwargs: dict[str, Any], schedule_epochs: float
                    ) -> tuple[str, ...]:
    """``KEY=VALUE`` overrides (for :func:`mmlookup.bench.accuracy.bench_recipe`) of one trial's levels.

    ``base_kwargs`` is the family recipe's ``model.encoder_kwargs``: the trial replaces the shared switches in it and
    keeps the rest (LookupViT's ``lookup_post_norm``, ``branch_init``).
    """
    kwargs = dict(base_kwargs)
    out: list[str] = []
    for factor, level in zip(FACTORS, levels):
        for key, value in factor.levels[family_kind(family)][level].items():
            if key.startswith("encoder_kwargs."):
                name = key.split(".", 1)[1]
                if value is None:
                    kwargs.pop(name, None)
                else:
                    kwargs[name] = value
            elif key == "warmup_fraction":
                out.append(f"optim.warmup_epochs={value * schedule_epochs:g}")
            else:
                out.append(f"{key}={value}")
    return (f"model.encoder_kwargs={dict(sorted(kwargs.items()))!r}", *out)


def main_effects(scores: list[tuple[tuple[int, ...], float]]) -> list[tuple[float, float]]:
    """Per factor, the mean score of the trials at level 0 and at level 1 (a level no trial has: ``nan``)."""
    out = []
    for j in range(len(FACTORS)):
        means = []
        for level in (0, 1):
            vals = [s for lv, s in scores if lv[j] == level]
            means.append(statistics.fmean(vals) if vals else float("nan"))
        out.append((means[0], means[1]))
    return out


def guess_levels(effects: list[tuple[float, float]]) -> tuple[int, ...]:
    """The main-effects guess: each factor at its better level (level 0 on a tie or where a level is untried)."""
    return tuple(1 if e1 > e0 else 0 for e0, e1 in effects)


def holdout_indices(labels: list[int], every: int) -> tuple[list[int], list[int]]:
    """Split a training set: every ``every``-th clip of each class (in file order) is held out.

    Returns ``(fit, held_out)`` index lists; stratified, deterministic, and disjoint.
    """
    if every < 2:
        raise ValueError(f"--holdout must be >= 2 (every N-th training clip is held out), got {every}")
    seen: dict[int, int] = {}
    fit, held = [], []
    for i, label in enumerate(labels):
        k = seen.get(label, 0)
        seen[label] = k + 1
        (held if k % every == every - 1 else fit).append(i)
    return fit, held
