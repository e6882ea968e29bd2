"""What an encoder did with its tokens, as maps over the token grid (no drawing here).

* EViT / ATS: which patch tokens are still there after each reduction layer (a 0/1 mask over the tubelet grid),
  with the token count the encoder itself reported for that layer;
* LookupViT: the gather attention ``softmax_N(S)`` of chosen compressed tokens, and its mean over all compressed
  tokens, per block (a heat map over the lookup-token grid, heads averaged);
* plain video ViT: the CLS token's attention per layer (heads averaged).

Every map lives on the encoder's token grid ``(t, h, w)``; :func:`to_pixels` spreads it over the frames: token
``(i, j, k)`` covers frames ``i·t_s … (i+1)·t_s − 1`` (one frame for an image) and the ``p × p`` pixels of its
patch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn as nn

Grid = tuple[int, int, int]


@dataclass
class TokenMap:
    """One map over the token grid.

    Attributes:
        label: a short caption for the picture (layer, token, counts).
        kind: ``"mask"`` (1 = token kept) or ``"heat"`` (non-negative attention weights).
        values: ``(t, h, w)`` float tensor on the token grid.
        layer: 0-indexed encoder layer (block) the map comes from.
        kept: masks: the number of patch tokens drawn as kept.
        reported: masks: the token count the encoder reported at this layer (``tokens_per_sample``: CLS and a
            fused token included).
        extra_tokens: masks: the reported tokens that are not patches (CLS, EViT's fused token), so
            ``kept + extra_tokens == reported``.
        query: LookupViT heat maps: the flat index of the compressed token (``None`` = mean of all of them).
        query_box: the chosen compressed token's cell as fractions ``(t0, t1, y0, y1, x0, x1)`` of the clip.
    """

    label: str
    kind: str
    values: torch.Tensor
    layer: int
    kept: int | None = None
    reported: int | None = None
    extra_tokens: int | None = None
    query: int | None = None
    query_box: tuple[float, float, float, float, float, float] | None = None


@dataclass
class TokenMaps:
    """All maps of one clip, with the geometry needed to place them on the frames.

    Attributes:
        encoder: the encoder's class name (``LookupViT``, ``EViT``, ``ATS``, ``VideoViT``).
        grid: the token grid ``(t, h, w)`` the maps live on.
        tubelet: ``(t_s, p, p)``: frames and pixels per token (``t_s = 1`` for an image).
        maps: the maps, in drawing order.
        notes: one-line facts for the picture's title (compressed grid, keep rate, budget).
    """

    encoder: str
    grid: Grid
    tubelet: tuple[int, int, int]
    maps: list[TokenMap]
    notes: list[str] = field(default_factory=list)


def token_maps(encoder: nn.Module, video: torch.Tensor, *, grid: Grid | None = None,
               layers: Sequence[int] | None = None,
               queries: Sequence[int] | None = None) -> TokenMaps:
    """Maps of ``encoder`` on one clip ``video (1, C, T, H, W)`` (an image is ``T = 1``).

    Args:
        encoder: a LookupViT, EViT, ATS or video ViT encoder (put in eval mode here).
        video: the normalised input clip, batch of one.
        grid: LookupViT compressed grid (default: the encoder's).
        layers: which layers to show (default: EViT/ATS the reduction layers, others every layer).
        queries: LookupViT compressed tokens to show besides the mean (flat indices; default the centre one).

    Raises:
        ValueError: on a batch other than one, an unknown layer or query, or an encoder this module cannot read.
    """
    from mmlookup.encoders.lookupvit import LookupViT
    from mmlookup.encoders.reducing import ReducingViT
    from mmlookup.encoders.vit import VideoViT

    if video.ndim != 5 or video.shape[0] != 1:
        raise ValueError(f"token maps take one clip (1, C, T, H, W), got shape {tuple(video.shape)}")
    encoder.eval()
    if isinstance(encoder, LookupViT):
        return lookup_gather_maps(encoder, video, grid=grid, layers=layers, queries=queries)
    if grid is not None:
        raise ValueError(f"{type(encoder).__name__} has no compressed grid; --grid is for LookupViT encoders")
    if isinstance(encoder, ReducingViT):
        return kept_token_masks(encoder, video, layers=layers)
    if isinstance(encoder, VideoViT):
        return cls_attention_maps(encoder, video, layers=layers)
    raise ValueError(f"no token maps for {type(encoder).__name__}; supported: LookupViT, EViT, ATS, VideoViT")


def tubelet_of(encoder: nn.Module, num_frames: int) -> tuple[int, int, int]:
    """Frames and pixels one token covers: ``(t_s, p, p)``, with ``t_s = 1`` for an image."""
    pe = encoder.patch_embed
    return (1 if num_frames == 1 else pe.tubelet_size, pe.patch_size, pe.patch_size)


def _check_layers(layers: Sequence[int] | None, default: Sequence[int], depth: int) -> list[int]:
    chosen = list(default if layers is None else layers)
    bad = [i for i in chosen if not 0 <= i < depth]
    if bad or not chosen:
        raise ValueError(f"layers {bad or chosen} are not valid; this encoder has layers 0..{depth - 1}")
    return chosen


# ---- EViT / ATS ------------------------------------------------------------------------------------------------

def kept_token_masks(encoder: nn.Module, video: torch.Tensor, *, layers: Sequence[int] | None = None) -> TokenMaps:
    """Masks of the patch tokens still present after each reduction layer of an EViT or ATS encoder.

    The kept positions come from ``info["kept_indices_per_layer"]`` when the encoder reports it, else from the
    ``pos`` each reducing block returns (its index of every token in the input sequence: CLS 0, patch ``i`` at
    ``i + 1``, fused or padding −1), recorded with forward hooks.
    """
    default = getattr(encoder, "reduce_layers", None) or getattr(encoder, "sample_layers", None) or range(encoder.depth)
    chosen = _check_layers(layers, default, encoder.depth)
    per_layer: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def hook(layer: int):
        def fn(_module, _args, output):
            mask, pos = output[1], output[2]
            per_layer[layer] = (pos.detach(), None if mask is None else mask.detach())
        return fn

    handles = [encoder.blocks[i].register_forward_hook(hook(i)) for i in chosen]
    try:
        with torch.no_grad():
            out = encoder(video)
    finally:
        for h in handles:
            h.remove()
    info = out.info
    token_grid = tuple(info["grid"])
    n = token_grid[0] * token_grid[1] * token_grid[2]
    reported = info["tokens_per_sample"][0]
    reported_list = info.get("kept_indices_per_layer")
    maps = []
    for layer in chosen:
        if reported_list is not None:
            pos, real = reported_list[layer][0], None
        else:
            pos, mask = per_layer[layer]
            pos, real = pos[0], (None if mask is None else mask[0])
        if real is not None:
            pos = pos[real]
        pos = pos[pos >= 0]
        patches = pos[pos >= encoder.num_prefix_tokens] - encoder.num_prefix_tokens
        values = torch.zeros(n)
        values[patches] = 1.0
        kept = int(values.sum())
        count = int(reported[layer])
        maps.append(TokenMap(label=f"layer {layer}: {kept}/{n} kept", kind="mask", values=values.view(token_grid),
                             layer=layer, kept=kept, reported=count, extra_tokens=count - kept))
    notes = []
    if hasattr(encoder, "keep_rate"):
        notes.append(f"keep rate {encoder.keep_rate:g}")
    budget = getattr(encoder.blocks[chosen[0]], "budget", "absent")
    if budget != "absent":
        notes.append(f"budget {'all tokens' if budget is None else budget}")
    return TokenMaps(type(encoder).__name__, token_grid, tubelet_of(encoder, video.shape[2]), maps, notes)


# ---- LookupViT -------------------------------------------------------------------------------------------------

def lookup_gather_maps(encoder: nn.Module, video: torch.Tensor, *, grid: Grid | None = None,
                       layers: Sequence[int] | None = None, queries: Sequence[int] | None = None) -> TokenMaps:
    """Gather attention of LookupViT's compressed tokens over the lookup tokens, per block, heads averaged."""
    chosen = _check_layers(layers, range(encoder.depth), encoder.depth)
    with torch.no_grad():
        out = encoder(video, grid=grid, return_attn=True)
    lookup_grid, cgrid = tuple(out.info["lookup_grid"]), tuple(out.info["grid"])
    m = cgrid[0] * cgrid[1] * cgrid[2]
    qs = [centre_index(cgrid)] if queries is None else list(queries)
    bad = [q for q in qs if not 0 <= q < m]
    if bad:
        raise ValueError(f"compressed tokens {bad} do not exist; the grid {'x'.join(map(str, cgrid))} has "
                         f"tokens 0..{m - 1}")
    maps = []
    for layer in chosen:
        weights = out.info["attn"][layer][0].float().mean(dim=0)          # (M, N), rows sum to 1
        maps.append(TokenMap(label=f"layer {layer}: mean of {m} compressed", kind="heat",
                             values=weights.mean(dim=0).view(lookup_grid), layer=layer))
        for q in qs:
            t, h, w = cell_of(q, cgrid)
            box = (t / cgrid[0], (t + 1) / cgrid[0], h / cgrid[1], (h + 1) / cgrid[1], w / cgrid[2], (w + 1) / cgrid[2])
            maps.append(TokenMap(label=f"layer {layer}: compressed {q} ({t},{h},{w})", kind="heat",
                                 values=weights[q].view(lookup_grid), layer=layer, query=q, query_box=box))
    notes = [f"compressed grid {'x'.join(map(str, cgrid))} over lookup grid {'x'.join(map(str, lookup_grid))}"]
    return TokenMaps(type(encoder).__name__, lookup_grid, tubelet_of(encoder, video.shape[2]), maps, notes)


def centre_index(grid: Grid) -> int:
    """Flat index of the middle cell of a ``(t, h, w)`` grid."""
    t, h, w = grid
    return ((t // 2) * h + h // 2) * w + w // 2


def cell_of(index: int, grid: Grid) -> Grid:
    """``(t, h, w)`` cell of a flat index into ``grid`` (row-major, as the encoders flatten tokens)."""
    _, h, w = grid
    return index // (h * w), (index // w) % h, index % w


# ---- plain ViT -------------------------------------------------------------------------------------------------

def cls_attention_maps(encoder: nn.Module, video: torch.Tensor, *, layers: Sequence[int] | None = None) -> TokenMaps:
    """The CLS token's attention over the patch tokens per layer (without CLS: attention each token receives)."""
    chosen = _check_layers(layers, range(encoder.depth), encoder.depth)
    with torch.no_grad():
        out = encoder(video, return_attn=True)
    token_grid = tuple(out.info["grid"])
    k = encoder.num_prefix_tokens
    maps = []
    for layer in chosen:
        weights = out.info["attn"][layer][0].float().mean(dim=0)          # (N', N')
        values = weights[0, k:] if k else weights.mean(dim=0)
        what = "CLS attention" if k else "attention received"
        maps.append(TokenMap(label=f"layer {layer}: {what}", kind="heat", values=values.reshape(token_grid),
                             layer=layer))
    return TokenMaps(type(encoder).__name__, token_grid, tubelet_of(encoder, video.shape[2]), maps)


# ---- placing maps on the frames --------------------------------------------------------------------------------

def to_pixels(values: torch.Tensor, tubelet: tuple[int, int, int], size: tuple[int, int, int]) -> torch.Tensor:
    """Spread a ``(t, h, w)`` token map over ``size = (T, H, W)`` frames: each token fills its tubelet.

    The encoders reject clips whose size is not a whole number of tubelets, so the sizes match exactly; any
    remainder would repeat the last token.
    """
    ts, ph, pw = tubelet
    x = values.repeat_interleave(ts, 0).repeat_interleave(ph, 1).repeat_interleave(pw, 2)
    t, h, w = size
    idx = [torch.arange(s).clamp_max(x.shape[d] - 1) for d, s in enumerate((t, h, w))]
    return x[idx[0]][:, idx[1]][:, :, idx[2]]
