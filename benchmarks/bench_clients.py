"""How much concurrency one client process holds truthfully, and what a second client (Ray) changes, on this machine.

    python benchmarks/bench_clients.py [--levels 64,256,512,1024] [--clients 2]

A server whose latency is known (tests/_support/capacityserver.py in its own process, K large enough that
nothing queues): every request's true TTFT is ``TTFT_S`` and its true end-to-end time ``TTFT_S + (TOKENS-1) x
INTERVAL_S``. A closed-loop sweep holds 64, 256, 512, 1024 streams open; what the client measures above the true
values is its own error (event-loop lag in the client, plus the server process's on the same cores). Printed per
level, for one process and for ``--clients`` Ray actors, as ratios against the one-process figures:

- TTFT p50/p90 error (measured - true, ms), end-to-end p90 error, throughput achieved vs c / service time,
  and the client's event-loop lag p99 (``loop_lag_p99_ms``, the largest client's for Ray).

The Ray run includes its one-time start (a local cluster, two actors), reported apart from the levels. Nothing
here is asserted: the machine is shared (2 cores), and what was measured is printed as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from llama_eval.deployments.model import Deployment
from llama_eval.load.sweep import sweep

HERE = Path(__file__).resolve().parent
SERVER = HERE.parent / "tests" / "_support" / "capacityserver.py"
TTFT_S, TOKENS, INTERVAL_S = 0.5, 8, 0.05  # service 0.85 s: 8 chunks a stream, so the client's work per request stays small
SERVICE_S = TTFT_S + (TOKENS - 1) * INTERVAL_S


@contextmanager
def known_server(k: int):
    proc = subprocess.Popen([sys.executable, str(SERVER), str(k), str(TTFT_S), str(TOKENS), str(INTERVAL_S)], stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}"
    finally:
        proc.terminate()
        proc.wait(10)


def one_sweep(url: str, prompts: Path, out: Path, levels: list[int], executor: object | None) -> tuple[list[dict], float]:
    os.environ["BENCH_CLIENTS_KEY"] = "bench"
    d = Deployment(name="known", model="Llama-3.3-70B-Instruct", kind="managed", endpoint=url, key_env="BENCH_CLIENTS_KEY")
    began = time.perf_counter()
    result = sweep([d], prompts, out, concurrency=levels, requests_per_level=None, duration_s=4 * SERVICE_S, warmup_s=SERVICE_S,
                   progress="none", announce=lambda message: None, store="off", executor=executor)  # fmt: skip
    return result.frame().to_dict("records"), time.perf_counter() - began


def describe(row: dict) -> dict:
    c = row["concurrency"]
    return {
        "c": c,
        "requests": row["requests"],
        "ttft_p50_err_ms": round(1000 * (row["ttft_p50_s"] - TTFT_S), 1),
        "ttft_p90_err_ms": round(1000 * (row["ttft_p90_s"] - TTFT_S), 1),
        "e2e_p90_err_ms": round(1000 * (row["e2e_p90_s"] - SERVICE_S), 1),
        "throughput_share": round(row["throughput_rps"] / (c / SERVICE_S), 3),  # achieved / what the server allows
        "loop_lag_p99_ms": row["loop_lag_p99_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="64,256,512,1024")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--no-ray", action="store_true", help="only the one-process baseline")
    args = parser.parse_args()
    levels = [int(v) for v in args.levels.split(",")]
    with tempfile.TemporaryDirectory() as tmp, known_server(max(levels) * 2) as url:
        directory = Path(tmp)
        prompts = directory / "prompts.jsonl"
        prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Say hello number {i}."}) + "\n" for i in range(20)))
        base_rows, base_s = one_sweep(url, prompts, directory / "one", levels, None)
        base = [describe(r) for r in base_rows]
        print(f"server: true TTFT {1000 * TTFT_S:.0f} ms, service {1000 * SERVICE_S:.0f} ms, nothing queues; each level {4 * SERVICE_S:.1f} s measured")
        print(f"one process ({base_s:.1f} s):")
        for row in base:
            print("  ", row)
        if args.no_ray:
            return
        from llama_eval.distributed import RayExecutor

        executor = RayExecutor(clients=args.clients)
        began = time.perf_counter()
        executor.connect()
        start_s = time.perf_counter() - began
        ray_rows, ray_s = one_sweep(url, prompts, directory / "ray", levels, executor)
        print(f"{args.clients} Ray clients (cluster start {start_s:.1f} s, sweep {ray_s:.1f} s incl. actor start):")
        for row, one in zip((describe(r) for r in ray_rows), base, strict=False):
            ratios = {k: (round(row[k] / one[k], 2) if one[k] else None) for k in ("ttft_p90_err_ms", "e2e_p90_err_ms", "loop_lag_p99_ms")}
            print("  ", row, "ratio to one process:", ratios)


if __name__ == "__main__":
    main()
