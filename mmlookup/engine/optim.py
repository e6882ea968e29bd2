"""AdamW with parameter groups: no weight decay on norms, biases, position embeddings and tokens;
optional layer-wise LR decay (MAE ``param_groups_lrd``)."""
from __future__ import annotations

import torch
import torch.nn as nn

from mmlookup.config import OptimCfg


def param_groups(model: nn.Module, weight_decay: float, layer_decay: float = 1.0,
                 head_lr_scale: float = 1.0) -> list[dict]:
    """Split trainable parameters into AdamW groups.

    A parameter gets no weight decay when it is 1-D (norm weights, biases) or listed by the model's
    ``no_weight_decay()``. With ``layer_decay < 1`` and a model exposing ``layer_id(name)`` and
    ``num_layers``, layer ``i`` gets ``lr_scale = layer_decay ** (num_layers - 1 - i)``. Parameters outside
    the encoder (the head) also get ``head_lr_scale``.

    Returns:
        Groups with ``params``, ``weight_decay``, ``lr_scale`` and ``group_name``.
    """
    skip = model.no_weight_decay() if hasattr(model, "no_weight_decay") else set()
    use_layers = layer_decay != 1.0 and hasattr(model, "layer_id")
    num_layers = getattr(model, "num_layers", 1)
    groups: dict[tuple[bool, int, bool], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decay = p.ndim > 1 and name not in skip
        layer = model.layer_id(name) if use_layers else 0
        is_head = name.startswith("head.")
        key = (decay, layer, is_head)
        if key not in groups:
            scale = layer_decay ** (num_layers - 1 - layer) if use_layers else 1.0
            groups[key] = {"params": [], "weight_decay": weight_decay if decay else 0.0,
                           "lr_scale": scale * (head_lr_scale if is_head else 1.0),
                           "group_name": f"layer{layer}_{'decay' if decay else 'no_decay'}{'_head' if is_head else ''}"}
        groups[key]["params"].append(p)
    return list(groups.values())


def build_optimizer(model: nn.Module, cfg: OptimCfg) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`; the LR is set every step by the engine (``lr * lr_scale * factor``)."""
    groups = param_groups(model, cfg.weight_decay, cfg.layer_decay, cfg.head_lr_scale)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's LR to ``lr * group['lr_scale']``."""
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)
