"""The plot and the markdown table from points (no runs needed)."""
from __future__ import annotations

import pytest
from PIL import Image

from mmlookup.viz.plot import markdown_table, plot_points
from mmlookup.viz.runs import Point


def _points(speed: bool) -> list[Point]:
    pts = [Point("runs/a", "lookupvit_nano", f"grid {g}", "top-1 (%)", v, gm, cps if speed else None, 96, chance=12.5)
           for g, v, gm, cps in (("1x2x2", 40.0, 0.086, 30.0), ("2x4x4", 55.5, 0.129, 20.0))]
    pts.append(Point("runs/b", "lookupvit_nano", "grid 1x2x2", "top-1 (%)", 38.0, 0.086, 31.0 if speed else None, 96,
                     chance=12.5))
    return pts


@pytest.mark.parametrize("speed", [True, False])
def test_plot_writes_a_png_with_one_or_two_panels(tmp_path, speed):
    out = plot_points(_points(speed), tmp_path / "p.png", title="t", throughput_note="measured")
    with Image.open(out) as im:
        assert im.format == "PNG"
        width = im.size[0]
    assert (width > 900) == speed                                           # the throughput panel doubles the width


def test_markdown_table_has_one_row_per_point():
    table = markdown_table(_points(True)).splitlines()
    assert table[0].startswith("| run | encoder | setting | top-1 (%) |")
    assert len(table) == 2 + 3
    assert "| a | lookupvit_nano | grid 2x4x4 | 55.50 | 0.129 | 20.0 | 96 |" in table


def test_nothing_to_plot_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no points"):
        plot_points([], tmp_path / "p.png")
