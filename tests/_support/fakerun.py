"""Hand-made run directories (results.jsonl + manifest.json) for report tests.

They carry the fields the runner records per deployment (``time_scale``, ``probe``, ``loop_lag``)
and the per-row ``warmup`` flag, so the report side is tested without waiting for a live run.
Rows follow the schema in llama_eval/results.py; costs come from the real price table.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_eval import load_prices
from llama_eval.catalog.prices import price_for
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.rundir.store import write_manifest


@dataclass
class FakeDeployment:
    name: str
    model: str
    kind: str = "serverless"
    accuracy: float = 0.8
    ttft_s: float = 0.4  # real (service) time; rows hold ttft_s * time_scale, as an emulator at that scale is measured
    tps: float = 40.0  # real output tokens/s
    time_scale: float = 1.0
    saturated: bool = False
    warmup: int = 0  # first N rows flagged warm-up, with a cold-start TTFT 10x the normal one
    fail: tuple[str, int | None, str] | None = None  # (status, http status, message) for failing rows
    fail_share: float = 0.0  # share of rows failing with ``fail``
    stopped: str | None = None  # stop reason the runner recorded (summary.stopped_deployments)
    probe: Any = "ok"
    rows: int | None = None  # write only the first N rows (an interrupted run)
    compute: dict[str, Any] | None = None
    record_time_scale: bool = True  # False: an old run without the per-deployment fields
    simulated: bool = True  # rows answered by the emulator
    intended: bool = False  # rows carry the emulator's intended timing (intended_*: the service times before any stall)
    stall_real_s: float = 0.0  # a pause of this machine added to the measured TTFT and e2e (real seconds, not rescaled) ...
    stall_share: float = 0.0  # ... of this share of the rows (spread evenly, not drawn)
    extra_record: dict[str, Any] = field(default_factory=dict)


def write_run(run_dir: Path, deployments: list[FakeDeployment], *, items: int = 12, repeats: int = 2, status: str = "completed", seed: int = 0) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    prompts = run_dir / "prompts.jsonl"
    prompts.write_text(
        "\n".join(
            json.dumps({"id": f"q{i}", "prompt": f"What is {i} + 7?", "reference": str(i + 7), "scorer": "numeric", "tags": ["math" if i % 2 else "sums"]})
            for i in range(items)
        )
        + "\n"
    )
    book = load_prices()
    by_status: dict[str, int] = {}
    lines = []
    for d in deployments:
        price = price_for(book, d.model, d.kind)
        written = 0
        for i in range(items):
            for r in range(repeats):
                if d.rows is not None and written >= d.rows:
                    continue
                written += 1
                failing = d.fail is not None and (d.stopped is not None or rng.random() < d.fail_share)
                row: dict[str, Any] = {
                    "key": f"{d.name}|q{i}|{r}",
                    "deployment": d.name,
                    "model": d.model,
                    "api": "azure-ai-inference",
                    "prompt_id": f"q{i}",
                    "repeat": r,
                    "tags": ["math" if i % 2 else "sums"],
                    "simulated": d.simulated,
                    "attempts": 1,
                }
                if failing:
                    assert d.fail is not None
                    status_name, http, message = d.fail
                    row.update({"status": status_name, "http_status": http, "error_message": message, "cost_usd": None, "price_known": price.known})
                else:
                    answer = i + 7 if rng.random() < d.accuracy else i + 8
                    completion = 12
                    warm = written <= d.warmup
                    ttft = d.ttft_s * (10 if warm else 1) * rng.uniform(0.8, 1.2)
                    gen = completion / d.tps
                    stalled = int(written * d.stall_share) != int((written - 1) * d.stall_share)  # that share, spread evenly
                    stall = d.stall_real_s if stalled else 0.0
                    cost = price.cost(20, completion)
                    row.update(
                        {
                            "status": "ok",
                            "response_text": f"The answer is {answer}.",
                            "usage": {"prompt_tokens": 20, "completion_tokens": completion, "total_tokens": 20 + completion},
                            "usage_source": "server",
                            "streamed": True,
                            "ttft_s": ttft * d.time_scale + stall,
                            "e2e_s": (ttft + gen) * d.time_scale + stall,
                            "itl_p50_s": gen / completion * d.time_scale,
                            "output_tps": d.tps / d.time_scale,
                            "cost_usd": str(cost) if cost is not None else None,
                            "price_known": price.known,
                            **({"warmup": True} if warm else {}),
                            **({"intended_ttft_s": ttft, "intended_itl_s": gen / completion, "intended_e2e_s": ttft + gen} if d.intended else {}),
                        }
                    )
                by_status[row["status"]] = by_status.get(row["status"], 0) + 1
                lines.append(json.dumps(row))
    (run_dir / "results.jsonl").write_text("\n".join(lines) + "\n")
    manifest = {
        "run_id": run_dir.name,
        "status": status,
        "started_at": "2026-11-26T09:00:00+00:00",
        "finished_at": "2026-11-26T09:05:00+00:00" if status != "running" else None,
        "prompt_set": {"path": str(prompts), "sha256": load_prompt_set(prompts).sha256, "items": items},
        "params": {"repeats": repeats},
        "prices": {"digest": book.digest, "tables": [str(p) for p in book.sources]},
        "fingerprint": {
            "deployments": [
                {"name": d.name, "model": d.model, "kind": d.kind, "api": "azure-ai-inference", "endpoint": f"https://{d.name}.example/", "key_env": "FAKE_KEY",
                 "compute": d.compute}  # fmt: skip
                for d in deployments
            ]
        },
        "deployments": {
            d.name: {
                "time_scale": d.time_scale,
                "probe": d.probe,
                "loop_lag": {"saturated": d.saturated, "p99_ms": 45.0 if d.saturated else 1.2},
                **d.extra_record,
            }
            for d in deployments
            if d.record_time_scale
        },
        "summary": {"by_status": by_status, "stopped_deployments": {d.name: d.stopped for d in deployments if d.stopped}},
    }
    write_manifest(run_dir, manifest)
    return run_dir
