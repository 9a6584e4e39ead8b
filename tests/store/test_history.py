"""History from the store: every number equals pandas computed from the raw rows of results.jsonl and scores.jsonl."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from _support.nightly import nightly_runs
from llama_eval import load_history
from llama_eval.errors import StoreError
from llama_eval.rundir.store import final_rows, read_manifest, read_rows
from llama_eval.store import add_run


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    root = tmp_path_factory.mktemp("history") / "runs"
    runs = nightly_runs(root, 6, deployments=3, version_change_day=4, time_scale=0.5)  # emulated at 2x speed: the store must rescale
    for run in runs:
        add_run(run)
    return root, runs


def _expected(runs, deployment):
    """What history must say for ``deployment``, computed with pandas from each run's own files."""
    out = []
    for run in runs:
        rows = pd.DataFrame([r for r in final_rows(read_rows(run)).values() if r["deployment"] == deployment])
        scores = pd.DataFrame([json.loads(line) for line in (run / "scores.jsonl").read_text().splitlines()]).set_index("key")
        scale = read_manifest(run)["deployments"][deployment]["time_scale"]
        measured = rows[rows["status"].isin(["ok", "length"]) & ~rows["warmup"].eq(True)]
        cost = sum((Decimal(c) for c in rows["cost_usd"] if isinstance(c, str)), Decimal(0))
        out.append({
            "requests": len(rows), "errors": int((~rows["status"].isin(["ok", "length"])).sum()),
            "score": scores.loc[rows["key"]].groupby("prompt_id")["score"].mean().mean(),  # over prompts of the mean over repeats
            "ttft_p90_s": np.quantile(measured["ttft_s"] / scale, 0.9), "ttft_p50_s": np.quantile(measured["ttft_s"] / scale, 0.5),
            "e2e_p90_s": np.quantile(measured["e2e_s"] / scale, 0.9),
            "cost_per_1k_usd": (cost * 1000 / len(rows)).quantize(Decimal("0.000001")),
            "prompt_set_sha256": read_manifest(run)["prompt_set"]["sha256"],
        })  # fmt: skip
    return out


def test_history_equals_pandas_on_the_raw_rows(nightly):
    root, runs = nightly
    history = load_history(root / ".store", deployment="llama33-70b", since="2026-09-01")
    expected = _expected(runs, "llama33-70b")
    assert len(history) == len(runs) == 6
    assert list(history["run_id"]) == [r.name for r in runs], "oldest first"
    for got, want in zip(history.to_dict("records"), expected, strict=True):
        assert got["requests"] == want["requests"] and got["errors"] == want["errors"]
        assert got["error_rate"] == pytest.approx(want["errors"] / want["requests"])
        for name in ("score", "ttft_p50_s", "ttft_p90_s", "e2e_p90_s"):
            assert got[name] == pytest.approx(want[name], rel=1e-12), name
        assert got["cost_per_1k_usd"] == want["cost_per_1k_usd"] and isinstance(got["cost_per_1k_usd"], Decimal)
        assert got["prompt_set_sha256"] == want["prompt_set_sha256"] and got["emulated"]
    assert history["prompt_set_sha256"].nunique() == 2, "the prompt set changed version on night 5"
    assert (history["ttft_p90_s"] > 0.45).all(), "times are the emulated service's (measured at 2x speed, rescaled)"


def test_the_filters(nightly):
    root, runs = nightly
    everything = load_history(root / ".store")
    assert len(everything) == 6 * 3 and set(everything["deployment"]) == {"llama33-70b", "llama31-8b", "llama4-maverick"}
    window = load_history(root / ".store", since="2026-09-02", until="2026-09-03")
    assert sorted(set(window["date"].astype(str))) == ["2026-09-02", "2026-09-03"] and len(window) == 2 * 3
    by_model = load_history(root / ".store", model="Meta-Llama-3.1-8B-Instruct")
    assert set(by_model["deployment"]) == {"llama31-8b"} and len(by_model) == 6
    new_version = read_manifest(runs[-1])["prompt_set"]["sha256"]
    versioned = load_history(root / ".store", prompt_set=new_version[:10])
    assert set(versioned["run_id"]) == {runs[4].name, runs[5].name}
    assert len(load_history(root / ".store", prompt_set="prompts")) == 18
    assert load_history(root / ".store", deployment="nosuch").empty


def test_bad_filters_and_missing_stores_say_what_to_do(tmp_path, nightly):
    root, _ = nightly
    with pytest.raises(StoreError, match="since='Sept' is not a date; give it as YYYY-MM-DD"):
        load_history(root / ".store", since="Sept")
    with pytest.raises(StoreError, match="is after until"):
        load_history(root / ".store", since="2026-10-01", until="2026-09-01")
    with pytest.raises(StoreError, match="no run store at .*llama-eval store add"):
        load_history(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="holds no runs"):
        load_history(tmp_path / "empty")


def test_the_cli_table_json_and_csv(nightly, tmp_path):
    root, runs = nightly
    cmd = [sys.executable, "-m", "llama_eval.cli", "history", "--store", str(root / ".store"), "--deployment", "llama33-70b"]
    table = subprocess.run(cmd + ["--since", "2026-09-05"], capture_output=True, text=True, check=True)
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["date", "deployment", "model", "prompt_set"] and len(lines) == 2 + 2
    assert "service's time" in table.stderr and "emulated" in table.stderr
    records = json.loads(subprocess.run(cmd + ["--json"], capture_output=True, text=True, check=True).stdout)
    frame = load_history(root / ".store", deployment="llama33-70b")
    assert [r["ttft_p90_s"] for r in records] == pytest.approx(list(frame["ttft_p90_s"]))
    assert [Decimal(r["cost_per_1k_usd"]) for r in records] == list(frame["cost_per_1k_usd"])
    csv = subprocess.run(cmd + ["--csv"], capture_output=True, text=True, check=True).stdout
    assert pd.read_csv(pd.io.common.StringIO(csv))["requests"].tolist() == frame["requests"].tolist()
    bad = subprocess.run(cmd + ["--until", "yesterday"], capture_output=True, text=True)
    assert bad.returncode == 2 and "until='yesterday' is not a date" in bad.stderr and not bad.stdout


def test_store_add_backfills_from_run_directories(tmp_path):
    runs = nightly_runs(tmp_path / "runs", 2, deployments=1)
    store = tmp_path / "shared-store"
    done = subprocess.run([sys.executable, "-m", "llama_eval.cli", "store", "add", *map(str, runs), "--store", str(store)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("row(s) in 1 file(s) of the run store") == 2
    assert list(load_history(store)["run_id"]) == [r.name for r in runs]
    missing = subprocess.run([sys.executable, "-m", "llama_eval.cli", "store", "add", str(runs[0]), str(tmp_path / "nope"), "--store", str(tmp_path / "s2")],
                             capture_output=True, text=True)  # fmt: skip
    assert missing.returncode == 2 and "run directory not found" in missing.stderr and not (tmp_path / "s2").exists(), "every name is checked first"


def test_llama_eval_score_puts_the_scores_in_the_store(tmp_path):
    (run,) = nightly_runs(tmp_path / "runs", 1, deployments=1)
    manifest = read_manifest(run) | {"status": "completed"}
    from llama_eval.rundir.store import write_manifest

    write_manifest(run, manifest)
    (run / "scores.jsonl").unlink()
    add_run(run)
    assert load_history(tmp_path / "runs" / ".store").loc[0, "scored"] == 0
    done = subprocess.run([sys.executable, "-m", "llama_eval.cli", "score", str(run)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    history = load_history(tmp_path / "runs" / ".store")
    assert history.loc[0, "scored"] == 24 and 0 < history.loc[0, "score"] <= 1


def test_history_ingest_adds_then_answers_and_kind_all_shows_runs_and_sweeps(tmp_path):
    runs = nightly_runs(tmp_path / "runs", 2, deployments=1)
    store = tmp_path / "s"
    cmd = [sys.executable, "-m", "llama_eval.cli", "history", "--store", str(store), "--kind", "all", "--csv", "--ingest", *map(str, runs)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(pd.io.common.StringIO(done.stdout))
    assert frame["run_id"].tolist() == [r.name for r in runs] and set(frame["kind"]) == {"run"}
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert pd.read_csv(pd.io.common.StringIO(again.stdout))["requests"].tolist() == frame["requests"].tolist(), "ingesting twice adds nothing"
