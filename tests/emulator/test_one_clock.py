"""Emulated time is one clock: quotas, their windows, retry-after and the runner's pacing count the emulated service's time.

At time scale 0.05 the emulator runs 20x fast, so its quota minute lasts 3 real seconds and a 1,000-rpm
deployment admits 1,000 requests in it, 20,000 a real minute, as the service would in its own minute.
Retry-after goes out in real seconds (the client sleeps real time). Time scale 1 is a real service:
nothing changes. Time scale 0 (no delays) keeps real seconds. Real HTTP to a running emulator throughout.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

import httpx
import pytest

from llama_eval import Deployment
from llama_eval.emulator import start_emulator
from llama_eval.emulator.quota import QuotaLimiter, emulated_clock, real_seconds
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.run import RunParams, run_evaluation
from llama_eval.run.pacing import QuotaPool
from llama_eval.rundir.store import read_manifest, read_rows

L33 = "Llama-3.3-70B-Instruct"  # serverless, 1,000 requests/min (data/models.yaml)
QUIET = {"progress": "none", "announce": lambda message: None}


def _chat(emu, text: str) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": text}], "max_tokens": 2}
    return httpx.post(f"{emu.deployment_url(L33)}/chat/completions", json=body, headers={"api-key": emu.key}, timeout=30)


def test_the_clock_helpers_count_emulated_seconds():
    now = emulated_clock(0.05)()
    assert now == pytest.approx(emulated_clock(1.0)() / 0.05, rel=1e-3)
    assert emulated_clock(0)() == pytest.approx(emulated_clock(1.0)(), abs=0.01)  # time scale 0 has no emulated time: real seconds
    assert real_seconds(60, 0.05) == pytest.approx(3.0) and real_seconds(60, 1.0) == 60 and real_seconds(60, 0) == 60


def test_a_quota_minute_is_an_emulated_minute_and_retry_after_is_in_real_seconds():
    # 60 requests a minute at half speed: 60 are admitted in the window, the 61st is refused until the emulated minute
    # (30 real seconds) has passed since the first; the wire says how long in REAL seconds: under 30, where a real
    # minute would make it nearly 60
    with start_emulator(time_scale=0.5, models=[L33], rpm=60) as emu:
        answers = [_chat(emu, f"hello {i}") for i in range(61)]
        refused = answers[-1]
        limiter = emu.emulator.deployments[L33].quota
    assert [r.status_code for r in answers[:60]] == [200] * 60
    assert refused.status_code == 429
    wait_ms = int(refused.headers["retry-after-ms"])
    assert 0 < wait_ms <= 30_001, "an emulated minute is 30 real seconds at time scale 0.5: the wait cannot be longer"
    assert refused.headers["retry-after"] == str(max(1, -(-wait_ms // 1000)))  # whole real seconds, rounded up
    assert isinstance(limiter, QuotaLimiter) and limiter.requests.limit == 60 and limiter.requests.window_s == 60.0  # the limit is unchanged


def test_after_the_real_retry_after_the_emulated_quota_admits_again():
    with start_emulator(time_scale=0.05, models=[L33], rpm=10) as emu:  # an emulated minute = 3 real seconds
        assert [_chat(emu, f"a{i}").status_code for i in range(10)] == [200] * 10
        refused = _chat(emu, "one too many")
        assert refused.status_code == 429
        time.sleep(int(refused.headers["retry-after-ms"]) / 1000 + 0.05)
        assert _chat(emu, "again").status_code == 200


def test_time_scale_one_is_a_real_minute():
    with start_emulator(time_scale=1.0, models=[L33], rpm=60) as emu:
        answers = [_chat(emu, f"x{i}") for i in range(61)]
    assert answers[-1].status_code == 429
    assert int(answers[-1].headers["retry-after-ms"]) > 30_000  # the first of the 60 leaves the window a real minute later


@pytest.mark.filterwarnings("ignore:emulated deployment:llama_eval.errors.LifecycleWarning")
def test_a_sped_up_run_is_paced_to_the_quota_in_emulated_minutes(tmp_path, monkeypatch):
    """1,000 rpm at 1/20 speed is 1,000 emulated requests a minute = 20,000 a real one (not 1,000 real ones: 50 emulated)."""
    scale, n = 0.05, 300
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("\n".join(json.dumps({"id": str(i), "prompt": f"hello {i}"}) for i in range(n)) + "\n")
    monkeypatch.setenv("EMU_KEY", "k")
    with start_emulator(time_scale=scale, models=[L33], key="k") as emu:
        d = Deployment(name="l33", model=L33, kind="serverless", endpoint=emu.deployment_url(L33), key_env="EMU_KEY")
        assert d.effective_quota().rpm == 1000
        run_evaluation([d], load_prompt_set(prompts), tmp_path / "r", RunParams(max_tokens=4, concurrency=32), **QUIET)
        stats = emu.stats
    rows = read_rows(tmp_path / "r")
    assert len(rows) == n and all(r["status"] in ("ok", "length") for r in rows)
    assert stats.get("status_429", 0) == 0, "paced under the emulated quota: no 429"
    assert read_manifest(tmp_path / "r")["deployments"]["l33"]["time_scale"] == scale
    # answered = sent + a service time of ~10 ms real: the answers' instants are the sends' pace (started_at is when a
    # worker took the prompt, before it waited for the pool)
    ends = sorted(datetime.fromisoformat(r["finished_at"]).timestamp() for r in rows)
    burst = 40  # the requests bucket holds about one (emulated) second's worth, 16.3 requests: the steady pace comes after them
    span_real = ends[-1] - ends[burst]
    assert span_real > 0
    emulated_rpm = (n - 1 - burst) / (span_real / scale) * 60
    assert emulated_rpm <= 1000 * 1.1, f"{emulated_rpm:.0f} emulated requests/min: faster than the 1,000 rpm quota (980 paced, ms timestamps)"
    assert emulated_rpm > 250, f"{emulated_rpm:.0f} emulated requests/min: paced in real minutes (50 emulated rpm), not emulated ones"


async def test_a_pool_paces_in_the_service_time_it_is_told():
    pool = QuotaPool("p", 600, None, None)  # 10 a second of service time, a burst of about one second's worth
    pool.set_time_scale(0.01)  # 100x fast: 1,000 a real second
    assert pool.requests is not None and pool.requests.rate == pytest.approx(600 * 0.98 / 60)
    waited = [(await pool.reserve(0)).waited_s for _ in range(40)]
    assert sum(waited) < 1.0, "30 requests beyond the burst at 980 a real second take about 0.03 s, not 3 s"
    assert sum(waited) > 0, "beyond the burst the pool still waits"
