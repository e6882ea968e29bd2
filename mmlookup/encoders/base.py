"""The encoder contract shared by every family (DESIGN §2)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from mmlookup.folders import FolderMixin


@dataclass
class EncoderOutput:
    """What every encoder's ``forward(video, *, grid=None)`` returns.

    tokens: ``(B, N', D)`` final token set after the final norm. For encoders with a CLS token,
        ``tokens[:, 0]`` is the CLS token. For LookupViT these are the lookup tokens.
    mask: ``(B, N')`` bool, True where a token is real; ``None`` when every token is real (ATS pads).
    compressed: ``(B, M, D)`` LookupViT's compressed tokens after their final norm, else ``None``.
    info: extras: ``grid`` (token grid), ``tokens_per_layer``, ``kept_indices``, ``attn`` maps when asked.
    """

    tokens: torch.Tensor
    mask: torch.Tensor | None = None
    compressed: torch.Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def pooled(self) -> torch.Tensor:
        """Mean of the real patch tokens (CLS excluded when present), ``(B, D)``."""
        n_prefix = int(self.info.get("num_prefix_tokens", 0))
        x = self.tokens[:, n_prefix:]
        if self.mask is None:
            return x.mean(dim=1)
        m = self.mask[:, n_prefix:].to(x.dtype).unsqueeze(-1)
        return (x * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)


class Encoder(nn.Module, FolderMixin):
    """Base class: the methods every family exposes for the engine (weight decay, layer decay, checkpointing),
    and model folders (``save_pretrained`` / ``from_pretrained`` / ``push_to_hub``, :mod:`mmlookup.folders`)."""

    embed_dim: int
    depth: int
    num_prefix_tokens: int = 0
    grad_checkpointing: bool = False

    def no_weight_decay(self) -> set[str]:
        """Parameter names that take no weight decay beyond the 1-D ones (norms, biases) the optimizer skips."""
        return {n for n, _ in self.named_parameters() if re.search(r"(pos_embed|cls_token|cls_pos)", n)}

    def layer_id(self, param_name: str) -> int:
        """Depth index for layer-wise LR decay: 0 = embedding, 1..depth = blocks, depth + 1 = final norms."""
        m = re.match(r"blocks\.(\d+)\.", param_name)
        if m:
            return int(m.group(1)) + 1
        if param_name.startswith(("patch_embed", "pos_embed", "cls_token", "cls_pos")):
            return 0
        return self.depth + 1

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable
