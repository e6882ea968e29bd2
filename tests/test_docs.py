"""The documentation's moving parts: the CLI reference generator (tools/mkdocs_hooks.py) and the README's links.

The full site build (`mkdocs build --strict`) runs in CI (.ci/run); these tests are the fast part of it.
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hooks():
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", REPO / "tools" / "mkdocs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_capture_takes_the_parser_before_the_command_runs(hooks):
    ran = []
    original = argparse.ArgumentParser.parse_known_args

    def command(argv):
        p = argparse.ArgumentParser(prog="mmlookup toy")
        p.add_argument("--n", type=int, default=3)
        p.parse_args(argv)
        ran.append(True)
        return 0

    parser = hooks.capture_parser(command, [])
    assert parser.prog == "mmlookup toy" and not ran
    assert argparse.ArgumentParser.parse_known_args is original  # restored
    assert hooks.capture_parser(lambda argv: 0, []) is None


def _toy_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--resume", metavar="auto|DIR")
    return p


def test_every_command_and_subcommand_is_walked(hooks, monkeypatch):
    import mmlookup.cli

    toy = types.ModuleType("toy_cli")
    toy.plain = lambda argv: _toy_parser("mmlookup plain").parse_args(argv)
    toy.SUBCOMMANDS = {"one": lambda argv: _toy_parser("mmlookup tools one").parse_args(argv)}
    toy.dispatch = lambda argv: 2 if not argv else toy.SUBCOMMANDS[argv[0]](argv[1:])
    monkeypatch.setitem(sys.modules, "toy_cli", toy)
    monkeypatch.setattr(mmlookup.cli, "COMMANDS", {"plain": ("toy_cli:plain", "a plain command"),
                                                   "tools": ("toy_cli:dispatch", "tools")})
    entries = hooks.command_parsers()
    assert [(line, p.prog) for line, _, p in entries] == [("mmlookup plain", "mmlookup plain"),
                                                         ("mmlookup tools one", "mmlookup tools one")]
    text = hooks.parser_markdown(*entries[0])
    assert "<code>--resume auto&#124;DIR</code>" in text  # a pipe in a table cell must not split it
    assert "## `mmlookup plain`" in text and "A plain command." in text
    del toy.SUBCOMMANDS  # a command that parses nothing and dispatches nowhere fails the build
    with pytest.raises(RuntimeError, match="mmlookup tools: no argparse parser"):
        hooks.command_parsers()


def test_parser_markdown_table(hooks):
    p = argparse.ArgumentParser(prog="mmlookup toy", description="Does a <thing>.")
    p.add_argument("path")
    p.add_argument("--mode", choices=["a", "b"], default="a", help="pick %(default)s or b | c")
    p.add_argument("--flag", action="store_true", help="on")
    text = hooks.parser_markdown("mmlookup toy", "", p)
    assert "| <code>path</code> |  |" in text
    assert "| <code>--mode {a,b}</code> | <code>a</code> | pick a or b &#124; c |" in text
    assert "| <code>--flag</code> |  | on |" in text
    assert "Does a &lt;thing&gt;." in text


def test_recipe_sections_come_from_the_docstrings(hooks):
    text = hooks.recipes_markdown("k400")
    for file in (REPO / "recipes" / "k400").glob("*.py"):
        assert f"### `k400/{file.stem}`" in text
    assert "Expected:" in text
    with pytest.raises(RuntimeError):
        hooks.recipes_markdown("no_such_folder")


def test_sphinx_roles_leave_only_the_code(hooks):
    html_text = 'see :class:<code>~mmlookup.encoders.vit.VideoViT</code> and :func:<code class="x">f</code>; a:b'
    assert hooks.on_page_content(html_text, None, None, None) == (
        'see <code>mmlookup.encoders.vit.VideoViT</code> and <code class="x">f</code>; a:b')


def test_readme_is_a_landing_page_whose_links_exist():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    commands = re.findall(r"^bash tools/\S+.*$", text, flags=re.M)
    assert commands[0].startswith("bash tools/setup.sh && .venv/bin/mmlookup demo")
    assert commands[1].startswith("bash tools/test.sh")
    links = re.findall(r"\]\(((?!https?://)[^)#\s]+)(?:#[^)]*)?\)", text)
    assert len(links) > 10
    missing = [link for link in links if not (REPO / link).exists()]
    assert not missing, missing


def test_documented_commands_and_defaults_write_under_runs_not_into_the_checkout(tmp_path, monkeypatch, capsys):
    # `--json out.json`, `--out accuracy.png`, visualize's token_maps/ and gpu_check.md landed in the repo root,
    # which git does not ignore; runs/ is ignored
    assert "/runs/" in (REPO / ".gitignore").read_text().split()
    texts = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), *sorted((REPO / "mmlookup").rglob("*.py")),
             *sorted((REPO / "tools").glob("*.sh"))]
    bad = []
    for path in texts:
        for m in re.finditer(r"--(?:out|json|csv) ([\w./-]+)", path.read_text()):
            target = m.group(1)
            placeholder = target.split("/")[0].split(".")[0].isupper()  # FILE.png, OUT, DIR/...
            if placeholder or target.startswith(("/", "runs/", "$")):
                continue
            bad.append(f"{path.relative_to(REPO)}: {m.group(0)}")
    assert not bad, bad
    from PIL import Image

    from mmlookup.bench.gpu_check import main as gpu_check
    from mmlookup.cli import main

    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (32, 32), (90, 20, 200)).save(tmp_path / "a.png")
    assert main(["visualize", "a.png", "--encoder", "lookupvit_nano", "--img-size", "32"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "runs"]
    assert (tmp_path / "runs/token_maps/a_lookupvit_nano.png").is_file()
    with pytest.raises(SystemExit):
        gpu_check(["--help"])
    assert "(default runs/gpu_check.md)" in capsys.readouterr().out


def test_a_page_that_runs_the_demos_other_runs_says_how_to_make_them_first():
    # runs/demo/vit (evit, ats, tome) exist only after `mmlookup demo --all-encoders`; plain `demo` trains LookupViT
    missing = []
    for page in sorted((REPO / "docs").rglob("*.md")):
        text = page.read_text()
        blocks = [m for m in re.finditer(r"```(?:bash|sh)?\n(.*?)```", text, re.S)
                  if re.search(r"^mmlookup .*runs/demo/(?:vit|evit|ats|tome)\b", m.group(1), re.M)]
        if blocks and "--all-encoders" not in text[: blocks[0].end()]:
            missing.append(str(page.relative_to(REPO)))
    assert not missing, missing


def test_cli_reference_text_blocks_show_names_not_rst_markup(hooks):
    markdown = hooks.cli_markdown()
    blocks = re.findall(r"```text\n(.*?)```", markdown, re.S)
    assert len(blocks) > 20
    shown = [line for block in blocks for line in block.splitlines() if "``" in line or re.search(r":[a-z]+:`", line)]
    assert not shown, shown[:5]
    assert "For LookupViT two counts are shown: GFLOPs counts the logits" in markdown  # was ``GFLOPs``
    recipes = re.findall(r"```text\n(.*?)```", hooks.recipes_markdown("k400"), re.S)
    assert recipes and not [block for block in recipes if "``" in block]


def test_site_works_offline_scrolls_wide_content_and_its_home_page_lists_every_task():
    import yaml

    class Loader(yaml.SafeLoader):  # mkdocs.yml may hold !!python/name tags; only the theme is read here
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
    config = yaml.load((REPO / "mkdocs.yml").read_text(), Loader=Loader)
    assert config["theme"]["font"] is False  # Material would fetch Roboto from Google Fonts
    css = re.sub(r"/\*.*?\*/", "", (REPO / "docs/stylesheets/extra.css").read_text(), flags=re.S)
    rules = dict(re.findall(r"([^{}]+)\{([^}]*)\}", css))
    table = next(body for selector, body in rules.items() if ".md-typeset__table" in selector.split(",")[-1])
    assert "overflow-x: auto" in table
    assert any("pre > code" in s and "overflow-x: auto" in b for s, b in rules.items())
    tasks = next(item["Tasks"] for item in config["nav"] if isinstance(item, dict) and "Tasks" in item)
    home = (REPO / "docs/index.md").read_text()
    missing = [page for entry in tasks for page in entry.values() if f"]({page})" not in home]
    assert not missing, missing  # distillation was left out
