"""After a run: what it cost, per deployment and per tag, in exact Decimal dollars from the recorded usage.

``run_costs(run)`` (a ``Run`` from ``load_run``, or its directory, read once) returns a ``RunCost``: an
``ActualCost`` per deployment (with the pre-run estimate's error) and per (deployment, tag), the
total, and the price tables the run used. ``RunCost.frame()`` is the table notebooks and the CLI show.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.catalog.prices import THOUSAND
from llama_eval.records import Status
from llama_eval.run.estimate import RunEstimate
from llama_eval.rundir.run import Run, as_run

UNTAGGED = "(untagged)"


@dataclass(frozen=True)
class ActualCost:
    """What one deployment (or one tag of it) sent and cost. Estimate fields: the whole deployment only."""

    deployment: str
    model: str | None
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    unpriced_rows: int = 0  # rows that needed a token price and had none
    estimated_usage_rows: int = 0  # usage counted with the tokenizer (the service sent none)
    tag: str | None = None  # None: every row of the deployment
    estimate_worst_usd: Decimal | None = None
    estimate_expected_usd: Decimal | None = None

    @property
    def usd_per_1k_requests(self) -> Decimal | None:
        return self.cost_usd / self.requests * THOUSAND if self.requests else None

    @property
    def estimate_error(self) -> Decimal | None:
        """(expected - actual) ÷ actual: how far the pre-run expected cost was off."""
        expected = self.estimate_expected_usd
        return (expected - self.cost_usd) / self.cost_usd if expected is not None and self.cost_usd else None

    @property
    def worst_over_actual(self) -> Decimal | None:
        worst = self.estimate_worst_usd
        return worst / self.cost_usd if worst is not None and self.cost_usd else None

    def row(self) -> dict[str, Any]:
        """The record and its derived figures, flat (one row of ``RunCost.frame``)."""
        return asdict(self) | {k: getattr(self, k) for k in ("usd_per_1k_requests", "estimate_error", "worst_over_actual")}

    def to_json(self) -> dict[str, Any]:
        """``row()`` for JSON: money as exact strings, and no money at all where no row had a price.

        A deployment with no token price on any row (billed by the hour: managed, self-hosted; or a model
        missing from the price tables) has cost ``null`` and ``priced`` false, never "0": the projection
        sizes and prices machines. Some rows unpriced: the sum of the priced ones, ``cost_is_lower_bound``.
        """
        out = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in self.row().items()}
        unpriced_all = self.requests > 0 and self.unpriced_rows >= self.requests
        if unpriced_all:
            out.update(cost_usd=None, usd_per_1k_requests=None, estimate_error=None, worst_over_actual=None)
        out["priced"] = not unpriced_all
        out["cost_is_lower_bound"] = 0 < self.unpriced_rows < self.requests
        return out


@dataclass(frozen=True)
class RunCost:
    """The actual cost of a run: per deployment, per (deployment, tag), the total, and the price tables used."""

    deployments: dict[str, ActualCost]
    tags: dict[tuple[str, str], ActualCost]
    total_usd: Decimal
    prices: dict[str, Any] = field(default_factory=dict)  # the manifest's record: tables, digest

    def frame(self, *, by_tag: bool = False):
        """One row per deployment (``by_tag``: per deployment and tag), indexed by deployment; money as Decimal."""
        import pandas as pd  # imported on use: start-up time

        records = self.tags.values() if by_tag else self.deployments.values()
        frame = pd.DataFrame([r.row() for r in records])
        return frame.set_index("deployment") if not frame.empty else frame


def run_costs(run: Run | str | Path) -> RunCost:
    """Actual cost of a run: per deployment, per tag, per 1,000 requests sent, and the estimate's error.

    The same ``Run`` object is summed once (the report's cost table, its decision and its drift chart all ask)."""
    return as_run(run).derived(_run_costs)


def _run_costs(run: Run) -> RunCost:
    manifest = run.manifest.raw
    totals: dict[tuple[str, str | None], dict[str, Any]] = {}
    skipped = Status.BUDGET_SKIPPED
    for row in run.rows:  # the typed rows' fields, as their ``to_json`` stores them (tags, usage, cost, price_known)
        usage = row.usage
        cost = row.cost_usd
        name = row.deployment
        for key in [(name, None), *((name, tag) for tag in row.tags or (UNTAGGED,))]:
            t = totals.get(key)
            if t is None:
                t = totals[key] = {"model": row.model, "requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": Decimal(0),
                                   "unpriced_rows": 0, "estimated_usage_rows": 0}  # fmt: skip
            t["requests"] += 1
            if usage is not None:
                t["prompt_tokens"] += usage.prompt_tokens
                t["completion_tokens"] += usage.completion_tokens
            t["estimated_usage_rows"] += row.usage_source == "estimated"
            if cost is not None:
                t["cost_usd"] += cost
            elif row.status != skipped and not row.price_known:
                t["unpriced_rows"] += 1
    estimates = {name: RunEstimate.from_json(e) for name, e in manifest.get("estimates", {}).items()}
    deployments, tags = {}, {}
    for (name, tag), t in totals.items():
        if tag is None:
            estimate = estimates.get(name)
            deployments[name] = ActualCost(name, **t, estimate_worst_usd=estimate.worst_case_usd if estimate else None,
                                           estimate_expected_usd=estimate.expected_usd if estimate else None)  # fmt: skip
        else:
            tags[(name, tag)] = ActualCost(name, **t, tag=tag)
    return RunCost(deployments, tags, sum((d.cost_usd for d in deployments.values()), Decimal(0)), manifest.get("prices", {}))


__all__ = ["ActualCost", "RunCost", "UNTAGGED", "run_costs"]
