"""Run logging: console (tqdm-safe), ``log.txt`` and TensorBoard, on the main process only."""
from __future__ import annotations

import os
from pathlib import Path

from tqdm.auto import tqdm


class RunLogger:
    """Writes scalars to TensorBoard and lines to the console and ``run_dir/log.txt``; silent off the main process.

    ``resume_step`` / ``log_bytes`` (from the checkpoint a run resumes) keep a resumed run's records free of
    repeats: ``log.txt`` is cut back to its size when the checkpoint was written, and TensorBoard hides every
    event after the checkpoint's step (``purge_step``), so the steps the interrupted run did after its last
    checkpoint appear once, from the resumed run. ``fresh`` (a run starting at step 0 in a folder without
    checkpoints) cuts both to nothing: an attempt that died before its first checkpoint is started over.
    """

    def __init__(self, run_dir: Path | None, enabled: bool, tensorboard: bool = True, *,
                 resume_step: int | None = None, log_bytes: int = -1, fresh: bool = False) -> None:
        self.enabled = enabled
        self.file = None
        self.writer = None
        if enabled and run_dir is not None:
            log = run_dir / "log.txt"
            if fresh:  # step 0 again: an earlier attempt's lines and events would repeat its steps
                resume_step, log_bytes = -1, 0
            if resume_step is not None and log_bytes >= 0 and log.is_file() and log.stat().st_size > log_bytes:
                os.truncate(log, log_bytes)
            self.file = open(log, "a", buffering=1)
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                purge = resume_step + 1 if resume_step is not None else None
                self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=purge)

    def info(self, line: str) -> None:
        if self.enabled:
            tqdm.write(line)
            if self.file is not None:
                self.file.write(line + "\n")

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(k, v, step)

    def log_bytes(self) -> int:
        """Bytes written to ``log.txt`` so far (-1 without a log file); saved in checkpoints."""
        if self.file is None:
            return -1
        self.file.flush()
        return self.file.tell()

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()
        if self.file is not None:
            self.file.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.file is not None:
            self.file.close()
