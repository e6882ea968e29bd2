"""Reading any checkpoint form (path, folder, state dict, module) to a flat state dict, and telling its format."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn
from safetensors import safe_open

from mmlookup.checkpoints.report import SourceMeta, StateDict


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
            obj = torch_load(path)
        return _unwrap(obj), meta
    if isinstance(checkpoint, Mapping):
        return _unwrap(checkpoint), meta
    raise TypeError(f"a checkpoint is a path, a state dict or a module, got {type(checkpoint).__name__}")


def torch_load(file: str | Path, **kwargs: Any) -> Any:
    """``torch.load(weights_only=True)`` whose refusals are one line naming the file: a pickle that holds
    non-tensor objects (code, classes) is never unpickled, and a corrupt file says so."""
    import pickle

    try:
        return torch.load(str(file), map_location="cpu", weights_only=True, **kwargs)
    except pickle.UnpicklingError as e:
        what = " ".join(str(e).split("\n")[0].split())[:160]
        raise ValueError(f"{file} holds non-tensor objects (pickled code or classes), which are never unpickled "
                         f"here ({what}); save it as tensors only, e.g. safetensors") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise ValueError(f"{file} is not a readable torch file ({' '.join(str(e).split())[:160]}); it is corrupt "
                         "or cut short") from None


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


def checkpoint_config(checkpoint: Any) -> dict | None:
    """The config a checkpoint carries: a ``config.json`` beside its weights, or a ``transformers`` module's."""
    config = getattr(checkpoint, "config", None) if isinstance(checkpoint, nn.Module) else None
    if config is not None and hasattr(config, "to_dict"):
        return config.to_dict()
    if isinstance(checkpoint, (str, Path)) and (Path(checkpoint) / "config.json").is_file():
        return json.loads((Path(checkpoint) / "config.json").read_text())
    return None


def tensor_shapes(file: str | Path) -> dict[str, tuple[int, ...]]:
    """Name → shape of every tensor in a ``.safetensors`` file, from its header only (no tensor is read).

    Raises whatever safetensors raises for a missing, cut-short or corrupt file.
    """
    with safe_open(str(file), framework="pt") as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


def classifier_classes(weights: str | Path) -> int:
    """Classes of the classification head in a classifier's ``model.safetensors`` (``head.fc`` or LookupViT's
    ``head.fc_lookup``), from the header only."""
    shapes = tensor_shapes(weights)
    for key in ("head.fc.weight", "head.fc_lookup.weight"):
        if key in shapes:
            return int(shapes[key][0])
    raise ValueError(f"{weights} has no classification head (head.fc / head.fc_lookup)")


def weight_shapes(file: str | Path) -> dict[str, tuple[int, ...]]:
    """Name → shape of every tensor in a weights file without reading its data: a safetensors header, or a torch
    file memory-mapped. A missing, cut-short or corrupt file is one line naming it (``ValueError``)."""
    if Path(file).suffix != ".safetensors":
        obj = torch_load(file, mmap=True)
        return {str(k): tuple(v.shape) for k, v in obj.items() if isinstance(v, torch.Tensor)} \
            if isinstance(obj, Mapping) else {}
    try:
        return tensor_shapes(file)
    except Exception as e:  # safetensors raises its own error types for bad headers and short files
        raise ValueError(f"{file} is not a readable safetensors file ({e}); the checkpoint is corrupt or "
                         "was cut short") from None

