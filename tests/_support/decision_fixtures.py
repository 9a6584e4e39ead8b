"""A fake scored run of three deployments and fake sweeps, for the decision and cost tests (no requests sent).

``scored_run`` writes per-prompt scores (``scores.jsonl``, one repeat) and the summary the quality
section makes of them (``summarize``), so ``recommend`` judges quality from the same paired
scores it would read after ``llama-eval score``. The default scores are known by construction:
400 prompts; l405 right on 328 (0.82); l70 the same answers but wrong on 2 of those (0.815, so
non-inferior at a 2-point margin); l8 right on 240 (0.60, inferior).
"""

from __future__ import annotations

import json
from datetime import date

from llama_eval.quality.scoring import summarize

ON = date(2026, 11, 26)


DEPLOYMENTS = [
    {"name": "l70", "model": "Llama-3.3-70B-Instruct", "kind": "serverless", "compute": None},
    {"name": "l405", "model": "Meta-Llama-3.1-405B-Instruct", "kind": "managed", "compute": {"sku": "Standard_ND96amsr_A100_v4", "instances": 1}},
    {"name": "l8", "model": "Meta-Llama-3.1-8B-Instruct", "kind": "managed", "compute": {"sku": "Standard_NC24ads_A100_v4", "instances": 1}},
]


def right_on(n: int, right: int, *, wrong: tuple[int, ...] = ()) -> list[float]:
    """0/1 scores of ``n`` prompts: right on the first ``right``, except the prompt indices in ``wrong``."""
    return [1.0 if i < right and i not in wrong else 0.0 for i in range(n)]


def default_scores(n: int = 400) -> dict[str, list[float]]:
    return {"l405": right_on(n, int(0.82 * n)), "l70": right_on(n, int(0.82 * n), wrong=(0, 1)), "l8": right_on(n, int(0.60 * n))}


def demo_like_scores() -> dict[str, list[float]]:
    """The demo's case in issue 27: 29 prompts, graded scores (repeats averaged), the cheap 8B 13.6 points below the 405B.

    l8 loses 1.0 on three prompts, 0.5 on one and 0.444 on one: -3.944 / 29 = -0.136 exactly.
    l70 answers as l8 did.
    """
    best = [1.0] * 20 + [0.5] * 6 + [0.8, 0.6, 0.9]
    cheap = list(best)
    cheap[0] = cheap[1] = cheap[2] = 0.0
    cheap[20] = 0.0
    cheap[26] = round(0.8 - 0.444, 3)
    return {"l405": best, "l70": list(cheap), "l8": cheap}


def scored_run(tmp_path, scores: dict[str, list[float]] | None = None):
    """A run directory: manifest, one result row per prompt and deployment (1,000 + 400 tokens), scores.jsonl and scores_summary.json."""
    scores = scores or default_scores()
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"run_id": "run", "fingerprint": {"deployments": DEPLOYMENTS}}))
    rows = []
    with (run / "results.jsonl").open("w") as f:
        for d in DEPLOYMENTS:
            for i, score in enumerate(scores[d["name"]]):
                usage = {"prompt_tokens": 1000, "completion_tokens": 400, "total_tokens": 1400}
                f.write(json.dumps({"key": f"{d['name']}|p{i}|0", "deployment": d["name"], "prompt_id": f"p{i}", "status": "ok", "usage": usage}) + "\n")
                rows.append({"key": f"{d['name']}|p{i}|0", "deployment": d["name"], "model": d["model"], "prompt_id": f"p{i}", "repeat": 0, "tags": [],
                             "status": "ok", "scorer": "exact", "score": score, "reason": "", "failed": False, "rule": None})  # fmt: skip
    with (run / "scores.jsonl").open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    (run / "scores_summary.json").write_text(json.dumps(summarize(rows).to_json()))
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
