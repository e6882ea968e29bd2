"""Compute-budgeted inference: the most accurate setting of a model whose cost fits a budget.

Each family has one knob, and within a family more compute is taken as more accuracy (the sweeps and the papers
agree on that ordering): LookupViT's compressed grid (the trained grids, largest first), EViT's keep rate ρ (1.0
down to 0.1 in steps of 0.05), ToMe's merges per layer ``r`` (:func:`~mmlookup.encoders.tome.r_for_gmacs`: the
smallest ``r`` under the budget), ATS's budget (fractions 1.0 down to 0.1; ATS's cost depends on the clip, so
its GMACs here are the upper bound reached when every sample point hits a different token). A plain ViT has no
knob. When the model comes with an ``mmlookup sweep`` result (a run's newest ``sweep_*/sweep.json``, a model folder's
``sweep.json``), the choice is made on its measured accuracy instead, over every family it evaluated on these
weights (EViT, ATS, ToMe on a ViT run's weights, training-free).

GMACs are per view (one clip of one crop), encoder only, as everywhere in this project. A latency budget times the
candidates on the device at start-up (batch of one view, median of a few repeats) in the same order and keeps the
first that fits.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from mmlookup.inference.source import Grid, LoadedModel
from mmlookup.models import VideoClassifier

EVIT_RATES = tuple(round(1.0 - 0.05 * i, 2) for i in range(19))          # 1.0 .. 0.1
ATS_BUDGETS = tuple(round(1.0 - 0.1 * i, 1) for i in range(10))          # 1.0 .. 0.1


@dataclass
class Setting:
    """One way to run the model: an encoder (family) with its knob, and its cost per view."""

    encoder: str
    family: str
    label: str                                   # "grid 2x4x4", "keep 0.7", "r 4", "budget 0.5", "-"
    kwargs: dict[str, Any] = field(default_factory=dict)
    grid: Grid | None = None
    gmacs: float = 0.0
    top1: float | None = None                    # measured accuracy (from a sweep)
    gmacs_note: str = ""

    def describe(self) -> str:
        acc = f", sweep top-1 {self.top1:.1f}%" if self.top1 is not None else ""
        return f"{self.encoder} {self.label if self.label != '-' else '(no reduction)'} ({self.gmacs:.4g} GMACs per " \
               f"view{self.gmacs_note}{acc})"


def view_shape(loaded: LoadedModel) -> tuple[int, int, int, int]:
    p = loaded.preprocess
    return (3, p.num_frames, p.img_size, p.img_size)


def setting_gmacs(encoder: torch.nn.Module, shape: tuple[int, int, int, int], grid: Grid | None) -> tuple[float, str]:
    """GMACs per view: the analytic formula, ATS's upper bound, or a count on a zero clip; and a note."""
    from mmlookup.bench.flops import analytic_gmacs, gmacs_per_view

    if hasattr(encoder, "set_budget"):
        return ats_max_gmacs(encoder, shape), ", upper bound"
    return gmacs_per_view(encoder, shape, grid), "" if analytic_gmacs(encoder, shape, grid=grid) is not None \
        else ", counted"


def ats_max_gmacs(encoder: torch.nn.Module, shape: tuple[int, int, int, int]) -> float:
    """ATS's largest cost: each sampling layer keeps ``min(K, tokens in)`` patch tokens (no duplicates), the MLP and
    the next layers run on them (same per-layer terms as EViT's formula in :mod:`mmlookup.bench.flops`)."""
    from mmlookup.bench.flops import tubelet_macs
    from mmlookup.encoders.ats import resolve_budget

    c, t, h, w = shape
    pe = encoder.patch_embed
    g = pe.grid_for(t, h, w)
    n = g[0] * g[1] * g[2]
    d, p0 = encoder.embed_dim, encoder.num_prefix_tokens
    total = tubelet_macs(n, d, c, 1 if t == 1 else pe.tubelet_size, pe.patch_size)
    n_in = n + p0
    for blk in encoder.blocks:
        n_out = n_in
        if getattr(blk, "sample", False) and n_in >= 2:
            n_out = min(n_in, resolve_budget(blk.budget, n) + p0)
        total += 2 * n_in * n_in * d + 4 * n_in * d * d + 8 * n_out * d * d
        n_in = n_out
    return total / 1e9


def current_setting(loaded: LoadedModel, model: VideoClassifier | None = None, grid: Grid | None = None) -> Setting:
    """The setting ``model`` (default: the loaded one) runs at now."""
    enc = (model or loaded.model).encoder
    fam = loaded.family if model is None or model is loaded.model else _family_of(enc)
    name = loaded.encoder if model is None or model is loaded.model else enc.encoder_config["name"]
    kwargs: dict[str, Any] = {}
    label = "-"
    if fam == "lookupvit":
        grid = grid or (loaded.grids[0] if loaded.grids else getattr(enc, "grid", None))
        label = "grid " + "x".join(map(str, grid)) if grid else "-"
    elif hasattr(enc, "set_keep_rate"):
        kwargs = {"keep_rate": float(enc.keep_rate)}
        label = f"keep {enc.keep_rate:g}"
    elif hasattr(enc, "set_r"):
        r = enc.blocks[0].r
        kwargs, label = {"r": r}, f"r {r}"
    elif hasattr(enc, "set_budget"):
        b = enc.blocks[-1].budget
        kwargs, label = {"budget": b}, f"budget {b if b is not None else 'all'}"
    gmacs, note = setting_gmacs(enc, view_shape(loaded), grid if fam == "lookupvit" else None)
    return Setting(name, fam, label, kwargs, grid if fam == "lookupvit" else None, gmacs, gmacs_note=note)


def _family_of(encoder: torch.nn.Module) -> str:
    return encoder.encoder_config["name"].split("_")[0]


def apply(loaded: LoadedModel, setting: Setting) -> VideoClassifier:
    """A classifier running ``setting``: the loaded one with its knob set, or, for another family of the ViT line
    (a sweep's choice), a new encoder of that family carrying the same weights (training-free, DESIGN §5)."""
    model = loaded.model
    enc = model.encoder
    if setting.encoder == enc.encoder_config["name"] or setting.family == loaded.family:
        _set_knob(enc, setting.kwargs)
        return model
    from mmlookup.encoders.reducing import vit_geometry
    from mmlookup.registry import create_encoder

    if not hasattr(enc, "blocks") or loaded.family == "lookupvit":
        raise ValueError(f"cannot run {loaded.encoder}'s weights as {setting.encoder}")
    new = create_encoder(setting.encoder, **{**vit_geometry(enc), **setting.kwargs})
    new.load_state_dict(enc.state_dict())
    out = VideoClassifier(new, model.head, model.class_names)
    p = next(model.parameters())
    return out.to(device=p.device, dtype=p.dtype).eval()


def _set_knob(enc: torch.nn.Module, kwargs: dict[str, Any]) -> None:
    if "keep_rate" in kwargs:
        enc.set_keep_rate(kwargs["keep_rate"])
    if "r" in kwargs:
        enc.set_r(kwargs["r"])
    if "budget" in kwargs:
        enc.set_budget(kwargs["budget"])


def candidates(loaded: LoadedModel) -> list[Setting]:
    """The settings to choose from, most accurate first (see the module docstring)."""
    if loaded.sweep is not None:
        return sweep_settings(loaded)
    enc, shape, fam, name = loaded.model.encoder, view_shape(loaded), loaded.family, loaded.encoder
    out: list[Setting] = []
    if fam == "lookupvit":
        grids = loaded.grids or ((getattr(enc, "grid", None),) if getattr(enc, "grid", None) else ())
        for g in sorted(grids, key=lambda g: -math.prod(g)):
            out.append(Setting(name, fam, "grid " + "x".join(map(str, g)), {}, tuple(g),
                               setting_gmacs(enc, shape, tuple(g))[0]))
        return out
    knob = ("keep_rate", EVIT_RATES, "keep") if hasattr(enc, "set_keep_rate") else \
        ("budget", ATS_BUDGETS, "budget") if hasattr(enc, "set_budget") else None
    if hasattr(enc, "set_r"):
        knob = ("r", tuple(range(0, _max_r(enc, shape) + 1)), "r")
    if knob is None:
        return [current_setting(loaded)]
    key, values, word = knob
    old = current_setting(loaded).kwargs
    try:
        for v in values:
            _set_knob(enc, {key: v})
            g, note = setting_gmacs(enc, shape, None)
            out.append(Setting(name, fam, f"{word} {v:g}", {key: v}, None, g, gmacs_note=note))
    finally:
        _set_knob(enc, old)
    return out


def _max_r(enc: torch.nn.Module, shape: tuple[int, int, int, int]) -> int:
    g = enc.patch_embed.grid_for(*shape[1:])
    return math.prod(g) // 2


def sweep_settings(loaded: LoadedModel) -> list[Setting]:
    """The rows of the model's sweep as settings, most accurate first (ties: cheaper first)."""
    import json

    data = json.loads(loaded.sweep.read_text())
    out = []
    for row in data.get("rows", []):
        kwargs, grid = _parse_setting(row["family"], row["setting"])
        out.append(Setting(row["encoder"], row["family"], row["setting"], kwargs, grid, float(row["gmacs"]),
                           float(row["top1"]), gmacs_note=", counted in the sweep"))
    if not out:
        raise ValueError(f"{loaded.sweep} holds no rows")
    return sorted(out, key=lambda s: (-(s.top1 or 0.0), s.gmacs))


def _parse_setting(family: str, text: str) -> tuple[dict[str, Any], Grid | None]:
    word, _, value = text.partition(" ")
    if word == "grid":
        return {}, tuple(int(v) for v in value.split("x"))
    if word == "keep":
        return {"keep_rate": float(value)}, None
    if word == "r":
        return {"r": int(value)}, None
    if word == "budget":
        return {"budget": None if value == "all" else float(value) if "." in value else int(value)}, None
    return {}, None


def check_budget(value: float, option: str) -> float:
    """A compute budget is a finite number > 0 (``nan`` compares false with everything, so it would pass ``<= 0``).

    Raises:
        ValueError: naming ``option`` and the value given.
    """
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{option} must be a finite number > 0, got {value:g}")
    return value


def choose_by_gmacs(loaded: LoadedModel, budget: float) -> Setting:
    """The most accurate setting whose GMACs per view are at most ``budget``.

    Raises:
        ValueError: no setting fits (the message names the cheapest one).
    """
    check_budget(budget, "--gmacs-budget")
    if loaded.sweep is None and loaded.family == "tome":
        from mmlookup.encoders.tome import r_for_gmacs

        enc, shape = loaded.model.encoder, view_shape(loaded)
        r = r_for_gmacs(enc, budget, shape)
        old = current_setting(loaded).kwargs
        try:
            _set_knob(enc, {"r": r})
            g, _ = setting_gmacs(enc, shape, None)
        finally:
            _set_knob(enc, old)
        if g > budget:
            raise ValueError(f"no setting of {loaded.encoder} fits {budget:g} GMACs per view: the cheapest, r {r}, "
                             f"costs {g:.4g}")
        return Setting(loaded.encoder, "tome", f"r {r}", {"r": r}, None, g)
    options = candidates(loaded)
    fits = [s for s in options if s.gmacs <= budget]
    if not fits:
        cheapest = min(options, key=lambda s: s.gmacs)
        raise ValueError(f"no setting of {loaded.encoder} fits {budget:g} GMACs per view: the cheapest, "
                         f"{cheapest.label}, costs {cheapest.gmacs:.4g}" +
                         ("" if len(options) > 1 else f" ({loaded.family} has no compute knob; run `mmlookup sweep` "
                          "on it to choose among EViT / ATS / ToMe on its weights)"))
    return fits[0]


def time_view_ms(model: VideoClassifier, grid: Grid | None, shape: tuple[int, int, int, int], device: torch.device,
                 dtype: torch.dtype, repeats: int = 3) -> float:
    """Median milliseconds of one forward pass on one view (batch 1) after one warm-up."""
    x = torch.randn(1, *shape, device=device, dtype=dtype)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 1):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(x, grid) if grid is not None else model(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i:
                times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


def choose_by_latency(loaded: LoadedModel, ms: float, device: torch.device, dtype: torch.dtype,
                      repeats: int = 3) -> tuple[Setting, float]:
    """The most accurate setting whose timed latency per view is at most ``ms``; with its latency.

    Raises:
        ValueError: none fits (the message names the fastest one timed).
    """
    check_budget(ms, "--latency-budget")
    shape = view_shape(loaded)
    timed: list[tuple[float, Setting]] = []
    for s in candidates(loaded):
        model = apply(loaded, s)
        latency = time_view_ms(model, s.grid, shape, device, dtype, repeats)
        if latency <= ms:
            return s, latency
        timed.append((latency, s))
    fastest = min(timed, key=lambda t: t[0])
    raise ValueError(f"no setting of {loaded.encoder} runs one view within {ms:g} ms on {device}: the fastest, "
                     f"{fastest[1].label}, took {fastest[0]:.1f} ms")
