"""Token maps: the masks hold the kept-token counts the encoders report; heat maps are the gather weights."""
from __future__ import annotations

import pytest
import torch

from mmlookup import create_encoder
from mmlookup.encoders.token_ops import evit_keep_count
from mmlookup.viz.tokenmaps import cell_of, centre_index, to_pixels, token_maps

SMALL = dict(num_frames=4, img_size=32, patch_size=8, tubelet_size=2)      # grid 2x4x4 = 32 tokens


def _clip(frames: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(1, 3, frames, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("frames", [4, 1])
def test_evit_masks_have_the_reported_counts(frames):
    torch.manual_seed(0)
    enc = create_encoder("evit_nano", keep_rate=0.6, **SMALL)
    video = _clip(frames)
    maps = token_maps(enc, video)
    n = maps.grid[0] * maps.grid[1] * maps.grid[2]
    schedule = enc.token_schedule(n + 1)                                  # CLS + patches, per layer, at this ρ
    assert [m.layer for m in maps.maps] == list(enc.reduce_layers)
    for i, m in enumerate(maps.maps):
        assert m.kind == "mask" and set(m.values.unique().tolist()) <= {0.0, 1.0}
        assert int(m.values.sum()) == m.kept
        assert m.reported == schedule[m.layer]
        # CLS plus at most one fused token per reduction so far are the only tokens that are not patches
        assert 1 <= m.reported - m.kept <= 2 + i
    with torch.no_grad():
        final = enc(video).info["kept_indices"][0]                        # the encoder's own last-layer report
    last = maps.maps[-1]
    assert last.layer == enc.depth - 1
    kept = sorted(int(p) - 1 for p in final if p >= 1)
    assert torch.nonzero(last.values.flatten()).flatten().tolist() == kept


def test_evit_without_fusing_keeps_exactly_ceil_rho_n():
    torch.manual_seed(0)
    enc = create_encoder("evit_nano", keep_rate=0.5, fuse_token=False, **SMALL)
    maps = token_maps(enc, _clip())
    expected, n = [], 32
    for _ in enc.reduce_layers:
        n = evit_keep_count(n, 0.5)
        expected.append(n)
    assert [m.kept for m in maps.maps] == expected
    assert [m.reported - 1 for m in maps.maps] == expected


@pytest.mark.parametrize("frames", [4, 1])
def test_ats_masks_have_the_reported_counts(frames):
    torch.manual_seed(1)
    enc = create_encoder("ats_nano", budget=0.5, **SMALL)
    video = _clip(frames, seed=3)
    maps = token_maps(enc, video)
    with torch.no_grad():
        per_layer = enc(video).info["tokens_per_sample"][0]
    assert [m.layer for m in maps.maps] == list(enc.sample_layers)
    for m in maps.maps:
        assert m.kept == int(m.values.sum()) == int(per_layer[m.layer]) - 1   # ATS adds no token besides CLS
    counts = [m.kept for m in maps.maps]
    assert counts == sorted(counts, reverse=True)                         # a dropped token never comes back
    n = maps.grid[0] * maps.grid[1] * maps.grid[2]
    assert counts[0] <= max(1, round(0.5 * n))


def test_mask_pixels_cover_each_kept_tubelet():
    torch.manual_seed(0)
    enc = create_encoder("evit_nano", keep_rate=0.5, **SMALL)
    maps = token_maps(enc, _clip())
    t, p, _ = maps.tubelet
    for m in maps.maps:
        pixels = to_pixels(m.values, maps.tubelet, (4, 32, 32))
        assert pixels.shape == (4, 32, 32)
        assert int(pixels.sum()) == m.kept * t * p * p


def test_to_pixels_places_each_token_on_its_tubelet():
    values = torch.zeros(2, 4, 4)
    values[1, 2, 3] = 1.0
    pixels = to_pixels(values, (2, 8, 8), (4, 32, 32))
    where = torch.nonzero(pixels)
    assert where[:, 0].unique().tolist() == [2, 3]
    assert (where[:, 1].min(), where[:, 1].max()) == (16, 23)
    assert (where[:, 2].min(), where[:, 2].max()) == (24, 31)


def test_lookupvit_heat_maps_are_the_gather_weights():
    torch.manual_seed(0)
    enc = create_encoder("lookupvit_nano", grid=(1, 2, 2), **SMALL)
    video = _clip()
    maps = token_maps(enc, video, queries=[0, 3])
    assert maps.grid == (2, 4, 4) and maps.tubelet == (2, 8, 8)
    assert len(maps.maps) == enc.depth * 3                                # mean + two tokens per block
    with torch.no_grad():
        attn = enc(video, return_attn=True).info["attn"]
    for m in maps.maps:
        assert m.kind == "heat" and m.values.shape == (2, 4, 4)
        torch.testing.assert_close(m.values.sum(), torch.tensor(1.0), atol=1e-5, rtol=0)
        expected = attn[m.layer][0].mean(0)
        row = expected.mean(0) if m.query is None else expected[m.query]
        torch.testing.assert_close(m.values.flatten(), row)
    boxed = [m for m in maps.maps if m.query == 3]
    assert boxed[0].query_box == (0.0, 1.0, 0.5, 1.0, 0.5, 1.0)            # cell (0, 1, 1) of 1x2x2


def test_lookupvit_other_grid_and_image():
    torch.manual_seed(0)
    enc = create_encoder("lookupvit_nano", **SMALL)
    maps = token_maps(enc, _clip(1), grid=(2, 2, 2), layers=[enc.depth - 1])
    assert maps.grid == (1, 4, 4) and maps.tubelet == (1, 8, 8)
    assert [m.query for m in maps.maps] == [None, centre_index((1, 2, 2))]   # an image's compressed t is 1
    with pytest.raises(ValueError, match="tokens 0..3"):
        token_maps(enc, _clip(1), grid=(2, 2, 2), queries=[4])


def test_vit_cls_attention_and_bad_input():
    torch.manual_seed(0)
    enc = create_encoder("vit_nano", **SMALL)
    maps = token_maps(enc, _clip(), layers=[0, 2])
    assert [m.layer for m in maps.maps] == [0, 2]
    assert all(0.0 < float(m.values.sum()) < 1.0 for m in maps.maps)      # CLS keeps some attention itself
    with pytest.raises(ValueError, match="layers 0..3"):
        token_maps(enc, _clip(), layers=[7])
    with pytest.raises(ValueError, match="no compressed grid"):
        token_maps(enc, _clip(), grid=(1, 2, 2))
    with pytest.raises(ValueError, match="one clip"):
        token_maps(enc, torch.zeros(2, 3, 4, 32, 32))


def test_grid_cells_round_trip():
    grid = (2, 3, 5)
    cells = [cell_of(i, grid) for i in range(30)]
    assert len(set(cells)) == 30 and cells[centre_index(grid)] == (1, 1, 2)
