"""The summary (notebook 50_summary): the decision, the trade-off, and how this run compares with earlier ones."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llama_eval.cost.projection import per_token_per_1k
from llama_eval.decide import MARGIN_POINTS, recommend
from llama_eval.defaults import DEFAULT_PEAK_RPS, DEFAULT_REQUESTS_PER_DAY, DEFAULT_SLO
from llama_eval.errors import StoreError
from llama_eval.quality.summary import PairedComparison
from llama_eval.rundir.health import RunHealth
from llama_eval.rundir.run import Run, RunManifest, as_run, load_run
from llama_eval.rundir.store import read_manifest
from llama_eval.store.trend import store_trend_frame

from .quality import quality_summary
from .view import _money, words


def decision_frame(decision: Any) -> pd.DataFrame:
    """``Recommendation.frame()`` for reading: rounded numbers, gaps in words."""
    frame = decision.frame()
    if frame.empty:
        return frame
    return _readable(frame, gaps={"capacity_rps": "not measured (no sweep)", "monthly_usd": "no price", "usd_per_1k_requests": "no price"})


def _readable(frame: pd.DataFrame, gaps: dict[str, str]) -> pd.DataFrame:
    """Decimals and floats rounded for a table; a gap says what it is (``gaps`` per column, else "not applicable")."""
    places = {"usd_per_1k_requests": 4, "monthly_usd": 2, "capacity_rps": 2, "quality": 3}
    out = frame.astype(object).copy()
    for column in out.columns:
        values = out[column]
        rounded = [round(float(v), places.get(column, 2)) if isinstance(v, Decimal | float) and not pd.isna(v) else v for v in values]
        out[column] = [gaps.get(column, "not applicable") if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in rounded]
    return out


def recommendation(run: Run | str | Path, *, peak_rps: float | None = DEFAULT_PEAK_RPS, requests_per_day: float | int = DEFAULT_REQUESTS_PER_DAY,
                   slo: str = DEFAULT_SLO, margin: float = MARGIN_POINTS) -> Any:  # fmt: skip
    """``recommend`` on this run and its stored sweeps: the cheapest option non-inferior to the best (``margin`` points) that meets the SLO at peak.

    Nothing but recommend's own defaults (the stored sweeps, the run's price tables, ``llama_eval.defaults``), so that
    ``llama-eval recommend RUN_DIR`` with the same traffic, SLO and margin prints the same table,
    and the same verdict sentences (``NonInferiority.text``).
    """
    return recommend(run if isinstance(run, Run) else Path(run), peak_rps=peak_rps, requests_per_day=requests_per_day, slo=slo, margin=margin)


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Names not dominated: no other point is at least as cheap and at least as good, and better in one."""
    front = []
    for name, (cost, quality) in points.items():
        dominated = any((c <= cost and q >= quality) and (c < cost or q > quality) for other, (c, q) in points.items() if other != name)
        if not dominated:
            front.append(name)
    return sorted(front, key=lambda n: points[n][0])


def summary_frame(quality: pd.DataFrame, cost: pd.DataFrame, latency: pd.DataFrame, health: RunHealth | None = None) -> pd.DataFrame:
    """Quality, USD per 1k requests and a p90 latency per judged deployment (numbers; latency dropped where the client was saturated)."""
    if quality.empty:
        return quality
    per_1k = cost[["USD per 1k requests"]] if "USD per 1k requests" in cost else pd.DataFrame(index=quality.index, columns=["USD per 1k requests"], dtype=float)
    frame = quality[["score %", "95% CI low", "95% CI high"]].join(per_1k, how="left")
    if not latency.empty:
        column = "TTFT p90 ms" if "TTFT p90 ms" in latency else "e2e p90 s"
        values = latency[[column]].copy()
        if health is not None:
            values.loc[[n for n in values.index if n in health.latency_unreliable()], column] = np.nan
        frame = frame.join(values, how="left")
    return frame


def summary_table(frame: pd.DataFrame, health: RunHealth | None = None) -> pd.DataFrame:
    """summary_frame for display: 'no price' and 'not measured' in words, each deployment's state."""
    if frame.empty:
        return frame
    shown = frame.astype(object)
    kinds = {n: d.kind for n, d in health.deployments.items()} if health is not None else {}
    shown["USD per 1k requests"] = [
        _money(v) if pd.notna(v) else ("VM-hours: see projection" if kinds.get(n) in ("managed", "self-hosted") else "no price")
        for n, v in frame["USD per 1k requests"].items()
    ]
    if health is not None:
        shown["rows"] = [
            "complete" if health.deployments.get(n) is None or health.deployments[n].complete else str(health.deployments[n].state) for n in frame.index
        ]
    return words(shown)


def summary_figures(frame: pd.DataFrame) -> list[Any]:
    """Quality vs cost (with the Pareto frontier) and quality vs p90 latency: one legend entry per deployment, no text on the plot to overlap."""
    import plotly.graph_objects as go

    figures = []
    if frame.empty:
        return figures

    def points(x_column: str, x_label: str) -> Any:
        shown = frame.dropna(subset=[x_column])
        fig = go.Figure()
        for name, row in shown.iterrows():
            fig.add_trace(
                go.Scatter(x=[row[x_column]], y=[row["score %"]], mode="markers", marker={"size": 12}, name=str(name),
                           hovertemplate=f"{name}<br>{x_label} %{{x:,.4g}}<br>score %{{y:.1f}}%<extra></extra>")  # fmt: skip
            )
        return fig, shown

    if frame["USD per 1k requests"].notna().any():
        fig, priced = points("USD per 1k requests", "USD per 1,000 requests")
        costs = {n: (r["USD per 1k requests"], r["score %"]) for n, r in priced.iterrows()}
        front = pareto_front(costs)
        fig.add_trace(go.Scatter(x=[costs[n][0] for n in front], y=[costs[n][1] for n in front], mode="lines", name="Pareto frontier", line={"dash": "dot"}))
        fig.update_layout(title="Quality vs cost per 1,000 requests: up and to the left is better (token-priced deployments)",
                          xaxis_title="USD per 1,000 requests", yaxis_title="score (%)")  # fmt: skip
        figures.append(fig)
    latency_column = next((c for c in ("TTFT p90 ms", "e2e p90 s") if c in frame and frame[c].notna().any()), None)
    if latency_column:
        fig, _ = points(latency_column, latency_column)
        unit = "ms" if latency_column.endswith("ms") else "s"
        fig.update_layout(title=f"Quality vs {latency_column} (real time): up and to the left is better",
                          xaxis_title=f"{latency_column[: -len(unit)].strip()} ({unit})", yaxis_title="score (%)")  # fmt: skip
        figures.append(fig)
    return figures


def recommendations(frame: pd.DataFrame, comparisons: Sequence[PairedComparison], health: RunHealth | None = None) -> list[str]:
    """Sentences generated from the data, only among deployments with complete rows: best quality, the cheapest the paired test
    could not separate from it, the fastest. "Could not separate" is not "as good": only the decision (non-inferiority within
    the margin) says that, and these sentences point to it rather than recommend on their own."""
    out: list[str] = []
    if health is not None:
        for d in health.deployments.values():
            if not d.complete and d.name in frame.index:
                out.append(f"{d.name} is left out of the recommendations: its rows are {d.state} ({d.error}).")
        for d in health.excluded:
            if d.name not in frame.index:
                out.append(f"{d.name} is left out: {d.state} ({d.error}).")
        frame = frame.loc[[n for n in frame.index if n in health.recommendable]]
    if frame.empty:
        return [*out, "No recommendation: no deployment has complete rows to judge (see the notes at the top)."]
    best = frame["score %"].idxmax()
    out.append(f"Highest quality: {best} ({frame.loc[best, 'score %']:.1f}% [{frame.loc[best, '95% CI low']:.1f}, {frame.loc[best, '95% CI high']:.1f}]).")
    separated = [c for c in comparisons if c.involves(best) and c.significant]
    worse_than_best = {c.other(best) for c in separated}
    tied = [n for n in frame.index if n == best or n not in worse_than_best]
    priced = frame.loc[tied].dropna(subset=["USD per 1k requests"])
    if not priced.empty:
        cheapest = priced["USD per 1k requests"].idxmin()
        if cheapest != best:
            out.append(
                f"For cost: {cheapest} costs ${priced.loc[cheapest, 'USD per 1k requests']:.4f} per 1,000 requests and the paired test "
                f"could not separate it from {best} on these prompts; that is not the same as as good: the decision above says whether "
                "it is non-inferior within the margin."
            )
        else:
            out.append(f"For cost: {best} is also the cheapest of the deployments the paired test could not separate from it.")
    unreliable = [n for n in tied if health is not None and n in health.latency_unreliable()]
    latency_column = next((c for c in ("TTFT p90 ms", "e2e p90 s") if c in frame and frame.loc[tied, c].notna().any()), None)
    if unreliable:
        assert health is not None
        by_caveat: dict[str, list[str]] = {}
        for n in unreliable:
            by_caveat.setdefault(health.deployments[n].latency_caveat, []).append(n)
        reasons = "; ".join(f"{', '.join(names)}: {caveat}" for caveat, names in by_caveat.items())
        out.append(f"For latency: no recommendation — the latency figures are not reliable ({reasons}).")
    elif latency_column:
        fastest = frame.loc[tied, latency_column].idxmin()
        value = frame.loc[fastest, latency_column]
        shown = f"{value:,.0f} ms" if latency_column.endswith("ms") else f"{value:,.2f} s"
        out.append(f"For latency: {fastest} has the lowest {latency_column} ({shown}, real time) among those.")
    if len(tied) == len(frame) and len(frame) > 1:
        out.append("No deployment is detectably better than the others here: more prompts would be needed to separate them.")
    return out


def related_runs(run: Run | str | Path) -> list[Path]:
    """Sibling run directories with the same deployments and prompt set (the same configuration), oldest first (this one among them)."""
    run = as_run(run)
    run_dir = run.path.resolve()
    fingerprint = run.manifest.fingerprint
    if not fingerprint:
        return [run_dir]
    same = []
    for candidate in sorted(p for p in run_dir.parent.iterdir() if p.is_dir()):
        manifest = read_manifest(candidate) or {}
        other = manifest.get("fingerprint") or {}
        if other.get("deployments") == fingerprint.get("deployments") and other.get("prompt_set_sha256") == fingerprint.get("prompt_set_sha256"):
            same.append((manifest.get("started_at") or "", candidate))
    return [p for _, p in sorted(same)]


def trend_frame(run: Run | str | Path, store: str | Path | None = None) -> pd.DataFrame:
    """Score and cost per deployment for every run of the same configuration (one row per run and deployment), oldest first.

    From the run store when it holds this run (one query; runs of the configuration wherever they ran,
    ``store`` as ``load_history`` finds it), else from the run's own folder (``folder_trend_frame``).
    ``frame.attrs["source"]`` says which, in words the report prints.
    """
    run = as_run(run)
    try:
        frame = store_trend_frame(run, store)
    except StoreError:  # the store is off, unreadable, or the run records no configuration: the folder still answers
        frame = None
    if frame is not None and run.path.name in set(frame["run"]):
        frame.attrs["source"] = "the run store"
        return frame
    frame = folder_trend_frame(run)
    frame.attrs["source"] = "the runs in this run's folder (the run store does not hold this run)"
    return frame


def folder_trend_frame(run: Run | str | Path) -> pd.DataFrame:
    """``trend_frame`` from sibling run directories: each earlier run of the configuration is read once (``load_run``)."""
    run = as_run(run)
    here = run.path.resolve()
    rows = []
    for path in related_runs(run):
        other = run if path == here else load_run(path)
        summary = quality_summary(other)
        costs = per_token_per_1k(other)  # the one cost per 1,000 requests of a per-token deployment (NaN: billed by the hour)
        for name, d in summary.deployments.items():
            per_1k = costs.get(name)
            rows.append(
                {
                    "run": path.name,
                    "started": other.manifest.started_at,
                    "deployment": name,
                    "score %": round(100 * d.mean, 1),
                    "95% CI low": round(100 * d.ci_low, 1),
                    "95% CI high": round(100 * d.ci_high, 1),
                    "USD per 1k requests": float(per_1k) if per_1k is not None else np.nan,  # words() at display
                }
            )
    return pd.DataFrame(rows, columns=["run", "started", "deployment", "score %", "95% CI low", "95% CI high", "USD per 1k requests"])


def trend_figure(frame: pd.DataFrame):
    import plotly.express as px

    fig = px.line(frame, x="started", y="score %", color="deployment", markers=True, error_y=frame["95% CI high"] - frame["score %"],
                  error_y_minus=frame["score %"] - frame["95% CI low"], title="Score over runs of the same configuration: higher is better")  # fmt: skip
    fig.update_yaxes(title="score (%)")
    return fig


# ---------------------------------------------------------------- drift and a baseline (issue 26)
def drift_frame(run: Run | str | Path) -> pd.DataFrame:
    """Each metric of each deployment, run by run, against control limits drawn from the runs before it.

    ``compare.drift`` over the runs in this run's folder of its configuration (``compare.drift.configuration``:
    prompt set, parameters, deployments with their models and kinds) that started no later than it, oldest
    first: limits are the mean ± 3 standard deviations of the earlier runs, drawn once there are three;
    ``based_on`` says how many runs they rest on and ``outside`` flags a run beyond them (None: no limits yet).
    """
    from llama_eval.compare.drift import configuration, drift, drift_records, started

    run = as_run(run)
    here, key = run.path.resolve(), configuration(run)
    runs: list[Run] = []
    for candidate in sorted(p for p in run.path.parent.iterdir() if (p / "manifest.json").is_file()):
        if candidate.resolve() == here:
            runs.append(run)
            continue
        described = Run(candidate, RunManifest.from_json(read_manifest(candidate)), ())  # its manifest decides; rows only for the same configuration
        if configuration(described) == key and started(described) <= started(run):
            runs.append(load_run(candidate))
    columns = ["run", "started_at", "deployment", "metric", "value", "center", "lower", "upper", "based_on", "outside", "sentence"]
    return pd.DataFrame(drift_records(drift(runs)), columns=columns)


def drift_summary(frame: pd.DataFrame, run: Run | str | Path) -> str:
    """One sentence on this run: how many of its metrics lie outside their limits, and how many runs those rest on."""
    name = as_run(run).path.name
    own = frame[frame["run"] == name]
    judged = own[own["outside"].notna()]
    if judged.empty:
        earlier = int(own["based_on"].max()) if not own.empty else 0
        return f"No control limits yet: they need 3 earlier runs of this configuration, and there {'is' if earlier == 1 else 'are'} {earlier}."
    outside = judged[judged["outside"].astype(bool)]
    based = f"{int(judged['based_on'].min())}" if judged["based_on"].nunique() == 1 else f"{int(judged['based_on'].min())}–{int(judged['based_on'].max())}"
    if outside.empty:
        return f"All {len(judged)} metrics of this run lie within their control limits (mean ± 3 sd of {based} earlier runs)."
    listed = "; ".join(outside["sentence"])
    return f"{len(outside)} of {len(judged)} metrics of this run lie OUTSIDE their control limits (mean ± 3 sd of {based} earlier runs): {listed}."


def drift_figure(frame: pd.DataFrame):
    """Each metric over runs, one line per deployment, its control limits dashed where they exist."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    metrics = list(dict.fromkeys(frame["metric"]))
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, subplot_titles=metrics, vertical_spacing=0.08)
    for row, metric in enumerate(metrics, start=1):
        part = frame[frame["metric"] == metric]
        for deployment, own in part.groupby("deployment", sort=False):
            fig.add_trace(go.Scatter(x=own["run"], y=own["value"], mode="lines+markers", name=f"{deployment}", legendgroup=deployment,
                                     showlegend=row == 1), row=row, col=1)  # fmt: skip
            limited = own[own["upper"].notna()]
            for bound in ("lower", "upper"):
                fig.add_trace(go.Scatter(x=limited["run"], y=limited[bound], mode="lines", line={"dash": "dash", "width": 1}, legendgroup=deployment,
                                         name=f"{deployment} limit", showlegend=False, hoverinfo="skip"), row=row, col=1)  # fmt: skip
    fig.update_layout(title="Drift: each metric against control limits from the earlier runs (dashed)", height=220 * len(metrics) + 120)
    return fig


def baseline_comparison(baseline: Run | str | Path, run: Run | str | Path) -> tuple[list[str], list[tuple[str, pd.DataFrame]]]:
    """``llama-eval compare BASELINE RUN`` as the report shows it: the notes (simulated, warnings) and one table per section."""
    from llama_eval.compare.render import notes, sections
    from llama_eval.compare.runs import compare_runs

    comparison = compare_runs(baseline if isinstance(baseline, Run) else Path(baseline), run if isinstance(run, Run) else Path(run))
    return notes(comparison), [(heading, pd.DataFrame(rows, columns=headers)) for heading, headers, rows in sections(comparison)]
