"""After a run: what it cost, per deployment, in exact Decimal dollars from the recorded usage."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.catalog.prices import THOUSAND
from llama_eval.run.estimate import RunEstimate, _decimal


def run_costs(run_dir: str | Path) -> dict[str, Any]:
    """Actual cost of a run: per deployment, per tag, per 1,000 requests, and the estimate's error."""
    from llama_eval.rundir.health import run_rows
    from llama_eval.rundir.store import read_manifest

    manifest = read_manifest(run_dir) or {}
    per_deployment: dict[str, dict[str, Any]] = {}
    per_tag: dict[tuple[str, str], dict[str, Any]] = {}
    for row in run_rows(run_dir):
        usage = row.get("usage") or {}
        cost = _decimal(row.get("cost_usd"))
        targets = [per_deployment.setdefault(row["deployment"], _blank(row))]
        targets += [per_tag.setdefault((row["deployment"], tag), _blank(row)) for tag in row.get("tags") or ["(untagged)"]]
        for t in targets:
            t["requests"] += 1
            t["prompt_tokens"] += usage.get("prompt_tokens", 0)
            t["completion_tokens"] += usage.get("completion_tokens", 0)
            t["estimated_usage_rows"] += row.get("usage_source") == "estimated"
            if cost is not None:
                t["cost_usd"] += cost
            elif row["status"] not in ("budget_skipped",) and not row.get("price_known"):
                t["unpriced_rows"] += 1
    estimates = {name: RunEstimate.from_json(e) for name, e in manifest.get("estimates", {}).items()}
    for name, t in per_deployment.items():
        t["usd_per_1k_requests"] = t["cost_usd"] / t["requests"] * THOUSAND if t["requests"] else None
        estimate = estimates.get(name)
        worst = estimate.worst_case_usd if estimate else None
        expected = estimate.expected_usd if estimate else None
        t["estimate_worst_usd"] = worst
        t["estimate_expected_usd"] = expected
        t["estimate_error"] = (expected - t["cost_usd"]) / t["cost_usd"] if expected is not None and t["cost_usd"] else None
        t["worst_over_actual"] = worst / t["cost_usd"] if worst is not None and t["cost_usd"] else None
    for t in per_tag.values():
        t["usd_per_1k_requests"] = t["cost_usd"] / t["requests"] * THOUSAND if t["requests"] else None
    return {
        "deployments": per_deployment,
        "tags": {f"{d}|{tag}": v for (d, tag), v in per_tag.items()},
        "total_usd": sum((t["cost_usd"] for t in per_deployment.values()), Decimal(0)),
        "prices": manifest.get("prices", {}),
    }


def _blank(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": row.get("model"),
        "requests": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": Decimal(0),
        "unpriced_rows": 0,
        "estimated_usage_rows": 0,
    }
