"""Report build time for a 50,000-row and a 500,000-row run (target: 500k under 60 s, page under ~10 MB).

A synthetic run — one large prompt set across five deployments with five repeats each (streamed
timings, token usage, managed and serverless prices, the manifest's per-deployment time scale, a
warm-up row per deployment) — goes through ``build_report``: the run is read once into Parquet,
aggregated with DuckDB, papermill executes the four report notebooks (which score the run) and the
page is exported. The baseline, in the same process, is DuckDB alone reading the run's rows
(``results.jsonl`` -> a count and the columns the report aggregates); the report time is given as a
ratio to it. Also printed: the page's size and this process's peak RSS (the notebook kernels are
other processes: their peak RSS is read from ``/proc`` while they run).

    .venv/bin/python benchmarks/bench_report.py            # 50k and 500k
    .venv/bin/python benchmarks/bench_report.py 20000      # one size
"""

from __future__ import annotations

import json
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.rundir.store import write_manifest

DEPLOYMENTS = {"llama31-8b": ("Meta-Llama-3.1-8B-Instruct", 0.73), "llama31-405b": ("Meta-Llama-3.1-405B-Instruct", 0.886),
               "llama33-70b": ("Llama-3.3-70B-Instruct", 0.86), "llama4-maverick": ("Llama-4-Maverick-17B-128E-Instruct-FP8", 0.805),
               "llama4-scout": ("Llama-4-Scout-17B-16E-Instruct", 0.78)}  # fmt: skip
PRICE = {"Llama-3.3-70B-Instruct": (0.00071, 0.00071), "Llama-4-Maverick-17B-128E-Instruct-FP8": (0.00025, 0.001),
         "Llama-4-Scout-17B-16E-Instruct": (0.0002, 0.00078)}  # fmt: skip
REPEATS = 5


def build(run_dir: Path, rows: int, *, answer: str | None = None) -> int:
    """Write a synthetic run of about ``rows`` rows (five deployments x prompts x REPEATS) into ``run_dir``; returns its row count.

    ``answer``: a text every 97th answer is replaced by (e.g. one holding ``<script>``, to test escaping at scale)."""
    prompts_n = max(1, rows // (len(DEPLOYMENTS) * REPEATS))
    rng = random.Random(0)
    prompts = run_dir / "prompts.jsonl"
    with prompts.open("w") as f:
        for i in range(prompts_n):
            item = {"id": f"q{i}", "prompt": f"What is {i} + 7?", "reference": str(i + 7), "scorer": "numeric", "tags": ["a" if i % 3 else "b"]}
            f.write(json.dumps(item) + "\n")
    written = 0
    with (run_dir / "results.jsonl").open("w") as f:
        for name, (model, accuracy) in DEPLOYMENTS.items():
            price = PRICE.get(model)
            cost = None if price is None else str((20 * price[0] + 12 * price[1]) / 1000)
            base = rng.uniform(-1.5, -0.8)
            for i in range(prompts_n):
                for repeat in range(REPEATS):
                    value = i + 7 if rng.random() < accuracy else i + 8
                    ttft = rng.lognormvariate(base, 0.3)
                    e2e = ttft + rng.uniform(0.3, 1.5)
                    text = answer if answer is not None and written % 97 == 1 else f"The answer is {value}."
                    row = {
                        "key": f"{name}|q{i}|{repeat}", "deployment": name, "model": model, "api": "azure-ai-inference",
                        "prompt_id": f"q{i}", "repeat": repeat, "tags": ["a" if i % 3 else "b"], "status": "ok",
                        "response_text": text, "usage": {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32},
                        "usage_source": "server", "streamed": True, "ttft_s": ttft, "e2e_s": e2e, "itl_p50_s": 0.02,
                        "output_tps": 12 / (e2e - ttft), "cost_usd": cost, "price_known": price is not None, "simulated": True,
                        **({"warmup": True} if i == 0 and repeat == 0 else {}),
                    }  # fmt: skip
                    f.write(json.dumps(row) + "\n")
                    written += 1
    write_manifest(
        run_dir,
        {
            "run_id": "bench",
            "status": "completed",
            "prompt_set": {"path": str(prompts), "sha256": load_prompt_set(prompts).sha256, "items": prompts_n},
            "params": {"repeats": REPEATS},
            "fingerprint": {"deployments": [{"name": n, "model": m, "kind": "serverless" if m in PRICE else "managed"} for n, (m, _) in DEPLOYMENTS.items()]},
            "deployments": {n: {"time_scale": 1.0, "probe": "ok", "loop_lag": {"saturated": False, "p99_ms": 2.0}} for n in DEPLOYMENTS},
        },
    )
    return written


def duckdb_read_s(run_dir: Path) -> float:
    """DuckDB alone reading the run: results.jsonl scanned, the latency columns aggregated per deployment (the baseline)."""
    import duckdb

    start = time.perf_counter()
    with duckdb.connect() as con:
        con.execute(f"SELECT deployment, count(*), avg(ttft_s), avg(e2e_s) FROM read_json_auto('{run_dir / 'results.jsonl'}') GROUP BY deployment").fetchall()  # noqa: S608 -- only quote-escaped paths, status names and ints are interpolated
    return time.perf_counter() - start


class PeakRss:
    """The largest resident set of this process's children (the notebook kernels) while it runs, from /proc, in MiB."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(0.2):
            for child in me.children(recursive=True):
                try:
                    self.peak_kb = max(self.peak_kb, child.memory_info().rss // 1024)
                except psutil.Error:
                    pass

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(rows: int) -> dict:
    from llama_eval.report.pipeline import build_report

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        written = build(run_dir, rows)
        baseline = duckdb_read_s(run_dir)
        start = time.perf_counter()
        with PeakRss() as kernels:
            index = build_report(run_dir, Path(tmp) / "report")
        seconds = time.perf_counter() - start
        size_mb = index.stat().st_size / 2**20
    return {"benchmark": "report_build", "rows": written, "duckdb_read_s": round(baseline, 2), "report_s": round(seconds, 1),
            "ratio_vs_duckdb_read": round(seconds / baseline, 1), "page_mb": round(size_mb, 2),
            "peak_rss_pipeline_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "peak_rss_kernel_mb": round(kernels.peak_kb / 1024), "target_s": 60, "meets_target": seconds < 60 and size_mb < 10}  # fmt: skip


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [50_000, 500_000]
    for rows in sizes:
        print(json.dumps(measure(rows), indent=2), flush=True)


if __name__ == "__main__":
    main()
