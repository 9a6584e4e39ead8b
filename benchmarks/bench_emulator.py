"""How many requests per second the emulator serves with zero simulated latency.

The emulator must never be the bottleneck of the runner's benchmarks (target: >= 1,000 non-streaming
requests/s on 2 cores). Baseline: a bare aiohttp server answering every POST with one canned
completion, measured by the same client in the same run, so the ratio shows what the emulator's
real work (parsing, rules, quota, token counting, simulated text) costs over HTTP plumbing alone.
Each server runs in its own process; the client (aiohttp, 64 concurrent requests) in this one.

Also the first request of a fresh emulator per tokenizer family against the median of the next
ones (same process, same client): the emulator loads its tokenizers at start, so the first
request must not be a cold start (target: first <= 10x warm median; it was ~200x before the preload).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import aiohttp

from llama_eval.emulator.process import spawn_emulator

MODEL = "Llama-3.3-70B-Instruct"
REQUESTS, CONCURRENCY = 5000, 64
BODY = {"messages": [{"role": "user", "content": "How many languages are in the world?"}], "max_tokens": 64}

BASELINE_SERVER = r"""
import json, sys
from aiohttp import web
canned = json.dumps({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "About 7,000 languages are spoken today."},
                 "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 18, "completion_tokens": 10, "total_tokens": 28}})
async def chat(request):
    await request.read()
    return web.Response(text=canned, content_type="application/json")
app = web.Application(); app.router.add_post("/{tail:.*}", chat)
async def announce(app):
    print("listening", flush=True)
app.on_startup.append(announce)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


async def rate(url: str, key: str, stream: bool = False) -> float:
    body = {**BODY, "stream": stream}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one() -> None:
            async with semaphore, session.post(url, json=body, headers={"api-key": key}) as response:
                await response.read()
                assert response.status == 200, response.status

        await asyncio.gather(*(one() for _ in range(CONCURRENCY * 4)))  # warm-up
        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(REQUESTS)))
        return REQUESTS / (time.perf_counter() - start)


def baseline_rate() -> float:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", BASELINE_SERVER, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout and proc.stdout.readline().startswith("listening")
        time.sleep(0.2)
        return asyncio.run(rate(f"http://127.0.0.1:{port}/chat/completions", "none"))
    finally:
        proc.terminate()
        proc.wait(10)


COLD_MODELS = ("Meta-Llama-3.1-8B-Instruct", "Llama-4-Maverick-17B-128E-Instruct-FP8")


def first_request_vs_warm() -> dict[str, float]:
    """Seconds of the first request to each model of a fresh emulator, and the median of 20 after it."""
    import statistics
    import urllib.request

    out: dict[str, float] = {}
    with spawn_emulator("--models", ",".join(COLD_MODELS), "--time-scale", "0") as emu:
        for model in COLD_MODELS:
            times = []
            for i in range(21):
                body = json.dumps({"messages": [{"role": "user", "content": f"Hello number {i}"}], "max_tokens": 16}).encode()
                headers = {"api-key": emu.key, "Content-Type": "application/json"}
                request = urllib.request.Request(f"{emu.url}/{model}/chat/completions", data=body, headers=headers)
                start = time.perf_counter()
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
                    response.read()
                times.append(time.perf_counter() - start)
            family = "llama4" if "Llama-4" in model else "llama3"
            out[f"{family}_first_request_ms"] = round(1000 * times[0], 2)
            out[f"{family}_warm_median_ms"] = round(1000 * statistics.median(times[1:]), 2)
            out[f"{family}_first_vs_warm_ratio"] = round(times[0] / statistics.median(times[1:]), 2)
    return out


def main() -> None:
    cold = first_request_vs_warm()
    bare = baseline_rate()
    with spawn_emulator("--models", MODEL, "--time-scale", "0", "--rpm", "100000000", "--tpm", "100000000000") as emu:
        url = f"{emu.url}/{MODEL}/chat/completions"
        plain = asyncio.run(rate(url, emu.key))
        streamed = asyncio.run(rate(url, emu.key, stream=True))
    result = {
        "benchmark": "emulator_throughput",
        "requests": REQUESTS,
        "concurrency": CONCURRENCY,
        "baseline_bare_aiohttp_req_per_s": round(bare),
        "emulator_req_per_s": round(plain),
        "emulator_streaming_req_per_s": round(streamed),
        "ratio_vs_baseline": round(plain / bare, 3),
        "target_req_per_s": 1000,
        "meets_target": plain >= 1000,
        **cold,
        "first_request_target_ratio": 10,
        "first_request_meets_target": all(v <= 10 for k, v in cold.items() if k.endswith("_ratio")),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
