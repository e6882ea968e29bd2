"""Classification heads on the encoder contract (DESIGN §4).

A head maps an :class:`~mmlookup.encoders.base.EncoderOutput` to logits of shape ``(B, H, K)``: one row per
head, so single-head and LookupViT's two-head classifiers share one training and evaluation path. The loss
sums cross-entropy over heads; inference averages the heads' probabilities (:func:`combine_probs`).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from mmlookup.encoders.base import EncoderOutput


def _linear(dim: int, num_classes: int) -> nn.Linear:
    layer = nn.Linear(dim, num_classes)
    nn.init.trunc_normal_(layer.weight, std=0.02)
    nn.init.zeros_(layer.bias)
    return layer


class PooledHead(nn.Module):
    """Mean of the real non-CLS tokens (``EncoderOutput.pooled``) → dropout → linear. One head, ``main``."""

    head_names: tuple[str, ...] = ("main",)

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc = _linear(dim, num_classes)

    def forward(self, out: EncoderOutput) -> torch.Tensor:
        return self.fc(self.drop(out.pooled())).unsqueeze(1)


class LookupHeads(nn.Module):
    """LookupViT's two heads: mean-pooled compressed tokens and pooled lookup tokens, each → linear.

    The final LayerNorm of each stream is inside the encoder, so the heads are pool → dropout → linear.
    Head order (and ``head_names``) is ``("compressed", "lookup")``.
    """

    head_names: tuple[str, ...] = ("compressed", "lookup")

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc_compressed = _linear(dim, num_classes)
        self.fc_lookup = _linear(dim, num_classes)

    def forward(self, out: EncoderOutput) -> torch.Tensor:
        if out.compressed is None:
            raise ValueError("LookupHeads needs an encoder that returns compressed tokens (LookupViT)")
        c = self.fc_compressed(self.drop(out.compressed.mean(dim=1)))
        lk = self.fc_lookup(self.drop(out.pooled()))
        return torch.stack((c, lk), dim=1)


def combine_probs(logits: torch.Tensor) -> torch.Tensor:
    """Average of the heads' softmax probabilities: ``(B, H, K)`` logits → ``(B, K)`` probabilities."""
    return logits.float().softmax(dim=-1).mean(dim=1)
