"""Test helper: a dispatch mode that records the shape of every tensor any op produces (forward and backward),
so tests can prove that no token × token matrix is ever formed."""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class ShapeProbe(TorchDispatchMode):
    """Records ``(op name, shape)`` of every tensor output while active; :attr:`sizes` gives the shapes alone."""

    def __init__(self):
        super().__init__()
        self.shapes: list[tuple[str, tuple[int, ...]]] = []

    @property
    def sizes(self) -> list[tuple[int, ...]]:
        return [s for _, s in self.shapes]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.shapes.append((str(func), tuple(t.shape)))
        return out
