"""AUPR and AUROC against brute-force computations from their definitions (every threshold, every pair)."""
import itertools

import pytest
import torch

from mmlookup.metrics.ood import auroc, average_precision


def _ap_brute(scores, positive):
    """Sum over each distinct threshold t (high to low) of (recall gain) x precision of {score >= t}."""
    total, prev_recall = 0.0, 0.0
    n_pos = sum(positive)
    for t in sorted(set(scores), reverse=True):
        chosen = [p for s, p in zip(scores, positive) if s >= t]
        recall = sum(chosen) / n_pos
        total += (recall - prev_recall) * sum(chosen) / len(chosen)
        prev_recall = recall
    return total


def _auroc_brute(scores, positive):
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(6))
def test_against_brute_force_with_ties(seed):
    g = torch.Generator().manual_seed(seed)
    n = 40 + seed * 7
    scores = torch.randint(0, 12, (n,), generator=g).float() / 4  # many ties
    positive = torch.rand(n, generator=g) < 0.3
    positive[0], positive[1] = True, False
    s, p = scores.tolist(), positive.tolist()
    assert average_precision(scores, positive) == pytest.approx(_ap_brute(s, p), abs=1e-12)
    assert auroc(scores, positive) == pytest.approx(_auroc_brute(s, p), abs=1e-12)


def test_known_values_and_errors():
    assert average_precision(torch.tensor([3.0, 2.0, 1.0]), torch.tensor([1, 1, 0])) == pytest.approx(1.0)
    assert average_precision(torch.tensor([3.0, 2.0, 1.0]), torch.tensor([0, 0, 1])) == pytest.approx(1 / 3)
    # one tie between all samples: the only threshold takes everything, precision = fraction of positives
    assert average_precision(torch.ones(4), torch.tensor([1, 0, 0, 0])) == pytest.approx(0.25)
    assert auroc(torch.tensor([0.9, 0.1]), torch.tensor([1, 0])) == 1.0
    assert auroc(torch.ones(4), torch.tensor([1, 0, 1, 0])) == 0.5
    with pytest.raises(ValueError, match="at least one positive and one negative"):
        average_precision(torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match="differ in length"):
        auroc(torch.ones(3), torch.ones(2))
