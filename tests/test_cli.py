"""`llama-eval models` as a user runs it: a subprocess of the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_catalog import EXPECTED

CLI = [str(Path(sys.executable).parent / "llama-eval")]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)


def test_models_table_lists_every_variant_with_limits_and_prices():
    out = run("models", "--on", "2026-11-26")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for model in EXPECTED:
        assert any(line.startswith(model + " ") for line in lines), model
    row_405 = next(line for line in lines if line.startswith("Meta-Llama-3.1-405B-Instruct "))
    assert "131072" in row_405 and "text" in row_405 and "5.33" in row_405 and "16" in row_405
    assert "retired 2026-06-13" in row_405 and "Llama-4-Maverick" in row_405
    row_l2 = next(line for line in lines if line.startswith("Llama-2-70b-chat "))
    assert "no price" in row_l2
    row_vision = next(line for line in lines if line.startswith("Llama-3.2-90B-Vision-Instruct "))
    assert "image+text" in row_vision


def test_models_json_and_available_filter():
    out = run("models", "--json", "--available", "--on", "2026-11-26")
    rows = json.loads(out.stdout)
    assert {r["model"] for r in rows} == {"Llama-3.3-70B-Instruct", "Llama-4-Scout-17B-16E-Instruct", "Llama-4-Maverick-17B-128E-Instruct-FP8"}
    maverick = next(r for r in rows if r["model"].startswith("Llama-4-Maverick"))
    assert maverick["input_usd_per_1m"] == "0.25" and maverick["context"] == 1000000


def test_models_before_retirement_shows_deprecated():
    rows = json.loads(run("models", "--json", "--on", "2026-05-01").stdout)
    r405 = next(r for r in rows if r["model"] == "Meta-Llama-3.1-405B-Instruct")
    assert r405["serverless"] == "deprecated, retires 2026-06-13"


def test_bad_date_is_a_usage_error():
    out = run("models", "--on", "yesterday")
    assert out.returncode == 2 and "invalid fromisoformat value" in out.stderr


def test_run_names_unknown_deployment_and_bad_prompt_line(tmp_path):
    from llama_eval.paths import data_dir

    config = data_dir() / "deployments.emulator.yaml"
    prompts = data_dir() / "prompts" / "quickstart.jsonl"
    out = run("run", "-d", str(config), "-p", str(prompts), "-o", str(tmp_path / "r"), "--only", "llama33-7b")
    assert out.returncode == 2 and "no deployment named 'llama33-7b'; did you mean 'llama33-70b'?" in out.stderr
    assert "deployments.emulator.yaml" in out.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prompt": "ok"}\n{"id": "b", "promt": "typo"}\n')
    out = run("run", "-d", str(config), "-p", str(bad), "-o", str(tmp_path / "r"))
    assert out.returncode == 2 and "bad.jsonl line 2: unknown field 'promt'; did you mean 'prompt'?" in out.stderr
    assert not (tmp_path / "r").exists(), "nothing is created before the input is known to be good"


def test_run_rejects_a_non_numeric_budget(tmp_path):
    out = run("run", "-d", "x.yaml", "-p", "y.jsonl", "-o", str(tmp_path / "r"), "--budget-usd", "ten")
    assert out.returncode != 0 and "--budget-usd 'ten' is not a number" in out.stderr
