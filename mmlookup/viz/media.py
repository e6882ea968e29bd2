"""Load a video clip or an image the way evaluation does (resize the short side, centre-crop, normalise).

Frames are decoded with the project's decord reader (:func:`mmlookup.data.decode.read_clip`, exact frames
through ``get_batch``); images with Pillow. The uint8 frames are kept for drawing, next to the normalised
model input, so a token map lands on exactly the pixels its tubelet saw.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from mmlookup.data.coco import IMAGENET_MEAN, IMAGENET_STD, is_video

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


@dataclass
class Media:
    """One clip ready for an encoder and for drawing.

    Attributes:
        path: the file it came from.
        frames: ``(T, H, W, 3)`` uint8, resized and cropped exactly as the encoder sees them.
        video: ``(1, 3, T, H, W)`` float, normalised: the encoder input.
        frame_indices: which frames of the file were taken (``[0]`` for an image).
    """

    path: str
    frames: torch.Tensor
    video: torch.Tensor
    frame_indices: list[int]

    @property
    def is_image(self) -> bool:
        return self.frames.shape[0] == 1


def check_media(path: str | Path) -> Path:
    """``path`` as a :class:`Path` when it is an existing video or image file (by suffix), else a one-line error;
    cheap, so commands call it before they load a model."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if not is_video(path) and suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: unknown media type {suffix!r}; videos: .mp4 .webm .avi .mkv .mov .m4v .gif, "
                         f"images: {' '.join(sorted(IMAGE_SUFFIXES))}")
    return path


def load_media(path: str | Path, *, num_frames: int, img_size: tuple[int, int], sampling: str = "segment",
               frame_interval: int = 4, mean: tuple[float, ...] = IMAGENET_MEAN,
               std: tuple[float, ...] = IMAGENET_STD) -> Media:
    """Read ``path`` (a video: ``num_frames`` frames; an image: one frame) and prepare it.

    Args:
        path: a video (``.mp4``, ``.webm``, ...) or an image (``.jpg``, ``.png``, ...).
        num_frames: frames of a video clip (the encoder's clip length).
        img_size: ``(H, W)`` of the encoder input.
        sampling: ``"segment"`` (one frame from the centre of each of ``num_frames`` equal segments: the whole
            video) or ``"dense"`` (consecutive frames ``frame_interval`` apart from the centre, K400 style).
        frame_interval: frame step for dense sampling.
        mean, std: normalisation of the encoder's training data.

    Raises:
        FileNotFoundError: no such file.
        ValueError: neither a known video nor image suffix.
        mmlookup.data.decode.VideoDecodeError: the video cannot be decoded.
    """
    from torchvision.transforms import v2

    path = check_media(path)
    if is_video(path):
        frames, indices = _read_video(path, num_frames, sampling, frame_interval)       # (T, C, H, W)
    else:
        frames, indices = _read_image(path), [0]
    shown = v2.Compose([v2.Resize(min(img_size), antialias=True), v2.CenterCrop(list(img_size))])(frames)
    video = v2.Normalize(list(mean), list(std))(v2.ToDtype(torch.float32, scale=True)(shown))
    return Media(str(path), shown.permute(0, 2, 3, 1).contiguous(), video.permute(1, 0, 2, 3).unsqueeze(0),
                 indices)


def _read_video(path: Path, num_frames: int, sampling: str, frame_interval: int) -> tuple[torch.Tensor, list[int]]:
    from mmlookup.data.decode import read_clip
    from mmlookup.data.sampling import sample_indices

    chosen: list[int] = []

    def choose(n: int):
        idx = sample_indices(sampling, n, num_frames, frame_interval, train=False)[0]
        chosen.extend(int(i) for i in idx)
        return idx

    frames = read_clip(str(path), choose)                                                # (T, H, W, 3)
    return frames.permute(0, 3, 1, 2).contiguous(), chosen


def _read_image(path: Path) -> torch.Tensor:
    from mmlookup.data.coco import read_image

    return read_image(path)                                                              # (1, 3, H, W)
