"""Reader of torchvision ``VisionTransformer`` (``vit_b_16`` ...) state dicts."""
from __future__ import annotations

import re

from mmlookup.checkpoints.report import LoadReport, SourceParts, StateDict


def read_torchvision(sd: StateDict, report: LoadReport) -> SourceParts:
    """torchvision ``VisionTransformer`` (``vit_b_16`` …) keys → timm-style keys; ``heads.head`` reads the CLS."""
    out: StateDict = {}
    simple = {"conv_proj.weight": "patch_embed.proj.weight", "conv_proj.bias": "patch_embed.proj.bias",
              "class_token": "cls_token", "encoder.pos_embedding": "pos_embed",
              "encoder.ln.weight": "norm.weight", "encoder.ln.bias": "norm.bias"}
    layer = re.compile(r"encoder\.layers\.encoder_layer_(\d+)\.(.+)")
    parts = {"ln_1": "norm1", "ln_2": "norm2", "self_attention.out_proj": "attn.proj",
             "mlp.0": "mlp.fc1", "mlp.3": "mlp.fc2", "mlp.linear_1": "mlp.fc1", "mlp.linear_2": "mlp.fc2"}
    for k, v in sd.items():
        if k in simple:
            out[simple[k]] = v
            continue
        m = layer.fullmatch(k)
        if m is None:
            if k.startswith("heads."):
                continue
            report.ignored.append(k)
            continue
        i, rest = m.groups()
        if rest.startswith("self_attention.in_proj_"):
            out[f"blocks.{i}.attn.qkv.{rest.rsplit('_', 1)[1]}"] = v           # rows are q, k, v as in timm
            continue
        name, _, kind = rest.rpartition(".")
        if name not in parts:
            raise ValueError(f"unexpected torchvision tensor {k!r}")
        out[f"blocks.{i}.{parts[name]}.{kind}"] = v
    head: StateDict = {}
    if "heads.pre_logits.weight" in sd:
        report.notes.append("the source has a pre-logits layer (heads.pre_logits); its classifier is not imported")
    elif "heads.head.weight" in sd:
        head = {"fc." + k[len("heads.head."):]: v for k, v in sd.items() if k.startswith("heads.head.")}
    return SourceParts(out, head, "cls" if head else None)
