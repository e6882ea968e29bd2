"""`mmlookup bench --accuracy`: row parsing, the shared schedule, aggregation over seeds, the plot's error bars, and
the quick variant end to end (train, write the table / JSON / plot, skip finished runs when run again)."""
import json
import shutil
from pathlib import Path

import pytest

from mmlookup.bench.accuracy import (
    FAMILIES,
    SCHEDULES,
    RowSpec,
    aggregate,
    bench_recipe,
    markdown,
    parse_row,
    plot,
    run_key,
)
from mmlookup.cli import main as cli_main


def test_parse_row_label_family_and_overrides_with_commas_inside_values():
    assert parse_row("lookupvit") == RowSpec("lookupvit", "lookupvit", ())
    row = parse_row("noclip=lookupvit:train.clip_grad=0,model.grids=((2,2,2),(1,2,2)),optim.lr=3e-4")
    assert row == RowSpec("noclip", "lookupvit", ("train.clip_grad=0", "model.grids=((2,2,2),(1,2,2))",
                                                  "optim.lr=3e-4"))
    assert parse_row("vit:optim.lr=1e-3").label == "vit:optim.lr=1e-3"  # unnamed: the text is the label
    with pytest.raises(ValueError, match="unknown family 'deit'"):
        parse_row("deit:optim.lr=1e-3")
    with pytest.raises(ValueError, match="is not KEY=VALUE"):
        parse_row("vit:clip_grad")


def _recipe(row, seed=0, sets=(), task="video", tuned=True):
    return bench_recipe(row, seed, task=task, data=Path("/d"), run_dir=Path("/r"), schedule=SCHEDULES[task],
                        sets=sets, tuned=tuned)


def test_every_family_gets_the_same_data_clip_and_schedule_and_keeps_its_own_settings():
    recipes = {f: _recipe(RowSpec(f, f)) for f in FAMILIES}
    for r in recipes.values():
        assert (r.model.num_frames, r.model.img_size, r.model.tubelet_size, r.model.patch_size) == (8, 32, 2, 8)
        assert r.data.short_side == 32  # the 64x64 clips are decoded at the model's input size
        assert (r.train.epochs, r.train.batch_size) == (SCHEDULES["video"].epochs, SCHEDULES["video"].batch_size)
        assert (r.data.root, r.data.frame_interval, r.data.flip) == ("/d/k400", 1, False)
        assert r.train.output_dir == "/r"
    assert recipes["evit"].model.keep_rate == 0.7 and recipes["evit"].train.keep_rate_ramp_epochs > 0
    # the tuning protocol's choice (issue 26), the same for every family; its own parts stay the recipe's
    for f, r in recipes.items():
        kw = r.model.encoder_kwargs
        assert (kw["pos_embed"], kw["weight_init"], kw["stem_norm"]) == ("sincos_3d", "torch", False)
        assert (r.optim.lr, r.train.clip_grad) == (3e-4, 1.0)
        assert r.optim.warmup_epochs == pytest.approx(0.2 * SCHEDULES["video"].epochs)
        assert r.model.pool == ("auto" if f == "lookupvit" else "cls")
    assert recipes["lookupvit"].model.encoder_kwargs["lookup_post_norm"]
    assert recipes["ats"].model.encoder_kwargs["budget"] == 0.5 and recipes["tome"].model.encoder_kwargs["r"] == 8
    untuned = _recipe(RowSpec("lookupvit", "lookupvit"), tuned=False).model  # --untuned: the demo recipe as it is
    assert untuned.pool == "shared" and untuned.encoder_kwargs["stem_norm"]
    assert _recipe(RowSpec("vit", "vit"), tuned=False).train.clip_grad == 0.0
    assert len(recipes["lookupvit"].model.grids) >= 3 and recipes["vit"].model.grids == ()
    assert _recipe(RowSpec("lookupvit", "lookupvit"), task="image").model.grids == ((1, 2, 2), (1, 3, 3), (1, 4, 4))
    # --set first, then the row's own overrides
    both = _recipe(RowSpec("x", "lookupvit", ("optim.lr=2e-4",)), sets=("optim.lr=1e-4", "train.clip_grad=0"))
    assert (both.optim.lr, both.train.clip_grad) == (2e-4, 0.0)
    with pytest.raises(ValueError, match="nosuch"):
        _recipe(RowSpec("x", "vit", ("train.nosuch=1",)))


def test_run_folder_changes_with_the_configuration_not_with_the_seed():
    row = RowSpec("lookupvit", "lookupvit")
    assert run_key(row, _recipe(row, 0)) == run_key(row, _recipe(row, 1))
    assert run_key(row, _recipe(row, 0)) != run_key(row, _recipe(row, 0, sets=("train.clip_grad=0.5",)))


def _result(row, seed, top1s, grids=(None,)):
    return {"row": row, "family": row, "encoder": f"{row}_nano", "seed": seed, "train_eval_s": 10.0, "cpu_s": 8.0,
            "num_val": 1024, "num_classes": 16,
            "grids": [{"grid": g, "top1": t, "top5": 90.0, "heads": {}, "gmacs": 0.05,
                       "groups": {"appearance": t + 10, "temporal": t - 6}} for g, t in zip(grids, top1s)]}


def test_aggregate_mean_and_sample_std_per_row_and_grid():
    rows = aggregate([_result("vit", 0, [50.0]), _result("vit", 1, [60.0]), _result("vit", 2, [70.0]),
                      _result("lookupvit", 0, [40.0, 44.0], ("2x2x2", "2x4x4")),
                      _result("lookupvit", 1, [42.0, 46.0], ("2x2x2", "2x4x4"))])
    assert [(r["row"], r["grid"]) for r in rows] == [("vit", None), ("lookupvit", "2x2x2"), ("lookupvit", "2x4x4")]
    assert rows[0]["top1_mean"] == 60.0 and rows[0]["top1_std"] == pytest.approx(10.0)
    assert rows[2]["top1_mean"] == 45.0 and rows[2]["top1_std"] == pytest.approx(2 ** 0.5)
    table = markdown(rows)
    assert "| vit | vit_nano | - | 60.0 ± 10.0 | 50.0 / 60.0 / 70.0 | 70.0 / 54.0 |" in table
    single = aggregate([_result("vit", 0, [50.0])])
    assert single[0]["top1_std"] is None and "| 50.0 |" in markdown(single)


def test_plot_draws_an_error_bar_per_row_with_several_seeds(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.axes import Axes

    bars = []
    original = Axes.errorbar
    monkeypatch.setattr(Axes, "errorbar", lambda self, *a, **k: bars.append(k["yerr"]) or original(self, *a, **k))
    rows = aggregate([_result("vit", s, [50.0 + s]) for s in range(3)] + [_result("tome", 0, [40.0])])
    assert plot(rows, tmp_path / "a.png", "t").is_file()
    assert bars == [[pytest.approx(1.0)]]  # vit has a spread; tome's single seed has none


@pytest.fixture(scope="module")
def quick(motion16_quick, tmp_path_factory) -> tuple[list[str], Path]:
    """The quick variant's arguments and output folder, run once (vit + lookupvit) for the tests below."""
    out = tmp_path_factory.mktemp("bench_quick") / "out"
    args = ["bench", "--accuracy", "--quick", "--data", str(motion16_quick), "--out", str(out)]
    assert cli_main(args) == 0
    return args, out


def test_quick_variant_end_to_end_and_finished_runs_are_not_trained_again(quick, capsys):
    args, out = quick
    summary = json.loads((out / "accuracy.json").read_text())
    assert [r["row"] for r in summary["runs"]] == ["vit", "lookupvit"]
    assert all(r["num_val"] == 64 and r["num_classes"] == 16 and r["steps"] == 24 for r in summary["runs"])
    assert len(summary["runs"][1]["grids"]) == 3 and all(g["gmacs"] > 0 for g in summary["runs"][1]["grids"])
    for g in summary["runs"][0]["grids"] + summary["runs"][1]["grids"]:  # 6 x 4 appearance, 10 x 4 temporal clips
        assert (24 * g["groups"]["appearance"] + 40 * g["groups"]["temporal"]) / 64 == pytest.approx(g["top1"])
    text = (out / "accuracy.md").read_text()
    assert "64 validation clips, 16 classes" in text and text.count("| lookupvit | lookupvit_nano |") == 3
    assert (out / "accuracy.png").stat().st_size > 0 or pytest.importorskip("matplotlib") is None
    results = sorted(out.glob("runs/*/seed0/result.json"))
    stamps = [p.stat().st_mtime_ns for p in results]
    capsys.readouterr()
    assert cli_main(args) == 0  # everything done before: nothing is trained, the table is written again
    assert "2 runs, 2 done before" in capsys.readouterr().err
    assert [p.stat().st_mtime_ns for p in results] == stamps


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    assert cli_main(["bench", "--accuracy", "--families", "vit", "deit", "--out", str(tmp_path)]) == 2
    assert "unknown family 'deit'" in capsys.readouterr().err
    assert cli_main(["bench", "--accuracy", "--rows", "vit:train.nosuch=1", "--out", str(tmp_path)]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert cli_main(["bench", "--accuracy", "--families", "--out", str(tmp_path)]) == 2
    assert "nothing to train" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # checked before any data or training


def test_pareto_front_marks_rows_no_other_row_beats_at_no_more_gmacs(tmp_path, monkeypatch):
    from mmlookup.bench.accuracy import pareto

    def row(top1, gmacs):
        return {"top1_mean": top1, "gmacs": gmacs}

    rows = [row(50, 0.06), row(55, 0.06), row(48, 0.03), row(47, 0.04), row(60, None), row(48, 0.03)]
    # 50 @ 0.06 is beaten by 55 at the same cost; 47 @ 0.04 by 48 @ 0.03; equal rows are both on the front
    assert pareto(rows) == [False, True, True, False, False, True]
    pytest.importorskip("matplotlib")
    from matplotlib.axes import Axes

    fronts = []
    original = Axes.step
    monkeypatch.setattr(Axes, "step", lambda self, x, y, *a, **k: fronts.append(list(x)) or original(self, x, y, *a,
                                                                                                         **k))
    agg = aggregate([_result("vit", s, [50.0 + s]) for s in range(3)] + [_result("tome", 0, [40.0])])
    agg[1]["gmacs"] = 0.03
    assert plot(agg, tmp_path / "a.png", "t").is_file()
    assert fronts == [[0.03, 0.05]]                                      # both rows: tome is cheaper
    assert "| ★ |" in markdown(agg)


def test_training_free_rows_from_each_seed_of_a_vit_row(quick, tmp_path, capsys):
    # in a copy of the quick variant's output: its vit run is done before (not trained again, as the test above
    # shows), and the training-free rows are evaluated from that run's checkpoint
    shutil.copytree(quick[1], tmp_path / "out")
    args = ["bench", "--accuracy", "--quick", "--families", "vit", "--training-free", "vit", "--data",
            quick[0][quick[0].index("--data") + 1], "--out", str(tmp_path / "out")]
    assert cli_main(args) == 0
    summary = json.loads((tmp_path / "out" / "accuracy.json").read_text())
    rows = {(r["row"], r["grid"]): r for r in summary["rows"]}
    assert ("vit→evit", "keep 0.7") in rows and ("vit→ats", "budget 0.5") in rows
    assert any(label == "vit→tome" for label, _ in rows)
    vit_gmacs = rows[("vit", None)]["gmacs"]
    assert all(r["gmacs"] < vit_gmacs for (label, _), r in rows.items() if "→" in label)
    assert all(r["num_val"] == 64 for r in summary["rows"])
    assert any((tmp_path / "out").glob("runs/*/seed0/sweep_training_free/sweep.json"))
    assert cli_main(["bench", "--accuracy", "--quick", "--families", "vit", "--training-free", "lookupvit",
                     "--out", str(tmp_path / "o2")]) == 2
    assert "not a ViT-family row" in capsys.readouterr().err
