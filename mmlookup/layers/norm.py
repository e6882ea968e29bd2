"""The LayerNorm used everywhere: eps 1e-6, as in timm, torchvision and big_vision ViTs (so imported weights match)."""

from __future__ import annotations

from functools import partial

import torch.nn as nn

LayerNorm = partial(nn.LayerNorm, eps=1e-6)
