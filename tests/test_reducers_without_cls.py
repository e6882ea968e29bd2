"""EViT / ATS on CLS-less encoders (VideoMAE-style): tokens ranked by the mean query's attention (our extension)."""
from __future__ import annotations

import logging
import math

import pytest
import torch

from mmlookup.encoders import token_ops as T
from mmlookup.encoders.ats import ATS
from mmlookup.encoders.evit import EViT
from mmlookup.registry import create_encoder

SMALL = dict(num_frames=4, img_size=32, patch_size=8, tubelet_size=2, embed_dim=32, depth=4, num_heads=4,
             class_token=False)


def _video(b: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, 3, 4, 32, 32, generator=torch.Generator().manual_seed(seed))


def _vit(sharpen: float = 1.0):
    torch.manual_seed(0)
    vit = create_encoder("vit_nano", **SMALL).eval()
    with torch.no_grad():
        for blk in vit.blocks:
            blk.attn.qkv.weight.mul_(sharpen)
    return vit


def test_mean_query_attention_matches_its_definition():
    q, k = torch.randn(2, 3, 7, 5), torch.randn(2, 3, 7, 5)
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    got = T.query_attention(q, k, mask, 0)
    for b in range(2):
        n = int(mask[b].sum())
        for h in range(3):
            q_mean = q[b, h, :n].mean(0)
            expected = torch.softmax(k[b, h, :n] @ q_mean / math.sqrt(5), dim=0)
            torch.testing.assert_close(got[b, h, :n], expected)
            assert (got[b, h, n:] == 0).all()
    torch.testing.assert_close(T.query_attention(q, k, None, 1), T.cls_attention(q, k))


def test_building_one_logs_the_extension(caplog):
    with caplog.at_level(logging.WARNING, logger="mmlookup.encoders.reducing"):
        create_encoder("evit_nano", **SMALL)
    assert "mean query" in caplog.text and "EViT" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mmlookup.encoders.reducing"):
        create_encoder("evit_nano", **{**SMALL, "class_token": True})
        create_encoder("tome_nano", **SMALL)
    assert caplog.text == ""


@pytest.mark.parametrize("family", ["evit", "ats"])
def test_no_reduction_equals_the_cls_less_vit(family):
    vit, x = _vit(), _video()
    model = EViT.from_vit(vit, keep_rate=1.0) if family == "evit" else ATS.from_vit(vit, budget=10**6)
    torch.testing.assert_close(model(x).tokens, vit(x).tokens, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model(x).pooled(), vit(x).pooled(), atol=1e-5, rtol=1e-5)


@torch.no_grad()
def _evit_reference(vit, video: torch.Tensor, layer: int, keep: int) -> torch.Tensor:
    """One clip through the ViT's blocks, written out, reducing once at ``layer`` by the mean query's attention."""
    x = vit.embed(video)[0][0]
    for i, blk in enumerate(vit.blocks):
        h, d = blk.attn.num_heads, blk.attn.head_dim
        q, k, v = blk.attn.qkv(blk.norm1(x)).view(-1, 3, h, d).unbind(1)             # (N, h, d) each
        heads = [torch.softmax(q[:, j] @ k[:, j].T / math.sqrt(d), -1) @ v[:, j] for j in range(h)]
        x = x + blk.attn.proj(torch.cat(heads, dim=-1))
        if i == layer:
            score = torch.stack([torch.softmax(k[:, j] @ q[:, j].mean(0) / math.sqrt(d), 0) for j in range(h)]).mean(0)
            order = sorted(range(len(score)), key=lambda t: -float(score[t]))
            kept, dropped = order[:keep], order[keep:]
            fused = sum(score[t] * x[t] for t in dropped)
            x = torch.cat([x[kept], fused[None]])
        x = x + blk.mlp(blk.norm2(x))
    return vit.norm(x)


def test_evit_matches_the_explicit_mean_query_computation():
    vit, x = _vit(sharpen=4.0), _video()
    model = EViT.from_vit(vit, keep_rate=0.5, reduce_layers=(1,))
    out = model(x)
    assert out.tokens.shape[1] == 16 + 1 and model.token_schedule(32) == [32, 17, 17, 17]
    for b in range(2):
        torch.testing.assert_close(out.tokens[b], _evit_reference(vit, x[b : b + 1], 1, 16), atol=1e-5, rtol=1e-5)
    kept = out.info["kept_indices"]
    assert ((kept[:, :-1] >= 0) & (kept[:, :-1] < 32)).all() and (kept[:, -1] == -1).all()
    explicit = model(x, return_attn=True)                                   # the explicit attention path agrees
    torch.testing.assert_close(explicit.tokens, out.tokens, atol=1e-5, rtol=1e-5)


def test_ats_scores_use_the_mean_query_and_ragged_batches_stay_exact():
    q, k, v = torch.randn(2, 4, 9, 8), torch.randn(2, 4, 9, 8), torch.randn(2, 4, 9, 8)
    row = T.query_attention(q, k, None, 0)
    scores = T.ats_scores(row, v, None, prefix=0)
    raw = row.sum(1) * v.transpose(1, 2).flatten(2).norm(dim=-1)
    torch.testing.assert_close(scores, raw / raw.sum(1, keepdim=True))

    model = ATS.from_vit(_vit(sharpen=6.0), budget=12)
    x = _video(3, seed=2)
    x[1] *= 3
    out = model(x)
    assert out.info["num_prefix_tokens"] == 0
    counts = out.info["tokens_per_sample"]
    assert (counts[:, 1:] <= 12).all() and (counts[:, 0] == 32).all()
    explicit = model(x, return_attn=True)
    assert torch.equal(explicit.info["kept_indices"], out.info["kept_indices"])
    for i in range(3):
        alone = model(x[i : i + 1])
        n = alone.tokens.shape[1]
        torch.testing.assert_close(out.tokens[i, :n], alone.tokens[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.pooled()[i], alone.pooled()[0], atol=1e-5, rtol=1e-5)
