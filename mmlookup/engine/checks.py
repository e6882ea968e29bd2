"""Start-up checks: a mistake in a recipe or on the command line is one line before anything heavy is built.

``mmlookup train`` / ``eval`` call :func:`check_recipe` before a run folder, a model or a data loader exists:
unknown encoder names, ``model.encoder_kwargs`` the encoder's constructor does not take, missing pretrained
weights, and missing or non-text annotation files are reported by key, with what is valid. What needs the
files parsed (a label missing from the class list, a CSV without the Kinetics header) is reported by the
readers themselves, still before the run folder is made (see :func:`mmlookup.engine.fit.fit`).
"""
from __future__ import annotations

import codecs
import os
from pathlib import Path

from mmlookup.config import Recipe
from mmlookup.registry import encoder_arguments, is_encoder, list_encoders

#: Encoder arguments a recipe sets from its own ``model`` keys; ``encoder_kwargs`` must not repeat them.
FROM_MODEL_KEYS = ("num_frames", "img_size", "tubelet_size", "patch_size", "drop_path_rate")


def check_recipe(recipe: Recipe, *, train: bool = True) -> None:
    """Raise ``ValueError`` / ``FileNotFoundError`` with a one-line message for what can be checked cheaply.

    Args:
        recipe: the resolved recipe.
        train: also check what only training reads (training annotations); evaluation needs the validation set.
    """
    m = recipe.model
    if not is_encoder(m.encoder):
        raise ValueError(f"model.encoder={m.encoder!r} is not a registered encoder; valid: "
                         f"{', '.join(list_encoders())}")
    check_encoder_kwargs(m.encoder, m.encoder_kwargs, has_grids=bool(m.grids))
    check_grids(recipe)
    if m.pretrained and not Path(m.pretrained).exists():
        raise FileNotFoundError(f"model.pretrained={m.pretrained!r}: no such file or folder")
    t = recipe.distill
    if t.teacher and recipe.task == "classify":
        if not Path(t.teacher).exists():
            hint = " (train it first: mmlookup train synthetic/vit)" if t.teacher == "runs/synthetic_vit" else ""
            raise FileNotFoundError(f"distill.teacher={t.teacher!r}: no such run, folder or file{hint}")
        if t.teacher_encoder and not is_encoder(t.teacher_encoder):
            raise ValueError(f"distill.teacher_encoder={t.teacher_encoder!r} is not a registered encoder; valid: "
                             f"{', '.join(list_encoders())}")
    if m.init_from and m.init_from != "teacher" and not Path(m.init_from).exists():
        raise FileNotFoundError(f"model.init_from={m.init_from!r}: no such run, folder or file")
    if recipe.task == "caption":
        c = recipe.caption
        if c.encoder_checkpoint and not Path(c.encoder_checkpoint).exists():
            raise FileNotFoundError(f"caption.encoder_checkpoint={c.encoder_checkpoint!r}: no such file or folder")
        if c.encoder_checkpoint:
            from mmlookup.captioning.train import encoder_checkpoint_file
            from mmlookup.engine.checkpoint import check_encoder_fits

            check_encoder_fits(recipe, encoder_checkpoint_file(c.encoder_checkpoint))
        if not recipe.data.synthetic:
            files = [("caption.train_annotations", c.train_annotations)]
            if c.format == "coco":
                files.append(("caption.val_annotations", c.val_annotations))
            for key, path in files:
                check_text_file(key, path)
        return
    d = recipe.data
    if d.synthetic:
        return
    if not Path(d.root).is_dir():
        raise FileNotFoundError(f"data.root={d.root!r}: no such folder (`mmlookup data synth DIR` writes the "
                                f"synthetic set; data.root=DIR/k400)")
    keys = (("data.train_annotations", d.train_annotations),) if train else ()
    for key, name in (*keys, ("data.val_annotations", d.val_annotations)):
        path = name if os.path.exists(name) or os.path.isabs(name) else os.path.join(d.root, name)
        if d.format in ("folder", "imagenet") and os.path.isdir(path):  # ImageNet: class folders or a flat val
            continue
        if d.format == "folder" or (d.format == "auto" and os.path.isdir(path)):
            if not os.path.isdir(path):
                raise FileNotFoundError(f"{key}={name!r}: no such class folder (looked at {path})")
            continue
        check_text_file(key, path, shown=name)
    if d.labels_file:
        path = d.labels_file if os.path.exists(d.labels_file) else os.path.join(d.root, d.labels_file)
        check_text_file("data.labels_file", path, shown=d.labels_file)


def check_encoder_kwargs(encoder: str, kwargs: dict, *, has_grids: bool = False) -> None:
    """``model.encoder_kwargs`` against the encoder's constructor: unknown names and names set elsewhere."""
    valid = encoder_arguments(encoder)
    owned = {k: f"model.{k}" for k in FROM_MODEL_KEYS}
    if has_grids:
        owned["grid"] = "model.grids (its first entry)"
    for k in kwargs:
        if k in owned:
            raise ValueError(f"model.encoder_kwargs.{k}: set {owned[k]} instead (the recipe passes it to the encoder)")
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        allowed = [k for k in valid if k not in owned]
        raise ValueError(f"model.encoder_kwargs: {encoder} takes no argument {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(allowed)}")


def check_grids(recipe: Recipe) -> None:
    """A LookupViT recipe's ``model.grids`` each fit in the lookup grid its clip geometry gives."""
    m = recipe.model
    if m.encoder.split("_")[0] != "lookupvit":
        return
    from mmlookup.encoders.lookupvit import fit_compressed_grid

    side = m.img_size // m.patch_size
    lookup = (1 if m.num_frames == 1 else m.num_frames // m.tubelet_size, side, side)
    for g in m.grids:
        try:
            fit_compressed_grid(g, lookup)
        except ValueError as err:
            raise ValueError(f"model.grids: {err}") from None


def check_text_file(key: str, path: str, *, shown: str | None = None) -> None:
    """``path`` exists and starts as UTF-8 text (annotation files); the message names ``key``."""
    shown = path if shown is None else shown
    if not path:
        raise ValueError(f"{key} is empty; set it to an annotation file")
    p = Path(path)
    if not p.is_file():
        where = "" if str(p) == shown else f" (looked at {p})"
        raise FileNotFoundError(f"{key}={shown!r}: no such file{where}")
    try:
        head = p.open("rb").read(65536)
    except OSError as e:
        raise ValueError(f"{key}={shown!r}: cannot be read ({e.strerror})") from None
    try:
        if b"\0" in head:
            raise UnicodeDecodeError("utf-8", head, head.index(b"\0"), head.index(b"\0") + 1, "NUL byte")
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < 65536)  # may end mid-character
    except UnicodeDecodeError:
        raise ValueError(f"{key}={shown!r}: {p} is not a text annotation file (binary content)") from None
