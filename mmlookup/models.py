"""Model assembly: the only place an encoder and a head become a model (DESIGN §2)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from mmlookup.encoders.base import Encoder
from mmlookup.folders import FolderMixin
from mmlookup.heads import LookupHeads, PooledHead
from mmlookup.registry import create_encoder

if TYPE_CHECKING:
    from mmlookup.config import Recipe


class VideoClassifier(nn.Module, FolderMixin):
    """``encoder`` → ``head``; ``forward(video, grid=None)`` returns logits ``(B, H, K)`` (H heads).

    ``save_pretrained(dir)`` / ``VideoClassifier.from_pretrained(dir)`` write and read a model folder
    (:mod:`mmlookup.folders`) that needs no recipe.

    Args:
        encoder: any registered encoder (the contract of ``mmlookup.encoders.base``).
        head: a head from :mod:`mmlookup.heads`; its ``head_names`` name the rows of the logits.
    """

    def __init__(self, encoder: Encoder, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    @property
    def head_names(self) -> tuple[str, ...]:
        return tuple(self.head.head_names)

    def forward(self, video: torch.Tensor, grid: tuple[int, int, int] | None = None) -> torch.Tensor:
        out = self.encoder(video, grid=grid) if grid is not None else self.encoder(video)
        return self.head(out)

    def no_weight_decay(self) -> set[str]:
        """Full parameter names (``encoder.``-prefixed) that the encoder exempts from weight decay."""
        return {f"encoder.{n}" for n in self.encoder.no_weight_decay()}

    def layer_id(self, param_name: str) -> int:
        """Layer-decay depth of a full parameter name; the head sits above the encoder's last layer."""
        if param_name.startswith("encoder."):
            return self.encoder.layer_id(param_name[len("encoder."):])
        return self.encoder.depth + 1

    @property
    def num_layers(self) -> int:
        """Number of layer-decay levels: embedding, blocks, final norm/head."""
        return self.encoder.depth + 2


def build_encoder(recipe: "Recipe") -> Encoder:
    """The recipe's encoder with its clip geometry; LookupViT gets the first listed compressed grid."""
    m = recipe.model
    kwargs = dict(num_frames=m.num_frames, img_size=m.img_size, tubelet_size=m.tubelet_size,
                  patch_size=m.patch_size, drop_path_rate=m.drop_path_rate, **m.encoder_kwargs)
    if m.grids:
        kwargs["grid"] = tuple(m.grids[0])
    encoder = create_encoder(m.encoder, checkpoint=m.pretrained or None, **kwargs)
    if m.grad_checkpointing:
        encoder.set_grad_checkpointing()
    if hasattr(encoder, "set_keep_rate"):
        encoder.set_keep_rate(m.keep_rate)
    return encoder


def build_model(recipe: "Recipe", num_classes: int) -> VideoClassifier:
    """Build the classifier a recipe describes: two heads when the encoder returns compressed tokens."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    encoder = build_encoder(recipe)
    two_heads = recipe.model.encoder.startswith("lookupvit")
    head_cls = LookupHeads if two_heads else PooledHead
    return VideoClassifier(encoder, head_cls(encoder.embed_dim, num_classes, recipe.model.head_dropout))
