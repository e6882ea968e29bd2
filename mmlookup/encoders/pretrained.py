"""Loading weights into mmlookup encoders: our own checkpoints and image ViTs from torchvision, timm and HF.

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
  default) and the activation must be exact GELU (all three use it).

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
        encoder by :func:`image_to_native`), our encoder's own keys when ``layout == "native"``.
    head: the classifier's tensors in our heads' naming (empty when there is none).
    pool: the pooling the classifier was trained with: ``"cls"``, ``"mean"`` or ``None`` (unknown).
    """

    encoder: StateDict
    head: StateDict = field(default_factory=dict)
    pool: str | None = None
    layout: str = "image"


@dataclass
class SourceMeta:
    """Facts about the source model that its state dict does not carry."""

    layer_norm_eps: float | None = None
    hidden_act: str | None = None


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
    if fmt == "mmlookup" and isinstance(checkpoint, (str, Path)) and parts.head and parts.pool is None:
        parts.pool = _run_pool(Path(checkpoint))
    report.head_state, report.head_pool = parts.head, parts.pool
    if parts.layout == "native":
        native = parts.encoder
    else:
        if fmt == "hf" and meta.layer_norm_eps is None:
            meta.layer_norm_eps = 1e-12  # ViTConfig's default, used by the google/vit-* checkpoints
        native = image_to_native(parts.encoder, model, report, inflate)
    _check_activation(meta)
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
        if config is not None:
            meta = SourceMeta(getattr(config, "layer_norm_eps", None), getattr(config, "hidden_act", None))
        return dict(checkpoint.state_dict()), meta
    if isinstance(checkpoint, (str, Path)):
        path = Path(checkpoint)
        if path.is_dir():
            config = path / "config.json"
            if config.is_file():
                cfg = json.loads(config.read_text())
                meta = SourceMeta(cfg.get("layer_norm_eps"), cfg.get("hidden_act"))
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
    """Hugging Face ``ViTModel`` / ``ViTForImageClassification`` keys (old and new layouts) → timm-style keys;
    ``classifier.*`` reads the CLS token after the final layernorm."""
    out: StateDict = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    layer = re.compile(r"(?:vit\.)?(?:encoder\.layer|layers)\.(\d+)\.(.+)")
    parts = {"layernorm_before": "norm1", "layernorm_after": "norm2", "attention.output.dense": "attn.proj",
             "attention.o_proj": "attn.proj", "intermediate.dense": "mlp.fc1", "output.dense": "mlp.fc2",
             "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}
    qkv_names = {"attention.attention.query": "q", "attention.attention.key": "k", "attention.attention.value": "v",
                 "attention.q_proj": "q", "attention.k_proj": "k", "attention.v_proj": "v"}
    for k, v in sd.items():
        key = k[len("vit."):] if k.startswith("vit.") else k
        simple = {"embeddings.cls_token": "cls_token", "embeddings.position_embeddings": "pos_embed",
                  "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
                  "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
                  "layernorm.weight": "norm.weight", "layernorm.bias": "norm.bias"}
        if key in simple:
            out[simple[key]] = v
            continue
        m = layer.fullmatch(key)
        if m is None:
            if key.startswith("classifier."):
                continue
            report.ignored.append(k)
            continue
        i, rest = m.groups()
        name, _, kind = rest.rpartition(".")
        if name in qkv_names:
            qkv.setdefault((i, kind), {})[qkv_names[name]] = v
        elif name in parts:
            out[f"blocks.{i}.{parts[name]}.{kind}"] = v
        else:
            raise ValueError(f"unexpected Hugging Face ViT tensor {k!r}")
    for (i, kind), t in qkv.items():
        if set(t) != {"q", "k", "v"}:
            raise ValueError(f"layer {i} {kind}: query/key/value incomplete in the Hugging Face checkpoint")
        out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat([t["q"], t["k"], t["v"]], dim=0)
    head = {"fc." + k[len("classifier."):]: v for k, v in sd.items() if k in ("classifier.weight", "classifier.bias")}
    return SourceParts(out, head, "cls" if head else None)


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
    return SourceParts(out, head, pool, layout="native")


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
    if pool == "auto":
        return "lookup" if str(model.get("encoder", "")).startswith("lookupvit") else None
    return pool


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


def _check_activation(meta: SourceMeta) -> None:
    if meta.hidden_act not in (None, "gelu"):
        raise ValueError(f"the source uses activation {meta.hidden_act!r}; our blocks use exact GELU ('gelu')")


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
