"""MkDocs hooks (``hooks:`` in ``mkdocs.yml``): pages generated from the code, so they cannot drift from it.

* ``<!-- mmlookup:cli -->`` in a page becomes the reference of every ``mmlookup`` sub-command, built from the
  argparse parsers themselves: each entry of :data:`mmlookup.cli.COMMANDS` is called with no arguments while
  ``ArgumentParser.parse_known_args`` is intercepted, so the parser the command builds is captured before it runs
  anything. Commands that dispatch further (``mmlookup data SUB``, ``mmlookup bench --train``) are walked too.
* ``<!-- mmlookup:recipes DIR -->`` becomes one section per recipe file under ``recipes/DIR/`` with its docstring
  (command, hardware, test protocol, expected result).
* Sphinx roles in docstrings (``:func:`x` ``) are dropped from the rendered API pages, leaving the code span.

A command that yields no parser fails the build, so a new sub-command is documented or the build says why not.
"""
from __future__ import annotations

import argparse
import ast
import html
import importlib
import io
import os
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
CLI_MARKER = "<!-- mmlookup:cli -->"
RECIPES_MARKER = re.compile(r"<!-- mmlookup:recipes (\S+) -->")

#: Flags with which a command hands the rest of the line to another parser (``mmlookup bench --train ...``).
MODE_FLAGS: dict[str, tuple[str, ...]] = {"bench": ("--train", "--data", "--caption")}


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


def capture_parser(func: Callable[[list[str]], Any], argv: list[str]) -> argparse.ArgumentParser | None:
    """The parser ``func(argv)`` parses its arguments with, or None if it returned without parsing any."""
    original = argparse.ArgumentParser.parse_known_args

    def intercept(self, *args, **kwargs):
        raise _Captured(self)

    argparse.ArgumentParser.parse_known_args = intercept  # type: ignore[method-assign]
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            func(argv)
    except _Captured as captured:
        return captured.parser
    finally:
        argparse.ArgumentParser.parse_known_args = original  # type: ignore[method-assign]
    return None


def command_parsers() -> list[tuple[str, str, argparse.ArgumentParser]]:
    """``(command line, one-line summary, parser)`` for every sub-command, in the order of ``mmlookup --help``."""
    from mmlookup.cli import COMMANDS

    found = []
    for name, (target, summary) in COMMANDS.items():
        module_name, func_name = target.split(":")
        module = importlib.import_module(module_name)
        func = getattr(module, func_name)
        parser = capture_parser(func, [])
        if parser is not None:
            found.append((f"mmlookup {name}", summary, parser))
        for flag in MODE_FLAGS.get(name, ()):
            sub = capture_parser(func, [flag])
            if sub is None:
                raise RuntimeError(f"mmlookup {name} {flag}: no argparse parser found")
            found.append((f"mmlookup {name} {flag}", "", sub))
        subcommands = getattr(module, "SUBCOMMANDS", None) if parser is None else None
        for sub_name, sub_func in (subcommands or {}).items():
            sub = capture_parser(sub_func, [])
            if sub is None:
                raise RuntimeError(f"mmlookup {name} {sub_name}: no argparse parser found")
            found.append((f"mmlookup {name} {sub_name}", "", sub))
        if parser is None and not subcommands:
            raise RuntimeError(f"mmlookup {name}: no argparse parser found (is it still built with argparse?)")
    return found


#: reStructuredText literals (````x````) and Sphinx roles (``:func:`~a.b` ``) of help texts and docstrings, which
#: a ``text`` block would show as typed: there the name alone is shown.
RST_MARKUP = re.compile(r"(?::[a-z]+:`~?([^`]+)`)|``(.+?)``")


def _text_block(text: str) -> list[str]:
    """A fenced ``text`` block of help text or a docstring, its RST markup reduced to the names."""
    return ["```text", RST_MARKUP.sub(lambda m: m.group(1) or m.group(2), text.strip()), "```", ""]


def _cell(text: str) -> str:
    return html.escape(" ".join(text.split()), quote=False).replace("|", "&#124;")


def _code(text: str) -> str:
    return f"<code>{_cell(text)}</code>"


def _expand_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    return parser._get_formatter()._expand_help(action)  # noqa: SLF001  (argparse's own %(default)s expansion


def _argument(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(action.option_strings)
        if action.nargs == 0:
            return _code(names)
        metavar = action.metavar or (("{" + ",".join(map(str, action.choices)) + "}") if action.choices
                                     else action.dest.upper())
        if isinstance(metavar, tuple):
            metavar = " ".join(metavar)
        return _code(f"{names} {metavar}")
    return _code(str(action.metavar or action.dest))


def _default(action: argparse.Action) -> str:
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS) or action.default == []:
        return ""
    return _code(str(action.default))


def parser_markdown(command: str, summary: str, parser: argparse.ArgumentParser) -> str:
    """One sub-command: usage, description and a table of its arguments, all from the parser."""
    slug = re.sub(r"[^a-z0-9]+", "-", command.lower()).strip("-")
    lines = [f"## `{command}` {{ #{slug} }}", ""]
    if summary:
        lines += [summary[0].upper() + summary[1:] + ".", ""]
    usage = parser.format_usage().strip()
    lines += _text_block(usage)
    if parser.description:
        lines += _text_block(parser.description) if "\n" in parser.description.strip() else \
            [_cell(parser.description), ""]
    rows = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]  # noqa: SLF001
    if rows:
        lines += ["| argument | default | description |", "|---|---|---|"]
        for action in rows:
            lines.append(f"| {_argument(action)} | {_default(action)} | {_cell(_expand_help(parser, action))} |")
        lines.append("")
    if parser.epilog:
        lines += _text_block(parser.epilog)
    return "\n".join(lines)


def cli_markdown() -> str:
    os.environ.setdefault("COLUMNS", "100")  # argparse wraps usage lines to the terminal width; make it fixed
    return "\n".join(parser_markdown(*entry) for entry in command_parsers())


def recipes_markdown(folder: str) -> str:
    """Every recipe of ``recipes/FOLDER`` with its docstring (the recipe's own statement of how to run it)."""
    root = REPO / "recipes" / folder
    files = sorted(root.glob("*.py"))
    if not files:
        raise RuntimeError(f"no recipes under {root}")
    parts = []
    for file in files:
        doc = ast.get_docstring(ast.parse(file.read_text())) or ""
        name = f"{folder}/{file.stem}"
        parts += [f"### `{name}`", "", *_text_block(doc)]
    return "\n".join(parts)


#: Sphinx cross-reference roles left in docstrings (``:func:`name` ``): mkdocstrings renders the role as text.
SPHINX_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|exc|obj):(<code[^>]*>)~?")


def on_page_content(html_text: str, page: Any, config: Any, files: Any) -> str:
    return SPHINX_ROLE.sub(r"\1", html_text)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_markdown())
    return RECIPES_MARKER.sub(lambda m: recipes_markdown(m.group(1)), markdown)
