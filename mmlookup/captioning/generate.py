"""Load a trained captioner from its run folder and caption image or video files."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerFast

from mmlookup.captioning.model import CaptionModel
from mmlookup.captioning.model import load_captioner_weights as load_captioner_weights  # re-exported
from mmlookup.captioning.tokenizer import decode, load_tokenizer
from mmlookup.captioning.train import TOKENIZER_DIR, build_captioner
from mmlookup.checkpoints import resolve_checkpoint
from mmlookup.checkpoints import run_dir_of as run_dir_of  # re-exported: it lived here
from mmlookup.config import load_recipe
from mmlookup.data.coco import VIDEO_SUFFIXES, load_media, make_transform

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def load_captioner(checkpoint: str | Path, device: str | torch.device = "cpu"
                   ) -> tuple[CaptionModel, PreTrainedTokenizerFast, object]:
    """Captioner, tokenizer and recipe of a run (newest checkpoint) or a checkpoint folder.

    Returns:
        ``(model in eval mode, tokenizer, recipe)``.
    """
    ckpt = resolve_checkpoint(checkpoint)
    run_dir = run_dir_of(ckpt)
    if not (run_dir / "recipe.yaml").is_file():
        raise FileNotFoundError(f"no recipe.yaml in {run_dir}; pass a captioning run folder")
    recipe = load_recipe(run_dir / "recipe.yaml")
    if recipe.task != "caption":
        raise ValueError(f"{run_dir} is a {recipe.task!r} run, not a captioner")
    tokenizer = load_tokenizer(run_dir / TOKENIZER_DIR)
    model = build_captioner(recipe, tokenizer, load_weights=False)
    load_captioner_weights(model, ckpt / "model.safetensors")
    return model.to(device).eval(), tokenizer, recipe


def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files as given; folders expand to their images and videos (sorted). A missing input or a file that is not
    an image or video (by its suffix) is a one-line error."""
    out: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        elif p.is_file() and p.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            raise ValueError(f"{p} is not an image or video file; images: {' '.join(sorted(IMAGE_SUFFIXES))}; "
                             f"videos: {' '.join(sorted(VIDEO_SUFFIXES))}")
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    if not out:
        raise ValueError("no image or video files found in the inputs")
    return out


@torch.no_grad()
def caption_files(checkpoint: str | Path, inputs: Sequence[str | Path], *, num_beams: int | None = None,
                  max_length: int | None = None, batch_size: int = 8, device: str | None = None
                  ) -> list[tuple[Path, str | None]]:
    """Caption image/video files with a trained captioner; an unreadable file gets ``None``.

    Images and videos may be mixed; they are batched by their clip length.
    """
    files = expand_inputs(inputs)  # missing or non-media inputs are one line before the model is built
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, tokenizer, recipe = load_captioner(checkpoint, dev)
    c, m = recipe.caption, recipe.model  # type: ignore[attr-defined]
    beams, length = num_beams or c.num_beams, max_length or c.max_length
    transform = make_transform(m.img_size)
    captions: dict[Path, str | None] = {}
    loaded: list[tuple[Path, torch.Tensor]] = []

    def flush() -> None:
        groups: dict[tuple[int, ...], list[tuple[Path, torch.Tensor]]] = {}
        for f, x in loaded:
            groups.setdefault(tuple(x.shape), []).append((f, x))
        for group in groups.values():
            video = torch.stack([x for _, x in group]).to(dev)
            ids = model.generate(model.encode(video), num_beams=beams, max_length=length)
            for (f, _), text in zip(group, decode(tokenizer, ids.tolist())):
                captions[f] = text
        loaded.clear()

    for f in files:
        try:
            loaded.append((f, load_media(f, m.num_frames, transform)))
        except Exception as err:  # noqa: BLE001 - report and go on
            log.warning("cannot read %s: %s", f, err)
            captions[f] = None
        if len(loaded) >= batch_size:
            flush()
    flush()
    return [(f, captions[f]) for f in files]
