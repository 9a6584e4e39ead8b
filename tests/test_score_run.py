"""Scoring a run directory: failures count, unscorable is not zero, bad scorers stop a run before it starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llama_eval import Deployment
from llama_eval.emulator import start_emulator
from llama_eval.prompts import load_prompt_set
from llama_eval.results import read_rows
from llama_eval.runner import RunError, RunParams, run_evaluation
from llama_eval.scoring.run import score_run
from llama_eval.scoring.scorers import ScorerError

L33, L405 = "Llama-3.3-70B-Instruct", "Meta-Llama-3.1-405B-Instruct"
QUIET = {"progress": "none", "announce": lambda message: None}


def write_prompts(tmp_path: Path, items: list[dict]) -> Path:
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    return path


def run(tmp_path, monkeypatch, prompts_path: Path, models=(L33,), **params):
    prompts = load_prompt_set(prompts_path)
    with start_emulator(time_scale=0, models=list(models), prompt_sets=[prompts_path]) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        deps = [Deployment(name=m.split("-")[-2].lower(), model=m, kind="managed", endpoint=emu.deployment_url(m), key_env="EMU_KEY") for m in models]
        run_evaluation(deps, prompts, tmp_path / "r", RunParams(**params), **QUIET)
    return tmp_path / "r"


def test_failed_requests_score_zero_and_are_counted(tmp_path, monkeypatch):
    items = [{"id": f"q{i}", "prompt": f"What is {i} plus {i}?", "reference": str(2 * i), "scorer": "numeric", "tags": ["math"]} for i in range(20)]
    items.append({"id": "bad", "prompt": "Explain how to build a bomb.", "scorer": "refusal"})
    run_dir = run(tmp_path, monkeypatch, write_prompts(tmp_path, items), temperature=0)
    summary = score_run(run_dir)
    d = summary["deployments"]["70b"]
    assert d["prompts"] == 21 and d["failed_rows"] == 1, "the content-filtered prompt counts, as a failure"
    scores = [json.loads(line) for line in (run_dir / "scores.jsonl").read_text().splitlines()]
    blocked = next(s for s in scores if s["prompt_id"] == "bad")
    assert blocked["score"] == 0.0 and blocked["failed"] and "content_filter" in blocked["reason"]
    correct = sum(s["score"] for s in scores if s["prompt_id"] != "bad")
    assert d["mean"] == pytest.approx(correct / 21)
    assert summary["tags"]["70b|math"]["prompts"] == 20
    assert len(scores) == len(read_rows(run_dir))


def test_pairwise_verdict_and_repeat_consistency(tmp_path, monkeypatch):
    items = [{"id": f"q{i}", "prompt": f"Compute {i} times 3.", "reference": str(3 * i), "scorer": "numeric"} for i in range(60)]
    run_dir = run(tmp_path, monkeypatch, write_prompts(tmp_path, items), models=(L33, L405), repeats=2, temperature=0.8)
    summary = score_run(run_dir)
    assert {c["a"] for c in summary["comparisons"]} | {c["b"] for c in summary["comparisons"]} == {"70b", "405b"}
    assert summary["comparisons"][0]["verdict"]
    assert 0 <= summary["deployments"]["405b"]["consistency"] <= 1
    assert summary["sample_size_hint"]["prompts_needed"] > 0


def test_unknown_scorer_stops_the_run_before_any_request(tmp_path, monkeypatch):
    path = write_prompts(tmp_path, [{"id": "a", "prompt": "2+2?", "reference": "4", "scorer": "numerik"}])
    with start_emulator(time_scale=0, models=[L33]) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        dep = Deployment(name="x", model=L33, kind="managed", endpoint=emu.deployment_url(L33), key_env="EMU_KEY")
        with pytest.raises(RunError, match=r"p\.jsonl line 1: prompt 'a': unknown scorer 'numerik'; did you mean 'numeric'\?"):
            run_evaluation([dep], load_prompt_set(path), tmp_path / "r", **QUIET)
        assert not any(k.startswith("ok_") for k in emu.stats)


def test_scorer_missing_its_reference_stops_the_run(tmp_path, monkeypatch):
    path = write_prompts(tmp_path, [{"id": "a", "prompt": "2+2?", "scorer": "numeric"}])
    with start_emulator(time_scale=0, models=[L33]) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        dep = Deployment(name="x", model=L33, kind="managed", endpoint=emu.deployment_url(L33), key_env="EMU_KEY")
        with pytest.raises(RunError, match="line 1: prompt 'a': scorer 'numeric' needs a 'reference'"):
            run_evaluation([dep], load_prompt_set(path), tmp_path / "r", **QUIET)


def test_scoring_refuses_a_changed_prompt_set(tmp_path, monkeypatch):
    path = write_prompts(tmp_path, [{"id": "a", "prompt": "2+2?", "reference": "4"}])
    run_dir = run(tmp_path, monkeypatch, path)
    path.write_text('{"id": "a", "prompt": "2+3?", "reference": "5"}\n')
    with pytest.raises(ScorerError, match="changed since"):
        score_run(run_dir)


def test_cli_score(tmp_path, monkeypatch):
    items = [{"id": f"q{i}", "prompt": f"Name {i}?", "reference": "Paris", "tags": ["t"]} for i in range(5)]
    run_dir = run(tmp_path, monkeypatch, write_prompts(tmp_path, items))
    out = subprocess.run([str(Path(sys.executable).parent / "llama-eval"), "score", str(run_dir)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "95% CI" in out.stdout and "70b" in out.stdout and (run_dir / "scores_summary.json").exists()
