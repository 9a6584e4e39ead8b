"""The tables and figures of the report notebooks, computed from a run directory.

Notebooks call these and display the results; the logic lives here so it is tested like the rest.
Figures are shown with ``show``: JupyterLab renders plotly's own mimetype, and the exported HTML
report uses a ``text/html`` copy *without* plotly.js, which the report page embeds once.
Model output is untrusted: every table goes through pandas' escaping HTML, never raw.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .health import DeploymentHealth, RunHealth, assess_run, run_rows
from .records import ANSWERED
from .results import read_manifest

SIMULATED_BANNER = "SIMULATED — local emulator, not real model output"


# --------------------------------------------------------------------------- display


def figure_html(fig: Any) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True})


def show(fig: Any) -> None:
    """Display a plotly figure in a notebook: interactive in JupyterLab, plain HTML in the exported report (None: nothing)."""
    from IPython.display import display

    if fig is None:
        return
    display({"application/vnd.plotly.v1+json": fig.to_plotly_json(), "text/html": figure_html(fig)}, raw=True)


def show_text_table(frame: pd.DataFrame) -> None:
    """Display a table of long texts uncut (pandas escapes the HTML); an empty table shows nothing."""
    from IPython.display import display

    if frame.empty:
        return
    with pd.option_context("display.max_colwidth", None):
        display(frame)


# --------------------------------------------------------------------------- run facts


def is_simulated(run_dir: str | Path) -> bool:
    return any(r.get("simulated") for r in run_rows(run_dir))


# --------------------------------------------------------------------------- words instead of gaps


NOT_MEASURED = "not measured"


def words(frame: pd.DataFrame, missing: str = NOT_MEASURED) -> pd.DataFrame:
    """The frame for display: every gap (NaN, None) says ``missing`` in words."""
    if frame.empty:
        return frame
    return frame.astype(object).where(frame.notna(), missing)


def _money(value: Any, places: int = 4) -> str:
    return f"${float(value):,.{places}f}"


# --------------------------------------------------------------------------- run health


def run_health(run_dir: str | Path) -> RunHealth:
    return assess_run(run_dir)


def health_notes(health: RunHealth) -> list[str]:
    """Markdown lines for the top of a section: failed deployments (what failed, what to check), answers cut short, an incomplete run."""
    lines = [f"**Not judged** — {d.sentence()}" for d in health.excluded]
    lines += [f"**Answers cut short** — {text}" for text in health.cut_short()]
    banner = health.run_banner()
    if banner:
        lines.append(f"**{banner}**")
    return lines


# --------------------------------------------------------------------------- quality


def quality_summary(run_dir: str | Path, *, judge: Any = None) -> dict[str, Any]:
    """The scoring summary of a run (scores it if scores_summary.json is missing, older than the results, or from before exclusions)."""
    from .scoring.run import score_run

    run_dir = Path(run_dir)
    summary_path, results = run_dir / "scores_summary.json", run_dir / "results.jsonl"
    if judge is None and summary_path.exists() and summary_path.stat().st_mtime >= results.stat().st_mtime:
        cached = json.loads(summary_path.read_text())
        if "excluded" in cached and all("incomplete_rows" in d for d in cached.get("deployments", {}).values()):  # else scored by an older llama-eval
            return cached
    return score_run(run_dir, judge=judge)


def _agreement(consistency: float | None) -> str:
    return "one repeat per prompt" if consistency is None else f"{100 * consistency:.0f}%"


def quality_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """Scores of the judged deployments (numbers), best first."""
    rows = [
        {
            "deployment": name,
            "prompts": d["prompts"],
            "score %": round(100 * d["mean"], 1),
            "95% CI low": round(100 * d["ci_low"], 1),
            "95% CI high": round(100 * d["ci_high"], 1),
            "failed rows": d["failed_rows"],
            "incomplete": d.get("incomplete_rows", 0),  # of the failed rows: answers cut short, not wrong answers
            "unscorable": d["unscorable_rows"],
            "repeats agree": _agreement(d["consistency"]),
        }
        for name, d in summary["deployments"].items()
    ]
    return pd.DataFrame(rows).sort_values("score %", ascending=False).set_index("deployment") if rows else pd.DataFrame()


def quality_table(summary: dict[str, Any], health: RunHealth | None = None) -> pd.DataFrame:
    """quality_frame for display, with the deployments left out (stopped, mostly errors) as rows that say so, and incomplete rows marked."""
    frame = quality_frame(summary)
    if health is not None and not frame.empty:
        frame["rows"] = [_rows_state(health, n) for n in frame.index]
    excluded = [{"deployment": n, "score %": f"not scored: {e['state']}"} for n, e in (summary.get("excluded") or {}).items()]
    if excluded:
        frame = pd.concat([frame.astype(object), pd.DataFrame(excluded).set_index("deployment")])
    return words(frame, "—")


def comparison_lines(summary: dict[str, Any]) -> str:
    """The paired verdicts as a Markdown list, with the sample-size hint and what was left out."""
    lines = [f"- {c['verdict']}" for c in summary["comparisons"]] or ["- Fewer than two judged deployments: nothing to compare."]
    hint = summary.get("sample_size_hint")
    if hint:
        lines.append(f"\nTo detect a {hint['difference_points']}-point difference: about {hint['prompts_needed']} prompts ({hint['based_on']}).")
    excluded = summary.get("excluded") or {}
    if excluded:
        listed = ", ".join(f"{n} ({e['state']})" for n, e in excluded.items())
        lines.append(f"\nLeft out of the comparisons (no answers to judge): {listed}.")
    return "\n".join(lines)


def method_lines(summary: dict[str, Any]) -> str:
    """Which statistical test stands behind the verdicts, and how ROUGE was computed, as Markdown."""
    stats_method = summary.get("statistics")
    lines = []
    if stats_method:
        lines += [
            f"- 0/1 scores: {stats_method['binary_scores']}.",
            f"- Other scores: {stats_method['other_scores']}.",
            f"- Several comparisons: {stats_method['adjustment']}; {stats_method['verdict_basis']}.",
            f"- Fewer than {stats_method['min_prompts_for_verdict']} shared prompts: no verdict (\"too few prompts to compare\").",
        ]
    rouge = summary.get("rouge")
    if rouge:
        stem = {True: "Porter stemmer on", False: "no stemmer"}.get(rouge["use_stemmer"], "stemmer setting mixed")
        lines.append(f"- ROUGE: {rouge['measure']} from {rouge['package']} (Google's reference implementation), {stem}.")
    return "\n".join(lines) or "- No statistics recorded for this run (scored by an older version)."


def numeric_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """Strict and flexible accuracy on numeric-scored prompts, per deployment (empty when none)."""
    rows = [
        {
            "deployment": name,
            "rows": acc["rows"],
            "strict %": round(100 * acc["strict"], 1),
            "flexible %": round(100 * acc["flexible"], 1),
            "answers with a marker %": round(100 * acc["marked"], 1),
        }
        for name, acc in (summary.get("numeric") or {}).items()
    ]
    return pd.DataFrame(rows).set_index("deployment") if rows else pd.DataFrame()


def _rows_state(health: RunHealth, name: str) -> str:
    d = health.deployments.get(name)
    if d is None or d.complete:
        return "complete"
    return f"{d.state}: {d.rows} of {d.expected}"


def tag_frame(summary: dict[str, Any]) -> pd.DataFrame:
    rows = [{"deployment": t["deployment"], "tag": t["tag"], "score %": round(100 * t["mean"], 1), "prompts": t["prompts"]} for t in summary["tags"].values()]
    if not rows:
        return pd.DataFrame()
    return words(pd.DataFrame(rows).pivot_table(index="tag", columns="deployment", values="score %"), "no prompts")


def quality_figure(summary: dict[str, Any]):
    import plotly.graph_objects as go

    frame = quality_frame(summary)
    if frame.empty:
        return None
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
    rows = [r for r in run_rows(run_dir) if r["status"] in ANSWERED]
    return pd.DataFrame(rows)


def latency_rows(run_dir: str | Path, health: RunHealth | None = None) -> pd.DataFrame:
    """Answered rows in the service's real time: measured / time scale; warm-up rows, failed deployments and unscaled emulators left out."""
    health = health or assess_run(run_dir)
    frame = _ok_rows(run_dir)
    if frame.empty:
        return frame
    if "warmup" in frame:
        frame = frame[frame["warmup"].ne(True)]  # True only where marked; None and False stay
    usable = {n: d.time_scale for n, d in health.deployments.items() if not d.excluded and d.time_scale > 0}
    frame = frame[frame["deployment"].isin(usable)].copy()
    scale = frame["deployment"].map(usable).astype(float)
    for column in ("ttft_s", "e2e_s", "itl_p50_s"):
        if column in frame:
            frame[column] = frame[column] / scale
    if "output_tps" in frame:
        frame["output_tps"] = frame["output_tps"] * scale
    return frame


def latency_frame(run_dir: str | Path, health: RunHealth | None = None) -> pd.DataFrame:
    """p50/p90/p99 of time to first token, end-to-end time, and median inter-token gap and speed (real time; numbers, NaN where not measured).

    Answers cut short (status ``incomplete``) are not in the percentiles: an empty stream ended early
    would read as a fast success. When a run has any, ``incomplete (left out)`` counts them per deployment.
    """
    health = health or assess_run(run_dir)
    frame = latency_rows(run_dir, health)
    if frame.empty:
        return frame
    out = []
    for name, g in frame.groupby("deployment"):
        row: dict[str, Any] = {"deployment": name, "requests": len(g)}
        if "ttft_s" in g and g["ttft_s"].notna().any():
            ttft = g["ttft_s"].dropna() * 1000
            row.update({"TTFT p50 ms": ttft.quantile(0.5), "TTFT p90 ms": ttft.quantile(0.9), "TTFT p99 ms": ttft.quantile(0.99)})
        if "itl_p50_s" in g and g["itl_p50_s"].notna().any():
            itl = (g["itl_p50_s"].dropna() * 1000).median()
            row["ITL p50 ms"] = itl if itl > 0 else np.nan  # 0: the chunks arrived together (a sped-up emulator), no gap was measured
        e2e = g["e2e_s"].dropna()
        row.update({"e2e p50 s": e2e.quantile(0.5), "e2e p90 s": e2e.quantile(0.9), "e2e p99 s": e2e.quantile(0.99)})
        if "output_tps" in g and g["output_tps"].notna().any():
            row["output tok/s p50"] = g["output_tps"].dropna().median()
        out.append(row)
    result = pd.DataFrame(out).set_index("deployment").round(2)
    cut = {n: d.incomplete_rows for n, d in health.deployments.items()}
    if any(cut.get(n) for n in result.index):
        result["incomplete (left out)"] = [cut.get(n, 0) for n in result.index]
    return result


def latency_table(run_dir: str | Path, health: RunHealth | None = None) -> pd.DataFrame:
    """latency_frame for display: the time basis of each row stated, gaps in words."""
    health = health or assess_run(run_dir)
    frame = latency_frame(run_dir, health)
    if frame.empty:
        return frame
    frame = frame.copy()
    frame["time basis"] = [_time_basis(health.deployments[n]) if n in health.deployments else "as measured" for n in frame.index]
    caveats = {n: d.latency_caveat for n, d in health.deployments.items()}
    frame["reliable"] = [f"no: {caveats[n]}" if caveats.get(n) else "yes" for n in frame.index]
    return words(frame)


def _time_basis(health: DeploymentHealth) -> str:
    scale = health.time_scale
    if health.unknown_time_base:
        return "emulator, time scale not recorded"
    if scale == 1:
        return "as measured"
    return f"emulated at {_speed(scale)} speed; rescaled"


def _speed(scale: float) -> str:
    """0.01 -> '1/100'; 2 -> '2x'."""
    if scale < 1:
        return f"1/{1 / scale:,.4g}"
    return f"{scale:g}x"


def latency_notes(health: RunHealth) -> list[str]:
    """What the latency figures are: answers cut short and warm-up left out, rescaled from an emulator, not reliable when the client was saturated."""
    notes = [f"**Answers cut short, left out of these figures** — {text}" for text in health.cut_short()]
    for scale in sorted({d.time_scale for d in health.deployments.values() if not d.excluded and d.time_scale not in (0, 1)}):
        names = ", ".join(n for n, d in health.deployments.items() if d.time_scale == scale and not d.excluded)
        notes.append(
            f"**Emulated at {_speed(scale)} speed; times rescaled** ({names}): the emulator ran with time scale {scale:g}, "
            f"so every time is shown as measured ÷ {scale:g} (and tokens/s × {scale:g}), the emulated service's own time. "
            f"Delays that are not the emulated service's (client, network, a pause of this machine) are rescaled with it: "
            f"0.1 s of them reads as {0.1 / scale:,.4g} s. Treat the figures as approximate."
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


def latency_figures(run_dir: str | Path, health: RunHealth | None = None) -> list[Any]:
    """ECDF of time to first token and box plot of end-to-end time, per deployment (real time)."""
    import plotly.express as px

    frame = latency_rows(run_dir, health)
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


def _cost_rows(run_dir: str | Path) -> list[dict[str, Any]]:
    from .cost import FIXED_KINDS, deployment_records, run_costs

    kinds = {r["name"]: r.get("kind") for r in deployment_records(run_dir)}
    excluded = {d.name: d.state for d in assess_run(run_dir).excluded}
    rows = []
    for name, d in run_costs(run_dir)["deployments"].items():
        kind = kinds.get(name) or "serverless"
        priced = not d["unpriced_rows"] and name not in excluded
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
                "model": d["model"],
                "kind": kind,
                "requests": d["requests"],
                "prompt tokens": d["prompt_tokens"],
                "completion tokens": d["completion_tokens"],
                "cost": _money(d["cost_usd"], 6) if priced or (name in excluded and not d["unpriced_rows"]) else unpriced_words,
                "per 1,000 requests": _money(d["usd_per_1k_requests"]) if priced and d["usd_per_1k_requests"] is not None else (unpriced_words or NOT_MEASURED),
                "_per_1k": float(d["usd_per_1k_requests"]) if priced and d["usd_per_1k_requests"] is not None else np.nan,
            }
        )
    return rows


def cost_frame(run_dir: str | Path) -> pd.DataFrame:
    """What the run cost per deployment, in words where there is no token price ("no price", "VM-hours: see projection")."""
    rows = _cost_rows(run_dir)
    return pd.DataFrame(rows).drop(columns="_per_1k").set_index("deployment") if rows else pd.DataFrame()


def cost_numbers(run_dir: str | Path) -> pd.DataFrame:
    """USD per 1,000 requests per deployment as numbers (NaN without a token price), for figures and recommendations."""
    rows = _cost_rows(run_dir)
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame([{"deployment": r["deployment"], "USD per 1k requests": r["_per_1k"]} for r in rows]).set_index("deployment")


def cost_projection(run_dir: str | Path, requests_per_day: float | int, *, peak_rps: float | None = None, slo: str | None = None) -> Any:
    """``cost.project_run`` for the report, with the run's stored sweeps sizing its machines; None when no request succeeded."""
    from .cost import project_run

    try:
        return project_run(run_dir, requests_per_day, sweeps=sweep_dirs(run_dir), slo=slo, peak_rps=peak_rps)
    except ValueError as exc:
        if "no successful rows" in str(exc):
            return None
        raise


# --------------------------------------------------------------------------- load sweeps


def sweep_dirs(run_dir: str | Path) -> list[Path]:
    """The load sweeps stored with a run (``RUN_DIR/sweeps/*``, as ``llama-eval demo`` writes them); none: []."""
    from .capacity import stored_sweeps

    return stored_sweeps(run_dir)


def sweep_figure(run_dir: str | Path) -> Any:
    """Latency against achieved throughput per swept deployment (SLO lines, capacity circled), or None."""
    from .loadfigure import load_figure

    dirs = sweep_dirs(run_dir)
    return load_figure(dirs) if dirs else None


def capacity_cost_frame(run_dir: str | Path, requests_per_day: float | int, peak_rps: float | None = None, slo: str | None = None) -> pd.DataFrame:
    """Cost per 1,000 requests for every deployment kind: tokens for serverless, VM/GPU-hours ÷ swept capacity otherwise."""
    from dataclasses import asdict

    from .prices import load_prices_for_run
    from .unitcost import deployment_costs

    prices = load_prices_for_run(run_dir)
    costs = deployment_costs(run_dir, sweep_dirs(run_dir), slo=slo, peak_rps=peak_rps, requests_per_day=requests_per_day, prices=prices)
    frame = pd.DataFrame([asdict(c) for c in costs])
    if frame.empty:
        return frame
    out = _readable(frame.set_index("deployment"), gaps={"usd_per_1k_requests": "capacity not measured", "capacity_rps": "not measured (no sweep)"})
    out["instances"] = [int(v) if isinstance(v, float) and v.is_integer() else v for v in out["instances"]]  # a count, not a float
    per_token = out["kind"] == "serverless"
    out.loc[per_token, "capacity_rps"] = "per token: no machines to size"
    out.loc[per_token, "instances"] = "per token: no machines to size"
    return out


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


def recommendation(run_dir: str | Path, *, peak_rps: float, requests_per_day: float | int, slo: str) -> Any:
    """``recommend`` on this run and its stored sweeps: the cheapest option not detectably worse that meets the SLO at peak.

    Nothing but recommend's own defaults (the stored sweeps, the run's price tables), so that
    ``llama-eval recommend RUN_DIR`` with the same traffic and SLO prints the same table.
    """
    from .decision import recommend

    return recommend(run_dir, peak_rps=peak_rps, requests_per_day=requests_per_day, slo=slo)


def price_age_line(run_dir: str | Path) -> str:
    """How old the prices behind this report are (the tables the run recorded), with a warning when stale."""
    from .prices import load_prices_for_run

    recorded = ((read_manifest(run_dir) or {}).get("fingerprint") or {}).get("deployments") or []
    models = sorted({d["model"] for d in recorded if d.get("model")})
    fresh = load_prices_for_run(run_dir).freshness(models=models or None)
    return f"Prices: {fresh.text}." + (f" **{fresh.warning}**" if fresh.warning else "")


def projection_intro(result: Any, requests_per_day: float | int) -> str:
    """The traffic the cost section assumes, stated first."""
    how = "Set with `llama-eval report --requests-per-day N --peak-rps P` (papermill: `-p requests_per_day N -p peak_rps P`)."
    if result is None:
        return (
            f"**Projected traffic: {requests_per_day:,.0f} requests/day.** "
            f"No projection: no request of this run succeeded, so there are no token means to cost. {how}"
        )
    return f"**Projected traffic: {result.profile.describe()}.** {how}"


def options_table(result: Any) -> pd.DataFrame:
    """Each option offered today at the projected volume (USD per month), gaps in words."""
    if result is None:
        return pd.DataFrame()
    volume = result.profile.requests_per_day
    rows = []
    for o in result.options:
        monthly, per_request = o.monthly_at(volume), o.per_request_at(volume)
        floor = "at least " if not o.measured and monthly is not None else ""
        if not o.fixed:
            instances = "— (per token)"
        elif o.measured:
            instances = f"{o.instances_at(volume)} ({o.capacity_rps:.3g} req/s each)"
        else:
            instances = "capacity not measured"
        rows.append(
            {
                "option": o.label,
                "billed": "per token" if not o.fixed else "per hour, busy or idle",
                "instances at peak": instances,
                "USD per month": floor + _money(monthly, 2) if monthly is not None else "no price",
                "USD per 1,000 requests": floor + _money(per_request * 1000, 4) if per_request is not None else "no price",
                "in this run": ", ".join(o.deployments) or "—",
                "note": "; ".join(n for n in (o.note, o.capacity_source) if n) or "—",
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
    from .cost import break_even_figure

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


# --------------------------------------------------------------------------- summary


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
        fig.update_layout(title="Quality vs cost per 1,000 requests (token-priced deployments)", xaxis_title="USD per 1,000 requests", yaxis_title="score %")
        figures.append(fig)
    latency_column = next((c for c in ("TTFT p90 ms", "e2e p90 s") if c in frame and frame[c].notna().any()), None)
    if latency_column:
        fig, _ = points(latency_column, latency_column)
        fig.update_layout(title=f"Quality vs {latency_column} (real time)", xaxis_title=latency_column, yaxis_title="score %")
        figures.append(fig)
    return figures


def recommendations(frame: pd.DataFrame, comparisons: list[dict[str, Any]], health: RunHealth | None = None) -> list[str]:
    """Sentences generated from the data, only among deployments with complete rows: best quality, the cheapest not detectably worse, the fastest."""
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
    separated = [c for c in comparisons if best in (c["a"], c["b"]) and (c["significant"] if "significant" in c else c["p_holm"] < 0.05)]
    worse_than_best = {c["b"] if c["a"] == best else c["a"] for c in separated}
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
                    "USD per 1k requests": float(per_1k) if per_1k is not None and not costs[name]["unpriced_rows"] else np.nan,  # words() at display
                }
            )
    return pd.DataFrame(rows, columns=["run", "started", "deployment", "score %", "95% CI low", "95% CI high", "USD per 1k requests"])


def trend_figure(frame: pd.DataFrame):
    import plotly.express as px

    fig = px.line(frame, x="started", y="score %", color="deployment", markers=True, error_y=frame["95% CI high"] - frame["score %"],
                  error_y_minus=frame["score %"] - frame["95% CI low"], title="Score over runs of the same configuration")  # fmt: skip
    return fig
