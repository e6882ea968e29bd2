"""Run logging: console (tqdm-safe), ``log.txt`` and TensorBoard, on the main process only."""
from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm


class RunLogger:
    """Writes scalars to TensorBoard and lines to the console and ``run_dir/log.txt``; silent off the main process."""

    def __init__(self, run_dir: Path | None, enabled: bool, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.file = None
        self.writer = None
        if enabled and run_dir is not None:
            self.file = open(run_dir / "log.txt", "a", buffering=1)
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(run_dir / "tb"))

    def info(self, line: str) -> None:
        if self.enabled:
            tqdm.write(line)
            if self.file is not None:
                self.file.write(line + "\n")

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.file is not None:
            self.file.close()
