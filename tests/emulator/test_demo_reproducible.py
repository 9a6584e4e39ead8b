"""The demo is reproducible and says what it assumed: the same seeded run twice gives the same scores, tokens and decision.

The demo's core (``demo.evaluate_demo``: its deployments, on seeded emulators in processes of their own, sent its
prompts at temperature 0.7, eight in flight) at a small size: two serverless deployments, one prompt set, two
repeats. Before issue 29 each sampled answer was drawn by a uuid, so the demo's recommended monthly cost was
$10.24, $9.30 and $11.35 in three runs. Latencies are timing, not asserted equal.
"""

from __future__ import annotations

import json
from collections import Counter

from llama_eval.decide import recommend
from llama_eval.demo import DemoEmulation, demo_emulation, evaluate_demo, sweep_plan
from llama_eval.deployments.loader import load_deployments
from llama_eval.emulator.batching import managed_capacity
from llama_eval.paths import data_dir
from llama_eval.quality.scoring import score_run
from llama_eval.rundir.store import read_manifest, read_rows

ONLY = ("llama33-70b", "llama4-maverick")


def _demo(run_dir, seed: int = 0) -> dict:
    evaluate_demo(run_dir, repeats=2, time_scale=0.5, seed=seed, sweeps=False, only=ONLY, sets=("quickstart.jsonl",))
    score_run(run_dir)
    rows = read_rows(run_dir)
    tokens = Counter()
    for row in rows:
        tokens[(row["deployment"], "in")] += row["usage"]["prompt_tokens"]
        tokens[(row["deployment"], "out")] += row["usage"]["completion_tokens"]
    answers = Counter((row["deployment"], row["prompt_id"], row["response_text"]) for row in rows)  # the multiset: repeats may swap
    decision = recommend(run_dir, peak_rps=1, requests_per_day=10_000, slo="ttft_p90<=5.0")
    summary = json.loads((run_dir / "scores_summary.json").read_text())
    # no sweeps at this size, so no option is chosen (capacity not measured); what the decision rests on is compared
    return {"tokens": dict(tokens), "answers": answers, "best": decision.best, "summary": summary,
            "options": {o.label: (o.quality_mean, o.cost.monthly_usd, o.cost.per_request_at_traffic_usd) for o in decision.options}}  # fmt: skip


def test_two_seeded_demo_runs_give_the_same_scores_tokens_and_decision(tmp_path):
    first, second = _demo(tmp_path / "a"), _demo(tmp_path / "b")
    assert first["tokens"] == second["tokens"] and all(first["tokens"].values())
    assert first["answers"] == second["answers"]
    assert first["summary"] == second["summary"], "the same scores"
    assert first["best"] == second["best"] and first["best"] is not None
    assert first["options"] == second["options"], "the same quality and monthly cost for every option"
    assert first["options"]["llama33-70b"][1] is not None
    other = _demo(tmp_path / "c", seed=1)
    assert other["answers"] != first["answers"], "the seed is what fixes them: another seed samples other answers"
    record = read_manifest(tmp_path / "a")["emulator"]
    assert record["seed"] == 0 and set(record["run_time_scales"]) == set(ONLY) and record["run_time_scales"]["llama33-70b"] == 0.5
    assert record["profiles"]["llama33-70b"]["tps"] > 0 and record["basis"]


def test_the_demo_states_its_batch_sizes_and_sweeps_where_the_knee_is():
    config = load_deployments(data_dir() / "deployments.emulator.yaml")
    capacity = managed_capacity(config)
    emulation = demo_emulation(config, seed=0, run_scales={d.name: 1.0 for d in config})
    assert isinstance(emulation, DemoEmulation)
    record = emulation.to_json()
    # no hidden batch of 4: vLLM's rule for 405B FP8 on 8x H100 (161 sequences) and 8B bf16 on an 80 GB GPU (208)
    assert record["capacity"]["llama31-405b"]["batch"] == 161 and "ND96isr_H100_v5" in record["capacity"]["llama31-405b"]["source"]
    assert record["capacity"]["llama31-8b"]["batch"] == 208
    assert "llama33-70b" not in record["capacity"], "serverless: the quota, no capacity model"
    assert record["sweep_levels"]["llama31-405b"] == [1, 80, 161, 242], "half the batch, the batch, 1.5x: the knee is between the last two"
    d405 = next(d for d in config if d.name == "llama31-405b")
    plan = sweep_plan(d405, capacity["llama31-405b"])
    assert plan.duration_s is not None and plan.duration_s >= 3 * 1.0, "three service times a level (16 tokens at a full batch: ~1.3 s each)"
