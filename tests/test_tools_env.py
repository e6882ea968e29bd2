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


def _fake_tools(tmp_path: Path, uid: int, apt: bool) -> tuple[Path, Path]:
    """A PATH with only what tools/test.sh needs: a fake ``id`` and (optionally) a fake ``apt-get`` that logs its
    calls and "installs" a fake chromium into the same folder; no real chromium can be found on it."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in ("bash", "dirname", "touch", "cat"):
        (bin_ / tool).symlink_to(shutil.which(tool))
    log = tmp_path / "apt.log"
    scripts = {"id": f'#!/bin/sh\necho {uid}\n'}
    if apt:
        scripts["apt-get"] = (f'#!/bin/sh\necho "$*" >> {log}\n'
                              f'case "$*" in *install*) printf "#!/bin/sh\\n" > {bin_}/chromium;'
                              f' chmod +x {bin_}/chromium;; esac\n')
    for name, text in scripts.items():
        (bin_ / name).write_text(text)
        (bin_ / name).chmod(0o755)
    return bin_, log


@pytest.mark.parametrize("uid, apt, installs", [(0, True, True), (1000, True, False), (0, False, False)])
def test_the_readme_test_command_installs_chromium_where_it_can(fake_checkout, tmp_path, uid, apt, installs):
    (fake_checkout / ".venv" / ".mmlookup-installed").touch()        # setup.sh: already installed
    bin_, log = _fake_tools(tmp_path, uid, apt)
    done = subprocess.run(["bash", str(fake_checkout / "tools" / "test.sh"), "-k", "x"], capture_output=True,
                          text=True, timeout=60, env={"PATH": str(bin_), "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'venv python -m pytest -q -m not slow -k x'      # then runs the suite
    if installs:
        assert "install -y -qq chromium" in log.read_text() and (bin_ / "chromium").exists()
    else:
        assert not log.exists() and "browser test will skip" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_the_readme_test_command_leaves_an_installed_chromium_alone(fake_checkout, tmp_path):
    (fake_checkout / ".venv" / ".mmlookup-installed").touch()
    bin_, log = _fake_tools(tmp_path, 0, True)
    (bin_ / "chromium").write_text("#!/bin/sh\n")
    (bin_ / "chromium").chmod(0o755)
    done = subprocess.run(["bash", str(fake_checkout / "tools" / "test.sh")], capture_output=True, text=True,
                          timeout=60, env={"PATH": str(bin_), "HOME": str(tmp_path)})
    assert done.returncode == 0 and not log.exists() and not done.stderr, done.stderr
