"""Token-reduction ops against slow loop references (EViT top-k/fusion, ATS scores/CDF sampling/dedupe, masks)."""
from __future__ import annotations

import math

import pytest
import torch

from mmlookup.encoders import token_ops as T
from mmlookup.layers.attention import explicit_attention, key_padding_bias


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_mask(b: int, n: int, g: torch.Generator) -> torch.Tensor:
    counts = torch.randint(2, n + 1, (b,), generator=g)
    counts[0] = n
    return torch.arange(n)[None, :] < counts[:, None]


@pytest.mark.parametrize("masked", [False, True])
def test_cls_attention_equals_explicit_attention_row(masked):
    g = _gen(1)
    b, h, n, d = 3, 4, 37, 8
    q, k, v = (torch.randn(b, h, n, d, generator=g, dtype=torch.float64) for _ in range(3))
    mask = _random_mask(b, n, g) if masked else None
    _, attn = explicit_attention(q, k, v, key_padding_bias(mask, q.dtype))
    row = T.cls_attention(q, k, mask)
    assert row.shape == (b, h, n)
    torch.testing.assert_close(row, attn[:, :, 0], atol=1e-12, rtol=0)
    if masked:
        assert (row.masked_select(~mask[:, None, :].expand_as(row)) == 0).all()


def test_topk_and_complement_match_loops():
    g = _gen(2)
    scores = torch.rand(4, 50, generator=g)
    keep = T.topk_indices(scores, 17)
    drop = T.complement_indices(keep, 50)
    for b in range(4):
        ref = sorted(range(50), key=lambda j: -scores[b, j].item())[:17]
        assert keep[b].tolist() == ref
        assert drop[b].tolist() == sorted(set(range(50)) - set(ref))


def test_fuse_tokens_matches_loop():
    g = _gen(3)
    x, w = torch.randn(2, 10, 6, generator=g), torch.rand(2, 10, generator=g)
    idx = torch.tensor([[0, 3, 7], [1, 2, 9]])
    fused = T.fuse_tokens(x, w, idx)
    for b in range(2):
        ref = sum(w[b, j] * x[b, j] for j in idx[b].tolist())
        torch.testing.assert_close(fused[b, 0], ref)


def test_evit_reduce_keeps_cls_first_then_attentive_then_fused():
    g = _gen(4)
    x, attn = torch.randn(2, 11, 5, generator=g), torch.rand(2, 10, generator=g)
    out, keep, drop = T.evit_reduce(x, attn, 4, fuse=True)
    assert out.shape == (2, 1 + 4 + 1, 5)
    torch.testing.assert_close(out[:, 0], x[:, 0])
    for b in range(2):
        order = sorted(range(10), key=lambda j: -attn[b, j].item())
        torch.testing.assert_close(out[b, 1:5], x[b, 1:][order[:4]])
        ref = sum(attn[b, j] * x[b, 1 + j] for j in order[4:])
        torch.testing.assert_close(out[b, 5], ref)
    no_fuse, _, _ = T.evit_reduce(x, attn, 4, fuse=False)
    assert no_fuse.shape == (2, 5, 5)


def test_evit_keep_count_is_ceil_and_validates():
    assert [T.evit_keep_count(n, 0.7) for n in (196, 139, 99)] == [138, 98, 70]
    assert T.evit_keep_count(196, 1.0) == 196 and T.evit_keep_count(3, 0.01) == 1
    with pytest.raises(ValueError, match="keep rate"):
        T.evit_keep_count(10, 0.0)


def test_ats_scores_match_loop_and_ignore_padding():
    g = _gen(5)
    b, h, n, d = 3, 2, 9, 4
    attn = torch.rand(b, h, n, generator=g).softmax(-1)
    v = torch.randn(b, h, n, d, generator=g)
    mask = _random_mask(b, n, g)
    s = T.ats_scores(attn, v, mask)
    for i in range(b):
        raw = [sum(attn[i, hh, j] for hh in range(h)) * v[i, :, j].flatten().norm() * mask[i, j] for j in range(1, n)]
        total = sum(raw)
        torch.testing.assert_close(s[i], torch.stack([r / total for r in raw]))
    torch.testing.assert_close(s.sum(1), torch.ones(b))
    # all-zero values fall back to uniform over the real tokens
    s0 = T.ats_scores(attn, torch.zeros_like(v), mask)
    torch.testing.assert_close(s0.sum(1), torch.ones(b))
    assert (s0[~mask[:, 1:]] == 0).all()


def _inverse_cdf_loop(scores: torch.Tensor, points: torch.Tensor) -> list[list[int]]:
    out = []
    for s, ys in zip(scores.tolist(), points.tolist()):
        order = sorted(range(len(s)), key=lambda j: (s[j], j))
        cdf, acc = [], 0.0
        for j in order:
            acc += s[j]
            cdf.append(acc)
        cdf = [c / cdf[-1] for c in cdf]
        out.append([order[next((m for m, c in enumerate(cdf) if c >= y), len(cdf) - 1)] for y in ys])
    return out


def test_inverse_transform_sampling_matches_loop():
    g = _gen(6)
    scores = torch.rand(4, 30, generator=g, dtype=torch.float64) ** 4
    scores[1, :10] = 0  # zero-score (padded) tokens
    scores = scores / scores.sum(1, keepdim=True)
    points = T.sample_points(4, 23, dtype=torch.float64)
    picks = T.inverse_transform_sample(scores, points)
    assert picks.tolist() == _inverse_cdf_loop(scores, points)
    assert not any(p < 10 for p in picks[1].tolist())  # zero-score tokens are never picked


def test_unique_picks_match_sets():
    picks = torch.tensor([[3, 3, 1, 7, 1], [0, 0, 0, 0, 0], [4, 2, 6, 5, 1]])
    idx, valid = T.unique_picks(picks, 8)
    for b in range(3):
        assert idx[b][valid[b]].tolist() == sorted(set(picks[b].tolist()))
    assert valid.sum(1).tolist() == [3, 1, 5] and idx.shape == (3, 5)


@pytest.mark.parametrize("sampler", ["official", "midpoint"])
@pytest.mark.parametrize("budget", [1, 5, 20, 40, 1000])
def test_ats_select_any_budget(budget, sampler):
    g = _gen(7)
    n = 20
    scores = (torch.rand(3, n, generator=g) ** 3)
    scores[2, 12:] = 0  # sample 2 has 12 real tokens
    scores = scores / scores.sum(1, keepdim=True)
    idx, valid = T.ats_select(scores, budget, sampler=sampler)
    counts = valid.sum(1)
    assert (counts >= 1).all() and (counts <= min(budget, n)).all()
    assert int(counts[2]) <= 12 and (idx[2][valid[2]] < 12).all()
    for b in range(3):
        kept = set(idx[b][valid[b]].tolist())
        if sampler == "midpoint":  # every token holding at least 1/K of the mass: its CDF interval holds a point
            assert {j for j in range(n) if scores[b, j] >= 1.0 / budget} <= kept
        else:                      # the top token always, the lowest-scoring real one only when alone
            assert int(scores[b].argmax()) in kept
            assert budget == 1 or int(torch.where(scores[b] > 0, scores[b], 2.0).argmin()) not in kept


def test_ats_select_full_budget_uniform():
    """Midpoint: every token. Official: all but the lowest in sorted order (normalised CDF 0: token 0 on ties)."""
    idx, valid = T.ats_select(torch.full((2, 31), 1 / 31), 31, sampler="midpoint")
    assert valid.all() and idx.tolist() == [list(range(31))] * 2
    idx, valid = T.ats_select(torch.full((2, 31), 1 / 31), 31)
    assert valid.all() and idx.tolist() == [list(range(1, 31))] * 2


def test_stochastic_points_stay_stratified():
    p = T.sample_points(5, 8, generator=_gen(8), stochastic=True)
    k = torch.arange(8)
    assert ((p * 8).floor() == k).all()
    assert not torch.allclose(p[0], p[1])


def test_with_cls_and_apply_to_real():
    idx, valid = torch.tensor([[2, 5], [1, 0]]), torch.tensor([[True, True], [True, False]])
    sel, keep = T.with_cls(idx, valid)
    assert sel.tolist() == [[0, 3, 6], [0, 2, 1]] and keep.tolist() == [[True] * 3, [True, True, False]]
    x = torch.randn(2, 3, 4)
    lin = torch.nn.Linear(4, 6)
    y = T.apply_to_real(lin, x, keep)
    torch.testing.assert_close(y[keep], lin(x[keep]))
    assert (y[~keep] == 0).all()
    torch.testing.assert_close(T.apply_to_real(lin, x, None), lin(x))
    assert math.isclose(float(T.real_counts(keep, 2, 3).mean()), 2.5)
