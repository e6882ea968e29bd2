import pytest
import torch
import torch.nn.functional as F

from mmlookup.layers.resize import resample_matrix, resize_grid


@pytest.mark.parametrize("n_in,n_out", [(14, 5), (14, 7), (8, 3), (5, 5), (3, 8), (1, 4), (7, 1)])
def test_rows_sum_to_one_and_constant_preserved(n_in, n_out):
    r = resample_matrix(n_in, n_out)
    assert r.shape == (n_out, n_in)
    torch.testing.assert_close(r.sum(1), torch.ones(n_out))
    assert (r >= 0).all()


@pytest.mark.parametrize(
    "in_grid,out_grid",
    [
        ((8, 14, 14), (4, 7, 7)),
        ((8, 14, 14), (2, 5, 5)),
        ((4, 6, 9), (3, 4, 4)),
        ((8, 7, 7), (8, 7, 7)),
        ((1, 14, 14), (1, 3, 3)),
        ((2, 3, 3), (4, 6, 5)),
    ],
)
def test_constant_grid_stays_constant_and_shapes(in_grid, out_grid):
    n = in_grid[0] * in_grid[1] * in_grid[2]
    x = torch.full((2, n, 3), 1.7)
    y = resize_grid(x, in_grid, out_grid)
    assert y.shape == (2, out_grid[0] * out_grid[1] * out_grid[2], 3)
    torch.testing.assert_close(y, torch.full_like(y, 1.7))


def test_identity_when_grids_equal():
    x = torch.randn(2, 4 * 5 * 6, 8)
    assert resize_grid(x, (4, 5, 6), (4, 5, 6)) is x


@pytest.mark.parametrize("out", [(5, 5), (7, 7), (3, 4), (10, 10), (20, 28)])
def test_matches_torch_antialiased_bilinear_in_2d(out):
    # torch's antialiased bilinear (PIL semantics: triangle filter stretched by the scale, half-pixel centres)
    x = torch.randn(2, 14 * 14, 5)
    ours = resize_grid(x, (14, 14), out).view(2, *out, 5).permute(0, 3, 1, 2)
    ref = F.interpolate(
        x.view(2, 14, 14, 5).permute(0, 3, 1, 2), size=out, mode="bilinear", antialias=True, align_corners=False
    )
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_separable_equals_sequential_1d():
    x = torch.randn(1, 8 * 6 * 4, 2)
    y = resize_grid(x, (8, 6, 4), (3, 5, 2)).view(1, 3, 5, 2, 2)
    rt, rh, rw = resample_matrix(8, 3), resample_matrix(6, 5), resample_matrix(4, 2)
    ref = torch.einsum("pt,qh,rw,bthwd->bpqrd", rt, rh, rw, x.view(1, 8, 6, 4, 2))
    torch.testing.assert_close(y, ref, atol=1e-6, rtol=1e-5)


def test_linear_ramp_preserved_in_interior_when_downsampling_by_two():
    ramp = torch.arange(16.0).view(1, 16, 1)
    y = resize_grid(ramp, (16,), (8,)).flatten()
    # half-pixel centres: output i covers inputs 2i, 2i+1 → mean 2i + 0.5 (interior, away from the borders)
    torch.testing.assert_close(y[1:-1], torch.arange(1, 7) * 2.0 + 0.5)


def test_bad_token_count_is_an_error():
    with pytest.raises(ValueError, match="do not form the grid"):
        resize_grid(torch.randn(1, 10, 2), (2, 2, 2), (1, 1, 1))
