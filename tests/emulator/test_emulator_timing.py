"""Timing fidelity: what a raw client measures matches the emulator's latency profile.

The emulator runs in its own process (a server thread in the measuring process would compete for the
GIL). Profile: 200 ms to first token, 50 tokens/s, no jitter, time-scale 1; 32 concurrent streams.
Streams start 5 ms apart and all 32 are in flight together: a burst that lands in one millisecond
also measures the HTTP stacks queueing 32 requests (about 20 ms for the burst on this machine,
client and server together), which is not part of the profile.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import urllib.request

import aiohttp

from llama_eval.emulator.process import spawn_emulator
from llama_eval.run.heap import frozen_heap

MODEL = "Llama-3.3-70B-Instruct"
TTFT_S, TPS, STREAMS, TOKENS, STAGGER_S = 0.200, 50.0, 32, 25, 0.005


async def one_stream(session: aiohttp.ClientSession, url: str, key: str, i: int, delay: float = 0.0) -> tuple[float, float, float, list[float]]:
    """(start, ttft, end, inter-chunk gaps) of one streamed request, by perf_counter."""
    await asyncio.sleep(delay)
    body = {"messages": [{"role": "user", "content": f"Tell me story number {i}."}], "max_tokens": TOKENS, "stream": True, "temperature": 0.7}
    start = time.perf_counter()
    arrivals = []
    async with session.post(url, json=body, headers={"api-key": key}) as response:
        assert response.status == 200
        async for line in response.content:
            if line.startswith(b"data: {"):
                chunk = json.loads(line[6:])
                if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    arrivals.append(time.perf_counter())
    return start, arrivals[0] - start, arrivals[-1], [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]


async def measure(url: str, key: str) -> list[tuple[float, float, float, list[float]]]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=STREAMS)) as session:
        await asyncio.gather(*(one_stream(session, url, key, -i) for i in range(1, STREAMS + 1)))  # warm: connections, tokenizer
        return await asyncio.gather(*(one_stream(session, url, key, i, i * STAGGER_S) for i in range(STREAMS)))


def test_ttft_and_inter_token_gaps_match_the_profile():
    with spawn_emulator("--models", MODEL, "--ttft", str(TTFT_S), "--tps", str(TPS), "--rpm", "100000") as emu:
        with frozen_heap():  # this is a long pytest process: a full collection of its heap would pause every stream at once
            results = asyncio.run(measure(f"{emu.url}/{MODEL}/chat/completions", emu.key))
        with urllib.request.urlopen(f"{emu.url}/_emulator/stats", timeout=10) as response:
            server = json.loads(response.read())["first_token_lateness"]
    starts, ttfts, ends, gaps = zip(*results, strict=True)
    assert max(starts) < min(ends), "all 32 streams must be in flight at the same time"
    gaps = [g for per_stream in gaps for g in per_stream]
    assert len(gaps) >= STREAMS * (TOKENS // 2)
    median_ttft, median_gap = statistics.median(ttfts), statistics.median(gaps)
    late = f"; the emulator's own first-token lateness p50 {server['p50_ms']:.1f} ms"
    assert abs(median_ttft - TTFT_S) / TTFT_S < 0.05, f"median TTFT {median_ttft * 1000:.1f} ms vs {TTFT_S * 1000:.0f} ms{late}"
    assert abs(median_gap - 1 / TPS) / (1 / TPS) < 0.05, f"median gap {median_gap * 1000:.2f} ms vs {1000 / TPS:.0f} ms"
    assert server["p50_ms"] < 0.05 * TTFT_S * 1000, f"the emulator itself wrote first tokens {server['p50_ms']:.1f} ms late (median)"


def test_a_deployment_stalled_on_the_wire_is_flagged_and_a_clean_one_is_not(tmp_path, monkeypatch):
    """Two emulators at half speed, one pausing a third of its answers (the `stall` fault: 0.4 s of real time, no part
    of the timing it intends). The runner records what each emulator intended; the health check flags only the stalled one."""
    from llama_eval import Deployment
    from llama_eval.prompts.prompt_set import load_prompt_set
    from llama_eval.run import RunParams, run_evaluation
    from llama_eval.rundir.health import assess_run

    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"Tell me story number {i}."}) + "\n" for i in range(12)))
    profile = ("--models", MODEL, "--ttft", "0.2", "--tps", "25", "--time-scale", "0.5", "--rpm", "100000")
    with (
        spawn_emulator(*profile) as clean,
        spawn_emulator(*profile, "--fault-rate", "0.34", "--fault-kinds", "stall", "--stall", "0.4", "--seed", "2") as stalled,
    ):
        monkeypatch.setenv("CLEAN_KEY", clean.key)
        monkeypatch.setenv("STALLED_KEY", stalled.key)
        deployments = [
            Deployment(name="clean", model=MODEL, endpoint=f"{clean.url}/{MODEL}", key_env="CLEAN_KEY"),
            Deployment(name="stalled", model=MODEL, endpoint=f"{stalled.url}/{MODEL}", key_env="STALLED_KEY"),
        ]
        params = RunParams(max_tokens=8, concurrency=3, warmup=1, max_attempts=1)
        run_evaluation(deployments, load_prompt_set(path), tmp_path / "run", params, progress="none", announce=lambda m: None)
    health = assess_run(tmp_path / "run")
    good, bad = health.deployments["clean"], health.deployments["stalled"]
    assert good.time_scale == bad.time_scale == 0.5
    assert good.intended is not None and good.intended.requests == 11 and good.intended.ok, good.intended.sentence()
    assert bad.intended is not None and not bad.intended.ok and bad.intended.get("TTFT", "p90").off > 1, bad.intended.sentence()
    assert health.latency_unreliable() == ["stalled"] and "not trustworthy on this machine" in bad.latency_caveat
