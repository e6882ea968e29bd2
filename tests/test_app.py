"""``mmlookup app``: the page's logic on bad inputs, and the real page driven by headless Chromium.

The browser test starts ``mmlookup app`` on a free localhost port with a small run trained here, uploads a real mp4
from the synthetic generator through the page's file input, and checks that the page shows the five labels
``mmlookup predict`` gives for the same file; the screenshot goes to the test's tmp folder. The browser is Debian's
``chromium`` (``tools/test.sh`` installs it where it can: as root with apt-get), driven by Playwright's Python API
with that executable: nothing is downloaded, and the browser is started with its network features off. Without
chromium the browser test skips with its reason, except under ``CI=true``, where it fails: CI must run it.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from mmlookup.cli import main

gr = pytest.importorskip("gradio", reason="the app needs the optional extra mmlookup[app]")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def data(synth_k400) -> Path:
    return synth_k400                                       # the session's tiny synthetic set (tests/conftest.py)


@pytest.fixture(scope="module")
def run(synth_runs) -> Path:
    return synth_runs("lookupvit")                          # the run test_predict uses too (tests/conftest.py)


def a_clip(data: Path) -> Path:
    return sorted((data / "videos").rglob("*.mp4"))[0]


def test_app_logic_reports_and_counts_bad_inputs_and_reruns_on_a_new_setting(data, run, tmp_path):
    from PIL import Image

    from mmlookup.inference import Predictor
    from mmlookup.inference.app import BUDGET_CHOICE, DemoApp

    app = DemoApp(Predictor.from_pretrained(run, verbose=False), out_dir=str(tmp_path / "maps"))
    choices = app.choices()
    assert [c.split(" (")[0] for c in choices[:3]] == ["grid 2x4x4", "grid 2x2x2", "grid 1x2x2"]
    assert choices[3] == BUDGET_CHOICE
    costs = {c.split(" (")[0]: s.gmacs for c, s in app.settings.items()}
    assert costs["grid 2x4x4"] > costs["grid 2x2x2"] > costs["grid 1x2x2"]
    good = app.analyse(str(a_clip(data)), choices[1])
    assert len(good.labels) == 5 and abs(sum(good.labels.values()) - 1) < 0.5 and Path(good.token_map).is_file()
    assert f"{costs['grid 2x2x2']:.4g} GMACs per view" in good.info and "latency" in good.info
    small = app.analyse(str(a_clip(data)), choices[2])                             # the control re-runs
    assert app.predictor.grid == (1, 2, 2) and f"{costs['grid 1x2x2']:.4g} GMACs" in small.info
    assert small.labels != good.labels
    text = tmp_path / "text.mp4"
    text.write_text("not a video")
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[..., 1], rgba[5:20, 5:20, 3] = 255, 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    bad = app.analyse(str(text))
    assert "unreadable: text.mp4" in bad.status and not bad.labels
    assert "missing file" in app.analyse(str(tmp_path / "gone.mp4")).status
    alpha = app.analyse(str(tmp_path / "alpha.png"))
    assert alpha.labels and "alpha channel" in alpha.status
    assert "3 predicted (1 with notes), 2 unreadable" in alpha.status
    chosen = app.analyse(str(a_clip(data)), BUDGET_CHOICE, (costs["grid 2x2x2"] + costs["grid 2x4x4"]) / 2)
    assert app.predictor.grid == (2, 2, 2) and "chose lookupvit_nano grid 2x2x2" in chosen.info
    assert "budget not met" in app.analyse(str(a_clip(data)), BUDGET_CHOICE, 0.001).info


def test_app_captions_the_input_as_mmlookup_caption_does(data, run, tmp_path):
    from test_caption_train import _make_images, _recipe

    from mmlookup.captioning.generate import caption_files
    from mmlookup.engine.fit import fit
    from mmlookup.inference import Predictor
    from mmlookup.inference.app import DemoApp

    train, val = _make_images(tmp_path / "data", n_train=8, n_val=2)
    recipe = _recipe(tmp_path, train, val, **{"train.epochs": 1, "train.max_steps": 2, "caption.cache_dir": None})
    fit(recipe)
    app = DemoApp(Predictor.from_pretrained(run, verbose=False), captioner=recipe.train.output_dir,
                  out_dir=str(tmp_path / "maps"))
    clip = a_clip(data)
    result = app.analyse(str(clip))
    assert result.labels and result.caption
    assert result.caption == caption_files(recipe.train.output_dir, [clip], device="cpu")[0][1]


def test_app_refuses_an_unmet_budget_keeps_counts_per_session_and_hides_upload_paths(data, run, tmp_path):
    from mmlookup.inference import Predictor
    from mmlookup.inference.app import BUDGET_CHOICE, DemoApp, example_label, hide_upload_path, new_counts

    app = DemoApp(Predictor.from_pretrained(run, verbose=False), out_dir=str(tmp_path / "maps"))
    clip = str(a_clip(data))
    mine, theirs = new_counts(), new_counts()
    for budget in (0.001, float("nan"), None):  # below the cheapest setting, not a number, not given
        r = app.analyse(clip, BUDGET_CHOICE, budget, mine)
        assert not r.labels and r.token_map is None and "nothing predicted" in r.status, (budget, r)  # as predict
    assert "budget not met" in app.analyse(clip, BUDGET_CHOICE, 0.001, mine).info
    assert app.analyse(clip, None, None, mine).labels and mine["predicted"] == 1
    # another browser session has its own counts
    assert "inputs so far: 0 predicted" in app.analyse(None, None, None, theirs).status and theirs == new_counts()
    upload = tmp_path / "gradio" / "4f2a9c0d1e" / "clip.mp4"  # Gradio's cache folder and hash
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"\0" * 64)
    status = app.analyse(str(upload), None, None, mine).status
    assert "**unreadable: clip.mp4**" in status and "4f2a9c0d1e" not in status and str(tmp_path) not in status
    reason = f"PyAV: InvalidDataError: Invalid data found when processing input: '{upload}'"  # decoders name it
    assert hide_upload_path(reason, str(upload)) == "PyAV: InvalidDataError: Invalid data found when processing " \
                                                    "input: 'clip.mp4'"
    classes = app.predictor.classes
    assert example_label(clip, classes) == Path(clip).parent.name.replace("_", " ") in classes
    assert example_label(str(upload), classes) == "clip.mp4"


def test_served_page_translates_gradios_complete_and_prints_no_share_hint(data, run, tmp_path, capfd):
    from mmlookup.inference import Predictor
    from mmlookup.inference.app import serve

    clip = a_clip(data)
    blocks = serve(Predictor.from_pretrained(run, verbose=False), examples=[str(clip)], port=_free_port(),
                   block=False)
    try:
        config = json.loads(urllib.request.urlopen(blocks.local_url + "config", timeout=30).read())
    finally:
        blocks.close()
    assert config["i18n_translations"]["en"]["common.complete"] == "Complete"  # the page showed the raw key
    examples = [c["props"] for c in config["components"] if c.get("type") == "dataset"]
    assert [e["sample_labels"] for e in examples] == [[clip.parent.name.replace("_", " ")]]  # the class, not the id
    printed = capfd.readouterr()
    assert "share=True" not in printed.out + printed.err


def test_a_port_in_use_or_out_of_range_is_one_line_before_the_model_loads(tmp_path, capsys):
    missing = str(tmp_path / "no_model")  # the port is checked first: no model is needed to see its error
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["app", missing, "--port", str(port)]) == 2
        err = capsys.readouterr().err
        assert err == f"mmlookup app: error: port {port} on 127.0.0.1 is in use (another app or server listens " \
                      "there); pick another with --port\n"
    for bad in ("99999", "0", "-1"):
        assert main(["app", missing, "--port", bad]) == 2
        assert capsys.readouterr().err == f"mmlookup app: error: --port {bad} is not a TCP port; valid: 1 to 65535\n"
    assert main(["app", missing, "--port", str(port)]) == 2   # free now: the next mistake is the model
    assert "no_model" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_http(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mmlookup app exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"mmlookup app did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def require_browser(path: str, env: Mapping[str, str]) -> None:
    """Return when the browser at ``path`` exists; otherwise skip with a one-line reason, or fail under ``CI=true``."""
    if os.path.exists(path):
        return
    reason = f"Debian's chromium is missing ({path}); tools/test.sh installs it as root with apt-get"
    if env.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"{reason} (CI=true: the browser test must run)", pytrace=False)
    pytest.skip(f"{reason}; skipped outside CI")


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_a_missing_browser_fails_under_ci(tmp_path, ci):
    with pytest.raises(pytest.fail.Exception, match="chromium is missing .*CI=true"):
        require_browser(str(tmp_path / "chromium"), {"CI": ci})


@pytest.mark.parametrize("env", [{}, {"CI": ""}, {"CI": "false"}])
def test_a_missing_browser_skips_outside_ci_with_one_line(tmp_path, env):
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_browser(str(tmp_path / "chromium"), env)
    assert "chromium is missing" in str(skipped.value) and "\n" not in str(skipped.value)


def test_a_present_browser_runs_the_test_in_and_outside_ci(tmp_path):
    browser = tmp_path / "chromium"
    browser.write_text("")
    for env in ({}, {"CI": "true"}):
        require_browser(str(browser), env)                   # neither skips nor fails


def test_page_in_headless_chromium_shows_the_clis_labels(data, run, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (mmlookup[dev])")
    require_browser(CHROMIUM, os.environ)
    clip = a_clip(data)
    out = tmp_path / "cli.json"
    assert main(["predict", str(run), str(clip), "--top-k", "5", "--json", str(out)]) == 0
    expected = [x["label"] for x in json.loads(out.read_text())["results"][0]["labels"]]

    port = _free_port()
    log = tmp_path / "app.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "NO_PROXY": "127.0.0.1,localhost"}
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "mmlookup", "app", str(run), "--port", str(port),
                                 "--examples"], stdout=f, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for_http(url, proc, log, timeout=240)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True,
                                         timeout=60_000)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                page.goto(url, timeout=120_000)
                page.wait_for_selector("#media input[type=file]", state="attached", timeout=120_000)
                page.set_input_files("#media input[type=file]", str(clip))
                page.wait_for_function("() => (document.querySelector('#status')?.innerText || '')"
                                       ".includes('1 predicted')", timeout=180_000)
                page.wait_for_selector("#token_map img", timeout=60_000)
                page.wait_for_timeout(1000)                     # let the pending-state fade finish
                shown = page.inner_text("#labels")
                info = page.inner_text("#info")
                page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
                bad = tmp_path / "text.mp4"                     # a bad upload is reported and counted
                bad.write_text("a text file named .mp4")
                page.click("#media button[aria-label='Clear']")     # the file box shows the upload until cleared
                page.wait_for_selector("#media input[type=file]", state="attached", timeout=60_000)
                page.set_input_files("#media input[type=file]", str(bad))
                page.wait_for_function("() => (document.querySelector('#status')?.innerText || '')"
                                       ".includes('1 unreadable')", timeout=120_000)
                status = page.inner_text("#status")
            finally:
                browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    lines = [s.strip() for s in shown.splitlines() if s.strip()]
    found = [x for x in lines if x in expected]             # the heading (top-1), then one bar per label
    assert found[0] == expected[0] and found[1:] == expected, (lines, expected)
    assert "GMACs per view" in info and "latency" in info
    assert "unreadable: text.mp4" in status and "1 predicted (0 with notes), 1 unreadable" in status
    assert (tmp_path / "app.png").stat().st_size > 10_000
    if os.environ.get("MMLOOKUP_SCREENSHOT"):                 # docs: MMLOOKUP_SCREENSHOT=docs/app_screenshot.png
        shutil.copyfile(tmp_path / "app.png", os.environ["MMLOOKUP_SCREENSHOT"])
