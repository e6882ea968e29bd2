"""Exponential moving average of model weights (optional, ``train.ema_decay > 0``)."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn


class ModelEma:
    """A frozen copy of the model whose floating-point state follows ``decay * ema + (1 - decay) * model``.

    It has ``state_dict``/``load_state_dict`` so ``accelerator.register_for_checkpointing`` saves it with the run.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for e, m in zip(self.module.state_dict().values(), model.state_dict().values()):
            if e.dtype.is_floating_point:
                e.lerp_(m.detach().to(e.dtype), 1.0 - self.decay)
            else:
                e.copy_(m)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)
