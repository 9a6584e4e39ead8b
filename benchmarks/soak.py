"""Soak: 20,000 requests with 5% injected faults through the runner against the emulator.

Prints rows, failures by kind, retries, duplicates (must be 0), lost (must be 0) and peak RSS. The
emulator runs in its own process with every fault kind but stalls (which would only add waiting).
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

from llama_eval.catalog.models import Quota
from llama_eval.deployments.model import Deployment
from llama_eval.emulator.process import spawn_emulator
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.run import RunParams, run_evaluation
from llama_eval.rundir.store import read_rows

MODEL, REQUESTS = "Llama-3.3-70B-Instruct", 20_000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "p.jsonl"
        path.write_text("\n".join(json.dumps({"id": f"q{i}", "prompt": f"hello {i}"}) for i in range(REQUESTS)) + "\n")
        prompts = load_prompt_set(path)
        args = (
            "--models",
            MODEL,
            "--time-scale",
            "0",
            "--rpm",
            "100000000",
            "--tpm",
            "100000000000",
            "--fault-rate",
            "0.05",
            "--fault-kinds",
            "500,503,reset,malformed",
            "--seed",
            "5",
        )
        with spawn_emulator(*args) as emu:
            os.environ["SOAK_KEY"] = emu.key
            dep = Deployment(name="soak", model=MODEL, endpoint=f"{emu.url}/{MODEL}", key_env="SOAK_KEY", quota=Quota(rpm=10**8, tpm=10**11))
            start = time.perf_counter()
            summary = run_evaluation(
                [dep],
                prompts,
                tmp / "r",
                RunParams(max_tokens=8, concurrency=32, max_attempts=10, backoff_base_s=0.01, stream=True),
                progress="none",
                announce=lambda m: None,
            )
            seconds = time.perf_counter() - start
            with urllib.request.urlopen(f"{emu.url}/_emulator/stats", timeout=10) as response:
                injected = {k: v for k, v in json.loads(response.read())["stats"].items() if k.startswith("fault_")}
        rows = read_rows(tmp / "r")
        keys = Counter(r["key"] for r in rows)
    expected = {f"soak|q{i}|0" for i in range(REQUESTS)}
    print(json.dumps({
        "benchmark": "soak",
        "requests": REQUESTS,
        "rows": len(rows),
        "statuses": dict(Counter(r["status"] for r in rows)),
        "retries": summary.retries,
        "faults_injected_by_kind": injected,
        "duplicates": sum(c - 1 for c in keys.values() if c > 1),
        "lost": len(expected - set(keys)),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "seconds": round(seconds, 1),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
