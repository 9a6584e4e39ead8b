"""The workload sections of a report: per-turn cost and TTFT of conversation sets, and the sender's lateness of open-loop runs.

``per_turn_frame(run)``: one row per (deployment, turn) of a conversation run — how many turns were
answered and failed, mean prompt and completion tokens (the prompt grows by every answer the
history carries), the share of prompt tokens the server served from its prefix cache (None where it
reports none), mean cost per request (serverless: tokens x price; None where the price is not
per token) and TTFT p50/p90 in the service's own time (measured / the emulator's time scale;
warm-up rows and deployments whose timing cannot be trusted left out, as in the latency section).
``lateness_frame(run)``: per deployment, how late this process sent open-loop requests. ``describe_workload``:
one line naming a workload (set shape, conversations, arrivals) to state next to a capacity or a decision.

For the notebooks (thin: one call each, nothing shown for a run without those rows): ``per_turn_section``
(30_latency: a sentence of true numbers, the per-turn table and a figure, or None), ``lateness_line``
(30_latency: open-loop runs) and ``cached_share_line`` (40_cost: when the servers reported cached tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llama_eval.cost.workload import describe_arrivals
from llama_eval.records import ANSWERED, percentile
from llama_eval.rundir.health import RunHealth, assess_run
from llama_eval.rundir.run import Run, as_run

from .view import Table, table

PER_TURN_COLUMNS = ("deployment", "turn", "answered", "failed", "prompt_tokens_mean", "completion_tokens_mean", "cached_share", "cost_usd_mean",
                    "ttft_p50_s", "ttft_p90_s")  # fmt: skip


def per_turn_frame(run: Run | str | Path, health: RunHealth | None = None) -> pd.DataFrame:
    """Per (deployment, turn) of a conversation run: answered/failed turns, mean tokens, cached-token share, cost, TTFT p50/p90.

    Empty (with ``PER_TURN_COLUMNS``) for a run without conversations. ``frame.attrs["simulated"]``
    says the answers came from the emulator (its latencies are emulated, its texts simulated).
    """
    run = as_run(run)
    turns = [r for r in run.rows if r.turn is not None]
    frame = pd.DataFrame(columns=list(PER_TURN_COLUMNS))
    frame.attrs["simulated"] = run.simulated
    if not turns:
        return frame
    health = health or assess_run(run)
    scales = {n: d.time_scale for n, d in health.deployments.items() if not d.excluded and d.time_scale > 0}
    groups: dict[tuple[str, int], list[Any]] = {}
    for row in turns:
        groups.setdefault((row.deployment, row.turn), []).append(row)
    out = []
    for (deployment, turn), rows in sorted(groups.items()):
        answered = [r for r in rows if r.status in ANSWERED and r.usage is not None]
        reported = [r for r in answered if r.usage.cached_tokens is not None]
        costs = [float(r.cost_usd) for r in answered if r.cost_usd is not None and r.price_known]
        ttfts = [r.timing.ttft_s / scales[deployment] for r in answered
                 if deployment in scales and not r.warmup and r.timing is not None and r.timing.ttft_s is not None]  # fmt: skip
        out.append({
            "deployment": deployment,
            "turn": turn,
            "answered": len(answered),
            "failed": len(rows) - len(answered),
            "prompt_tokens_mean": float(np.mean([r.usage.prompt_tokens for r in answered])) if answered else None,
            "completion_tokens_mean": float(np.mean([r.usage.completion_tokens for r in answered])) if answered else None,
            # prompt tokens the server said came from its prefix cache; None where it reports none (Azure serverless Llama)
            "cached_share": sum(r.usage.cached_tokens for r in reported) / max(1, sum(r.usage.prompt_tokens for r in reported)) if reported else None,
            "cost_usd_mean": float(np.mean(costs)) if costs and len(costs) == len(answered) else None,
            "ttft_p50_s": percentile(ttfts, 0.5) if ttfts else None,
            "ttft_p90_s": percentile(ttfts, 0.9) if ttfts else None,
        })  # fmt: skip
    frame = pd.DataFrame(out, columns=list(PER_TURN_COLUMNS))
    frame.attrs["simulated"] = run.simulated
    return frame


def lateness_frame(run: Run | str | Path) -> pd.DataFrame:
    """Per deployment of an open-loop run (``--rate``, ``--ramp``, ``--trace``): requests and the sender's lateness p50/p99/max (ms).

    Lateness is this process's own delay in sending, not the service's; empty for a closed-loop run.
    """
    run = as_run(run)
    by: dict[str, list[float]] = {}
    for row in run.rows:
        if row.sender_lateness_s is not None:
            by.setdefault(row.deployment, []).append(row.sender_lateness_s * 1000)
    rows = [{"deployment": d, "requests": len(v), "lateness_p50_ms": percentile(v, 0.5), "lateness_p99_ms": percentile(v, 0.99),
             "lateness_max_ms": max(v)} for d, v in by.items()]  # fmt: skip
    return pd.DataFrame(rows, columns=["deployment", "requests", "lateness_p50_ms", "lateness_p99_ms", "lateness_max_ms"])


def describe_workload(prompts: Any, schedule: Mapping[str, Any] | None = None) -> str:
    """One line naming a workload, to state next to a capacity or a decision: the prompt set's shape and the arrivals.

    ``prompts``: a ``PromptSet`` (its synth recipe, conversations and lengths are read); ``schedule``:
    a run manifest's ``params.schedule`` (None: closed loop).
    """
    parts = [f"prompt set {prompts.name!r} ({len(prompts)} items)"]
    recipe = getattr(prompts, "recipe", None)
    if recipe:
        shape = f"synthetic: input {recipe['input']['text']}, output {recipe['output']['text']} tokens ({recipe.get('tokenizer', '?')} tokenizer)"
        if recipe.get("prefix_tokens"):
            shape += f", a shared {recipe['prefix_tokens']}-token prefix on {recipe['prefix_share']:.0%} of requests ({recipe['prefix_groups']} group(s))"
        parts.append(shape)
    conversations = [item for item in prompts if item.turns]
    if conversations:
        turns = [len(item.turns) for item in conversations]
        parts.append(f"{len(conversations)} conversations of {min(turns)}-{max(turns)} turns, history resent every turn")
    parts.append(describe_arrivals(schedule))
    return "; ".join(parts)


PER_TURN_LABELS = {"deployment": "Deployment", "turn": "Turn", "answered": "Answered", "failed": "Failed", "prompt_tokens_mean": "Prompt tokens (mean)",
                   "completion_tokens_mean": "Completion tokens (mean)", "cached_share": "Cached prompt tokens", "cost_usd_mean": "USD per request (mean)",
                   "ttft_p50_s": "TTFT p50 (s)", "ttft_p90_s": "TTFT p90 (s)"}  # fmt: skip


def per_turn_intro(frame: pd.DataFrame) -> str:
    """A sentence of the frame's own numbers: how each deployment's prompt (and TTFT) grew from the first turn to the last."""
    parts = []
    for deployment, rows in frame.groupby("deployment", sort=True):
        rows = rows.sort_values("turn")
        first, last = rows.iloc[0], rows.iloc[-1]
        if first["prompt_tokens_mean"] is None or last["prompt_tokens_mean"] is None or pd.isna(first["prompt_tokens_mean"]):
            continue
        text = (f"{deployment}: {first['prompt_tokens_mean']:,.0f} prompt tokens at turn {int(first['turn'])}, "
                f"{last['prompt_tokens_mean']:,.0f} at turn {int(last['turn'])}")  # fmt: skip
        if pd.notna(first["ttft_p50_s"]) and pd.notna(last["ttft_p50_s"]):
            text += f" (TTFT p50 {first['ttft_p50_s']:.3f} s, then {last['ttft_p50_s']:.3f} s)"
        parts.append(text)
    head = ("**Per turn.** Each turn resends the conversation so far (the model's own earlier answers included), so its prompt grows "
            "turn by turn, and per-token cost with it; the time to first token grows with the part a server's prefix cache does not hold "
            "(the *Cached prompt tokens* column, where the server reports it).")  # fmt: skip
    return head + (" " + "; ".join(parts) + "." if parts else "")


def per_turn_figure(frame: pd.DataFrame) -> Any:
    """Prompt tokens and TTFT p50 by turn, one line per deployment (plotly); None for an empty frame."""
    if frame.empty:
        return None
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("Prompt tokens per request (mean)", "Time to first token, p50 (s)"))
    for deployment, rows in frame.groupby("deployment", sort=True):
        rows = rows.sort_values("turn")
        for col, column in ((1, "prompt_tokens_mean"), (2, "ttft_p50_s")):
            fig.add_scatter(x=rows["turn"], y=rows[column], mode="lines+markers", name=str(deployment), legendgroup=str(deployment),
                            showlegend=col == 1, row=1, col=col)  # fmt: skip
    fig.update_xaxes(title="turn", dtick=1)
    fig.update_layout(title="Conversations: every turn resends the history")
    return fig


@dataclass(frozen=True)
class PerTurnSection:
    """What 30_latency shows for a conversation run: a sentence of its numbers (Markdown), the per-turn table, the figure."""

    intro: str
    table: Table
    figure: Any
    frame: pd.DataFrame


def per_turn_section(run: Run | str | Path, health: RunHealth | None = None) -> PerTurnSection | None:
    """The per-turn section of a conversation run (``PerTurnSection``); None for a run without conversation rows."""
    frame = per_turn_frame(run, health)
    if frame.empty:
        return None
    shown = frame.assign(cached_share=frame["cached_share"].map(lambda v: 100 * v if v is not None and pd.notna(v) else float("nan")))
    for column in ("prompt_tokens_mean", "completion_tokens_mean", "cost_usd_mean", "ttft_p50_s", "ttft_p90_s"):
        shown[column] = pd.to_numeric(shown[column], errors="coerce")
    view = table(shown.set_index("deployment"), labels=PER_TURN_LABELS, integer=["turn", "answered", "failed", "prompt_tokens_mean", "completion_tokens_mean"],
                 percent=["cached_share"], money={"cost_usd_mean": 6}, number={"ttft_p50_s": 3, "ttft_p90_s": 3},
                 missing={"cached_share": "not reported", "cost_usd_mean": "not per token", "ttft_p50_s": "not measured", "ttft_p90_s": "not measured"},
                 title="Per turn of the conversations")  # fmt: skip
    return PerTurnSection(per_turn_intro(frame), view, per_turn_figure(frame), frame)


def lateness_line(run: Run | str | Path) -> str | None:
    """For an open-loop run: how late this process sent its requests, per deployment (None for a closed loop)."""
    frame = lateness_frame(run)
    if frame.empty:
        return None
    parts = [f"{r.deployment}: p50 {r.lateness_p50_ms:.2f} ms, p99 {r.lateness_p99_ms:.2f} ms, max {r.lateness_max_ms:.1f} ms over {r.requests:,} requests"
             for r in frame.itertuples()]  # fmt: skip
    return ("**Sender lateness** (open-loop arrivals: how late *this process* sent each request against its schedule, in real ms; "
            "the client's own delay, not the service's, and not part of the latencies above): " + "; ".join(parts) + ".")  # fmt: skip


def cached_share_line(run: Run | str | Path) -> str | None:
    """When the servers reported cached prompt tokens: their share of the prompt tokens, per deployment (None when none reported)."""
    run = as_run(run)
    by: dict[str, list[int]] = {}
    for row in run.rows:
        if row.status in ANSWERED and row.usage is not None and row.usage.cached_tokens is not None:
            totals = by.setdefault(row.deployment, [0, 0])
            totals[0] += row.usage.cached_tokens
            totals[1] += row.usage.prompt_tokens
    if not by:
        return None
    parts = [f"{d}: {cached:,} of {prompt:,} prompt tokens ({cached / max(1, prompt):.1%})" for d, (cached, prompt) in sorted(by.items())]
    return ("**Cached prompt tokens** (as the servers reported them, `prompt_tokens_details.cached_tokens`): " + "; ".join(parts) + ". "
            "The costs here bill every prompt token at its full price (the price table has no cached-token price for these models); "
            "on fixed capacity a cache pays as time to first token and capacity, not as a lower token bill.")  # fmt: skip
