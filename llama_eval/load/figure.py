"""The latency-versus-load figure of one or more sweeps: where each deployment's knee is.

One panel for time to first token and one for end-to-end time; for every swept deployment its p50
(solid) and p90 (dotted) against the *achieved* requests/s of each level, the SLO limits as
horizontal lines, and the capacity (the highest level meeting the SLO) circled. Under a per-request
SLO (``ttft<=0.5@95%``) a third panel shows each level's attainment with its Wilson 95% interval,
the attainment target as a line, and each level's goodput on hover. Sweeps on the emulator say so
in the legend. For a report notebook: ``show(load_figure(sweeps_in(run_dir)))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .objectives import Slo
from .slo import SweepResult, read_sweep, sweeps_in

PANELS = (("ttft", "time to first token (s)", "ttft_p50_s", "ttft_p90_s"), ("e2e", "end-to-end time (s)", "e2e_p50_s", "e2e_p90_s"))


def load_figure(sweeps: Sequence[SweepResult | str | Path], slo: str | Slo | None = None, *, title: str | None = None) -> Any:
    """A plotly figure: TTFT and e2e p50/p90 against achieved throughput per sweep, SLO lines, capacity circled; under a
    per-request SLO, a third panel of attainment (Wilson 95% interval as error bars) with the target line."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    results = [s if isinstance(s, SweepResult) else read_sweep(s, slo=slo) for s in sweeps]
    judge = Slo.parse(slo) if slo is not None else next((r.slo for r in results if r.slo is not None), None)
    attainment = judge is not None and judge.by_attainment
    titles = [p[1] for p in PANELS] + (["attainment (share of requests meeting every limit)"] if attainment else [])
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.08)
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
        if attainment:
            judged = [lv for lv in levels if lv.attainment is not None]
            fig.add_trace(
                go.Scatter(
                    x=[lv.throughput_rps for lv in judged],
                    y=[lv.attainment for lv in judged],
                    mode="markers",
                    name=f"{name} attainment",
                    legendgroup=name,
                    showlegend=False,
                    marker={"color": color, "size": 9},
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [lv.attainment_high - lv.attainment for lv in judged],
                        "arrayminus": [lv.attainment - lv.attainment_low for lv in judged],
                    },
                    text=[
                        f"{lv.load}: {lv.good_requests}/{lv.requests} good, goodput {lv.goodput_rps:.3g} req/s"
                        if lv.goodput_rps is not None
                        else f"{lv.load}: {lv.good_requests}/{lv.requests} good"
                        for lv in judged
                    ],
                    hovertemplate="%{text}<br>%{x:.3g} req/s: %{y:.1%}<extra>" + f"{name}</extra>",
                ),  # fmt: skip
                row=1,
                col=3,
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
        if attainment:
            assert judge.target is not None
            fig.add_hline(y=judge.target, line_dash="dash", line_color="#444", row=1, col=3,
                          annotation_text=f"target {judge.target * 100:g}% ({', '.join(str(o) for o in judge.per_request)})",
                          annotation_position="bottom left")  # fmt: skip
            fig.update_yaxes(title_text="share of requests", range=[0, 1.05], tickformat=".0%", row=1, col=3)
    fig.update_xaxes(title_text="achieved requests/s", rangemode="tozero")
    for col in range(1, len(PANELS) + 1):
        fig.update_yaxes(title_text="seconds", rangemode="tozero", row=1, col=col)
    emulated = any(r.simulated for r in results)
    heading = title or "Latency against load" + (" — emulated service (simulated timings)" if emulated else "")
    fig.update_layout(title=heading, template="plotly_white", height=460, legend={"orientation": "h", "y": -0.2})
    return fig


__all__ = ["load_figure", "sweeps_in"]
