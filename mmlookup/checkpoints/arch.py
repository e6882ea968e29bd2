"""The encoder a checkpoint asks for: name and arguments completed from the config it carries."""
from __future__ import annotations

from typing import Any, Mapping

from mmlookup.checkpoints.hf_video import HF_VIDEO_TYPES, hf_video_encoder_kwargs
from mmlookup.checkpoints.read import checkpoint_config
from mmlookup.encoders.common import SIZES

# Constructor arguments that fix the architecture: a checkpoint's config decides them, a caller may only repeat them.
ARCH_KEYS = ("num_frames", "img_size", "patch_size", "tubelet_size", "in_chans", "embed_dim", "depth", "num_heads",
             "mlp_ratio", "qkv_bias", "class_token", "pos_embed", "act_layer", "norm_eps", "final_norm")


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
