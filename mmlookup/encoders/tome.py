"""ToMe, token merging, on the video ViT (Bolya et al., ICLR 2023, "Token Merging: Your ViT but Faster").

In every block, after the attention residual and before the MLP, ``r`` pairs of similar tokens are merged by
bipartite soft matching on the keys (head mean) with size-weighted averages (:mod:`mmlookup.encoders.merge`), so
every later layer runs on fewer tokens. The CLS token is never merged; a CLS-less ViT works the same way.

* ``partition`` (how the tokens are split into the two sets ``A`` and ``B``):

  - ``"sequence"`` (default): the official matching. ``A``/``B`` alternate over the *whole* sequence with CLS at
    index 0 (in ``A``, protected by a −∞ score); unmerged ``A`` tokens keep input order when there is a CLS token
    and the official descending-similarity order without one. With the same timm weights the logits equal the
    official ``tome.patch.timm`` to float tolerance.
  - ``"patches"``: CLS set aside, ``A``/``B`` alternate over the patch tokens only, unmerged ``A`` tokens in input
    order (mmlookup's partition before it followed the official one; the sets swap roles against ``"sequence"``
    in every layer). For models trained with it before the change, whose runs and folders do not record it:
    ``partition="patches"`` (in a recipe, ``--set model.encoder_kwargs.partition=patches``) reproduces them.

* ``r``: an int (the same for every layer) or one int per layer; each step merges at most half of its patch
  tokens. Every clip loses the same count, so batches stay dense (no padding, no mask).
* Proportional attention (``prop_attn``, default on, as the paper advises for supervised models): a token of size
  ``s`` enters every softmax as ``s`` copies, by adding ``log s`` to its logits through SDPA's additive mask
  (a ``(B, 1, 1, N)`` bias; no ``N × N`` tensor is formed by this code).
* ``r = 0`` is exactly the plain ViT, so a ``vit_*`` checkpoint runs training-free with the same state dict.
* ``info``: ``tokens_per_layer`` (tokens at each MLP), ``kept_indices`` (input position of each final token's
  representative: the ``B`` token it was merged into, CLS 0), ``token_sizes`` ``(B, N')`` (input tokens per final
  token) and ``source`` ``(B, N)`` (for each input token, the final token holding it).
* Pooling: the mean of the patch tokens is size-weighted (:meth:`EncoderOutput.pooled`), i.e. the mean over the
  input tokens each stands for, as the paper pools global-average-pool models.

Written from the paper and the facts of the official matching (which sets, which order, which token is
protected); the official code (CC-BY-NC) was not copied.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch.utils.checkpoint import checkpoint

from mmlookup.encoders.base import EncoderOutput
from mmlookup.encoders.common import size_kwargs
from mmlookup.encoders.macs import analytic_gmacs
from mmlookup.encoders.merge import (
    bipartite_soft_matching,
    matching_macs,
    merge_count,
    merge_plain,
    merge_weighted,
    new_index,
    size_bias,
)
from mmlookup.encoders.reducing import ReducingBlock, ReducingViT
from mmlookup.registry import register_encoder

Schedule = int | Sequence[int]
PARTITIONS = ("sequence", "patches")
ToMeState = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None, torch.Tensor | None]


def check_partition(partition: str) -> str:
    if partition not in PARTITIONS:
        raise ValueError(f"ToMe partition must be one of {', '.join(PARTITIONS)}, got {partition!r}")
    return partition


def resolve_schedule(r: Schedule, depth: int) -> list[int]:
    """``r`` as one merge count per layer; an int applies to every layer."""
    values = [r] * depth if isinstance(r, int) else list(r) if isinstance(r, (list, tuple)) else [r]
    if len(values) != depth or any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in values):
        raise ValueError(f"ToMe r must be an int >= 0 or {depth} of them (one per layer), got {r!r}")
    return values


class ToMeBlock(ReducingBlock):
    """A ViT block that merges ``r`` patch-token pairs between its attention and its MLP."""

    def __init__(self, *args, r: int = 0, prop_attn: bool = True, partition: str = "sequence", **kwargs):
        super().__init__(*args, **kwargs)
        self.r, self.prop_attn, self.partition = int(r), prop_attn, check_partition(partition)

    def forward(self, x: torch.Tensor, size: torch.Tensor | None, pos: torch.Tensor,
                return_attn: bool = False) -> ToMeState:
        """``(x, size, pos) → (x, size, pos, attn, remap)``.

        ``size (B, N)`` counts the input tokens each token stands for (``None`` = all 1, before any merge);
        ``remap (B, N)`` is the new index of every token (``None`` when nothing merged).
        """
        q, k, v = self.qkv(x, None)
        bias = size_bias(size, q.dtype) if self.prop_attn and size is not None else None
        out, weights = self.mix(q, k, v, None, return_attn, bias=bias)
        x = x + self.drop_path(out)
        p0, n = self.num_prefix, x.shape[1]
        remap = None
        if merge_count(n - p0, self.r) > 0:
            if size is None:
                size = torch.ones(x.shape[:2], device=x.device)
            if self.partition == "sequence":                      # the official sets: CLS (index 0) in A, protected
                with torch.no_grad():
                    plan = bipartite_soft_matching(k.mean(dim=1), self.r, protect_first=p0 > 0, sort_kept=p0 > 0)
                x, size = merge_weighted(x, size, plan)
                pos, remap = merge_plain(pos, plan), new_index(plan, n)
            else:                                                 # "patches": CLS set aside
                with torch.no_grad():
                    plan = bipartite_soft_matching(k.mean(dim=1)[:, p0:], self.r)
                xp, sp = merge_weighted(x[:, p0:], size[:, p0:], plan)
                x = torch.cat([x[:, :p0], xp], dim=1)
                size = torch.cat([size[:, :p0], sp], dim=1)
                pos = torch.cat([pos[:, :p0], merge_plain(pos[:, p0:], plan)], dim=1)
                prefix = torch.arange(p0, device=x.device).expand(x.shape[0], p0)
                remap = torch.cat([prefix, p0 + new_index(plan, n - p0)], dim=1)
        return self.mlp_residual(x, None), size, pos, weights, remap

    def matched_tokens(self, num_tokens: int) -> int:
        """Tokens the matching compares for ``num_tokens`` tokens in: all of them (``"sequence"``) or the patches."""
        return num_tokens if self.partition == "sequence" else num_tokens - self.num_prefix

    def extra_repr(self) -> str:
        return f"r={self.r}, prop_attn={self.prop_attn}, partition={self.partition!r}"


class ToMe(ReducingViT):
    """Video ViT with token merging; same state dict as :class:`~mmlookup.encoders.vit.VideoViT`.

    Args:
        r: merges per layer: an int for every layer, or one int per layer (0 = plain ViT).
        prop_attn: proportional attention (``log size`` added to the attention logits).
        partition: ``"sequence"`` (official: A/B alternate over the whole sequence, CLS protected in ``A``) or
            ``"patches"`` (CLS set aside, A/B over the patch tokens; mmlookup's earlier partition).
        **kwargs: :class:`VideoViT` arguments.
    """

    scores_by_cls = False

    def __init__(self, *, r: Schedule = 0, prop_attn: bool = True, partition: str = "sequence", **kwargs):
        depth = int(kwargs.get("depth", 12))
        schedule = resolve_schedule(r, depth)
        check_partition(partition)

        def block_fn(*, layer: int, **kw) -> ToMeBlock:
            return ToMeBlock(r=schedule[layer], prop_attn=prop_attn, partition=partition, **kw)

        super().__init__(block_fn=block_fn, **kwargs)

    @property
    def r(self) -> list[int]:
        """Merges per layer (before the ``⌊P/2⌋`` cap)."""
        return [blk.r for blk in self.blocks]

    @property
    def partition(self) -> str:
        """How the matching splits the tokens into its two sets (``"sequence"`` or ``"patches"``)."""
        return self.blocks[0].partition if len(self.blocks) else "sequence"

    def set_r(self, r: Schedule) -> None:
        """Change the merges per layer (an int or one per layer)."""
        for blk, v in zip(self.blocks, resolve_schedule(r, self.depth)):
            blk.r = v

    def token_schedule(self, num_tokens: int) -> list[int]:
        """Tokens (prefix included) at each layer's MLP for an input of ``num_tokens`` tokens."""
        out, n = [], num_tokens
        for blk in self.blocks:
            n -= merge_count(n - self.num_prefix_tokens, blk.r)
            out.append(n)
        return out

    def schedule_macs(self, num_tokens: int) -> int:
        """Analytic MACs of the blocks (no tubelet embedding) for ``num_tokens`` input tokens.

        Per layer: attention ``2N²D + 4ND²`` on the ``N`` tokens it receives, MLP ``8N'D²`` on the ``N'`` it
        keeps, plus the matching's similarity matrix (:func:`~mmlookup.encoders.merge.matching_macs`).
        """
        d, n_in, total = self.embed_dim, num_tokens, 0
        for blk, n_out in zip(self.blocks, self.token_schedule(num_tokens)):
            total += 2 * n_in * n_in * d + 4 * n_in * d * d + 8 * n_out * d * d
            if n_out < n_in:
                total += matching_macs(blk.matched_tokens(n_in), d // self.num_heads)
            n_in = n_out
        return total

    def forward(self, video: torch.Tensor, *, grid=None, return_attn: bool = False) -> EncoderOutput:
        if grid is not None:
            raise ValueError(f"{type(self).__name__} has no compressed grid; `grid=` is for LookupViT encoders")
        x, token_grid = self.embed(video)
        b, n, _ = x.shape
        pos = torch.arange(n, device=x.device).expand(b, n)
        source = pos
        size: torch.Tensor | None = None
        counts, attns, kept = [], [], []
        for blk in self.blocks:
            if self.grad_checkpointing and self.training and not return_attn:
                x, size, pos, attn, remap = checkpoint(blk, x, size, pos, use_reentrant=False)
            else:
                x, size, pos, attn, remap = blk(x, size, pos, return_attn=return_attn)
            if remap is not None:
                source = torch.gather(remap, 1, source)
            counts.append(float(x.shape[1]))
            kept.append(pos)
            if return_attn:
                attns.append(attn)
        info = {
            "grid": token_grid,
            "num_prefix_tokens": self.num_prefix_tokens,
            "tokens_per_layer": counts,                                     # tokens at each MLP (every clip alike)
            "tokens_per_sample": torch.tensor(counts).expand(b, len(counts)),
            "kept_indices": pos,
            "kept_indices_per_layer": kept,
            "token_sizes": torch.ones(b, x.shape[1], device=x.device) if size is None else size,
            "source": source,
        }
        if return_attn:
            info["attn"] = attns
        return EncoderOutput(tokens=self.norm(x), info=info)


def r_for_gmacs(model: ToMe, target_gmacs: float, video_shape: tuple[int, int, int, int] | None = None) -> int:
    """The smallest constant ``r`` whose analytic GMACs per clip (:func:`mmlookup.encoders.macs.analytic_gmacs`) is at
    most ``target_gmacs``; the largest useful ``r`` when even that costs more.

    ``video_shape`` is ``(C, T, H, W)`` (default: the model's clip). The model's own ``r`` is left unchanged.
    """
    shape = video_shape or (model.patch_embed.proj.in_channels, model.num_frames, *model.img_size)
    old = model.r
    g = model.patch_embed.grid_for(*shape[1:])
    lo, hi = 0, math.prod(g) // 2                                          # r beyond P/2 changes nothing
    try:
        while lo < hi:
            mid = (lo + hi) // 2
            model.set_r(mid)
            if analytic_gmacs(model, shape) <= target_gmacs:
                hi = mid
            else:
                lo = mid + 1
    finally:
        model.set_r(old)
    return lo


def scale_r(r: Schedule, from_patches: int, to_patches: int) -> Schedule:
    """``r`` for ``to_patches`` patch tokens that merges the same fraction of them per layer as ``r`` does on
    ``from_patches``: ``⌊r·to/from + ½⌋`` per layer (the registered r = 100 on a 16×224² clip's 1568 patches is
    r = 13 on a 224² image's 196, DeiT-S's setting in the paper)."""
    if from_patches < 1 or to_patches < 0:
        raise ValueError(f"patch counts must be positive, got {from_patches} -> {to_patches}")

    def one(v: int) -> int:
        return int(math.floor(v * to_patches / from_patches + 0.5))

    return one(r) if isinstance(r, int) else [one(v) for v in r]


def _make(size: str, **kwargs) -> ToMe:
    return ToMe(**size_kwargs(size, **kwargs))


@register_encoder
def tome_nano(**kwargs) -> ToMe:
    """CPU-recipe size (D=128, 4 layers, 4 heads; 8x64x64, tubelet 2x8x8); r=8 merges per layer."""
    return _make("nano", **{"r": 8, **kwargs})


@register_encoder
def tome_tiny(**kwargs) -> ToMe:
    """D=192, 12 layers, 3 heads; 16x224x224, tubelet 2x16x16; r=100 merges per layer (1569 -> 369 tokens)."""
    return _make("tiny", **{"r": 100, **kwargs})


@register_encoder
def tome_small(**kwargs) -> ToMe:
    """D=384, 12 layers, 6 heads; 16x224x224, tubelet 2x16x16; r=100 merges per layer (1569 -> 369 tokens)."""
    return _make("small", **{"r": 100, **kwargs})


@register_encoder
def tome_base(**kwargs) -> ToMe:
    """ViT-B weights: D=768, 12 layers, 12 heads; 16x224x224, tubelet 2x16x16; r=100 (1569 -> 369 tokens)."""
    return _make("base", **{"r": 100, **kwargs})


@register_encoder
def tome_large(**kwargs) -> ToMe:
    """ViT-L weights: D=1024, 24 layers, 16 heads; 16x224x224, tubelet 2x16x16; r=65 (the paper's video ViT-L)."""
    return _make("large", **{"r": 65, **kwargs})
