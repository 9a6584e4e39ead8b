"""The report's aggregates, computed by DuckDB from the run's rows read once into Parquet.

A report of a big run must not carry its raw rows to the page: 500,000 requests drawn as points
make a page of hundreds of megabytes and minutes of work. The pipeline writes the run's final rows
once (``write_rows``: ``ROWS_FILE`` in the report folder, the columns the report reads, named and
typed as ``rundir.store.COLUMNS``), and the latency and quality sections read aggregates of it:

* ``latency_stats``: per deployment, requests and the p50/p90/p99 of TTFT and end-to-end time, the
  median inter-token gap and output speed. ``quantile_cont`` interpolates linearly between the two
  nearest ranks, as numpy's and pandas' default ``quantile`` does, so the numbers are those the
  pandas path (``latency.latency_frame`` on a ``Run``) gives; a test compares them on an emulated run.
* ``ecdf_points``: ``ECDF_POINTS`` evenly spaced quantiles of TTFT per deployment (the curve of the
  ECDF, drawn as a line; with fewer answers than that, every answer is a point, as before).
* ``box_stats``: q1, median, q3 and Tukey's fences (the furthest answer within 1.5 IQR of the
  quartiles, as plotly computes them from points) of end-to-end time per deployment, with how many
  answers lie beyond them (not drawn one by one).
* ``answer_sample``: the first answers per deployment by prompt, the table of answers to read.

Without a Parquet file (a notebook opened on its own) the same SQL runs on the ``Run``'s rows, so a
notebook and the report page show the same numbers. Every query takes the rows in the service's
real time: answered (``records.ANSWERED``), warm-up left out, only deployments the run's health lets
be timed, times divided by the deployment's time scale (tokens/s multiplied).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from llama_eval.records import ANSWERED
from llama_eval.rundir.health import RunHealth, assess_run
from llama_eval.rundir.run import Run, as_run

ROWS_FILE = "rows.parquet"  # in the report folder: the run's final rows, the one copy every section aggregates
ECDF_POINTS = 200  # quantiles per deployment drawn as its ECDF
WHISKER_IQR = 1.5  # Tukey's fences, as plotly's box plot draws them
_READ_COLUMNS = ("deployment", "prompt_id", "repeat", "status", "warmup", "ttft_s", "e2e_s", "itl_p50_s", "output_tps", "response_text")


def write_rows(run_dir: str | Path, out_dir: str | Path) -> Path:
    """The run's final rows as ``out_dir/ROWS_FILE``, the columns the report reads, written whole or not at all.

    DuckDB reads ``results.jsonl`` (a torn last line is skipped, as ``load_run`` skips it) and keeps each key's
    latest row, budget-skipped rows left out (``rundir.store.final_rows``' rule); the columns keep the names and
    types of ``rundir.store.COLUMNS``. ``rundir.store.parquet_batches`` (the run store's writer) converts row by
    row in Python, about ten times slower: too slow for the page of a 500,000-row run.
    """
    import duckdb

    from llama_eval.records import NOT_FINAL
    from llama_eval.rundir.store import COLUMNS, RESULTS

    kinds = {"string": "VARCHAR", "int64": "BIGINT", "float64": "DOUBLE", "bool": "BOOLEAN"}
    columns = {name: kinds[COLUMNS[name]] for name in _READ_COLUMNS} | {"key": "VARCHAR"}
    target = Path(out_dir) / ROWS_FILE
    partial = target.with_name(f".{ROWS_FILE}.tmp")
    not_final = ", ".join(f"'{s}'" for s in sorted(NOT_FINAL))
    spec = "{" + ", ".join(f"'{n}': '{t}'" for n, t in columns.items()) + "}"
    with duckdb.connect() as con:
        con.execute(
            f"""COPY (
                  SELECT {", ".join(_READ_COLUMNS)} FROM (
                    SELECT *, row_number() OVER () AS ordinal FROM read_json('{_sql_text(Path(run_dir) / RESULTS)}', format = 'newline_delimited',
                                                                             columns = {spec}, ignore_errors = true))
                  QUALIFY row_number() OVER (PARTITION BY key ORDER BY ordinal DESC) = 1 AND status NOT IN ({not_final})
                  ORDER BY min(ordinal) OVER (PARTITION BY key))
                TO '{_sql_text(partial)}' (FORMAT parquet)"""  # noqa: S608 -- only quote-escaped paths, status names and ints are interpolated
        )
    os.replace(partial, target)
    return target


@dataclass(frozen=True)
class RowSource:
    """Where the aggregates read a run's rows: the report's Parquet copy, or (``rows_file`` None) the ``Run`` in memory."""

    run: Run
    health: RunHealth
    rows_file: Path | None = None

    def connect(self) -> Any:
        """A DuckDB connection with the view ``timed``: the answered, non-warm-up rows of timed deployments, in real time."""
        import duckdb

        con = duckdb.connect()
        if self.rows_file is not None:
            con.execute(f"CREATE VIEW raw AS SELECT *, file_row_number AS ordinal FROM read_parquet('{_sql_text(self.rows_file)}', file_row_number = true)")  # noqa: S608 -- only quote-escaped paths, status names and ints are interpolated
        else:
            frame = pd.DataFrame(
                [{"deployment": r.deployment, "prompt_id": r.prompt_id, "repeat": r.repeat, "status": str(r.status), "warmup": r.warmup,
                  "ttft_s": r.timing.ttft_s if r.timing else None, "e2e_s": r.timing.e2e_s if r.timing else None,
                  "itl_p50_s": r.timing.itl_p50_s if r.timing else None, "output_tps": r.timing.output_tps if r.timing else None,
                  "response_text": r.response_text} for r in self.run.rows],
                columns=list(_READ_COLUMNS),
            ).astype({"ttft_s": "float64", "e2e_s": "float64", "itl_p50_s": "float64", "output_tps": "float64", "repeat": "int64"})  # fmt: skip
            frame["ordinal"] = range(len(frame))
            con.register("raw_frame", frame)
            con.execute("CREATE VIEW raw AS SELECT * FROM raw_frame")
        scales = {n: d.time_scale for n, d in self.health.deployments.items() if not d.excluded and d.time_scale > 0}
        con.execute("CREATE TABLE scale (deployment VARCHAR, s DOUBLE)")
        if scales:
            con.executemany("INSERT INTO scale VALUES (?, ?)", list(scales.items()))
        answered = ", ".join(f"'{s}'" for s in sorted(ANSWERED))
        con.execute(
            f"""CREATE VIEW answered AS SELECT * FROM raw WHERE status IN ({answered});
            CREATE VIEW timed AS SELECT a.deployment, a.ttft_s / s.s AS ttft_s, a.e2e_s / s.s AS e2e_s, a.itl_p50_s / s.s AS itl_p50_s,
                   a.output_tps * s.s AS output_tps
            FROM answered a JOIN scale s USING (deployment) WHERE NOT coalesce(a.warmup, false)"""  # noqa: S608 -- only quote-escaped paths, status names and ints are interpolated
        )
        return con


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")


def row_source(run: Run | str | Path, health: RunHealth | None = None, rows_file: str | Path | None = None) -> RowSource:
    """The rows the aggregates read: ``rows_file`` (the report's Parquet copy) when given and there, else the run's own rows."""
    run = as_run(run)
    path = Path(rows_file) if rows_file else None
    return RowSource(run, health or assess_run(run), path if path is not None and path.is_file() else None)


def latency_stats(source: RowSource) -> pd.DataFrame:
    """Per deployment (its index): ``requests`` and the latency statistics of ``latency.latency_frame``, unrounded (NaN: not measured)."""
    with source.connect() as con:
        frame = con.execute(
            """SELECT deployment, count(*) AS requests,
                   quantile_cont(ttft_s * 1000, [0.5, 0.9, 0.99]) AS ttft, median(itl_p50_s * 1000) AS itl,
                   quantile_cont(e2e_s, [0.5, 0.9, 0.99]) AS e2e, median(output_tps) AS tps
            FROM timed GROUP BY deployment ORDER BY deployment"""
        ).df()
    out = pd.DataFrame(index=pd.Index(frame["deployment"], name="deployment"))
    out["requests"] = frame["requests"].to_numpy()
    for prefix, column in (("TTFT", "ttft"), ("e2e", "e2e")):
        unit = " ms" if prefix == "TTFT" else " s"
        for i, p in enumerate((50, 90, 99)):
            out[f"{prefix} p{p}{unit}"] = [v[i] if v is not None else float("nan") for v in frame[column]]
    out["ITL p50 ms"] = frame["itl"].to_numpy(dtype=float)
    out["output tok/s p50"] = frame["tps"].to_numpy(dtype=float)
    return out


def ecdf_points(source: RowSource, points: int = ECDF_POINTS) -> dict[str, tuple[list[float], list[float]]]:
    """Per deployment, (TTFT in ms, share of requests at or below it): ``points`` quantiles, or every answer when there are fewer."""
    levels = [i / (points - 1) for i in range(points)]
    with source.connect() as con:
        few = con.execute(
            f"""SELECT deployment, list(ttft_s * 1000 ORDER BY ttft_s) FROM timed WHERE ttft_s IS NOT NULL
            GROUP BY deployment HAVING count(*) <= {points} ORDER BY deployment"""  # noqa: S608 -- only quote-escaped paths, status names and ints are interpolated
        ).fetchall()
        many = con.execute(
            f"""SELECT deployment, quantile_cont(ttft_s * 1000, {levels}) FROM timed WHERE ttft_s IS NOT NULL
            GROUP BY deployment HAVING count(*) > {points} ORDER BY deployment"""  # noqa: S608 -- only quote-escaped paths, status names and ints are interpolated
        ).fetchall()
    out: dict[str, tuple[list[float], list[float]]] = {}
    for name, values in few:  # every answer: the exact ECDF, a step per answer, as px.ecdf draws it
        out[name] = (list(values), [(i + 1) / len(values) for i in range(len(values))])
    for name, values in many:
        out[name] = (list(values), levels)
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class BoxStats:
    """One deployment's box: quartiles, Tukey's fences (the furthest answers within 1.5 IQR), and what lies beyond them."""

    deployment: str
    q1: float
    median: float
    q3: float
    lowerfence: float
    upperfence: float
    beyond: int  # answers outside the fences (outliers; counted, not drawn one by one)
    largest: float


def box_stats(source: RowSource) -> list[BoxStats]:
    """End-to-end time (real seconds) per deployment as box-plot statistics (plotly's linear quartiles)."""
    with source.connect() as con:
        rows = con.execute(
            f"""WITH q AS (SELECT deployment, quantile_cont(e2e_s, 0.25) AS q1, median(e2e_s) AS q2, quantile_cont(e2e_s, 0.75) AS q3
                           FROM timed WHERE e2e_s IS NOT NULL GROUP BY deployment)
            SELECT q.deployment, q.q1, q.q2, q.q3,
                   min(t.e2e_s) FILTER (WHERE t.e2e_s >= q.q1 - {WHISKER_IQR} * (q.q3 - q.q1)),
                   max(t.e2e_s) FILTER (WHERE t.e2e_s <= q.q3 + {WHISKER_IQR} * (q.q3 - q.q1)),
                   count(*) FILTER (WHERE t.e2e_s < q.q1 - {WHISKER_IQR} * (q.q3 - q.q1) OR t.e2e_s > q.q3 + {WHISKER_IQR} * (q.q3 - q.q1)),
                   max(t.e2e_s)
            FROM timed t JOIN q USING (deployment) WHERE t.e2e_s IS NOT NULL
            GROUP BY q.deployment, q.q1, q.q2, q.q3 ORDER BY q.deployment"""  # noqa: S608 -- only quote-escaped paths, status names and ints are interpolated
        ).fetchall()
    return [BoxStats(*row) for row in rows]


def answer_sample(source: RowSource, per_deployment: int) -> pd.DataFrame:
    """The first ``per_deployment`` answers of each deployment by prompt id (ties: the order of the results file), with their text."""
    with source.connect() as con:
        frame = con.execute(
            f"""SELECT deployment, prompt_id, response_text FROM (
                  SELECT *, row_number() OVER (PARTITION BY deployment ORDER BY prompt_id, ordinal) AS n FROM answered)
            WHERE n <= {int(per_deployment)} ORDER BY deployment, prompt_id, ordinal"""  # noqa: S608 -- only quote-escaped paths, status names and ints are interpolated
        ).df()
    return frame.set_index(["deployment", "prompt_id"])


def answered_count(source: RowSource) -> int:
    """How many answered rows the run has (all deployments, warm-up included)."""
    with source.connect() as con:
        return int(con.execute("SELECT count(*) FROM answered").fetchone()[0])
