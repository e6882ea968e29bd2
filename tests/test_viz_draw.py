"""Drawing: picture sizes and frame counts follow the layout; masks show up as dark tokens; missing extra."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mmlookup.viz.draw import DROPPED_BRIGHTNESS, Layout, animation, contact_sheet, overlay
from mmlookup.viz.tokenmaps import TokenMap, TokenMaps


def _maps() -> TokenMaps:
    mask = torch.zeros(2, 4, 4)
    mask[0, :2, :2] = 1.0
    heat = torch.arange(32, dtype=torch.float).view(2, 4, 4)
    return TokenMaps("EViT", (2, 4, 4), (2, 8, 8), [
        TokenMap("layer 1: 4/32 kept", "mask", mask, 1, kept=4, reported=5, extra_tokens=1),
        TokenMap("layer 2: heat", "heat", heat, 2, query=0, query_box=(0, 0.5, 0, 0.5, 0, 0.5)),
    ], notes=["keep rate 0.5"])


def _frames(t: int = 4, h: int = 32, w: int = 32) -> torch.Tensor:
    return torch.full((t, h, w, 3), 200, dtype=torch.uint8)


def test_overlay_darkens_exactly_the_dropped_tokens():
    out = overlay(_frames(), _maps().maps[0], (2, 8, 8))
    assert out.shape == (4, 32, 32, 3) and out.dtype == np.uint8
    assert (out[:2, :16, :16] == 200).all()                                # kept tubelets: frames 0-1, top-left
    dark = round(200 * DROPPED_BRIGHTNESS)
    assert (out[2:] == dark).all() and (out[:2, 16:] == dark).all()


def test_overlay_scales_to_the_panel_size_and_boxes_the_query():
    out = overlay(_frames(), _maps().maps[1], (2, 8, 8), size=(64, 64))
    assert out.shape == (4, 64, 64, 3)
    assert (out[0, 0, :32] == (0, 230, 255)).all()                         # the box on the first frames only
    assert not (out[3, 0, :32] == (0, 230, 255)).all()


def test_contact_sheet_and_gif_sizes(tmp_path):
    layout = Layout(cell=40, gif_columns=2)
    frames, maps = _frames(4, 32, 48), _maps()
    png = contact_sheet(frames, maps, tmp_path / "a.png", title="t", layout=layout)
    gif = animation(frames, maps, tmp_path / "a.gif", layout=layout)
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == layout.sheet_size(3, 4, (32, 48))
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 4 and im.size == layout.gif_size(3, (32, 48))
    assert layout.cell_size((32, 48)) == (40, 27)


def test_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)                  # makes `import matplotlib` fail
    from mmlookup.viz.deps import MissingVizDependency

    with pytest.raises(MissingVizDependency, match=r"matplotlib .*pip install 'mmlookup\[viz\]'"):
        overlay(_frames(), _maps().maps[1], (2, 8, 8))
