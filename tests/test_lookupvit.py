"""LookupViT against an explicit, slow computation of DESIGN §4, and its structural guarantees."""
import pytest
import torch
from probes import ShapeProbe

from mmlookup import create_encoder
from mmlookup.encoders.lookupvit import LookupBlock
from mmlookup.layers.attention import set_fused_attn
from mmlookup.layers.resize import resize_grid


@pytest.fixture
def explicit_attention():
    set_fused_attn(False)
    yield
    set_fused_attn(True)


def reference_block(blk: LookupBlock, l: torch.Tensor, p: torch.Tensor, reuse: str):
    """DESIGN §4 written out per head with plain matmuls (no SDPA, no batching over heads)."""
    h, d = blk.num_heads, blk.head_dim
    xp, xl = blk.norm_p(p), blk.norm_l(l)
    q = xp @ blk.q.weight.T + blk.q.bias
    kv = xl @ blk.kv.weight.T + blk.kv.bias
    k, v = kv[..., : h * d], kv[..., h * d:]
    gathered, logits = [], []
    for i in range(h):
        s = q[..., i * d:(i + 1) * d] @ k[..., i * d:(i + 1) * d].transpose(-1, -2) / d**0.5   # (B, M, N)
        logits.append(s)
        gathered.append(torch.softmax(s, dim=-1) @ v[..., i * d:(i + 1) * d])
    p = p + blk.proj_p(torch.cat(gathered, -1))
    r = blk.refine
    p = p + r.attn(r.norm1(p))[0]
    p = p + r.mlp(r.norm2(p))
    vp = blk.v_p(blk.norm_v(p))
    infused = []
    for i in range(h):
        s = logits[i]
        w = (
            torch.softmax(s.transpose(-1, -2), dim=-1)
            if reuse == "logits"
            else torch.softmax(s, dim=-1).transpose(-1, -2)
        )
        infused.append(w @ vp[..., i * d:(i + 1) * d])
    l = l + blk.proj_l(torch.cat(infused, -1))
    if blk.norm_post is not None:  # lucidrains' LayerNorm of the lookup stream after infusing
        l = torch.nn.functional.layer_norm(l, (l.shape[-1],), blk.norm_post.weight, blk.norm_post.bias, 1e-6)
    l = l + blk.mlp(blk.norm_mlp(l))
    return l, p


@pytest.mark.parametrize("reuse,post_norm", [("logits", False), ("post_softmax", False), ("logits", True)])
def test_block_matches_the_explicit_spec(reuse, post_norm, explicit_attention):
    torch.manual_seed(0)
    blk = LookupBlock(64, 4, reuse=reuse, post_norm=post_norm).eval()
    if post_norm:  # a non-trivial affine part, so the test sees which LayerNorm runs where
        torch.nn.init.normal_(blk.norm_post.weight, 1.0, 0.3)
        torch.nn.init.normal_(blk.norm_post.bias, 0.0, 0.3)
    l, p = torch.randn(2, 48, 64), torch.randn(2, 6, 64)
    with torch.no_grad():
        ref_l, ref_p = reference_block(blk, l, p, reuse)
        out_l, out_p, _ = blk(l, p)
    torch.testing.assert_close(out_l, ref_l, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out_p, ref_p, atol=1e-5, rtol=1e-5)


def test_post_softmax_reuse_is_a_different_model():
    torch.manual_seed(0)
    a = LookupBlock(64, 4, reuse="logits").eval()
    b = LookupBlock(64, 4, reuse="post_softmax").eval()
    b.load_state_dict(a.state_dict())
    l, p = torch.randn(1, 48, 64), torch.randn(1, 6, 64)
    with torch.no_grad():
        assert not torch.allclose(a(l, p)[0], b(l, p)[0], atol=1e-4)


@pytest.mark.parametrize("grid", [(2, 4, 4), (1, 3, 3), (4, 5, 5), (4, 8, 8)])
def test_fused_path_equals_explicit_reference(grid):
    torch.manual_seed(0)
    enc = create_encoder("lookupvit_nano", branch_init="trunc_normal").eval()  # every branch non-zero
    x = torch.randn(2, 3, 8, 64, 64)
    with torch.no_grad():
        fused = enc(x, grid=grid)
        set_fused_attn(False)
        try:
            ref = enc(x, grid=grid)
        finally:
            set_fused_attn(True)
    torch.testing.assert_close(fused.tokens, ref.tokens, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fused.compressed, ref.compressed, atol=1e-5, rtol=1e-5)


def test_fused_backward_equals_explicit_backward():
    torch.manual_seed(0)
    enc = create_encoder("lookupvit_nano", depth=2, branch_init="trunc_normal")
    x = torch.randn(1, 3, 8, 64, 64)
    grads = []
    for fused in (True, False):
        set_fused_attn(fused)
        try:
            enc.zero_grad()
            out = enc(x, grid=(2, 3, 3))
            (out.tokens.square().mean() + out.compressed.square().mean()).backward()
            grads.append({n: p.grad.clone() for n, p in enc.named_parameters()})
        finally:
            set_fused_attn(True)
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n], atol=1e-5, rtol=1e-4, msg=n)


def test_same_weights_run_at_many_grids():
    enc = create_encoder("lookupvit_nano", branch_init="trunc_normal").eval()
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        outs = {g: enc(x, grid=g) for g in [(1, 2, 2), (2, 4, 4), (4, 6, 6), (2, 3, 5), "4x8x8"]}
    for g, out in outs.items():
        t, h, w = (4, 8, 8) if g == "4x8x8" else g
        assert out.compressed.shape == (1, t * h * w, 128)
        assert out.tokens.shape == (1, 256, 128)
        assert out.info["grid"] == (t, h, w)
    # different grids give different (non-trivial) lookup features from the same weights
    assert not torch.allclose(outs[(1, 2, 2)].tokens, outs[(4, 6, 6)].tokens)


def test_bad_grid_is_a_clear_error():
    enc = create_encoder("lookupvit_nano")
    with pytest.raises(ValueError, match="compressed grid"):
        enc(torch.randn(1, 3, 8, 64, 64), grid=(2, 4))


@pytest.mark.parametrize("fused", [True, False])
def test_no_n_by_n_tensor_anywhere(fused):
    """Lookup grid 3x6x8 = 144 tokens (a size no other dimension has); compressed 2x3x3 = 18."""
    n, m = 144, 18
    enc = create_encoder("lookupvit_nano", num_frames=6, img_size=(48, 64), depth=2, branch_init="trunc_normal")
    x = torch.randn(2, 3, 6, 48, 64)
    set_fused_attn(fused)
    try:
        with ShapeProbe() as probe:
            out = enc(x, grid=(2, 3, 3))
            (out.tokens.sum() + out.compressed.sum()).backward()
    finally:
        set_fused_attn(True)
    assert any(n in s for _, s in probe.shapes), "the probe saw no lookup-sized tensor: it is not probing"
    offenders = [(f, s) for f, s in probe.shapes if list(s).count(n) >= 2]
    assert not offenders, offenders[:5]
    mn = [s for _, s in probe.shapes if m in s and n in s]
    assert bool(mn) == (not fused), "the explicit path holds M×N logits; the fused path must not"


@pytest.mark.parametrize("fused", [True, False])
def test_training_gradients_match_the_explicit_spec(fused):
    """With grad on, the block runs its memory-saving path (norms fused into the next linear / MLP); its outputs
    and every parameter's gradient equal the written-out spec's (autograd through plain modules)."""
    torch.manual_seed(0)
    blk = LookupBlock(64, 4).train()
    l, p = torch.randn(2, 48, 64), torch.randn(2, 6, 64)
    set_fused_attn(fused)
    try:
        out_l, out_p, _ = blk(l, p)
    finally:
        set_fused_attn(True)
    ref_l, ref_p = reference_block(blk, l, p, "logits")
    torch.testing.assert_close(out_l, ref_l, atol=1e-5, rtol=1e-5)
    g_l, g_p = torch.randn_like(ref_l), torch.randn_like(ref_p)
    params = list(blk.parameters())
    got = torch.autograd.grad([out_l, out_p], params, [g_l, g_p])
    want = torch.autograd.grad([ref_l, ref_p], params, [g_l, g_p])
    for (name, _), a, b in zip(blk.named_parameters(), got, want):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4, msg=name)


def test_new_branches_start_at_zero_and_learn():
    """Default init: gather, infuse and lookup-MLP output layers are zero, so the lookup stream starts as the
    embedding and the compressed stream as a plain ViT on the resized tokens; one AdamW step moves them."""
    torch.manual_seed(0)
    enc = create_encoder("lookupvit_nano", depth=2)
    x = torch.randn(2, 3, 8, 64, 64)
    new = [blk.proj_p.weight for blk in enc.blocks] + [blk.proj_l.weight for blk in enc.blocks] + [
        blk.mlp.fc2.weight for blk in enc.blocks]
    assert all((w == 0).all() for w in new)
    with torch.no_grad():
        out = enc(x, grid=(2, 2, 2))
        lookup0 = enc.patch_embed(x)[0] + enc.pos_embed(enc.lookup_grid)
    torch.testing.assert_close(out.tokens, enc.norm(lookup0))
    opt = torch.optim.AdamW(enc.parameters(), lr=1e-3)
    out = enc(x, grid=(2, 2, 2))
    (out.tokens.square().mean() + out.compressed.square().mean()).backward()
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in new)
    opt.step()
    assert all((w != 0).any() for w in new)
    with pytest.raises(ValueError, match="branch_init"):
        create_encoder("lookupvit_nano", branch_init="ones")


def test_synthetic_recipes_from_scratch_choices_and_clipping():
    """Issue 18's recipe defaults: LookupViT from scratch takes lucidrains' choices (stem LayerNorm, fixed sin-cos
    positions, lookup post-norm, PyTorch init, one shared head) and does not clip; the ViT recipe keeps timm's init
    (std 0.02, time at zero) and its CLS head; the distillation recipe keeps the paper's layout, so a ViT maps in."""
    from mmlookup.config import load_recipe
    from mmlookup.models import build_encoder, build_model

    look, vit = load_recipe("synthetic/lookupvit.py"), load_recipe("synthetic/vit.py")
    assert look.train.clip_grad == 0.0 and look.model.pool == "shared"
    enc = build_encoder(look)
    assert enc.patch_norm is not None and enc.pos_embed.kind == "sincos_3d"
    assert all(blk.norm_post is not None and (blk.proj_l.weight != 0).any() for blk in enc.blocks)
    assert type(build_model(look, 8).head).__name__ == "SharedLookupHead"
    assert vit.model.encoder_kwargs == {} and vit.model.pool == "auto"
    torch.manual_seed(0)
    pv = build_encoder(vit).pos_embed
    assert (pv.pos_t == 0).all() and float(pv.pos_hw.std()) < 0.03
    distill = load_recipe("synthetic/lookupvit_distill.py")
    assert distill.model.encoder_kwargs == {"pos_init_std": 0.2} and distill.model.pool == "auto"
    pe = build_encoder(distill).pos_embed
    assert 0.12 < float(pe.pos_t.detach().std()) < 0.25 and 0.12 < float(pe.pos_hw.detach().std()) < 0.25


def test_sincos_3d_table_encodes_each_axis():
    """Per-axis sin-cos table: time / height / width parts from the formula, fixed (no state-dict entry), and
    on an image grid the time part is the constant (sin 0, cos 0)."""
    from mmlookup.layers.pos_embed import PosEmbed3d, sincos_3d_table

    dim, grid = 24, (2, 3, 4)
    table = sincos_3d_table(grid, dim)[0].reshape(*grid, dim)
    d_t, d_hw = 8, 8
    for axis, (lo, d) in enumerate(((0, d_t), (d_t, d_hw), (d_t + d_hw, d_hw))):
        k = d // 2
        omega = torch.tensor([10000.0 ** -(j / (k - 1)) for j in range(k)], dtype=torch.float64)
        for idx in ((1, 2, 3), (0, 1, 2), (1, 0, 0)):
            angle = idx[axis] * omega
            want = torch.cat((angle.sin(), angle.cos())).float()
            torch.testing.assert_close(table[idx][lo:lo + d], want)
    image = sincos_3d_table((1, 3, 4), dim)[0]
    assert (image[:, :d_t] == image[:1, :d_t]).all()
    pe = PosEmbed3d((2, 3, 4), dim, kind="sincos_3d")
    assert not list(pe.parameters()) and "table" not in pe.state_dict()
    torch.testing.assert_close(pe((2, 3, 4)), sincos_3d_table(grid, dim))


def test_peer_switches_stem_norm_post_norm_and_torch_init():
    """issue 18's lucidrains switches: with zero-initialised branches every block is the identity on the lookup
    stream except the post-norm, so the output is the stem (normalised, plus sin-cos positions) through
    ``depth`` LayerNorms; ``weight_init="torch"`` keeps PyTorch's layer init; unknown values name the valid ones."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 32, 32)
    kw = dict(num_frames=4, img_size=32, patch_size=8, depth=2)
    enc = create_encoder("lookupvit_nano", stem_norm=True, lookup_post_norm=True, pos_embed="sincos_3d", **kw).eval()
    with torch.no_grad():
        for blk in enc.blocks:
            torch.nn.init.normal_(blk.norm_post.weight, 1.0, 0.3)
        out = enc(x, grid=(1, 2, 2))
        tokens, grid = enc.patch_embed(x)
        tokens = enc.patch_norm(tokens)
        assert tokens.mean(-1).abs().max() < 1e-4                        # normalised before the positions
        lookup = tokens + enc.pos_embed(grid)
        for blk in enc.blocks:
            lookup = blk.norm_post(lookup)
        torch.testing.assert_close(out.tokens, enc.norm(lookup))
    plain = create_encoder("lookupvit_nano", **kw)
    assert plain.patch_norm is None and all(blk.norm_post is None for blk in plain.blocks)
    timm = plain.blocks[0].q.weight
    torch_init = create_encoder("lookupvit_nano", weight_init="torch", branch_init="trunc_normal", **kw)
    w, fan_in = torch_init.blocks[0].q.weight, torch_init.blocks[0].q.weight.shape[1]
    assert float(timm.std()) < 0.025 and abs(float(w.std()) - (3 * fan_in) ** -0.5) < 0.005
    assert (torch_init.blocks[0].proj_l.weight != 0).any() and (torch_init.blocks[0].q.bias != 0).any()
    with pytest.raises(ValueError, match="weight_init.*timm, torch"):
        create_encoder("lookupvit_nano", weight_init="xavier")


def test_compressed_init_resize_pool_and_learned_queries():
    """issue 26's ablation: the paper's resize, a box average per compressed cell, or clip-independent queries."""
    torch.manual_seed(0)
    kw = dict(num_frames=4, img_size=32, patch_size=8, depth=1)
    x = torch.randn(2, 3, 4, 32, 32)
    pool = create_encoder("lookupvit_nano", compressed_init="pool", **kw)
    tokens, grid = pool.patch_embed(x)
    lookup = tokens + pool.pos_embed(grid)                                     # grid (2, 4, 4), time-major
    want = torch.stack([lookup.reshape(2, 2, 4, 4, -1)[:, ti, 2 * hi:2 * hi + 2, 2 * wi:2 * wi + 2].mean(dim=(1, 2))
                        for ti in range(2) for hi in range(2) for wi in range(2)], dim=1)
    torch.testing.assert_close(pool.initial_compressed(lookup, grid, (2, 2, 2)), want)
    resize = create_encoder("lookupvit_nano", **kw)
    torch.testing.assert_close(resize.initial_compressed(lookup, grid, (2, 2, 2)), resize_grid(lookup, grid, (2, 2, 2)))
    learned = create_encoder("lookupvit_nano", compressed_init="learned", grid=(2, 2, 2), **kw)
    assert learned.compressed_queries.shape == (1, 8, 128) and "compressed_queries" in learned.no_weight_decay()
    q = learned.initial_compressed(lookup, grid, (2, 2, 2))
    torch.testing.assert_close(q[0], learned.compressed_queries[0])
    torch.testing.assert_close(q[1], q[0])                                     # the same for every clip
    assert learned.initial_compressed(lookup, grid, (1, 2, 2)).shape == (2, 4, 128)  # other grids: resized table
    assert learned(x, grid=(1, 2, 2)).compressed.shape == (2, 4, 128)
    with pytest.raises(ValueError, match="compressed_init.*resize, pool, learned"):
        create_encoder("lookupvit_nano", compressed_init="queries")
