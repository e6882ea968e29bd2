"""Per-sample seeding so augmentation is a function of (seed, epoch, index), not of loader history.

With it, a run resumed mid-epoch draws the same augmented clips as the uninterrupted run, with any number of
data-loader workers, and the result does not depend on how samples were spread over workers.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


class SeededDataset(Dataset):
    """Wrap a dataset so ``__getitem__(i)`` runs under RNGs seeded from ``(seed, epoch, i)``.

    The caller's RNG states (torch CPU, ``random``, NumPy) are restored afterwards. Attributes not defined
    here (``num_classes``, ``records``, ``classes``) are read from the wrapped dataset.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed
        # shared memory, so persistent data-loader workers (forked once) see the epoch set by the main process
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        s = (self.seed * 1_000_003 + self.epoch * 100_003 + index) % (2**31 - 1)
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(s)
                random.seed(s)
                np.random.seed(s)
                return self.dataset[index]
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":  # not yet set (unpickling): avoid recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)
