"""Counts in messages: ``plural(1, "input")`` is ``1 input``, ``plural(8, "input")`` is ``8 inputs``."""
from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``n`` and ``noun`` in the number ``n`` asks for (``many`` when adding an ``s`` is wrong)."""
    return f"{n} {noun if n == 1 else (many or noun + 's')}"
