"""Out-of-distribution detection metrics on per-sample scores: AUPR (average precision) and AUROC.

``scores`` rank samples (higher = more likely positive); ``positive`` marks the positive class. Tied scores are one
threshold: average precision is ``sum_k (R_k - R_{k-1}) P_k`` over the distinct thresholds ``k`` from the highest
score down (the step-wise definition of scikit-learn's ``average_precision_score``), and AUROC counts a tied
positive/negative pair as one half (the Mann-Whitney statistic).
"""
from __future__ import annotations

import torch


def _check(scores: torch.Tensor, positive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scores, positive = torch.as_tensor(scores, dtype=torch.float64).flatten(), torch.as_tensor(positive).flatten()
    if scores.shape != positive.shape:
        raise ValueError(f"scores and positive differ in length: {scores.numel()} vs {positive.numel()}")
    positive = positive.bool()
    if not positive.any() or positive.all():
        raise ValueError("AUPR/AUROC need at least one positive and one negative sample")
    return scores, positive


def average_precision(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """Area under the precision-recall curve (average precision), in ``[0, 1]``; chance = fraction of positives."""
    scores, positive = _check(scores, positive)
    order = torch.argsort(scores, descending=True, stable=True)
    s, p = scores[order], positive[order].double()
    tp = torch.cumsum(p, 0)
    last = torch.ones_like(s, dtype=torch.bool)  # the last sample of each group of tied scores closes a threshold
    last[:-1] = s[1:] != s[:-1]
    tp, seen = tp[last], torch.nonzero(last).flatten().double() + 1
    recall = tp / tp[-1]
    precision = tp / seen
    gain = torch.diff(recall, prepend=torch.zeros(1, dtype=torch.float64))
    return float((gain * precision).sum())


def auroc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random negative (ties 1/2)."""
    scores, positive = _check(scores, positive)
    ranks = _average_ranks(scores)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(x: torch.Tensor) -> torch.Tensor:
    """1-based ranks of ``x`` ascending, tied values sharing their mean rank."""
    order = torch.argsort(x, stable=True)
    sorted_x = x[order]
    new_group = torch.ones_like(sorted_x, dtype=torch.bool)
    new_group[1:] = sorted_x[1:] != sorted_x[:-1]
    group = torch.cumsum(new_group.long(), 0) - 1
    position = torch.arange(1, x.numel() + 1, dtype=torch.float64)
    sums = torch.zeros(int(group[-1]) + 1, dtype=torch.float64).index_add_(0, group, position)
    counts = torch.zeros_like(sums).index_add_(0, group, torch.ones_like(position))
    ranks = torch.empty_like(position)
    ranks[order] = (sums / counts)[group]
    return ranks
