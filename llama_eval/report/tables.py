"""The report's tables as people read them, and each section's one-sentence answer.

Presentation only: every number comes from the section modules' frames (quality, latency, cost,
summary), as the CLI prints them; here they get units in their labels, typed formats (money
``$71,773.60``, percentages with one decimal, integers as integers), spanners, no index, and long
texts in notes (``view.table``). Long per-prompt tables are interactive (``view.interactive_table``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from llama_eval.quality.summary import QualitySummary
from llama_eval.rundir.health import RunHealth

from . import cost, quality
from .view import Table, interactive_table, notes_html, table

# --------------------------------------------------------------------------- quality


def quality_answer(summary: QualitySummary) -> str:
    """The quality section's answer, in one sentence (Markdown)."""
    frame = quality.quality_frame(summary)
    if frame.empty:
        return "**No deployment could be scored.**"
    best = frame["score %"].idxmax()
    separated = [c for c in summary.comparisons if c.significant]
    tail = (
        f"{len(separated)} of {len(summary.comparisons)} pairs differ detectably"
        if separated
        else "no pair differs detectably on these prompts"
    )
    return f"**{best} scores highest ({frame.loc[best, 'score %']:.1f}%); {tail}.**"


def quality_view(summary: QualitySummary, health: RunHealth | None = None) -> Table:
    frame = quality.quality_table(summary, health)
    return table(
        frame.replace("—", None),
        labels={"deployment": "Deployment", "prompts": "Prompts", "score %": "Score", "95% CI low": "low", "95% CI high": "high",
                "repeats agree": "Repeats agree", "rows": "Rows"},
        percent=["score %", "95% CI low", "95% CI high"],
        integer=["prompts", "failed rows", "incomplete", "unscorable"],
        spanners={"95% interval": ["95% CI low", "95% CI high"], "Rows that count as 0": ["failed rows", "incomplete", "unscorable"]},
        footnotes={"score %": "Mean over prompts of each prompt's mean score over its repeats; 95% bootstrap interval over prompts."},
    )


def tag_view(summary: QualitySummary) -> Table:
    frame = quality.tag_frame(summary)
    if frame.empty:
        return Table("")
    frame = frame.replace("no prompts", None)
    frame.columns = [str(c) for c in frame.columns]
    return table(frame, labels={"tag": "Tag"}, percent=list(frame.columns), missing=dict.fromkeys(frame.columns, "no prompts"),
                 source=["Score per prompt tag, in percent."])  # fmt: skip


def comparison_view(summary: QualitySummary) -> str:
    """The paired verdicts as a short table (pair, difference, interval, verdict in a word), the sentences folded below."""
    if not summary.comparisons:
        return quality.comparison_lines(summary)
    rows = []
    for c in summary.comparisons:
        better = f"{c.a} better" if c.diff > 0 else f"{c.b} better"
        verdict = "too few prompts to compare" if c.too_few_prompts else (better if c.significant else "no detectable difference")
        rows.append({"pair": f"{c.a} vs {c.b}", "prompts": c.prompts, "diff": 100 * c.diff, "low": 100 * c.ci_low, "high": 100 * c.ci_high, "verdict": verdict})
    frame = pd.DataFrame(rows)
    shown = table(
        frame,
        labels={"pair": "Pair (a vs b)", "prompts": "Shared prompts", "diff": "a − b (points)", "low": "low", "high": "high", "verdict": "Verdict"},
        integer=["prompts"],
        number={"diff": 1, "low": 1, "high": 1},
        spanners={"adjusted interval (points)": ["low", "high"]},
    )
    extra = []
    hint = summary.sample_size_hint
    if hint:
        extra.append(f"To detect a {hint.difference_points}-point difference: about {hint.prompts_needed} prompts ({hint.based_on}).")
    if summary.excluded:
        extra.append("Left out of the comparisons (no answers to judge): " + ", ".join(f"{n} ({e.state})" for n, e in summary.excluded.items()) + ".")
    import html

    paragraphs = "".join(f"<p>{html.escape(e)}</p>" for e in extra)
    return f"{shown}{paragraphs}{notes_html([c.verdict for c in summary.comparisons], 'Each verdict in full')}"


def numeric_view(summary: QualitySummary) -> Table | None:
    frame = quality.numeric_frame(summary)
    if frame.empty:
        return None
    return table(frame, labels={"deployment": "Deployment", "rows": "Rows"}, integer=["rows"], percent=["strict %", "flexible %", "answers with a marker %"])


def answers_view(run: Any, per_deployment: int = 3, *, rows_file: Any = None) -> Table:
    """A few answers per deployment, sortable and paginated (escaped; long answers cut, with their full length)."""
    frame = quality.sample_answers(run, per_deployment, rows_file=rows_file).reset_index()
    if frame.empty:
        return Table("")
    frame["characters"] = [len(t or "") for t in frame["response_text"]]
    frame = frame.rename(columns={"prompt_id": "prompt", "response_text": "answer (first 200 characters)"})
    return interactive_table(frame)


# --------------------------------------------------------------------------- latency


LATENCY_LABELS = {
    "deployment": "Deployment", "requests": "Requests", "TTFT p50 ms": "p50", "TTFT p90 ms": "p90", "TTFT p99 ms": "p99", "ITL p50 ms": "ITL p50 (ms)",
    "e2e p50 s": "p50 ", "e2e p90 s": "p90 ", "e2e p99 s": "p99 ", "output tok/s p50": "Output tokens/s (p50)",
    "incomplete (left out)": "Cut short (left out)", "time basis": "Time basis", "reliable": "Reliable",
}  # fmt: skip


def latency_answer(frame: pd.DataFrame, health: RunHealth) -> str:
    """The latency section's answer, in one sentence (Markdown), from latency_frame's numbers."""
    if frame.empty:
        return "**No latency was measured.**"
    unreliable = health.latency_unreliable()
    usable = frame.loc[[n for n in frame.index if n not in unreliable]]
    if usable.empty:
        return "**These latency figures are not reliable (see the notes below): no latency verdict is made from them.**"
    column = "TTFT p90 ms" if "TTFT p90 ms" in usable and usable["TTFT p90 ms"].notna().any() else "e2e p90 s"
    best = usable[column].idxmin()
    value = f"{usable.loc[best, column]:,.0f} ms" if column.endswith("ms") else f"{usable.loc[best, column]:,.2f} s"
    what = "time to first token" if column.startswith("TTFT") else "end-to-end time"
    left = f" ({', '.join(sorted(unreliable))} not reliable, left out)" if len(usable) < len(frame) else ""
    return f"**Fastest p90 {what}: {best}, {value}{left}.**"


def latency_view(frame: pd.DataFrame) -> Table:
    """latency_table (words in the gaps) as a table: TTFT in ms, end-to-end in s, spanned."""
    shown = frame.replace("not measured", None)
    ttft = [c for c in ("TTFT p50 ms", "TTFT p90 ms", "TTFT p99 ms") if c in shown]
    e2e = [c for c in ("e2e p50 s", "e2e p90 s", "e2e p99 s") if c in shown]
    return table(
        shown,
        labels=LATENCY_LABELS,
        integer=["requests", "incomplete (left out)", *ttft],
        number={"ITL p50 ms": 1, **dict.fromkeys(e2e, 2), "output tok/s p50": 0},
        missing=dict.fromkeys(shown.columns, "not measured"),
        spanners={"Time to first token (ms)": ttft, "End-to-end (s)": e2e},
    )


# --------------------------------------------------------------------------- cost


def cost_answer(result: Any) -> str:
    """The cost section's answer: the cheapest option offered at the projected volume (a floor when its capacity was not measured)."""
    if result is None:
        return "**No projection: no request of this run succeeded.**"
    volume = result.profile.requests_per_day
    priced = [(o.cost_at(volume).monthly_usd, o) for o in result.options if o.monthly_at(volume) is not None and o.measured]
    if not priced:
        return "**No option has both a price and a measured capacity at this volume.**"
    monthly, cheapest = min(priced, key=lambda p: p[0])
    return f"**Cheapest measured option at {float(volume):,.0f} requests/day: {cheapest.label}, ${float(monthly):,.2f} a month.**"


def run_cost_view(run_dir: Any) -> Table:
    frame = cost.cost_frame(run_dir)
    return table(frame, labels={"deployment": "Deployment", "model": "Model", "kind": "Billed as", "requests": "Requests", "prompt tokens": "Prompt tokens",
                                "completion tokens": "Completion tokens", "cost": "Cost (USD)", cost.SENT_PER_1K: cost.SENT_PER_1K_LABEL},
                 integer=["requests", "prompt tokens", "completion tokens"])  # fmt: skip


def options_view(result: Any) -> Table:
    frame = cost.options_table(result)
    return table(frame, labels={"option": "Option", "billed": "Billed", "instances at peak": "Instances at peak", "in this run": "In this run", "note": "Note"})


def retired_view(result: Any) -> Table:
    return table(cost.retired_table(result), labels={"option": "Option", "status": "Status", "in this run": "In this run"})


def break_even_view(result: Any) -> Table:
    frame = cost.break_even_table(result)
    if frame.empty:
        return Table("")
    return table(frame.reset_index(drop=True), labels={"option A": "Option A", "option B": "Option B", "why this pair": "Why this pair",
                                                       "break-even requests/day": "Break-even (requests/day)"})  # fmt: skip


def capacity_cost_view(run_dir: Any, requests_per_day: float | int, peak_rps: float | None = None, slo: str | None = None) -> Table:
    frame = cost.capacity_cost_frame(run_dir, requests_per_day, peak_rps=peak_rps, slo=slo)
    return table(
        frame,
        labels={"deployment": "Deployment", "model": "Model", "kind": "Billed as", "usd_per_1k_requests": "USD per 1,000 requests (fixed: one machine full)",
                "basis": "How it is worked out", "capacity_rps": "Capacity (requests/s per instance)", "instances": "Instances at peak",
                "monthly_usd": "USD per month", "note": "Note"},
        money={"usd_per_1k_requests": 4, "monthly_usd": 2},
        integer=["instances"],
        number={"capacity_rps": 2},
    )


# --------------------------------------------------------------------------- summary


def summary_view(frame: pd.DataFrame, health: RunHealth | None = None) -> Table:
    """summary_frame's numbers as a table: quality in percent, cost in dollars, latency in its unit."""
    if frame.empty:
        return Table("")
    from .summary import summary_table

    shown = summary_table(frame, health).replace("not measured", None)
    return table(
        shown,
        labels={"deployment": "Deployment", "score %": "Score", "95% CI low": "low", "95% CI high": "high", "USD per 1k requests": "USD per 1,000 requests",
                "TTFT p90 ms": "TTFT p90 (ms)", "e2e p90 s": "e2e p90 (s)", "rows": "Rows"},  # fmt: skip
        percent=["score %", "95% CI low", "95% CI high"],
        money={"USD per 1k requests": 4},
        integer=["TTFT p90 ms"],
        number={"e2e p90 s": 2},
        missing={"TTFT p90 ms": "not reliable or not measured", "e2e p90 s": "not reliable or not measured"},
        spanners={"95% interval": ["95% CI low", "95% CI high"]},
    )


def trend_view(frame: pd.DataFrame) -> Table:
    labels = {"run": "Run", "started": "Started", "deployment": "Deployment", "score %": "Score", "95% CI low": "low", "95% CI high": "high",
              "USD per 1k requests": "USD per 1,000 requests"}  # fmt: skip
    return table(frame, labels=labels, percent=["score %", "95% CI low", "95% CI high"], money={"USD per 1k requests": 4},
                 missing={"USD per 1k requests": "no token price"})  # fmt: skip
