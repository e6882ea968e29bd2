"""The ``--device`` of every command: a name checked against this machine, so a device that is not here is one
clear line (``--device cuda`` without a GPU) instead of a CUDA traceback from deep inside the first tensor move."""
from __future__ import annotations

import torch


def resolve_device(name: str | None = None, *, option: str = "--device") -> torch.device:
    """``None`` / ``"auto"`` → CUDA when there is a GPU, else CPU; any other name must exist on this machine.

    Raises:
        ValueError: not a device name, or a device this machine does not have (the message names ``option``).
    """
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"{option} {name!r} is not a device; valid: auto, cpu, cuda, cuda:N, mps") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{option} {name}: this machine has no CUDA GPU (torch.cuda.is_available() is False); "
                             "use --device cpu")
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"{option} {name}: this machine has {count} CUDA GPU{'s' if count > 1 else ''} "
                             f"(cuda:0..cuda:{count - 1})")
    elif dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"{option} {name}: MPS is not available on this machine; use --device cpu")
    return dev
