"""The entry point: :func:`load_checkpoint` loads any checkpoint reference into an encoder through :data:`READERS`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch.nn as nn

from mmlookup.checkpoints.fit import (
    _check_activation,
    _set_layer_norm_eps,
    fit_to_model,
    image_to_native,
    vit_to_lookupvit,
)
from mmlookup.checkpoints.hf_video import hf_video_to_native
from mmlookup.checkpoints.hf_vit import read_hf
from mmlookup.checkpoints.ours import _folder_head, _run_pool, read_mmlookup
from mmlookup.checkpoints.read import detect_format, read_state_dict
from mmlookup.checkpoints.report import Checkpoint, LoadReport, SourceParts, StateDict
from mmlookup.checkpoints.timm import read_timm
from mmlookup.checkpoints.torchvision import read_torchvision


def load_checkpoint(model: nn.Module, checkpoint: Any, checkpoint_format: str = "auto", *, inflate: str = "average",
                    verbose: bool = True) -> LoadReport:
    """Load ``checkpoint`` into ``model`` (a ViT, EViT, ATS or LookupViT encoder) and print a report.

    Args:
        model: the target encoder.
        checkpoint: a state dict, a path (``.pth``/``.pt``/``.bin``/``.safetensors`` file, a Hugging Face model
            folder, or one of our checkpoint folders holding ``model.safetensors``), or a source ``nn.Module``.
        checkpoint_format: ``"auto"`` (from the keys), ``"torchvision"``, ``"timm"``, ``"hf"`` or ``"mmlookup"``.
        inflate: how a 2-D patch kernel becomes a tubelet kernel: ``"average"`` or ``"central"``.
        verbose: print the report.

    Returns:
        The :class:`LoadReport`.
    """
    ckpt = read_checkpoint(checkpoint, checkpoint_format)
    report, parts, meta, fmt = ckpt.report, ckpt.parts, ckpt.meta, ckpt.kind
    if parts.layout == "native":
        native = parts.encoder
    else:
        if fmt == "hf" and meta.layer_norm_eps is None:
            meta.layer_norm_eps = 1e-12  # ViTConfig's and VideoMAE/ViViT configs' default
        if parts.layout == "video":
            native = hf_video_to_native(parts.encoder, model, report, meta)
        else:
            native = image_to_native(parts.encoder, model, report, inflate)
    _check_activation(model, meta)
    target = model.state_dict()
    if "blocks.0.refine.attn.qkv.weight" in target and "blocks.0.attn.qkv.weight" in native:
        native = vit_to_lookupvit(native, report)
    fitted = fit_to_model(native, target, report, inflate)
    if not fitted:
        raise ValueError(f"no tensor of the {fmt} checkpoint matches {type(model).__name__}; "
                         f"checkpoint keys start with {sorted(native)[:5]}")
    model.load_state_dict(fitted, strict=False)
    report.mapped = sorted(fitted)
    report.new = sorted(k for k in target if k not in fitted)
    _set_layer_norm_eps(model, meta.layer_norm_eps, report)
    if report.head_state:
        report.notes.append(f"source classifier ({report.head_classes} classes, pooling {report.head_pool or '?'}) "
                            "is in LoadReport.head_state (create_classifier imports it)")
    if verbose:
        print(report.summary())
    return report


def read_checkpoint(checkpoint: Any, checkpoint_format: str = "auto") -> Checkpoint:
    """Resolve any checkpoint reference to one :class:`Checkpoint`: its format, config, encoder tensors, head
    tensors with their pooling, and class names when known. Nothing is fitted to a model yet.

    ``checkpoint`` is anything :func:`load_checkpoint` accepts; ``checkpoint_format`` is ``"auto"`` or a key of
    :data:`READERS`.
    """
    if checkpoint_format not in FORMATS:
        raise ValueError(f"unknown checkpoint_format {checkpoint_format!r}; valid: {', '.join(FORMATS)}")
    sd, meta = read_state_dict(checkpoint)
    fmt = detect_format(sd) if checkpoint_format == "auto" else checkpoint_format
    report = LoadReport(source_format=fmt)
    parts = READERS[fmt](sd, report)
    if fmt == "mmlookup" and isinstance(checkpoint, (str, Path)) and parts.head:
        parts.pool, parts.norm_eps = _folder_head(Path(checkpoint)) or (parts.pool, parts.norm_eps)
        if parts.pool is None:
            parts.pool = _run_pool(Path(checkpoint))
    report.head_state, report.head_pool, report.head_norm_eps = parts.head, parts.pool, parts.norm_eps
    ckpt = Checkpoint(fmt, parts, meta, report)
    report.class_names = ckpt.class_names
    return ckpt


#: One reader per checkpoint format (see :class:`SourceParts`); ``detect_format`` names the format of a state dict.
READERS: dict[str, Callable[[StateDict, LoadReport], SourceParts]] = {
    "torchvision": read_torchvision,
    "timm": read_timm,
    "hf": read_hf,
    "mmlookup": read_mmlookup,
}


FORMATS = ("auto", *READERS)
