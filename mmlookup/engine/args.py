"""Recipe arguments shared by the commands (train, eval, demo, sweep): ``--set KEY=VALUE`` and loading the recipe."""
from __future__ import annotations

import argparse
import os

from mmlookup.config import load_recipe

_SET_HELP = ("override a recipe value, one KEY=VALUE per --set, repeatable: --set optim.lr=3e-4 "
             "--set model.grids='[(2,4,4)]'")


def add_set_argument(parser: argparse.ArgumentParser, help: str = _SET_HELP) -> None:
    """``--set KEY=VALUE``, one value each time (repeatable), so it never swallows a positional argument."""
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", type=_key_value, help=help)


def _key_value(text: str) -> str:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. optim.lr=3e-4)")
    return text


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parse_args``, with a pointed message when ``--set a=1 b=2`` made an override the recipe."""
    args, extra = parser.parse_known_args(argv)
    if "=" in getattr(args, "recipe", "") and not os.path.exists(args.recipe):
        parser.error(f"{args.recipe!r} is not a recipe: each --set takes one KEY=VALUE (--set a=1 --set b=2)")
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _load(args: argparse.Namespace):
    """The recipe with its overrides; every mistake is a ``ValueError`` (one line from :mod:`mmlookup.cli`)."""
    try:
        return load_recipe(args.recipe, args.set)
    except (KeyError, TypeError) as e:
        raise ValueError(str(e.args[0] if isinstance(e, KeyError) else e)) from None
