"""Load-sweep benchmarks against a server of known capacity (tests/_support/capacityserver.py, its own process).

    python benchmarks/bench_sweep.py [closed|open|all]

1. closed — a server that serves at most K=8 requests at once (FIFO beyond), 0.58 s a request;
            closed loop at 1,2,4,8,10,16: the capacity at an SLO only <= K can meet must be exactly
            K, and throughput at every level <= K within 5% of c / service time.
2. open   — open loop at 20 requests/s for 30 s (2 s warm-up) against a server that never queues:
            achieved send rate within 2% of the target, and this process's own sending lateness
            p99 < 5 ms. The machine this runs on may be shared: lateness is this process's, so a
            busy neighbour shows up in it; the numbers printed are what was measured, run to run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from llama_eval.deployments.model import Deployment
from llama_eval.load.sweep import sweep
from llama_eval.rundir.store import read_rows

HERE = Path(__file__).resolve().parent
SERVER = HERE.parent / "tests" / "_support" / "capacityserver.py"
QUIET = {"progress": "none", "announce": lambda message: None}


@contextmanager
def capacity_server(k: int, ttft_s: float, tokens: int, interval_s: float):
    proc = subprocess.Popen([sys.executable, str(SERVER), str(k), str(ttft_s), str(tokens), str(interval_s)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _setup(directory: Path) -> tuple[Path, dict]:
    prompts = directory / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Say hello number {i}."}) + "\n" for i in range(20)))
    os.environ["BENCH_SWEEP_KEY"] = "bench"
    return prompts, {"model": "Llama-3.3-70B-Instruct", "kind": "managed", "key_env": "BENCH_SWEEP_KEY"}


def closed(directory: Path) -> bool:
    k, ttft, tokens, interval = 8, 0.2, 20, 0.02
    service = ttft + (tokens - 1) * interval
    prompts, common = _setup(directory)
    with capacity_server(k, ttft, tokens, interval) as url:
        result = sweep([Deployment(name="k8", endpoint=url, **common)], prompts, directory / "closed", concurrency=[1, 2, 4, 8, 10, 16],
                       requests_per_level=16, warmup_s=0, slo=f"ttft_p90<={ttft + 0.1}", **QUIET)  # fmt: skip
    ok = True
    print(f"closed loop: server K={k}, service {service:.2f} s/request, SLO ttft_p90<={ttft + 0.1:g}")
    for row in result.frame().to_dict("records"):
        c = row["concurrency"]
        line = f"  c={c:>2}: {row['throughput_rps']:.3f} req/s, ttft p90 {row['ttft_p90_s']:.3f} s, SLO {'met' if row['slo_met'] else 'missed'}"
        if c <= k:
            ratio = row["throughput_rps"] / (c / service)
            ok &= abs(ratio - 1) < 0.05
            line += f"; throughput / theory = {ratio:.4f} (target within 0.95-1.05)"
        print(line)
    found = result.capacity.level.concurrency if result.capacity.level else None
    ok &= found == k
    print(f"  capacity found: concurrency {found} (expected exactly {k}) -> {'PASS' if found == k else 'FAIL'}")
    return ok


def open_loop(directory: Path) -> bool:
    rate, duration = 20.0, 30.0
    prompts, common = _setup(directory)
    with capacity_server(10_000, 0.05, 10, 0.01) as url:
        result = sweep([Deployment(name="wide", endpoint=url, **common)], prompts, directory / "open", rate=[rate], duration_s=duration, warmup_s=2.0,
                       slo="ttft_p90<=1", **QUIET)  # fmt: skip
    level = result.frame().to_dict("records")[0]
    rows = [r for r in read_rows(directory / "open") if not r["warmup"]]
    lateness = sorted(r["sender_lateness_s"] for r in rows)
    ratio = level["send_rate_rps"] / rate
    p99 = level["sender_lateness_p99_ms"]
    ok = abs(ratio - 1) <= 0.02 and p99 < 5.0
    print(f"open loop: {rate:g} req/s for {duration:g} s: {level['requests']} measured requests, {level['errors']} errors")
    print(f"  achieved send rate {level['send_rate_rps']:.3f} req/s = {ratio:.4f} x target (target within 0.98-1.02)")
    print(f"  sender lateness p50 {level['sender_lateness_p50_ms']:.3f} ms, p99 {p99:.3f} ms, max {1000 * lateness[-1]:.3f} ms (target p99 < 5 ms)")
    print(f"  event-loop lag p99 {level['loop_lag_p99_ms']} ms; ttft p50 {level['ttft_p50_s']:.4f} s (server: 0.05 s)")
    print(f"  -> {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        if which in ("closed", "all"):
            results.append(closed(Path(tmp)))
        if which in ("open", "all"):
            results.append(open_loop(Path(tmp)))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
