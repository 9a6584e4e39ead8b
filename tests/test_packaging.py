"""environment.yml must list exactly the packages pyproject.toml depends on."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from _support.installedwheel import in_work

ROOT = Path(__file__).resolve().parents[1]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


# on PyPI but not on conda-forge (conda-forge's openai stops at 2.x): these, and only these, go through pip
PIP_ONLY = {"openai", "llama-models"}


def test_environment_yml_matches_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = pyproject["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str) and d not in ("pip", "python=3.11")]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pinned = [p for p in pip_section if not p.startswith("-e")]
    assert _names(pinned) == PIP_ONLY, (
        f"pip is only for what conda-forge does not have: move {sorted(_names(pinned) - PIP_ONLY)} to the conda list "
        "(or, if conda-forge lacks it, add it to PIP_ONLY here)"
    )
    assert not _names(conda) & _names(pinned), "each package comes from one place"
    assert _names(conda) | _names(pinned) == _names(deps)
    assert sorted(conda + pinned) == sorted(deps), "versions must match too"
    assert "-e .[dev]" in pip_section
    assert "python=3.11" in env["dependencies"] and "pip" in env["dependencies"]


def test_product_card_packages_are_dependencies():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = _names(pyproject["project"]["dependencies"] + pyproject["project"]["optional-dependencies"]["dev"])
    assert {"jupyterlab", "papermill", "azure-ai-inference", "pandas", "plotly", "nbval"} <= names


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_ci_also_runs_the_fast_suite_as_a_clone_on_a_later_day():
    """Issue 28: after `make test`, CI runs `make test-anyday`, which hides ../shared and shifts the clock."""
    steps = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip().startswith("make ")]
    assert steps.index("make test") < steps.index("make test-anyday"), steps
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest-anyday:", 1)[1].split("\n\n", 1)[0]
    assert "LLAMA_EVAL_TEST_NO_SHARED=1" in recipe and "LLAMA_EVAL_TEST_CLOCK_SHIFT_DAYS=400" in recipe and "test-fast" in recipe, recipe


# ------------------------------------------------------------------ the wheel, installed outside the checkout

@pytest.mark.slow
def test_wheel_ships_data_and_notebooks(installed):
    import zipfile

    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    assert {"llama_eval/data/models.yaml", "llama_eval/data/prices.csv", "llama_eval/data/compute_prices.csv", "llama_eval/data/ptu_prices.csv"} <= names
    assert "llama_eval/data/prompts/quickstart.jsonl" in names and "llama_eval/data/prompts/images/red-square.png" in names
    assert "llama_eval/data/traces/example.csv" in names  # the trace the workloads guide replays
    assert {f"llama_eval/notebooks/{n.name}" for n in (ROOT / "notebooks").glob("*.ipynb")} <= names
    assert not any(n.startswith(("data/", "notebooks/", "tests/")) for n in names), "one copy of each file, inside the package"


@pytest.mark.slow
def test_installed_package_works_from_any_folder(installed, installed_demo):
    bin_ = installed["venv"] / "bin"
    api = "import llama_eval; print(llama_eval.__file__); [getattr(llama_eval, n) for n in llama_eval.__all__]; from llama_eval.emulator import start_emulator"
    probe = in_work(installed, str(installed["python"]), "-c", api)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().startswith(str(installed["venv"])), f"imported from {probe.stdout.strip()}, not from the installed wheel"

    models = in_work(installed, str(bin_ / "llama-eval"), "models")
    assert models.returncode == 0, models.stderr
    assert "Llama-3.3-70B-Instruct" in models.stdout and not models.stderr.strip()

    notebooks = in_work(installed, str(bin_ / "llama-eval"), "notebooks", "my-notebooks")
    assert notebooks.returncode == 0, notebooks.stderr
    assert sorted(p.name for p in (installed["work"] / "my-notebooks").glob("*.ipynb")) == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))

    demo = installed_demo  # llama-eval demo --repeats 1, run by the wheel's command from the work folder
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-3000:]
    assert (installed["work"] / "reports" / "demo" / "index.html").is_file(), "the demo writes under the current folder"
    assert (installed["work"] / "runs" / "demo" / "results.jsonl").is_file()
    assert "HTTP Request" not in demo.stderr


def test_every_subpackage_is_in_the_wheel_list():
    """pyproject lists packages by name (data/ and notebooks/ are mapped in): a new subpackage must be added there."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "llama_eval").rglob("__init__.py") if "__pycache__" not in p.parts}
    missing = sorted(found - listed)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml, or the wheel ships without them"
    assert {"llama_eval.data", "llama_eval.notebooks"} <= listed
