"""Caption memory of a chosen size from a token-reducing encoder (EViT, ATS, ToMe), training-free.

``caption.memory = "reduced"`` hands the decoder the encoder's *final* token set (CLS included) with its
padding mask; ``caption.memory_tokens = K`` sets the encoder's reduction so that this set has ``K`` tokens,
so memories of different encoders can be compared at an equal size (e.g. against LookupViT's 2x2x2 = 8
compressed tokens). The reduction depends on how many patch tokens the input has (a still image has ``1/t``
of a clip's), so it is set for each input size, just before the encoder runs:

* **EViT**: the keep rate ρ (applied at every reducing layer) whose token schedule ends at exactly ``K``
  tokens (CLS + kept + one fused token), found by bisection over ``EViT.token_schedule``; when no ρ lands on
  ``K`` exactly (the counts jump), the largest count below ``K``.
* **ATS**: the sampling budget ``K - 1`` at every sampling layer, so the final set has *at most* ``K`` tokens
  (duplicates are dropped, so fewer on some clips; the mask marks the padding).
* **ToMe**: merges per layer ``r_l`` spread evenly over the layers so that ``N + 1 - Σ r_l = K``; each step
  merges at most half of its patch tokens, so an early layer takes more when the later ones could not finish
  otherwise. Every clip keeps the same count, so there is no padding (mask ``None``); the merged tokens' sizes
  are not passed to the decoder.
"""
from __future__ import annotations

import torch.nn as nn

_BISECT_STEPS = 60


def _evit_rate(encoder: nn.Module, num_patches: int, num_tokens: int) -> float:
    n_in = num_patches + encoder.num_prefix_tokens

    def final(rate: float) -> int:
        old = [blk.keep_rate for blk in encoder.blocks]
        for blk in encoder.blocks:
            blk.keep_rate = rate
        try:
            return encoder.token_schedule(n_in)[-1]
        finally:
            for blk, r in zip(encoder.blocks, old):
                blk.keep_rate = r

    if final(1.0) <= num_tokens:
        return 1.0
    lo, hi = 1e-6, 1.0
    if final(lo) > num_tokens:
        raise ValueError(f"EViT cannot reduce {num_patches} patch tokens to {num_tokens}: its fewest is {final(lo)} "
                         "(CLS + one kept + one fused token); raise caption.memory_tokens")
    for _ in range(_BISECT_STEPS):  # invariant: final(lo) <= K < final(hi)
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if final(mid) <= num_tokens else (lo, mid)
    return lo


def _tome_schedule(encoder: nn.Module, num_patches: int, num_tokens: int) -> list[int]:
    from mmlookup.encoders.merge import merge_count

    def most(n: int, layers: int) -> int:  # merges possible in `layers` steps from n patch tokens (halving)
        start = n
        for _ in range(layers):
            n -= n // 2
        return start - n

    p0, depth = encoder.num_prefix_tokens, encoder.depth
    remaining, n, schedule = num_patches + p0 - num_tokens, num_patches, []
    if remaining > most(num_patches, depth):
        raise ValueError(f"ToMe cannot merge {num_patches} patch tokens down to {num_tokens} in {depth} layers "
                         f"(each merges at most half); the fewest is {num_patches - most(num_patches, depth) + p0}")
    for layer in range(depth):
        r = merge_count(n, -(-max(remaining, 0) // (depth - layer)))  # even share of what is left, capped at n // 2
        while r < n // 2 and remaining - r > most(n - r, depth - layer - 1):  # later layers could not finish
            r += 1
        schedule.append(r)
        remaining, n = remaining - r, n - r
    return schedule


def set_final_tokens(encoder: nn.Module, num_patches: int, num_tokens: int) -> None:
    """Set ``encoder``'s reduction so its final token set has ``num_tokens`` tokens (at most, for ATS).

    Args:
        encoder: an EViT, ATS or ToMe encoder.
        num_patches: patch tokens of the input (CLS not counted).
        num_tokens: wanted size of the final token set, CLS included.
    """
    from mmlookup.encoders.ats import ATS
    from mmlookup.encoders.evit import EViT
    from mmlookup.encoders.tome import ToMe

    if num_tokens < 2:
        raise ValueError(f"caption.memory_tokens must be >= 2 (CLS + one token), got {num_tokens}")
    if isinstance(encoder, EViT):
        encoder.set_keep_rate(_evit_rate(encoder, num_patches, num_tokens))
    elif isinstance(encoder, ATS):
        encoder.set_budget(num_tokens - encoder.num_prefix_tokens)
    elif isinstance(encoder, ToMe):
        encoder.set_r(_tome_schedule(encoder, num_patches, num_tokens))
    else:
        raise ValueError(f"caption.memory_tokens needs a token-reducing encoder (EViT, ATS, ToMe); "
                         f"{type(encoder).__name__} keeps every token (for LookupViT set the compressed grid, "
                         "model.grids)")
