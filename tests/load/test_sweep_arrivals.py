"""Open-loop sweeps take their arrivals from ``load.arrivals`` (Poisson or gamma with vLLM's ``--burstiness``) and record them.

One emulated serverless deployment in a process of its own, at 1/20 speed with a fixed fast profile
(the sweep refuses time scale 0: it would measure nothing). A gamma sweep at burstiness 0.5 has gaps
whose coefficient of variation is 1/sqrt(0.5) = 1.41 (Poisson's is 1): the schedule it drew, and the
instants its rows were actually sent, show it; each level and sweep.json say which process it was.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import pytest

from llama_eval import Deployment
from llama_eval.emulator.process import spawn_emulator
from llama_eval.errors import SweepError
from llama_eval.load.slo import read_sweep
from llama_eval.load.sweep import sweep
from llama_eval.run import RunParams
from llama_eval.rundir.store import read_rows

L33 = "Llama-3.3-70B-Instruct"
UNLIMITED = ("--rpm", "100000000", "--tpm", "10000000000")
QUIET = {"progress": "none", "announce": lambda message: None}


@pytest.fixture(scope="module")
def emu():
    with spawn_emulator("--models", L33, "--ttft", "0.3", "--tps", "100", "--time-scale", "0.05", *UNLIMITED) as emulator:
        yield emulator


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Say hello number {i}."}) + "\n" for i in range(7)))
    return path


def _deployment(emu, monkeypatch) -> Deployment:
    monkeypatch.setenv("EMU_KEY", emu.key)
    return Deployment(name="l33", model=L33, kind="serverless", endpoint=f"{emu.url}/{L33}", key_env="EMU_KEY")


def _cv(values: list[float]) -> float:
    gaps = [b - a for a, b in zip(values, values[1:], strict=False)]
    return statistics.stdev(gaps) / statistics.fmean(gaps)


def test_a_gamma_sweep_has_bursty_gaps_and_records_its_arrivals(emu, prompts, tmp_path, monkeypatch):
    # 2 requests per emulated second at 1/20 speed: 40 a real second, 400 measured requests in ~10 s
    result = sweep([_deployment(emu, monkeypatch)], prompts, tmp_path / "g", rate=[2.0], requests_per_level=400, warmup_s=0, burstiness=0.5,
                   seed=5, params=RunParams(max_tokens=4), **QUIET)  # fmt: skip
    rows = [r for r in read_rows(tmp_path / "g") if not r["warmup"]]
    assert len(rows) == 400 and all(r["status"] in ("ok", "length") for r in rows)
    scheduled = sorted(r["scheduled_s"] for r in rows)
    sent = sorted(r["sent_s"] for r in rows)
    # the drawn schedule: 400 gamma gaps (shape 0.5) have a CV whose sampling spread is ~0.1 around 1.41; Poisson's would be ~1
    assert 1.2 < _cv(scheduled) < 1.65, _cv(scheduled)
    assert 1.2 < _cv(sent) < 1.7, _cv(sent)  # what actually left, this process's lateness included (a loose bound: a shared machine)
    assert all(r["sender_lateness_s"] == pytest.approx(r["sent_s"] - r["scheduled_s"], abs=2e-6) for r in rows)
    # the mean rate stays the rate asked for: 400 gaps at 40/s real span ~10 s (gamma's spread of the sum: ~7%)
    assert scheduled[-1] == pytest.approx(400 / 40, rel=0.25)
    level = result.levels[0]
    assert (level.arrivals, level.burstiness) == ("gamma", 0.5)
    data = json.loads((tmp_path / "g" / "sweep.json").read_text())
    assert data["levels"][0]["arrivals"] == "gamma" and data["params"]["burstiness"] == 0.5
    workload = data["workload"]
    assert workload["arrivals"] == {"kind": "gamma", "burstiness": 0.5, "seed": 5}
    assert workload["prompt_set"]["path"] == str(prompts) and workload["prompt_set"]["items"] == 7 and len(workload["prompt_set"]["sha256"]) == 64
    assert workload["description"] == f"{prompts} (7 prompts), open loop, gamma arrivals (burstiness 0.5)"
    assert read_sweep(tmp_path / "g").workload == result.workload and result.workload.burstiness == 0.5


def test_poisson_and_closed_loop_sweeps_name_their_arrivals(emu, prompts, tmp_path, monkeypatch):
    d = _deployment(emu, monkeypatch)
    poisson = sweep([d], prompts, tmp_path / "p", rate=[4.0], requests_per_level=40, warmup_s=0, params=RunParams(max_tokens=4), **QUIET)
    closed = sweep([d], prompts, tmp_path / "c", concurrency=[2], requests_per_level=6, warmup_s=0, params=RunParams(max_tokens=4), **QUIET)
    assert poisson.levels[0].arrivals == "poisson" and poisson.levels[0].burstiness is None
    assert poisson.workload.describe() == f"{prompts} (7 prompts), open loop, Poisson arrivals"
    assert len([r for r in read_rows(tmp_path / "p") if not r["warmup"]]) == 40, "--requests-per-level: exactly that many, whatever the gaps"
    assert closed.levels[0].arrivals == "closed" and closed.workload.describe() == f"{prompts} (7 prompts), closed loop"
    assert all("scheduled_s" not in r for r in read_rows(tmp_path / "c")), "a closed loop has no schedule"


def test_a_synth_sets_recipe_is_the_workload(emu, tmp_path, monkeypatch):
    path = tmp_path / "shape.jsonl"
    made = subprocess.run([sys.executable, "-m", "llama_eval.cli", "synth", "-o", str(path), "--count", "6", "--input", "fixed:200",
                           "--output-tokens", "fixed:4", "--prefix-tokens", "100", "--prefix-share", "0.5", "--model", L33, "--seed", "2"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert made.returncode == 0, made.stderr
    result = sweep([_deployment(emu, monkeypatch)], path, tmp_path / "s", concurrency=[1], requests_per_level=3, warmup_s=0, **QUIET)
    workload = json.loads((tmp_path / "s" / "sweep.json").read_text())["workload"]
    assert workload["prompt_set"]["recipe"]["prefix_tokens"] == 100 and workload["prompt_set"]["recipe"]["count"] == 6
    assert result.workload.describe() == (f"{path} (6 prompts; synthetic: input fixed:200 tokens, output fixed:4 tokens, "
                                          "a shared 100-token prefix on 50% of requests), closed loop")  # fmt: skip


def test_burstiness_is_refused_with_a_closed_loop_before_any_request(emu, prompts, tmp_path, monkeypatch):
    with pytest.raises(SweepError, match=r"--burstiness 0.5 shapes the gaps between open-loop arrivals \(--rate\)"):
        sweep([_deployment(emu, monkeypatch)], prompts, tmp_path / "x", concurrency=[1, 2], requests_per_level=3, burstiness=0.5, **QUIET)
    with pytest.raises(SweepError, match="--burstiness must be a number > 0"):
        sweep([_deployment(emu, monkeypatch)], prompts, tmp_path / "y", rate=[1.0], requests_per_level=3, burstiness=0.0, **QUIET)
    chats = tmp_path / "chats.jsonl"
    chats.write_text(json.dumps({"id": "c1", "turns": ["Hi.", "And then?"]}) + "\n")
    with pytest.raises(SweepError, match=r"1 item\(s\) are conversations \(turns\); a sweep sends single prompts"):
        sweep([_deployment(emu, monkeypatch)], chats, tmp_path / "w", concurrency=[1], requests_per_level=3, **QUIET)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists() and not (tmp_path / "w").exists()
    # the same through the command line: exit 2 and the reason, nothing written
    config = tmp_path / "d.yaml"
    config.write_text(f"deployments:\n  - name: l33\n    model: {L33}\n    kind: serverless\n    endpoint: {emu.url}/{L33}\n    key_env: EMU_KEY\n")
    done = subprocess.run([sys.executable, "-m", "llama_eval.cli", "sweep", "-d", str(config), "-p", str(prompts), "-o", str(tmp_path / "z"),
                           "--concurrency", "1,2", "--requests-per-level", "3", "--burstiness", "0.5"],
                          env={**os.environ, "EMU_KEY": emu.key}, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "--burstiness 0.5 shapes the gaps between open-loop arrivals (--rate)" in done.stderr and "use --rate with it" in done.stderr
    assert not (tmp_path / "z").exists()


@pytest.mark.parametrize("burstiness", [1.0, 0.5])
def test_a_windows_exact_count_keeps_the_gap_shape(burstiness):
    """``send_instants(exact=True)``: round(rate x span) instants inside the window, gaps with the process's CV (scaling keeps it)."""
    import random

    from llama_eval.load.arrivals import send_instants

    rng = random.Random(11)
    gaps: list[float] = []
    for _ in range(200):
        instants = send_instants(20.0, 5.0, 7.0, rng, burstiness=burstiness, exact=True)
        assert len(instants) == 40 and 5.0 < instants[0] and instants[-1] < 7.0 and instants == sorted(instants)
        gaps += [b - a for a, b in zip(instants, instants[1:], strict=False)]
    cv = statistics.stdev(gaps) / statistics.fmean(gaps)
    assert cv == pytest.approx(1 / burstiness**0.5, rel=0.08), cv
    assert send_instants(0.2, 0.0, 1.0, rng, exact=True) == [], "round(0.2) = 0: no request in the window"


def test_resuming_with_another_burstiness_is_refused(emu, prompts, tmp_path, monkeypatch):
    d = _deployment(emu, monkeypatch)
    common = {"rate": [4.0, 8.0], "requests_per_level": 5, "warmup_s": 0, "params": RunParams(max_tokens=4), **QUIET}
    sweep([d], prompts, tmp_path / "r", burstiness=0.5, **common)
    rows = len(read_rows(tmp_path / "r"))
    with pytest.raises(SweepError, match=r"swept with other settings \(burstiness: 0.5 then, 2.0 now\)"):
        sweep([d], prompts, tmp_path / "r", burstiness=2.0, resume=True, **common)
    assert len(read_rows(tmp_path / "r")) == rows, "nothing sent"
