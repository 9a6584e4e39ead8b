"""Report build time for a 50,000-row run (target: under 60 s), against scoring alone as the baseline.

A synthetic run (4 deployments x 12,500 prompts, streamed timings, token usage, managed and serverless
prices, the manifest's per-deployment time scale and a warm-up row each) goes through ``build_report``:
papermill executes the four report notebooks (which score the run) and the page is exported. Printed: seconds, the page's size, and the ratio to scoring alone.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.quality.scoring import score_run
from llama_eval.report.pipeline import build_report
from llama_eval.rundir.store import write_manifest

PROMPTS = 12_500
DEPLOYMENTS = {"llama31-8b": ("Meta-Llama-3.1-8B-Instruct", 0.73), "llama31-405b": ("Meta-Llama-3.1-405B-Instruct", 0.886),
               "llama33-70b": ("Llama-3.3-70B-Instruct", 0.86), "llama4-maverick": ("Llama-4-Maverick-17B-128E-Instruct-FP8", 0.805)}  # fmt: skip
PRICE = {"Llama-3.3-70B-Instruct": (0.00071, 0.00071), "Llama-4-Maverick-17B-128E-Instruct-FP8": (0.00025, 0.001)}


def build(run_dir: Path) -> None:
    rng = random.Random(0)
    prompts = run_dir / "prompts.jsonl"
    with prompts.open("w") as f:
        for i in range(PROMPTS):
            item = {"id": f"q{i}", "prompt": f"What is {i} + 7?", "reference": str(i + 7), "scorer": "numeric", "tags": ["a" if i % 3 else "b"]}
            f.write(json.dumps(item) + "\n")
    with (run_dir / "results.jsonl").open("w") as f:
        for name, (model, accuracy) in DEPLOYMENTS.items():
            for i in range(PROMPTS):
                answer = i + 7 if rng.random() < accuracy else i + 8
                ttft = rng.lognormvariate(-1.2, 0.3)
                e2e = ttft + rng.uniform(0.3, 1.5)
                price = PRICE.get(model)
                cost = None if price is None else str((20 * price[0] + 12 * price[1]) / 1000)
                row = {
                    "key": f"{name}|q{i}|0",
                    "deployment": name,
                    "model": model,
                    "api": "azure-ai-inference",
                    "prompt_id": f"q{i}",
                    "repeat": 0,
                    "tags": ["a" if i % 3 else "b"],
                    "status": "ok",
                    "response_text": f"The answer is {answer}.",
                    "usage": {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32},
                    "usage_source": "server",
                    "streamed": True,
                    "ttft_s": ttft,
                    "e2e_s": e2e,
                    "itl_p50_s": 0.02,
                    "output_tps": 12 / (e2e - ttft),
                    "cost_usd": cost,
                    "price_known": price is not None,
                    "simulated": True,
                    **({"warmup": True} if i == 0 else {}),
                }
                f.write(json.dumps(row) + "\n")
    write_manifest(
        run_dir,
        {
            "run_id": "bench",
            "status": "completed",
            "prompt_set": {"path": str(prompts), "sha256": load_prompt_set(prompts).sha256, "items": PROMPTS},
            "params": {"repeats": 1},
            "fingerprint": {"deployments": [{"name": n, "model": m, "kind": "serverless" if m in PRICE else "managed"} for n, (m, _) in DEPLOYMENTS.items()]},
            "deployments": {n: {"time_scale": 1.0, "probe": "ok", "loop_lag": {"saturated": False, "p99_ms": 2.0}} for n in DEPLOYMENTS},
        },
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        build(run_dir)
        start = time.perf_counter()
        score_run(run_dir)
        scoring = time.perf_counter() - start
        (run_dir / "scores_summary.json").unlink()  # the report scores again, as it would on a fresh run
        start = time.perf_counter()
        index = build_report(run_dir, Path(tmp) / "report")
        seconds = time.perf_counter() - start
        size_mb = index.stat().st_size / 2**20
    print(json.dumps({"benchmark": "report_build_50k_rows", "rows": PROMPTS * len(DEPLOYMENTS), "scoring_alone_s": round(scoring, 1),
                      "report_s": round(seconds, 1), "ratio_vs_scoring": round(seconds / scoring, 2), "page_mb": round(size_mb, 1),
                      "target_s": 60, "meets_target": seconds < 60}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
