"""A fake scored run of three deployments and fake sweeps, for the decision and cost tests (no requests sent)."""

from __future__ import annotations

import json
from datetime import date

ON = date(2026, 11, 26)


DEPLOYMENTS = [
    {"name": "l70", "model": "Llama-3.3-70B-Instruct", "kind": "serverless", "compute": None},
    {"name": "l405", "model": "Meta-Llama-3.1-405B-Instruct", "kind": "managed", "compute": {"sku": "Standard_ND96amsr_A100_v4", "instances": 1}},
    {"name": "l8", "model": "Meta-Llama-3.1-8B-Instruct", "kind": "managed", "compute": {"sku": "Standard_NC24ads_A100_v4", "instances": 1}},
]


def comparison(a, b, diff, significant, prompts=200, too_few=False):
    return {"a": a, "b": b, "prompts": prompts, "diff": diff, "significant": significant, "too_few_prompts": too_few, "verdict": f"{a} vs {b}"}


def scored_run(tmp_path, comparisons=None, prompts_needed=100):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"run_id": "run", "fingerprint": {"deployments": DEPLOYMENTS}}))
    with (run / "results.jsonl").open("w") as f:
        for d in DEPLOYMENTS:
            for i in range(10):
                usage = {"prompt_tokens": 1000, "completion_tokens": 400, "total_tokens": 1400}
                f.write(json.dumps({"key": f"{d['name']}|p{i}|0", "deployment": d["name"], "prompt_id": f"p{i}", "status": "ok", "usage": usage}) + "\n")
    comparisons = comparisons or [comparison("l405", "l70", 0.02, False), comparison("l405", "l8", 0.22, True), comparison("l70", "l8", 0.2, True)]
    summary = {"deployments": {"l405": {"mean": 0.82, "prompts": 200}, "l70": {"mean": 0.80, "prompts": 200}, "l8": {"mean": 0.60, "prompts": 200}},
               "comparisons": comparisons, "sample_size_hint": {"difference_points": 5, "prompts_needed": prompts_needed}}  # fmt: skip
    (run / "scores_summary.json").write_text(json.dumps(summary))
    return run


def sweep_dir(tmp_path, name, kind, throughputs, ttft_p90s, out=None):
    out = out or tmp_path / f"sweep-{name}"
    out.mkdir(parents=True)
    levels = [
        {"level": i + 1, "concurrency": 2 ** i, "rate_rps": None, "requests": 100, "errors": 0, "throughput_rps": t, "output_tps": None,
         "ttft_p50_s": q / 2, "ttft_p90_s": q, "ttft_p99_s": q, "itl_p50_s": 0.02, "e2e_p50_s": 1.0, "e2e_p90_s": 2.0}
        for i, (t, q) in enumerate(zip(throughputs, ttft_p90s, strict=True))
    ]  # fmt: skip
    (out / "sweep.json").write_text(json.dumps({"deployment": name, "kind": kind, "mode": "closed", "slo": "ttft_p90<=1", "levels": levels}))
    return out
