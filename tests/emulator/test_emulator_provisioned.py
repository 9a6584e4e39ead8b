"""A provisioned (PTU) deployment on the emulator, over real HTTP: a utilization bucket, an immediate 429 above 100%.

100 PTU of Llama-3.3-70B-Instruct drain 100 x 8,450 / 60 = 14,083 normalized tokens a second (output x4).
With ``quota_window_s=0.5`` the bucket holds half a second of that, 7,042 tokens: one prompt of about
30,000 tokens overfills it for (30,000 - 7,042) / 14,083 = about 1.6 s, so the next request is refused
at once with ``retry-after-ms`` — not queued — and is admitted again once that time has passed.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from llama_eval import Deployment
from llama_eval.emulator import EmulatorConfig, start_emulator
from llama_eval.emulator.config import EmulatedDeployment
from llama_eval.emulator.provisioned import PtuBucket
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.records import Status
from llama_eval.run import RunParams, run_evaluation
from llama_eval.run.policy import PTU_BACK_PRESSURE
from llama_eval.rundir.health import run_rows

L33 = "Llama-3.3-70B-Instruct"
LONG = " hello" * 30_000  # about 30,000 prompt tokens
SHORT = [{"role": "user", "content": "What is 2 + 2?"}]


def post(url: str, key: str, body: dict) -> tuple[int, dict[str, str], dict, float]:
    """(status, headers, JSON body, seconds) of one real HTTP request."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json", "api-key": key})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), json.loads(response.read()), time.monotonic() - started
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read()), time.monotonic() - started


def ptu_emulator(window_s: float = 0.5, time_scale: float = 0.0):
    spec = EmulatedDeployment("l33-ptu", L33, kind="provisioned", ptu=100)
    return start_emulator(EmulatorConfig(deployments=[spec], quota_window_s=window_s, time_scale=time_scale))


def test_the_bucket_refills_at_the_ptu_throughput_and_weighs_output_x4():
    now = [0.0]
    bucket = PtuBucket(100, 8450, 4, window_s=60.0, clock=lambda: now[0])
    assert bucket.capacity == pytest.approx(845_000) and bucket.rate == pytest.approx(845_000 / 60)
    admitted = bucket.admit(1000 + 200, prompt_tokens=1000)  # expected: 1,000 + 4 x 200 = 1,800
    assert bucket.utilization == pytest.approx(1800 / 845_000)
    admitted.settle(1000 + 50)  # used: 1,000 + 4 x 50 = 1,200
    assert bucket.utilization == pytest.approx(1200 / 845_000)
    bucket.add(900_000)  # over 100%
    with pytest.raises(Exception) as refused:
        bucket.admit(10, prompt_tokens=10)
    assert refused.value.retry_after_s == pytest.approx((901_200 - 845_000) / (845_000 / 60))  # about 4 s to drain back
    now[0] += refused.value.retry_after_s + 0.001
    bucket.admit(10, prompt_tokens=10)  # back under 100%: admitted


def test_above_100_percent_an_immediate_429_with_retry_after_ms_then_admitted():
    with ptu_emulator() as emu:
        url = f"{emu.deployment_url('l33-ptu')}/chat/completions"
        first = post(url, emu.key, {"messages": [{"role": "user", "content": LONG}], "max_tokens": 5})
        refused = post(url, emu.key, {"messages": SHORT, "max_tokens": 5})
        wait_ms = int(refused[1]["retry-after-ms"])
        time.sleep(wait_ms / 1000 + 0.05)
        again = post(url, emu.key, {"messages": SHORT, "max_tokens": 5})
    assert first[0] == 200 and first[2]["usage"]["prompt_tokens"] > 25_000
    status, headers, body, seconds = refused
    assert status == 429 and body["error"]["code"] == "TooManyRequests"
    assert "provisioned throughput utilization" in body["error"]["message"] and "100 PTU" in body["error"]["message"]
    # (prompt - 7,042) / 14,083 s, less what drained while the first answer came back
    expected_ms = (first[2]["usage"]["prompt_tokens"] + 4 * first[2]["usage"]["completion_tokens"] - 7042) / 14.083
    assert 0 < wait_ms <= expected_ms + 1 and int(headers["retry-after"]) >= 1
    assert seconds < wait_ms / 1000, "refused at once, not queued until the bucket drains"
    assert again[0] == 200, "admitted once utilization is back under 100%"


def _prompts(tmp_path, n: int):
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"{i}:" + " hello" * 12_000}) + "\n" for i in range(n)))
    return load_prompt_set(path)


def _ptu_deployment(emu, monkeypatch) -> Deployment:
    monkeypatch.setenv("EMU_KEY", emu.key)
    return Deployment(name="l33-ptu", model=L33, kind="provisioned", ptu=100, endpoint=emu.deployment_url("l33-ptu"), key_env="EMU_KEY")


def test_the_runner_records_ptu_back_pressure_as_rate_limited_with_its_reason(tmp_path, monkeypatch):
    """Three 12,000-token prompts at once, one attempt each: the first fills the bucket, the others are PTU back-pressure."""
    with ptu_emulator() as emu:
        run_evaluation([_ptu_deployment(emu, monkeypatch)], _prompts(tmp_path, 3), tmp_path / "r", RunParams(max_tokens=5, concurrency=3, max_attempts=1),
                       progress="none")  # fmt: skip
    rows = run_rows(tmp_path / "r")
    limited = [r for r in rows if r["status"] == Status.RATE_LIMITED.value]
    assert limited and any(r["status"] in ("ok", "length") for r in rows)
    for r in limited:
        assert r["http_status"] == 429 and r["error_message"].startswith(PTU_BACK_PRESSURE) and "retry-after" in r["error_message"]
        assert r.get("e2e_s") is None and r.get("ttft_s") is None, "a refused request has no latency: nothing is hidden in TTFT"


def test_retries_wait_out_retry_after_ms_and_the_wait_is_not_ttft(tmp_path, monkeypatch):
    with ptu_emulator() as emu:
        run_evaluation([_ptu_deployment(emu, monkeypatch)], _prompts(tmp_path, 3), tmp_path / "r", RunParams(max_tokens=5, concurrency=3, max_attempts=6),
                       progress="none")  # fmt: skip
    rows = run_rows(tmp_path / "r")
    assert all(r["status"] in ("ok", "length") for r in rows), [(r["status"], r.get("error_message")) for r in rows]
    retried = [r for r in rows if r["attempts"] > 1]
    assert retried and all(r["retry_wait_s"] > 0 for r in retried)
    assert all(r["e2e_s"] < r["retry_wait_s"] for r in retried), "the wait is recorded as retry wait, not in the answer's latency"
