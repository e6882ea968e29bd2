"""ATS, the Adaptive Token Sampler, on the video ViT (Fayyaz et al., ECCV 2022; ``token_reduction.md`` §3).

At the sampling layers (default every layer from ``depth/4`` on: 3..11 of 12):

1. score each patch token by ``Σ_h A_h[cls, j] · ‖v_j‖`` (CLS attention row, computed on its own with the key
   mask, times the norm of its value concatenated over heads), normalised to sum to 1;
2. sample ``K`` points on the CDF of the scores sorted ascending and take the token each lands on. The default,
   ``sampler="official"``, is the released code's rule (:func:`~mmlookup.encoders.token_ops.nearest_cdf_sample`):
   the CDF normalised min-max, points evenly spaced from its smallest positive value up to 1, each picking the
   token with the nearest CDF value; it always keeps the top token and drops the lowest-scoring one.
   ``sampler="midpoint"`` places the points at ``(k + ½)/K`` and takes the first token with ``CDF ≥ y`` (the
   textbook inverse CDF); with it, ``stochastic=True`` shifts the points by one random offset per clip in training
   (stratified sampling). Inference is always deterministic;
3. drop duplicates, so the number of kept tokens adapts per clip (at most ``min(K, N − 1)``); kept tokens stay
   in input order after CLS. For export (ONNX, ``torch.export``) the count is fixed instead: ``min(K, N − 1)``
   slots with the duplicates as masked padding (:func:`~mmlookup.encoders.token_ops.fixed_token_shapes`; the same
   logits);
4. run the attention only for the kept queries (``SDPA(q_sel, K, V)`` over all real keys) and the residual from
   ``x[sel]``; a ragged batch is padded to its longest clip with ``EncoderOutput.mask`` marking real tokens,
   padded keys are masked in every later attention, and norms, projections and MLPs skip padded rows.

The budget ``K`` (``budget``) is an int (sample points per layer), a float in (0, 1] (that fraction of the input's
patch tokens) or ``None`` (all input patch tokens, the released code's setting). Unlike the released code, any
budget works, below, at or above ``N``. With ``sampler="midpoint"``, a budget large enough that no token is hit twice
keeps every token with a non-zero score, which is the plain ViT; the official rule never is (it drops the
lowest-scoring token at every sampling layer).

Deliberate difference from the released code: the sampling rule sees each clip's real tokens only, so a clip keeps
the same tokens alone or in a padded batch (the released code min-max-normalises over padded and earlier-dropped
rows too, which makes it keep the lowest real token whenever such rows exist).
"""
from __future__ import annotations

import torch

from mmlookup.encoders.common import size_kwargs
from mmlookup.encoders.reducing import BlockState, ReducingBlock, ReducingViT, check_layers, default_layers
from mmlookup.encoders.token_ops import (
    SAMPLERS,
    ats_scores,
    ats_select,
    fixed_shapes,
    gather_tokens,
    query_attention,
    with_cls,
)
from mmlookup.registry import register_encoder

Budget = int | float | None


def resolve_budget(budget: Budget, num_input: int) -> int:
    """Sample points for an input of ``num_input`` patch tokens (see the module docstring)."""
    if budget is None:
        return num_input
    if isinstance(budget, float):
        if not 0.0 < budget <= 1.0:
            raise ValueError(f"a fractional ATS budget must be in (0, 1], got {budget}")
        return max(1, round(budget * num_input))
    if int(budget) < 1:
        raise ValueError(f"an ATS budget is at least one sample point, got {budget}")
    return int(budget)


class ATSBlock(ReducingBlock):
    """A ViT block that, when ``sample``, keeps the ATS-sampled tokens and computes attention only for them."""

    def __init__(self, *args, sample: bool = False, budget: Budget = None, stochastic: bool = False,
                 sampler: str = "official", **kwargs):
        super().__init__(*args, **kwargs)
        self.sample, self.budget, self.stochastic, self.sampler = sample, budget, stochastic, sampler

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, pos: torch.Tensor, num_input: int,
                return_attn: bool = False) -> BlockState:
        if not self.sample or x.shape[1] < 2:
            return super().forward(x, mask, pos, num_input, return_attn)
        q, k, v = self.qkv(x, mask)
        p0 = self.num_prefix
        if return_attn:                                                    # explicit reference: every row, then select
            out, weights = self.mix(q, k, v, mask, True)
            row = weights[:, :, 0] if p0 else query_attention(q, k, mask, p0)
        else:
            weights, row = None, query_attention(q, k, mask, p0)
        scores = ats_scores(row, v, mask, prefix=p0)
        idx, valid = ats_select(
            scores, resolve_budget(self.budget, num_input), sampler=self.sampler,
            stochastic=self.stochastic and self.training,
        )
        sel, keep = with_cls(idx, valid, prefix=p0)
        if weights is None:
            q_sel = torch.gather(q, 2, sel[:, None, :, None].expand(-1, q.shape[1], -1, q.shape[-1]))
            out, _ = self.mix(q_sel, k, v, mask, False)                   # only the kept query rows
        else:
            out = gather_tokens(out, sel)
        x = gather_tokens(x, sel) + self.drop_path(out)
        pos = gather_tokens(pos, sel).masked_fill(~keep, -1)
        new_mask = keep if fixed_shapes() or not bool(keep.all()) else None
        if new_mask is not None:
            x = x * new_mask.unsqueeze(-1).to(x.dtype)
        return self.mlp_residual(x, new_mask), new_mask, pos, weights

    def extra_repr(self) -> str:
        return f"sample={self.sample}, budget={self.budget}, sampler={self.sampler}, stochastic={self.stochastic}"


class ATS(ReducingViT):
    """Video ViT with adaptive token sampling; same state dict as :class:`~mmlookup.encoders.vit.VideoViT`.

    Args:
        budget: sample points per sampling layer: int, fraction in (0, 1] of the input patch tokens, or ``None``
            for all of them.
        sample_layers: 0-indexed sampling layers (default ``depth/4 .. depth-1``: 3..11 of 12).
        stochastic: in training, offset the sample points by one random shift per clip (``"midpoint"`` only).
        sampler: ``"official"`` (the released ATS rule, default) or ``"midpoint"`` (see the module docstring).
        **kwargs: :class:`VideoViT` arguments.
    """

    def __init__(self, *, budget: Budget = None, sample_layers=None, stochastic: bool = False,
                 sampler: str = "official", **kwargs):
        depth = int(kwargs.get("depth", 12))
        layers = check_layers(default_layers(depth, "ats") if sample_layers is None else sample_layers, depth)
        resolve_budget(budget, 1)  # validates
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown ATS sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
        if stochastic and sampler != "midpoint":
            raise ValueError("stochastic=True shifts the midpoint sampler's points; use sampler='midpoint'")

        def block_fn(*, layer: int, **kw) -> ATSBlock:
            return ATSBlock(sample=layer in layers, budget=budget, stochastic=stochastic, sampler=sampler, **kw)

        super().__init__(block_fn=block_fn, **kwargs)
        self.sample_layers, self.sampler = layers, sampler

    def set_budget(self, budget: Budget) -> None:
        """Change the sampling budget of every sampling layer."""
        resolve_budget(budget, 1)
        for blk in self.blocks:
            blk.budget = budget


def _make(size: str, **kwargs) -> ATS:
    return ATS(**size_kwargs(size, **kwargs))


@register_encoder
def ats_nano(**kwargs) -> ATS:
    """CPU-recipe size (D=128, 4 layers, 4 heads; 8x64x64, tubelet 2x8x8); samples at layers 1..3, full budget."""
    return _make("nano", **kwargs)


@register_encoder
def ats_tiny(**kwargs) -> ATS:
    """D=192, 12 layers, 3 heads; 16x224x224, tubelet 2x16x16; samples at layers 3..11, full budget."""
    return _make("tiny", **kwargs)


@register_encoder
def ats_small(**kwargs) -> ATS:
    """D=384, 12 layers, 6 heads; 16x224x224, tubelet 2x16x16; samples at layers 3..11, full budget."""
    return _make("small", **kwargs)


@register_encoder
def ats_base(**kwargs) -> ATS:
    """ViT-B weights: D=768, 12 layers, 12 heads; 16x224x224, tubelet 2x16x16; samples at 3..11, full budget."""
    return _make("base", **kwargs)


@register_encoder
def ats_large(**kwargs) -> ATS:
    """ViT-L weights: D=1024, 24 layers, 16 heads; 16x224x224, tubelet 2x16x16; samples at 6..23, full budget."""
    return _make("large", **kwargs)
