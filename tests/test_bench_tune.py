"""`mmlookup bench --accuracy --tune` (issue 26): the design, the overrides each trial gets, main effects, the
held-out split (never the validation set), and the quick variant end to end (a search that continues)."""
import itertools
import json
from pathlib import Path

import pytest

from mmlookup.bench.accuracy import SCHEDULES, RowSpec, bench_recipe
from mmlookup.bench.search_space import FACTORS, L8, guess_levels, holdout_indices, main_effects, trial_overrides
from mmlookup.cli import main as cli_main
from mmlookup.config import load_recipe


def test_l8_is_a_balanced_two_level_orthogonal_array():
    assert len(L8) == 8 and all(len(row) == len(FACTORS) for row in L8) and len(set(L8)) == 8
    for j in range(len(FACTORS)):
        assert sum(row[j] for row in L8) == 4                            # each level in four trials
    for a, b in itertools.combinations(range(len(FACTORS)), 2):         # every pair of factors balanced
        pairs = [(row[a], row[b]) for row in L8]
        assert all(pairs.count(p) == 2 for p in itertools.product((0, 1), repeat=2))


def _recipe(family, levels):
    fam = load_recipe(f"synthetic/{family}.py")
    over = trial_overrides(family, levels, fam.model.encoder_kwargs, SCHEDULES["video"].epochs)
    return bench_recipe(RowSpec("t", family, over), 0, task="video", data=Path("/d"), run_dir=Path("/r"), tuned=False,
                        schedule=SCHEDULES["video"])


@pytest.mark.parametrize("family", ("vit", "evit", "ats", "tome", "lookupvit"))
def test_every_family_searches_the_same_switches_by_the_same_names(family):
    low, high = _recipe(family, (0,) * 7), _recipe(family, (1,) * 7)
    assert low.model.encoder_kwargs.get("stem_norm") is False and high.model.encoder_kwargs["stem_norm"] is True
    assert "pos_embed" not in low.model.encoder_kwargs and high.model.encoder_kwargs["pos_embed"] == "sincos_3d"
    assert (low.model.encoder_kwargs["weight_init"], high.model.encoder_kwargs["weight_init"]) == ("timm", "torch")
    assert (low.optim.lr, high.optim.lr) == (3e-4, 1e-3) and (low.train.clip_grad, high.train.clip_grad) == (0, 1)
    epochs = SCHEDULES["video"].epochs
    assert low.optim.warmup_epochs == pytest.approx(0.05 * epochs) and high.optim.warmup_epochs == pytest.approx(
        0.2 * epochs)
    if family == "lookupvit":  # its own head layouts; the parts tied to its two streams stay the recipe's
        assert (low.model.pool, high.model.pool) == ("auto", "shared")
        assert low.model.encoder_kwargs["lookup_post_norm"] and high.model.encoder_kwargs["lookup_post_norm"]
    else:
        assert (low.model.pool, high.model.pool) == ("cls", "mean")
    low.validate()
    high.validate()


def test_main_effects_and_the_guess():
    scores = [(row, 10.0 + 5 * row[0] - 3 * row[4]) for row in L8]    # stem helps, the high LR hurts
    effects = main_effects(scores)
    assert effects[0] == (pytest.approx(8.5), pytest.approx(13.5)) and effects[1][0] == effects[1][1]
    assert guess_levels(effects) == (1, 0, 0, 0, 0, 0, 0)
    assert guess_levels(main_effects(scores[:2]))[0] == 0                 # an untried level is not guessed


def test_holdout_is_stratified_disjoint_and_deterministic():
    labels = [i % 4 for i in range(48)]
    fit, held = holdout_indices(labels, 6)
    assert sorted(fit + held) == list(range(48)) and not set(fit) & set(held)
    assert [sum(labels[i] == c for i in held) for c in range(4)] == [2, 2, 2, 2]
    assert holdout_indices(labels, 6) == (fit, held)
    with pytest.raises(ValueError, match="--holdout"):
        holdout_indices(labels, 1)


def test_quick_search_end_to_end_scores_on_training_clips_and_continues(motion16_quick, tmp_path, capsys):
    args = ["bench", "--accuracy", "--tune", "--quick", "--data", str(motion16_quick), "--out",
            str(tmp_path / "out")]
    assert cli_main(args) == 0
    report = json.loads((tmp_path / "out" / "tune.json").read_text())
    trials = report["families"]["vit"]["trials"]
    assert [t["trial"] for t in trials][:2] == ["t1", "t2"] and len(trials) in (2, 3)
    # scored on every 6th training clip of each class (16 classes x 12 clips -> 32), never on the 64 val clips
    assert all(t["result"]["num_val"] == 32 and t["result"]["train_size"] == 160 for t in trials)
    best = report["families"]["vit"]["best"]
    assert best["score"] == max(t["score"] for t in trials)
    text = (tmp_path / "out" / "tune.md").read_text()
    assert "### vit" in text and "vit_tuned=vit:model.encoder_kwargs=" in text
    stamps = [p.stat().st_mtime_ns for p in sorted((tmp_path / "out" / "trials").glob("*/result.json"))]
    capsys.readouterr()
    assert cli_main(args) == 0                                           # a finished search trains nothing again
    assert [p.stat().st_mtime_ns for p in sorted((tmp_path / "out" / "trials").glob("*/result.json"))] == stamps


def test_tune_rejects_rows_and_bad_trials(tmp_path, capsys):
    assert cli_main(["bench", "--accuracy", "--tune", "--rows", "vit:optim.lr=1e-3", "--out", str(tmp_path)]) == 2
    assert "--rows" in capsys.readouterr().err
    assert cli_main(["bench", "--accuracy", "--tune", "--trials", "9", "--quick", "--data", str(tmp_path / "d"),
                     "--out", str(tmp_path)]) == 2
    assert "--trials must be 1 to 8" in capsys.readouterr().err
