"""Token merging (ToMe: Bolya et al., ICLR 2023) as small pure functions; :mod:`mmlookup.encoders.tome` wires them in.

Written from the paper and from the facts of the official matching (the official code is under a non-commercial
licence; none of it was copied). One merge step on a sequence of ``N`` tokens:

1. **Bipartite soft matching.** Split the tokens by alternation into ``A`` (positions 0, 2, 4, …) and ``B``
   (1, 3, 5, …); score every ``A``–``B`` pair by the cosine similarity of their keys (averaged over heads); draw one
   edge from each ``A`` token to its most similar ``B`` token; keep the ``r`` edges of highest similarity
   (ties go to the lower ``A`` index, so the result depends on nothing but the inputs). With ``protect_first``
   (a CLS token at position 0, which then sits in ``A``) the first token's scores are −∞: it is never merged, as in
   the official code.
2. **Merge.** Each kept edge folds its ``A`` token into its ``B`` token (several may share one destination) by a
   size-weighted average, ``x_b ← (s_b x_b + Σ s_a x_a) / (s_b + Σ s_a)``, where a token's *size* ``s`` counts the
   input tokens it stands for; sizes add up.
3. **Concatenate** the unmerged ``A`` tokens and all of ``B``: ``N − r`` tokens. The unmerged ``A`` tokens are in
   input order when ``sort_kept`` (the official code sorts them when there is a CLS token, so CLS stays first) and
   in descending order of their best similarity otherwise (the official order without a CLS token).

``r`` is capped at ``⌊(N − protected)/2⌋`` (at most half of the mergeable tokens per step). The similarity matrix is
``⌈N/2⌉ × ⌊N/2⌋`` (cost ``⌈N/2⌉·⌊N/2⌋·d_head`` MACs): inherent to the method, and a quarter of an attention map.
Conventions: ``x (B, N, D)``; index tensors ``(B, ·)`` index ``A`` or ``B`` (not the full sequence) as named.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from mmlookup.encoders.token_ops import gather_tokens


class MergePlan(NamedTuple):
    """Which tokens one merge step folds together.

    Attributes:
        src: ``(B, r)`` indices into ``A`` of the tokens merged away (in descending similarity).
        dst: ``(B, r)`` indices into ``B`` of the token each ``src`` merges into.
        keep: ``(B, |A| − r)`` indices into ``A`` of the unmerged ``A`` tokens (ascending when ``sort_kept``).
    """

    src: torch.Tensor
    dst: torch.Tensor
    keep: torch.Tensor

    @property
    def r(self) -> int:
        return self.src.shape[1]


def merge_count(num_tokens: int, r: int) -> int:
    """Merges one step performs on ``num_tokens`` mergeable tokens (CLS excluded): ``min(r, ⌊num_tokens/2⌋)``."""
    if r < 0:
        raise ValueError(f"ToMe merges r must be >= 0, got {r}")
    return min(int(r), num_tokens // 2)


def matching_macs(num_tokens: int, head_dim: int) -> int:
    """MACs of the similarity matrix of one merge step on ``N`` matched tokens: ``⌈N/2⌉ · ⌊N/2⌋ · d_head``."""
    return ((num_tokens + 1) // 2) * (num_tokens // 2) * head_dim


def bipartite_soft_matching(metric: torch.Tensor, r: int, *, protect_first: bool = False,
                            sort_kept: bool = True) -> MergePlan:
    """Plan one merge step from ``metric (B, N, C)`` (head-mean keys); see the module docstring.

    Args:
        metric: the tokens' keys averaged over heads, in sequence order.
        r: merges wanted; capped at ``⌊(N − protect_first)/2⌋`` (:func:`merge_count`).
        protect_first: token 0 (a CLS token, in ``A``) gets a −∞ score and is never merged.
        sort_kept: unmerged ``A`` tokens in input order (else in descending order of their best similarity).

    The plan is integer indices only (no gradient flows through it).
    """
    n = metric.shape[1]
    r = merge_count(n - int(protect_first), r)
    m = F.normalize(metric.float() if metric.dtype != torch.float64 else metric, dim=-1)
    scores = m[:, 0::2] @ m[:, 1::2].transpose(1, 2)                      # (B, |A|, |B|) cosine similarities
    best, best_b = scores.max(dim=-1)                                      # each A token's edge into B
    if protect_first:
        best[:, 0] = -math.inf                                             # CLS: never a source
    order = torch.argsort(best, dim=1, descending=True, stable=True)       # stable: ties by A index
    src = order[:, :r]
    keep = order[:, r:].sort(dim=1).values if sort_kept else order[:, r:]
    return MergePlan(src=src, dst=torch.gather(best_b, 1, src), keep=keep)


def merge_weighted(x: torch.Tensor, size: torch.Tensor, plan: MergePlan) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``plan`` to ``x (B, N, D)`` with sizes ``size (B, N)``: size-weighted means, sizes summed.

    Returns the merged tokens ``(B, N − r, D)`` (unmerged ``A`` first, then ``B``) and their sizes. Only the ``r``
    merged rows are computed beyond one gather of the output: a destination of new size ``S = s_b + Σ s_a`` becomes
    ``x_b + Σ (s_a / S)(x_a − x_b)``, the size-weighted mean written as an update (one pass over ``N·D`` instead of
    weighting, scattering and dividing every token; equal to the direct form to float rounding).
    """
    if plan.r == 0:
        return x, size
    b, n, d = x.shape
    n_keep = plan.keep.shape[1]
    sa, sb = size[:, 0::2], size[:, 1::2]
    s_src = torch.gather(sa, 1, plan.src)
    sb = sb.scatter_add(1, plan.dst, s_src)                                 # destination sizes after the merge
    out = gather_tokens(x, output_order(plan, n))
    step = gather_tokens(x, 2 * plan.src) - gather_tokens(x, 2 * plan.dst + 1)        # x_a − x_b per edge, (B, r, D)
    step = step * (s_src / torch.gather(sb, 1, plan.dst)).to(x.dtype).unsqueeze(-1)
    out.scatter_add_(1, (n_keep + plan.dst).unsqueeze(-1).expand(-1, -1, d), step)
    return out, torch.cat([torch.gather(sa, 1, plan.keep), sb], dim=1)


def output_order(plan: MergePlan, num_tokens: int) -> torch.Tensor:
    """``(B, N − r)``: the input position of each token after ``plan`` (unmerged ``A``, then every ``B``)."""
    nb = num_tokens // 2
    to_b = torch.arange(1, 2 * nb, 2, device=plan.keep.device).expand(plan.keep.shape[0], nb)
    return torch.cat([2 * plan.keep, to_b], dim=1)


def merge_plain(t: torch.Tensor, plan: MergePlan) -> torch.Tensor:
    """The token order after ``plan`` for a per-token tensor ``t (B, N, ...)``: each kept or destination token's own
    entry (e.g. its input position), no averaging."""
    if plan.r == 0:
        return t
    return gather_tokens(t, output_order(plan, t.shape[1]))


def new_index(plan: MergePlan, num_tokens: int) -> torch.Tensor:
    """``(B, N)``: the index after ``plan`` of the token each of the ``N`` tokens is (or is merged into)."""
    b, n_keep = plan.keep.shape[0], plan.keep.shape[1]
    device = plan.keep.device
    na, nb = (num_tokens + 1) // 2, num_tokens // 2
    to_a = torch.empty(b, na, dtype=torch.long, device=device)
    to_a.scatter_(1, plan.keep, torch.arange(n_keep, device=device).expand(b, n_keep))
    to_a.scatter_(1, plan.src, n_keep + plan.dst)
    to_b = (n_keep + torch.arange(nb, device=device)).expand(b, nb)
    out = torch.empty(b, num_tokens, dtype=torch.long, device=device)
    out[:, 0::2], out[:, 1::2] = to_a, to_b
    return out


def size_bias(size: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Proportional attention: ``log s`` per key as an additive ``(B, 1, 1, N)`` attention bias.

    A token of size ``s`` then weighs in the softmax as ``s`` copies of itself would.
    """
    return size.log().to(dtype)[:, None, None, :]
