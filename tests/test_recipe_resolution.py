"""Where a recipe comes from (packaged names win over local files) and which keys a resumed run compares."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mmlookup.config import RECIPES_DIR, Recipe, load_recipe, save_recipe

LOCAL = '''from mmlookup.config import Recipe


def get_recipe(arg: str = "") -> Recipe:
    return Recipe(name="local_copy")
'''


def test_packaged_names_win_over_local_files_unless_the_argument_is_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "synthetic").mkdir()
    (tmp_path / "synthetic/lookupvit.py").write_text(LOCAL)
    (tmp_path / "mine.py").write_text(LOCAL)
    packaged = load_recipe(RECIPES_DIR / "synthetic/lookupvit.py").name
    assert load_recipe("synthetic/lookupvit").name == packaged  # a name: the packaged recipe
    assert load_recipe("./synthetic/lookupvit.py").name == "local_copy"  # a path: the file
    assert load_recipe("synthetic/lookupvit.py").name == "local_copy"  # contains / and ends in .py: a path
    assert load_recipe(str(tmp_path / "synthetic/lookupvit.py")).name == "local_copy"
    assert load_recipe("mine").name == "local_copy"  # no packaged recipe has the name: the local file
    assert load_recipe("recipes/synthetic/lookupvit.py").name == packaged  # not here: inside the package


def _fake_run(run: Path, recipe: Recipe) -> Path:
    """A run folder with its recipe.yaml and one complete (tiny) checkpoint."""
    ckpt = run / "checkpoints" / "step_00000002"
    ckpt.mkdir(parents=True)
    (ckpt / "train_state.json").write_text(json.dumps({"step": 2}))
    save_file({"w": torch.zeros(1)}, str(ckpt / "model.safetensors"))
    save_recipe(recipe, run / "recipe.yaml")
    return ckpt


def test_resume_lets_every_path_change_and_compares_the_rest(tmp_path, monkeypatch):
    from mmlookup.engine.fit import find_resume

    monkeypatch.chdir(tmp_path)
    Path("data/k400").mkdir(parents=True)
    sets = ["data.root=data/k400", "train.output_dir=runs/a", "data.synthetic=False"]
    ckpt = _fake_run(Path("runs/a"), load_recipe("synthetic/lookupvit", sets))
    moved = load_recipe("synthetic/lookupvit", [f"data.root={Path('data/k400').resolve()}",  # same folder, absolute
                                                "train.output_dir=runs/a", "data.synthetic=False",
                                                "data.train_annotations=other.csv", "data.labels_file=labels.txt",
                                                "caption.cache_dir=/tmp/cache", "eval.batch_size=3"])
    assert find_resume(moved, "auto") == ckpt
    changed = load_recipe("synthetic/lookupvit", [*sets, "optim.lr=1e-3", "data.root=/new/place"])
    with pytest.raises(ValueError, match=r"optim\.lr: 0\.0005 -> 0\.001\. ") as err:
        find_resume(changed, "auto")
    assert "data.root" not in str(err.value)  # only the computation's keys are listed
    weights = load_recipe("synthetic/lookupvit", [*sets, "model.pretrained=other.safetensors"])
    with pytest.raises(ValueError, match="model.pretrained"):  # where the weights come from is compared
        find_resume(weights, "auto")
