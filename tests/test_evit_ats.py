"""EViT and ATS encoders: ViT equivalence, fused vs explicit paths, schedules, ragged batches, GMACs."""
from __future__ import annotations

import pytest
import torch

from mmlookup.bench.flops import encoder_gmacs
from mmlookup.encoders.ats import ATS
from mmlookup.encoders.evit import EViT
from mmlookup.layers.attention import set_fused_attn, use_fused_attn
from mmlookup.registry import create_encoder

SMALL = dict(num_frames=4, img_size=32, patch_size=8, tubelet_size=2, embed_dim=32, depth=4, num_heads=4)


@pytest.fixture()
def explicit_attn():
    prev = use_fused_attn()
    set_fused_attn(False)
    yield
    set_fused_attn(prev)


def _video(b: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, 3, 4, 32, 32, generator=torch.Generator().manual_seed(seed))


def _vit(seed: int = 0, sharpen: float = 1.0):
    torch.manual_seed(seed)
    vit = create_encoder("vit_nano", **SMALL).eval()
    if sharpen != 1.0:  # peakier CLS attention, so ATS drops a varying number of tokens per clip
        with torch.no_grad():
            for blk in vit.blocks:
                blk.attn.qkv.weight.mul_(sharpen)
    return vit


@pytest.mark.parametrize("name,kwargs", [("evit_nano", dict(keep_rate=1.0)),
                                         ("ats_nano", dict(budget=10**6, sampler="midpoint"))])
def test_same_state_dict_and_equal_to_vit_without_reduction(name, kwargs):
    vit, x = _vit(), _video()
    model = create_encoder(name, **SMALL, **kwargs).eval()
    model.load_state_dict(vit.state_dict(), strict=True)      # training-free: the very same state dict
    ref, out = vit(x), model(x)
    assert out.mask is None and out.tokens.shape == ref.tokens.shape
    torch.testing.assert_close(out.tokens, ref.tokens, atol=1e-5, rtol=1e-5)
    assert out.info["tokens_per_layer"] == [float(ref.tokens.shape[1])] * 4


def test_from_vit_and_checkpoint_route_give_the_same_model():
    vit, x = _vit(), _video()
    a = EViT.from_vit(vit, keep_rate=0.5)
    b = create_encoder("evit_nano", **SMALL, keep_rate=0.5, checkpoint=vit.state_dict()).eval()
    torch.testing.assert_close(a(x).tokens, b(x).tokens)
    c = ATS.from_vit(vit, budget=10**6, sampler="midpoint")
    torch.testing.assert_close(c(x).tokens, vit(x).tokens, atol=1e-5, rtol=1e-5)


def test_evit_token_counts_follow_the_schedule_and_cls_stays_first():
    model = EViT(**{**SMALL, "img_size": 64}, keep_rate=0.7, reduce_layers=(1, 3)).eval()
    out = model(torch.randn(2, 3, 4, 64, 64))
    n0 = 1 + 2 * 8 * 8
    k1 = -(-7 * (n0 - 1) // 10)                 # ceil(0.7 * 128) = 90 kept, +1 fused
    k2 = -(-7 * (k1 + 1) // 10)
    expected = [n0, 1 + k1 + 1, 1 + k1 + 1, 1 + k2 + 1]
    assert model.token_schedule(n0) == expected
    assert out.info["tokens_per_layer"] == [float(v) for v in expected]
    kept = out.info["kept_indices"]
    assert (kept[:, 0] == 0).all() and (kept[:, -1] == -1).all()          # CLS first, fused token last
    inner = kept[:, 1:-1]                          # patch positions, or -1 where an earlier fused token was kept
    assert (((inner >= 1) & (inner < n0)) | (inner == -1)).all() and ((inner == -1).sum(1) <= 1).all()
    assert len(set(inner[0].tolist())) == inner.shape[1]
    model.set_keep_rate(1.0)
    assert model(torch.randn(1, 3, 4, 64, 64)).tokens.shape[1] == n0
    with pytest.raises(ValueError):
        model.set_keep_rate(1.5)


def test_evit_without_fusion_and_default_layers():
    narrow = dict(SMALL, depth=12)
    model = EViT(**narrow, keep_rate=0.7, fuse_token=False)
    assert model.reduce_layers == (3, 6, 9)
    assert model.token_schedule(197) == [197] * 3 + [139] * 3 + [98] * 3 + [69] * 3
    assert ATS(**narrow).sample_layers == tuple(range(3, 12))
    with pytest.raises(ValueError, match="outside"):
        EViT(**SMALL, reduce_layers=(7,))


@pytest.mark.parametrize("family", ["evit", "ats"])
def test_fused_path_equals_explicit_attention(family, explicit_attn):
    vit, x = _vit(sharpen=6.0), _video()
    model = (EViT.from_vit(vit, keep_rate=0.6) if family == "evit" else ATS.from_vit(vit, budget=20)).eval()
    reference = model(x, return_attn=True)            # explicit attention: CLS row taken from the full matrix
    set_fused_attn(True)
    fused = model(x)                                   # separate CLS row + SDPA on the kept queries
    assert torch.equal(fused.info["kept_indices"], reference.info["kept_indices"])
    torch.testing.assert_close(fused.tokens, reference.tokens, atol=1e-5, rtol=1e-5)
    assert len(reference.info["attn"]) == 4


@pytest.mark.parametrize("sampler", ["official", "midpoint"])
def test_ats_ragged_batch_equals_each_clip_alone(sampler):
    vit = _vit(sharpen=6.0)
    model = ATS.from_vit(vit, budget=24, sampler=sampler)
    x = _video(4, seed=3)
    x[1] *= 4
    x[2] = 0
    out = model(x)
    assert out.mask is not None
    counts = out.mask.sum(1)
    assert len(set(counts.tolist())) > 1, "the clips should keep different numbers of tokens"
    assert (out.info["kept_indices"][~out.mask] == -1).all()
    for i in range(4):
        alone = model(x[i : i + 1])
        n = alone.tokens.shape[1]
        assert n == int(counts[i]) and alone.mask is None
        torch.testing.assert_close(out.tokens[i, :n], alone.tokens[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.pooled()[i], alone.pooled()[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.tensor(out.info["tokens_per_layer"]), out.info["tokens_per_sample"].mean(0))


@pytest.mark.parametrize("budget", [1, 7, 64, 128, 500, 0.25])
def test_ats_budgets_below_at_and_above_n(budget):
    model = ATS.from_vit(_vit(sharpen=6.0), budget=budget)
    out = model(_video())
    limit = 1 + min(128, budget if isinstance(budget, int) else round(budget * 128))
    per_sample = out.info["tokens_per_sample"]
    assert (per_sample[:, 1:] <= limit).all() and (per_sample >= 2).all()
    assert torch.isfinite(out.tokens).all()


def test_ats_stochastic_only_in_training():
    model = ATS.from_vit(_vit(sharpen=6.0), budget=16, stochastic=True, sampler="midpoint")
    x = _video()
    a, b = model(x), model(x)
    assert torch.equal(a.info["kept_indices"], b.info["kept_indices"])
    model.train()
    kept = {tuple(model(x).info["kept_indices"][0].tolist()) for _ in range(6)}
    assert len(kept) > 1
    with pytest.raises(ValueError, match="sampler='midpoint'"):
        ATS(**SMALL, stochastic=True)
    with pytest.raises(ValueError, match="unknown ATS sampler 'nearest'; valid: official, midpoint"):
        ATS(**SMALL, sampler="nearest")


def _official_slow(scores: list[float], k: int) -> set[int]:
    """The released ATS sampling rule written out per point (the paper's and official repository's description).

    Sort ascending, CDF, min-max normalise over the positive-score tokens; ``K`` points evenly spaced from the
    smallest positive normalised value to 1 (one point: 1); each takes the token of nearest normalised CDF (first on
    ties); the distinct tokens are kept.
    """
    order = sorted(range(len(scores)), key=lambda i: (scores[i], i))
    cdf, total = [], 0.0
    for i in order:
        total += scores[i]
        cdf.append(total)
    positive = [scores[i] > 0 for i in order]
    c_min = min(c for c, p in zip(cdf, positive) if p)
    c_max = cdf[-1]
    if c_max > c_min:
        norm = [(c - c_min) / (c_max - c_min) if p else -1.0 for c, p in zip(cdf, positive)]
    else:
        norm = [1.0 if p and c >= c_max else -1.0 for c, p in zip(cdf, positive)]
    above = [v for v in norm if v > 0]
    y0 = min(above) if above else 1.0
    points = [1.0] if k == 1 else [y0 + (1.0 - y0) * (j / (k - 1)) for j in range(k)]
    kept = set()
    for y in points:
        dist = [abs(y - v) for v in norm]
        kept.add(order[dist.index(min(dist))])
    return kept


def test_official_sampler_matches_a_slow_transcription_of_the_rule():
    from mmlookup.encoders.token_ops import ats_select

    g = torch.Generator().manual_seed(0)
    for trial in range(100):
        n = int(torch.randint(2, 120, (1,), generator=g))
        alpha = [0.1, 0.5, 1.0, 5.0][trial % 4]
        scores = torch.distributions.Dirichlet(torch.full((n,), alpha)).sample().double()
        if trial % 5 == 0:                                   # some zero-score (padded) tokens
            scores[torch.randperm(n, generator=g)[: n // 4]] = 0.0
            scores = scores / scores.sum()
        k = [1, 2, max(1, n // 3), n, 3 * n][trial % 5]
        idx, valid = ats_select(scores[None], k, sampler="official")
        got = set(idx[0][valid[0]].tolist())
        assert got == _official_slow(scores.tolist(), k), (trial, n, k)
        top = int(scores.argmax())
        assert top in got and all(scores[i] > 0 for i in got)
        padded, _ = ats_select(torch.cat([scores, scores.new_zeros(7)])[None], k, sampler="official")
        assert set(padded[0][: len(got)].tolist()) == got   # padding changes nothing


def test_official_sampler_with_dense_points_drops_only_the_lowest_token():
    from mmlookup.encoders.token_ops import nearest_cdf_sample

    scores = torch.tensor([0.05, 0.3, 0.1, 0.25, 0.2, 0.1], dtype=torch.float64)
    kept = set(nearest_cdf_sample(scores[None], 10**5)[0].tolist())
    assert kept == {1, 2, 3, 4, 5}                           # token 0 (lowest score, normalised CDF 0) never


@pytest.mark.parametrize("name", ["evit_nano", "ats_nano"])
def test_training_backward_with_grad_checkpointing(name):
    model = create_encoder(name, **SMALL, drop_path_rate=0.1).train()
    model.set_grad_checkpointing()
    out = model(_video())
    out.pooled().sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_image_mode_gmacs_match_the_deit_s_figures():
    """DeiT-S sizes (D=384, 6 heads, 12 layers) on one 224² image: ViT 4.6 G, EViT ρ=0.7 3.0 G (EViT paper)."""
    vit = create_encoder("vit_small")
    evit = create_encoder("evit_small", keep_rate=0.7)
    g_vit = encoder_gmacs(vit, (3, 1, 224, 224))
    g_evit = encoder_gmacs(evit, (3, 1, 224, 224))
    assert abs(g_vit / 4.6 - 1) < 0.03, g_vit
    assert abs(g_evit / 3.0 - 1) < 0.03, g_evit


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("name", ["evit_nano", "ats_nano"])
def test_no_n_by_n_tensor_is_formed(name, fused):
    """With fused attention no op of the forward or backward pass returns a tensor with two token axes.

    Every token count that occurs is checked: the input's and the count after each reduction (the token schedule
    reported per layer, ragged ATS clips included), as square ``N' × N'`` and, for ATS, as kept-queries × keys.
    The explicit attention path (``fused=False``) must be caught, which shows the probe can see the matrices.
    """
    from probes import ShapeProbe

    probe = ShapeProbe()
    torch.manual_seed(0)
    wide = dict(SMALL, embed_dim=64, num_heads=2)                   # head width 32: no token count among the dims
    model = (
        create_encoder(name, **wide, keep_rate=0.5)
        if name.startswith("evit")
        else create_encoder(name, **wide, budget=16)
    ).train()
    prev = use_fused_attn()
    set_fused_attn(fused)
    try:
        with probe:
            out = model(_video())
            out.pooled().sum().backward()
    finally:
        set_fused_attn(prev)
    per_sample = out.info["tokens_per_sample"]                 # (B, depth) real tokens at each layer's MLP
    n = 1 + 2 * 4 * 4
    counts = {n} | {int(c) for c in per_sample.flatten().tolist()}
    counts |= {int(c) for c in per_sample.amax(dim=0).tolist()}  # a padded batch's width
    assert len(counts) >= 3, counts                               # reductions did happen (several counts)
    pairs = {(a, b) for a in counts for b in counts}              # N'×N', K×N (kept queries × keys) and N×K
    shapes = probe.sizes
    bad = [s for s in shapes if len(s) >= 2 and (s[-2], s[-1]) in pairs and s[-1] > 1 and s[-2] > 1]
    if not fused:  # every attention matrix is seen (the layer inputs: all counts but the last)
        attended = {n} | {int(c) for c in per_sample[:, :-1].amax(dim=0).tolist()}   # key widths of the batch
        keys = {s[-1] for s in bad}
        assert attended <= keys, (attended, sorted(set(bad)))
        return
    assert shapes and not bad, sorted(set(bad))[:5]
