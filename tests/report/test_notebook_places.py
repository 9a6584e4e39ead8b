"""The notebooks where people open them (issue 29): the report notebooks run with papermill from the repository
root, from ``notebooks/`` and from a ``llama-eval notebooks DIR`` folder, against the default ``runs/demo`` and
against a run named by ``run_dir``; ``10_evaluate`` runs out of the box (its own emulator) and speaks notebook
language; executed notebooks keep their progress bars in their final state and nothing informational on stderr;
the notebooks' kernel and default parameters are the ones JupyterLab and ``llama_eval.defaults`` use.

One small seeded emulator run, made once per session from the project folder as ``llama-eval demo`` makes its
run (the manifest records its prompt set as ``runs/demo/prompts.jsonl``, relative to the project), feeds them all.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _support.constants import FAKE_KEY
from llama_eval import Deployment, defaults
from llama_eval.emulator import start_emulator
from llama_eval.paths import bundled_notebooks, notebooks_dir
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.quality.scoring import score_run
from llama_eval.run import RunParams, run_evaluation

REPORT_NOTEBOOKS = ("20_quality", "30_latency", "40_cost", "50_summary")
MODELS = ("Llama-3.3-70B-Instruct", "Llama-4-Maverick-17B-128E-Instruct-FP8")
NAMES = ("l33", "maverick")


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """A project as a user has one: pyproject.toml at its root, runs/demo made from there, notebooks/ and a
    folder made by `llama-eval notebooks work` (the CLI, in a subprocess), and a second run outside the project."""
    root = tmp_path_factory.mktemp("project")
    (root / "pyproject.toml").write_text("[project]\nname = 'my-evals'\n", encoding="utf-8")
    run_dir = Path("runs") / "demo"
    cwd = Path.cwd()
    os.chdir(root)  # as `llama-eval demo` run here: every path the manifest records is relative to the project
    try:
        run_dir.mkdir(parents=True)
        prompts = run_dir / "prompts.jsonl"
        prompts.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"What is {i} plus {i}?", "reference": str(2 * i), "scorer": "numeric",
                                               "tags": ["math"]}) + "\n" for i in range(6)), encoding="utf-8")  # fmt: skip
        with start_emulator(time_scale=0.01, models=list(MODELS), prompt_sets=[prompts], key=FAKE_KEY, seed=29) as emu:
            os.environ["PLACES_TEST_KEY"] = emu.key
            deps = [Deployment(name=n, model=m, kind="serverless", endpoint=emu.deployment_url(m), key_env="PLACES_TEST_KEY")
                    for n, m in zip(NAMES, MODELS, strict=True)]
            run_evaluation(deps, load_prompt_set(prompts), run_dir, RunParams(repeats=2, temperature=0), progress="none", announce=lambda m: None)
        score_run(run_dir)
    finally:
        os.environ.pop("PLACES_TEST_KEY", None)
        os.chdir(cwd)
    assert json.loads((root / "runs" / "demo" / "manifest.json").read_text())["prompt_set"]["path"] == "runs/demo/prompts.jsonl"
    shutil.copytree(notebooks_dir(), root / "notebooks", ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    made = subprocess.run([sys.executable, "-m", "llama_eval.cli", "notebooks", "work"], cwd=root, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "copied-run"
    shutil.copytree(root / "runs" / "demo", elsewhere)  # a run moved away: its recorded prompt set is found beside it
    return root, elsewhere


def _papermill(notebook: Path, cwd: Path, out: Path, parameters: dict | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "papermill", str(notebook), str(out), "--cwd", str(cwd), "-k", "python3", "--no-progress-bar"]
    for name, value in (parameters or {}).items():
        args += ["-p", name, str(value)]
    return subprocess.run(args, capture_output=True, text=True, timeout=600)


def _outputs(executed: Path) -> list[dict]:
    return [o for cell in json.loads(executed.read_text())["cells"] for o in cell.get("outputs", [])]


def _text(outputs: list[dict]) -> str:
    parts = []
    for o in outputs:
        parts.append("".join(o.get("text", "")))
        for value in (o.get("data") or {}).values():
            parts.append(value if isinstance(value, str) else "".join(value) if isinstance(value, list) else json.dumps(value))
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("place", ["root", "notebooks", "work"])
def test_report_notebooks_run_from_each_place_against_the_default_demo_run(project, place, tmp_path):
    root, _ = project
    cwd = root if place == "root" else root / place
    folder = root / "notebooks" if place == "root" else cwd  # from the root, the notebooks are opened as notebooks/NAME
    for name in REPORT_NOTEBOOKS:
        out = tmp_path / f"{name}.ipynb"
        done = _papermill(folder / f"{name}.ipynb", cwd, out)
        assert done.returncode == 0, f"{name} from {place}: {done.stderr[-3000:]}"
        outputs = _outputs(out)
        assert not [o for o in outputs if o["output_type"] == "error"]
        stderr = [o for o in outputs if o.get("name") == "stderr"]
        assert not stderr, f"{name} from {place} wrote to stderr (a red box in JupyterLab): {_text(stderr)}"
        text = _text(outputs)
        assert "l33" in text and "maverick" in text, f"{name} from {place} shows the run's deployments"
        if name in ("40_cost", "50_summary"):
            assert f"Assumed: {defaults.DEFAULT_REQUESTS_PER_DAY:,} requests/day" in text and defaults.DEFAULT_SLO in text
        if name in ("30_latency", "50_summary"):
            assert "time scale 0.01 (100x the service speed, times rescaled)" in text and "seed not recorded" in text
    assert not (cwd / "runs").exists() or cwd == root, "nothing written beside the notebooks"


@pytest.mark.slow
def test_report_notebooks_take_a_given_run_dir(project, tmp_path):
    """A run outside the project, named by an absolute run_dir, from the `llama-eval notebooks` folder; and a misspelt
    relative run_dir fails naming every place looked."""
    root, elsewhere = project
    for name in ("20_quality", "50_summary"):
        out = tmp_path / f"{name}.ipynb"
        done = _papermill(root / "work" / f"{name}.ipynb", root / "work", out, {"run_dir": elsewhere})
        assert done.returncode == 0, done.stderr[-3000:]
        assert "l33" in _text(_outputs(out))
    done = _papermill(root / "work" / "20_quality.ipynb", root / "work", tmp_path / "typo.ipynb", {"run_dir": "runs/dmeo"})
    assert done.returncode != 0
    assert "RunDirNotFoundError" in done.stderr and f"{root / 'work' / 'runs' / 'dmeo'}" in done.stderr and f"{root / 'runs' / 'dmeo'}" in done.stderr


@pytest.mark.slow
def test_evaluate_starts_its_own_emulator_with_default_parameters_and_speaks_notebook_language(project, tmp_path):
    """10_evaluate as shipped (no deployments_file, no key set) from the `llama-eval notebooks` folder: it says it started
    an emulator, every progress bar ends at its total, nothing informational goes to stderr; run again without resume it
    asks for `resume = True` in the parameters cell, before any request."""
    root, _ = project
    env = {k: v for k, v in os.environ.items() if k != "LLAMA_EVAL_EMULATOR_KEY"}
    out = tmp_path / "10_evaluate.ipynb"
    args = [sys.executable, "-m", "papermill", str(root / "work" / "10_evaluate.ipynb"), str(out), "--cwd", str(root / "work"), "-k", "python3",
            "--no-progress-bar", "-p", "emulator_time_scale", "0.05", "-p", "run_dir", "runs/nb-default"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = (root / "runs" / "nb-default" / "results.jsonl").read_text().splitlines()
    assert len(rows) == 20 and all(json.loads(r)["status"] in ("ok", "length") for r in rows), "10 quickstart prompts x 2 emulated deployments, answered"
    outputs = _outputs(out)
    text = _text(outputs)
    assert "No deployments_file set: started a local emulator" in text and "SIMULATED" in text
    assert "Estimated cost before the run" in text, "the pre-run estimate is shown"
    stderr = [o for o in outputs if o.get("name") == "stderr"]
    assert not stderr, f"informational output on stderr (a red box in JupyterLab): {_text(stderr)}"
    bars = [line for line in text.splitlines() if "req" in line and "|" in line]
    assert len(bars) == 2 and all("10/10" in b and "finished" in b for b in bars), bars
    assert not re.search(r"(?<!\d)0/10", text), "no bar left at its start"
    assert FAKE_KEY not in out.read_text()
    again = subprocess.run([*args[:4], str(tmp_path / "again.ipynb"), *args[5:]], capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode != 0
    assert "set resume = True in the parameters cell" in again.stderr and "--resume" not in again.stderr


def test_notebooks_use_the_kernel_jupyterlab_writes():
    """Opening a notebook in JupyterLab rewrites metadata.kernelspec to the kernel's own spec: each notebook holds
    exactly that spec (the python3 kernel of ipykernel), so opening one changes nothing."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    expected = {"display_name": spec.display_name, "language": spec.language, "name": "python3"}
    notebooks = bundled_notebooks()
    assert len(notebooks) == 7
    for path in notebooks:
        assert json.loads(path.read_text())["metadata"]["kernelspec"] == expected, path.name


def _parameters(name: str) -> dict:
    cells = json.loads((notebooks_dir() / f"{name}.ipynb").read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(source).body if isinstance(node, ast.Assign)}


def test_parameters_cells_use_the_defaults():
    expected = {"requests_per_day": defaults.DEFAULT_REQUESTS_PER_DAY, "peak_rps": defaults.DEFAULT_PEAK_RPS, "slo": defaults.DEFAULT_SLO}
    for name in ("40_cost", "50_summary"):
        assert {k: _parameters(name)[k] for k in expected} == expected, name
    assert _parameters("30_latency")["slo"] == defaults.DEFAULT_SLO
    for name in REPORT_NOTEBOOKS:
        assert _parameters(name)["run_dir"] == "runs/demo", name
    assert _parameters("10_evaluate")["deployments_file"] is None, "out of the box: its own emulator"


def test_papermill_reads_every_parameters_cell(caplog):
    """papermill reads the parameters cells (it warns "Unable to parse" on a line with two "=" and then calls a passed
    parameter unknown, on the report's terminal): every parameter is known, and nothing is left unread."""
    import logging

    from papermill.inspection import inspect_notebook

    for path in bundled_notebooks():
        with caplog.at_level(logging.WARNING, logger="papermill"):
            found = inspect_notebook(str(path))
        if path.stem in ("30_latency", "40_cost", "50_summary"):
            assert "slo" in found, path.name
        if path.stem in REPORT_NOTEBOOKS:
            assert "run_dir" in found, path.name
    assert not [r for r in caplog.records if "Unable to parse" in r.getMessage()]
