"""Reliability: the fault matrix, budgets under concurrency, secrets in logs, hostile output, fuzzed inputs.

Each fault of the matrix runs a few hundred requests through the runner against the emulator and
checks that every row is final with the right status, retries are counted, and nothing is doubled.
The table of faults injected against outcomes is printed (``pytest -s``) and quoted in the notes.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import string
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llama_eval import ConfigError, Deployment, load_deployments
from llama_eval.catalog.models import Quota
from llama_eval.emulator import start_emulator
from llama_eval.prompts.prompt_set import PromptSetError, load_prompt_set
from llama_eval.run import RunParams, run_evaluation
from llama_eval.rundir.store import export_csv, read_manifest, read_rows

L33 = "Llama-3.3-70B-Instruct"
QUIET = {"progress": "none", "announce": lambda message: None}
FAKE_KEY = "LLAMAEVAL-RELIABILITY-KEY-91c2"
# Examples per fuzz test: 2,000 keeps `make test` fast; LLAMA_EVAL_FUZZ_EXAMPLES=10000 for a thorough run.
FUZZ_EXAMPLES = int(os.environ.get("LLAMA_EVAL_FUZZ_EXAMPLES", "2000"))


def prompts(tmp_path, n: int = 100):
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"q{i}", "prompt": f"Question {i}?"}) for i in range(n)) + "\n")
    return load_prompt_set(path)


# (name, emulator options, runner params, deployment override, what the rows must show)
MATRIX = [
    pytest.param(  # paced by real one-second windows: slow
        *("429 storm", {"rpm": 1200, "quota_window_s": 1.0}, {"max_attempts": 30}, {"quota": Quota(rpm=10**6, tpm=10**9)}, "all_ok_with_retries"),
        marks=pytest.mark.slow,
    ),
    ("500", {"fault_rate": 0.2, "fault_kinds": ["500"]}, {"max_attempts": 8}, {}, "all_ok_with_retries"),
    ("503 + retry-after", {"fault_rate": 0.2, "fault_kinds": ["503"]}, {"max_attempts": 8}, {}, "all_ok_with_retries"),
    ("reset mid-stream", {"fault_rate": 0.2, "fault_kinds": ["reset"]}, {"max_attempts": 8}, {}, "all_ok_with_retries"),
    ("malformed SSE", {"fault_rate": 0.2, "fault_kinds": ["malformed"]}, {"max_attempts": 8}, {}, "all_ok_with_retries"),
    ("cut short (no finish_reason)", {"fault_rate": 0.2, "fault_kinds": ["cut"]}, {"max_attempts": 8}, {}, "all_ok_with_retries"),
    ("stall past timeout", {"fault_rate": 0.05, "fault_kinds": ["stall"], "stall_s": 1.0}, {"max_attempts": 8, "timeout_s": 0.4}, {}, "all_ok_with_retries"),
    ("401", {}, {}, {"key_env": "WRONG_KEY"}, "stopped_once"),
    ("404 deployment", {}, {}, {"endpoint_suffix": "/no-such-deployment"}, "stopped_once"),
]


@pytest.mark.parametrize("name, emulator, params, override, expect", MATRIX, ids=[(m.values if hasattr(m, "values") else m)[0] for m in MATRIX])
def test_fault_matrix(tmp_path, monkeypatch, name, emulator, params, override, expect):
    items = prompts(tmp_path, 100)
    messages: list[str] = []
    with start_emulator(time_scale=0, models=[L33], seed=11, **emulator) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        monkeypatch.setenv("WRONG_KEY", "not-the-key")
        endpoint = emu.deployment_url(L33) if "endpoint_suffix" not in override else emu.url + override["endpoint_suffix"]
        options = {k: v for k, v in override.items() if k != "endpoint_suffix"}
        dep = Deployment(name="d", model=L33, kind="managed", endpoint=endpoint, key_env=options.pop("key_env", "EMU_KEY"), **options)
        summary = run_evaluation(
            [dep],
            items,
            tmp_path / "r",
            RunParams(repeats=3, max_tokens=16, backoff_base_s=0.01, concurrency=16, **params),
            progress="none",
            announce=messages.append,
        )
        stats = emu.stats
    rows = read_rows(tmp_path / "r")
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)), "no request recorded twice"
    statuses = Counter(r["status"] for r in rows)
    retries = sum(r["attempts"] - 1 for r in rows)
    injected = {k: v for k, v in stats.items() if k.startswith(("fault_", "status_4"))}
    print(f"\n| {name} | injected: {injected} | rows {len(rows)} {dict(statuses)} | retries {retries} | not run {summary.not_run} |")
    if expect == "all_ok_with_retries":
        assert len(rows) == 300 and set(statuses) <= {"ok", "length"}, statuses
        assert retries > 0 and summary.retries == retries and summary.status == "completed"
    else:
        assert len(rows) <= 16, "only the requests already in flight when it failed"
        assert summary.not_run >= 300 - 16 and summary.status == "incomplete"
        assert sum("stopped" in m for m in messages) == 1, "reported once per deployment"
        assert all(r["attempts"] == 1 for r in rows), "not retried"
        assert read_manifest(tmp_path / "r")["summary"]["stopped_deployments"]["d"]


def test_budget_holds_with_64_requests_in_flight(tmp_path, monkeypatch):
    budget = Decimal("0.01")
    with start_emulator(time_scale=0.01, models=[L33]) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        dep = Deployment(name="d", model=L33, endpoint=emu.deployment_url(L33), key_env="EMU_KEY", quota=Quota(rpm=10**6, tpm=10**9))
        params = RunParams(repeats=4, max_tokens=200, concurrency=64, budget_usd=budget, budget_preflight=False)
        summary = run_evaluation([dep], prompts(tmp_path, 200), tmp_path / "r", params, **QUIET)
    rows = read_rows(tmp_path / "r")
    spent = sum(Decimal(r["cost_usd"]) for r in rows if r["cost_usd"])
    assert spent <= budget, f"spent {spent} > budget {budget}"
    assert summary.by_status["budget_skipped"] > 0, "it stopped at the budget"
    worst_one = Decimal(200 + 20) * Decimal("0.00071") / 1000
    assert spent > budget - 2 * worst_one, f"spent {spent}: it waited for in-flight requests to settle instead of skipping early"


def test_debug_logs_hold_no_key(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    with start_emulator(time_scale=0, models=[L33], key=FAKE_KEY) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        dep = Deployment(name="d", model=L33, kind="managed", endpoint=emu.deployment_url(L33), key_env="EMU_KEY")
        bad = Deployment(name="bad", model=L33, kind="managed", endpoint=emu.deployment_url(L33), key_env="WRONG")
        monkeypatch.setenv("WRONG", FAKE_KEY + "-wrong")
        run_evaluation(
            [dep, bad], prompts(tmp_path, 5), tmp_path / "r", RunParams(max_tokens=8), progress="log", announce=lambda m: logging.getLogger("announce").info(m)
        )
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP" in text or "Request URL" in text or len(caplog.records) > 5, "debug logging was on"
    assert FAKE_KEY not in text
    for path in (tmp_path / "r").iterdir():
        assert FAKE_KEY.encode() not in path.read_bytes(), path.name


def test_csv_export_neutralises_formulas(tmp_path, monkeypatch):
    hostile = ['=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)"]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"h{i}", "prompt": f"Say {i}", "reference": text}) for i, text in enumerate(hostile)) + "\n")
    with start_emulator(time_scale=0, models=[L33], prompt_sets=[path]) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        dep = Deployment(name="=d", model=L33, kind="managed", endpoint=emu.deployment_url(L33), key_env="EMU_KEY")
        run_evaluation([dep], load_prompt_set(path), tmp_path / "r", RunParams(temperature=0), **QUIET)
    exported = export_csv(tmp_path / "r", tmp_path / "rows.csv")
    with exported.open(newline="") as f:
        cells = [cell for row in csv.reader(f) for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells), "no cell a spreadsheet would evaluate"
    assert "'=d" in cells, "the deployment name itself was neutralised"


# --------------------------------------------------------------------------- fuzzing the loaders

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
prompt_lines = st.one_of(
    st.text(max_size=60),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"id": json_values}, optional={k: json_values for k in ("prompt", "messages", "reference", "scorer", "tags", "max_tokens", "images", "system")}
    ).map(json.dumps),
)
yaml_keys = st.sampled_from(["name", "model", "kind", "endpoint", "endpoint_env", "auth", "key_env", "api", "quota", "compute", "headers", "key", "x"])
yaml_scalars = st.one_of(
    st.sampled_from(["Llama-3.3-70B-Instruct", "serverless", "managed", "entra", "key", "https://a.b.c", "K", "openai-v1"]),
    st.integers(),
    st.text(alphabet=string.printable, max_size=15),
)


@pytest.mark.slow
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(lines=st.lists(prompt_lines, max_size=4), raw=st.one_of(st.none(), st.binary(max_size=60)))
def test_prompt_loader_raises_only_its_own_error(tmp_path, lines, raw):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(raw if raw is not None else "\n".join(lines).encode())
    try:
        load_prompt_set(path)
    except PromptSetError as exc:
        assert str(exc)


@pytest.mark.slow
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    deployments=st.lists(
        st.dictionaries(
            yaml_keys, st.one_of(yaml_scalars, st.dictionaries(st.sampled_from(["tpm", "rpm", "sku", "instances"]), yaml_scalars, max_size=2)), max_size=6
        ),
        max_size=3,
    ),
    raw=st.one_of(st.none(), st.text(max_size=80)),
)
def test_config_loader_raises_only_its_own_error(tmp_path, deployments, raw):
    import warnings

    import yaml

    path = tmp_path / "fuzz.yaml"
    path.write_text(raw if raw is not None else yaml.safe_dump({"deployments": deployments}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            load_deployments(path)
        except ConfigError as exc:
            assert str(exc)


# --------------------------------------------------------------------------- crash consistency


@pytest.fixture(scope="module")
def slow_emulator():
    from llama_eval.emulator.process import spawn_emulator

    with spawn_emulator("--models", L33, "--time-scale", "0.01", "--key", FAKE_KEY, "--rpm", "100000", "--tpm", "100000000") as emu:
        yield emu


def _crash_trial(base: Path, emulator, seed: int) -> str | None:
    """One trial: SIGKILL a `llama-eval run` at a seeded random moment, resume, check. Returns a failure or None."""
    import random
    import signal
    import subprocess
    import sys
    import time

    from llama_eval.cost.actual import run_costs
    from llama_eval.rundir.store import final_rows

    rng = random.Random(seed)
    tmp_path = base / f"trial-{seed}"
    tmp_path.mkdir()
    items = tmp_path / "p.jsonl"
    items.write_text("\n".join(json.dumps({"id": f"q{i}", "prompt": f"Question {i}?"}) for i in range(10)) + "\n")
    config = tmp_path / "d.yaml"
    config.write_text(f"deployments:\n  - name: l33\n    model: {L33}\n    endpoint: {emulator.url}/{L33}\n    key_env: CRASH_KEY\n")
    env = {**os.environ, "CRASH_KEY": emulator.key}
    command = [sys.executable, "-m", "llama_eval.cli", "run", "-d", str(config), "-p", str(items), "-o", str(tmp_path / "r")]
    command += ["--repeats", "3", "--concurrency", "3", "--progress", "none", "--max-tokens", "40"]
    victim = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = tmp_path / "r" / "results.jsonl"
    target_rows = rng.randint(0, 25)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (not results.exists() or results.read_bytes().count(b"\n") < target_rows):
        time.sleep(0.005)
    time.sleep(rng.uniform(0, 0.05))  # between rows, or mid-write
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, timeout=180)
    if resumed.returncode != 0:
        return f"seed {seed}: resume failed: {resumed.stderr[-800:]}"
    rows = [json.loads(line) for line in results.read_text().splitlines()]  # every line parses
    if len(final_rows(rows)) != 30 or len(rows) != 30:
        return f"seed {seed}: {len(rows)} rows, {len(final_rows(rows))} final (expected 30 and 30)"
    if run_costs(tmp_path / "r").total_usd != sum((Decimal(r["cost_usd"]) for r in rows if r["cost_usd"]), Decimal(0)):
        return f"seed {seed}: cost totals do not match the rows"
    leaked = [p.name for p in (tmp_path / "r").iterdir() if FAKE_KEY.encode() in p.read_bytes()]
    return f"seed {seed}: key found in {leaked}" if leaked else None


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_20_trials(tmp_path, slow_emulator):
    """20 seeded trials, four at a time (they wait on subprocesses, not on this process)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f for f in pool.map(lambda seed: _crash_trial(tmp_path, slow_emulator, seed), range(20)) if f]
    assert failures == []
