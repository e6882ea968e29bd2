"""Model assembly: the only place an encoder and a head become a model (DESIGN §2)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

from mmlookup.checkpoints import (
    FOLDER_VERSION,
    head_num_classes,
    label_maps,
    load_checkpoint,
    load_folder_weights,
    read_class_names,
    read_model_folder_config,
    resolve_reference,
)
from mmlookup.encoders.base import Encoder
from mmlookup.encoders.reducing import vit_geometry
from mmlookup.encoders.vit import VideoViT
from mmlookup.heads import build_head, combine_logits, resolve_pool
from mmlookup.hub import FolderMixin, register_folder_io
from mmlookup.registry import NO_HUB_WEIGHTS, check_encoder_arguments, create_encoder, resolve_checkpoint_args

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from mmlookup.config import Recipe


class VideoClassifier(nn.Module, FolderMixin):
    """``encoder`` → ``head``; ``forward(video, grid=None)`` returns logits ``(B, K)``, as timm and transformers do.

    With one head (ViT, EViT, ATS, ToMe, ``pool="shared"``) the output is that head's logits. LookupViT's two heads
    (``pool="auto"``) are combined as evaluation combines them: the output is ``log`` of the mean of the two heads'
    softmax probabilities (:func:`mmlookup.heads.combine_logits`), so ``softmax`` / ``argmax`` of it are evaluation's
    combined probabilities and prediction. :meth:`forward_heads` gives the per-head logits ``(B, H, K)`` (training
    sums a loss over them; evaluation reports each head's accuracy).

    ``save_pretrained(dir)`` / ``VideoClassifier.from_pretrained(dir)`` write and read a model folder
    (:mod:`mmlookup.hub`) that needs no recipe.

    Args:
        encoder: any registered encoder (the contract of ``mmlookup.encoders.base``).
        head: a head from :mod:`mmlookup.heads`; its ``head_names`` name the rows of :meth:`forward_heads`.
        class_names: the classes in label order, when known (model folders store them as ``id2label``).
    """

    def __init__(self, encoder: Encoder, head: nn.Module, class_names: list[str] | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.class_names = list(class_names) if class_names else None  # label order; saved as id2label

    @property
    def head_names(self) -> tuple[str, ...]:
        return tuple(self.head.head_names)

    def forward(self, video: torch.Tensor, grid: tuple[int, int, int] | None = None, *, heads: bool = False,
                features: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(B, K)``; ``heads=True``: per-head logits ``(B, H, K)`` (what :meth:`forward_heads` returns).

        ``features=True`` also returns the heads' inputs ``(B, H, D)`` (feature distillation). Callers holding a
        wrapped model (DDP, ``torch.compile``) pass ``heads=True`` through the wrapper's ``__call__``.
        """
        out = self.encoder(video, grid=grid) if grid is not None else self.encoder(video)
        logits = self.head(out)
        if not heads:
            logits = combine_logits(logits)
        return (logits, self.head.features(out)) if features else logits

    def forward_heads(self, video: torch.Tensor, grid: tuple[int, int, int] | None = None, *,
                      features: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Per-head logits ``(B, H, K)``, rows named by :attr:`head_names` (``("compressed", "lookup")`` for
        LookupViT's two heads, ``("main",)`` otherwise); ``features=True`` also returns the heads' inputs."""
        return self(video, grid, heads=True, features=features)

    def no_weight_decay(self) -> set[str]:
        """Full parameter names (``encoder.``-prefixed) that the encoder exempts from weight decay."""
        return {f"encoder.{n}" for n in self.encoder.no_weight_decay()}

    def layer_id(self, param_name: str) -> int:
        """Layer-decay depth of a full parameter name; the head sits above the encoder's last layer."""
        if param_name.startswith("encoder."):
            return self.encoder.layer_id(param_name[len("encoder."):])
        return self.encoder.depth + 1

    @property
    def num_layers(self) -> int:
        """Number of layer-decay levels: embedding, blocks, final norm/head."""
        return self.encoder.depth + 2


def create_classifier(
    name: str | None = None,
    num_classes: int | None = None,
    checkpoint: Any = None,
    checkpoint_format: str = "auto",
    pool: str = "auto",
    *,
    head_dropout: float = 0.0,
    fc_norm: bool | None = None,
    verbose: bool = True,
    **encoder_kwargs: Any,
) -> VideoClassifier:
    """A registered encoder and its classification head(s) in one call, optionally from a checkpoint.

    When the checkpoint carries a classifier (timm ``head.*`` / ``fc_norm.*``, torchvision ``heads.head.*``, Hugging
    Face ``classifier.*``, our own ``head.*``) it is imported with the pooling it was trained with, so an imported
    image classifier gives its own logits on ``T = 1`` clips; ``num_classes=None`` takes the head's size. A different
    ``num_classes`` gets a new head (the report says so).

        model = create_classifier("evit_base", checkpoint=timm_vit.state_dict(), keep_rate=0.7, num_frames=16)
        model = create_classifier("vit", checkpoint="videomae-base-finetuned-kinetics", checkpoint_format="hf")
        model = create_classifier(checkpoint="exported_run")        # an mmlookup model folder: no recipe needed

    A checkpoint whose config fixes the architecture (Hugging Face VideoMAE / ViViT, our model folders) builds the
    encoder from that config: a bare family name (``"vit"``, ``"evit"``) takes its size, and a size or argument
    that contradicts it is an error naming both values.

    Args:
        name: a registered encoder (``mmlookup.list_encoders()``), a bare family with a configured checkpoint, or
            ``None`` for a model folder's own encoder.
        num_classes: classes of the head; required when the checkpoint has no classifier.
        checkpoint: a state dict, path or module accepted by :func:`mmlookup.checkpoints.load_checkpoint`.
        checkpoint_format: ``"auto"`` or one of :data:`mmlookup.checkpoints.FORMATS`.
        pool: ``"auto"``, ``"cls"`` or ``"mean"`` (:func:`mmlookup.heads.resolve_pool`).
        head_dropout: dropout before the linear layer(s).
        fc_norm: a LayerNorm after mean pooling (VideoMAE); ``None``: when the checkpoint's head has one.
        verbose: print the weight-loading report.
        **encoder_kwargs: reach the encoder (``keep_rate=`` for EViT, ``budget=`` for ATS, ``grid=`` for LookupViT,
            clip geometry); ``None`` values keep the variant's defaults.

    Returns:
        The :class:`VideoClassifier`; ``forward(video)`` returns logits ``(B, K)`` (``forward_heads``: per head).
    """
    if "pretrained" in encoder_kwargs:
        raise ValueError(NO_HUB_WEIGHTS)
    if checkpoint is not None:
        user_keys = {k for k, v in encoder_kwargs.items() if v is not None}
        name, encoder_kwargs = resolve_checkpoint_args(name, checkpoint, encoder_kwargs)
        check_encoder_arguments(name, encoder_kwargs, user_keys, checkpoint)
    elif name is None:
        raise ValueError("create_classifier needs an encoder name or a checkpoint (an mmlookup model folder)")
    encoder = create_encoder(name, **encoder_kwargs)
    head_state: dict[str, torch.Tensor] = {}
    source_pool, norm_eps, source_names = None, None, None
    if checkpoint is not None:
        report = load_checkpoint(encoder, checkpoint, checkpoint_format=checkpoint_format, verbose=verbose)
        head_state, source_pool, norm_eps = report.head_state, report.head_pool, report.head_norm_eps
        source_names = report.class_names
    resolved = resolve_pool(encoder, pool, source_pool)
    source_classes = head_num_classes(head_state)
    if num_classes is None:
        if source_classes is None:
            where = "no checkpoint was given" if checkpoint is None else "the checkpoint carries no classifier head"
            raise ValueError(f"create_classifier({name!r}): num_classes is required because {where}")
        num_classes = source_classes
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if fc_norm is None:
        fc_norm = resolved == "mean" and "fc_norm.weight" in head_state
    head = build_head(encoder, resolved, num_classes, head_dropout, fc_norm=fc_norm, fc_norm_eps=norm_eps or 1e-6)
    if head_state:
        _import_head(head, head_state, resolved, source_pool, num_classes, source_classes, verbose)
    imported = bool(head_state) and num_classes == source_classes
    names = source_names if imported and source_names and len(source_names) == num_classes else None
    return VideoClassifier(encoder, head, names)


def _import_head(head: nn.Module, state: dict[str, torch.Tensor], pool: str, source_pool: str | None,
                 num_classes: int, source_classes: int | None, verbose: bool) -> None:
    """Load the source's head into ``head`` when it fits (same classes and pooling); otherwise say why not."""
    why = ""
    if source_classes != num_classes:
        why = f"it has {source_classes} classes, {num_classes} asked"
    elif source_pool is not None and source_pool != pool:
        why = f"it was trained on pool={source_pool!r}, this head uses pool={pool!r}"
    else:
        own = head.state_dict()
        if set(state) != set(own) or any(state[k].shape != own[k].shape for k in own):
            why = f"its tensors {sorted(state)} do not fit the {type(head).__name__} ({sorted(own)})"
    if why:
        if verbose:
            print(f"classifier head: new (not imported: {why})")
        return
    head.load_state_dict(state)
    if verbose:
        print(f"classifier head: imported ({num_classes} classes, pool={pool!r})")


def build_encoder(recipe: "Recipe") -> Encoder:
    """The recipe's encoder with its clip geometry (LookupViT: the first listed compressed grid).

    EViT runs at ``model.keep_rate`` (``None``: the family's default ρ = 0.7); a recipe that sets ρ = 1 gets a log
    line, because EViT at ρ = 1 is the plain ViT.
    """
    m = recipe.model
    encoder = create_encoder(m.encoder, checkpoint=m.pretrained or None, **_encoder_kwargs(recipe))
    return _finish_encoder(recipe, encoder)


def _encoder_kwargs(recipe: "Recipe") -> dict[str, Any]:
    m = recipe.model
    kwargs = dict(num_frames=m.num_frames, img_size=m.img_size, tubelet_size=m.tubelet_size,
                  patch_size=m.patch_size, drop_path_rate=m.drop_path_rate, **m.encoder_kwargs)
    if m.grids:
        kwargs["grid"] = tuple(m.grids[0])
    return kwargs


def _finish_encoder(recipe: "Recipe", encoder: Encoder) -> Encoder:
    m = recipe.model
    if m.grad_checkpointing:
        encoder.set_grad_checkpointing()
    if hasattr(encoder, "set_keep_rate"):
        if m.keep_rate is not None:
            encoder.set_keep_rate(m.keep_rate)
        if getattr(encoder, "keep_rate", None) == 1.0:
            log.warning(f"{m.encoder} runs at keep rate 1: every token is kept, so it is the plain ViT "
                        f"(set model.keep_rate < 1, e.g. 0.7 as the EViT paper's main setting)")
    return encoder


def build_model(recipe: "Recipe", num_classes: int) -> VideoClassifier:
    """The classifier a recipe describes, through :func:`create_classifier` (same factory, same head import).

    ``model.init_from`` (``"teacher"`` = ``distill.teacher``, or any checkpoint reference; a run gives its best
    checkpoint) sets the initial weights: a LookupViT takes a ViT's blocks as its compressed stream (the loader's
    ViT → LookupViT map; cross-attention, lookup MLP and heads are new), any other family takes the checkpoint as
    :func:`create_classifier` does (EViT / ATS / ToMe: the teacher itself, its head when it fits). The load report
    says what was copied and what is new.
    """
    m = recipe.model
    checkpoint = m.pretrained or None
    init = _init_reference(recipe)
    if init is not None and m.encoder.split("_")[0] == "lookupvit":
        model = create_classifier(m.encoder, num_classes, pool=m.pool, head_dropout=m.head_dropout,
                                  **_encoder_kwargs(recipe))
        print(f"model.init_from {m.init_from}: {init}")
        load_checkpoint(model.encoder, init)
        print(f"classifier heads: new ({type(model.head).__name__}; a ViT has no compressed-stream head)")
    else:
        if init is not None:
            print(f"model.init_from {m.init_from}: {init}")
        model = create_classifier(m.encoder, num_classes, checkpoint=checkpoint or init, pool=m.pool,
                                  head_dropout=m.head_dropout, **_encoder_kwargs(recipe))
    _finish_encoder(recipe, model.encoder)
    return model


def _init_reference(recipe: "Recipe") -> str | None:
    """What ``model.init_from`` names, a run resolved to its checkpoint folder; ``None`` when unset."""
    ref = recipe.model.init_from
    if not ref:
        return None
    return resolve_reference(recipe.distill.teacher if ref == "teacher" else ref)


# ---- model folders (config.json + model.safetensors; the mixin is mmlookup.hub.FolderMixin) ----

def folder_config(model: nn.Module) -> dict[str, Any]:
    """What :func:`load_folder` needs to rebuild ``model`` (an encoder or a :class:`VideoClassifier`)."""
    encoder = model.encoder if isinstance(model, VideoClassifier) else model
    cfg: dict[str, Any] = {"mmlookup": FOLDER_VERSION, "kind": "encoder", **encoder_config(encoder)}
    if isinstance(model, VideoClassifier):
        cfg.update(kind="classifier", head=head_config(model.head))
        names = getattr(model, "class_names", None)
        if names:
            if len(names) != cfg["head"]["num_classes"]:
                raise ValueError(f"{len(names)} class names for a head of {cfg['head']['num_classes']} classes")
            cfg.update(label_maps(names))
    return cfg


def encoder_config(encoder: nn.Module) -> dict[str, Any]:
    """The encoder's registered name and arguments, with state set after building (imported LayerNorm eps,
    EViT's keep rate, ToMe's partition) folded in, so the rebuilt model computes the same function."""
    built = getattr(encoder, "encoder_config", None)
    if built is None:
        raise ValueError(f"this {type(encoder).__name__} was not built by create_encoder, so its name and arguments "
                         "are unknown; build it with mmlookup.create_encoder(...) to save it as a folder")
    kwargs = dict(built["kwargs"])
    if isinstance(encoder, VideoViT):          # the whole architecture, so the folder describes itself
        kwargs = {**vit_geometry(encoder), **{k: v for k, v in kwargs.items() if k != "separable_pos"}}
        kwargs["norm_eps"] = encoder.blocks[0].norm1.eps               # an import may have set it after building
    if hasattr(encoder, "keep_rate"):
        kwargs["keep_rate"] = float(encoder.keep_rate)
    if isinstance(getattr(encoder, "partition", None), str):   # ToMe: recorded, so a later default cannot change it
        kwargs["partition"] = encoder.partition
    for key, value in kwargs.items():
        if isinstance(value, tuple):
            kwargs[key] = list(value)
    try:
        json.dumps(kwargs)
    except TypeError as err:
        raise ValueError(f"encoder arguments {kwargs} cannot be written to config.json: {err}") from None
    return {"encoder": built["name"], "encoder_kwargs": kwargs}


def head_config(head: nn.Module) -> dict[str, Any]:
    """Pooling, class count, dropout and ``fc_norm`` of a head from :mod:`mmlookup.heads`."""
    pool = getattr(head, "pool", None)
    if pool not in ("cls", "mean", "lookup", "shared"):
        raise ValueError(f"cannot describe a {type(head).__name__} head in config.json")
    norm = getattr(head, "fc_norm", None)
    cfg: dict[str, Any] = {"pool": pool, "num_classes": head_num_classes(head.state_dict()), "dropout": head.drop.p,
                           "fc_norm": isinstance(norm, nn.LayerNorm)}
    if isinstance(norm, nn.LayerNorm):
        cfg["fc_norm_eps"] = norm.eps
    return cfg


def load_folder(folder: str | Path, *, map_location: str = "cpu", strict: bool = True) -> nn.Module:
    """Rebuild the encoder or classifier of a model folder and load its weights (no recipe needed)."""
    folder = Path(folder)
    cfg = read_model_folder_config(folder)
    model = load_folder_config_model(cfg, read_class_names(folder))
    load_folder_weights(model, folder, map_location=map_location, strict=strict)
    return model.eval()


def load_folder_config_model(cfg: dict[str, Any], class_names: list[str] | None = None) -> nn.Module:
    """The encoder or classifier a model folder's ``config.json`` describes, with fresh weights."""
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg["encoder_kwargs"].items()}
    model: nn.Module = create_encoder(cfg["encoder"], **kwargs)
    if cfg["kind"] == "classifier":
        h = cfg["head"]
        head = build_head(model, h["pool"], h["num_classes"], h["dropout"], fc_norm=h.get("fc_norm", False),
                          fc_norm_eps=h.get("fc_norm_eps", 1e-6))
        model = VideoClassifier(model, head, class_names)
    return model


register_folder_io(folder_config, load_folder)
