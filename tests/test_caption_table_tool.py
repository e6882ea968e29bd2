"""tools/caption_memory_table.py hands every run to `mmlookup train` with overrides the CLI accepts."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from mmlookup.config import load_recipe
from mmlookup.engine.cli import add_set_argument

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("caption_memory_table", ROOT / "tools" / "caption_memory_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_planned_run_is_a_valid_train_command(tmp_path, monkeypatch):
    import argparse

    tool = _tool()
    commands = []
    monkeypatch.setattr(tool.subprocess, "run",
                        lambda cmd, **kw: commands.append(cmd) or subprocess.CompletedProcess(cmd, 0))
    rows = tool.plan("clips", tmp_path / "demo", ["evit", "ats", "tome"], True)
    for row in rows:
        tool.train(row, tmp_path / "out", tmp_path / "data", ["train.epochs=1"])
    assert len(commands) == len(rows) > 3
    parser = argparse.ArgumentParser()
    parser.add_argument("recipe")
    add_set_argument(parser)
    for cmd in commands:
        assert cmd[2:4] == ["mmlookup", "train"]
        args = parser.parse_args(cmd[4:])  # one KEY=VALUE per --set: nothing left over, the recipe kept
        recipe = load_recipe(str(ROOT / args.recipe), args.set)
        assert recipe.task == "caption" and recipe.train.epochs == 1
