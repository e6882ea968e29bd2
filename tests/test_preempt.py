"""Stop signals and the in-epoch checkpoint policy (the end-to-end runs are in ``test_cli_runs.py``)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mmlookup.config import Recipe
from mmlookup.engine.fit import build_accelerator
from mmlookup.engine.preempt import CheckpointPolicy, StopSignals

REPO = Path(__file__).resolve().parents[1]


def test_policy_saves_by_steps_and_minutes_and_stops_on_a_signal():
    acc = build_accelerator(Recipe(), cpu=True)
    policy = CheckpointPolicy(acc, every_steps=3, every_minutes=0.0)
    assert [policy.poll(s) for s in (1, 2, 3, 6)] == [(False, False), (False, False), (True, False), (True, False)]
    timed = CheckpointPolicy(acc, every_minutes=0.5 / 60)  # every half second
    assert timed.poll(1) == (False, False)
    time.sleep(0.6)
    assert timed.poll(2) == (True, False)
    timed.saved()
    assert timed.poll(3) == (False, False)
    with StopSignals() as signals:
        stopping = CheckpointPolicy(acc, signals=signals)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stopping.poll(4) == (True, True) and stopping.stop_signal == signal.SIGUSR1
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL  # handlers removed with the context


def test_a_second_signal_exits_at_once():
    code = ("import os, signal, time; from mmlookup.engine.preempt import StopSignals\n"
            "with StopSignals() as s:\n"
            "    os.kill(os.getpid(), signal.SIGINT); time.sleep(0.2); print('first noted', s.received, flush=True)\n"
            "    os.kill(os.getpid(), signal.SIGINT); time.sleep(5); print('not reached')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 128 + signal.SIGINT
    assert f"first noted {int(signal.SIGINT)}" in done.stdout and "not reached" not in done.stdout
    assert "SIGINT again: exiting now without a checkpoint" in done.stderr
