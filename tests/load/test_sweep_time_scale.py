"""The same sweep at 1/20 speed and in real time stops at the same level with the same capacity (emulated time is one clock).

One emulated serverless deployment (Llama 3.3 70B, a fixed fast profile, a 300-rpm quota) in a process of
its own, swept open-loop at 2, 4 and 8 requests per emulated second under one SLO, 10 emulated seconds a
level. 8 req/s is 480 requests a minute, over the quota: both sweeps stop before it, at the quota, and both
find 4 req/s. Throughput divides by the span up to the last answer, so this machine's own delays (20x at
1/20 speed) stretch it a little: ten-second levels keep that inside the 10%.
Before issue 29 the sped-up sweep converted its rate to real minutes (2 req/s = 2,400 "requests/min" at
time scale 0.05) and stopped before its first level.
"""

from __future__ import annotations

import json

import pytest

from llama_eval import Deployment
from llama_eval.catalog.models import Quota
from llama_eval.emulator.process import spawn_emulator
from llama_eval.load.sweep import sweep
from llama_eval.run import RunParams

L33 = "Llama-3.3-70B-Instruct"
RPM = 300
SLO = "ttft_p90<=5.0"  # a fast profile (0.3 s to first token) meets it at every level the quota allows, with room for this
# machine's own delays, which count 20x at 1/20 speed (the test is about the clock, not this machine's latency)


def _sweep(tmp_path, monkeypatch, scale: float):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Say hello number {i}."}) + "\n" for i in range(6)))
    args = ("--models", L33, "--rpm", str(RPM), "--ttft", "0.3", "--tps", "100", "--time-scale", str(scale))
    with spawn_emulator(*args) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        d = Deployment(name="l33", model=L33, kind="serverless", endpoint=f"{emu.url}/{L33}", key_env="EMU_KEY", quota=Quota(rpm=RPM, tpm=400_000))
        return sweep([d], prompts, tmp_path / f"sweep-{scale:g}", rate=[2, 4, 8], duration_s=10, warmup_s=0.5, slo=SLO,
                     params=RunParams(max_tokens=4), progress="none", announce=lambda message: None)  # fmt: skip


def test_a_sped_up_sweep_stops_where_the_real_time_sweep_does(tmp_path, monkeypatch):
    fast = _sweep(tmp_path, monkeypatch, 0.05)
    real = _sweep(tmp_path, monkeypatch, 1.0)
    for result in (fast, real):
        assert [level.rate_rps for level in result.levels] == [2.0, 4.0], result.stopped
        assert result.stop_kind == "quota" and f"exceeds the quota of {RPM} rpm" in result.stopped
        assert all(level.errors == 0 for level in result.levels), "no 429: the emulator counts the same emulated minute"
        assert result.capacity.level is not None and result.capacity.level.rate_rps == 4.0
    assert fast.capacity.level.throughput_rps == pytest.approx(real.capacity.level.throughput_rps, rel=0.10)
    assert fast.time_scale == 0.05 and real.time_scale == 1.0
