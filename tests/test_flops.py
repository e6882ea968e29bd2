"""Measured MACs (FlopCounterMode, with our CPU-SDPA formula) against the analytic per-block formulas (DESIGN §4)."""
import pytest
import torch

from mmlookup import create_encoder
from mmlookup.bench.flops import analytic_gmacs, count_macs, encoder_gmacs, lookup_block_macs, vit_block_macs
from mmlookup.encoders.lookupvit import LookupBlock
from mmlookup.layers.attention import set_fused_attn
from mmlookup.layers.block import Block


@pytest.mark.parametrize("n,m,d", [(196, 25, 64), (392, 49, 96), (1568, 100, 128), (100, 100, 32)])
def test_lookup_block_macs_match_formula(n, m, d):
    blk = LookupBlock(d, 4).eval()
    l, p = torch.randn(1, n, d), torch.randn(1, m, d)
    set_fused_attn(False)
    try:
        explicit = count_macs(blk, l, p)
    finally:
        set_fused_attn(True)
    fused = count_macs(blk, l, p)
    assert explicit == pytest.approx(lookup_block_macs(n, m, d), rel=0.02)
    assert fused == pytest.approx(lookup_block_macs(n, m, d, fused=True), rel=0.02)


@pytest.mark.parametrize("n,d", [(197, 64), (785, 96), (50, 128)])
@pytest.mark.parametrize("fused", [True, False])
def test_vit_block_macs_match_formula(n, d, fused):
    """The fused count needs our formula for CPU SDPA: without it attention would count zero."""
    blk = Block(d, 4).eval()
    set_fused_attn(fused)
    try:
        macs = count_macs(blk, torch.randn(1, n, d))
    finally:
        set_fused_attn(True)
    assert macs == pytest.approx(vit_block_macs(n, d), rel=0.02)


def test_plain_flop_counter_misses_cpu_fused_attention():
    """Documents why SDPA_CPU_FORMULAS exists (if torch learns the op, this tells us to drop ours)."""
    from torch.utils.flop_counter import FlopCounterMode

    blk = Block(64, 4).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as plain:
        blk(torch.randn(1, 197, 64))
    assert plain.get_total_flops() // 2 < vit_block_macs(197, 64) * 0.95


def test_whole_encoders_match_analytic_totals():
    vit = create_encoder("vit_nano")
    assert encoder_gmacs(vit, (3, 8, 64, 64)) == pytest.approx(analytic_gmacs(vit, (3, 8, 64, 64)), rel=0.01)
    lk = create_encoder("lookupvit_nano")
    for grid in [(2, 4, 4), (4, 4, 4)]:
        assert encoder_gmacs(lk, (3, 8, 64, 64), grid) == pytest.approx(
            analytic_gmacs(lk, (3, 8, 64, 64), grid), rel=0.01
        )


@pytest.mark.parametrize("keep_rate", [1.0, 0.7, 0.5])
def test_evit_measured_macs_match_its_token_schedule(keep_rate):
    enc = create_encoder("evit_nano", keep_rate=keep_rate, depth=8)
    shape = (3, 8, 64, 64)
    assert encoder_gmacs(enc, shape) == pytest.approx(analytic_gmacs(enc, shape), rel=0.02)


def test_base_model_gflops_and_design_targets():
    """ViT-B vs LookupViT-B at 16x224², tubelet 2x16x16 (paper convention: logits counted once)."""
    vit = create_encoder("vit_base")
    lk = create_encoder("lookupvit_base")
    shape = (3, 16, 224, 224)
    vit_g = analytic_gmacs(vit, shape)
    assert vit_g == pytest.approx(180.5, abs=0.1)
    set_fused_attn(False)
    try:
        g455 = analytic_gmacs(lk, shape, (4, 5, 5))
        g477 = analytic_gmacs(lk, shape, (4, 7, 7))
    finally:
        set_fused_attn(True)
    assert vit_g / g455 >= 2.9
    assert vit_g / g477 >= 2.3


def test_lookupvit_formula_counts_the_resize_so_it_equals_the_counter_exactly():
    lk = create_encoder("lookupvit_nano", num_frames=8, img_size=32).eval()
    for grid in [(2, 2, 2), (1, 2, 2), (2, 4, 4), (4, 3, 3), (4, 4, 4)]:
        assert analytic_gmacs(lk, (3, 8, 32, 32), grid) == encoder_gmacs(lk, (3, 8, 32, 32), grid), grid


def test_predict_demo_and_plot_report_one_gmacs_for_the_same_model_and_grid(tmp_path):
    from mmlookup import Predictor
    from mmlookup.config import load_recipe
    from mmlookup.engine.demo import _gmacs
    from mmlookup.models import build_model
    from mmlookup.viz.runs import count_encoder_gmacs

    recipe = load_recipe("synthetic/lookupvit")  # the demo's LookupViT: predict said 0.028901376, demo 0.028930048
    model = build_model(recipe, num_classes=3)
    model.class_names = ["a", "b", "c"]
    model.save_pretrained(tmp_path / "model")
    for grid in recipe.model.grids:
        shown = Predictor.from_pretrained(tmp_path / "model", grid=grid, verbose=False).setting.gmacs
        assert shown == _gmacs(recipe, grid) == count_encoder_gmacs(recipe, grid), grid
