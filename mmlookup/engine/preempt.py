"""Preemption-safe training: stop signals, step- and time-based checkpoints, agreed by every process.

Clusters stop jobs with SIGTERM (SLURM, Kubernetes) or a warning signal such as SIGUSR1 (``sbatch
--signal=USR1@120``); people press Ctrl-C (SIGINT). :class:`StopSignals` turns the first of these into a
request that the loop answers after the current optimizer step: the run writes an atomic checkpoint and
ends with :class:`TrainingStopped`; a second signal ends the process at once. The signal may reach one
process only (rank 0 of a multi-node job), so :meth:`CheckpointPolicy.poll` all-reduces a tiny tensor
every step (signal number, "time for a checkpoint") and every process makes the same decision at the same
step. Data-loader workers ignore the signals (:func:`ignore_stop_signals`) so the step in flight can finish.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


class TrainingStopped(Exception):
    """Raised by the trainer after a stop signal once the checkpoint of step ``step`` is safely written."""

    def __init__(self, step: int, signum: int, checkpoint: Path) -> None:
        self.step, self.signum, self.checkpoint = step, signum, checkpoint
        super().__init__(f"stopped at step {step} by {signal_name(signum)}; checkpoint {checkpoint}")

    @property
    def exit_code(self) -> int:
        """``128 + signal number``, the shell's convention for a process ended by a signal (143 for SIGTERM)."""
        return 128 + self.signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


#: 1 while a :class:`StopSignals` is active in the training process; shared with forked data-loader workers.
_TRAINING = torch.zeros((), dtype=torch.int32).share_memory_()


def ignore_stop_signals(_worker_id: int = 0) -> None:
    """``worker_init_fn`` for data loaders: workers leave the stop signals to the training process.

    A cluster sends SIGTERM to every process of the job and Ctrl-C reaches the whole process group; a worker
    killed by it would take the step in flight (and the final checkpoint) with it. SIGINT and SIGUSR1 are
    ignored; SIGTERM only while the training process is training (:data:`_TRAINING`), because
    ``multiprocessing`` ends leftover workers with SIGTERM when the training process exits.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_sigterm)


def _worker_sigterm(signum: int, _frame) -> None:
    if int(_TRAINING) == 0:  # the parent is done (or exiting): die as SIGTERM's default action would
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


class StopSignals:
    """Install handlers for SIGTERM / SIGINT / SIGUSR1 while active (a context manager; main thread only).

    The first signal is remembered in :attr:`received`; a second one prints a line and exits immediately with
    ``128 + signum`` (no checkpoint). Outside the main thread (e.g. a notebook's worker thread) nothing is
    installed and :attr:`received` stays 0.
    """

    def __init__(self) -> None:
        self.received = 0
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, _frame) -> None:
        if self.received:
            print(f"\n{signal_name(signum)} again: exiting now without a checkpoint", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        self.received = signum
        print(f"\n{signal_name(signum)} received: finishing the current step, then saving a checkpoint "
              "(send it again to exit at once)", file=sys.stderr, flush=True)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
            _TRAINING.add_(1)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous:
            _TRAINING.sub_(1)
        for s, previous in self._previous.items():
            signal.signal(s, previous)
        self._previous.clear()


@dataclass
class CheckpointPolicy:
    """When to checkpoint and stop inside an epoch: every ``every_steps`` steps, every ``every_minutes`` minutes
    (timed on the main process), and at once after a stop signal. Per-epoch checkpoints stay with the caller."""

    accelerator: Accelerator
    every_steps: int = 0
    every_minutes: float = 0.0
    signals: StopSignals | None = None
    last_save: float = field(default_factory=time.monotonic)
    stop_signal: int = 0  # the agreed signal number once a stop is decided

    def poll(self, step: int) -> tuple[bool, bool]:
        """After optimizer step ``step`` (1-based count): ``(save_now, stop_now)``, identical on every process.

        Collective when there are several processes: call it on every rank after every step.
        """
        acc = self.accelerator
        due = self.every_minutes > 0 and time.monotonic() - self.last_save >= 60.0 * self.every_minutes
        flags = torch.tensor([float(self.signals.received if self.signals else 0),
                              float(due and acc.is_main_process)], device=acc.device)
        if acc.num_processes > 1:
            flags = acc.reduce(flags, "max")
        signum, timed = int(flags[0].item()), bool(flags[1].item())
        if signum:
            self.stop_signal = signum
        by_steps = self.every_steps > 0 and step % self.every_steps == 0
        return bool(signum or timed or by_steps), bool(signum)

    def saved(self) -> None:
        """Restart the clock of the time-based checkpoints (call after any checkpoint)."""
        self.last_save = time.monotonic()
