"""Old import paths kept for one release: a module-level ``__getattr__`` that forwards moved names and warns."""
from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any, Callable, Mapping


def forward_moved(old: str, homes: Mapping[str, ModuleType]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for module ``old``, whose names now live in ``homes[name]``.

    Each access warns with a ``DeprecationWarning`` naming the new path; an unknown name is an ``AttributeError``.
    """

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        home = homes[name]
        warnings.warn(f"{old}.{name} moved to {home.__name__}.{name}; the old path will be removed in the next "
                      "release", DeprecationWarning, stacklevel=2)
        return getattr(home, name)

    def __dir__() -> list[str]:
        return sorted(homes)

    return __getattr__, __dir__
