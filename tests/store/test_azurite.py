"""The run store on Azure Blob Storage through adlfs, against Azurite (Microsoft's storage emulator) on 127.0.0.1.

Azurite comes from npm (``make azurite``; ``tests/_support/azurite.py`` finds and starts it); adlfs from the
``[azure-store]`` extra. Without either the tests skip and say which.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from _support.azurite import ACCOUNT_KEY, INSTALL_HINT, azurite_binary, running_azurite
from _support.nightly import nightly_runs
from llama_eval.rundir.store import final_rows, read_rows
from llama_eval.store import add_run, load_history, resolve_store


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    pytest.importorskip("adlfs", reason="adlfs is not installed: pip install 'llama-eval[azure-store]'")
    if azurite_binary() is None:
        pytest.skip(f"Azurite is not installed: {INSTALL_HINT}")
    with running_azurite(tmp_path_factory.mktemp("azurite")) as connection_string:
        yield connection_string


def test_runs_written_to_blob_storage_and_history_read_back(azurite, tmp_path):
    runs = nightly_runs(tmp_path / "runs", 3, deployments=2)
    location = resolve_store("abfs://llama-eval/store", storage_options={"connection_string": azurite})
    for run in runs:
        add_run(run, location)
    add_run(runs[0], location)  # again: replaced, not duplicated
    history = load_history(location, deployment="llama33-70b")
    for run in runs:
        add_run(run, tmp_path / "local-store")
    local = load_history(tmp_path / "local-store", deployment="llama33-70b")
    assert list(history["run_id"]) == [r.name for r in runs]
    assert list(history["requests"]) == [sum(1 for r in final_rows(read_rows(run)).values() if r["deployment"] == "llama33-70b") for run in runs]
    for column in ("ttft_p90_s", "score", "cost_per_1k_usd", "error_rate"):
        assert list(history[column]) == list(local[column]), f"{column}: Azure Blob and a local folder give the same history"


def test_the_cli_reaches_blob_storage_with_the_connection_string_from_the_environment(azurite, tmp_path):
    (run,) = nightly_runs(tmp_path / "runs", 1, deployments=1)
    env = {**os.environ, "AZURE_STORAGE_CONNECTION_STRING": azurite, "LLAMA_EVAL_STORE": "abfs://cli-store/nightly"}
    added = subprocess.run([sys.executable, "-m", "llama_eval.cli", "store", "add", str(run)], capture_output=True, text=True, env=env)
    assert added.returncode == 0, added.stderr
    assert "abfs://cli-store/nightly" in added.stderr and ACCOUNT_KEY not in added.stderr
    shown = subprocess.run([sys.executable, "-m", "llama_eval.cli", "history", "--json"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0, shown.stderr
    (record,) = json.loads(shown.stdout)
    assert record["run_id"] == run.name and record["requests"] == 24 and ACCOUNT_KEY not in shown.stdout + shown.stderr
