"""Reader of Hugging Face ``ViT*``, ``VideoMAE*`` and ``Vivit*`` state dicts (their key layouts are shared)."""
from __future__ import annotations

import re

import torch

from mmlookup.checkpoints.report import LoadReport, SourceParts, StateDict


def read_hf(sd: StateDict, report: LoadReport) -> SourceParts:
    """Hugging Face ``ViT*``, ``VideoMAE*`` and ``Vivit*`` keys (old and new layouts) → timm-style keys.

    The patch kernel keeps its rank: 4-D is an image ViT (``layout="image"``), 5-D a video ViT (``"video"``,
    fitted by :func:`hf_video_to_native`). VideoMAE's query/value-only biases (``query.bias`` / ``value.bias``, or
    the older ``q_bias`` / ``v_bias``) become ``attn.qkv.q_bias`` / ``attn.qkv.v_bias``. ``classifier.*`` reads
    the CLS token after the final layernorm, or, with VideoMAE's ``fc_norm.*``, the normalised mean of the tokens.
    """
    out: StateDict = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    layer = re.compile(r"(?:encoder\.layer|layers)\.(\d+)\.(.+)")
    base = re.compile(r"^(?:vit|videomae|vivit)\.")
    parts = {"layernorm_before": "norm1", "layernorm_after": "norm2", "attention.output.dense": "attn.proj",
             "attention.o_proj": "attn.proj", "intermediate.dense": "mlp.fc1", "output.dense": "mlp.fc2",
             "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}
    qkv_names = {"attention.attention.query": "q", "attention.attention.key": "k", "attention.attention.value": "v",
                 "attention.q_proj": "q", "attention.k_proj": "k", "attention.v_proj": "v"}
    for k, v in sd.items():
        key = base.sub("", k)
        simple = {"embeddings.cls_token": "cls_token", "embeddings.position_embeddings": "pos_embed",
                  "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
                  "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
                  "layernorm.weight": "norm.weight", "layernorm.bias": "norm.bias"}
        if key in simple:
            out[simple[key]] = v
            continue
        m = layer.fullmatch(key)
        if m is None:
            if key.startswith(("classifier.", "fc_norm.")):
                continue
            report.ignored.append(k)
            continue
        i, rest = m.groups()
        name, _, kind = rest.rpartition(".")
        if name == "attention.attention" and kind in ("q_bias", "v_bias"):        # VideoMAE before transformers 5
            name, kind = {"q_bias": "attention.attention.query", "v_bias": "attention.attention.value"}[kind], "bias"
        if name in qkv_names:
            qkv.setdefault((i, kind), {})[qkv_names[name]] = v
        elif name in parts:
            out[f"blocks.{i}.{parts[name]}.{kind}"] = v
        else:
            raise ValueError(f"unexpected Hugging Face ViT tensor {k!r}")
    for (i, kind), t in qkv.items():
        if kind == "bias" and set(t) == {"q", "v"}:
            out[f"blocks.{i}.attn.qkv.q_bias"], out[f"blocks.{i}.attn.qkv.v_bias"] = t["q"], t["v"]
            continue
        if set(t) != {"q", "k", "v"}:
            raise ValueError(f"layer {i} {kind}: query/key/value incomplete in the Hugging Face checkpoint")
        out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat([t["q"], t["k"], t["v"]], dim=0)
    head = {"fc." + k[len("classifier."):]: v for k, v in sd.items() if k in ("classifier.weight", "classifier.bias")}
    pool, norm_eps = ("cls" if head else None), None
    if "fc_norm.weight" in sd:   # VideoMAEForVideoClassification: nn.LayerNorm(hidden_size), so eps 1e-5
        head.update({k: v for k, v in sd.items() if k in ("fc_norm.weight", "fc_norm.bias")})
        pool, norm_eps = "mean", 1e-5
    video = out.get("patch_embed.proj.weight", torch.empty(0)).ndim == 5
    return SourceParts(out, head, pool, layout="video" if video else "image", norm_eps=norm_eps)
