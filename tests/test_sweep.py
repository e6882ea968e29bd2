"""``mmlookup sweep``: one tiny trained checkpoint evaluated training-free at several rates / grids."""
from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import Dataset

from mmlookup.cli import main
from mmlookup.data import ClipSample
from mmlookup.engine.sweep import parse_rates, plan_variants, run_sweep
from mmlookup.viz.load import read_run_recipe


class Clips(Dataset):
    """Random ``(3, 4, 32, 32)`` clips, labels ``i % 3``."""

    def __init__(self, n: int) -> None:
        self.video = torch.randn(n, 3, 4, 32, 32, generator=torch.Generator().manual_seed(n))
        self.num_classes = 3

    def __len__(self) -> int:
        return len(self.video)

    def __getitem__(self, i: int) -> ClipSample:
        return ClipSample(video=self.video[i], label=i % 3, index=i, replaced=0)


@pytest.fixture(scope="module")
def runs(random_clip_runs):
    """One-step vit_nano and lookupvit_nano runs on random clips, shared with test_viz_cli (tests/conftest.py)."""
    return random_clip_runs


def test_sweep_of_a_vit_checkpoint_writes_table_json_and_plot(runs, tmp_path):
    recipe = read_run_recipe(runs["vit"] / "recipe.yaml")
    variants = plan_variants(recipe, ["evit", "ats", "tome"], parse_rates(["evit=1.0,0.5", "ats=0.5", "tome=0,4"]))
    assert [v.setting for v in variants] == ["-", "keep 1", "keep 0.5", "budget 0.5", "r 0", "r 4"]
    rows = run_sweep(recipe, str(runs["vit"]), variants, out=tmp_path, dataset=Clips(6), repeats=1, gmacs_clips=2)
    base, keep1, keep05, ats, r0, r4 = rows
    assert all(r.videos == 6 and r.clips_per_s and r.clips_per_s > 0 for r in rows)
    for same in (keep1, r0):                      # no reduction: the ViT's accuracy, cost and tokens
        assert (same.top1, same.top5) == (base.top1, base.top5) and same.gmacs == pytest.approx(base.gmacs)
        assert same.tokens_per_layer == base.tokens_per_layer == [33.0] * 4
    assert keep05.gmacs < base.gmacs and r4.gmacs < base.gmacs and ats.gmacs < base.gmacs
    assert r4.tokens_per_layer == [29.0, 25.0, 21.0, 17.0]
    table = (tmp_path / "sweep.md").read_text()
    assert table.count("\n| ") == len(rows) and "tokens per layer" in table and "29 25 21 17" in table
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert [r["setting"] for r in saved["rows"]] == [v.setting for v in variants]
    assert (tmp_path / "sweep.png").stat().st_size > 0


def test_sweep_of_a_lookupvit_checkpoint_covers_its_grids(runs, tmp_path):
    recipe = read_run_recipe(runs["lookupvit"] / "recipe.yaml")
    variants = plan_variants(recipe, None, {})
    assert [v.setting for v in variants] == ["grid 1x2x2", "grid 2x2x2"]
    rows = run_sweep(recipe, str(runs["lookupvit"]), variants, out=tmp_path, dataset=Clips(6), throughput=False,
                     gmacs_clips=1)
    assert rows[0].gmacs < rows[1].gmacs and rows[0].clips_per_s is None
    with pytest.raises(ValueError, match="compressed grids"):
        plan_variants(recipe, ["tome"], {})


def test_default_rates_and_bad_input(runs, capsys):
    recipe = read_run_recipe(runs["vit"] / "recipe.yaml")
    tome = [v for v in plan_variants(recipe, ["tome"], {}) if v.family == "tome"]
    rs = [v.kwargs["r"] for v in tome]
    assert rs == sorted(rs) and rs[0] > 0                      # GMACs matched to EViT at 0.9 ... 0.5
    for bad in (["fastvit=1"], ["tome=a"]):
        with pytest.raises(ValueError, match="rates"):
            parse_rates(bad)
    with pytest.raises(ValueError, match="valid"):
        plan_variants(recipe, ["lookupvit"], {})
    code = None
    try:
        main(["sweep", str(runs["vit"] / "recipe.yaml"), "--checkpoint", str(runs["vit"]), "--encoders", "nope"])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2 and "unknown reducer" in capsys.readouterr().err


def test_rates_for_families_not_swept_are_reported_and_sweeps_never_overwrite(runs, tmp_path):
    from mmlookup.engine.sweep import output_folder, unswept_rates

    rates = parse_rates(["tome=4", "evit=0.7", "ats=0.5"])
    assert unswept_rates(["tome"], rates) == ["evit", "ats"]       # the README's example would drop these
    assert unswept_rates(None, rates) == [] and unswept_rates(["evit", "ats", "tome"], rates) == []
    recipe = read_run_recipe(runs["vit"] / "recipe.yaml")
    tome = plan_variants(recipe, ["tome"], {"tome": [4]})
    first = output_folder(tmp_path, tome)
    assert first == tmp_path / "sweep_tome"
    first.mkdir()
    (first / "sweep.md").write_text("earlier")
    assert output_folder(tmp_path, tome) == tmp_path / "sweep_tome_2"
    assert output_folder(tmp_path, plan_variants(recipe, ["evit", "tome"], rates)) == tmp_path / "sweep_evit_tome"
    lvit = read_run_recipe(runs["lookupvit"] / "recipe.yaml")
    assert output_folder(tmp_path, plan_variants(lvit, None, {})) == tmp_path / "sweep_grids"


def test_latest_sweep_is_the_newest_sweep_folder_of_a_run(tmp_path):
    """predict and export read the sweep a run's `mmlookup sweep` wrote last (RUN/sweep_<reducers>[_N]/ or an
    older RUN/sweep/), not only RUN/sweep/ (the default folder is named by the reducers since issue 19)."""
    import os

    from mmlookup.engine.sweep import latest_sweep

    assert latest_sweep(tmp_path) is None
    for i, name in enumerate(("sweep", "sweep_evit_ats_tome", "sweep_tome")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "sweep.json").write_text("{}")
        os.utime(tmp_path / name / "sweep.json", ns=(10**18 + i, 10**18 + i))
    assert latest_sweep(tmp_path) == tmp_path / "sweep_tome" / "sweep.json"
    os.utime(tmp_path / "sweep_evit_ats_tome" / "sweep.json", ns=(2 * 10**18, 2 * 10**18))
    assert latest_sweep(tmp_path) == tmp_path / "sweep_evit_ats_tome" / "sweep.json"
