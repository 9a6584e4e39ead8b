"""The workload sections of a report: per-turn cost and TTFT of conversation sets, and the sender's lateness of open-loop runs.

``per_turn_frame(run)``: one row per (deployment, turn) of a conversation run — how many turns were
answered and failed, mean prompt and completion tokens (the prompt grows by every answer the
history carries), the share of prompt tokens the server served from its prefix cache (None where it
reports none), mean cost per request (serverless: tokens x price; None where the price is not
per token) and TTFT p50/p90 in the service's own time (measured / the emulator's time scale;
warm-up rows and deployments whose timing cannot be trusted left out, as in the latency section).
``lateness_frame(run)``: per deployment, how late this process sent open-loop requests. ``describe_workload``:
one line naming a workload (set shape, conversations, arrivals) to state next to a capacity or a decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llama_eval.records import ANSWERED, percentile
from llama_eval.rundir.health import RunHealth, assess_run
from llama_eval.rundir.run import Run, as_run

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
    if schedule:
        kind = schedule.get("kind")
        if kind == "trace":
            parts.append(f"replayed trace {Path(str(schedule.get('path'))).name} at {schedule.get('speedup')}x")
        elif kind == "ramp":
            parts.append(f"Poisson arrivals ramping {schedule.get('start_rps')} -> {schedule.get('end_rps')} requests/s over {schedule.get('seconds')} s")
        elif kind == "gamma":
            parts.append(f"gamma arrivals at {schedule.get('rate_rps')} requests/s, burstiness {schedule.get('burstiness')}")
        else:
            parts.append(f"Poisson arrivals at {schedule.get('rate_rps')} requests/s")
    else:
        parts.append("closed loop")
    return "; ".join(parts)
