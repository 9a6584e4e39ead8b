"""MkDocs hooks: the parts of the docs site that are generated from the code, so they cannot go stale.

* ``<!-- cli-help: CMD -->`` becomes the output of ``llama-eval CMD --help`` (``<!-- cli-help: -->`` the
  top-level help). A command of the parser with no such marker on the page is a warning.
* ``<!-- public-api -->`` becomes a table of ``llama_eval.__all__``: each name, where it is defined (read
  statically with griffe, as mkdocstrings does) and the first line of its docstring, linked to its entry.
* ``<!-- module-tree -->`` becomes the package tree, one row per module with the first line of its docstring,
  in the order of the layers below. A package or top-level module missing from ``LAYERS`` is a warning.
* A package or top-level module with no ``::: llama_eval.NAME`` page under ``reference/api/`` is a warning.

``mkdocs build --strict`` (``make docs``) turns each warning into a failed build.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import subprocess
import sys
from pathlib import Path

from mkdocs.plugins import get_plugin_logger

log = get_plugin_logger("llama_eval_docs")
ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "llama_eval"

# Lowest first. Imports flow down only: a module may import from its own layer's leaves and from the layers
# below it. ``run`` and ``emulator`` share a layer and do not import each other.
LAYERS: list[tuple[str, list[str], str]] = [
    ("leaves", ["errors", "records", "paths"], "exceptions and warnings, the typed records of a run, where bundled files are"),
    ("catalog", ["catalog"], "what can be deployed, what it costs, how Llama counts tokens"),
    ("deployments", ["deployments"], "which endpoints to evaluate, how to reach and pay for them"),
    ("endpoint", ["endpoint"], "talking to one deployment"),
    ("prompts", ["prompts"], "prompt sets and importers"),
    ("rundir", ["rundir"], "a run directory on disk"),
    ("quality", ["quality"], "scorers and statistics"),
    ("store", ["store"], "the run store: runs in Parquet, history with DuckDB"),
    ("run | emulator", ["run", "emulator"], "the runner; the local emulator"),
    ("load", ["load"], "load sweeps, SLOs, capacity"),
    ("cost", ["cost"], "actual, fixed-capacity and projected cost"),
    ("decide", ["decide"], "the recommendation"),
    ("compare", ["compare"], "run B against run A, the --fail-if gates, drift over scheduled runs"),
    ("report", ["report"], "report tables, figures and the papermill pipeline"),
    ("cli", ["cli", "demo"], "the command line, and the demo it runs"),
]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


# ----------------------------------------------------------------------------- the CLI

@functools.cache
def _help(command: str) -> str:
    env = {**os.environ, "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-m", "llama_eval.cli", *command.split(), "--help"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)  # fmt: skip
    if done.returncode != 0:
        log.warning("`llama-eval %s --help` failed: %s", command, done.stderr.strip()[-500:])
    return done.stdout.rstrip()


def _subcommands(help_text: str) -> list[str]:
    """The subcommands an argparse help lists: a ``{a,b,c}`` positional followed by one indented line per choice.

    (A positional that only takes choices, as ``import {gsm8k,...}``, has no such lines.)
    """
    match = re.search(r"^  \{([\w,-]+)\}\s*\n    ([\w-]+)", help_text, re.M)
    if not match or match.group(2) != match.group(1).split(",")[0]:
        return []
    return match.group(1).split(",")


def _all_commands(prefix: str = "") -> list[str]:
    found = []
    for name in _subcommands(_help(prefix)):
        command = f"{prefix} {name}".strip()
        found.append(command)
        found += _all_commands(command)
    return found


def _cli_page(markdown: str) -> str:
    shown = set()

    def replace(match: re.Match) -> str:
        command = match.group(1).strip()
        shown.add(command)
        return f"```text\n$ llama-eval {command + ' ' if command else ''}--help\n{_help(command)}\n```"

    markdown = re.sub(r"<!-- cli-help:([\w -]*)-->", replace, markdown)
    if shown:
        for command in _all_commands():
            if command not in shown:
                log.warning("the CLI page has no `<!-- cli-help: %s -->`: document `llama-eval %s`", command, command)
    return markdown


# ----------------------------------------------------------------------------- the public API

def _public_api() -> str:
    import griffe

    import llama_eval

    package = griffe.load("llama_eval", search_paths=[str(ROOT)])
    rows = ["| name | kind | defined in | what it is |", "| --- | --- | --- | --- |"]
    for name in sorted(llama_eval.__all__, key=str.lower):
        where = getattr(llama_eval, "_LAZY", {}).get(name, ".errors").lstrip(".")
        obj = package[f"{where}.{name}"]
        path = obj.canonical_path
        target = obj.final_target if obj.is_alias else obj
        summary = target.docstring.value.strip().split("\n")[0] if target.docstring else ""
        module = path.rsplit(".", 1)[0]
        rows.append(f"| [`{name}`][{path}] | {target.kind.value} | `{module}` | {_cell(summary)} |")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- the layout

def _docstring_line(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    return (doc or "").strip().split("\n")[0]


def _top_level() -> list[str]:
    """Packages and top-level modules of llama_eval (``__init__`` and ``__main__`` aside)."""
    names = [p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("__")]
    names += [p.parent.name for p in PACKAGE.glob("*/__init__.py")]
    return sorted(names)


def _layers() -> str:
    """The rule as one line, then the layers, lowest first, as a table."""
    rule = " → ".join(" | ".join(names) if " | " in layer else ", ".join(names) for layer, names, _ in LAYERS)
    rows = [f"`{rule}`", "", "| layer | holds |", "| --- | --- |"]
    for _, names, what in LAYERS:
        rows.append("| " + ", ".join(f"`{n}`" for n in names) + f" | {what} |")
    return "\n".join(rows)


def _module_tree() -> str:
    """The package tree as a table, lowest layer first, one row per module: its path and the first line of its docstring."""
    placed = {name for _, names, _ in LAYERS for name in names}
    for name in _top_level():
        if name not in placed:
            log.warning("llama_eval.%s is in no layer: add it to LAYERS in docs/hooks.py (and to the layout page's text)", name)
    indent = "&nbsp;" * 4
    rows = ["| module | what it is |", "| --- | --- |", f"| <code>llama_eval/__init__.py</code> | {_summary(PACKAGE / '__init__.py')} |"]
    for _, names, _ in LAYERS:
        for name in names:
            if (PACKAGE / name).is_dir():
                rows.append(f"| <code>{name}/</code> | {_summary(PACKAGE / name / '__init__.py')} |")
                rows += [f"| <code>{indent}{p.name}</code> | {_summary(p)} |" for p in sorted((PACKAGE / name).glob("*.py")) if not p.stem.startswith("__")]
            else:
                rows.append(f"| <code>{name}.py</code> | {_summary(PACKAGE / f'{name}.py')} |")
    return "\n".join(rows)


def _summary(path: Path) -> str:
    """The first line of a module's docstring, reStructuredText literals as Markdown ones, safe in a table cell."""
    return _cell(_docstring_line(path).replace("``", "`"))


# ----------------------------------------------------------------------------- hooks

def on_files(files, config):
    documented = set()
    for file in files:
        if file.src_uri.startswith("reference/api/") and file.src_uri.endswith(".md"):
            documented |= set(re.findall(r"^::: llama_eval\.(\w+)", Path(file.abs_src_path).read_text(encoding="utf-8"), re.M))
    for name in _top_level():
        if name not in documented:
            log.warning("llama_eval.%s has no API page: add `::: llama_eval.%s` to a page under docs/reference/api/", name, name)
    return files


def on_page_markdown(markdown, page, config, files):
    if "<!-- cli-help:" in markdown:
        markdown = _cli_page(markdown)
    if "<!-- public-api -->" in markdown:
        markdown = markdown.replace("<!-- public-api -->", _public_api())
    if "<!-- layers -->" in markdown:
        markdown = markdown.replace("<!-- layers -->", _layers())
    if "<!-- module-tree -->" in markdown:
        markdown = markdown.replace("<!-- module-tree -->", _module_tree())
    return markdown
