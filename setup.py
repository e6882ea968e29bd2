"""Packaging beyond pyproject.toml: the top-level ``recipes/`` folder ships inside the wheel as ``mmlookup.recipes``.

The recipes stay where users and docs expect them in a checkout (``recipes/k400/...``); an installed package
finds them by name (``mmlookup train k400/lookupvit_b16_16x4``) from any folder.

Builds (``pip wheel .``, ``pip install .``) work in a temporary folder that is removed afterwards, so no ``build/``
is left in the source tree.
"""
import atexit
import shutil
import tempfile
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent
RECIPE_DIRS = [ROOT / "recipes", *sorted(d for d in (ROOT / "recipes").rglob("*")
                                         if d.is_dir() and d.name != "__pycache__")]
RECIPE_PACKAGES = {".".join(("mmlookup", *d.relative_to(ROOT).parts)): d.relative_to(ROOT).as_posix()
                   for d in RECIPE_DIRS}

BUILD_BASE = tempfile.mkdtemp(prefix="mmlookup-build-")
atexit.register(shutil.rmtree, BUILD_BASE, True)

setup(packages=find_packages(include=["mmlookup", "mmlookup.*"]) + list(RECIPE_PACKAGES), package_dir=RECIPE_PACKAGES,
      options={"build": {"build_base": BUILD_BASE}})
