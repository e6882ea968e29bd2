"""The package as a user installs it: a real wheel, installed away from the checkout, finds its recipes by name."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_wheel_carries_the_recipes_and_runs_from_another_folder(tmp_path):
    # build from a copy of the sources (a stale build/ in the checkout can never leak into the wheel); offline
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, src / name)
    for name in ("mmlookup", "recipes"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    built = _run(["-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w",
                  str(tmp_path / "dist"), str(src)], tmp_path, env)
    assert built.returncode == 0, built.stderr[-3000:]
    assert not (src / "build").exists(), "pip wheel left build/ in the source tree"
    (wheel,) = (tmp_path / "dist").glob("mmlookup-*.whl")
    target = tmp_path / "site"
    installed = _run(["-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
                     tmp_path, env)
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert (target / "mmlookup" / "recipes" / "k400" / "lookupvit_b16_16x4.py").is_file()
    # another folder, the installed copy first on the path (dependencies come from this environment)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env["PYTHONPATH"] = str(target)
    listed = _run(["-m", "mmlookup", "list", "recipes"], elsewhere, env)
    assert listed.returncode == 0, listed.stderr[-3000:]
    for name in ("k400/lookupvit_b16_16x4", "ssv2/vit_b16_16x2", "synthetic/lookupvit", "coco/caption_synthetic"):
        assert name in listed.stdout
    code = ("import mmlookup; from mmlookup.config import load_recipe; "
            "print(mmlookup.__file__); print(load_recipe('k400/lookupvit_b16_16x4').model.encoder); "
            "print(load_recipe('recipes/coco/caption_synthetic.py').task)")
    loaded = _run(["-c", code], elsewhere, env)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    where, encoder, task = loaded.stdout.split()
    assert Path(where).is_relative_to(target) and encoder == "lookupvit_base" and task == "caption"
    version = _run(["-m", "mmlookup", "--version"], elsewhere, env)
    assert version.returncode == 0 and version.stdout.startswith("mmlookup 0.")
    bare = _run(["-m", "mmlookup"], elsewhere, env)
    assert bare.returncode == 2 and "usage: mmlookup" in bare.stderr
