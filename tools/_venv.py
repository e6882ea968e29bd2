"""Scripts under ``tools/`` run in the project's ``.venv`` when it exists, so they work from a fresh shell without
an activated environment (``python tools/x.py`` with a system Python that has no torch). ``MMLOOKUP_NO_VENV=1``
keeps the interpreter that started the script (another environment that has mmlookup installed)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parents[1] / ".venv"


def use_project_venv() -> None:
    """Re-run this script with ``.venv/bin/python`` unless it already runs there (or there is no ``.venv``)."""
    python = VENV / "bin" / "python"
    if os.environ.get("MMLOOKUP_NO_VENV", "") not in ("", "0") or not python.is_file():
        return
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    os.execv(str(python), [str(python), *sys.argv])
