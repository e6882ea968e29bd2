"""Packaging beyond pyproject.toml: the top-level ``recipes/`` folder ships inside the wheel as ``mmlookup.recipes``.

The recipes stay where users and docs expect them in a checkout (``recipes/k400/...``); an installed package
finds them by name (``mmlookup train k400/lookupvit_b16_16x4``) from any folder.
"""
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent
RECIPE_DIRS = [ROOT / "recipes", *sorted(d for d in (ROOT / "recipes").rglob("*")
                                         if d.is_dir() and d.name != "__pycache__")]
RECIPE_PACKAGES = {".".join(("mmlookup", *d.relative_to(ROOT).parts)): d.relative_to(ROOT).as_posix()
                   for d in RECIPE_DIRS}

setup(packages=find_packages(include=["mmlookup", "mmlookup.*"]) + list(RECIPE_PACKAGES), package_dir=RECIPE_PACKAGES)
