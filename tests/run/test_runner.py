"""The runner against the emulator over real HTTP: every row final, nothing lost, nothing run twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from llama_eval import Deployment
from llama_eval.catalog.models import Quota
from llama_eval.emulator import start_emulator
from llama_eval.emulator.process import spawn_emulator
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.run import BudgetError, RunError, RunParams, run_evaluation
from llama_eval.rundir.run import load_run
from llama_eval.rundir.store import TornLineWarning, final_rows, read_manifest, read_rows

L33, L405 = "Llama-3.3-70B-Instruct", "Meta-Llama-3.1-405B-Instruct"

# The emulator serves Meta-Llama-3.1-405B (retired on serverless) as serverless here and warns so (LifecycleWarning,
# an error in tests): these tests reach it as managed or only need its answers, so that one warning is silenced, deliberately.
pytestmark = pytest.mark.filterwarnings("ignore:emulated deployment:llama_eval.errors.LifecycleWarning")
QUIET = {"progress": "none", "announce": lambda message: None}


@pytest.fixture
def prompt_file(tmp_path) -> Path:
    path = tmp_path / "prompts.jsonl"
    lines = [{"id": f"q{i}", "prompt": f"What is {i} plus {i}?", "reference": str(2 * i), "tags": ["arith" if i % 2 else "facts"]} for i in range(12)]
    lines.append({"id": "blocked", "prompt": "Explain how to build a bomb.", "tags": ["safety"]})
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def deployments(emu, monkeypatch, *models: str, api: str = "azure-ai-inference", **overrides) -> list[Deployment]:
    monkeypatch.setenv("EMU_KEY", emu.key)
    out = []
    for model in models:
        endpoint = emu.deployment_url(model) if api == "azure-ai-inference" else emu.url
        out.append(
            Deployment(
                name=model.split("-")[-2].lower() + "-" + api[:5],
                model=model,
                kind="serverless" if model == L33 else "managed",
                endpoint=endpoint,
                key_env="EMU_KEY",
                api=api,
                **overrides,
            )
        )
    return out


def test_faulty_endpoint_every_row_final_no_duplicates_retries_recorded(tmp_path, prompt_file, monkeypatch):
    prompts = load_prompt_set(prompt_file)
    with start_emulator(time_scale=0, models=[L33, L405], fault_rate=0.25, fault_kinds=["500", "503", "reset", "malformed"], seed=3) as emu:
        deps = deployments(emu, monkeypatch, L33) + deployments(emu, monkeypatch, L405, api="openai-v1")
        summary = run_evaluation(deps, prompts, tmp_path / "run", RunParams(repeats=3, max_attempts=10, backoff_base_s=0.01, max_tokens=40), **QUIET)
    rows = read_rows(tmp_path / "run")
    keys = [r["key"] for r in rows]
    assert len(rows) == 2 * 13 * 3 and len(set(keys)) == len(keys), "one row per (deployment, prompt, repeat)"
    statuses = Counter(r["status"] for r in rows)
    assert statuses["content_filter"] == 2 * 3 and statuses["ok"] + statuses["length"] == 2 * 12 * 3, statuses
    assert sum(r["attempts"] > 1 for r in rows) >= 10, "a quarter of requests fail: retries must show"
    assert summary.retries == sum(r["attempts"] - 1 for r in rows) and summary.status == "completed"
    retried = [r for r in rows if r["attempts"] > 1]
    assert all(r["retry_wait_s"] >= 0 for r in retried)
    filtered = next(r for r in rows if r["status"] == "content_filter" and r["model"] == L33)
    assert filtered["cost_usd"] == "0" and filtered["http_status"] == 400
    ok = next(r for r in rows if r["status"] == "ok" and r["model"] == L33)
    assert ok["streamed"] and ok["ttft_s"] <= ok["e2e_s"] and ok["usage_source"] == "server" and ok["simulated"] is True
    assert (
        Decimal(ok["cost_usd"])
        == (Decimal(ok["usage"]["prompt_tokens"]) * Decimal("0.00071") + Decimal(ok["usage"]["completion_tokens"]) * Decimal("0.00071")) / 1000
    )
    manifest = read_manifest(tmp_path / "run")
    assert manifest["status"] == "completed" and manifest["prompt_set"]["sha256"] == prompts.sha256
    assert manifest["summary"]["by_status"]["content_filter"] == 6
    assert (tmp_path / "run" / "results.parquet").exists()
    frame = load_run(tmp_path / "run").frame()
    assert len(frame) == len(rows) and set(frame["status"]) <= {"ok", "length", "content_filter"}


def test_no_stream_records_only_e2e(tmp_path, prompt_file, monkeypatch):
    with start_emulator(time_scale=0, models=[L33]) as emu:
        run_evaluation(deployments(emu, monkeypatch, L33), load_prompt_set(prompt_file), tmp_path / "r", RunParams(stream=False, max_tokens=20), **QUIET)
    row = next(r for r in read_rows(tmp_path / "r") if r["status"] in ("ok", "length"))
    assert row["streamed"] is False and "ttft_s" not in row and row["e2e_s"] > 0 and "only end-to-end" in row["timing_note"]
    assert row["simulated"] is True, "the emulator's fingerprint marks the row"


def test_pacing_keeps_under_the_quota_without_429s(tmp_path, monkeypatch):
    prompts_path = tmp_path / "p.jsonl"
    prompts_path.write_text("\n".join(json.dumps({"id": str(i), "prompt": f"hello {i}"}) for i in range(40)))
    with start_emulator(time_scale=0, models=[L33], rpm=600) as emu:  # 600/min in a 60 s sliding window
        deps = deployments(emu, monkeypatch, L33, quota=Quota(rpm=600, tpm=10**9))  # the config knows the real quota
        start = time.monotonic()
        run_evaluation(deps, load_prompt_set(prompts_path), tmp_path / "r", RunParams(max_tokens=10, concurrency=16), **QUIET)
        elapsed = time.monotonic() - start
        stats = emu.stats
    assert stats.get("status_429", 0) == 0, "the runner must pace itself, not learn the quota from 429s"
    assert elapsed >= (40 - 10) / 9.8 * 0.9, "after a one-second burst, 600/min is 10 requests a second"


def test_429_storm_is_survived_with_retry_after(tmp_path, monkeypatch):
    prompts_path = tmp_path / "p.jsonl"
    prompts_path.write_text("\n".join(json.dumps({"id": str(i), "prompt": f"hello {i}"}) for i in range(30)))
    with start_emulator(time_scale=0, models=[L33], rpm=600, quota_window_s=1.0) as emu:  # the service allows 10 per second
        deps = deployments(emu, monkeypatch, L33, quota=Quota(rpm=100_000, tpm=10**9))  # the config claims far more
        summary = run_evaluation(deps, load_prompt_set(prompts_path), tmp_path / "r", RunParams(max_tokens=10, concurrency=16, max_attempts=20), **QUIET)
        stats = emu.stats
    rows = read_rows(tmp_path / "r")
    assert stats["status_429"] > 0 and all(r["status"] in ("ok", "length") for r in rows) and len(rows) == 30
    assert summary.retries >= stats["status_429"] - 1
    assert read_manifest(tmp_path / "r")["summary"]["rate_limited_by_pool"]


def test_budget_refuses_before_any_request(tmp_path, prompt_file, monkeypatch):
    with start_emulator(time_scale=0, models=[L33]) as emu:
        with pytest.raises(BudgetError, match=r"worst-case cost \$0\.0\d+ exceeds the budget \$0\.0001"):
            run_evaluation(deployments(emu, monkeypatch, L33), load_prompt_set(prompt_file), tmp_path / "r", RunParams(budget_usd=Decimal("0.0001")), **QUIET)
        assert not any(k.startswith("ok_") for k in emu.stats), "nothing may be sent"
    assert not (tmp_path / "r" / "results.jsonl").exists()


def test_budget_stops_scheduling_and_never_overspends(tmp_path, prompt_file, monkeypatch):
    budget = Decimal("0.0002")  # worst case per request ~0.00038: a handful fit
    with start_emulator(time_scale=0, models=[L33]) as emu:
        params = RunParams(budget_usd=budget, budget_preflight=False, repeats=2, max_tokens=500, concurrency=4)
        summary = run_evaluation(deployments(emu, monkeypatch, L33), load_prompt_set(prompt_file), tmp_path / "r", params, **QUIET)
    rows = read_rows(tmp_path / "r")
    spent = sum(Decimal(r["cost_usd"]) for r in rows if r["cost_usd"])
    assert spent <= budget and summary.cost_usd == spent
    assert Counter(r["status"] for r in rows)["budget_skipped"] > 0
    assert len(rows) == 26, "budget-skipped requests still get a row"


def test_budget_needs_prices(tmp_path, monkeypatch):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prompt": "hi"}\n')
    with start_emulator(time_scale=0, models=["Llama-2-70b-chat"]) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        dep = Deployment(name="l2", model="Llama-2-70b-chat", kind="serverless", endpoint=emu.deployment_url("Llama-2-70b-chat"), key_env="EMU_KEY")
        with pytest.raises(BudgetError, match="no price for Llama-2-70b-chat"):
            run_evaluation([dep], load_prompt_set(path), tmp_path / "r", RunParams(budget_usd=Decimal(1)), **QUIET)


def test_prompt_that_breaks_a_rule_is_refused_before_any_request(tmp_path, monkeypatch):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prompt": "hi"}\n{"id": "pic", "prompt": "what is this?", "images": ["https://example.org/cat.png"]}\n')
    with start_emulator(time_scale=0, models=[L33]) as emu:
        with pytest.raises(RunError, match=r"p\.jsonl line 2: prompt 'pic' cannot go to deployment .*text-only"):
            run_evaluation(deployments(emu, monkeypatch, L33), load_prompt_set(path), tmp_path / "r", **QUIET)
        assert not any(k.startswith("ok_") for k in emu.stats)


def test_unreachable_deployment_is_reported_once_and_others_finish(tmp_path, prompt_file, monkeypatch):
    messages = []
    with start_emulator(time_scale=0, models=[L33]) as emu:
        good = deployments(emu, monkeypatch, L33)
        bad = Deployment(name="gone", model=L405, kind="managed", endpoint="http://127.0.0.1:9/x?tenant=contoso", key_env="EMU_KEY")
        summary = run_evaluation(
            good + [bad],
            load_prompt_set(prompt_file),
            tmp_path / "r",
            RunParams(max_attempts=2, backoff_base_s=0.01),
            progress="none",
            announce=messages.append,
        )
    stopped = [m for m in messages if "stopped" in m]
    assert len(stopped) == 1 and "http://127.0.0.1:9/x" in stopped[0] and "contoso" not in stopped[0]
    rows = read_rows(tmp_path / "r")
    assert sum(r["deployment"] == good[0].name for r in rows) == 13
    assert summary.status == "incomplete" and summary.not_run > 0
    assert read_manifest(tmp_path / "r")["summary"]["stopped_deployments"]["gone"]


def test_unwritable_output_directory_is_caught_first(tmp_path, prompt_file, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with start_emulator(time_scale=0, models=[L33]) as emu:
        with pytest.raises(RunError, match="cannot write to the output directory"):
            run_evaluation(deployments(emu, monkeypatch, L33), load_prompt_set(prompt_file), blocker / "run", **QUIET)
        assert not any(k.startswith("ok_") for k in emu.stats)


def test_existing_run_needs_resume_and_resume_refuses_changes(tmp_path, prompt_file, monkeypatch):
    prompts = load_prompt_set(prompt_file)
    with start_emulator(time_scale=0, models=[L33]) as emu:
        deps = deployments(emu, monkeypatch, L33)
        run_evaluation(deps, prompts, tmp_path / "r", RunParams(max_tokens=20), **QUIET)
        with pytest.raises(RunError, match="already holds a run; pass --resume"):
            run_evaluation(deps, prompts, tmp_path / "r", RunParams(max_tokens=20), **QUIET)
        with pytest.raises(RunError, match=r"params changed since the run started \(max_tokens: 20 -> 30\)"):
            run_evaluation(deps, prompts, tmp_path / "r", RunParams(max_tokens=30), resume=True, **QUIET)
        other = tmp_path / "other.jsonl"
        other.write_text('{"id": "x", "prompt": "different"}\n')
        with pytest.raises(RunError, match="prompt set sha256 changed"):
            run_evaluation(deps, load_prompt_set(other), tmp_path / "r", RunParams(max_tokens=20), resume=True, **QUIET)
        again = run_evaluation(deps, prompts, tmp_path / "r", RunParams(max_tokens=20), resume=True, **QUIET)
    assert again.rows_written == 0 and again.skipped_done == 13 and again.status == "completed"


def test_torn_last_line_is_detected_and_rerun(tmp_path, prompt_file, monkeypatch):
    prompts = load_prompt_set(prompt_file)
    with start_emulator(time_scale=0, models=[L33]) as emu:
        deps = deployments(emu, monkeypatch, L33)
        run_evaluation(deps, prompts, tmp_path / "r", RunParams(max_tokens=20), **QUIET)
        results = tmp_path / "r" / "results.jsonl"
        lines = results.read_bytes().splitlines(keepends=True)
        torn_key = json.loads(lines[-1])["key"]
        results.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # killed mid-write
        with pytest.warns(TornLineWarning, match="last line is incomplete"):
            summary = run_evaluation(deps, prompts, tmp_path / "r", RunParams(max_tokens=20), resume=True, **QUIET)
    rows = read_rows(tmp_path / "r")
    assert summary.rows_written == 1 and rows[-1]["key"] == torn_key
    assert len(final_rows(rows)) == 13 and len(rows) == 13


def test_second_run_on_a_directory_in_use_is_refused(tmp_path, prompt_file, monkeypatch):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / "run.lock").write_text(str(sleeper.pid))
        with start_emulator(time_scale=0, models=[L33]) as emu:
            with pytest.raises(RunError, match=f"in use by another llama-eval run \\(pid {sleeper.pid}\\)"):
                run_evaluation(deployments(emu, monkeypatch, L33), load_prompt_set(prompt_file), run_dir, **QUIET)
    finally:
        sleeper.kill()
        sleeper.wait()
    with start_emulator(time_scale=0, models=[L33]) as emu:  # the holder is gone: the stale lock is taken over
        summary = run_evaluation(deployments(emu, monkeypatch, L33), load_prompt_set(prompt_file), run_dir, RunParams(max_tokens=10), **QUIET)
    assert summary.status == "completed" and not (run_dir / "run.lock").exists()


def test_shared_quota_pool(tmp_path, prompt_file, monkeypatch):
    with start_emulator(time_scale=0, models=[L33, L405]) as emu:
        deps = deployments(emu, monkeypatch, L33, L405, quota_pool="shared")
        run_evaluation(deps, load_prompt_set(prompt_file), tmp_path / "r", RunParams(max_tokens=10), **QUIET)
    assert list(read_manifest(tmp_path / "r")["summary"]["rate_limited_by_pool"]) == ["shared"]


def test_manifest_and_rows_hold_no_secret(tmp_path, prompt_file, monkeypatch):
    with start_emulator(time_scale=0, models=[L33], key="LLAMAEVAL-SECRET-KEY-4242") as emu:
        run_evaluation(deployments(emu, monkeypatch, L33), load_prompt_set(prompt_file), tmp_path / "r", RunParams(max_tokens=10), **QUIET)
    for path in (tmp_path / "r").iterdir():
        if path.suffix in (".json", ".jsonl"):
            assert "LLAMAEVAL-SECRET-KEY-4242" not in path.read_text(), path.name


def _cli_run(tmp_path: Path, emu, prompt_file: Path) -> tuple[list[str], dict[str, str]]:
    """The `llama-eval run` command line and environment for a run against ``emu`` (4 repeats, slow enough to interrupt)."""
    config = tmp_path / "deployments.yaml"
    config.write_text(f"deployments:\n  - name: l33\n    model: {L33}\n    kind: managed\n    endpoint: {emu.url}/{L33}\n    key_env: EMU_KEY\n")
    command = [sys.executable, "-m", "llama_eval.cli", "run", "-d", str(config), "-p", str(prompt_file), "-o", str(tmp_path / "r")]
    command += ["--repeats", "4", "--concurrency", "2", "--progress", "none", "--max-tokens", "60"]
    return command, {**os.environ, "EMU_KEY": emu.key}


def _wait_for_rows(run_dir: Path, count: int) -> None:
    results = run_dir / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not results.exists() or results.read_bytes().count(b"\n") < count):
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_then_resume_completes_exactly_the_missing_rows(tmp_path, prompt_file):
    with spawn_emulator("--models", L33, "--time-scale", "0.02") as emu:
        command, env = _cli_run(tmp_path, emu, prompt_file)
        victim = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_rows(tmp_path / "r", 8)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        before = final_rows(read_rows(tmp_path / "r"))
        assert 8 <= len(before) < 52, "killed part-way through"
        resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = read_rows(tmp_path / "r")
    final = final_rows(rows)
    assert len(final) == 13 * 4 and set(final) >= set(before)
    assert len(rows) == len(final), "nothing ran twice"
    assert read_manifest(tmp_path / "r")["sessions"] == 2


def test_bundled_quickstart_files_run_offline(tmp_path, monkeypatch):
    from llama_eval import load_deployments
    from llama_eval.paths import data_dir

    config = load_deployments(data_dir() / "deployments.emulator.yaml")
    prompts = load_prompt_set(data_dir() / "prompts" / "quickstart.jsonl")
    assert len(prompts) == 10 and {t for i in prompts for t in i.tags} == {"facts", "arithmetic"}
    with start_emulator(time_scale=0, key="local-dev-key", models=[d.model for d in config], prompt_sets=[prompts.path]) as emu:
        monkeypatch.setenv("LLAMA_EVAL_EMULATOR_KEY", emu.key)
        moved = [Deployment(**{**d.__dict__, "endpoint": d.endpoint.replace("http://127.0.0.1:8000", emu.url), "headers": dict(d.headers)}) for d in config]
        summary = run_evaluation(moved, prompts, tmp_path / "r", RunParams(temperature=0), **QUIET)
    assert summary.status == "completed" and summary.by_status["ok"] == 10 * len(config)


def test_progress_log_lines(tmp_path, prompt_file, monkeypatch, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="llama_eval.run")
    with start_emulator(time_scale=0, models=[L33]) as emu:
        run_evaluation(
            deployments(emu, monkeypatch, L33), load_prompt_set(prompt_file), tmp_path / "r", RunParams(max_tokens=10), progress="log", announce=lambda m: None
        )
    assert any(f"{L33.split('-')[-2].lower()}-azure: 13/13 done" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_ctrl_c_stops_scheduling_and_leaves_a_resumable_run(tmp_path, prompt_file):
    with spawn_emulator("--models", L33, "--time-scale", "0.02") as emu:
        command, env = _cli_run(tmp_path, emu, prompt_file)
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for_rows(tmp_path / "r", 6)
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=60)
        assert first.returncode == 130, stderr[-2000:]  # interrupted: 128 + SIGINT, as a shell reports it
        assert "Interrupted: no new requests" in stderr
        manifest = read_manifest(tmp_path / "r")
        assert manifest["status"] == "interrupted" and not (tmp_path / "r" / "run.lock").exists()
        rows_after_stop = read_rows(tmp_path / "r")
        assert len(rows_after_stop) < 52 and all(r["status"] in ("ok", "length", "content_filter") for r in rows_after_stop), "in-flight requests finished"
        resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(final_rows(read_rows(tmp_path / "r"))) == 52 == len(read_rows(tmp_path / "r"))


def test_parquet_holds_exactly_the_final_rows_with_exact_costs(tmp_path, prompt_file, monkeypatch):
    import pyarrow.parquet as pq

    from llama_eval.rundir.store import COLUMNS, write_parquet

    prompts = load_prompt_set(prompt_file)
    with start_emulator(time_scale=0, models=[L33]) as emu:
        deps = deployments(emu, monkeypatch, L33)
        # budget-skip some rows first (taught answers are short: the budget fits ~5 of 13), then resume with room: superseded rows must not reach the parquet
        run_evaluation(deps, prompts, tmp_path / "r", RunParams(max_tokens=50, budget_usd=Decimal("0.0001"), budget_preflight=False), **QUIET)
        run_evaluation(deps, prompts, tmp_path / "r", RunParams(max_tokens=50, budget_usd=Decimal("1"), budget_preflight=False), resume=True, **QUIET)
    rows = read_rows(tmp_path / "r")
    assert len(rows) > 13, "the first session skipped some rows for budget"
    table = pq.read_table(write_parquet(tmp_path / "r", batch_rows=4))  # tiny batches: several write calls
    assert table.column_names == list(COLUMNS)
    final = final_rows(rows)
    assert sorted(table.column("key").to_pylist()) == sorted(final)
    assert "budget_skipped" not in table.column("status").to_pylist()
    exact = sum((Decimal(r["cost_usd"]) for r in final.values() if r["cost_usd"] is not None), Decimal(0))
    assert sum(v for v in table.column("cost_usd").to_pylist() if v is not None) == exact
    frame = load_run(tmp_path / "r").frame()
    assert len(frame) == 13 and [c for c in frame.columns if not c.startswith("param_")] == [c for c in COLUMNS if c != "params"]
    assert {"param_max_tokens", "param_stream"} <= set(frame.columns) and set(frame["param_max_tokens"]) == {50}
    assert str(frame["started_at"].dtype).startswith("datetime64") and str(frame["started_at"].dt.tz) == "UTC"
    answered = frame[frame["status"].isin(["ok", "length"])]
    assert str(frame["usage_prompt_tokens"].dtype) == "Int64" and answered["usage_prompt_tokens"].notna().all() and len(answered) == 12


def test_load_run_reads_a_run_written_before_typed_rows(tmp_path):
    """A row as the first runner wrote it (no warmup, dotted columns in its parquet) still loads."""
    import pandas as pd

    run = tmp_path / "old"
    run.mkdir()
    old = {"key": "d|q1|0", "deployment": "d", "model": L33, "api": "azure-ai-inference", "prompt_id": "q1", "repeat": 0, "tags": ["x"],
           "params": {"max_tokens": 20, "stream": True}, "status": "ok", "http_status": 200, "response_text": "4", "finish_reason": "stop",
           "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}, "usage_source": "server", "streamed": True, "e2e_s": 0.3,
           "ttft_s": 0.1, "content_chunks": 2, "attempts": 1, "retry_wait_s": 0.0, "queue_wait_s": 0.0, "started_at": "2026-11-01T10:00:00.000+00:00",
           "finished_at": "2026-11-01T10:00:00.300+00:00", "cost_usd": "0.00000852", "price_known": True}  # fmt: skip
    (run / "results.jsonl").write_text(json.dumps(old) + "\n")
    loaded = load_run(run)
    assert [r.key for r in loaded.rows] == ["d|q1|0"] and loaded.manifest.status == "no manifest"
    frame = loaded.frame()
    row = frame.iloc[0]
    assert (row["usage_total_tokens"], row["param_max_tokens"], row["ttft_s"], row["cost_usd"]) == (12, 20, 0.1, 0.00000852)
    assert row["started_at"].year == 2026 and row["warmup"] is pd.NA


@pytest.mark.slow
@pytest.mark.parametrize(
    "delay_s",
    [
        0.4,
        1.0,
        2.0,
        3.5,  # near the end of the run here: once ended by the signal (-2) when it landed during interpreter shutdown
    ],
)
def test_ctrl_c_at_any_moment_is_one_line_exit_130_and_resumable(tmp_path, prompt_file, delay_s):
    """Ctrl-C during start-up, planning (token counting, estimate) or the first requests: never a traceback.

    (The interpreter's own first ~0.1 s, before any llama-eval code runs, is Python's to handle.)
    """
    # time scale 0.1: the run teaches the emulator its prompts, whose short right answers would end the requests too soon to interrupt
    with spawn_emulator("--models", L33, "--time-scale", "0.1") as emu:
        command, env = _cli_run(tmp_path, emu, prompt_file)
        victim = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay_s)
        victim.send_signal(signal.SIGINT)
        _, stderr = victim.communicate(timeout=60)
        if victim.returncode == 0:
            pytest.skip(f"the run finished within {delay_s} s on this machine; nothing to interrupt")
        assert victim.returncode == 130, stderr[-2000:]
        assert "Traceback" not in stderr and "Error" not in stderr, stderr[-2000:]
        assert sum("nterrupted" in line for line in stderr.splitlines()) == 1, stderr
        assert not (tmp_path / "r" / "run.lock").exists()
        manifest = read_manifest(tmp_path / "r")
        assert manifest is None or manifest["status"] == "interrupted"
        resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(final_rows(read_rows(tmp_path / "r"))) == 52 == len(read_rows(tmp_path / "r"))


@pytest.mark.slow
def test_a_finished_command_ignores_ctrl_c_during_shutdown_but_main_with_argv_keeps_it():
    """CPython puts SIGINT back to its default while the interpreter shuts down; a Ctrl-C then would end a finished
    `llama-eval` as killed by the signal (-2) instead of with its status. The process's own command line ignores it once done."""
    code = (
        "import signal, sys\n"
        "from llama_eval import cli\n"
        "assert cli.main(['models']) == 0 and signal.getsignal(signal.SIGINT) is signal.default_int_handler, 'main([...]) must leave Ctrl-C alone'\n"
        "sys.argv = ['llama-eval', 'models']\n"
        "assert cli.main() == 0\n"
        "print('ignored' if signal.getsignal(signal.SIGINT) is signal.SIG_IGN else 'default')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ignored")


def test_wrong_url_is_stopped_by_the_probe_with_no_rows_and_no_cost(tmp_path, prompt_file, monkeypatch):
    messages: list[str] = []
    with start_emulator(time_scale=0, models=[L33]) as emu:
        good = deployments(emu, monkeypatch, L33)
        wrong = Deployment(name="typo", model=L33, kind="serverless", endpoint=emu.url + "/Llama-3.3-70B-Instruct-typo", key_env="EMU_KEY")
        summary = run_evaluation(
            good + [wrong], load_prompt_set(prompt_file), tmp_path / "r", RunParams(max_tokens=10), progress="none", announce=messages.append
        )
        stats = emu.stats
    rows = read_rows(tmp_path / "r")
    assert not any(r["deployment"] == "typo" for r in rows), "a wrong URL leaves no answer-like rows"
    assert sum(r["deployment"] == good[0].name for r in rows) == 13 and stats.get("status_404", 0) <= 2
    stopped = [m for m in messages if "stopped" in m]
    assert len(stopped) == 1 and "probe" in stopped[0] and "404" in stopped[0]
    manifest = read_manifest(tmp_path / "r")
    assert manifest["deployments"]["typo"]["probe"].startswith("GET /Llama-3.3-70B-Instruct-typo/info: HTTP 404")
    assert manifest["deployments"][good[0].name]["probe"] == "ok"
    assert summary.status == "incomplete" and summary.stopped == {"typo": manifest["summary"]["stopped_deployments"]["typo"]}


def test_manifest_records_time_scale_loop_lag_and_warmup_rows(tmp_path, prompt_file, monkeypatch):
    messages: list[str] = []
    with start_emulator(time_scale=0.05, models=[L33]) as emu:
        deps = deployments(emu, monkeypatch, L33)
        run_evaluation(
            deps, load_prompt_set(prompt_file), tmp_path / "r", RunParams(max_tokens=10, warmup=2, concurrency=2), progress="none", announce=messages.append
        )
    rows = sorted(read_rows(tmp_path / "r"), key=lambda r: r["started_at"])
    assert all(isinstance(r["warmup"], bool) for r in rows) and sum(r["warmup"] for r in rows) == 2
    entry = read_manifest(tmp_path / "r")["deployments"][deps[0].name]
    assert entry["probe"] == "ok" and isinstance(entry["time_scale"], float) and entry["warmup_requests"] == 2
    assert set(entry["loop_lag"]) >= {"saturated", "p99_ms"} and isinstance(entry["loop_lag"]["saturated"], bool)
    assert not any("could not keep up" in m for m in messages), f"13 requests at concurrency 2 cannot saturate a loop: {entry['loop_lag']}"


def test_ten_request_cli_run_prints_no_saturation_warning(tmp_path):
    prompts = tmp_path / "ten.jsonl"
    prompts.write_text("\n".join(json.dumps({"id": str(i), "prompt": f"What is {i} times 3?"}) for i in range(10)) + "\n")
    with spawn_emulator("--models", L33) as emu:  # real time: the latencies a real service has
        command, env = _cli_run(tmp_path, emu, prompts)
        command[command.index("--repeats") + 1] = "1"
        command[command.index("--concurrency") + 1] = "8"
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "keep up" not in done.stderr and "saturat" not in done.stderr.lower(), done.stderr
    assert read_manifest(tmp_path / "r")["deployments"]["l33"]["loop_lag"]["saturated"] is False


def test_runner_teaches_the_emulator_the_run_prompts_once_per_endpoint(tmp_path, prompt_file, monkeypatch):
    prompts = load_prompt_set(prompt_file)
    with start_emulator(time_scale=0, models=[L33, L405], seed=5) as emu:  # started without --prompts: it knows none of them
        deps = deployments(emu, monkeypatch, L33, L405)
        run_evaluation(deps, prompts, tmp_path / "r", RunParams(max_tokens=20), **QUIET)
        known, warned = emu.emulator.simulator.known_prompts, emu.stats.get("unknown_prompts_warned", 0)
    teachable = sum(item.reference is not None for item in prompts)
    assert known == teachable == 12 and warned == 0
    entries = read_manifest(tmp_path / "r")["deployments"]
    assert [entries[d.name]["emulator_taught"] for d in deps] == [12, 12]
    answers = [r for r in read_rows(tmp_path / "r") if r["prompt_id"] != "blocked"]
    right = sum(str(2 * int(r["prompt_id"][1:])) in (r["response_text"] or "") for r in answers)
    assert right >= len(answers) // 2, f"taught answers should mostly hold the reference: {right} of {len(answers)}"


@pytest.mark.parametrize("marker", [False, True])
def test_runner_teaches_only_what_says_it_is_the_emulator(tmp_path, prompt_file, server, key_env, marker):
    server.info_headers = {"x-llama-eval-emulator": "simulated"} if marker else {}
    deps = [Deployment(name=f"d{i}", model=L405, kind="managed", endpoint=server.url, key_env=key_env) for i in range(2)]
    if marker:  # this server only pretends: it has no /emulator/prompts, so teaching warns and learns nothing
        with pytest.warns(UserWarning, match="is not a llama-eval emulator"):
            run_evaluation(deps, load_prompt_set(prompt_file), tmp_path / "r", RunParams(max_tokens=5), **QUIET)
    else:
        run_evaluation(deps, load_prompt_set(prompt_file), tmp_path / "r", RunParams(max_tokens=5), **QUIET)
    posts = [r for r in server.requests if r.path == "/emulator/prompts"]
    entries = read_manifest(tmp_path / "r")["deployments"]
    if not marker:
        assert posts == [] and all("emulator_taught" not in entries[d.name] for d in deps), "a real service is never sent the prompts"
        return
    assert len(posts) == 1, "one POST per emulator origin, however many deployments it serves"
    assert len(posts[0].body["items"]) == 12 and posts[0].headers["api-key"] == os.environ[key_env]
    assert [entries[d.name]["emulator_taught"] for d in deps] == [0, 0]


def test_the_emulator_is_reached_through_the_on_emulator_hook_only(tmp_path, prompt_file, server, key_env, monkeypatch):
    """The runner does not import the emulator: with no hook registered or passed nothing is taught; a hook passed is called once per origin."""
    from llama_eval.endpoint import emulator_hook

    monkeypatch.setattr(emulator_hook, "_registered", None)  # as in a process that never imported llama_eval.emulator
    server.info_headers = {"x-llama-eval-emulator": "simulated"}
    deps = [Deployment(name=f"d{i}", model=L405, kind="managed", endpoint=server.url, key_env=key_env) for i in range(2)]
    run_evaluation(deps, load_prompt_set(prompt_file), tmp_path / "untaught", RunParams(max_tokens=5), **QUIET)
    assert [r for r in server.requests if r.path == "/emulator/prompts"] == []
    assert all("emulator_taught" not in entry for entry in read_manifest(tmp_path / "untaught")["deployments"].values())

    calls = []

    def hook(endpoint, prompt_set, *, key, timeout_s):
        calls.append((endpoint, len(list(prompt_set)), key))
        return 7

    run_evaluation(deps, load_prompt_set(prompt_file), tmp_path / "hooked", RunParams(max_tokens=5), on_emulator=hook, **QUIET)
    assert calls == [(server.url, len(load_prompt_set(prompt_file)), os.environ[key_env])], "one call per emulator origin, with the deployment's key"
    assert [e["emulator_taught"] for e in read_manifest(tmp_path / "hooked")["deployments"].values()] == [7, 7]
