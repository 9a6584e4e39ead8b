"""The quality section (notebook 20_quality): scores per deployment, the paired comparisons, tags, sample answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from llama_eval.quality.scoring import current_quality_summary, score_run
from llama_eval.quality.summary import QualitySummary
from llama_eval.rundir.health import RunHealth
from llama_eval.rundir.run import Run

from . import aggregates
from .view import words


def quality_summary(run: Run | str | Path, *, judge: Any = None) -> QualitySummary:
    """The scoring summary of a run: scores_summary.json when it is up to date, else the run scored now (and the file written)."""
    if judge is None and (cached := current_quality_summary(run)) is not None:
        return cached
    return score_run(run, judge=judge)


def _agreement(consistency: float | None) -> str:
    return "one repeat per prompt" if consistency is None else f"{100 * consistency:.0f}%"


def quality_frame(summary: QualitySummary) -> pd.DataFrame:
    """Scores of the judged deployments (numbers), best first."""
    rows = [
        {
            "deployment": name,
            "prompts": d.prompts,
            "score %": round(100 * d.mean, 1),
            "95% CI low": round(100 * d.ci_low, 1),
            "95% CI high": round(100 * d.ci_high, 1),
            "failed rows": d.failed_rows,
            "incomplete": d.incomplete_rows,  # of the failed rows: answers cut short, not wrong answers
            "unscorable": d.unscorable_rows,
            "repeats agree": _agreement(d.consistency),
        }
        for name, d in summary.deployments.items()
    ]
    return pd.DataFrame(rows).sort_values("score %", ascending=False).set_index("deployment") if rows else pd.DataFrame()


def quality_table(summary: QualitySummary, health: RunHealth | None = None) -> pd.DataFrame:
    """quality_frame for display, with the deployments left out (stopped, mostly errors) as rows that say so, and incomplete rows marked."""
    frame = quality_frame(summary)
    if health is not None and not frame.empty:
        frame["rows"] = [_rows_state(health, n) for n in frame.index]
    excluded = [{"deployment": n, "score %": f"not scored: {e.state}"} for n, e in summary.excluded.items()]
    if excluded:
        frame = pd.concat([frame.astype(object), pd.DataFrame(excluded).set_index("deployment")])
    return words(frame, "—")


def comparison_lines(summary: QualitySummary) -> str:
    """The paired verdicts as a Markdown list, with the sample-size hint and what was left out."""
    lines = [f"- {c.verdict}" for c in summary.comparisons] or ["- Fewer than two judged deployments: nothing to compare."]
    hint = summary.sample_size_hint
    if hint:
        lines.append(f"\nTo detect a {hint.difference_points}-point difference: about {hint.prompts_needed} prompts ({hint.based_on}).")
    if summary.excluded:
        listed = ", ".join(f"{n} ({e.state})" for n, e in summary.excluded.items())
        lines.append(f"\nLeft out of the comparisons (no answers to judge): {listed}.")
    return "\n".join(lines)


def method_lines(summary: QualitySummary) -> str:
    """Which statistical test stands behind the verdicts, and how ROUGE was computed, as Markdown."""
    method = summary.statistics
    lines = []
    if method:
        lines += [
            f"- 0/1 scores: {method.binary_scores}.",
            f"- Other scores: {method.other_scores}.",
            f"- Several comparisons: {method.adjustment}; {method.verdict_basis}.",
            f'- Fewer than {method.min_prompts_for_verdict} shared prompts: no verdict ("too few prompts to compare").',
        ]
    rouge = summary.rouge
    if rouge:
        stem = {True: "Porter stemmer on", False: "no stemmer"}.get(rouge.use_stemmer, "stemmer setting mixed")
        lines.append(f"- ROUGE: {rouge.measure} from {rouge.package} (Google's reference implementation), {stem}.")
    return "\n".join(lines) or "- No statistics recorded for this run (scored by an older version)."


def numeric_frame(summary: QualitySummary) -> pd.DataFrame:
    """Strict and flexible accuracy on numeric-scored prompts, per deployment (empty when none)."""
    rows = [
        {
            "deployment": name,
            "rows": acc.rows,
            "strict %": round(100 * acc.strict, 1),
            "flexible %": round(100 * acc.flexible, 1),
            "answers with a marker %": round(100 * acc.marked, 1),
        }
        for name, acc in summary.numeric.items()
    ]
    return pd.DataFrame(rows).set_index("deployment") if rows else pd.DataFrame()


def _rows_state(health: RunHealth, name: str) -> str:
    d = health.deployments.get(name)
    if d is None or d.complete:
        return "complete"
    return f"{d.state}: {d.rows} of {d.expected}"


def tag_frame(summary: QualitySummary) -> pd.DataFrame:
    """Score % per tag (rows) and deployment (columns); "no prompts" where a deployment has none of a tag."""
    rows = [{"deployment": t.deployment, "tag": t.tag, "score %": round(100 * t.mean, 1), "prompts": t.prompts} for t in summary.tags.values()]
    if not rows:
        return pd.DataFrame()
    return words(pd.DataFrame(rows).pivot_table(index="tag", columns="deployment", values="score %"), "no prompts")


def quality_figure(summary: QualitySummary) -> Any:
    """Score per deployment with its 95% interval, as a plotly bar chart (None when nothing was scored)."""
    import plotly.graph_objects as go

    frame = quality_frame(summary)
    if frame.empty:
        return None
    fig = go.Figure(
        go.Bar(
            name="score",
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
    fig.update_layout(title="Score per deployment: higher is better (bars: 95% bootstrap interval over prompts)", yaxis_title="score (%)",
                      yaxis_range=[0, 105], showlegend=False)  # fmt: skip
    return fig


def bar_colours(fig: Any, colours: dict[str, str]) -> Any:
    """Each bar of a per-deployment bar chart in its deployment's colour."""
    if fig is not None and fig.data:
        fig.data[0].marker.color = [colours.get(str(x), "#7F7F7F") for x in fig.data[0].x]
    return fig


def sample_answers(run: Run | str | Path, per_deployment: int = 2, *, rows_file: str | Path | None = None) -> pd.DataFrame:
    """A few answers per deployment (the first by prompt id), for reading (escaped when shown as HTML).

    Read by DuckDB (``aggregates.answer_sample``) from ``rows_file``, the report's Parquet copy of the run, when given;
    else from the run's rows. The full rows are in the run's ``results.jsonl`` (``llama-eval export``, ``report --csv``)."""
    return aggregates.answer_sample(aggregates.row_source(run, rows_file=rows_file), per_deployment)
