"""Deployment: every family exports to ONNX (dynamic batch axis) and runs in onnxruntime with the PyTorch logits
(≤ 1e-4) on real rendered clips; ``torch.export``'s ``.pt2`` likewise; ATS's fixed-size formulation equals its
ragged one. The run → ``mmlookup export --format onnx`` → ``predict --backend onnxruntime`` path is tested in
``test_predict.py`` (it reuses that file's trained runs)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import mmlookup
from mmlookup.data.render import draw_spec, render
from mmlookup.encoders.token_ops import fixed_token_shapes, unique_picks

GEOMETRY = dict(num_frames=4, img_size=32, patch_size=8, depth=2, verbose=False)
FAMILIES = {
    "vit": {},
    "lookupvit": dict(grid=(2, 2, 2)),
    "evit": dict(keep_rate=0.5, reduce_layers=(0,)),
    "tome": dict(r=3),
    "ats": dict(budget=24, sample_layers=(0, 1)),
}


def build(family: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = mmlookup.create_classifier(f"{family}_nano", 6, **GEOMETRY, **FAMILIES[family]).eval()
    if family == "ats":      # sharper attention, as trained models have: the clips then keep different token counts
        with torch.no_grad():
            for blk in model.encoder.blocks:
                blk.attn.qkv.weight.mul_(5.0)
    return model


def real_clips(n: int) -> torch.Tensor:
    """``n`` rendered synthetic clips (moving shapes on textured backgrounds) through the evaluation transform."""
    rng = np.random.default_rng(0)
    motions = ("left_to_right", "growing", "rotating_cw", "up", "shrinking")
    transform = mmlookup.create_transform({"num_frames": 4, "img_size": 32})
    clips = [transform(torch.from_numpy(render(draw_spec(rng, motions[i % len(motions)], "", frames=4, height=40,
                                                         width=48, fps=8))))[0] for i in range(n)]
    return torch.stack(clips)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_onnx_export_matches_pytorch_in_onnxruntime(family, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from mmlookup.engine.graph_export import export_onnx

    model = build(family)
    path = export_onnx(model, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    clips = real_clips(5)
    for batch in (clips[:1], clips):                                   # the batch axis is dynamic
        got = session.run(["logits"], {"video": batch.numpy()})[0]
        with torch.no_grad():
            ref = model(batch)                                          # eager after export (caches stay real)
        assert got.shape == tuple(ref.shape) == (len(batch), 6)
        assert np.abs(got - ref.numpy()).max() <= 1e-4, family
    if family == "ats":                                                # clips keep different numbers of tokens
        with torch.no_grad():
            counts = model.encoder(clips).info["tokens_per_sample"]
        assert len({tuple(c.tolist()) for c in counts}) > 1


def test_ats_fixed_token_shapes_give_the_ragged_results():
    model = build("ats")
    clips = real_clips(4)
    with torch.no_grad():
        ragged = model.encoder(clips)
        with fixed_token_shapes():
            fixed = model.encoder(clips)
            fixed_logits = model(clips)
        ragged_logits = model(clips)
    assert fixed.tokens.shape[1] == 1 + 24 and ragged.tokens.shape[1] < fixed.tokens.shape[1]   # CLS + min(K, N)
    assert torch.equal(fixed.info["tokens_per_sample"], ragged.info["tokens_per_sample"])
    torch.testing.assert_close(fixed_logits, ragged_logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(fixed.pooled(), ragged.pooled(), atol=1e-5, rtol=0)
    picks = torch.tensor([[3, 3, 1, 1], [0, 2, 3, 1]])
    idx, valid = unique_picks(picks, 5)
    assert idx.shape == (2, 4) and valid.sum(1).tolist() == [2, 4]
    with fixed_token_shapes():
        idx2, valid2 = unique_picks(picks[:1], 5)
    assert idx2.tolist() == [[1, 3, 0, 0]] and valid2.tolist() == [[True, True, False, False]]


def test_torch_export_pt2_runs_at_any_batch(tmp_path):
    from mmlookup.engine.graph_export import export_pt2

    model = build("lookupvit")
    path = export_pt2(model, tmp_path / "model.pt2")
    program = torch.export.load(str(path)).module()
    clips = real_clips(3)
    with torch.no_grad():
        torch.testing.assert_close(program(clips), model(clips), atol=1e-5, rtol=0)
        torch.testing.assert_close(program(clips[:1]), model(clips[:1]), atol=1e-5, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["lookupvit", "ats"])
def test_torch_compile_equals_eager(family):
    """``torch.compile`` (inductor, the default backend) gives the eager (B, K) logits; slow only for the compile
    time on a CPU (the ONNX and .pt2 tests above cover tracing the same models)."""
    model = build(family)
    compiled = torch.compile(model)
    clips = real_clips(3)
    with torch.no_grad():
        torch.testing.assert_close(compiled(clips), model(clips), atol=1e-4, rtol=1e-4)
