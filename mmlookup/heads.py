"""Classification heads on the encoder contract (DESIGN §4).

A head maps an :class:`~mmlookup.encoders.base.EncoderOutput` to per-head logits of shape ``(B, H, K)``: one row
per head, so single-head and LookupViT's two-head classifiers share one training and evaluation path. The loss
sums cross-entropy over heads; inference averages the heads' probabilities (:func:`combine_probs`). A classifier's
``forward`` returns those heads combined into ``(B, K)`` (:func:`combine_logits`); ``forward_heads`` keeps them.

Pooling (``model.pool``, chosen by :func:`resolve_pool`):

* ``"cls"`` (:class:`ClsHead`): the CLS token after the encoder's final norm, as ViT, DeiT, EViT and ATS
  classify; EViT's and ATS's token scores are the CLS attention precisely because CLS is the classifier's input.
* ``"mean"`` (:class:`PooledHead`): the mean of the real patch tokens (CLS, padding and EViT's fused token
  excluded), optionally through a LayerNorm ``fc_norm`` as VideoMAE does; the only choice without a CLS token.
* ``"lookup"`` (:class:`LookupHeads`): LookupViT's two heads (what ``"auto"`` gives a LookupViT encoder);
  ``"shared"`` (:class:`SharedLookupHead`): one bias-free linear layer on the sum of both streams' means, the
  single head of lucidrains' ``look_vit.py``.

Every single head keeps its linear layer as ``fc`` (and ``fc_norm``), so imported classifiers and our own
checkpoints share one naming (``head.fc.weight``). ``head.features(out)`` returns what each linear layer reads,
``(B, H, D)`` (feature distillation matches it to a teacher's).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from mmlookup.checkpoints import head_num_classes as head_num_classes  # re-exported: it lived here
from mmlookup.encoders.base import EncoderOutput

POOLS = ("auto", "cls", "mean", "shared")


def _linear(dim: int, num_classes: int) -> nn.Linear:
    layer = nn.Linear(dim, num_classes)
    nn.init.trunc_normal_(layer.weight, std=0.02)
    nn.init.zeros_(layer.bias)
    return layer


class ClsHead(nn.Module):
    """CLS token (``tokens[:, 0]``, already through the encoder's final norm) → dropout → linear. One head."""

    head_names: tuple[str, ...] = ("main",)
    pool = "cls"

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc = _linear(dim, num_classes)

    def features(self, out: EncoderOutput) -> torch.Tensor:
        """The classifier's input ``(B, 1, D)``: the CLS token."""
        if int(out.info.get("num_prefix_tokens", 0)) < 1:
            raise ValueError("ClsHead needs an encoder with a CLS token; use pool='mean' for this encoder")
        return out.tokens[:, :1]

    def forward(self, out: EncoderOutput) -> torch.Tensor:
        return self.fc(self.drop(self.features(out)))


class PooledHead(nn.Module):
    """Mean of the real patch tokens (``EncoderOutput.pooled``) → optional ``fc_norm`` → dropout → linear.

    ``fc_norm=True`` is VideoMAE's classifier (its encoder has no final norm; the pooled mean is normalised
    instead, with ``fc_norm_eps`` 1e-5 there). One head, ``main``.
    """

    head_names: tuple[str, ...] = ("main",)
    pool = "mean"

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0, fc_norm: bool = False,
                 fc_norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.fc_norm = nn.LayerNorm(dim, eps=fc_norm_eps) if fc_norm else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.fc = _linear(dim, num_classes)

    def features(self, out: EncoderOutput) -> torch.Tensor:
        """The classifier's input ``(B, 1, D)``: the (normalised) mean of the patch tokens."""
        return self.fc_norm(out.pooled()).unsqueeze(1)

    def forward(self, out: EncoderOutput) -> torch.Tensor:
        return self.fc(self.drop(self.features(out)))


class LookupHeads(nn.Module):
    """LookupViT's two heads: mean-pooled compressed tokens and pooled lookup tokens, each → linear.

    The final LayerNorm of each stream is inside the encoder, so the heads are pool → dropout → linear.
    Head order (and ``head_names``) is ``("compressed", "lookup")``.
    """

    head_names: tuple[str, ...] = ("compressed", "lookup")
    pool = "lookup"

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc_compressed = _linear(dim, num_classes)
        self.fc_lookup = _linear(dim, num_classes)

    def features(self, out: EncoderOutput) -> torch.Tensor:
        """The two classifiers' inputs ``(B, 2, D)``: the mean compressed token and the mean lookup token."""
        if out.compressed is None:
            raise ValueError("LookupHeads needs an encoder that returns compressed tokens (LookupViT)")
        return torch.stack((out.compressed.mean(dim=1), out.pooled()), dim=1)

    def forward(self, out: EncoderOutput) -> torch.Tensor:
        f = self.features(out)
        return torch.stack((self.fc_compressed(self.drop(f[:, 0])), self.fc_lookup(self.drop(f[:, 1]))), dim=1)


class SharedLookupHead(nn.Module):
    """LookupViT with one head: mean of the compressed tokens + mean of the lookup tokens → dropout → bias-free linear.

    The layout of lucidrains' ``look_vit.py`` (final norm on each stream, pooled, summed, one shared classifier); the
    two-head default trains each stream's classifier with its own loss.
    """

    head_names: tuple[str, ...] = ("main",)
    pool = "shared"

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes, bias=False)
        nn.init.trunc_normal_(self.fc.weight, std=0.02)

    def features(self, out: EncoderOutput) -> torch.Tensor:
        """The classifier's input ``(B, 1, D)``: the sum of both streams' means."""
        if out.compressed is None:
            raise ValueError("SharedLookupHead needs an encoder that returns compressed tokens (LookupViT)")
        return (out.compressed.mean(dim=1) + out.pooled()).unsqueeze(1)

    def forward(self, out: EncoderOutput) -> torch.Tensor:
        return self.fc(self.drop(self.features(out)))


def resolve_pool(encoder: nn.Module, pool: str = "auto", source_pool: str | None = None) -> str:
    """The pooling a classifier on ``encoder`` uses: ``"cls"``, ``"mean"``, ``"lookup"`` or ``"shared"``.

    ``"auto"`` takes the imported head's own pooling (``source_pool``) when known, else ``"lookup"`` (two heads) for
    LookupViT, ``"cls"`` when the encoder has a CLS token and ``"mean"`` otherwise. ``"shared"`` is LookupViT only.
    """
    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; valid: {', '.join(POOLS)}")
    is_lookup = hasattr(encoder, "norm_compressed")
    has_cls = int(getattr(encoder, "num_prefix_tokens", 0)) > 0
    if is_lookup:
        if pool == "cls":
            raise ValueError("LookupViT has no CLS token; its heads mean-pool both streams (pool='auto', 'mean' "
                             "or 'shared')")
        return "shared" if pool == "shared" or (pool == "auto" and source_pool == "shared") else "lookup"
    if pool == "shared":
        raise ValueError(f"pool='shared' sums LookupViT's two streams; {type(encoder).__name__} has one")
    if pool == "auto":
        pool = source_pool if source_pool in ("cls", "mean") else ("cls" if has_cls else "mean")
    if pool == "cls" and not has_cls:
        raise ValueError(f"pool='cls' needs a CLS token; {type(encoder).__name__} has none (use pool='mean')")
    return pool


def build_head(encoder: nn.Module, pool: str, num_classes: int, dropout: float = 0.0, fc_norm: bool = False,
               fc_norm_eps: float = 1e-6) -> nn.Module:
    """The head for a resolved ``pool`` (:func:`resolve_pool`) on ``encoder``."""
    dim = int(encoder.embed_dim)
    if pool == "lookup":
        return LookupHeads(dim, num_classes, dropout)
    if pool == "shared":
        return SharedLookupHead(dim, num_classes, dropout)
    if pool == "cls":
        if fc_norm:
            raise ValueError("fc_norm goes with mean pooling (VideoMAE); a CLS head reads the final-normed CLS")
        return ClsHead(dim, num_classes, dropout)
    if pool == "mean":
        return PooledHead(dim, num_classes, dropout, fc_norm=fc_norm, fc_norm_eps=fc_norm_eps)
    raise ValueError(f"unknown resolved pool {pool!r}; valid: cls, mean, lookup, shared")


def combine_probs(logits: torch.Tensor) -> torch.Tensor:
    """Average of the heads' softmax probabilities: ``(B, H, K)`` logits → ``(B, K)`` probabilities."""
    return logits.float().softmax(dim=-1).mean(dim=1)


def combine_logits(logits: torch.Tensor) -> torch.Tensor:
    """Per-head logits ``(B, H, K)`` → the classifier's ``(B, K)`` output, combined as evaluation combines heads.

    One head: its logits, unchanged (an imported timm / Hugging Face classifier gives the source's own logits).
    Several heads (LookupViT's two): ``log(mean_h softmax(logits_h))``, the log of the averaged probabilities, so
    ``softmax`` of the output is exactly :func:`combine_probs` and ``argmax`` is evaluation's combined prediction.
    (The mean of the heads' logits would rank classes differently.)
    """
    if logits.shape[1] == 1:
        return logits[:, 0]
    return torch.logsumexp(logits.float().log_softmax(dim=-1), dim=1) - math.log(logits.shape[1])
