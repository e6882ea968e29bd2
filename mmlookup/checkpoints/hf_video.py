"""Hugging Face video ViTs (``VideoMAE*``, ``Vivit*``; one module each, :mod:`.videomae`, :mod:`.vivit`): their
``config.json`` as our video ViT's arguments, and their tensors fitted to it."""
from __future__ import annotations

import re
from types import ModuleType
from typing import Any, Mapping

import torch
import torch.nn as nn

import mmlookup.checkpoints.videomae as videomae
import mmlookup.checkpoints.vivit as vivit
from mmlookup.checkpoints.report import LoadReport, SourceMeta, StateDict
from mmlookup.layers.attention import qkv_bias_of

#: One module per Hugging Face video ViT, by ``model_type``: what its config fixes (``architecture``) and the values
#: ``transformers`` assumes when the config leaves them out (``DEFAULTS``).
HF_VIDEO_MODELS: dict[str, ModuleType] = {"videomae": videomae, "vivit": vivit}
HF_VIDEO_TYPES = tuple(HF_VIDEO_MODELS)
HF_ACTIVATIONS = {"gelu": "gelu", "gelu_fast": "gelu_tanh", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}


def hf_video_encoder_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """Video ViT constructor arguments that rebuild a ``VideoMAE*`` / ``Vivit*`` model from its ``config.json``.

    Raises a clear error for what the video ViT cannot express (non-square patches, another activation).
    """
    kind = config.get("model_type")
    if kind not in HF_VIDEO_MODELS:
        raise ValueError(f"not a Hugging Face video ViT config (model_type {kind!r}); "
                         f"valid: {', '.join(HF_VIDEO_TYPES)}")
    model = HF_VIDEO_MODELS[kind]
    act = config.get("hidden_act", model.DEFAULTS["hidden_act"])
    if act not in HF_ACTIVATIONS:
        raise ValueError(f"the source uses activation {act!r}; supported: {', '.join(HF_ACTIVATIONS)}")
    dim = int(config.get("hidden_size", 768))
    patch, tubelet, extra = model.architecture(config)
    if not isinstance(patch, int):
        if len(set(patch)) != 1:
            raise ValueError(f"patch size {patch}: only square patches are supported")
        patch = patch[0]
    image = config.get("image_size", 224)
    return dict(
        num_frames=int(config.get("num_frames", model.DEFAULTS["num_frames"])),
        img_size=tuple(image) if isinstance(image, (list, tuple)) else (int(image), int(image)),
        patch_size=int(patch), tubelet_size=tubelet, in_chans=int(config.get("num_channels", 3)),
        embed_dim=dim, depth=int(config.get("num_hidden_layers", 12)),
        num_heads=int(config.get("num_attention_heads", 12)),
        mlp_ratio=int(config.get("intermediate_size", 4 * dim)) / dim,
        act_layer=HF_ACTIVATIONS[act],
        norm_eps=float(config.get("layer_norm_eps", model.DEFAULTS["layer_norm_eps"])),
        **extra,
    )


def hf_video_to_native(src: StateDict, model: nn.Module, report: LoadReport, meta: SourceMeta) -> StateDict:
    """A VideoMAE / ViViT state dict (already in timm-style keys) → our video ViT layout.

    The tubelet kernel, blocks and final norm keep their names; ViViT's ``(1, 1 + N, D)`` table splits into
    ``cls_pos`` and the joint ``pos_embed.pos_embed``; VideoMAE has no table (the target computes the same fixed
    sinusoid). The target must have the source's position embedding kind and CLS token (build it from the config).
    """
    pos_kind = getattr(model.pos_embed, "kind", None)
    has_cls = "cls_token" in src
    want_kind = "learned_joint" if "pos_embed" in src else "sincos"
    if pos_kind != want_kind or has_cls != bool(getattr(model, "num_prefix_tokens", 0)):
        raise ValueError(
            f"the Hugging Face video checkpoint needs pos_embed={want_kind!r}, class_token={has_cls}; the target "
            f"{type(model).__name__} has pos_embed={pos_kind!r}, class_token={bool(model.num_prefix_tokens)} "
            "(build it from the checkpoint's config: create_encoder('vit', checkpoint=DIR))"
        )
    out = {k: v for k, v in src.items() if k != "pos_embed"}
    kind = (meta.config or {}).get("model_type", "Hugging Face video ViT")
    blk = getattr(model.blocks[0], "refine", model.blocks[0])   # LookupViT: the compressed stream's ViT block
    act = "gelu_tanh" if getattr(blk.mlp.act, "approximate", "none") == "tanh" else "gelu"
    report.notes.append(f"{kind}: tubelet {'x'.join(map(str, model.patch_embed.proj.kernel_size))}, "
                        f"qkv_bias={qkv_bias_of(blk.attn.qkv)!r}, act {act}, LayerNorm eps {blk.norm1.eps:g}")
    if "pos_embed" in src:
        pos = src["pos_embed"]
        out["cls_pos"], out["pos_embed.pos_embed"] = pos[:, :1], pos[:, 1:]
        report.notes.append("position table row 0 -> cls_pos, rows 1.. -> joint pos_embed (learned_joint)")
    else:
        report.notes.append("fixed sinusoid position table (sincos: computed, not loaded); no CLS token")
    target = model.state_dict()
    for key in [k for k in out if k.endswith("attn.qkv.q_bias")]:
        full = key.replace("q_bias", "bias")
        as_lookup = re.sub(r"^blocks\.(\d+)\.", r"blocks.\1.refine.", full)      # LookupViT's compressed stream
        if key not in target and (full in target or as_lookup in target):     # a target with a full qkv bias
            q, v = out.pop(key), out.pop(key.replace("q_bias", "v_bias"))
            out[key.replace("q_bias", "bias")] = torch.cat([q, torch.zeros_like(q), v])
    if "norm.weight" in src and "norm.weight" not in target:
        raise ValueError("the source has a final LayerNorm but the target has none (final_norm=False)")
    if "norm.weight" not in src and "norm.weight" in target:
        report.notes.append("the source has no final norm (it mean-pools through fc_norm): build with final_norm=False")
    if report.head_pool is not None:
        report.notes.append(f"source pooling: {report.head_pool}"
                            + (f" + fc_norm (eps {report.head_norm_eps:g})" if report.head_norm_eps else ""))
    return out
