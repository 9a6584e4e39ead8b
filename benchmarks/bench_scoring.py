"""Scoring and bootstrapping a 100,000-row run (target: under 30 s on this machine), with peak memory.

A synthetic run: 4 deployments x 25,000 prompts (numeric scorer), written as results.jsonl, then
``score_run`` (score every row, write scores.jsonl, bootstrap CIs, 6 paired comparisons with the
exact McNemar test). Answers are GSM8K-length worked solutions in four styles (a marker, a boxed
answer, a prose last line, a bare number), so both numeric rules do real work. Baseline: reading the
same rows (``read_rows``) in the same process, so the ratio shows what scoring adds.
"""

from __future__ import annotations

import json
import random
import resource
import tempfile
import time
from pathlib import Path

from llama_eval.quality.scoring import score_run
from llama_eval.rundir.store import read_rows, write_manifest

PROMPTS, DEPLOYMENTS = 25_000, ("llama31-8b", "llama31-405b", "llama33-70b", "llama4-maverick")
_WORK = (
    "She starts with {i} apples and buys 7 more at $2 each, so she has {i} + 7 = {a} apples.\n"
    "Splitting them: {half} in one bag and {rest} in the other, {half} + {rest} = {a}.\n"
)
STYLES = (
    _WORK + "The answer is {a}.",
    "## Step 1: Count\n" + _WORK + "The final answer is: $\\boxed{{{a}}}$",
    _WORK + "So, in the end, she has {a} apples in total.",
    _WORK + "{a}",
)


def build(run_dir: Path) -> Path:
    rng = random.Random(0)
    prompts = run_dir / "prompts.jsonl"
    with prompts.open("w") as f:
        for i in range(PROMPTS):
            f.write(
                json.dumps({"id": f"q{i}", "prompt": f"What is {i} + 7?", "reference": str(i + 7), "scorer": "numeric", "tags": ["a" if i % 3 else "b"]}) + "\n"
            )
    accuracy = dict(zip(DEPLOYMENTS, (0.73, 0.886, 0.86, 0.805), strict=True))
    with (run_dir / "results.jsonl").open("w") as f:
        for d in DEPLOYMENTS:
            for i in range(PROMPTS):
                answer = i + 7 if rng.random() < accuracy[d] else i + 8
                status = "ok" if rng.random() > 0.01 else "content_filter"
                row = {
                    "key": f"{d}|q{i}|0",
                    "deployment": d,
                    "model": d,
                    "prompt_id": f"q{i}",
                    "repeat": 0,
                    "tags": ["a" if i % 3 else "b"],
                    "status": status,
                    "response_text": STYLES[i % len(STYLES)].format(i=i, a=answer, half=answer // 2, rest=answer - answer // 2),
                    "usage": {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32},
                }
                f.write(json.dumps(row) + "\n")
    from llama_eval.prompts.prompt_set import load_prompt_set

    write_manifest(run_dir, {"prompt_set": {"path": str(prompts), "sha256": load_prompt_set(prompts).sha256}})
    return prompts


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        build(run_dir)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        rows = read_rows(run_dir)
        read_s = time.perf_counter() - start
        del rows
        start = time.perf_counter()
        summary = score_run(run_dir)
        score_s = time.perf_counter() - start
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "benchmark": "scoring_100k_rows",
        "rows": PROMPTS * len(DEPLOYMENTS),
        "baseline_read_rows_s": round(read_s, 2),
        "score_run_s": round(score_s, 2),
        "ratio_vs_reading": round(score_s / read_s, 2),
        "target_s": 30,
        "meets_target": score_s < 30,
        "peak_rss_mb": round(rss_after, 1),
        "peak_rss_growth_mb": round(rss_after - rss_before, 1),
        "numeric_rules": summary.to_json()["numeric"][DEPLOYMENTS[0]],
        "verdicts": [c.verdict for c in summary.comparisons][:2],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
