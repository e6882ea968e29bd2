"""The optional plotting dependencies (the ``viz`` extra), imported on demand with a clear message."""
from __future__ import annotations

import importlib
from types import ModuleType

INSTALL_HINT = "pip install 'mmlookup[viz]'"


class MissingVizDependency(ImportError):
    """Matplotlib or Pillow is not installed; the message says how to install the ``viz`` extra."""


def require(module: str) -> ModuleType:
    """Import ``module`` (e.g. ``"matplotlib"``, ``"PIL.Image"``) or raise :class:`MissingVizDependency`.

    Raises:
        MissingVizDependency: naming the missing package and ``pip install mmlookup[viz]``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        package = {"PIL": "Pillow"}.get(top, top)
        raise MissingVizDependency(
            f"{package} is needed for pictures but is not installed ({err}); install the plotting extra: "
            f"{INSTALL_HINT}") from None


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (works without a display)."""
    matplotlib = require("matplotlib")
    matplotlib.use("Agg", force=True)
    return require("matplotlib.pyplot")
