"""10_evaluate as a user opens it: the same relative paths from a project folder, from notebooks/ under it and
from a folder made by `llama-eval notebooks DIR`; and a loud failure (papermill exits non-zero) when no request succeeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from _support.constants import FAKE_KEY
from llama_eval.emulator import start_emulator
from llama_eval.paths import PathNotFoundError, copy_notebooks, resolve_output, resolve_path

MODEL = "Llama-3.3-70B-Instruct"


def _papermill(notebook, cwd, parameters, env):
    args = [sys.executable, "-m", "papermill", str(notebook), str(cwd / "out.ipynb"), "--cwd", str(cwd), "-k", "python3", "--no-progress-bar"]
    for name, value in parameters.items():
        args += ["-p", name, str(value)]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def project(tmp_path):
    """A user's project folder: a deployments file, runs/, and the notebooks copied into notebooks/."""
    (tmp_path / "runs").mkdir()
    copy_notebooks(tmp_path / "notebooks")
    return tmp_path


def test_relative_paths_resolve_from_the_project_and_from_notebooks(project):
    with start_emulator(time_scale=0, models=[MODEL], key=FAKE_KEY) as emu:
        (project / "deployments.yaml").write_text(
            f"deployments:\n  - name: l33\n    model: {MODEL}\n    endpoint: {emu.deployment_url(MODEL)}\n    key_env: NB_KEY\n", encoding="utf-8"
        )
        env = {**os.environ, "NB_KEY": FAKE_KEY}
        notebook = project / "notebooks" / "10_evaluate.ipynb"
        # data/prompts/... is not in the project: it comes from the package's bundled data
        common = {"deployments_file": "deployments.yaml", "prompt_set": "data/prompts/quickstart.jsonl"}
        for cwd, name in ((project, "from-root"), (project / "notebooks", "from-notebooks")):
            done = _papermill(notebook, cwd, {**common, "run_dir": f"runs/{name}"}, env)
            assert done.returncode == 0, done.stderr[-3000:]
            rows = (project / "runs" / name / "results.jsonl").read_text().splitlines()
            assert len(rows) == 10 and all(json.loads(r)["status"] in ("ok", "length") for r in rows)
    assert not (project / "notebooks" / "runs").exists(), "runs/ is the project's, not one inside notebooks/"
    for out in project.rglob("*.ipynb"):
        assert FAKE_KEY not in out.read_text()


def test_no_successful_request_fails_the_notebook_with_the_reason(project):
    (project / "deployments.yaml").write_text(
        f"deployments:\n  - name: nowhere\n    model: {MODEL}\n    endpoint: http://127.0.0.1:9/{MODEL}\n    key_env: NB_KEY\n", encoding="utf-8"
    )
    env = {**os.environ, "NB_KEY": FAKE_KEY}
    done = _papermill(project / "notebooks" / "10_evaluate.ipynb", project / "notebooks", {"deployments_file": "deployments.yaml", "run_dir": "runs/down"}, env)
    assert done.returncode != 0
    assert "NoSuccessfulRequestsError: no request succeeded in" in done.stderr
    # the reason: a row per failed request, or the deployment stopped before any (a probe that could not connect)
    assert ("nowhere: 1 x connection_error" in done.stderr or "nowhere stopped:" in done.stderr) and "Is the endpoint reachable?" in done.stderr


def test_resolve_path_rules(tmp_path, monkeypatch):
    (tmp_path / "runs" / "demo").mkdir(parents=True)
    (tmp_path / "nb").mkdir()
    monkeypatch.chdir(tmp_path / "nb")
    assert resolve_path("runs/demo") == tmp_path / "runs" / "demo"
    assert resolve_path("data/models.yaml").name == "models.yaml"  # the bundled copy
    with pytest.raises(PathNotFoundError, match=r"run directory not found: runs/tyop \(looked in .*nb/runs/tyop"):
        resolve_path("runs/tyop", what="run directory")
    assert resolve_output("runs/new") == tmp_path / "runs" / "new"
    assert resolve_output("out.csv") == tmp_path / "nb" / "out.csv"
    assert resolve_output(tmp_path / "x") == tmp_path / "x"
