"""Adaptive compute: a cascade of settings of one model that spends GMACs only where a window is hard.

``--cascade 1x2x2,2x2x2,2x4x4`` (LookupViT grids), ``rho=0.5,0.7,1.0`` (EViT keep rates; on a ViT's weights the
ViT runs as EViT, training-free), ``r=8,4,0`` (ToMe), ``budget=0.3,0.6,all`` (ATS). The settings are run
cheapest first (they are sorted by GMACs per view); a window moves to the next setting only while its confidence
is below ``C`` and keeps the answer of the last setting it ran. A window's cost is the sum of the GMACs of every
setting it ran (the cheap passes are paid too).

**Confidence = top-2 margin** (the best class's probability minus the runner-up's), by default; ``max`` (the best
probability) is the other choice. The margin is the default because the expensive settings earn their cost on
windows whose top two classes are close (on the motion data: left vs right, clockwise vs counterclockwise), and the
margin measures exactly that ambiguity: a window split 0.45 / 0.45 between two mirror classes has max 0.45 but
margin 0, while one at 0.45 with the rest spread over six classes has margin ~0.36 and is rightly kept.

**Calibration** (``--gmacs-budget X --cascade ...``): every setting runs once on the calibration clips; the mean
cost of any threshold then follows without running anything again (:func:`cascade_cost`), and the largest ``C``
whose mean GMACs per window is at most ``X`` is chosen (:func:`calibrate`). It needs no labels, so the calibration
clips can be any clips of the same kind (``--calibration``) or windows of the video itself (the default).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from mmlookup.inference.budget import Setting, _set_knob, apply, setting_gmacs, view_shape
from mmlookup.inference.source import LoadedModel

MEASURES: tuple[str, ...] = ("margin", "max")


def confidence(probs: torch.Tensor, measure: str = "margin") -> torch.Tensor:
    """``(N, K)`` probabilities → ``(N,)`` confidence: top-2 margin or max probability."""
    if measure not in MEASURES:
        raise ValueError(f"unknown confidence measure {measure!r}; valid: {', '.join(MEASURES)}")
    if measure == "max" or probs.shape[-1] < 2:
        return probs.max(-1).values
    top2 = probs.topk(2, dim=-1).values
    return top2[..., 0] - top2[..., 1]


# ------------------------------------------------------------------------------------------------ settings

_KEYS = {"rho": ("evit", "keep_rate", float), "keep": ("evit", "keep_rate", float),
         "keep_rate": ("evit", "keep_rate", float), "r": ("tome", "r", int), "budget": ("ats", "budget", None),
         "grid": ("lookupvit", "grid", None)}


def _ats_budget(text: str) -> Any:
    return None if text == "all" else float(text) if "." in text else int(text)


def parse_cascade(loaded: LoadedModel, text: str) -> list[Setting]:
    """``"1x2x2,2x2x2"`` / ``"rho=0.5,1.0"`` / ``"r=8,0"`` / ``"budget=0.3,all"`` → settings, cheapest first, each
    with its GMACs per view. A key given once carries to the next items (``rho=0.5,0.7,1.0``).

    Raises:
        ValueError: a setting of another family, fewer than two distinct settings, or a bad value.
    """
    from mmlookup.encoders.common import parse_grid

    fam = loaded.family
    out: list[Setting] = []
    key = "grid" if fam == "lookupvit" else None
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "=" in part:
            key, _, value = (s.strip() for s in part.partition("="))
        else:
            value = part
        if key is None or key not in _KEYS:
            raise ValueError(f"--cascade item {part!r}: give KEY=VALUE with KEY one of rho, r, budget (or TxHxW grids "
                             "for LookupViT)")
        want, kwarg, cast = _KEYS[key]
        if (want == "lookupvit") != (fam == "lookupvit") or (fam not in ("lookupvit", "vit") and want != fam):
            raise ValueError(f"--cascade item {part!r} is a {want} setting; this model is {loaded.encoder}"
                             + (" (its settings are compressed grids TxHxW)" if fam == "lookupvit" else ""))
        try:
            if want == "lookupvit":
                grid = parse_grid(value)
                out.append(Setting(loaded.encoder, fam, "grid " + "x".join(map(str, grid)), {}, grid))
                continue
            v = cast(value) if cast else _ats_budget(value)
        except ValueError as err:
            raise ValueError(f"--cascade item {part!r}: {err}") from None
        encoder = loaded.encoder if fam == want else want + loaded.encoder[len(fam):]
        word = {"keep_rate": "keep", "r": "r", "budget": "budget"}[kwarg]
        out.append(Setting(encoder, want, f"{word} {v if v is not None else 'all'}", {kwarg: v}))
    uniq = list({(s.encoder, s.label): s for s in out}.values())
    if len(uniq) < 2:
        raise ValueError(f"--cascade needs at least two distinct settings, got {text!r}")
    return uniq


@dataclass
class Stage:
    """One setting of a cascade, ready to run: its model (shared with the predictor when of the same family)."""

    setting: Setting
    model: torch.nn.Module


class Cascade:
    """Run the settings cheapest first, escalating while the confidence is below ``threshold``.

    Call it on views ``(B, V, C, T, H, W)``: returns ``(probs (B, K), setting label per item, GMACs per item)``.
    ``threshold`` ``None`` until set or :meth:`calibrate`\\ d.
    """

    def __init__(self, predictor, settings: Sequence[Setting], *, threshold: float | None = None,
                 measure: str = "margin") -> None:
        if measure not in MEASURES:
            raise ValueError(f"unknown confidence measure {measure!r}; valid: {', '.join(MEASURES)}")
        self.predictor, self.measure, self.threshold = predictor, measure, threshold
        loaded: LoadedModel = predictor.loaded
        stages = []
        for s in settings:
            model = apply(loaded, s)
            g, _ = setting_gmacs(model.encoder, view_shape(loaded), s.grid)
            s.gmacs = g
            stages.append(Stage(s, model))
        _set_knob(loaded.model.encoder, predictor.setting.kwargs)
        self.stages = sorted(stages, key=lambda st: st.setting.gmacs)
        self.calibration: dict[str, Any] | None = None

    @property
    def gmacs(self) -> list[float]:
        return [st.setting.gmacs for st in self.stages]

    @property
    def labels(self) -> list[str]:
        return [st.setting.label for st in self.stages]

    def stage_probs(self, j: int, views: torch.Tensor) -> torch.Tensor:
        """Probabilities of stage ``j`` on ``views`` (the predictor's batching and head averaging)."""
        p, st = self.predictor, self.stages[j]
        old = p.model, p.grid
        _set_knob(st.model.encoder, st.setting.kwargs)
        p.model, p.grid = st.model, st.setting.grid
        try:
            return p.probabilities(views)
        finally:
            p.model, p.grid = old
            _set_knob(p.loaded.model.encoder, p.setting.kwargs)

    def __call__(self, views: torch.Tensor) -> tuple[torch.Tensor, list[str], list[float]]:
        if self.threshold is None:
            raise ValueError("the cascade has no confidence threshold: give --confidence C or --gmacs-budget X")
        fns = [lambda x, j=j: self.stage_probs(j, x) for j in range(len(self.stages))]
        probs, level, spent = escalate(fns, self.gmacs, views, self.threshold, self.measure)
        return probs, [self.labels[i] for i in level.tolist()], spent.tolist()

    def calibrate(self, views: torch.Tensor, budget: float) -> float:
        """Choose the threshold on calibration ``views`` so the mean GMACs per window is at most ``budget``."""
        confs = torch.stack([confidence(self.stage_probs(j, views), self.measure)
                             for j in range(len(self.stages) - 1)]) if len(views) else torch.zeros(0, 0)
        self.threshold, cost = calibrate(confs, self.gmacs, budget)
        self.calibration = {"budget": budget, "threshold": self.threshold, "mean_gmacs": cost, "clips": len(views)}
        return self.threshold

    def describe(self) -> str:
        stages = " -> ".join(f"{st.setting.label} ({st.setting.gmacs:.4g})" for st in self.stages)
        c = "unset" if self.threshold is None else f"{self.threshold:.4g}"
        line = f"cascade {stages} GMACs per view; escalate while {self.measure} < {c}"
        if self.calibration:
            line += (f" (calibrated on {self.calibration['clips']} clips for {self.calibration['budget']:g} GMACs: "
                     f"{self.calibration['mean_gmacs']:.4g} there)")
        return line


# ------------------------------------------------------------------------------------------------ pure logic


def escalate(stages: Sequence[Callable[[torch.Tensor], torch.Tensor]], gmacs: Sequence[float], x: torch.Tensor,
             threshold: float, measure: str = "margin") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run ``stages[0]`` on every item of ``x``, then each next stage only on the items whose confidence after the
    previous one is below ``threshold``; the last stage's answer is final.

    Returns:
        ``(probs (B, K), level (B,) index of the stage that answered, gmacs (B,) spent per item)``.
    """
    b = len(x)
    todo = torch.arange(b)
    level = torch.zeros(b, dtype=torch.long)
    spent = torch.zeros(b, dtype=torch.float64)
    final: torch.Tensor | None = None
    for j, run in enumerate(stages):
        p = run(x[todo]).float()
        if final is None:
            final = torch.empty(b, p.shape[-1])
        final[todo] = p
        level[todo] = j
        spent[todo] += gmacs[j]
        if j == len(stages) - 1:
            break
        todo = todo[confidence(p, measure) < threshold]
        if len(todo) == 0:
            break
    assert final is not None
    return final, level, spent


def levels_for(confs: torch.Tensor, threshold: float) -> torch.Tensor:
    """``confs (S-1, N)``: each item's confidence after each stage but the last → the stage that answers it."""
    s1, n = confs.shape
    confident = confs >= threshold                                        # (S-1, N)
    first = torch.where(confident.any(0), confident.float().argmax(0), torch.full((n,), s1))
    return first


def cascade_cost(confs: torch.Tensor, gmacs: Sequence[float], threshold: float) -> float:
    """Mean GMACs per item of the cascade at ``threshold``, from the stages' confidences ``(S-1, N)``."""
    cum = torch.tensor(np.cumsum(gmacs), dtype=torch.float64)
    return float(cum[levels_for(confs, threshold)].mean())


def calibrate(confs: torch.Tensor, gmacs: Sequence[float], budget: float) -> tuple[float, float]:
    """The largest threshold whose mean cost is at most ``budget``, and that cost. The cost only grows with the
    threshold, so every distinct confidence (just above it) is a candidate; ``inf`` always escalates.

    Raises:
        ValueError: no calibration clips, a budget <= 0, or a budget below the cheapest setting alone.
    """
    if budget <= 0 or not math.isfinite(budget):
        raise ValueError(f"--gmacs-budget must be > 0, got {budget:g}")
    if confs.numel() == 0:
        raise ValueError("no calibration clips: the cascade's threshold cannot be calibrated")
    if gmacs[0] > budget:
        raise ValueError(f"the cascade's cheapest setting alone costs {gmacs[0]:.4g} GMACs per window, over the "
                         f"budget {budget:g}")
    values = torch.unique(confs.double())
    candidates = [math.inf] + [float(np.nextafter(v, np.inf)) for v in values.flip(0).tolist()] + [0.0]
    for c in candidates:                                                 # largest first: the first that fits
        cost = cascade_cost(confs, gmacs, c)
        if cost <= budget + 1e-12:
            return c, cost
    return 0.0, cascade_cost(confs, gmacs, 0.0)
