"""Fitting source tensors to a target encoder: 2-D to video layout, ViT to LookupViT, resizing, LayerNorm eps."""
from __future__ import annotations

import math
import re
from typing import Mapping

import torch
import torch.nn as nn

from mmlookup.checkpoints.hf_video import HF_ACTIVATIONS
from mmlookup.checkpoints.report import LoadReport, SourceMeta, StateDict, _require
from mmlookup.layers.pos_embed import resize_pos_embed_table
from mmlookup.layers.tubelet import inflate_patch_weight


class WeightShapeError(ValueError):
    """A checkpoint tensor that no known conversion fits to the model (weights of another architecture or size)."""


def image_to_native(src: StateDict, model: nn.Module, report: LoadReport, inflate: str) -> StateDict:
    """2-D ViT keys → our video ViT's: tubelet-inflated patch kernel, split and resized position table."""
    out = {k: v for k, v in src.items() if k.startswith(("blocks.", "norm."))}
    w = _require(src, "patch_embed.proj.weight")
    tubelet = model.patch_embed.tubelet_size
    out["patch_embed.proj.weight"] = inflate_patch_weight(w, tubelet, inflate)
    if "patch_embed.proj.bias" in src:
        out["patch_embed.proj.bias"] = src["patch_embed.proj.bias"]
    if tubelet > 1:
        report.notes.append(f"2-D patch kernel inflated to tubelet length {tubelet} ({inflate!r})")
    has_cls = "cls_token" in src
    if has_cls:
        out["cls_token"] = src["cls_token"]
    pos = _require(src, "pos_embed")
    prefix, side = _split_pos(pos, has_cls)
    pos_hw = pos[:, prefix:]
    grid = tuple(model.pos_embed.grid)
    if (side, side) != grid[1:]:
        pos_hw = resize_pos_embed_table(pos_hw, (side, side), grid[1:])
        report.resized.append(f"pos_embed {side}x{side} -> {grid[1]}x{grid[2]}")
    if has_cls:
        out["cls_pos"] = pos[:, :1] if prefix else torch.zeros_like(src["cls_token"])
    if model.pos_embed.separable:
        out["pos_embed.pos_hw"] = pos_hw
        out["pos_embed.pos_t"] = pos.new_zeros(1, grid[0], pos.shape[-1])
        report.notes.append("pos_embed.pos_t set to zero (a 2-D source has no time axis)")
    else:
        out["pos_embed.pos_embed"] = pos_hw.unsqueeze(1).expand(-1, grid[0], -1, -1).reshape(1, -1, pos.shape[-1])
    return out


def _split_pos(pos: torch.Tensor, has_cls: bool) -> tuple[int, int]:
    """Number of prefix rows (0 or 1) and the side of the square patch grid of a 2-D position table."""
    if pos.ndim != 3:
        raise ValueError(f"pos_embed: expected (1, n, D), got shape {tuple(pos.shape)}")
    n = pos.shape[1]
    for prefix in ((1, 0) if has_cls else (0,)):
        side = math.isqrt(n - prefix)
        if side * side == n - prefix:
            return prefix, side
    raise ValueError(f"pos_embed: {n} rows are not a square patch grid (plus a CLS row); unsupported source")


def vit_to_lookupvit(native: StateDict, report: LoadReport) -> StateDict:
    """ViT layout → LookupViT: blocks become the compressed stream's ``refine`` blocks, ``norm`` its final norm."""
    out: StateDict = {}
    for k, v in native.items():
        m = re.fullmatch(r"blocks\.(\d+)\.(.+)", k)
        if m:
            out[f"blocks.{m.group(1)}.refine.{m.group(2)}"] = v
        elif k.startswith("norm."):
            out["norm_compressed." + k[len("norm."):]] = v
        elif k in ("cls_token", "cls_pos"):
            report.ignored.append(k)
        else:
            out[k] = v
    report.notes.append(
        "LookupViT: ViT blocks -> compressed-stream refine blocks, final norm -> norm_compressed; "
        "cross-attention (q, kv, proj_p, v_p, proj_l, norms) and the D/2 lookup MLP are newly initialised"
    )
    return out


def fit_to_model(native: StateDict, target: Mapping[str, torch.Tensor], report: LoadReport, inflate: str) -> StateDict:
    """Tensors of ``native`` shaped for ``target``: position tables resized, tubelet kernels re-inflated.

    A key the model lacks is ignored (and reported); any other shape difference is an error naming the tensor.
    """
    out: StateDict = {}
    for k, v in native.items():
        if k not in target:
            report.ignored.append(k)
            continue
        want = target[k].shape
        if v.shape != want:
            v = _reshape_known(k, v, want, report, inflate)
        out[k] = v.to(target[k].dtype)
    return out


def _reshape_known(key: str, v: torch.Tensor, want: torch.Size, report: LoadReport, inflate: str) -> torch.Tensor:
    name = key.rsplit(".", 1)[-1]
    if name in ("pos_t", "pos_hw", "pos_embed") and v.ndim == 3 and v.shape[-1] == want[-1]:
        if name == "pos_t":
            old, new = (v.shape[1],), (want[1],)
        elif name == "pos_hw":
            old, new = _square(key, v.shape[1]), _square(key, want[1])
        else:
            raise ValueError(f"{key}: a joint position table of {v.shape[1]} rows cannot be resized to {want[1]} "
                             "without its grid; use separable position embeddings or the same geometry")
        report.resized.append(f"{key} {'x'.join(map(str, old))} -> {'x'.join(map(str, new))}")
        return resize_pos_embed_table(v, old, new)
    if key.endswith("patch_embed.proj.weight") and v.ndim == 5 and v.shape[:2] + v.shape[3:] == want[:2] + want[3:]:
        report.resized.append(f"{key} tubelet {v.shape[2]} -> {want[2]}")
        return inflate_patch_weight(v.sum(dim=2), want[2], inflate)
    raise WeightShapeError(f"shape mismatch for {key}: checkpoint {tuple(v.shape)} vs model {tuple(want)}")


def _square(key: str, n: int) -> tuple[int, int]:
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"{key}: {n} rows are not a square grid; cannot resize")
    return side, side


def _check_activation(model: nn.Module, meta: SourceMeta) -> None:
    """The source's activation must be the target's (every ``nn.GELU`` in it: exact, or the tanh approximation)."""
    if meta.hidden_act is None:
        return
    want = HF_ACTIVATIONS.get(meta.hidden_act)
    have = {"gelu_tanh" if m.approximate == "tanh" else "gelu" for m in model.modules() if isinstance(m, nn.GELU)}
    if want is None or have - {want}:
        raise ValueError(f"the source uses activation {meta.hidden_act!r}; the target uses {', '.join(sorted(have))} "
                         f"(build it with act_layer={want!r})" if want else
                         f"the source uses activation {meta.hidden_act!r}; supported: {', '.join(HF_ACTIVATIONS)}")


def _set_layer_norm_eps(model: nn.Module, eps: float | None, report: LoadReport) -> None:
    if eps is None:
        return
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    if any(m.eps != eps for m in norms):
        for m in norms:
            m.eps = float(eps)
        report.notes.append(f"LayerNorm eps set to {eps:g} to match the source (ours defaults to 1e-6)")
