"""Loading weights into mmlookup encoders: our own checkpoints, image ViTs from torchvision, timm and HF, and
Hugging Face video ViTs (``VideoMAE*``, ``Vivit*``).

    create_encoder("vit_base", checkpoint="vit_b_16.pth", checkpoint_format="auto")     # torchvision weights
    create_encoder("evit_base", checkpoint=run_dir / "best")                           # our trained ViT, training-free
    report = load_checkpoint(model, timm_model.state_dict())                           # or call the loader directly

Every source is first brought to one layout, our video ViT's (``patch_embed.proj`` 5-D, ``pos_embed.pos_t`` /
``pos_hw`` or joint ``pos_embed``, ``cls_token``, ``cls_pos``, ``blocks.i.{norm1, attn.qkv, attn.proj, norm2,
mlp.fc1, mlp.fc2}``, ``norm``), then fitted to the target:

* a 2-D patch kernel is inflated to the tubelet length (``"average"``: copies / t, or ``"central"``), so an image
  (``T = 1``) gives exactly the source's patch tokens; a tubelet kernel of another length is re-inflated;
* the 2-D position table ``(1, 1 + h·w, D)`` becomes ``cls_pos`` + ``pos_hw`` (``pos_t`` = 0), resized with the
  anti-aliased resampler when the grid differs; our own tables are resized the same way;
* ViT / EViT / ATS take the state dict as is (same parameter names); LookupViT takes the ViT blocks as its
  compressed stream's ``refine`` blocks and the final norm as ``norm_compressed``; its cross-attention and D/2
  lookup MLP stay newly initialised (the report lists them), the CLS token is dropped;
* LayerNorm eps follows the source (torchvision/timm 1e-6, as ours; Hugging Face ``layer_norm_eps``, 1e-12 by
  default) and the activation must be the target's (exact GELU, or ``gelu_tanh`` for ViViT's ``gelu_fast``);
* a Hugging Face video model (5-D tubelet kernel) maps onto a video ViT built from its config
  (:func:`hf_video_encoder_kwargs`, which ``create_encoder("vit", checkpoint=DIR)`` applies): VideoMAE has no
  CLS token, the fixed sinusoid table (``pos_embed="sincos"``), query/value biases (``qkv_bias="qv"``) and, when
  it mean-pools, no final norm but an ``fc_norm`` (eps 1e-5) on the pooled token, part of its head; ViViT
  has a CLS token whose position is row 0 of its joint learned table (``pos_embed="learned_joint"``). Any family
  that shares the video ViT's state dict (vit, evit, ats, ...) takes it.

The loader prints what it mapped, resized, left new and ignored; a shape mismatch is an error naming the tensor.
The source's classifier (when present) is returned in :attr:`LoadReport.head_state`, in our heads' naming
(``fc.weight``, ``fc.bias``, ``fc_norm.*``, LookupViT's ``fc_compressed.*`` / ``fc_lookup.*``), with the pooling it
was trained with in :attr:`LoadReport.head_pool`; :func:`mmlookup.create_classifier` builds the classifier from it.

Each checkpoint format is one entry of :data:`READERS`: a function ``(state_dict, report) → SourceParts`` that
splits the checkpoint into the encoder's tensors (timm-style 2-D image keys, or already our native layout), the
head's tensors and the head's pooling. A new format (e.g. a video model) adds a reader and a key test in
:func:`detect_format`; fitting to the target encoder and building the head are shared.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn

from mmlookup.layers.attention import qkv_bias_of
from mmlookup.layers.pos_embed import resize_pos_embed_table
from mmlookup.layers.tubelet import inflate_patch_weight

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

    @property
    def head(self) -> tuple[torch.Tensor, torch.Tensor | None] | None:
        """The source's single linear classifier ``(weight, bias)``, or ``None``."""
        if "fc.weight" not in self.head_state:
            return None
        return self.head_state["fc.weight"], self.head_state.get("fc.bias")

    @property
    def head_classes(self) -> int | None:
        """Number of classes of the source's head (``None`` without one)."""
        from mmlookup.heads import head_num_classes

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


# ---- entry point ----------------------------------------------------------------------------------------------

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


# ---- reading --------------------------------------------------------------------------------------------------

def read_state_dict(checkpoint: Any) -> tuple[StateDict, SourceMeta]:
    """A flat ``name → tensor`` dict (and what is known of the source) from any accepted checkpoint form."""
    meta = SourceMeta()
    if isinstance(checkpoint, nn.Module):
        config = getattr(checkpoint, "config", None)
        if config is not None and hasattr(config, "to_dict"):
            cfg = config.to_dict()
            meta = SourceMeta(cfg.get("layer_norm_eps"), cfg.get("hidden_act"), cfg)
        return dict(checkpoint.state_dict()), meta
    if isinstance(checkpoint, (str, Path)):
        path = Path(checkpoint)
        if path.is_dir():
            config = path / "config.json"
            if config.is_file():
                cfg = json.loads(config.read_text())
                meta = SourceMeta(cfg.get("layer_norm_eps"), cfg.get("hidden_act"), cfg)
            files = [
                path / n
                for n in ("model.safetensors", "pytorch_model.bin", "model.pth", "model.pt")
                if (path / n).is_file()
            ]
            if not files:
                raise FileNotFoundError(f"no model.safetensors / pytorch_model.bin in checkpoint folder {path}")
            path = files[0]
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path))
        else:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        return _unwrap(obj), meta
    if isinstance(checkpoint, Mapping):
        return _unwrap(checkpoint), meta
    raise TypeError(f"a checkpoint is a path, a state dict or a module, got {type(checkpoint).__name__}")


def _unwrap(obj: Any) -> StateDict:
    for key in ("model", "state_dict", "model_state", "module", "model_ema"):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise TypeError(f"checkpoint holds a {type(obj).__name__}, not a state dict")
    sd = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if sd and all(k.startswith("module.") for k in sd):       # DistributedDataParallel wrapper
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def detect_format(sd: StateDict) -> str:
    """Which library wrote ``sd``, from its key names (and the patch kernel's rank)."""
    if "conv_proj.weight" in sd or "class_token" in sd:
        return "torchvision"
    if any(k.endswith("embeddings.patch_embeddings.projection.weight") for k in sd):
        return "hf"
    for prefix in ("", "encoder."):
        w = sd.get(prefix + "patch_embed.proj.weight")
        if w is not None:
            return "timm" if w.ndim == 4 else "mmlookup"
    raise ValueError("cannot tell the checkpoint format (no torchvision, timm, Hugging Face or mmlookup patch "
                     f"embedding among keys like {sorted(sd)[:6]}); pass checkpoint_format=")


# ---- sources → timm-style 2-D ViT keys --------------------------------------------------------------------------

_BLOCK_PARTS = ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2")
_HEAD_KEYS = {"head.weight", "head.bias"}
_UNSUPPORTED = ("dist_token", "reg_token", "norm_pre", ".ls1.", ".ls2.", "attn.q_norm", "attn.k_norm", "norm_post")


def read_timm(sd: StateDict, report: LoadReport) -> SourceParts:
    """A timm ``VisionTransformer`` state dict, checked: classifier (``head.*``, ``fc_norm.*``) split off,
    unsupported parts named. timm pools the CLS token unless it has ``fc_norm`` (``global_pool="avg"``)."""
    bad = sorted(k for k in sd if any(u in k for u in _UNSUPPORTED))
    if bad:
        raise ValueError(f"unsupported ViT parts in the checkpoint (distillation/register tokens, layer scale, "
                         f"pre-norm or qk-norm): {_compact(bad)}")
    out: StateDict = {}
    for k, v in sd.items():
        if k in _HEAD_KEYS or k.startswith("fc_norm."):
            continue
        if k.startswith(("patch_embed.proj.", "blocks.", "norm.")) or k in ("cls_token", "pos_embed"):
            out[k] = v
        else:
            report.ignored.append(k)
    head: StateDict = {}
    pool = None
    if "head.weight" in sd:
        head = {"fc." + k[len("head."):]: v for k, v in sd.items() if k in _HEAD_KEYS}
        pool = "cls" if "cls_token" in sd else "mean"
    if "fc_norm.weight" in sd:
        head.update({k: v for k, v in sd.items() if k.startswith("fc_norm.")})
        pool = "mean"
        report.notes.append("the source mean-pools patch tokens through fc_norm (global_pool='avg')")
    return SourceParts(out, head, pool)


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


# ---- Hugging Face video ViTs (VideoMAE, ViViT) --------------------------------------------------------------------

HF_VIDEO_TYPES = ("videomae", "vivit")
HF_ACTIVATIONS = {"gelu": "gelu", "gelu_fast": "gelu_tanh", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}


def hf_video_encoder_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """Video ViT constructor arguments that rebuild a ``VideoMAE*`` / ``Vivit*`` model from its ``config.json``.

    Raises a clear error for what the video ViT cannot express (non-square patches, another activation).
    """
    kind = config.get("model_type")
    if kind not in HF_VIDEO_TYPES:
        raise ValueError(f"not a Hugging Face video ViT config (model_type {kind!r}); "
                         f"valid: {', '.join(HF_VIDEO_TYPES)}")
    act = config.get("hidden_act", "gelu" if kind == "videomae" else "gelu_fast")
    if act not in HF_ACTIVATIONS:
        raise ValueError(f"the source uses activation {act!r}; supported: {', '.join(HF_ACTIVATIONS)}")
    dim = int(config.get("hidden_size", 768))
    if kind == "videomae":
        patch, tubelet = config.get("patch_size", 16), int(config.get("tubelet_size", 2))
        qv = config.get("qv_bias", config.get("qkv_bias", True))
        mean_pool = bool(config.get("use_mean_pooling", True))
        extra = dict(qkv_bias="qv" if qv else False, class_token=False, pos_embed="sincos", final_norm=not mean_pool)
    else:
        tubelet, p_h, p_w = (int(v) for v in config.get("tubelet_size", (2, 16, 16)))
        if p_h != p_w:
            raise ValueError(f"ViViT tubelet {tubelet}x{p_h}x{p_w}: only square patches are supported")
        patch = p_h
        extra = dict(qkv_bias=bool(config.get("qkv_bias", True)), class_token=True, pos_embed="learned_joint",
                     final_norm=True)
    if not isinstance(patch, int):
        if len(set(patch)) != 1:
            raise ValueError(f"patch size {patch}: only square patches are supported")
        patch = patch[0]
    image = config.get("image_size", 224)
    return dict(
        num_frames=int(config.get("num_frames", 16 if kind == "videomae" else 32)),
        img_size=tuple(image) if isinstance(image, (list, tuple)) else (int(image), int(image)),
        patch_size=int(patch), tubelet_size=tubelet, in_chans=int(config.get("num_channels", 3)),
        embed_dim=dim, depth=int(config.get("num_hidden_layers", 12)),
        num_heads=int(config.get("num_attention_heads", 12)),
        mlp_ratio=int(config.get("intermediate_size", 4 * dim)) / dim,
        act_layer=HF_ACTIVATIONS[act],
        norm_eps=float(config.get("layer_norm_eps", 1e-12 if kind == "videomae" else 1e-6)),
        **extra,
    )


# Constructor arguments that fix the architecture: a checkpoint's config decides them, a caller may only repeat them.
ARCH_KEYS = ("num_frames", "img_size", "patch_size", "tubelet_size", "in_chans", "embed_dim", "depth", "num_heads",
             "mlp_ratio", "qkv_bias", "class_token", "pos_embed", "act_layer", "norm_eps", "final_norm")


def checkpoint_config(checkpoint: Any) -> dict | None:
    """The config a checkpoint carries: a ``config.json`` beside its weights, or a ``transformers`` module's."""
    config = getattr(checkpoint, "config", None) if isinstance(checkpoint, nn.Module) else None
    if config is not None and hasattr(config, "to_dict"):
        return config.to_dict()
    if isinstance(checkpoint, (str, Path)) and (Path(checkpoint) / "config.json").is_file():
        return json.loads((Path(checkpoint) / "config.json").read_text())
    return None


def resolve_encoder_args(name: str | None, checkpoint: Any, kwargs: dict[str, Any],
                         registered: Any) -> tuple[str, dict[str, Any]]:
    """Encoder name and arguments for building the target of ``checkpoint``.

    A checkpoint whose config fixes the architecture (a Hugging Face VideoMAE / ViViT folder or module, one of our
    model folders) decides it (:func:`apply_checkpoint_config`); a model folder also supplies its encoder name when
    ``name`` is ``None`` and its other arguments (EViT's keep rate, LookupViT's grid) as defaults for the same
    family. Other checkpoints leave ``name`` and ``kwargs`` as they are.
    """
    cfg = checkpoint_config(checkpoint) if checkpoint is not None else None
    own, defaults = None, {}
    if cfg is not None and cfg.get("model_type") in HF_VIDEO_TYPES:
        fixed = hf_video_encoder_kwargs(cfg)
    elif cfg is not None and "mmlookup" in cfg:
        own = cfg["encoder"]
        saved = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.get("encoder_kwargs", {}).items()}
        fixed = {k: v for k, v in saved.items() if k in ARCH_KEYS}
        defaults = {k: v for k, v in saved.items() if k not in ARCH_KEYS}
    else:
        fixed = None
    if name is None and own is None:
        raise ValueError("an encoder name is required unless the checkpoint is an mmlookup model folder")
    if own is not None and name in (None, own, own.rsplit("_", 1)[0]):
        name = own                      # the folder's own variant: its saved arguments may differ from the size's
    if fixed is None:
        return name, kwargs
    name, kwargs = apply_checkpoint_config(name, kwargs, fixed, registered, check_size=name != own)
    if own is not None and name.rsplit("_", 1)[0] == own.rsplit("_", 1)[0]:
        kwargs = {**defaults, **kwargs}
    return name, kwargs


def apply_checkpoint_config(name: str, kwargs: dict[str, Any], fixed: Mapping[str, Any], registered: Any,
                            check_size: bool = True) -> tuple[str, dict[str, Any]]:
    """Encoder name and arguments for a checkpoint whose config fixes the architecture (``fixed``).

    A bare family name (``"vit"``) gets the size whose width/depth/heads match (else ``base`` with the config's
    values); an explicit size or argument that contradicts the config is an error naming both values.
    """
    from mmlookup.encoders.common import SIZES

    dims = tuple(fixed.get(k) for k in ("embed_dim", "depth", "num_heads"))
    if name not in registered:
        sizes = [n.rsplit("_", 1)[1] for n in registered if n.rsplit("_", 1)[0] == name]
        if not sizes:
            return name, kwargs                        # unknown name: create_encoder reports the valid ones
        size = next((s for s in sizes if SIZES.get(s) == dims), "base" if "base" in sizes else sizes[0])
        name = f"{name}_{size}"
    else:
        size = name.rsplit("_", 1)[-1]
        if check_size and size in SIZES and None not in dims and SIZES[size] != dims:
            raise ValueError(f"{name} is embed_dim/depth/heads {'/'.join(map(str, SIZES[size]))} but the checkpoint's "
                             f"config says {'/'.join(map(str, dims))}; pass the bare family name to take its size")
    for key, value in kwargs.items():
        if key in fixed and _norm_arg(key, value) != _norm_arg(key, fixed[key]):
            raise ValueError(f"{key}={value!r} contradicts the checkpoint's config ({key}={fixed[key]!r})")
    return name, {**fixed, **kwargs}


def _norm_arg(key: str, value: Any) -> Any:
    """A comparable form of an argument: sequences as tuples, numbers as floats, ``img_size`` as a pair."""
    if key == "img_size" and isinstance(value, int):
        value = (value, value)
    if isinstance(value, (list, tuple)):
        return tuple(_norm_arg("", v) for v in value)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


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


# ---- timm-style 2-D ViT → our video layout ----------------------------------------------------------------------

def image_to_native(src: StateDict, model: nn.Module, report: LoadReport, inflate: str) -> StateDict:
    """2-D ViT keys → our video ViT's: tubelet-inflated patch kernel, split and resized position table."""
    out = {k: v for k, v in src.items() if k.startswith(("blocks.", "norm."))}
    w = _require(src, "patch_embed.proj.weight")
    tubelet = model.patch_embed.tubelet_size
    out["patch_embed.proj.weight"] = inflate_patch_weight(w, tubelet, inflate)
    if "patch_embed.proj.bias" in src:
        out["patch_embed.proj.bias"] = src["patch_embed.proj.bias"]
    if tubelet > 1:
        report.notes.append(f"2-D patch kernel inflated to tubelet length {tubelet} ({inflate!r})")
    has_cls = "cls_token" in src
    if has_cls:
        out["cls_token"] = src["cls_token"]
    pos = _require(src, "pos_embed")
    prefix, side = _split_pos(pos, has_cls)
    pos_hw = pos[:, prefix:]
    grid = tuple(model.pos_embed.grid)
    if (side, side) != grid[1:]:
        pos_hw = resize_pos_embed_table(pos_hw, (side, side), grid[1:])
        report.resized.append(f"pos_embed {side}x{side} -> {grid[1]}x{grid[2]}")
    if has_cls:
        out["cls_pos"] = pos[:, :1] if prefix else torch.zeros_like(src["cls_token"])
    if model.pos_embed.separable:
        out["pos_embed.pos_hw"] = pos_hw
        out["pos_embed.pos_t"] = pos.new_zeros(1, grid[0], pos.shape[-1])
        report.notes.append("pos_embed.pos_t set to zero (a 2-D source has no time axis)")
    else:
        out["pos_embed.pos_embed"] = pos_hw.unsqueeze(1).expand(-1, grid[0], -1, -1).reshape(1, -1, pos.shape[-1])
    return out


def _split_pos(pos: torch.Tensor, has_cls: bool) -> tuple[int, int]:
    """Number of prefix rows (0 or 1) and the side of the square patch grid of a 2-D position table."""
    if pos.ndim != 3:
        raise ValueError(f"pos_embed: expected (1, n, D), got shape {tuple(pos.shape)}")
    n = pos.shape[1]
    for prefix in ((1, 0) if has_cls else (0,)):
        side = math.isqrt(n - prefix)
        if side * side == n - prefix:
            return prefix, side
    raise ValueError(f"pos_embed: {n} rows are not a square patch grid (plus a CLS row); unsupported source")


def vit_to_lookupvit(native: StateDict, report: LoadReport) -> StateDict:
    """ViT layout → LookupViT: blocks become the compressed stream's ``refine`` blocks, ``norm`` its final norm."""
    out: StateDict = {}
    for k, v in native.items():
        m = re.fullmatch(r"blocks\.(\d+)\.(.+)", k)
        if m:
            out[f"blocks.{m.group(1)}.refine.{m.group(2)}"] = v
        elif k.startswith("norm."):
            out["norm_compressed." + k[len("norm."):]] = v
        elif k in ("cls_token", "cls_pos"):
            report.ignored.append(k)
        else:
            out[k] = v
    report.notes.append(
        "LookupViT: ViT blocks -> compressed-stream refine blocks, final norm -> norm_compressed; "
        "cross-attention (q, kv, proj_p, v_p, proj_l, norms) and the D/2 lookup MLP are newly initialised"
    )
    return out


# ---- fitting to the target --------------------------------------------------------------------------------------

def fit_to_model(native: StateDict, target: Mapping[str, torch.Tensor], report: LoadReport, inflate: str) -> StateDict:
    """Tensors of ``native`` shaped for ``target``: position tables resized, tubelet kernels re-inflated.

    A key the model lacks is ignored (and reported); any other shape difference is an error naming the tensor.
    """
    out: StateDict = {}
    for k, v in native.items():
        if k not in target:
            report.ignored.append(k)
            continue
        want = target[k].shape
        if v.shape != want:
            v = _reshape_known(k, v, want, report, inflate)
        out[k] = v.to(target[k].dtype)
    return out


def _reshape_known(key: str, v: torch.Tensor, want: torch.Size, report: LoadReport, inflate: str) -> torch.Tensor:
    name = key.rsplit(".", 1)[-1]
    if name in ("pos_t", "pos_hw", "pos_embed") and v.ndim == 3 and v.shape[-1] == want[-1]:
        if name == "pos_t":
            old, new = (v.shape[1],), (want[1],)
        elif name == "pos_hw":
            old, new = _square(key, v.shape[1]), _square(key, want[1])
        else:
            raise ValueError(f"{key}: a joint position table of {v.shape[1]} rows cannot be resized to {want[1]} "
                             "without its grid; use separable position embeddings or the same geometry")
        report.resized.append(f"{key} {'x'.join(map(str, old))} -> {'x'.join(map(str, new))}")
        return resize_pos_embed_table(v, old, new)
    if key.endswith("patch_embed.proj.weight") and v.ndim == 5 and v.shape[:2] + v.shape[3:] == want[:2] + want[3:]:
        report.resized.append(f"{key} tubelet {v.shape[2]} -> {want[2]}")
        return inflate_patch_weight(v.sum(dim=2), want[2], inflate)
    raise ValueError(f"shape mismatch for {key}: checkpoint {tuple(v.shape)} vs model {tuple(want)}")


def _square(key: str, n: int) -> tuple[int, int]:
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"{key}: {n} rows are not a square grid; cannot resize")
    return side, side


def read_mmlookup(sd: StateDict, report: LoadReport) -> SourceParts:
    """Our checkpoints: a bare encoder state dict, or a classifier's (``encoder.*`` + ``head.*``).

    The head's pooling is not in the state dict; :func:`load_checkpoint` reads it from the run's ``recipe.yaml``.
    """
    if not any(k.startswith("encoder.") for k in sd):
        return SourceParts(dict(sd), layout="native")
    out = {k[len("encoder."):]: v for k, v in sd.items() if k.startswith("encoder.")}
    head = {k[len("head."):]: v for k, v in sd.items() if k.startswith("head.")}
    report.ignored += [k for k in sd if not k.startswith(("encoder.", "head."))]
    pool = "lookup" if "fc_lookup.weight" in head else ("mean" if "fc_norm.weight" in head else None)
    if pool is None and "fc.weight" in head and "fc.bias" not in head and "norm_compressed.weight" in out:
        pool = "shared"                                                   # LookupViT's single bias-free head
    return SourceParts(out, head, pool, layout="native")


def _folder_head(folder: Path) -> tuple[str, float | None] | None:
    """Pooling and ``fc_norm`` eps of a model folder's head, from its ``config.json`` (``None``: not a folder)."""
    cfg = checkpoint_config(folder)
    if not cfg or "mmlookup" not in cfg or "head" not in cfg:
        return None
    head = cfg["head"]
    return head["pool"], head.get("fc_norm_eps") if head.get("fc_norm") else None


def _run_pool(checkpoint: Path) -> str | None:
    """The pooling of the run a checkpoint folder belongs to, from its ``recipe.yaml`` (``None`` if not found).

    Runs written before ``model.pool`` existed trained a mean-pooled head, so a recipe without the key means
    ``"mean"``.
    """
    import yaml

    from mmlookup.viz.load import find_recipe

    path = find_recipe(checkpoint)
    if path is None:
        return None
    model = (yaml.safe_load(path.read_text()) or {}).get("model", {})
    pool = model.get("pool", "mean")
    if str(model.get("encoder", "")).startswith("lookupvit"):
        return "shared" if pool == "shared" else "lookup"
    return None if pool == "auto" else pool


#: One reader per checkpoint format (see :class:`SourceParts`); ``detect_format`` names the format of a state dict.
READERS: dict[str, Callable[[StateDict, LoadReport], SourceParts]] = {
    "torchvision": read_torchvision,
    "timm": read_timm,
    "hf": read_hf,
    "mmlookup": read_mmlookup,
}
FORMATS = ("auto", *READERS)


def _require(sd: StateDict, key: str) -> torch.Tensor:
    if key not in sd:
        raise ValueError(f"the checkpoint has no {key!r} (keys like {sorted(sd)[:6]})")
    return sd[key]


def _check_activation(model: nn.Module, meta: SourceMeta) -> None:
    """The source's activation must be the target's (every ``nn.GELU`` in it: exact, or the tanh approximation)."""
    if meta.hidden_act is None:
        return
    want = HF_ACTIVATIONS.get(meta.hidden_act)
    have = {"gelu_tanh" if m.approximate == "tanh" else "gelu" for m in model.modules() if isinstance(m, nn.GELU)}
    if want is None or have - {want}:
        raise ValueError(f"the source uses activation {meta.hidden_act!r}; the target uses {', '.join(sorted(have))} "
                         f"(build it with act_layer={want!r})" if want else
                         f"the source uses activation {meta.hidden_act!r}; supported: {', '.join(HF_ACTIVATIONS)}")


def _set_layer_norm_eps(model: nn.Module, eps: float | None, report: LoadReport) -> None:
    if eps is None:
        return
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    if any(m.eps != eps for m in norms):
        for m in norms:
            m.eps = float(eps)
        report.notes.append(f"LayerNorm eps set to {eps:g} to match the source (ours defaults to 1e-6)")


def _compact(names: list[str]) -> str:
    """Names with block indices folded: ``blocks.*.attn.qkv.weight ×12``."""
    counts = Counter(re.sub(r"(blocks|layers?|encoder_layer_)\.?(\d+)", r"\1.*", n) for n in names)
    return ", ".join(f"{n} x{c}" if c > 1 else n for n, c in counts.items())
