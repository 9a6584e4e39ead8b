"""History from the run store: per run and deployment, score, latency percentiles, cost per 1,000 requests, error rate.

``load_history(store, deployment=..., model=..., prompt_set=..., since=..., until=...)`` answers
"how did llama33-70b's TTFT p90 and score move since September, across prompt-set versions?" with
one DuckDB query over the store's Parquet files (``store.write``). Only the files of the
partitions the filters name are read (``date=``/``deployment=`` folders), and every number comes
from the raw rows, never from a summary: a percentile of percentiles is not a percentile.

One row per (run, deployment, sweep level) in time order, the columns of ``HISTORY_COLUMNS``:

* ``requests``: final rows; ``errors``: rows the endpoint did not answer (status not ok/length);
  ``error_rate`` = errors / requests;
* ``score``: the mean over prompts of each prompt's mean score over its repeats, as ``llama-eval
  score`` computes it (failed requests score 0; unscorable answers are left out); ``scored``: rows
  with a score (0 and score null: the run was not scored);
* ``ttft_p50_s``, ``ttft_p90_s``, ``ttft_p99_s``, ``e2e_p50_s``, ``e2e_p90_s``: linear-interpolated
  percentiles (as ``numpy.quantile``) of the answered, non-warm-up rows, in the service's time:
  a measurement against the emulator is divided by its recorded time scale (``emulated`` says so);
* ``cost_per_1k_usd``: ``Decimal`` USD the run spent per 1,000 requests *sent* (failed ones cost $0, so this is
  spend, as ``llama-eval cost`` labels its "this run" column, not the per-token figure a projection uses), at the prices the run recorded
  (``price_digest``); ``cost_complete`` is False when some row had no token price (its cost is
  missing from the sum, so the figure is a lower bound).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from llama_eval.errors import StoreError

from .location import ENV, StoreLocation, resolve_store
from .read import store_rows

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HISTORY_COLUMNS", "HistoryFilter", "load_history", "store_files"]

HISTORY_COLUMNS = (
    "date", "run_created_at", "run_id", "run_uid", "kind", "deployment", "model", "prompt_set", "prompt_set_sha256", "level",
    "requests", "errors", "error_rate", "score", "scored", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "e2e_p50_s", "e2e_p90_s",
    "cost_per_1k_usd", "cost_complete", "price_digest", "emulated",
)  # fmt: skip
ANSWERED_SQL = "('ok', 'length')"
_PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})/deployment=([^/]+)/[^/]+\.parquet$")


def _day(value: str | date | None, what: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise StoreError(f"{what}={value!r} is not a date; give it as YYYY-MM-DD (e.g. {what}=2026-09-01)") from None


def _names(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class HistoryFilter:
    """Which rows ``load_history`` reads: each field narrows (empty: everything)."""

    deployments: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    prompt_sets: tuple[str, ...] = ()  # a prompt set's name, or the start of its sha256 (a version)
    since: date | None = None
    until: date | None = None
    kind: str | None = "run"  # "run", "sweep", or None for both

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise StoreError(f"since={self.since} is after until={self.until}; nothing can match")
        if self.kind not in ("run", "sweep", None):
            raise StoreError(f"kind={self.kind!r}: give 'run', 'sweep' or None (both)")

    def keeps_partition(self, day: date, deployment: str) -> bool:
        if self.since and day < self.since or self.until and day > self.until:
            return False
        return not self.deployments or deployment in self.deployments


def store_files(location: StoreLocation, keep: HistoryFilter | None = None) -> list[str]:
    """The store's Parquet files (those of the partitions ``keep`` lets through), as fsspec gives them, sorted."""
    keep = keep or HistoryFilter()
    out = []
    for path in location.fs.glob(location.path("date=*", "deployment=*", "*.parquet")):
        match = _PARTITION.search(path)
        if match is None or path.rsplit("/", 1)[-1].startswith("."):
            continue
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError:
            continue
        if keep.keeps_partition(day, match.group(2)):
            out.append(path)
    return sorted(out)


def _where(keep: HistoryFilter) -> tuple[str, list[Any]]:
    clauses, args = [], []
    if keep.kind:
        clauses.append("kind = ?")
        args.append(keep.kind)
    if keep.models:
        clauses.append(f"model IN ({', '.join('?' * len(keep.models))})")
        args += list(keep.models)
    if keep.prompt_sets:
        parts = []
        for name in keep.prompt_sets:
            parts.append("(prompt_set = ? OR starts_with(prompt_set_sha256, ?))")
            args += [name, name.lower() if len(name) >= 6 else "\x00"]  # a version by a sha256 prefix of 6+ hex digits
        clauses.append("(" + " OR ".join(parts) + ")")
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


_QUERY = """
WITH rows AS (
    SELECT *,
        status IN {answered} AND NOT coalesce(warmup, false) AS measured,
        score / count(score) OVER (PARTITION BY run_uid, deployment, level, prompt_id) AS prompt_share,
        CASE WHEN time_scale > 0 THEN ttft_s / time_scale ELSE ttft_s END AS ttft,
        CASE WHEN time_scale > 0 THEN e2e_s / time_scale ELSE e2e_s END AS e2e
    FROM {source}
    {where}
)
SELECT date, run_created_at, run_id, run_uid, kind, deployment, model, prompt_set, prompt_set_sha256, level,
    count(*) AS requests,
    count(*) FILTER (WHERE status NOT IN {answered}) AS errors,
    sum(prompt_share) / count(DISTINCT prompt_id) FILTER (WHERE score IS NOT NULL) AS score,
    count(score) AS scored,
    quantile_cont(ttft, 0.5) FILTER (WHERE measured) AS ttft_p50_s,
    quantile_cont(ttft, 0.9) FILTER (WHERE measured) AS ttft_p90_s,
    quantile_cont(ttft, 0.99) FILTER (WHERE measured) AS ttft_p99_s,
    quantile_cont(e2e, 0.5) FILTER (WHERE measured) AS e2e_p50_s,
    quantile_cont(e2e, 0.9) FILTER (WHERE measured) AS e2e_p90_s,
    CAST(sum(cost_usd) AS VARCHAR) AS cost_usd,
    bool_and(coalesce(price_known, false)) AS cost_complete,
    any_value(price_digest) AS price_digest,
    bool_or(coalesce(simulated, false)) AS emulated
FROM rows
GROUP BY date, run_created_at, run_id, run_uid, kind, deployment, model, prompt_set, prompt_set_sha256, level
ORDER BY run_created_at, deployment, level
"""


def load_history(
    store: str | os.PathLike[str] | StoreLocation | None = None,
    *,
    deployment: str | list[str] | None = None,
    model: str | list[str] | None = None,
    prompt_set: str | list[str] | None = None,
    since: str | date | None = None,
    until: str | date | None = None,
    kind: str | None = "run",
    storage_options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The store's history as a DataFrame (columns ``HISTORY_COLUMNS``, one row per run and deployment, oldest first).

    ``store``: a path or fsspec URL (None: ``LLAMA_EVAL_STORE``, else ``./runs/.store``).
    ``deployment``/``model``/``prompt_set``: a name or a list of names (a prompt set also by the
    start of its sha256, 6+ hex digits: one version of it); ``since``/``until``: dates, inclusive
    (``"2026-09-01"``); ``kind``: ``"run"`` (default), ``"sweep"`` (one row per level) or None.
    A store without a single run is a StoreError that says how runs get there; filters that
    match nothing give an empty frame.
    """
    import pandas as pd

    keep = HistoryFilter(_names(deployment), _names(model), _names(prompt_set), _day(since, "since"), _day(until, "until"), kind)
    location = store if isinstance(store, StoreLocation) else resolve_store(store, storage_options=storage_options)
    if location is None:
        raise StoreError(f"the run store is turned off ({ENV}=off); give a store with --store or {ENV}")
    try:
        if not location.fs.exists(location.root):
            raise StoreError(f"no run store at {location.display} (from {location.source}): runs are added when they finish, "
                             "or with `llama-eval store add RUN_DIR...`")  # fmt: skip
        files = store_files(location, keep)
        if not files and not store_files(location):
            raise StoreError(f"the run store at {location.display} holds no runs; add some with `llama-eval store add RUN_DIR...`")
    except OSError as exc:
        raise StoreError(f"cannot read the run store {location.display}: {exc.__class__.__name__}: {exc}") from None
    if not files:
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    where, args = _where(keep)
    with store_rows(location, files) as (con, source, params):
        frame = _run(con, source, params, where, args)
    return _finish(frame)


def _run(con: Any, source: str, params: dict[str, Any], where: str, args: list[Any]) -> pd.DataFrame:
    """The query with the filter values bound as parameters (never formatted into the SQL)."""
    numbered = where
    params = dict(params)
    for i, value in enumerate(args):
        numbered = numbered.replace("?", f"$a{i}", 1)
        params[f"a{i}"] = value
    return con.execute(_QUERY.format(answered=ANSWERED_SQL, where=numbered, source=source), params).df()


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    frame["error_rate"] = frame["errors"] / frame["requests"]
    frame["cost_per_1k_usd"] = [
        (Decimal(total) * 1000 / n).quantize(Decimal("0.000001")) if total is not None and n else None
        for total, n in zip(frame["cost_usd"], frame["requests"], strict=True)
    ]
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    frame["level"] = frame["level"].astype("Int64")
    return frame[list(HISTORY_COLUMNS)].reset_index(drop=True)
