"""Trace replay on schedule: 2,000 requests of a 100 s trace replayed at 10x against the emulator (its own process).

    python benchmarks/bench_arrivals.py [ROWS] [SPEEDUP]

Issue 30's figure: each request sent within 5 ms (p99) of its scheduled instant, with the trace's
token counts. ``llama-eval run --trace`` in a subprocess, as a user runs it; the emulator at time
scale 0 (answers at once), so the sender's lateness is this process's alone. Printed: lateness
p50/p99/max, the share of rows with the trace's exact prompt and completion tokens, and the
runner's CPU seconds. The machine may be shared, so the baseline is measured at the same
time: this process runs the same schedule on a bare asyncio loop (sending nothing, plain timers so that
it takes no CPU from the runner) again and again while the runner replays, and the runner's p99 is
given as a ratio to it; the spinning bare loop of earlier figures is run after, alone.
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llama_eval.emulator.process import spawn_emulator
from llama_eval.records import percentile
from llama_eval.rundir.store import read_rows

L33 = "Llama-3.3-70B-Instruct"
UNLIMITED = ("--rpm", "100000000", "--tpm", "10000000000")  # the managed deployment's quota would answer 429s at 200 requests/s


def bare_loop_lateness_ms(offsets: list[float], spin: bool = True) -> list[float]:
    """The baseline: the same schedule dispatched by a bare asyncio loop that sends nothing (what this machine allows).

    ``spin``: as the runner does, sleep until 2 ms before each instant and yield until it; False: a plain timer to the
    instant (no spinning: next to the runner, it takes no CPU from it)."""

    async def run() -> list[float]:
        perf, late = time.perf_counter, []
        start = perf()

        async def one(offset: float) -> None:
            late.append((perf() - start - offset) * 1000)

        for offset in offsets:
            instant = start + offset
            if not spin:
                await asyncio.sleep(max(0.0, instant - perf()))
            elif instant - perf() > 0.002:
                await asyncio.sleep(instant - perf() - 0.002)
            while perf() < instant:
                await asyncio.sleep(0)
            asyncio.create_task(one(offset))
        await asyncio.sleep(0.05)
        return late

    return asyncio.run(run())


def main(rows: int = 2000, speedup: float = 10.0) -> None:
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        t, trace = 0.0, []
        for _ in range(rows):
            trace.append((round(t, 6), rng.randint(12, 400), rng.randint(1, 24)))
            t += rng.expovariate(20.0)
        (tmp_path / "trace.csv").write_text("offset_s,input_tokens,output_tokens\n" + "".join(f"{a},{b},{c}\n" for a, b, c in trace))
        with spawn_emulator("--models", L33, "--time-scale", "0", *UNLIMITED) as emu:
            config = tmp_path / "d.yaml"
            config.write_text(f"deployments:\n  - name: l33\n    model: {L33}\n    kind: managed\n    endpoint: {emu.url}/{L33}\n    key_env: EMU_KEY\n")
            command = [sys.executable, "-m", "llama_eval.cli", "run", "-d", str(config), "-o", str(tmp_path / "r"), "--progress", "none",
                       "--trace", str(tmp_path / "trace.csv"), "--speedup", str(speedup)]  # fmt: skip
            cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            with subprocess.Popen(command, env={**os.environ, "EMU_KEY": emu.key}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as runner:
                base: list[float] = []  # the baseline, measured here while the runner replays: the same machine at the same time
                while runner.poll() is None:
                    base += bare_loop_lateness_ms([offset / speedup for offset, _, _ in trace], spin=False)
                stdout, stderr = runner.communicate()
            done = subprocess.CompletedProcess(command, runner.returncode, stdout, stderr)
            cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)  # the runner's CPU seconds
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        results = read_rows(tmp_path / "r")
        lateness = [r["sender_lateness_s"] * 1000 for r in results]
        exact = sum(
            r["usage"]["prompt_tokens"] == trace[int(r["prompt_id"][1:])][1] and r["usage"]["completion_tokens"] == trace[int(r["prompt_id"][1:])][2]
            for r in results
        )
        span = trace[-1][0] / speedup
        print(f"trace replay: {len(results)} rows of {rows}, {speedup:g}x, schedule span {span:.2f} s, the runner's CPU {cpu:.1f} s")
        print(f"  sender lateness ms: p50 {percentile(lateness, 0.5):.3f}  p99 {percentile(lateness, 0.99):.3f}  max {max(lateness):.3f}"
              f"  (target p99 <= 5 ms: {'met' if percentile(lateness, 0.99) <= 5 else 'NOT met'})")  # fmt: skip
        p99, base_p99 = percentile(lateness, 0.99), percentile(base, 0.99)
        quiet = bare_loop_lateness_ms([offset / speedup for offset, _, _ in trace])  # after the run, spinning as the runner does
        q50, q99 = percentile(quiet, 0.5), percentile(quiet, 0.99)
        print(f"  baseline after the run (a bare asyncio loop spinning as the runner does): p50 {q50:.3f}  p99 {q99:.3f} ms")
        print(f"  baseline during the run (a plain-timer asyncio loop in this process, nothing sent): p50 {percentile(base, 0.5):.3f}  p99 {base_p99:.3f} ms;"
              f"  the runner's p99 is {p99 / max(base_p99, 1e-3):.1f}x the baseline's")  # fmt: skip
        print(f"  machine: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"  rows with the trace's exact prompt and completion tokens: {exact}/{len(results)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, float(sys.argv[2]) if len(sys.argv) > 2 else 10.0)
