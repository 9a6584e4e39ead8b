"""The latency section (notebook 30_latency): TTFT, inter-token and end-to-end percentiles, and latency under load.

Every function takes the ``Run`` the notebook loaded once (a run directory is read) and, where it
has one, the run's ``RunHealth`` (computed from the run when not given).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llama_eval.load.figure import load_figure
from llama_eval.load.slo import read_sweep, stored_sweeps
from llama_eval.load.workload import workloads_sentence
from llama_eval.rundir.health import INTENDED_MEDIAN_TOLERANCE, INTENDED_P90_TOLERANCE, DeploymentHealth, IntendedCheck, RunHealth, assess_run
from llama_eval.rundir.run import Run, as_run

from . import aggregates
from .view import answered_frame, words


def latency_rows(run: Run | str | Path, health: RunHealth | None = None) -> pd.DataFrame:
    """Answered rows in the service's real time: measured / time scale; warm-up rows, failed deployments and unscaled emulators left out."""
    run = as_run(run)
    health = health or assess_run(run)
    frame = answered_frame(run)
    if frame.empty:
        return frame
    frame = frame[~frame["warmup"]]
    usable = {n: d.time_scale for n, d in health.deployments.items() if not d.excluded and d.time_scale > 0}
    frame = frame[frame["deployment"].isin(usable)].copy()
    scale = frame["deployment"].map(usable).astype(float)
    for column in ("ttft_s", "e2e_s", "itl_p50_s"):
        frame[column] = frame[column] / scale
    frame["output_tps"] = frame["output_tps"] * scale
    return frame


def latency_frame(run: Run | str | Path, health: RunHealth | None = None, *, rows_file: str | Path | None = None) -> pd.DataFrame:
    """p50/p90/p99 of time to first token, end-to-end time, and median inter-token gap and speed (real time; numbers, NaN where not measured).

    Computed by DuckDB (``aggregates.latency_stats``) from ``rows_file`` (the report's Parquet copy of the run) when given,
    else from the run's rows; linear interpolation between ranks, as pandas' ``quantile`` on ``latency_rows`` gives.
    Answers cut short (status ``incomplete``) are not in the percentiles: an empty stream ended early
    would read as a fast success. When a run has any, ``incomplete (left out)`` counts them per deployment.
    """
    run = as_run(run)
    health = health or assess_run(run)
    stats = aggregates.latency_stats(aggregates.row_source(run, health, rows_file))
    if stats.empty:
        return pd.DataFrame()
    optional = ["TTFT p50 ms", "TTFT p90 ms", "TTFT p99 ms", "ITL p50 ms", "output tok/s p50"]  # shown when some deployment measured them
    stats = stats.drop(columns=[c for c in optional if stats[c].isna().all()])
    if "ITL p50 ms" in stats:  # 0: the chunks arrived together (a sped-up emulator), no gap was measured
        stats["ITL p50 ms"] = stats["ITL p50 ms"].where(stats["ITL p50 ms"] > 0, np.nan)
    order = ["requests", "TTFT p50 ms", "TTFT p90 ms", "TTFT p99 ms", "ITL p50 ms", "e2e p50 s", "e2e p90 s", "e2e p99 s", "output tok/s p50"]
    result = stats[[c for c in order if c in stats]].round(2)
    cut = {n: d.incomplete_rows for n, d in health.deployments.items()}
    if any(cut.get(n) for n in result.index):
        result["incomplete (left out)"] = [cut.get(n, 0) for n in result.index]
    return result


def latency_table(run: Run | str | Path, health: RunHealth | None = None, *, rows_file: str | Path | None = None) -> pd.DataFrame:
    """latency_frame for display: the time basis of each row stated, gaps in words."""
    run = as_run(run)
    health = health or assess_run(run)
    frame = latency_frame(run, health, rows_file=rows_file)
    if frame.empty:
        return frame
    frame = frame.copy()
    frame["time basis"] = [_time_basis(health.deployments[n]) if n in health.deployments else "as measured" for n in frame.index]
    checks = {n: d.intended for n, d in health.deployments.items() if d.intended is not None}
    if checks:
        frame["vs emulator's intended"] = [_intended_cell(checks.get(n)) for n in frame.index]
    caveats = {n: d.latency_caveat for n, d in health.deployments.items()}
    frame["reliable"] = [f"no: {caveats[n]}" if caveats.get(n) else "yes" for n in frame.index]
    return words(frame)


def _intended_cell(check: IntendedCheck | None) -> str:
    """One cell: the intended-timing check passed, or the statistics that are off (details in the notes)."""
    if check is None:
        return "not checked"
    if check.ok:
        return f"within {INTENDED_MEDIAN_TOLERANCE:.0%} (p50) / {INTENDED_P90_TOLERANCE:.0%} (p90)"
    return "off: " + ", ".join(f"{c.metric} {c.statistic} {c.off:+.0%}" for c in check.failed)


def _time_basis(health: DeploymentHealth) -> str:
    scale = health.time_scale
    if health.unknown_time_base:
        return "emulator, time scale not recorded"
    if scale == 1:
        return "as measured"
    return f"emulated at {_speed(scale)} speed; rescaled"


def _speed(scale: float) -> str:
    """The emulator's speed against the service's, from its time scale (delays multiplied by it): 0.02 -> '50x'; 2 -> '1/2'."""
    if scale < 1:
        return f"{1 / scale:,.4g}x"
    return f"1/{scale:g}"


def latency_notes(health: RunHealth) -> list[str]:
    """What the latency figures are: answers cut short and warm-up left out, rescaled from an emulator, not reliable when the client was saturated."""
    notes = [f"**Answers cut short, left out of these figures** — {text}" for text in health.cut_short()]
    for scale in sorted({d.time_scale for d in health.deployments.values() if not d.excluded and d.time_scale not in (0, 1)}):
        names = ", ".join(n for n, d in health.deployments.items() if d.time_scale == scale and not d.excluded)
        notes.append(
            f"**Emulated at {_speed(scale)} speed; times rescaled** ({names}): the emulator ran with time scale {scale:g}, "
            f"so every time is shown as measured ÷ {scale:g} (and tokens/s × {scale:g}), the emulated service's own time. "
            f"Delays that are not the emulated service's (client, network, a pause of this machine) are rescaled with it: "
            f"0.1 s of them reads as {0.1 / scale:,.4g} s, so each emulated deployment's figures are checked against the timing "
            f"the emulator intended (next note)."
        )
    checked = {n: d.intended for n, d in health.deployments.items() if d.intended is not None and not d.excluded}
    if checked:
        off = {n: c for n, c in checked.items() if not c.ok}
        passed = [n for n in checked if n not in off]
        text = (
            f"**Checked against the emulator's intended timing**: with each answer the emulator sent the time to first token, "
            f"token gap and end-to-end time it simulated; the measured times, rescaled, must be within "
            f"{INTENDED_MEDIAN_TOLERANCE:.0%} of them at the median and {INTENDED_P90_TOLERANCE:.0%} at p90."
        )
        if passed:
            text += f" Within: {', '.join(passed)}."
        notes.append(text)
        for name, check in off.items():
            notes.append(
                f"**{name}: latency not trustworthy on this machine** — {check.sentence()} (over {check.requests} answers). "
                "Delays that were not the emulated service's (this machine, the client, the emulator) are in these times; "
                "no latency recommendation is made from them. Run again on a quieter machine or at a slower time scale."
            )
    unknown = [n for n, d in health.deployments.items() if d.unknown_time_base and not d.excluded]
    if unknown:
        notes.append(
            f"**Emulator time scale not recorded** ({', '.join(unknown)}): these times are as measured against the emulator, "
            "which may have run faster than the service it emulates (this run was made before the runner recorded the scale). "
            "They are not the service's latency; no latency recommendation is made from them."
        )
    unscaled = [n for n, d in health.deployments.items() if d.time_scale == 0 and not d.excluded]
    if unscaled:
        notes.append(f"**Latency not measured** for {', '.join(unscaled)}: the emulator ran with no delays (time scale 0).")
    warm = {n: d.warmup_rows for n, d in health.deployments.items() if d.warmup_rows and not d.excluded}
    if warm:
        listed = ", ".join(f"{n} {k}" for n, k in warm.items())
        notes.append(f"Warm-up requests left out of the latency statistics (first per connection or `--warmup`): {listed}.")
    paused = [n for n, d in health.deployments.items() if d.paused and not d.saturated and not d.excluded]
    if paused:
        notes.append(
            f"**These latency figures are not reliable** ({', '.join(paused)}): {health.deployments[paused[0]].paused}; "
            "the times of the requests in flight include it. No latency recommendation is made from them; run again on a quieter machine."
        )
    saturated = [n for n, d in health.deployments.items() if d.saturated and not d.excluded]
    if saturated:
        lags = ", ".join(f"{n} (event-loop lag {health.deployments[n].loop_lag_ms or 0:.0f} ms)" for n in saturated)
        notes.append(
            f"**These latency figures are not reliable**: the measuring client was saturated for {lags}, so the times include "
            "the client's own queueing. No latency recommendation is made from them; run again with a lower `--concurrency`."
        )
    return notes


def latency_figures(run: Run | str | Path, health: RunHealth | None = None, *, ttft_slo_s: float | None = None,
                    rows_file: str | Path | None = None) -> list[Any]:  # fmt: skip
    """ECDF of time to first token (the SLO's limit drawn when given) and box plot of end-to-end time, per deployment (real time).

    Drawn from aggregates (``aggregates``), not from every answer, so a figure's size does not grow with the run: the ECDF
    from ``ECDF_POINTS`` quantiles per deployment (every answer when fewer), the box from its quartiles and Tukey's
    fences, the answers beyond the fences counted in the hover text rather than drawn one by one."""
    import plotly.graph_objects as go

    run = as_run(run)
    source = aggregates.row_source(run, health, rows_file)
    figures = []
    curves = aggregates.ecdf_points(source)
    if curves:
        fig = go.Figure()
        for name, (x, y) in curves.items():
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line_shape="hv", name=name,
                                     hovertemplate=f"{name}<br>%{{y:.1%}} of requests at or below %{{x:,.0f}} ms<extra></extra>"))  # fmt: skip
        fig.update_layout(title="Time to first token: lower is better (a curve further left is faster)")
        fig.update_xaxes(title="time to first token (ms)")
        fig.update_yaxes(title="share of requests at or below", tickformat=".0%", range=[0, 1.02])
        if ttft_slo_s is not None:
            fig.add_vline(x=ttft_slo_s * 1000, line_dash="dash", line_color="#444", annotation_text=f"SLO: p90 ≤ {ttft_slo_s * 1000:,.0f} ms",
                          annotation_position="top left")  # fmt: skip
            fig.add_hline(y=0.9, line_dash="dot", line_color="#999")
        figures.append(fig)
    boxes = aggregates.box_stats(source)
    if boxes:
        fig = go.Figure()
        for b in boxes:
            beyond = f"{b.beyond:,} beyond the whiskers (largest {b.largest:,.2f} s)" if b.beyond else "none beyond the whiskers"
            fig.add_trace(go.Box(x=[b.deployment], q1=[b.q1], median=[b.median], q3=[b.q3], lowerfence=[b.lowerfence], upperfence=[b.upperfence],
                                 name=b.deployment, boxpoints=False, hovertext=[beyond], hoverinfo="y+text"))  # fmt: skip
        fig.update_layout(title="End-to-end time per request: lower is better", showlegend=False)
        fig.update_yaxes(title="end-to-end time (s)")
        fig.update_xaxes(title="")
        figures.append(fig)
    return figures


def sweep_dirs(run: Run | str | Path) -> list[Path]:
    """The load sweeps stored with a run (``RUN_DIR/sweeps/*``, as ``llama-eval demo`` writes them); none: [].

    Takes a ``Run`` or its directory without reading the run: only the directory is looked at.
    """
    return stored_sweeps(run.path if isinstance(run, Run) else run)


def sweep_figure(run: Run | str | Path) -> Any:
    """Latency against achieved throughput per swept deployment (SLO lines, capacity circled), or None."""
    dirs = sweep_dirs(run)
    return load_figure(dirs) if dirs else None


def sweep_workload_line(run: Run | str | Path) -> str | None:
    """``Capacities measured with ...``: the prompt set and arrivals of the stored sweeps (a capacity holds for its workload); None: no sweep."""
    sweeps = [read_sweep(d) for d in sweep_dirs(run)]
    return workloads_sentence({s.deployment: s.workload for s in sweeps}) if sweeps else None
