"""Playing conversation prompt sets: each conversation in order, its history carrying the model's own answers.

A prompt item with ``turns`` is a conversation. Turn k is sent with the system message, turns
1..k-1 and the answers *this deployment* gave to them, then turn k: the history a chat application
resends, growing every turn. Each turn is one request and one row (``prompt_id`` ``<id>#<k>``, and
``conversation_id``/``turn`` on the row), so cost, latency and quality read per turn.

``concurrency`` conversations of a deployment are played at once (each one's turns strictly in
order); single-prompt items of the same set are sent as usual by the same workers. A turn that
fails ends its conversation: its row keeps the reason, the later turns are not sent and the
conversation stays in the lane's queue (not run, so the run is ``incomplete``). ``--resume`` plays
it again from its first turn without an answer, rebuilding the history from the answers on disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from llama_eval.prompts.prompt_set import PromptItem, turn_id
from llama_eval.records import ANSWERED, ResultRow
from llama_eval.rundir.store import final_rows, read_rows, row_key

from .lane import Lane

Send = Callable[[Lane, PromptItem, int], Awaitable[ResultRow | None]]
Record = Callable[[Lane, ResultRow], None]


def answers_on_disk(run_dir: Path) -> dict[str, str]:
    """Row key -> answer text of every answered row already in ``run_dir`` (what a resumed conversation's history is made of)."""
    if not (run_dir / "results.jsonl").exists():
        return {}
    return {key: row.get("response_text") or "" for key, row in final_rows(read_rows(run_dir)).items() if row["status"] in ANSWERED}


async def play(lane: Lane, item: PromptItem, repeat: int, send: Send, record: Record, answered: Mapping[str, str]) -> str | None:
    """Play one conversation on ``lane``; None when every turn was answered, else why it ended ("stopped": not by a failed turn)."""
    history: list[Any] = list(item.messages[:-1])  # the system message, if any
    for k, text in enumerate(item.turns, start=1):
        history.append({"role": "user", "content": text})
        turn = item.turn(k, tuple(history))
        done = answered.get(row_key(lane.name, turn.id, repeat))
        if done is not None:  # answered in an earlier session: its answer is part of the history
            history.append({"role": "assistant", "content": done})
            continue
        lane.prompt_tokens[turn.id] = lane.counter.count_chat(turn.messages)  # the quota reservation and the budget read it
        row = await send(lane, turn, repeat)
        if row is None:
            return "stopped"
        record(lane, replace(row, conversation_id=item.id, turn=k))
        if not row.status.answered:
            return f"turn {k} of conversation {item.id!r} failed ({row.status.value}: {row.error_message or 'no answer'}); its later turns were not sent"
        history.append({"role": "assistant", "content": row.response_text or ""})
    return None


async def drive_conversations(
    lane: Lane, workers: int, send: Send, record: Record, stop: asyncio.Event, answered: Mapping[str, str], announce: Callable[[str], None],
) -> None:  # fmt: skip
    """``workers`` at once take items off ``lane.queue``: a conversation is played turn by turn, a single prompt sent once.

    Conversations a failed turn ended, and those cut off by a stop, go back into ``lane.queue`` when
    every worker is done (so they count as not run and ``--resume`` continues them).
    """
    unfinished: list[tuple[PromptItem, int]] = []
    # progress counts requests: a conversation is as many as its turns not yet answered
    lane.total = sum(
        sum(row_key(lane.name, turn_id(item.id, k), repeat) not in answered for k in range(1, len(item.turns) + 1)) if item.turns else 1
        for item, repeat in lane.queue
    )

    async def worker() -> None:
        while lane.queue and not stop.is_set() and lane.dead is None:
            item, repeat = lane.queue.popleft()
            try:
                if item.turns:
                    why = await play(lane, item, repeat, send, record, answered)
                    if why is not None:
                        unfinished.append((item, repeat))
                        if why != "stopped":
                            announce(f"deployment {lane.name!r}: {why}; --resume continues it")
                    continue
                row = await send(lane, item, repeat)
            except asyncio.CancelledError:
                unfinished.append((item, repeat))
                raise
            if row is None:
                unfinished.append((item, repeat))
                return
            record(lane, row)

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    finally:
        lane.queue.extend(unfinished)
