"""The decision names the workload its capacities were measured with: ``llama-eval recommend`` and the report's brief say it.

A scored run written by hand (tests/_support/decision_fixtures.py: three deployments, known scores),
and a real ``llama-eval sweep`` of one of them (l8, Llama 3.1 8B on managed compute) against the
emulator in its own process, at 1/20 speed: its sweep.json records the prompt set and the arrivals,
and the recommendation, through the command line, states them next to the capacities.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from _support.decision_fixtures import scored_run, sweep_dir
from llama_eval.decide import recommend
from llama_eval.emulator.process import spawn_emulator
from llama_eval.report.brief import brief_html

L8 = "Meta-Llama-3.1-8B-Instruct"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llama_eval.cli", *args], env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """(prompt set path, a gamma sweep of l8, a closed-loop sweep of l8), both by the CLI."""
    root = tmp_path_factory.mktemp("swept")
    prompts = root / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Say hello number {i}."}) + "\n" for i in range(10)))
    with spawn_emulator("--models", L8, "--ttft", "0.2", "--tps", "100", "--time-scale", "0.05", "--rpm", "100000000", "--tpm", "10000000000") as emu:
        config = root / "d.yaml"
        config.write_text(f"deployments:\n  - name: l8\n    model: {L8}\n    kind: managed\n    endpoint: {emu.url}/{L8}\n    key_env: EMU_KEY\n")
        common = ("-d", str(config), "-p", str(prompts), "--requests-per-level", "8", "--warmup-s", "0", "--max-tokens", "4", "--progress", "none")
        gamma = _cli("sweep", *common, "-o", str(root / "gamma"), "--rate", "1,2", "--burstiness", "0.5", "--seed", "1", env={"EMU_KEY": emu.key})
        closed = _cli("sweep", *common, "-o", str(root / "closed"), "--concurrency", "1,2", env={"EMU_KEY": emu.key})
    assert gamma.returncode == 0, gamma.stderr[-2000:]
    assert closed.returncode == 0, closed.stderr[-2000:]
    assert f"measured with: {prompts} (10 prompts), open loop, gamma arrivals (burstiness 0.5)" in gamma.stdout, gamma.stdout
    assert f"measured with: {prompts} (10 prompts), closed loop" in closed.stdout, closed.stdout
    return prompts, root / "gamma", root / "closed"


def test_recommend_says_which_workload_the_capacities_were_measured_with(swept, tmp_path):
    prompts, gamma, closed = swept
    run = scored_run(tmp_path)
    done = _cli("recommend", str(run), "--sweep", str(closed), "--peak-rps", "1", "--requests-per-day", "10000")
    assert done.returncode in (0, 3), done.stderr
    assert f"Capacities measured with {prompts} (10 prompts), closed loop" in done.stdout, done.stdout
    as_json = json.loads(_cli("recommend", str(run), "--sweep", str(gamma), "--peak-rps", "1", "--json").stdout)
    assert as_json["workload_sentence"] == f"Capacities measured with {prompts} (10 prompts), open loop, gamma arrivals (burstiness 0.5)"
    assert as_json["workloads"]["l8"]["arrivals"] == {"kind": "gamma", "burstiness": 0.5, "seed": 1}


def test_sweeps_of_different_workloads_are_named_one_by_one_and_an_old_sweep_is_said_to_have_none(swept, tmp_path):
    prompts, gamma, _ = swept
    run = scored_run(tmp_path)
    old = sweep_dir(tmp_path, "l405", "managed", [1, 2, 4], [0.5, 0.6, 0.9])  # a sweep.json written before workloads were kept
    done = _cli("recommend", str(run), "--sweep", str(gamma), "--sweep", str(old), "--peak-rps", "1")
    assert done.returncode in (0, 3), done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("Capacities measured with"))
    assert line == (f"Capacities measured with: l405: workload not recorded (a sweep.json from before it was kept); "
                    f"l8: {prompts} (10 prompts), open loop, gamma arrivals (burstiness 0.5)")  # fmt: skip


def test_the_reports_brief_states_the_workload(swept, tmp_path):
    prompts, _, closed = swept
    decision = recommend(scored_run(tmp_path), sweeps=[closed], peak_rps=1)
    page = brief_html(decision)
    assert f"Capacities measured with {prompts} (10 prompts), closed loop." in page
    (tmp_path / "bare").mkdir()
    assert "Capacities measured" not in brief_html(recommend(scored_run(tmp_path / "bare"), peak_rps=1)), "no sweep: nothing to name"
