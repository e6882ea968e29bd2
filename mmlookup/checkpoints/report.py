"""What reading a checkpoint gives: the load report, a checkpoint split by its reader, the source's facts."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import torch

from mmlookup.checkpoints.labels import id2label_names

StateDict = dict[str, torch.Tensor]


@dataclass
class LoadReport:
    """What :func:`load_checkpoint` did, and the source's classifier head when it had one.

    ``head_state`` holds the head's tensors in our heads' naming (``fc.weight`` …; empty when the source has no
    classifier); ``head_pool`` the pooling it was trained with (``"cls"``, ``"mean"``; ``None`` when unknown).
    """

    source_format: str
    mapped: list[str] = field(default_factory=list)
    resized: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    head_state: StateDict = field(default_factory=dict)
    head_pool: str | None = None
    head_norm_eps: float | None = None     # eps of the source's fc_norm (VideoMAE: 1e-5), when it has one
    class_names: list[str] | None = None   # the head's classes in label order (config id2label), when known

    @property
    def head(self) -> tuple[torch.Tensor, torch.Tensor | None] | None:
        """The source's single linear classifier ``(weight, bias)``, or ``None``."""
        if "fc.weight" not in self.head_state:
            return None
        return self.head_state["fc.weight"], self.head_state.get("fc.bias")

    @property
    def head_classes(self) -> int | None:
        """Number of classes of the source's head (``None`` without one)."""
        return head_num_classes(self.head_state)

    def summary(self) -> str:
        lines = [f"loaded a {self.source_format} checkpoint: {len(self.mapped)} tensors mapped"]
        for label, names in (
            ("resized", self.resized),
            ("left new (initialised)", self.new),
            ("ignored", self.ignored),
        ):
            if names:
                lines.append(f"  {label} ({len(names)}): {_compact(names)}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass
class SourceParts:
    """One checkpoint split by its format's reader (see :data:`READERS`).

    encoder: the encoder's tensors; timm-style 2-D ViT keys when ``layout == "image"`` (fitted to the video
        encoder by :func:`image_to_native`), timm-style keys with a 5-D tubelet kernel when ``layout == "video"``
        (Hugging Face video ViTs, :func:`hf_video_to_native`), our encoder's own keys when ``layout == "native"``.
    head: the classifier's tensors in our heads' naming (empty when there is none).
    pool: the pooling the classifier was trained with: ``"cls"``, ``"mean"`` or ``None`` (unknown).
    norm_eps: the eps of the head's ``fc_norm`` when it has one and it is not ours (1e-6): VideoMAE's 1e-5.
    """

    encoder: StateDict
    head: StateDict = field(default_factory=dict)
    pool: str | None = None
    layout: str = "image"
    norm_eps: float | None = None


@dataclass
class SourceMeta:
    """Facts about the source model that its state dict does not carry."""

    layer_norm_eps: float | None = None
    hidden_act: str | None = None
    config: dict | None = None      # the source's whole config (Hugging Face config.json) when known


def head_num_classes(state: dict[str, torch.Tensor]) -> int | None:
    """Number of classes of a head state dict in our naming (``fc.weight`` or LookupViT's), ``None`` if empty."""
    for key in ("fc.weight", "fc_lookup.weight", "fc_compressed.weight"):
        if key in state:
            return int(state[key].shape[0])
    return None


def _require(sd: StateDict, key: str) -> torch.Tensor:
    if key not in sd:
        raise ValueError(f"the checkpoint has no {key!r} (keys like {sorted(sd)[:6]})")
    return sd[key]


def _compact(names: list[str]) -> str:
    """Names with block indices folded: ``blocks.*.attn.qkv.weight ×12``."""
    counts = Counter(re.sub(r"(blocks|layers?|encoder_layer_)\.?(\d+)", r"\1.*", n) for n in names)
    return ", ".join(f"{n} x{c}" if c > 1 else n for n, c in counts.items())


@dataclass
class Checkpoint:
    """A checkpoint reference resolved by :func:`mmlookup.checkpoints.read_checkpoint`, before any fitting.

    kind: the format that wrote it (a key of :data:`mmlookup.checkpoints.READERS`: ``mmlookup``, ``timm``,
        ``torchvision``, ``hf``). parts: encoder tensors, head tensors and pooling. meta: what the state dict does
        not carry (config, LayerNorm eps, activation). report: the :class:`LoadReport` being filled.
    """

    kind: str
    parts: SourceParts
    meta: SourceMeta
    report: LoadReport

    @property
    def config(self) -> dict | None:
        return self.meta.config

    @property
    def class_names(self) -> list[str] | None:
        """The head's class names from the config's ``id2label`` (Hugging Face convention), when it has one."""
        return id2label_names(self.meta.config)
