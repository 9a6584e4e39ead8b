"""environment.yml must list exactly the packages pyproject.toml depends on."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_environment_yml_matches_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = pyproject["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pinned = [p for p in pip_section if not p.startswith("-e")]
    assert _names(pinned) == _names(deps)
    assert sorted(pinned) == sorted(deps), "versions must match too"
    assert "-e .[dev]" in pip_section
    assert "python=3.11" in env["dependencies"]


def test_product_card_packages_are_dependencies():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = _names(pyproject["project"]["dependencies"] + pyproject["project"]["optional-dependencies"]["dev"])
    assert {"jupyterlab", "papermill", "azure-ai-inference", "pandas", "plotly", "nbval"} <= names


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
