"""The cost section (notebook 40_cost): what the run cost, what production traffic would cost, and the break-even.

Presentation only: the figures come from ``llama_eval.cost`` records (``RunCost``, ``Projection``,
``CostOption``); this module turns them into tables with the gaps said in words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llama_eval.catalog.prices import load_prices_for_run
from llama_eval.cost.actual import run_costs
from llama_eval.cost.figures import break_even_figure
from llama_eval.cost.option import deployment_cost_frame
from llama_eval.cost.projection import deployment_costs, per_token_per_1k, project_run
from llama_eval.cost.workload import workload_cost_frame, workload_costs
from llama_eval.defaults import DEFAULT_PEAK_RPS, DEFAULT_REQUESTS_PER_DAY, DEFAULT_SLO
from llama_eval.records import FIXED_KINDS
from llama_eval.rundir.health import assess_run
from llama_eval.rundir.run import Run, as_run

from .latency import sweep_dirs
from .summary import _readable
from .view import NOT_MEASURED, _money

SENT_PER_1K = "per 1,000 requests"  # what the run paid per request it *sent*: shown as "per 1,000 requests sent (this run)", not the projection's figure
SENT_PER_1K_LABEL = "USD per 1,000 requests sent (this run)"


def _cost_rows(run: Run | str | Path) -> list[dict[str, Any]]:
    run = as_run(run)
    kinds = {name: r.get("kind") for name, r in run.manifest.deployments.items()}
    excluded = {d.name: d.state for d in assess_run(run).excluded}
    rows = []
    for name, d in run_costs(run).deployments.items():
        kind = kinds.get(name) or "serverless"
        priced = not d.unpriced_rows and name not in excluded
        if name in excluded:  # what it cost is true; a price per request of a deployment that did not answer is not
            unpriced_words = f"not judged: {excluded[name]}"
        elif priced:
            unpriced_words = ""
        elif kind in FIXED_KINDS:
            unpriced_words = "VM-hours: see projection"
        else:
            unpriced_words = "no price"
        rows.append(
            {
                "deployment": name,
                "model": d.model,
                "kind": kind,
                "requests": d.requests,
                "prompt tokens": d.prompt_tokens,
                "completion tokens": d.completion_tokens,
                "cost": _money(d.cost_usd, 6) if priced or (name in excluded and not d.unpriced_rows) else unpriced_words,
                SENT_PER_1K: _money(d.usd_per_1k_requests) if priced and d.usd_per_1k_requests is not None else (unpriced_words or NOT_MEASURED),
            }
        )
    return rows


def cost_frame(run: Run | str | Path) -> pd.DataFrame:
    """What the run cost per deployment, in words where there is no token price ("no price", "VM-hours: see projection").

    Its cost per 1,000 requests is what this run paid per request *sent* (errors and filtered requests included, at $0),
    labelled so: the projection's cost per 1,000 requests (each model's own token means × the price) is the figure to plan with.
    """
    rows = _cost_rows(run)
    return pd.DataFrame(rows).set_index("deployment") if rows else pd.DataFrame()


def cost_numbers(run: Run | str | Path) -> pd.DataFrame:
    """USD per 1,000 requests per deployment as numbers (NaN without one), for the summary's figures and sentences.

    Per token: the one figure every surface shows (``cost.projection.per_token_per_1k``: the model's own token means × its
    price). Billed by the hour, or not judged: NaN (its cost per request depends on the traffic: see the projection).
    """
    run = as_run(run)
    excluded = {d.name for d in assess_run(run).excluded}
    figures = per_token_per_1k(run)
    names = list(run.manifest.deployments) or list(run.by_deployment())
    rows = [{"deployment": n, "USD per 1k requests": float(figures[n]) if n in figures and n not in excluded else np.nan} for n in names]
    return pd.DataFrame(rows).set_index("deployment") if rows else pd.DataFrame()


def cost_projection(run_dir: Run | str | Path, requests_per_day: float | int = DEFAULT_REQUESTS_PER_DAY, *, peak_rps: float | None = DEFAULT_PEAK_RPS,
                    slo: str | None = DEFAULT_SLO) -> Any:  # fmt: skip
    """``cost.project_run`` for the report, with the run's stored sweeps sizing its machines; None when no request succeeded."""
    try:
        return project_run(run_dir, requests_per_day, sweeps=sweep_dirs(run_dir), slo=slo, peak_rps=peak_rps)
    except ValueError as exc:
        if "no successful rows" in str(exc):
            return None
        raise


def capacity_cost_frame(run_dir: Run | str | Path, requests_per_day: float | int = DEFAULT_REQUESTS_PER_DAY, peak_rps: float | None = DEFAULT_PEAK_RPS,
                        slo: str | None = DEFAULT_SLO) -> pd.DataFrame:  # fmt: skip
    """Cost per 1,000 requests for every deployment kind: tokens for serverless, VM/GPU-hours ÷ swept capacity otherwise."""
    run = as_run(run_dir)
    prices = load_prices_for_run(run.path)
    costs = deployment_costs(run, sweep_dirs(run), slo=slo, peak_rps=peak_rps, requests_per_day=requests_per_day, prices=prices)
    frame = deployment_cost_frame(costs)
    if frame.empty:
        return frame
    out = _readable(frame.set_index("deployment"), gaps={"usd_per_1k_requests": "capacity not measured", "capacity_rps": "not measured (no sweep)"})
    out["instances"] = [int(v) if isinstance(v, float) and v.is_integer() else v for v in out["instances"]]  # a count, not a float
    per_token = out["kind"] == "serverless"
    out.loc[per_token, "capacity_rps"] = "per token: no machines to size"
    out.loc[per_token, "instances"] = "per token: no machines to size"
    # the workload each capacity and cost holds for (cost.workload); conversation runs: per conversation and per turn
    workloads = (
        workload_cost_frame(workload_costs(run, costs, sweep_dirs(run), slo=slo)).set_index("deployment").drop(columns=["capacity_rps", "usd_per_request"])
    )
    if "usd_per_conversation" in workloads:
        workloads["usd_per_conversation"] = [_money(v, 6) if v is not None else "not measured" for v in workloads["usd_per_conversation"]]
    return out.join(workloads.rename(columns={"usd_per_conversation": "USD per conversation (mean)", "usd_per_turn": "USD per turn (mean)"}))


def price_age_line(run: Run | str | Path) -> str:
    """How old the prices behind this report are (the tables the run recorded), with a warning when stale."""
    run = as_run(run)
    models = sorted({d["model"] for d in run.manifest.fingerprint.get("deployments") or [] if d.get("model")})
    fresh = load_prices_for_run(run.path).freshness(models=models or None)
    return f"Prices: {fresh.text}." + (f" **{fresh.warning}**" if fresh.warning else "")


def projection_intro(result: Any, requests_per_day: float | int) -> str:
    """The traffic the cost section assumes, stated first."""
    how = "Set with `llama-eval report --requests-per-day N --peak-rps P` (papermill: `-p requests_per_day N -p peak_rps P`)."
    if result is None:
        return (
            f"**Projected traffic: {requests_per_day:,.0f} requests/day.** "
            f"No projection: no request of this run succeeded, so there are no token means to cost. {how}"
        )
    return f"**Projected traffic: {result.describe()}.** {how}"


def options_table(result: Any) -> pd.DataFrame:
    """Each option offered today at the projected volume (USD per month), gaps in words."""
    if result is None:
        return pd.DataFrame()
    volume = result.profile.requests_per_day
    rows = []
    for o in result.options:
        costed = o.cost_at(volume)  # the one monthly figure and cost per 1,000 requests (the decision and both commands read the same)
        monthly, per_1k = costed.monthly_usd, costed.usd_per_1k_requests
        floor = "at least " if costed.floor else ""
        if not o.fixed:
            instances = "— (per token)"
        elif o.measured:
            instances = f"{costed.instances} ({o.capacity_rps:.3g} req/s each)"
        else:
            instances = "capacity not measured"
        rows.append(
            {
                "option": o.label,
                "billed": "per token" if not o.fixed else "per hour, busy or idle",
                "instances at peak": instances,
                "USD per month": floor + _money(monthly, 2) if monthly is not None else "no price",
                "USD per 1,000 requests": floor + _money(per_1k, 4) if per_1k is not None else "no price",
                "in this run": ", ".join(o.deployments) or "—",
                "note": "; ".join(n for n in (o.note, o.capacity_source, o.basis if not o.fixed else "") if n) or "—",
            }
        )
    return pd.DataFrame(rows).set_index("option") if rows else pd.DataFrame()


def retired_table(result: Any) -> pd.DataFrame:
    if result is None:
        return pd.DataFrame()
    rows = [{"option": o.label, "status": o.retired, "in this run": ", ".join(o.deployments) or "—"} for o in result.retired]
    return pd.DataFrame(rows).set_index("option") if rows else pd.DataFrame()


def break_even_chart(result: Any):
    """The break-even figure (requests per day against USD per month); None without a projection."""
    if result is None:
        return None
    return break_even_figure(result)


def break_even_table(result: Any) -> pd.DataFrame:
    """The meaningful pairs: where they cost the same (requests per day), and which is cheaper at the projected volume."""
    if result is None:
        return pd.DataFrame()
    rows = [
        {
            "option A": p.a,
            "option B": p.b,
            "why this pair": p.why,
            "break-even requests/day": _break_even_cell(p),
            "USD per month there": _money(p.monthly_usd, 2) if p.monthly_usd is not None else "—",
            f"cheaper at {result.profile.requests_per_day:,.0f}/day": p.cheaper_now or "same cost",
        }
        for p in result.break_even
    ]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="#")
    return frame


def _break_even_cell(p: Any) -> str:
    if p.requests_per_day is None:
        return p.never_why
    if p.lower_bound:
        return f"at least {p.requests_per_day:,.0f} (capacity not measured)"
    if p.first_cheaper_at is not None:
        return f"{p.requests_per_day:,.0f} (first cheaper at {p.first_cheaper_at:,.0f}; added instances flip it back until here)"
    return f"{p.requests_per_day:,.0f}"
