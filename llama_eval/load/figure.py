"""The latency-versus-load figure of one or more sweeps: where each deployment's knee is.

One panel for time to first token and one for end-to-end time; for every swept deployment its p50
(solid) and p90 (dotted) against the *achieved* requests/s of each level, the SLO limits as
horizontal lines, and the capacity (the highest level meeting the SLO) circled. Sweeps on the
emulator say so in the legend. For a report notebook: ``show(load_figure(sweeps_in(run_dir)))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .slo import Slo, SweepResult, read_sweep, sweeps_in

PANELS = (("ttft", "time to first token (s)", "ttft_p50_s", "ttft_p90_s"), ("e2e", "end-to-end time (s)", "e2e_p50_s", "e2e_p90_s"))


def load_figure(sweeps: Sequence[SweepResult | str | Path], slo: str | Slo | None = None, *, title: str | None = None) -> Any:
    """A plotly figure: TTFT and e2e p50/p90 against achieved throughput per sweep, SLO lines, capacity circled."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    results = [s if isinstance(s, SweepResult) else read_sweep(s, slo=slo) for s in sweeps]
    judge = Slo.parse(slo) if slo is not None else next((r.slo for r in results if r.slo is not None), None)
    fig = make_subplots(rows=1, cols=2, subplot_titles=[p[1] for p in PANELS], horizontal_spacing=0.1)
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]
    for i, result in enumerate(results):
        color = palette[i % len(palette)]
        name = result.deployment + (" (emulated)" if result.simulated else "")
        levels = [lv for lv in result.levels if lv.throughput_rps is not None]
        x = [lv.throughput_rps for lv in levels]
        hover = [f"{lv.load}: {lv.requests} requests, {lv.errors} errors" for lv in levels]
        for col, (_, _, p50, p90) in enumerate(PANELS, start=1):
            for metric, dash, label in ((p50, "solid", "p50"), (p90, "dot", "p90")):
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=[getattr(lv, metric) for lv in levels],
                        mode="lines+markers",
                        name=f"{name} {label}",
                        legendgroup=name,
                        line={"color": color, "dash": dash},
                        text=hover,
                        showlegend=col == 1,
                        hovertemplate="%{text}<br>%{x:.3g} req/s: %{y:.3g} s<extra>" + f"{name} {label}</extra>",
                    ),  # fmt: skip
                    row=1,
                    col=col,
                )
        capacity = result.capacity.level
        if capacity is not None and capacity.throughput_rps is not None:
            for col, (_, _, _, p90) in enumerate(PANELS, start=1):
                fig.add_trace(
                    go.Scatter(
                        x=[capacity.throughput_rps],
                        y=[getattr(capacity, p90)],
                        mode="markers",
                        legendgroup=name,
                        showlegend=col == 1,
                        name=f"{name} capacity ({capacity.load}, {capacity.throughput_rps:.3g} req/s)",
                        marker={"size": 16, "symbol": "circle-open", "color": color, "line": {"width": 3}},
                    ),  # fmt: skip
                    row=1,
                    col=col,
                )
    if judge is not None:
        for col, (prefix, _, _, _) in enumerate(PANELS, start=1):
            for objective in judge.objectives:
                if objective.metric.startswith(prefix):
                    fig.add_hline(y=objective.limit, line_dash="dash", line_color="#444", row=1, col=col,
                                  annotation_text=f"SLO {objective}", annotation_position="top left")  # fmt: skip
    fig.update_xaxes(title_text="achieved requests/s", rangemode="tozero")
    fig.update_yaxes(title_text="seconds", rangemode="tozero")
    emulated = any(r.simulated for r in results)
    heading = title or "Latency against load" + (" — emulated service (simulated timings)" if emulated else "")
    fig.update_layout(title=heading, template="plotly_white", height=460, legend={"orientation": "h", "y": -0.2})
    return fig


__all__ = ["load_figure", "sweeps_in"]
