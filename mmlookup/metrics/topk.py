"""Classification metrics on gathered predictions: top-k accuracy and mean per-class accuracy."""
from __future__ import annotations

import torch


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, float]:
    """Percentage of samples whose label is among the ``k`` highest scores, for each ``k``.

    Args:
        scores: ``(N, K)`` logits or probabilities.
        labels: ``(N,)`` integer labels.
        ks: values of ``k``; a ``k`` larger than ``K`` is clipped to ``K``.
    """
    if scores.shape[0] == 0:
        return {k: float("nan") for k in ks}
    maxk = min(max(ks), scores.shape[1])
    top = scores.topk(maxk, dim=1).indices
    hit = top == labels.view(-1, 1)
    return {k: 100.0 * hit[:, :min(k, maxk)].any(dim=1).float().mean().item() for k in ks}


def mean_class_accuracy(scores: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """Mean over classes present in ``labels`` of each class's top-1 accuracy, in percent."""
    pred = scores.argmax(dim=1)
    correct = torch.zeros(num_classes).index_add_(0, labels, (pred == labels).float())
    count = torch.zeros(num_classes).index_add_(0, labels, torch.ones_like(labels, dtype=torch.float))
    present = count > 0
    if not present.any():
        return float("nan")
    return 100.0 * (correct[present] / count[present]).mean().item()
