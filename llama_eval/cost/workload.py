"""Cost per request for the workload it holds for: the workload named next to capacity and cost, per conversation and per turn.

A capacity, and so what a request costs on machines billed by the hour, is true only for the traffic
it was measured with (a long shared prefix raises it, a growing conversation history lowers it); a
per-token cost is true for the token mix of the run it came from. ``workload_costs(run, options, sweeps)``
takes the run's ``CostOption``s (``projection.deployment_costs``, the figures every surface shows) and
gives one ``WorkloadCost`` per deployment:

* per token (serverless): the run's own workload (``run_workload``: prompt set, synth shape,
  conversations, arrivals), USD per request from the option;
* by the hour (managed, self-hosted): the workload of the sweep that measured its capacity
  (``SweepWorkload.describe()``), the capacity per instance at the SLO, USD per request = $/h ÷
  (3,600 × capacity); without a sweep, no capacity and no figure. Provisioned throughput (PTU) is
  sized from Microsoft's terms and the run's token mix: the run's workload.

Conversation runs (rows with a ``turn``) also get, per token, USD per turn (the mean cost of that
turn's answered requests) and per conversation (the mean, over conversations whose every turn was
answered and priced, of their turns' sum), from the rows' own costs. By the hour they get neither:
sweeps send single prompts (sweeps of conversation sets are refused), so no capacity of a conversation
workload exists, and the reason is said instead of a number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.load.slo import read_sweeps
from llama_eval.load.workload import SweepWorkload
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.records import ANSWERED
from llama_eval.rundir.run import Run, as_run

from .option import CostOption

THOUSAND = Decimal(1000)
NO_CONVERSATION_CAPACITY = "not measured: its capacity was swept with single prompts, not this conversation set (sweeps of conversation sets are refused)"


@dataclass(frozen=True)
class WorkloadCost:
    """One deployment's capacity and cost per request, and the workload they hold for."""

    deployment: str
    kind: str
    workload: str  # what the figures hold for: the sweep's workload (by the hour) or the run's (per token)
    capacity_rps: Decimal | None  # per instance at the SLO (by the hour; None: per token, or not measured)
    usd_per_request: Decimal | None
    conversations: int = 0  # conversations in the run (0: single prompts)
    usd_per_conversation: Decimal | None = None
    usd_per_turn: tuple[tuple[int, Decimal | None], ...] = ()  # (turn, mean USD) for conversation runs, per token
    note: str = ""  # why a figure is missing


def run_workload(run: Run | str | Path) -> str:
    """The run's workload in one phrase: its prompt set (a synth set's shape), its conversations and its arrivals."""
    run = as_run(run)
    record = run.manifest.prompt_set
    recipe = _recipe(record.path, record.sha256)
    prompts = SweepWorkload(prompt_set=record.path or "prompt set not recorded", items=record.items or 0, sha256=record.sha256, arrivals="closed",
                            recipe=recipe).describe_prompts()  # fmt: skip
    parts = [prompts]
    turns: dict[str, int] = {}
    for row in run.rows:
        if row.conversation_id is not None and row.turn is not None:
            turns[row.conversation_id] = max(turns.get(row.conversation_id, 0), row.turn)
    if turns:
        parts.append(f"{len(turns)} conversations of {min(turns.values())}-{max(turns.values())} turns, history resent every turn")
    parts.append(describe_arrivals(run.manifest.params.get("schedule")))
    return ", ".join(parts)


def _recipe(path: str | None, sha256: str | None) -> Mapping[str, Any] | None:
    """A synth set's recipe, read from the set when it is still the file the run used (same sha256); else None."""
    if not path or not sha256 or not Path(path).is_file():
        return None
    try:
        prompts = load_prompt_set(path)
    except (OSError, ValueError):
        return None
    return prompts.recipe if prompts.sha256 == sha256 and prompts.recipe else None


def describe_arrivals(schedule: Mapping[str, Any] | None) -> str:
    """A run's arrivals in words (its manifest's ``params.schedule``; None: closed loop), the one wording the cost table,
    the report's workload line and the decision share."""
    if not schedule:
        return "closed loop"
    recipe = schedule  # the manifest's params.schedule: the arrivals' recipe, with its size and span
    kind = recipe.get("kind")
    if kind == "trace":
        return f"replayed trace {Path(str(recipe.get('path'))).name} at {recipe.get('speedup')}x"
    if kind == "ramp":
        return f"open loop, Poisson arrivals ramping {recipe.get('start_rps')} -> {recipe.get('end_rps')} requests/s over {recipe.get('seconds')} s"
    if kind == "gamma":
        return f"open loop, gamma arrivals at {recipe.get('rate_rps')} requests/s (burstiness {recipe.get('burstiness')})"
    return f"open loop, Poisson arrivals at {recipe.get('rate_rps')} requests/s"


def _conversation_costs(rows: Sequence[Any]) -> tuple[int, Decimal | None, tuple[tuple[int, Decimal | None], ...]]:
    """(conversations, mean USD per whole conversation, mean USD per turn) of one deployment's conversation rows."""
    by_conversation: dict[str, list[Any]] = {}
    for row in rows:
        by_conversation.setdefault(row.conversation_id, []).append(row)
    turns = sorted({row.turn for row in rows})
    per_turn = []
    for turn in turns:
        answered = [r for r in rows if r.turn == turn and r.status in ANSWERED]
        priced = [Decimal(str(r.cost_usd)) for r in answered if r.cost_usd is not None and r.price_known]
        per_turn.append((turn, sum(priced, Decimal(0)) / len(priced) if priced and len(priced) == len(answered) else None))
    whole = []
    for conversation in by_conversation.values():
        if all(r.status in ANSWERED and r.cost_usd is not None and r.price_known for r in conversation) and len(conversation) == len(turns):
            whole.append(sum((Decimal(str(r.cost_usd)) for r in conversation), Decimal(0)))
    return len(by_conversation), (sum(whole, Decimal(0)) / len(whole) if whole else None), tuple(per_turn)


def workload_costs(
    run: Run | str | Path, options: Sequence[CostOption], sweeps: Iterable[str | Path] = (), *, slo: str | None = None
) -> tuple[WorkloadCost, ...]:
    """Per deployment of ``options`` (``deployment_costs(run, sweeps, ...)``): capacity and USD per request with the workload they hold for."""
    run = as_run(run)
    swept = read_sweeps(sweeps, slo)
    ours = run_workload(run)
    conversation_rows: dict[str, list[Any]] = {}
    for row in run.rows:
        if row.turn is not None:
            conversation_rows.setdefault(row.deployment, []).append(row)
    out = []
    for option in options:
        name = option.deployments[0] if option.deployments else option.label
        per_request = option.usd_per_1k_requests / THOUSAND if option.usd_per_1k_requests is not None and option.measured else None
        rows = conversation_rows.get(name, [])
        if option.fixed and option.ptu is None:  # PTUs are sized from Microsoft's terms and the run's token mix: the run's workload
            sweep = swept.get(name)
            said = sweep.workload.describe() if sweep is not None and sweep.workload is not None else None
            workload = said or ("workload not recorded (a sweep.json from before it was kept)" if sweep is not None else "no sweep: capacity not measured")
            conversations = len({r.conversation_id for r in rows})
            note = NO_CONVERSATION_CAPACITY if rows else option.note
            out.append(WorkloadCost(name, option.kind, workload, option.capacity_rps if option.measured else None, per_request, conversations, note=note))
            continue
        conversations, per_conversation, per_turn = _conversation_costs(rows) if rows else (0, None, ())
        out.append(WorkloadCost(name, option.kind, ours, None, per_request, conversations, per_conversation, per_turn, note=option.note))
    return tuple(out)


def workload_cost_frame(costs: Sequence[WorkloadCost]):
    """``workload_costs`` one row each: deployment, workload, capacity_rps, usd_per_request, and for conversation runs usd_per_conversation and usd_per_turn."""
    import pandas as pd  # imported on use: start-up time

    conversations = any(c.conversations for c in costs)
    rows = []
    for c in costs:
        row = {"deployment": c.deployment, "workload": c.workload, "capacity_rps": c.capacity_rps, "usd_per_request": c.usd_per_request}
        if conversations:
            row["usd_per_conversation"] = c.usd_per_conversation
            row["usd_per_turn"] = "; ".join(f"turn {t}: ${v:.6f}" if v is not None else f"turn {t}: no price" for t, v in c.usd_per_turn) or c.note
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["WorkloadCost", "run_workload", "workload_cost_frame", "workload_costs"]
