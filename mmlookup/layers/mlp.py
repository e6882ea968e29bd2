"""Feed-forward layers."""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
import torch.nn as nn

# Activation names a model config may hold (strings keep configs JSON-serialisable). "gelu_tanh" is the tanh
# approximation that Hugging Face calls gelu_fast / gelu_new / gelu_pytorch_tanh (ViViT uses gelu_fast).
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "gelu": nn.GELU,
    "gelu_tanh": partial(nn.GELU, approximate="tanh"),
}


def activation(name: str) -> Callable[[], nn.Module]:
    """The activation class for ``name``; an unknown name is an error listing the valid ones."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class Mlp(nn.Module):
    """``fc2(drop(act(fc1(x))))`` with a configurable hidden width (4D in ViT blocks, D/2 on the lookup stream)."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0, act_layer: type[nn.Module] = nn.GELU):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class DropPath(nn.Module):
    """Stochastic depth per sample (identity at inference or with ``p = 0``)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"
