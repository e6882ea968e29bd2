"""Token-reduction algorithms as small pure functions (EViT, ATS; reference notes: ``token_reduction.md``).

Nothing here owns parameters; the blocks in :mod:`mmlookup.encoders.evit` and :mod:`mmlookup.encoders.ats` call
these. Conventions: ``x (B, N, D)`` tokens with the CLS token at index 0; ``mask (B, N)`` bool, True where a token
is real (``None`` = all real); "patch" arrays ``(B, N - 1)`` cover tokens ``1..N-1`` (CLS excluded) and index
them from 0. Functions taking ``prefix`` also serve CLS-less encoders (``prefix=0``: every token is a patch).

**CLS-less extension (this project's, not the papers').** EViT and ATS rank tokens by the CLS token's attention.
A checkpoint without CLS (VideoMAE) has no such row, so :func:`query_attention` uses the attention that the *mean
query* pays, ``softmax(q̄ Kᵀ/√d)`` with ``q̄`` the mean of the real tokens' queries per head: one row, cost
``N·D``, like the CLS row, and, like it, a single global query whose attention says which tokens the layer reads.

**Fixed token shapes (export).** ATS's kept-token count depends on the clip, which a static graph (ONNX,
``torch.export``) cannot express. Under :func:`fixed_token_shapes` (and whenever ``torch.export`` traces) every
sampling layer keeps ``min(K, N)`` slots (``K`` sample points, ``N`` input patches): the distinct picks first, the
rest masked padding, so the tokens, mask and logits are those of the ragged computation; only the padded rows cost
work. ``searchsorted`` becomes a count of smaller CDF values and row-wise layers run on every row, padding zeroed;
the encoders' ``info["tokens_per_layer"]`` is then a tensor (no ``.tolist()`` in a traced graph).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable, Iterator

import torch

from mmlookup.layers.attention import key_padding_bias

# ---- shared -------------------------------------------------------------------------------------------------

_FIXED_SHAPES = False


@contextmanager
def fixed_token_shapes(enabled: bool = True) -> Iterator[None]:
    """Within the block, token counts depend on the input's shape only (see the module docstring)."""
    global _FIXED_SHAPES
    previous, _FIXED_SHAPES = _FIXED_SHAPES, enabled
    try:
        yield
    finally:
        _FIXED_SHAPES = previous


def fixed_shapes() -> bool:
    """True under :func:`fixed_token_shapes` or while ``torch.export`` traces."""
    return _FIXED_SHAPES or torch.compiler.is_exporting()


def searchsorted_left(sorted_seq: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``torch.searchsorted(sorted_seq, values, right=False)`` for rows ``(B, N)`` / ``(B, K)``; with fixed shapes,
    as the number of entries ``< value`` (the same index for a sorted row; ``(B, K, N)`` work, exportable)."""
    if not fixed_shapes():
        return torch.searchsorted(sorted_seq.contiguous(), values.contiguous(), right=False)
    return (sorted_seq[:, None, :] < values[:, :, None]).sum(dim=-1)


def cls_attention(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The CLS row of the attention, ``softmax(q_cls Kᵀ / √d)``, without forming the ``N × N`` matrix.

    Args:
        q: queries ``(B, h, N, d)`` (only row 0, the CLS query, is used) or ``(B, h, 1, d)``.
        k: keys ``(B, h, N, d)``.
        mask: optional ``(B, N)`` key mask; masked keys get weight exactly 0.

    Returns:
        ``(B, h, N)`` post-softmax weights (float32, or float64 for float64 input) of the CLS query over all keys
        (CLS included); rows sum to 1.
    """
    logits = (q[:, :, :1] * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)    # (B, h, 1, N): cost N·D
    if logits.dtype != torch.float64:
        logits = logits.float()                                             # scores in fp32 under bf16 autocast
    bias = key_padding_bias(mask, logits.dtype)
    if bias is not None:
        logits = logits + bias
    return logits.softmax(dim=-1).squeeze(2)


def mean_query_attention(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``softmax(q̄ Kᵀ / √d)``: the attention of the mean real query over all keys, ``(B, h, N)`` (CLS-less scoring).

    ``q̄`` averages the queries of the real tokens (``mask``); masked keys get weight exactly 0.
    """
    if mask is None:
        q_mean = q.mean(dim=2, keepdim=True)
    else:
        m = mask[:, None, :, None].to(q.dtype)
        q_mean = (q * m).sum(dim=2, keepdim=True) / m.sum(dim=2, keepdim=True).clamp_min(1.0)
    return cls_attention(q_mean, k, mask)


def query_attention(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None, prefix: int) -> torch.Tensor:
    """The scoring row of EViT / ATS: the CLS row when there is a CLS token (``prefix=1``), else the mean query's."""
    return cls_attention(q, k, mask) if prefix else mean_query_attention(q, k, mask)


def gather_tokens(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``x[b, idx[b, j]]`` for ``x (B, N, ...)`` and ``idx (B, K)`` → ``(B, K, ...)``."""
    expand = idx.reshape(*idx.shape, *([1] * (x.ndim - 2))).expand(*idx.shape, *x.shape[2:])
    return torch.gather(x, 1, expand)


def apply_to_real(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """``fn`` applied row-wise to the real tokens only (padding rows of the result are zero).

    ``fn`` maps ``(..., D_in) → (..., D_out)`` per token (a LayerNorm, a linear layer, an MLP); padded rows of a
    ragged batch then cost nothing.
    """
    if mask is None:
        return fn(x)
    if fixed_shapes():                                        # every row: no data-dependent shape
        return fn(x) * mask.unsqueeze(-1).to(x.dtype)
    if bool(mask.all()):
        return fn(x)
    y = fn(x[mask])
    out = y.new_zeros(*mask.shape, y.shape[-1])
    out[mask] = y
    return out


# ---- EViT -----------------------------------------------------------------------------------------------------

def evit_keep_count(num_patch: int, keep_rate: float) -> int:
    """Tokens EViT keeps out of ``num_patch`` non-CLS tokens: ``ceil(ρ · num_patch)`` (at least 1)."""
    if not 0.0 < keep_rate <= 1.0:
        raise ValueError(f"keep rate must be in (0, 1], got {keep_rate}")
    return max(1, min(num_patch, math.ceil(keep_rate * num_patch - 1e-9)))


def topk_indices(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices ``(B, k)`` of the ``k`` largest ``scores (B, N)`` per row, in descending score order."""
    return torch.topk(scores, k, dim=1, largest=True, sorted=True).indices


def complement_indices(idx: torch.Tensor, n: int) -> torch.Tensor:
    """The indices of ``0..n-1`` not in ``idx (B, k)``, ascending, ``(B, n - k)``."""
    b, k = idx.shape
    taken = torch.zeros(b, n, dtype=torch.bool, device=idx.device).scatter_(1, idx, True)
    order = torch.argsort(taken.to(torch.int8), dim=1, stable=True)   # untaken (0) first, in index order
    return order[:, : n - k]


def fuse_tokens(x: torch.Tensor, weights: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """EViT's fused token ``Σ_j w_j x_j`` over ``j ∈ idx`` (un-normalised, as in the paper), ``(B, 1, D)``.

    Args:
        x: ``(B, N, D)`` tokens. weights: ``(B, N)`` per-token weights (head-mean CLS attention). idx: ``(B, m)``.
    """
    w = torch.gather(weights, 1, idx).unsqueeze(1)                     # (B, 1, m)
    return w.to(x.dtype) @ gather_tokens(x, idx)


def evit_reduce(
    x: torch.Tensor, cls_attn: torch.Tensor, keep: int, fuse: bool, prefix: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One EViT reduction: ``[CLS, top-keep patch tokens (descending attention), fused token?]``.

    Args:
        x: ``(B, N, D)`` residual-stream tokens after the attention residual, CLS first (``prefix`` tokens kept).
        cls_attn: ``(B, N - prefix)`` head-averaged CLS (or mean-query) attention over the patch tokens.
        keep: number of patch tokens to keep (``evit_keep_count``).
        fuse: append the attention-weighted sum of the dropped tokens as one extra token.
        prefix: leading non-patch tokens (1 = CLS, 0 = none).

    Returns:
        The reduced tokens, the kept patch indices ``(B, keep)`` and the dropped ones ``(B, N - prefix - keep)``.
    """
    patches = x[:, prefix:]
    keep_idx = topk_indices(cls_attn, keep)
    drop_idx = complement_indices(keep_idx, patches.shape[1])
    parts = [x[:, :prefix], gather_tokens(patches, keep_idx)]
    if fuse and drop_idx.shape[1] > 0:
        parts.append(fuse_tokens(patches, cls_attn, drop_idx))
    return torch.cat(parts, dim=1), keep_idx, drop_idx


# ---- ATS ------------------------------------------------------------------------------------------------------

def ats_scores(cls_attn: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None, prefix: int = 1
               ) -> torch.Tensor:
    """ATS significance of the patch tokens: ``Σ_h A_h[cls, j] · ‖v_j‖``, normalised to sum to 1.

    Args:
        cls_attn: ``(B, h, N)`` CLS (or mean-query) attention row (keys masked), CLS first.
        v: ``(B, h, N, d)`` values; ``‖v_j‖`` is the norm of the value concatenated over heads.
        mask: optional ``(B, N)``; padded tokens score exactly 0.
        prefix: leading non-patch tokens (1 = CLS, 0 = none), which are not scored.

    Returns:
        ``(B, N - prefix)`` scores of tokens ``prefix..N-1`` in float32 (float64 stays float64). A row whose raw
        scores are all zero falls back to uniform over its real tokens, so the sampler always has a distribution.
    """
    if cls_attn.dtype != torch.float64:
        cls_attn, v = cls_attn.float(), v.float()  # fp32: the CDF of ~10³ scores needs it under bf16
    v_norm = v.transpose(1, 2).flatten(2).norm(dim=-1)                 # (B, N)
    raw = (cls_attn.sum(dim=1) * v_norm)[:, prefix:]
    if mask is not None:
        raw = raw * mask[:, prefix:].to(raw.dtype)
    total = raw.sum(dim=1, keepdim=True)
    real = torch.ones_like(raw) if mask is None else mask[:, prefix:].to(raw.dtype)
    uniform = real / real.sum(dim=1, keepdim=True).clamp_min(1.0)
    return torch.where(total > 0, raw / total.clamp_min(torch.finfo(raw.dtype).tiny), uniform)


def sample_points(batch: int, num: int, *, generator: torch.Generator | None = None, stochastic: bool = False,
                  device=None, dtype=torch.float32) -> torch.Tensor:
    """``num`` points in (0, 1) per row: midpoints ``(k + ½) / num`` or, ``stochastic``, ``(k + u_b) / num``.

    The stochastic option (one uniform offset per sample, a stratified sample) is for training; inference is
    deterministic.
    """
    k = torch.arange(num, device=device, dtype=dtype).expand(batch, num)
    if stochastic:
        u = torch.rand(batch, 1, generator=generator, device=device, dtype=dtype)
    else:
        u = torch.full((batch, 1), 0.5, device=device, dtype=dtype)
    return (k + u) / num


def inverse_transform_sample(scores: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Deterministic inverse-transform sampling: the token each point of ``points`` lands on.

    Tokens are ordered by ascending score (ties by index) and their scores accumulated into a CDF ``c``;
    point ``y`` picks the first token with ``c ≥ y``, i.e. the token whose CDF interval ``(c_{m-1}, c_m]``
    holds ``y`` (the textbook inverse CDF). A token with score ``s`` receives about ``s·K`` of ``K`` evenly spaced
    points, so every token with ``s ≥ 1/K`` is kept and zero-score (padded) tokens never are.

    Args:
        scores: ``(B, N)`` non-negative scores summing to 1 per row.
        points: ``(B, K)`` points in (0, 1).

    Returns:
        ``(B, K)`` picked token indices into ``scores`` (with repeats).
    """
    sorted_scores, order = torch.sort(scores, dim=1, stable=True)
    cdf = sorted_scores.cumsum(dim=1)
    cdf = cdf / cdf[:, -1:].clamp_min(torch.finfo(cdf.dtype).tiny)     # exact 1 at the end despite rounding
    pos = searchsorted_left(cdf, points.to(cdf.dtype))
    pos = pos.clamp_max(scores.shape[1] - 1)
    return torch.gather(order, 1, pos)


def unique_picks(picks: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct picked indices per row, ascending, padded to the longest row (fixed shapes: to ``min(K, n)``).

    Args:
        picks: ``(B, K)`` indices in ``0..n-1`` with repeats.
        n: the number of candidate tokens.

    Returns:
        ``idx (B, K')`` (padding entries are 0) and ``valid (B, K')`` bool, ``K'`` the largest distinct count.
    """
    b = picks.shape[0]
    chosen = torch.zeros(b, n, dtype=torch.bool, device=picks.device).scatter_(1, picks, True)
    counts = chosen.sum(dim=1)
    width = min(picks.shape[1], n) if fixed_shapes() else (int(counts.max()) if b else 0)
    order = torch.argsort((~chosen).to(torch.int8), dim=1, stable=True)[:, :width]   # chosen first, in index order
    valid = torch.arange(width, device=picks.device)[None, :] < counts[:, None]
    return order.masked_fill(~valid, 0), valid


def nearest_cdf_sample(scores: torch.Tensor, num_samples: int) -> torch.Tensor:
    """ATS's official sampling rule: evenly spaced points on the min-max-normalised CDF, nearest CDF value each.

    Per row, tokens are sorted by ascending score (ties by index) and the scores accumulated into a CDF ``c``,
    normalised min-max over the tokens with a positive score: ``ĉ = (c − c_min) / (c_max − c_min)`` with ``c_min``
    the CDF at the lowest-scoring positive token, so ``ĉ`` runs from 0 to 1 (zero-score tokens, i.e. padding, lie
    below 0 and are never picked, whatever their number). The ``K`` points are ``y_k = y_0 + (1 − y_0)·k/(K − 1)``,
    ``y_0`` the smallest positive ``ĉ`` (``K = 1``: the single point 1), and each picks the token whose ``ĉ`` is
    nearest (on a tie, or among equal ``ĉ``, the earliest in the sorted order, as ``argmin`` does). The top token
    (``ĉ = 1``) is always kept and the lowest-scoring one (``ĉ = 0``) never, unless it is the only positive one.

    Nearest search is ``searchsorted`` plus a comparison of the two neighbours: ``O(K log N)``, no ``K × N`` array.

    Args:
        scores: ``(B, N)`` non-negative scores.
        num_samples: ``K ≥ 1``.

    Returns:
        ``(B, K)`` picked token indices into ``scores`` (with repeats).
    """
    b, n = scores.shape
    sorted_scores, order = torch.sort(scores, dim=1, stable=True)
    cdf = sorted_scores.cumsum(dim=1)
    inf = torch.full_like(cdf, math.inf)
    positive = sorted_scores > 0
    c_min = torch.where(positive, cdf, inf).amin(dim=1, keepdim=True)
    c_max = cdf[:, -1:]
    span = c_max - c_min
    ok = span > 0
    norm = torch.where(ok, (cdf - c_min) / torch.where(ok, span, torch.ones_like(span)),
                       torch.where(positive & (cdf >= c_max), 1.0, -1.0).to(cdf.dtype))
    norm = torch.where(positive, norm, torch.full_like(norm, -1.0))          # zero-score tokens: below every point
    y0 = torch.where(norm > 0, norm, inf).amin(dim=1, keepdim=True)
    y0 = torch.where(torch.isfinite(y0), y0, torch.ones_like(y0))              # a single positive token: y_0 = 1
    if num_samples == 1:
        points = torch.ones(b, 1, dtype=cdf.dtype, device=cdf.device)
    else:
        steps = torch.arange(num_samples, dtype=cdf.dtype, device=cdf.device) / (num_samples - 1)
        points = y0 + (1.0 - y0) * steps
    norm = norm.contiguous()
    hi = searchsorted_left(norm, points)                                       # first ĉ ≥ y
    lo = (hi - 1).clamp_min(0)
    hi = hi.clamp_max(n - 1)
    d_lo = points - torch.gather(norm, 1, lo)
    d_hi = torch.gather(norm, 1, hi) - points
    pick = torch.where((hi > lo) & (d_lo <= d_hi), lo, hi)
    first = searchsorted_left(norm, torch.gather(norm, 1, pick))              # earliest equal ĉ
    return torch.gather(order, 1, first)


SAMPLERS = ("official", "midpoint")


def ats_select(scores: torch.Tensor, num_samples: int, *, sampler: str = "official", stochastic: bool = False,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """ATS token selection: ``num_samples`` points on the score CDF, keep the distinct tokens hit.

    ``sampler="official"`` is :func:`nearest_cdf_sample` (the released ATS rule); ``"midpoint"`` places the points
    at ``(k + ½)/K`` (or, ``stochastic``, one random offset per row) and takes the first token with ``CDF ≥ y``
    (:func:`inverse_transform_sample`). Works for any budget: below, equal to or above the number of tokens
    (duplicates shrink the kept set).

    Returns:
        ``idx (B, K')`` patch-token indices (ascending, padded with 0) and ``valid (B, K')``.
    """
    if num_samples < 1:
        raise ValueError(f"ATS needs at least one sample point, got {num_samples}")
    if sampler == "official":
        if stochastic:
            raise ValueError("the official ATS sampler is deterministic; stochastic=True needs sampler='midpoint'")
        return unique_picks(nearest_cdf_sample(scores, num_samples), scores.shape[1])
    if sampler != "midpoint":
        raise ValueError(f"unknown ATS sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
    points = sample_points(
        scores.shape[0],
        num_samples,
        generator=generator,
        stochastic=stochastic,
        device=scores.device,
        dtype=torch.float64 if scores.dtype == torch.float64 else torch.float32,
    )
    return unique_picks(inverse_transform_sample(scores, points), scores.shape[1])


def with_cls(idx: torch.Tensor, valid: torch.Tensor, prefix: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Patch indices/valid flags → token indices with CLS (index 0) prepended and patch indices shifted by 1
    (unchanged when ``prefix`` is 0: no CLS token)."""
    if not prefix:
        return idx, valid
    b = idx.shape[0]
    cls_idx = torch.zeros(b, 1, dtype=idx.dtype, device=idx.device)
    cls_ok = torch.ones(b, 1, dtype=torch.bool, device=idx.device)
    return torch.cat([cls_idx, idx + 1], dim=1), torch.cat([cls_ok, valid], dim=1)


def real_counts(mask: torch.Tensor | None, batch: int, n: int) -> torch.Tensor:
    """Real tokens per sample ``(B,)`` (float)."""
    if mask is None:
        return torch.full((batch,), float(n))
    counts = mask.sum(dim=1).float()
    return counts if fixed_shapes() else counts.cpu()
