"""Drawing token maps over frames: a PNG contact sheet (rows = maps, columns = frames) and an animated GIF.

Pixels are composed with NumPy and Pillow so the picture sizes are exact (see :class:`Layout`); Matplotlib
only supplies the colour map. Heat maps are scaled per map (its maximum over all frames is full colour), so
where the attention moves over time stays visible; masks show kept tokens in their own colours and dropped
ones darkened.
"""
from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mmlookup.viz.deps import require
from mmlookup.viz.tokenmaps import TokenMap, TokenMaps, to_pixels

HEAT_ALPHA = 0.6
DROPPED_BRIGHTNESS = 0.22
BOX_COLOUR = (0, 230, 255)


@dataclass(frozen=True)
class Layout:
    """Sizes in pixels; every picture's size follows from these and the number of rows, columns and panels.

    Attributes:
        cell: width of one frame panel (its height keeps the frame's aspect ratio).
        gap: space between panels.
        label_width: contact sheet: the column of row labels on the left.
        title_height: contact sheet: the title lines at the top.
        header_height: contact sheet: the frame numbers above the columns.
        gif_label_height: GIF: the (two-line) label above each panel.
        gif_columns: GIF: panels per row.
        progress_height: GIF: the bar at the bottom showing which frame of the clip is on screen.
        colormap: Matplotlib colour map for heat maps.
    """

    cell: int = 96
    gap: int = 2
    label_width: int = 190
    title_height: int = 34
    header_height: int = 16
    gif_label_height: int = 26
    gif_columns: int = 4
    progress_height: int = 3
    colormap: str = "inferno"

    def cell_size(self, frame_hw: tuple[int, int]) -> tuple[int, int]:
        """``(width, height)`` of one panel for frames of ``(H, W)``."""
        h, w = frame_hw
        return self.cell, max(1, round(self.cell * h / w))

    def sheet_size(self, rows: int, cols: int, frame_hw: tuple[int, int]) -> tuple[int, int]:
        """``(width, height)`` of a contact sheet of ``rows`` × ``cols`` panels."""
        cw, ch = self.cell_size(frame_hw)
        return (self.label_width + cols * (cw + self.gap) + self.gap,
                self.title_height + self.header_height + rows * (ch + self.gap) + self.gap)

    def gif_size(self, panels: int, frame_hw: tuple[int, int]) -> tuple[int, int]:
        """``(width, height)`` of a GIF frame holding ``panels`` labelled panels."""
        cw, ch = self.cell_size(frame_hw)
        cols = min(panels, self.gif_columns)
        rows = math.ceil(panels / cols)
        height = rows * (self.gif_label_height + ch + self.gap) + self.gap + self.progress_height
        return cols * (cw + self.gap) + self.gap, height


def overlay(frames: torch.Tensor, tmap: TokenMap, tubelet: tuple[int, int, int], size: tuple[int, int] | None = None,
            colormap: str = "inferno") -> np.ndarray:
    """RGB uint8 ``(T, h, w, 3)``: ``frames (T, H, W, 3)`` uint8 with ``tmap`` drawn over them.

    ``size = (w, h)`` scales the result (frames smoothly, token maps as sharp blocks); default the frame size.
    Heat maps are min–max scaled over all frames of the map.
    """
    t, h, w, _ = frames.shape
    values = to_pixels(tmap.values.float(), tubelet, (t, h, w))
    rgb = frames.permute(0, 3, 1, 2).float()
    if size is not None and size != (w, h):
        rgb = F.interpolate(rgb, size=(size[1], size[0]), mode="bilinear", antialias=True, align_corners=False)
        values = F.interpolate(values[:, None], size=(size[1], size[0]), mode="nearest")[:, 0]
    rgb, values = rgb.permute(0, 2, 3, 1).numpy(), values.numpy()
    if tmap.kind == "mask":
        out = np.where(values[..., None] > 0.5, rgb, rgb * DROPPED_BRIGHTNESS)
    else:
        cmap = require("matplotlib").colormaps[colormap]
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
        out = (1 - HEAT_ALPHA) * rgb + HEAT_ALPHA * cmap(scaled)[..., :3] * 255.0
    out = out.clip(0, 255).round().astype(np.uint8)
    if tmap.query_box is not None:
        _draw_box(out, tmap.query_box)
    return out


def scaled_frames(frames: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """``frames (T, H, W, 3)`` uint8 resized smoothly to ``size = (w, h)``."""
    t, h, w, _ = frames.shape
    if size == (w, h):
        return frames.numpy()
    x = F.interpolate(frames.permute(0, 3, 1, 2).float(), size=(size[1], size[0]), mode="bilinear",
                      antialias=True, align_corners=False)
    return x.permute(0, 2, 3, 1).clamp(0, 255).round().to(torch.uint8).numpy()


def _draw_box(frames: np.ndarray, box: tuple[float, float, float, float, float, float]) -> None:
    """Outline a compressed token's cell on the frames it covers (in place)."""
    t, h, w, _ = frames.shape
    t0, t1 = int(box[0] * t), max(int(box[0] * t) + 1, round(box[1] * t))
    y0, y1 = int(box[2] * h), min(h - 1, max(int(box[2] * h) + 1, round(box[3] * h) - 1))
    x0, x1 = int(box[4] * w), min(w - 1, max(int(box[4] * w) + 1, round(box[5] * w) - 1))
    seg = frames[t0:t1]
    seg[:, y0, x0:x1 + 1] = BOX_COLOUR
    seg[:, y1, x0:x1 + 1] = BOX_COLOUR
    seg[:, y0:y1 + 1, x0] = BOX_COLOUR
    seg[:, y0:y1 + 1, x1] = BOX_COLOUR


def _image(rgb: np.ndarray):
    return require("PIL.Image").fromarray(rgb)


def _font(size: int = 11):
    ImageFont = require("PIL.ImageFont")
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size default font
        return ImageFont.load_default()


def panels(frames: torch.Tensor, maps: TokenMaps, size: tuple[int, int], colormap: str = "inferno"
           ) -> list[tuple[str, np.ndarray]]:
    """``(label, (T, h, w, 3) uint8)`` at ``size = (w, h)`` for the input and each map, in drawing order."""
    out = [("input", scaled_frames(frames, size))]
    out += [(m.label, overlay(frames, m, maps.tubelet, size, colormap)) for m in maps.maps]
    return out


def contact_sheet(frames: torch.Tensor, maps: TokenMaps, path: str | Path, *, title: str = "",
                  layout: Layout = Layout(), frame_labels: list[str] | None = None) -> Path:
    """Write a PNG: one row per panel (input first), one column per frame, row labels on the left."""
    Image, ImageDraw = require("PIL.Image"), require("PIL.ImageDraw")
    t, h, w, _ = frames.shape
    cw, ch = layout.cell_size((h, w))
    rows = panels(frames, maps, (cw, ch), layout.colormap)
    sheet = Image.new("RGB", layout.sheet_size(len(rows), t, (h, w)), "white")
    draw = ImageDraw.Draw(sheet)
    font, small = _font(12), _font(10)
    lines = [title] if title else []
    lines.append("  ".join(maps.notes + ["heat: scaled per row", "mask: dark = dropped"]))
    draw.multiline_text((6, 3), "\n".join(lines), fill="black", font=font, spacing=2)
    top = layout.title_height + layout.header_height
    labels = frame_labels or [f"frame {i}" for i in range(t)]
    for j in range(t):
        draw.text((layout.label_width + layout.gap + j * (cw + layout.gap), layout.title_height + 2), labels[j],
                  fill="black", font=small)
    for i, (label, rgb) in enumerate(rows):
        y = top + layout.gap + i * (ch + layout.gap)
        wrapped = "\n".join(textwrap.wrap(label, width=max(10, layout.label_width // 7)))
        draw.multiline_text((6, y + 2), wrapped, fill="black", font=small, spacing=1)
        for j in range(t):
            sheet.paste(_image(rgb[j]), (layout.label_width + layout.gap + j * (cw + layout.gap), y))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)
    return path


def animation(frames: torch.Tensor, maps: TokenMaps, path: str | Path, *, fps: float = 4.0,
              layout: Layout = Layout()) -> Path:
    """Write an animated GIF with one frame per video frame; each shows the input and every map, labelled.

    A bar along the bottom grows with the frame number, so no two GIF frames are identical (Pillow would merge
    them) and the viewer sees where in the clip it is.
    """
    Image, ImageDraw = require("PIL.Image"), require("PIL.ImageDraw")
    t, h, w, _ = frames.shape
    cw, ch = layout.cell_size((h, w))
    items = panels(frames, maps, (cw, ch), layout.colormap)
    cols = min(len(items), layout.gif_columns)
    size = layout.gif_size(len(items), (h, w))
    font = _font(10)
    pictures = []
    for k in range(t):
        canvas = Image.new("RGB", size, "white")
        draw = ImageDraw.Draw(canvas)
        for i, (label, rgb) in enumerate(items):
            x = layout.gap + (i % cols) * (cw + layout.gap)
            y = layout.gap + (i // cols) * (layout.gif_label_height + ch + layout.gap)
            text = _fit(label if i else f"input, frame {k}", cw)
            draw.multiline_text((x, y + 1), text, fill="black", font=font, spacing=1)
            canvas.paste(_image(rgb[k]), (x, y + layout.gif_label_height))
        if layout.progress_height:
            draw.rectangle((0, size[1] - layout.progress_height, round(size[0] * (k + 1) / t) - 1, size[1] - 1),
                           fill=(90, 90, 90))
        pictures.append(canvas.quantize(colors=256, method=Image.Quantize.MEDIANCUT))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=round(1000 / fps), loop=0,
                     optimize=False, disposal=1)
    return path


def _fit(label: str, width: int) -> str:
    """``label`` wrapped to two lines of roughly ``width`` pixels of the small font (cut with … beyond)."""
    lines = textwrap.wrap(label, width=max(6, width // 6))
    if len(lines) > 2:
        lines = [lines[0], lines[1][:-1] + "…"]
    return "\n".join(lines)
