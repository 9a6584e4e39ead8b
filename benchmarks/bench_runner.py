"""The runner's four benchmarks, each printed as a ratio against its target or baseline.

    python benchmarks/bench_runner.py [quota|timing|overhead|memory|all]

1. quota     — a deployment limited to 600 requests/min (then a binding tokens/min limit), 1,000+
               requests: achieved rate / limit >= 0.95, no failed rows, 429s <= 1% of requests.
2. timing    — emulator profile 200 ms to first token, 50 tokens/s, at 64 and at 256 concurrent
               streams: the runner's median TTFT error (measured - 200 ms) <= a bare aiohttp streaming
               loop's error in the same run + 5 ms; median inter-token gap within 5% of 20 ms. The
               first runner (SDK transports) is measured beside it at 64 streams (--client sdk).
3. overhead  — zero-latency emulator, 3,000 requests at concurrency 64: runner throughput / a bare
               aiohttp loop posting the same bodies to the same emulator >= 0.9 (non-streaming) and
               >= 0.8 (streaming). The two alternate in one process (bare, runner, bare, ... bare);
               each of 11 runner rounds is divided by the mean of the bare runs beside it and the
               median of those ratios is judged (every raw figure is printed). Also printed: a bare loop of the
               azure-ai-inference aio SDK, the floor of the first runner, which was built on it.
4. memory    — 50,000 short requests: peak RSS grows by less than 100 MB over the start.

The emulator runs in its own process; the runner (or the baseline loop) in this one.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

from llama_eval.catalog.models import Quota
from llama_eval.deployments.model import Deployment
from llama_eval.emulator.process import spawn_emulator
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.run import RunParams, run_evaluation
from llama_eval.rundir.store import read_manifest, read_rows

MODEL = "Llama-3.3-70B-Instruct"
QUIET = {"progress": "none", "announce": lambda message: None}


def prompt_set(directory: Path, n: int, words: int = 3):
    path = directory / f"prompts-{n}.jsonl"
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": str(i), "prompt": " ".join(["hello"] * words) + f" {i}"}) + "\n")
    return load_prompt_set(path)


def deployment(emu, quota: Quota | None = None) -> Deployment:
    os.environ["BENCH_EMU_KEY"] = emu.key
    return Deployment(name="bench", model=MODEL, kind="serverless", endpoint=f"{emu.url}/{MODEL}", key_env="BENCH_EMU_KEY", quota=quota)


def bench_quota(tmp: Path) -> dict:
    results = {}
    # Case 1: requests/min binds (600/min; token limit far away).
    n = 1020
    with spawn_emulator("--models", MODEL, "--time-scale", "0", "--rpm", "600", "--tpm", "100000000") as emu:
        start = time.monotonic()
        run_evaluation(
            [deployment(emu, Quota(rpm=600, tpm=100_000_000))], prompt_set(tmp, n), tmp / "quota-rpm", RunParams(max_tokens=16, concurrency=32), **QUIET
        )
        elapsed = time.monotonic() - start
    rows = read_rows(tmp / "quota-rpm")
    failed = sum(r["status"] not in ("ok", "length") for r in rows)
    retried_429 = sum(r["attempts"] - 1 for r in rows)
    results["rpm_case"] = {
        "requests": n,
        "limit_per_min": 600,
        "achieved_per_min": round(n / elapsed * 60, 1),
        "ratio_vs_limit": round(n / elapsed * 60 / 600, 3),
        "failed_rows": failed,
        "retries_after_429_share": round(retried_429 / n, 4),
    }
    # Case 2: tokens/min binds (60,000/min; each request reserves its prompt + 100 max_tokens).
    tpm = 60_000
    with spawn_emulator("--models", MODEL, "--time-scale", "0", "--rpm", "100000", "--tpm", str(tpm)) as emu:
        start = time.monotonic()
        run_evaluation(
            [deployment(emu, Quota(rpm=100_000, tpm=tpm))], prompt_set(tmp, n, words=20), tmp / "quota-tpm", RunParams(max_tokens=100, concurrency=32), **QUIET
        )
        elapsed = time.monotonic() - start
    rows = read_rows(tmp / "quota-tpm")
    used = sum(r["usage"]["total_tokens"] for r in rows if r.get("usage"))
    reserved = sum(r["usage"]["prompt_tokens"] + 100 for r in rows if r.get("usage"))
    results["tpm_case"] = {
        "requests": n,
        "limit_tokens_per_min": tpm,
        "used_tokens_per_min": round(used / elapsed * 60),
        "ratio_used_vs_limit": round(used / elapsed * 60 / tpm, 3),
        "ratio_reserved_vs_limit": round(reserved / elapsed * 60 / tpm, 3),
        "failed_rows": sum(r["status"] not in ("ok", "length") for r in rows),
        "retries_after_429_share": round(sum(r["attempts"] - 1 for r in rows) / n, 4),
    }
    return results


async def bare_stream_ttft(url: str, key: str, bodies: list[dict], concurrency: int) -> list[float]:
    """Time to the first body bytes of each stream, with nothing but aiohttp: the floor of any client."""
    ttfts: list[float] = []
    queue = list(bodies)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker(delay: float) -> None:
            await asyncio.sleep(delay)
            while queue:
                body = queue.pop()
                start = time.perf_counter()
                async with session.post(url, json=body, headers={"api-key": key}) as response:
                    first = None
                    async for _ in response.content.iter_any():
                        first = first or time.perf_counter()
                    ttfts.append(first - start)

        ramp = min(2.0, 0.01 * concurrency)  # the runner's default ramp, so both start the same way
        await asyncio.gather(*(worker(ramp * i / concurrency) for i in range(concurrency)))
    return ttfts


def _timing_of(run_dir: Path) -> dict:
    rows = [r for r in read_rows(run_dir) if r.get("ttft_s") is not None and not r.get("warmup")]
    itl = statistics.median(r["itl_p50_s"] for r in rows if r.get("itl_p50_s"))
    return {
        "requests": len(rows),
        "median_ttft_error_ms": round(statistics.median(r["ttft_s"] - 0.2 for r in rows) * 1000, 2),
        "median_itl_ms": round(itl * 1000, 3),
        "itl_ratio_vs_profile": round(itl / 0.02, 4),
        "loop_lag": read_manifest(run_dir)["deployments"]["bench"]["loop_lag"],
    }


def bench_timing_fixed(tmp: Path) -> dict:
    """The same figures against benchmarks/fixed_server.py, which keeps its schedule at higher concurrency than the emulator."""
    import socket
    import subprocess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fixed_server.py")), str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().startswith("listening")
        os.environ["BENCH_EMU_KEY"] = "unused"
        dep = Deployment(name="bench", model=MODEL, kind="managed", endpoint=f"http://127.0.0.1:{port}/fixed", key_env="BENCH_EMU_KEY")
        out = {}
        for streams in (64, 256):
            prompts = prompt_set(tmp, streams * 8)
            bodies = [{"messages": list(item.messages), "max_tokens": 25, "stream": True} for item in prompts]
            bare = asyncio.run(bare_stream_ttft(f"http://127.0.0.1:{port}/fixed/chat/completions", "unused", bodies, streams))
            run_evaluation([dep], prompts, tmp / f"fixed-{streams}", RunParams(max_tokens=25, concurrency=streams, warmup=0), **QUIET)
            runner = _timing_of(tmp / f"fixed-{streams}")
            bare_error = round((statistics.median(bare) - 0.2) * 1000, 2)
            out[f"streams_{streams}"] = {
                "bare_aiohttp_median_ttft_error_ms": bare_error,
                "runner": runner,
                "runner_minus_bare_ms": round(runner["median_ttft_error_ms"] - bare_error, 2),
                "pass": runner["median_ttft_error_ms"] - bare_error <= 5 and 0.95 <= runner["itl_ratio_vs_profile"] <= 1.05,
            }
        return out
    finally:
        server.terminate()
        server.wait()


def bench_timing(tmp: Path) -> dict:
    out = {}
    per_stream = 8
    with spawn_emulator("--models", MODEL, "--ttft", "0.2", "--tps", "50", "--rpm", "1000000000", "--tpm", "1000000000000", "--concurrency", "100000") as emu:
        dep = deployment(emu, Quota(rpm=10**9, tpm=10**12, concurrency=100_000))
        for streams in (64, 256):
            prompts = prompt_set(tmp, streams * per_stream)
            bodies = [{"messages": list(item.messages), "max_tokens": 25, "temperature": 0.7, "stream": True} for item in prompts]
            bare = asyncio.run(bare_stream_ttft(f"{emu.url}/{MODEL}/chat/completions", emu.key, bodies, streams))
            params = RunParams(max_tokens=25, concurrency=streams, temperature=0.7, warmup=0)
            run_evaluation([dep], prompts, tmp / f"timing-{streams}", params, **QUIET)
            runner = _timing_of(tmp / f"timing-{streams}")
            bare_error = round((statistics.median(bare) - 0.2) * 1000, 2)
            result = {"bare_aiohttp_median_ttft_error_ms": bare_error, "runner": runner}
            result["runner_minus_bare_ms"] = round(runner["median_ttft_error_ms"] - bare_error, 2)
            result["pass"] = result["runner_minus_bare_ms"] <= 5 and 0.95 <= runner["itl_ratio_vs_profile"] <= 1.05
            if streams == 64:
                sdk = RunParams(max_tokens=25, concurrency=streams, temperature=0.7, warmup=0, client="sdk")
                run_evaluation([dep], prompts, tmp / "timing-sdk-64", sdk, **QUIET)
                result["first_runner_sdk_client"] = _timing_of(tmp / "timing-sdk-64")
            out[f"streams_{streams}"] = result
    out["targets"] = "runner TTFT error <= bare aiohttp error + 5 ms; ITL ratio in [0.95, 1.05]; at 64 and 256 streams"
    return out


async def bare_loop(url: str, key: str, bodies: list[dict], concurrency: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        queue = list(bodies)

        async def worker() -> None:
            while queue:
                body = queue.pop()
                async with session.post(url, json=body, headers={"api-key": key}) as response:
                    await response.read()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(bodies) / (time.perf_counter() - start)


async def sdk_loop(endpoint: str, key: str, bodies: list[dict], concurrency: int, stream: bool) -> float:
    """The azure-ai-inference aio client alone, retries off: the floor under any runner built on it."""
    from azure.ai.inference.aio import ChatCompletionsClient
    from azure.core.credentials import AzureKeyCredential

    client = ChatCompletionsClient(endpoint=endpoint, credential=AzureKeyCredential(key), retry_total=0)
    queue = list(bodies)

    async def worker() -> None:
        while queue:
            body = queue.pop()
            if stream:
                response = await client.complete(messages=body["messages"], max_tokens=body["max_tokens"], stream=True)
                async for _ in response:
                    pass
                await response.aclose()
            else:
                await client.complete(messages=body["messages"], max_tokens=body["max_tokens"])

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    rate = len(bodies) / (time.perf_counter() - start)
    await client.close()
    return rate


def bench_overhead(tmp: Path, n: int = 3000, rounds: int = 11) -> dict:
    """Runner and bare loop interleaved in one process: bare, runner, bare, runner, ..., bare.

    On this shared 2-core machine the bare loop alone runs in two regimes against the same emulator,
    about 2,000 and about 3,300 req/s, each lasting several seconds (ten back-to-back runs of the bare
    loop: 2,042, 1,632, 1,543, 1,511, 1,663, 3,278, 3,356, 3,140, 3,219, 3,151; pinning client and
    emulator to a core each does not remove it). One runner run against one bare run is then mostly
    that noise. So the runs are short (3,000 requests, a second or two), each runner round is
    compared with the mean of the bare runs just before and after it, and the median of eleven such
    ratios is judged: a regime change spoils the one or two rounds it falls in, not the median.
    Every raw figure is printed. Same bodies, same concurrency, same emulator for both.
    """
    prompts = prompt_set(tmp, n)
    out = {}
    with spawn_emulator("--models", MODEL, "--time-scale", "0", "--rpm", "1000000000", "--tpm", "1000000000000") as emu:
        url = f"{emu.url}/{MODEL}/chat/completions"
        for stream in (False, True):
            bodies = [{"messages": list(item.messages), "max_tokens": 16, "stream": stream} for item in prompts]
            asyncio.run(bare_loop(url, emu.key, bodies[:500], 64))  # warm-up
            sdk = asyncio.run(sdk_loop(f"{emu.url}/{MODEL}", emu.key, bodies, 64, stream))
            bare = [asyncio.run(bare_loop(url, emu.key, bodies, 64))]
            runner, whole = [], []
            for i in range(rounds):
                run_dir = tmp / f"overhead-{stream}-{i}"
                start = time.perf_counter()
                params = RunParams(max_tokens=16, concurrency=64, stream=stream, ramp_s=0)
                run_evaluation([deployment(emu, Quota(rpm=10**9, tpm=10**12))], prompts, run_dir, params, **QUIET)
                whole.append(n / (time.perf_counter() - start))
                runner.append(_request_phase_rate(run_dir))
                bare.append(asyncio.run(bare_loop(url, emu.key, bodies, 64)))
            ratios = [r / ((bare[i] + bare[i + 1]) / 2) for i, r in enumerate(runner)]
            target = 0.8 if stream else 0.9
            out["streaming" if stream else "non_streaming"] = {
                "requests_per_run": n,
                "order": "bare, then (runner, bare) x rounds",
                "bare_aiohttp_req_per_s": [round(b) for b in bare],
                "runner_req_per_s": [round(r) for r in runner],
                "runner_req_per_s_including_planning": [round(w) for w in whole],
                "ratios_vs_adjacent_bare_mean": [round(r, 3) for r in ratios],
                "median_ratio": round(statistics.median(ratios), 3),
                "ratio_quartiles": [round(q, 3) for q in statistics.quantiles(ratios, n=4)],
                "sdk_only_req_per_s": round(sdk),
                "target": target,
                "pass": statistics.median(ratios) >= target,
            }
    return out


def _request_phase_rate(run_dir: Path) -> float:
    """Rows per second from the first request's start to the last one's end (planning and start-up excluded)."""
    from datetime import datetime

    rows = read_rows(run_dir)
    first = min(datetime.fromisoformat(r["started_at"]) for r in rows)
    last = max(datetime.fromisoformat(r["finished_at"]) for r in rows)
    return len(rows) / (last - first).total_seconds()


def bench_memory(tmp: Path, n: int = 50_000) -> dict:
    prompts = prompt_set(tmp, n, words=1)
    with spawn_emulator("--models", MODEL, "--time-scale", "0", "--rpm", "1000000000", "--tpm", "1000000000000") as emu:
        dep = deployment(emu, Quota(rpm=10**9, tpm=10**12))
        run_evaluation([dep], prompt_set(tmp, 200, words=1), tmp / "memory-warm", RunParams(max_tokens=4, concurrency=64, stream=False), **QUIET)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        summary = run_evaluation([dep], prompts, tmp / "memory", RunParams(max_tokens=4, concurrency=64, stream=False), **QUIET)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "requests": n,
        "rows_written": summary.rows_written,
        "statuses": dict(Counter(summary.by_status)),
        "peak_rss_before_mb": round(before, 1),
        "peak_rss_after_mb": round(after, 1),
        "growth_mb": round(after - before, 1),
        "target_growth_mb": 100,
        "seconds": round(elapsed, 1),
    }


BENCHES = {"quota": bench_quota, "timing": bench_timing, "timing_fixed": bench_timing_fixed, "overhead": bench_overhead, "memory": bench_memory}


def main() -> None:
    chosen = sys.argv[1:] or ["all"]
    names = list(BENCHES) if "all" in chosen else chosen
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            started = time.monotonic()
            result = BENCHES[name](Path(tmp) / name if Path(tmp, name).mkdir() is None else Path(tmp))
            print(json.dumps({"benchmark": f"runner_{name}", **result, "wall_s": round(time.monotonic() - started, 1)}, indent=2), flush=True)


if __name__ == "__main__":
    main()
