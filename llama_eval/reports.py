"""The tables and figures of the report notebooks, computed from a run directory.

Notebooks call these and display the results; the logic lives here so it is tested like the rest.
Figures are shown with ``show``: JupyterLab renders plotly's own mimetype, and the exported HTML
report uses a ``text/html`` copy *without* plotly.js, which the report page embeds once.
Model output is untrusted: every table goes through pandas' escaping HTML, never raw.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .results import final_rows, read_manifest, read_rows

SIMULATED_BANNER = "SIMULATED — local emulator, not real model output"


# --------------------------------------------------------------------------- display


def figure_html(fig: Any) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True})


def show(fig: Any) -> None:
    """Display a plotly figure in a notebook: interactive in JupyterLab, plain HTML in the exported report."""
    from IPython.display import display

    display({"application/vnd.plotly.v1+json": fig.to_plotly_json(), "text/html": figure_html(fig)}, raw=True)


def show_text_table(frame: pd.DataFrame) -> None:
    """Display a table of long texts uncut (pandas escapes the HTML)."""
    from IPython.display import display

    with pd.option_context("display.max_colwidth", None):
        display(frame)


# --------------------------------------------------------------------------- run facts


def is_simulated(run_dir: str | Path) -> bool:
    return any(r.get("simulated") for r in read_rows(run_dir))


# --------------------------------------------------------------------------- quality


def quality_summary(run_dir: str | Path, *, judge: Any = None) -> dict[str, Any]:
    """The scoring summary of a run (scores it if scores_summary.json is missing or older than the results)."""
    from .scoring.run import score_run

    run_dir = Path(run_dir)
    summary_path, results = run_dir / "scores_summary.json", run_dir / "results.jsonl"
    if judge is None and summary_path.exists() and summary_path.stat().st_mtime >= results.stat().st_mtime:
        return json.loads(summary_path.read_text())
    return score_run(run_dir, judge=judge)


def quality_frame(summary: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "deployment": name,
            "prompts": d["prompts"],
            "score %": round(100 * d["mean"], 1),
            "95% CI low": round(100 * d["ci_low"], 1),
            "95% CI high": round(100 * d["ci_high"], 1),
            "failed rows": d["failed_rows"],
            "unscorable": d["unscorable_rows"],
            "repeats agree": None if d["consistency"] is None else round(100 * d["consistency"]),
        }
        for name, d in summary["deployments"].items()
    ]
    return pd.DataFrame(rows).sort_values("score %", ascending=False).set_index("deployment") if rows else pd.DataFrame()


def tag_frame(summary: dict[str, Any]) -> pd.DataFrame:
    rows = [{"deployment": t["deployment"], "tag": t["tag"], "score %": round(100 * t["mean"], 1), "prompts": t["prompts"]} for t in summary["tags"].values()]
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).pivot_table(index="tag", columns="deployment", values="score %")


def quality_figure(summary: dict[str, Any]):
    import plotly.graph_objects as go

    frame = quality_frame(summary)
    fig = go.Figure(
        go.Bar(
            x=list(frame.index),
            y=frame["score %"],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": frame["95% CI high"] - frame["score %"],
                "arrayminus": frame["score %"] - frame["95% CI low"],
            },
            text=[f"{v:.1f}" for v in frame["score %"]],
        )
    )
    fig.update_layout(title="Score per deployment (95% bootstrap CI over prompts)", yaxis_title="score %", yaxis_range=[0, 105])
    return fig


# --------------------------------------------------------------------------- latency


def _ok_rows(run_dir: str | Path) -> pd.DataFrame:
    rows = [r for r in final_rows(read_rows(run_dir)).values() if r["status"] in ("ok", "length")]
    return pd.DataFrame(rows)


def latency_frame(run_dir: str | Path) -> pd.DataFrame:
    """p50/p90/p99 of time to first token, end-to-end time, and median inter-token gap and speed."""
    frame = _ok_rows(run_dir)
    if frame.empty:
        return frame
    out = []
    for name, g in frame.groupby("deployment"):
        row: dict[str, Any] = {"deployment": name, "requests": len(g)}
        if "ttft_s" in g and g["ttft_s"].notna().any():
            ttft = g["ttft_s"].dropna() * 1000
            row.update({"TTFT p50 ms": ttft.quantile(0.5), "TTFT p90 ms": ttft.quantile(0.9), "TTFT p99 ms": ttft.quantile(0.99)})
        if "itl_p50_s" in g and g["itl_p50_s"].notna().any():
            row["ITL p50 ms"] = (g["itl_p50_s"].dropna() * 1000).median()
        e2e = g["e2e_s"].dropna()
        row.update({"e2e p50 s": e2e.quantile(0.5), "e2e p90 s": e2e.quantile(0.9), "e2e p99 s": e2e.quantile(0.99)})
        if "output_tps" in g and g["output_tps"].notna().any():
            row["output tok/s p50"] = g["output_tps"].dropna().median()
        out.append(row)
    return pd.DataFrame(out).set_index("deployment").round(2)


def latency_figures(run_dir: str | Path) -> list[Any]:
    """ECDF of time to first token and box plot of end-to-end time, per deployment."""
    import plotly.express as px

    frame = _ok_rows(run_dir)
    figures = []
    if not frame.empty and "ttft_s" in frame and frame["ttft_s"].notna().any():
        ttft = frame.dropna(subset=["ttft_s"]).assign(ttft_ms=lambda f: f["ttft_s"] * 1000)
        fig = px.ecdf(ttft, x="ttft_ms", color="deployment", title="Time to first token (ECDF)")
        fig.update_xaxes(title="ms")
        figures.append(fig)
    if not frame.empty:
        fig = px.box(frame, x="deployment", y="e2e_s", points="outliers", title="End-to-end time per request")
        fig.update_yaxes(title="seconds")
        figures.append(fig)
    return figures


# --------------------------------------------------------------------------- cost


def cost_frame(run_dir: str | Path) -> pd.DataFrame:
    from .cost import run_costs

    costs = run_costs(run_dir)
    rows = []
    for name, d in costs["deployments"].items():
        rows.append(
            {
                "deployment": name,
                "model": d["model"],
                "requests": d["requests"],
                "prompt tokens": d["prompt_tokens"],
                "completion tokens": d["completion_tokens"],
                "cost USD": float(d["cost_usd"]) if not d["unpriced_rows"] else np.nan,
                "USD per 1k requests": float(d["usd_per_1k_requests"]) if d["usd_per_1k_requests"] is not None and not d["unpriced_rows"] else np.nan,
                "price": "no price (managed: VM-hours)" if d["unpriced_rows"] else "token price",
            }
        )
    return pd.DataFrame(rows).set_index("deployment") if rows else pd.DataFrame()


# --------------------------------------------------------------------------- summary


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Names not dominated: no other point is at least as cheap and at least as good, and better in one."""
    front = []
    for name, (cost, quality) in points.items():
        dominated = any((c <= cost and q >= quality) and (c < cost or q > quality) for other, (c, q) in points.items() if other != name)
        if not dominated:
            front.append(name)
    return sorted(front, key=lambda n: points[n][0])


def summary_frame(quality: pd.DataFrame, cost: pd.DataFrame, latency: pd.DataFrame) -> pd.DataFrame:
    frame = quality[["score %", "95% CI low", "95% CI high"]].join(cost[["USD per 1k requests"]], how="left")
    if not latency.empty:
        column = "TTFT p90 ms" if "TTFT p90 ms" in latency else "e2e p90 s"
        frame = frame.join(latency[[column]], how="left")
    return frame


def summary_figures(frame: pd.DataFrame) -> list[Any]:
    import plotly.graph_objects as go

    figures = []
    priced = frame.dropna(subset=["USD per 1k requests"])
    if not priced.empty:
        points = {n: (r["USD per 1k requests"], r["score %"]) for n, r in priced.iterrows()}
        front = pareto_front(points)
        fig = go.Figure(
            go.Scatter(
                x=priced["USD per 1k requests"],
                y=priced["score %"],
                mode="markers+text",
                text=list(priced.index),
                textposition="top center",
                name="deployments",
            )
        )
        fig.add_trace(go.Scatter(x=[points[n][0] for n in front], y=[points[n][1] for n in front], mode="lines", name="Pareto frontier", line={"dash": "dot"}))
        fig.update_layout(title="Quality vs cost per 1,000 requests", xaxis_title="USD per 1,000 requests", yaxis_title="score %")
        figures.append(fig)
    latency_column = next((c for c in ("TTFT p90 ms", "e2e p90 s") if c in frame), None)
    if latency_column:
        fig = go.Figure(go.Scatter(x=frame[latency_column], y=frame["score %"], mode="markers+text", text=list(frame.index), textposition="top center"))
        fig.update_layout(title=f"Quality vs {latency_column}", xaxis_title=latency_column, yaxis_title="score %")
        figures.append(fig)
    return figures


def recommendations(frame: pd.DataFrame, comparisons: list[dict[str, Any]]) -> list[str]:
    """Sentences generated from the data: best quality, the cheapest that is not detectably worse, the fastest."""
    if frame.empty:
        return ["No scored deployments in this run."]
    out = []
    best = frame["score %"].idxmax()
    out.append(f"Highest quality: {best} ({frame.loc[best, 'score %']:.1f}% [{frame.loc[best, '95% CI low']:.1f}, {frame.loc[best, '95% CI high']:.1f}]).")
    worse_than_best = {c["b"] if c["a"] == best else c["a"] for c in comparisons if best in (c["a"], c["b"]) and c.get("significant", False)}
    tied = [n for n in frame.index if n == best or n not in worse_than_best]
    priced = frame.loc[tied].dropna(subset=["USD per 1k requests"])
    if not priced.empty:
        cheapest = priced["USD per 1k requests"].idxmin()
        if cheapest != best:
            out.append(
                f"For cost: {cheapest} is not detectably worse than {best} on these prompts "
                f"and costs ${priced.loc[cheapest, 'USD per 1k requests']:.4f} per 1,000 requests."
            )
        else:
            out.append(f"For cost: {best} is also the cheapest of the deployments it is not detectably better than.")
    latency_column = next((c for c in ("TTFT p90 ms", "e2e p90 s") if c in frame and frame[c].notna().any()), None)
    if latency_column:
        fastest = frame.loc[tied, latency_column].idxmin()
        out.append(f"For latency: {fastest} has the lowest {latency_column} ({frame.loc[fastest, latency_column]:.0f}) among those.")
    if len(tied) == len(frame) and len(frame) > 1:
        out.append("No deployment is detectably better than the others here: more prompts would be needed to separate them.")
    return out


def sample_answers(run_dir: str | Path, per_deployment: int = 2) -> pd.DataFrame:
    """A few answers per deployment, for reading (escaped when shown as HTML)."""
    frame = _ok_rows(run_dir)
    if frame.empty:
        return frame
    picked = frame.sort_values(["deployment", "prompt_id"]).groupby("deployment").head(per_deployment)
    return picked[["deployment", "prompt_id", "response_text"]].set_index(["deployment", "prompt_id"])


# --------------------------------------------------------------------------- trend across runs


def related_runs(run_dir: str | Path) -> list[Path]:
    """Sibling run directories with the same deployments and prompt set (the same configuration), oldest first."""
    run_dir = Path(run_dir).resolve()
    fingerprint = (read_manifest(run_dir) or {}).get("fingerprint")
    if not fingerprint:
        return [run_dir]
    same = []
    for candidate in sorted(p for p in run_dir.parent.iterdir() if p.is_dir()):
        manifest = read_manifest(candidate) or {}
        other = manifest.get("fingerprint") or {}
        if other.get("deployments") == fingerprint.get("deployments") and other.get("prompt_set_sha256") == fingerprint.get("prompt_set_sha256"):
            same.append((manifest.get("started_at") or "", candidate))
    return [p for _, p in sorted(same)]


def trend_frame(run_dir: str | Path) -> pd.DataFrame:
    """Score and cost per deployment for every run of the same configuration (one row per run and deployment)."""
    from .cost import run_costs

    rows = []
    for run in related_runs(run_dir):
        manifest = read_manifest(run) or {}
        summary = quality_summary(run)
        costs = run_costs(run)["deployments"]
        for name, d in summary["deployments"].items():
            per_1k = costs.get(name, {}).get("usd_per_1k_requests")
            rows.append(
                {
                    "run": run.name,
                    "started": manifest.get("started_at"),
                    "deployment": name,
                    "score %": round(100 * d["mean"], 1),
                    "95% CI low": round(100 * d["ci_low"], 1),
                    "95% CI high": round(100 * d["ci_high"], 1),
                    "USD per 1k requests": float(per_1k) if per_1k is not None and not costs[name]["unpriced_rows"] else np.nan,
                }
            )
    return pd.DataFrame(rows)


def trend_figure(frame: pd.DataFrame):
    import plotly.express as px

    fig = px.line(frame, x="started", y="score %", color="deployment", markers=True, error_y=frame["95% CI high"] - frame["score %"],
                  error_y_minus=frame["score %"] - frame["95% CI low"], title="Score over runs of the same configuration")  # fmt: skip
    return fig
