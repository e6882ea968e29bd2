"""The one registry of mmlookup: encoders.

A family module decorates a small variant function with :func:`register_encoder`; :func:`create_encoder`
builds it by name. Everything else in the project is chosen by explicit code, not by registries.
"""
from __future__ import annotations

import fnmatch
import inspect
import typing
from typing import Any, Callable, TypeVar

import torch.nn as nn

from mmlookup.checkpoints import load_checkpoint, resolve_encoder_args

_ENCODERS: dict[str, Callable[..., nn.Module]] = {}
F = TypeVar("F", bound=Callable[..., nn.Module])


def register_encoder(fn: F) -> F:
    """Register ``fn`` under its ``__name__``; a second registration of one name is an error."""
    name = fn.__name__
    if name in _ENCODERS:
        raise ValueError(f"encoder {name!r} is registered twice")
    _ENCODERS[name] = fn
    return fn


def list_encoders(pattern: str = "*") -> list[str]:
    """Sorted registered names matching a shell-style ``pattern`` (e.g. ``"lookupvit_*"``)."""
    _import_families()
    return sorted(n for n in _ENCODERS if fnmatch.fnmatchcase(n, pattern))


def is_encoder(name: str) -> bool:
    _import_families()
    return name in _ENCODERS


def encoder_arguments(name: str) -> list[str]:
    """The keyword arguments encoder ``name`` accepts: its class's constructor, through ``**kwargs`` to the bases.

    Read from the variant function's return annotation, so recipes can check ``model.encoder_kwargs`` without
    building anything. Raises ``ValueError`` for an unknown name, listing the valid ones.
    """
    _import_families()
    if name not in _ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; valid encoders: {', '.join(sorted(_ENCODERS))}")
    cls = typing.get_type_hints(_ENCODERS[name]).get("return")
    names: set[str] = set()
    for klass in inspect.getmro(cls) if isinstance(cls, type) else ():
        if "__init__" not in vars(klass):
            continue
        params = list(inspect.signature(klass.__init__).parameters.values())[1:]
        names |= {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return sorted(names)


def create_encoder(
    name: str | None,
    *,
    checkpoint: Any = None,
    checkpoint_format: str = "auto",
    **kwargs: Any,
) -> nn.Module:
    """Build a registered encoder.

    Keyword arguments set to ``None`` are dropped, so command-line defaults can stay ``None`` and leave the
    variant's own default in place. ``checkpoint`` (a path or a state dict) is loaded through
    :func:`mmlookup.checkpoints.load_checkpoint` when given. A checkpoint whose config fixes the
    architecture (a Hugging Face VideoMAE / ViViT folder, our model folders) builds from that config, and then
    ``name`` may be a bare family (``"vit"``, ``"evit"``): the size comes from the config too (and ``None`` takes
    a model folder's own encoder).

    The built model remembers ``encoder_config = {"name", "kwargs"}`` so it can be saved as a model folder.
    """
    _import_families()
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if "pretrained" in kwargs:
        raise ValueError(NO_HUB_WEIGHTS)
    user_keys = set(kwargs)
    if checkpoint is not None:
        name, kwargs = resolve_checkpoint_args(name, checkpoint, kwargs)
    if name not in _ENCODERS:
        valid = ", ".join(sorted(_ENCODERS))
        raise ValueError(f"unknown encoder {name!r}; valid encoders: {valid}")
    check_encoder_arguments(name, kwargs, user_keys, checkpoint)
    model = _ENCODERS[name](**kwargs)
    model.encoder_config = {"name": name, "kwargs": dict(kwargs)}
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, checkpoint_format=checkpoint_format)
    return model


NO_HUB_WEIGHTS = ("pretrained=True: mmlookup downloads no weights; pass checkpoint=PATH (a timm / torchvision / "
                  "Hugging Face ViT file or folder, a VideoMAE / ViViT folder, a run or model folder), or train, "
                  "distil (model.init_from) and export one (mmlookup export RUN OUT)")


def check_encoder_arguments(name: str, kwargs: dict[str, Any], user_keys: set[str], checkpoint: Any) -> None:
    """Arguments the encoder does not take are one line: the user's (with the valid ones), or a checkpoint config's
    (another family's architecture: a LookupViT from a ViT / VideoMAE goes through ``model.init_from``)."""
    unknown = sorted(set(kwargs) - set(encoder_arguments(name)))
    if not unknown:
        return
    from_checkpoint = [k for k in unknown if k not in user_keys]
    if checkpoint is not None and from_checkpoint:
        how = ("a LookupViT starts from a ViT / VideoMAE through model.init_from (its blocks become the compressed "
               "stream; docs/tasks/distillation.md), not checkpoint=") if name.startswith("lookupvit") else \
              "build the family the checkpoint holds (vit, evit, ats, tome)"
        raise ValueError(f"{name}: the checkpoint's config sets {', '.join(from_checkpoint)}, which {name} does not "
                         f"take: {how}")
    raise ValueError(f"{name} takes no argument {', '.join(map(repr, unknown))}; valid: "
                     f"{', '.join(encoder_arguments(name))}")


def resolve_checkpoint_args(name: str | None, checkpoint: Any, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``name`` and ``kwargs`` completed from ``checkpoint``'s config
    (:func:`mmlookup.checkpoints.resolve_encoder_args`)."""
    _import_families()
    return resolve_encoder_args(name, checkpoint, {k: v for k, v in kwargs.items() if v is not None}, _ENCODERS)


def _import_families() -> None:
    # Importing the package registers every family; done lazily so `registry` has no import cycle.
    import mmlookup.encoders  # noqa: F401
