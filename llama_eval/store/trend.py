"""The report's "over time" table from the run store: every run of the same configuration, without a folder scan.

``store_trend_frame(run, store)`` gives the frame ``report.summary.trend_frame`` gives — one row per
run and deployment, columns ``TREND_COLUMNS`` — read from the store in one DuckDB query instead of
loading every sibling run directory: the runs whose ``config_sha256`` (deployments and prompt-set
version, as ``--resume`` compares them) is this run's, wherever they ran, as long as they are in
the store. The score is the mean over prompts of each prompt's mean over its repeats with the same
95% bootstrap interval as scoring computes (``quality.stats.bootstrap_ci``, the prompts in the run's
order, seed 0); the cost is USD per 1,000 requests, NaN when some row had no token price.
``started`` is the run's creation time (its first session).
"""

from __future__ import annotations

import os
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llama_eval.errors import StoreError
from llama_eval.quality.stats import bootstrap_ci, per_prompt
from llama_eval.records import ANSWERED
from llama_eval.rundir.run import Run, as_run

from .history import HistoryFilter, store_files
from .location import StoreLocation, resolve_store
from .read import store_rows
from .write import config_sha256

PER_1K_PLACES = Decimal("0.0001")  # cost.option's rounding of a cost per 1,000 requests (the cost layer sits above the store)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TREND_COLUMNS", "store_trend_frame"]

TREND_COLUMNS = ["run", "started", "deployment", "score %", "95% CI low", "95% CI high", "USD per 1k requests"]

_ROWS = """
SELECT run_uid, run_id, run_created_at, deployment, model, status, prompt_id, score, CAST(cost_usd AS VARCHAR) AS cost_usd, price_known
FROM {source}
WHERE config_sha256 = $config AND kind = 'run'
ORDER BY run_created_at, run_uid, filename, file_row_number
"""


def store_trend_frame(run: Run | str | Path, store: str | os.PathLike[str] | StoreLocation | None = None) -> pd.DataFrame:
    """Score and cost per deployment for every run of ``run``'s configuration in the store, oldest first (see the module docstring).

    ``store``: as ``load_history`` (None: ``LLAMA_EVAL_STORE``, else ``.store`` beside the run).
    A run without a recorded configuration (no fingerprint) has no "same configuration": a StoreError.
    """
    import numpy as np
    import pandas as pd

    run = as_run(run)
    config = config_sha256(run.manifest.raw)
    if config is None:
        raise StoreError(f"{run.path}: its manifest records no configuration (fingerprint), so no run is the same configuration")
    location = store if isinstance(store, StoreLocation) else resolve_store(store, beside=run.path)
    if location is None:
        raise StoreError("the run store is turned off (LLAMA_EVAL_STORE=off); the trend then comes from the folder (report.summary.trend_frame)")
    files = store_files(location, HistoryFilter(deployments=tuple(run.manifest.deployments)))
    if not files:
        return pd.DataFrame(columns=TREND_COLUMNS)
    with store_rows(location, files) as (con, source, params):
        rows = con.execute(_ROWS.format(source=source), params | {"config": config}).df()
    kinds = {name: (record.get("kind") or "serverless") for name, record in run.manifest.deployments.items()}  # one configuration: one set of kinds
    out: list[dict[str, Any]] = []
    for _uid, night in rows.groupby("run_uid", sort=False):
        for deployment, group in night.groupby("deployment", sort=False):
            scored = group.dropna(subset=["score"])
            prompts: dict[str, list[float]] = {}
            for prompt_id, score in zip(scored["prompt_id"], scored["score"], strict=True):
                prompts.setdefault(prompt_id, []).append(float(score))
            means, _ = per_prompt(prompts)
            estimate = bootstrap_ci(list(means.values()), seed=0) if means else None
            out.append({
                "run": group["run_id"].iloc[0],
                "started": pd.Timestamp(group["run_created_at"].iloc[0]).isoformat(),
                "deployment": deployment,
                "score %": round(100 * estimate.mean, 1) if estimate else np.nan,
                "95% CI low": round(100 * estimate.low, 1) if estimate else np.nan,
                "95% CI high": round(100 * estimate.high, 1) if estimate else np.nan,
                "USD per 1k requests": _per_token_per_1k(night, deployment, kinds),
            })  # fmt: skip
    return pd.DataFrame(out, columns=TREND_COLUMNS)


def _per_token_per_1k(night: pd.DataFrame, deployment: str, kinds: dict[str, str]) -> float:
    """``cost.projection.per_token_per_1k`` from stored rows: the mean cost of an answered request of the deployment's model and kind, x 1,000.

    A row's cost is its tokens times the price, so the mean cost is the token means times the price: the one figure
    (``cost.traffic``'s definition; rounded to a hundredth of a cent as ``CostOption.cost_at`` rounds). NaN when the
    deployment is billed by the hour, or a row had no token price.
    """
    import numpy as np

    if kinds.get(deployment, "serverless") != "serverless":
        return np.nan
    model = night.loc[night["deployment"] == deployment, "model"].iloc[0]
    answered = night[night["status"].isin(ANSWERED) & night["cost_usd"].notna() & (night["model"] == model)]
    own = answered[answered["deployment"].map(lambda d: kinds.get(d, "serverless") == "serverless")]
    rows = own if len(own) else answered
    if not len(rows) or not bool(rows["price_known"].fillna(False).all()):
        return np.nan
    mean = sum((Decimal(c) for c in rows["cost_usd"]), Decimal(0)) / len(rows)
    return float((mean * 1000).quantize(PER_1K_PLACES, ROUND_HALF_UP))
