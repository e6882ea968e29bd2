"""The encoder contract shared by every family (DESIGN §2)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from mmlookup.hub import FolderMixin


@dataclass
class EncoderOutput:
    """What every encoder's ``forward(video, *, grid=None)`` returns.

    tokens: ``(B, N', D)`` final token set after the final norm. For encoders with a CLS token,
        ``tokens[:, 0]`` is the CLS token. For LookupViT these are the lookup tokens.
    mask: ``(B, N')`` bool, True where a token is real; ``None`` when every token is real (ATS pads).
    compressed: ``(B, M, D)`` LookupViT's compressed tokens after their final norm, else ``None``.
    info: extras: ``grid`` (token grid), ``num_prefix_tokens``, ``tokens_per_layer``, ``kept_indices`` (each token's
        index in the input sequence; −1 marks a token that is no input patch: EViT's fused token, padding),
        ``attn`` maps when asked.
    """

    tokens: torch.Tensor
    mask: torch.Tensor | None = None
    compressed: torch.Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def patch_mask(self) -> torch.Tensor | None:
        """``(B, N' − prefix)`` bool, True for real patch tokens; ``None`` when every non-prefix token is one.

        Excludes padding (``mask``) and tokens that are no input patch (``kept_indices`` −1: EViT's fused token).
        """
        n_prefix = int(self.info.get("num_prefix_tokens", 0))
        m = None if self.mask is None else self.mask[:, n_prefix:]
        kept = self.info.get("kept_indices")
        if kept is not None:
            patch = kept[:, n_prefix:] >= 0
            if not bool(patch.all()):
                m = patch if m is None else m & patch
        return m

    def pooled(self) -> torch.Tensor:
        """Mean of the real patch tokens, ``(B, D)``: CLS, padding and EViT's fused token excluded.

        With ``info["token_sizes"]`` (ToMe) the mean is size-weighted: each merged token counts for the input tokens
        it stands for, so the result is the mean over the input tokens.
        """
        n_prefix = int(self.info.get("num_prefix_tokens", 0))
        x = self.tokens[:, n_prefix:]
        m = self.patch_mask()
        sizes = self.info.get("token_sizes")
        if m is None and sizes is None:
            return x.mean(dim=1)
        w = torch.ones(x.shape[:2], dtype=x.dtype, device=x.device) if m is None else m.to(x.dtype)
        if sizes is not None:
            w = w * sizes[:, n_prefix:].to(x.dtype)
        w = w.unsqueeze(-1)
        return (x * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)


class Encoder(nn.Module, FolderMixin):
    """Base class: the methods every family exposes for the engine (weight decay, layer decay, checkpointing),
    and model folders (``save_pretrained`` / ``from_pretrained`` / ``push_to_hub``, :mod:`mmlookup.hub`)."""

    embed_dim: int
    depth: int
    num_prefix_tokens: int = 0
    grad_checkpointing: bool = False

    def no_weight_decay(self) -> set[str]:
        """Parameter names that take no weight decay beyond the 1-D ones (norms, biases) the optimizer skips."""
        return {n for n, _ in self.named_parameters()
                if re.search(r"(pos_embed|cls_token|cls_pos|compressed_queries)", n)}

    def layer_id(self, param_name: str) -> int:
        """Depth index for layer-wise LR decay: 0 = embedding, 1..depth = blocks, depth + 1 = final norms."""
        m = re.match(r"blocks\.(\d+)\.", param_name)
        if m:
            return int(m.group(1)) + 1
        if param_name.startswith(("patch_embed", "patch_norm", "pos_embed", "cls_token", "cls_pos",
                                  "compressed_queries")):
            return 0
        return self.depth + 1

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable
