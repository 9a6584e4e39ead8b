"""Figures of the production projection: the break-even chart (plotly, imported on use).

Takes a ``Projection`` (``cost.projection``) and draws it; no arithmetic of its own beyond the
points of each option's curve, which come from the ``CostOption`` methods.
"""

from __future__ import annotations

from decimal import Decimal

from .fixed import DAYS_PER_MONTH
from .projection import Projection


def break_even_figure(result: Projection, *, low: float | None = None, high: float | None = None):
    """Plotly figure, requests per day against USD per month (log-log): one line per option, crossings in hover text.

    Per-token options are straight lines; fixed options with a measured capacity are steps (one more
    instance each time the peak needs it); fixed options without one are a dotted floor, named so.

    No text on the plot (crossings would overlap); the break-even table beside it carries the numbers.
    The projected volume is a line in the legend.
    """
    import plotly.graph_objects as go  # imported on use: plotly takes a second to import

    current = float(result.profile.requests_per_day)
    crossings = [float(p.requests_per_day) for p in result.break_even if p.requests_per_day is not None]
    low = low or min([100.0, current / 10, *[c / 10 for c in crossings]])
    high = high or max([1e7, current * 10, *[c * 10 for c in crossings]])
    volumes = [low * (high / low) ** (i / 80) for i in range(81)]
    figure = go.Figure()
    monthly_values = []
    for option in result.options:
        if option.per_request_usd is not None:
            per_request = float(option.per_request_usd) * float(DAYS_PER_MONTH)
            ys = [v * per_request for v in volumes]
            figure.add_trace(go.Scatter(x=volumes, y=ys, mode="lines", name=option.label,
                                        hovertemplate="%{x:,.0f} requests/day: $%{y:,.2f} a month<extra>" + option.label + "</extra>"))  # fmt: skip
        elif option.measured and option.instance_monthly_usd is not None:
            # machines sized by the measured capacity: a step each time the peak needs one more instance
            instances = [option.instances_at(Decimal(repr(v))) for v in volumes]
            ys = [float(option.machines_monthly_usd(n)) for n in instances]  # type: ignore[arg-type]
            hover = "%{x:,.0f} requests/day: %{customdata} instances, $%{y:,.2f} a month<extra>" + option.label + "</extra>"
            figure.add_trace(go.Scatter(x=volumes, y=ys, mode="lines", name=option.label, line={"dash": "dash", "shape": "hv"}, customdata=instances,
                                        hovertemplate=hover))  # fmt: skip
        elif option.fixed_monthly_usd is not None:
            ys = [float(option.fixed_monthly_usd)] * len(volumes)
            name = f"{option.label} — capacity not measured: configured machines, a floor"
            figure.add_trace(go.Scatter(x=volumes, y=ys, mode="lines", name=name, line={"dash": "dot"},
                                        hovertemplate="at least $%{y:,.2f} a month (capacity not measured)<extra>" + option.label + "</extra>"))  # fmt: skip
        else:
            continue
        monthly_values += [y for y in ys if y > 0]
    points = [p for p in result.break_even if p.requests_per_day is not None and low <= float(p.requests_per_day) <= high]
    if points:
        figure.add_trace(
            go.Scatter(
                x=[float(p.requests_per_day) for p in points],  # type: ignore[arg-type]
                y=[float(p.monthly_usd) for p in points],  # type: ignore[arg-type]
                mode="markers",
                marker={"size": 9, "symbol": "circle-open", "color": "#333"},
                name="break-even (hover; table below)",
                hovertext=[f"{p.a} = {p.b}<br>{float(p.requests_per_day):,.0f} requests/day, ${float(p.monthly_usd):,.2f} a month" for p in points],  # type: ignore[arg-type]
                hoverinfo="text",
            )
        )
    if monthly_values:
        bottom, top = min(monthly_values), max(monthly_values)
        figure.add_trace(go.Scatter(x=[current, current], y=[bottom, top], mode="lines", line={"dash": "dot", "color": "#b00020"},
                                    name=f"your volume: {current:,.0f} requests/day", hoverinfo="name"))  # fmt: skip
    figure.update_layout(
        title="Monthly cost by daily volume: serverless (per token) vs managed and self-hosted (per hour)",
        xaxis_title="requests per day",
        yaxis_title="USD per month",
        legend={"font": {"size": 11}, "orientation": "h", "yanchor": "top", "y": -0.18, "xanchor": "left", "x": 0},
        height=640,
    )
    figure.update_xaxes(type="log")
    figure.update_yaxes(type="log")
    return figure


__all__ = ["break_even_figure"]
