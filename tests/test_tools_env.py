"""Scripts under tools/ use the project's .venv when it exists: a fresh shell has no activated environment."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_checkout(tmp_path: Path) -> Path:
    """tools/ of this repository beside a `.venv` whose python only says it ran (and with what)."""
    shutil.copytree(REPO / "tools", tmp_path / "tools")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\necho "venv python $*"\n')
    python.chmod(0o755)
    return tmp_path


@pytest.mark.parametrize("script", ["bench.py", "bench_data.py", "train.py", "eval.py", "scan_videos.py",
                                    "caption_memory_table.py", "make_docs_pictures.py",
                                    "distill_table.py", "lookupvit_ablation.py", "lookvit_peer.py"])
def test_python_tools_rerun_in_the_project_venv(fake_checkout, script):
    tool = fake_checkout / "tools" / script
    done = subprocess.run([sys.executable, str(tool), "--help"], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "MMLOOKUP_NO_VENV"})
    assert done.stdout.strip() == f"venv python {tool} --help", done.stderr[-2000:]


def test_gpu_check_script_uses_the_project_venv(fake_checkout):
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    done = subprocess.run(["bash", str(fake_checkout / "tools" / "gpu_check.sh"), "--dry-run"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.stdout.strip() == "venv python -m mmlookup.bench.gpu_check --dry-run", done.stderr
