"""ToMe: equal to the ViT at r = 0, the official matching transcribed token by token (on our ViT and on timm's),
purity (batch order / alone vs batched), GMACs."""
from __future__ import annotations

import math

import pytest
import torch

from mmlookup.bench.flops import analytic_gmacs, encoder_gmacs
from mmlookup.encoders import merge as M
from mmlookup.encoders.tome import ToMe, r_for_gmacs
from mmlookup.layers.attention import set_fused_attn, use_fused_attn
from mmlookup.registry import create_encoder

SMALL = dict(num_frames=4, img_size=32, patch_size=8, tubelet_size=2, embed_dim=32, depth=4, num_heads=4)
SHAPE = (3, 4, 32, 32)                                   # 2x4x4 = 32 patch tokens


def _video(b: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, 3, 4, 32, 32, generator=torch.Generator().manual_seed(seed))


def _vit(class_token: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    return create_encoder("vit_nano", **SMALL, class_token=class_token).eval()


def _tome(vit, **kwargs) -> ToMe:
    return ToMe.from_vit(vit, **kwargs).eval()


# ---- the explicit reference: per clip, python loops over tokens ---------------------------------------------------

def _official_step(key: torch.Tensor, r: int, protect_first: bool, sort_kept: bool) -> tuple[list[int], dict]:
    """One bipartite matching as the official ToMe describes it, token by token, on ``key (N, C)``.

    Set A = positions 0, 2, 4, …, set B = 1, 3, 5, …; each A token's edge goes to its most similar B token (cosine
    of the head-mean keys, first best on ties); a protected first token (CLS) scores −∞; the r best edges merge
    their A token into its B token; r ≤ ⌊(N − protected)/2⌋. Returns the unmerged A positions in output order
    (input order when ``sort_kept``, else by descending best similarity) and, per B position, the positions it holds.
    """
    n = key.shape[0]
    r = min(r, (n - int(protect_first)) // 2)
    key = key / key.norm(dim=-1, keepdim=True)
    a_set, b_set = list(range(0, n, 2)), list(range(1, n, 2))
    edges = []
    for a in a_set:
        sims = [float(key[a] @ key[b]) for b in b_set]
        best = max(range(len(b_set)), key=lambda j: (sims[j], -j))
        score = -math.inf if (protect_first and a == 0) else sims[best]
        edges.append((score, a, b_set[best]))
    order = sorted(edges, key=lambda e: -e[0])                               # stable: ties by A position
    merged, kept = order[:r], [a for _, a, _ in order[r:]]
    groups = {b: [b] for b in b_set}
    for _, a, b in merged:
        groups[b].append(a)
    return (sorted(kept) if sort_kept else kept), groups


@torch.no_grad()
def _reference(vit, video: torch.Tensor, r: list[int], prop_attn: bool = True, partition: str = "sequence"):
    """ToMe written out token by token for one clip ``(1, C, T, H, W)``: tokens, sizes, input positions.

    ``partition="sequence"`` is the official configuration: the matching runs over the whole sequence, the CLS token
    (index 0) protected, unmerged A tokens re-sorted only when there is a CLS token. ``"patches"``: the matching
    runs over the patch tokens only (CLS set aside), unmerged A tokens in input order.
    """
    x, _ = vit.embed(video)
    x = x[0].double()
    n0 = x.shape[0]
    prefix = vit.num_prefix_tokens
    size = [1.0] * n0
    pos = list(range(n0))
    for blk, r_l in zip(vit.blocks, r):
        blk = blk.double()
        h, d = blk.attn.num_heads, blk.attn.head_dim
        qkv = blk.attn.qkv(blk.norm1(x)).view(-1, 3, h, d)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]                         # (N, h, d)
        heads = []
        for i in range(h):
            logits = (q[:, i] @ k[:, i].T) / math.sqrt(d)
            if prop_attn:
                logits = logits + torch.tensor([math.log(s) for s in size], dtype=torch.float64)
            heads.append(logits.softmax(-1) @ v[:, i])
        x = x + blk.attn.proj(torch.cat(heads, dim=-1))
        key = k.mean(dim=1)
        if partition == "sequence":
            fixed, (kept, groups) = [], _official_step(key, r_l, bool(prefix), bool(prefix))
        else:
            fixed = list(range(prefix))
            kept, groups = _official_step(key[prefix:], r_l, False, True)
            kept = [prefix + a for a in kept]
            groups = {prefix + b: [prefix + t for t in ts] for b, ts in groups.items()}
        if any(len(ts) > 1 for ts in groups.values()):
            rows, sizes, new_pos = [], [], []
            for t in fixed + kept:
                rows.append(x[t]), sizes.append(size[t]), new_pos.append(pos[t])
            for b in sorted(groups):
                total = sum(size[t] for t in groups[b])
                rows.append(sum(x[t] * size[t] for t in groups[b]) / total)
                sizes.append(total), new_pos.append(pos[b])
            x, size, pos = torch.stack(rows), sizes, new_pos
        x = x + blk.mlp(blk.norm2(x))
        blk.float()
    return vit.norm.double()(x).float(), torch.tensor(size), torch.tensor(pos)


@pytest.mark.parametrize("partition", ["sequence", "patches"])
@pytest.mark.parametrize("class_token", [True, False])
@pytest.mark.parametrize("prop_attn", [True, False])
def test_matches_the_explicit_loop_reference(class_token, prop_attn, partition):
    vit = _vit(class_token)
    r = [6, 0, 9, 20]                                                        # 20 hits the half-the-tokens cap
    model = _tome(vit, r=r, prop_attn=prop_attn, partition=partition)
    x = _video(2)
    out = model(x)
    for i in range(2):
        tokens, sizes, pos = _reference(vit, x[i : i + 1], r, prop_attn, partition)
        vit.float()
        torch.testing.assert_close(out.tokens[i], tokens, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(out.info["token_sizes"][i].float(), sizes.float())
        assert torch.equal(out.info["kept_indices"][i], pos)


def test_the_two_partitions_differ_and_sequence_is_the_default():
    """The switch is real: on the same weights the official sets and the patch-only sets merge other tokens."""
    vit, x = _vit(), _video(2)
    assert ToMe(**SMALL).blocks[0].partition == "sequence"
    seq, patches = _tome(vit, r=5)(x), _tome(vit, r=5, partition="patches")(x)
    assert not torch.equal(seq.info["source"], patches.info["source"])
    with pytest.raises(ValueError, match="ToMe partition"):
        ToMe(**SMALL, partition="time")


def _timm_vit(class_token: bool, seed: int = 0):
    """A small timm ViT (16 patches) with every parameter perturbed, so each mapping matters."""
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(seed)
    src = VisionTransformer(img_size=32, patch_size=8, embed_dim=48, depth=4, num_heads=3, num_classes=0,
                            class_token=class_token, global_pool="token" if class_token else "avg", fc_norm=False)
    with torch.no_grad():
        for p in src.parameters():
            p.add_(0.05 * torch.randn(p.shape))
    return src.eval()


@torch.no_grad()
def _official_on_timm(src, img: torch.Tensor, r: list[int], prop_attn: bool) -> torch.Tensor:
    """The official ToMe forward on timm's own modules (one image), with the transcribed matching: final tokens."""
    x = src._pos_embed(src.patch_embed(img))[0].double()
    class_token = src.cls_token is not None
    size = torch.ones(x.shape[0], dtype=torch.float64)
    for blk, r_l in zip(src.blocks, r):
        blk = blk.double()
        h = blk.attn.num_heads
        q, k, v = blk.attn.qkv(blk.norm1(x)).view(x.shape[0], 3, h, -1).permute(1, 2, 0, 3)   # (h, N, d) each
        logits = q @ k.transpose(1, 2) * blk.attn.scale
        if prop_attn:
            logits = logits + size.log()
        x = x + blk.attn.proj((logits.softmax(-1) @ v).transpose(0, 1).reshape(x.shape[0], -1))
        kept, groups = _official_step(k.mean(0), r_l, class_token, class_token)
        if any(len(ts) > 1 for ts in groups.values()):
            merged = [(x[t] * size[t], size[t]) for t in kept]
            for b in sorted(groups):
                merged.append((sum(x[t] * size[t] for t in groups[b]), sum(size[t] for t in groups[b])))
            x = torch.stack([m / s for m, s in merged])
            size = torch.stack([s for _, s in merged])
        x = x + blk.mlp(blk.norm2(x))
        blk.float()
    return src.norm.double()(x).float()


@pytest.mark.parametrize("class_token", [True, False])
@pytest.mark.parametrize("prop_attn", [True, False])
@pytest.mark.parametrize("r", [2, 5, [8, 3, 0, 6]])
def test_equals_official_tome_on_the_same_timm_weights(class_token, prop_attn, r):
    """Image mode on a timm ViT's weights: our default equals the official matching (transcribed) on timm's modules."""
    src = _timm_vit(class_token)
    model = create_encoder("tome_nano", num_frames=1, img_size=32, patch_size=8, tubelet_size=1, embed_dim=48,
                           depth=4, num_heads=3, class_token=class_token, r=r, prop_attn=prop_attn,
                           checkpoint=src.state_dict()).eval()
    img = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    out = model(img[:, :, None]).tokens
    schedule = [r] * 4 if isinstance(r, int) else r
    for i in range(2):
        torch.testing.assert_close(out[i], _official_on_timm(src, img[i : i + 1], schedule, prop_attn),
                                   atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("class_token", [True, False])
def test_r_zero_is_the_vit_with_the_same_state_dict(class_token):
    vit, x = _vit(class_token), _video()
    model = create_encoder("tome_nano", **SMALL, class_token=class_token, r=0).eval()
    model.load_state_dict(vit.state_dict(), strict=True)
    ref, out = vit(x), model(x)
    torch.testing.assert_close(out.tokens, ref.tokens, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out.pooled(), ref.pooled(), atol=1e-6, rtol=1e-6)
    n = ref.tokens.shape[1]
    assert out.info["tokens_per_layer"] == [float(n)] * 4 and (out.info["token_sizes"] == 1).all()


@pytest.mark.parametrize("class_token", [True, False])
def test_pure_function_of_each_clip(class_token):
    """Batch order and batch company change nothing: r is fixed per layer, so no padding and no mask."""
    model = _tome(_vit(class_token), r=5)
    x = _video(4, seed=1)
    out = model(x)
    assert out.mask is None and out.tokens.shape[1] == 32 + int(class_token) - 4 * 5
    perm = torch.tensor([2, 0, 3, 1])
    shuffled = model(x[perm])
    torch.testing.assert_close(shuffled.tokens, out.tokens[perm], atol=1e-5, rtol=1e-5)
    for i in range(4):
        alone = model(x[i : i + 1])
        torch.testing.assert_close(alone.tokens[0], out.tokens[i], atol=1e-5, rtol=1e-5)
        assert torch.equal(alone.info["source"][0], out.info["source"][i])


def test_info_sizes_sources_and_positions_agree():
    model = _tome(_vit(), r=[5, 5, 5, 5])
    out = model(_video(2))
    sizes, source, pos = out.info["token_sizes"], out.info["source"], out.info["kept_indices"]
    n_final = out.tokens.shape[1]
    assert out.info["tokens_per_layer"] == [28.0, 23.0, 18.0, 13.0] == [float(v) for v in model.token_schedule(33)]
    assert (source[:, 0] == 0).all() and (pos[:, 0] == 0).all() and sizes[:, 0].eq(1).all()    # CLS untouched
    for b in range(2):
        counts = torch.bincount(source[b], minlength=n_final).float()
        torch.testing.assert_close(counts, sizes[b])                       # a token's size = the inputs it holds
        assert (source[b][pos[b]] == torch.arange(n_final)).all()          # its representative is one of them
    torch.testing.assert_close(out.pooled(), _weighted_mean(out.tokens[:, 1:], sizes[:, 1:]))


def _weighted_mean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (x * w[..., None]).sum(1) / w.sum(1, keepdim=True)


def test_fused_equals_explicit_attention():
    model = _tome(_vit(), r=6)
    x = _video(2)
    prev = use_fused_attn()
    set_fused_attn(False)
    try:
        explicit = model(x, return_attn=True)
    finally:
        set_fused_attn(prev)
    fused = model(x)
    torch.testing.assert_close(fused.tokens, explicit.tokens, atol=1e-5, rtol=1e-5)
    assert len(explicit.info["attn"]) == 4 and explicit.info["attn"][3].shape[-1] == 33 - 18


@pytest.mark.parametrize("partition", ["sequence", "patches"])
@pytest.mark.parametrize("r", [0, 3, [8, 4, 2, 0], 16])
def test_gmacs_counted_equal_analytic_and_savings(r, partition):
    vit = _vit()
    model = _tome(vit, r=r, partition=partition)
    counted, formula = encoder_gmacs(model, SHAPE), analytic_gmacs(model, SHAPE)
    assert counted == pytest.approx(formula, rel=1e-9)
    saved = encoder_gmacs(vit, SHAPE) - counted
    d, n = 32, 33
    expected = 4 * (2 * n * n * d + 12 * n * d * d)                        # the ViT's blocks, minus ToMe's:
    for n_out in model.token_schedule(n):                                   # attention on n, MLP on n_out
        expected -= 2 * n * n * d + 4 * n * d * d + 8 * n_out * d * d
        if n_out < n:
            m = n if partition == "sequence" else n - 1                     # and the matching's similarities
            expected -= math.ceil(m / 2) * (m // 2) * (d // 4)
        n = n_out
    assert saved * 1e9 == pytest.approx(expected, abs=1)
    assert (saved > 0) == (r != 0)


def test_schedule_validation_cap_and_r_for_gmacs():
    model = _tome(_vit(), r=2)
    assert model.r == [2] * 4
    model.set_r(100)                                                        # capped at half the patch tokens
    assert model.token_schedule(33) == [17, 9, 5, 3]
    for bad in (-1, [1, 2], 1.5, [1, 2, 3, -4]):
        with pytest.raises(ValueError, match="ToMe r"):
            model.set_r(bad)
    base = analytic_gmacs(_vit(), SHAPE)
    r = r_for_gmacs(model, 0.75 * base, SHAPE)
    assert model.r == [100] * 4                                             # the helper restores r
    model.set_r(r)
    assert analytic_gmacs(model, SHAPE) <= 0.75 * base
    model.set_r(r - 1)
    assert analytic_gmacs(model, SHAPE) > 0.75 * base


def test_merge_functions_on_a_hand_example():
    # 5 patch tokens: A = {0, 2, 4}, B = {1, 3}; token 2 equals token 1 in direction, token 4 is close to 3
    metric = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 2.0], [1.0, 1.0], [1.0, 0.9]]])
    plan = M.bipartite_soft_matching(metric, 2)
    assert plan.src.tolist() == [[1, 2]] and plan.dst.tolist() == [[0, 1]] and plan.keep.tolist() == [[0]]
    x = torch.arange(5.0).view(1, 5, 1)
    size = torch.tensor([[1.0, 2.0, 1.0, 1.0, 3.0]])
    merged, new_size = M.merge_weighted(x, size, plan)
    # kept A token 0; B token 1 (size 2) + A token 2 (size 1); B token 3 (size 1) + A token 4 (size 3)
    assert merged.flatten().tolist() == pytest.approx([0.0, (2 * 1 + 2) / 3, (3 + 3 * 4) / 4])
    assert new_size.tolist() == [[1.0, 3.0, 4.0]]
    assert M.new_index(plan, 5).tolist() == [[0, 1, 1, 2, 2]]
    assert M.merge_plain(torch.arange(5).view(1, 5), plan).tolist() == [[0, 1, 3]]
    assert M.merge_count(5, 9) == 2 and M.matching_macs(5, 4) == 3 * 2 * 4


def test_no_n_by_n_tensor_and_backward_with_checkpointing():
    from probes import ShapeProbe

    counts = {33, 29, 25, 21, 17}                                           # tokens at some layer (r = 4)
    probe = ShapeProbe()
    model = create_encoder("tome_nano", **SMALL, r=4).eval()
    with torch.no_grad(), probe:
        model(_video(1))
    shapes = probe.sizes
    square = {s for s in shapes if len(s) >= 2 and s[-1] in counts and s[-2] in counts}
    assert shapes and not square, square                     # (the matching's similarities are at most 16 x 16)
    model = create_encoder("tome_nano", **SMALL, r=4, drop_path_rate=0.1).train()
    model.set_grad_checkpointing()
    model(_video(2)).pooled().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
