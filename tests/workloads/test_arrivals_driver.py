"""The open-loop driver on its own: each request leaves at its offset without waiting for earlier answers; a resume shifts the schedule."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

from llama_eval.prompts.prompt_set import PromptItem, PromptSet
from llama_eval.records import ResultRow, Status
from llama_eval.run.arrivals_driver import drive_lane, offsets_by_request
from llama_eval.run.params import SendSchedule


@dataclass
class FakeLane:
    """The parts of a lane the driver reads: its queue, whether it was stopped, its name."""

    queue: deque
    name: str = "d"
    dead: str | None = None
    sent: list = field(default_factory=list)
    time_scale: float = 1.0  # the emulator's, learnt by the probe; 1.0 for a real service


def items(n: int) -> PromptSet:
    from pathlib import Path

    return PromptSet(Path("p.jsonl"), tuple(PromptItem(f"q{i}", ({"role": "user", "content": "x"},)) for i in range(n)), "sha")


def run_driver(lane: FakeLane, schedule: SendSchedule, prompts: PromptSet, repeats: int, *, hold_until_all_sent: bool = False) -> list[ResultRow]:
    """Drive ``lane``; with ``hold_until_all_sent`` no answer comes back before every request was sent (a closed loop would never finish)."""
    recorded: list[ResultRow] = []

    async def main() -> None:
        everything_sent = asyncio.Event()
        total = len(lane.queue)

        async def send(lane: FakeLane, item: PromptItem, repeat: int) -> ResultRow:
            lane.sent.append((item.id, repeat, time.perf_counter()))
            if len(lane.sent) == total:
                everything_sent.set()
            if hold_until_all_sent:
                await everything_sent.wait()
            return ResultRow(f"d|{item.id}|{repeat}", "d", None, "api", item.id, repeat, Status.OK)

        driven = drive_lane(lane, offsets_by_request(schedule, prompts, repeats), send, lambda _lane, row: recorded.append(row), asyncio.Event())
        await asyncio.wait_for(driven, timeout=30)

    asyncio.run(main())
    return recorded


def test_requests_leave_on_schedule_even_while_earlier_ones_are_unanswered():
    prompts = items(5)
    schedule = SendSchedule((0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45))
    lane = FakeLane(deque((item, repeat) for repeat in range(2) for item in prompts))
    rows = run_driver(lane, schedule, prompts, 2, hold_until_all_sent=True)  # no answer before the last request is sent
    assert len(rows) == 10 and not lane.queue
    assert [(i, r) for i, r, _ in lane.sent] == [(item.id, repeat) for repeat in range(2) for item in prompts], "in schedule order"
    start = lane.sent[0][2]
    assert all(t - start >= offset - 0.001 for (_, _, t), offset in zip(lane.sent, schedule.offsets, strict=True)), "never early"
    by_key = {(r.prompt_id, r.repeat): r for r in rows}
    assert by_key[("q2", 1)].scheduled_s == 0.35 and all(r.sender_lateness_s >= 0 for r in rows)
    assert all(abs(r.sent_s - r.scheduled_s - r.sender_lateness_s) < 1e-5 for r in rows)


def test_offsets_are_the_services_seconds_one_clock_with_the_emulator():
    """At time scale 0.1 (the emulator 10x fast) a schedule of 1 request per service second sends 10 a real second."""
    prompts = items(4)
    schedule = SendSchedule((0.0, 1.0, 2.0, 3.0))
    lane = FakeLane(deque((item, 0) for item in prompts), time_scale=0.1)
    rows = run_driver(lane, schedule, prompts, 1)
    start = lane.sent[0][2]
    real = [t - start for _, _, t in lane.sent]
    assert all(r >= 0.1 * offset - 0.001 for r, offset in zip(real, schedule.offsets, strict=True)), ("never early", real)
    assert real[-1] < 1.5, f"the last request left {real[-1]:.3f} real s after the first: the schedule was read in real seconds"
    assert [r.scheduled_s for r in rows] == [0.0, 1.0, 2.0, 3.0], "scheduled in the service's seconds"
    assert all(r.sender_lateness_s >= 0 for r in rows)
    assert all(abs((r.sent_s - r.scheduled_s) * 0.1 - r.sender_lateness_s) < 1e-4 for r in rows), "sent_s in service seconds, lateness in real ones"
    zero = FakeLane(deque((item, 0) for item in prompts), time_scale=0.0)
    run_driver(zero, SendSchedule((0.0, 0.05, 0.1, 0.15)), prompts, 1)
    assert zero.sent[-1][2] - zero.sent[0][2] >= 0.149, "time scale 0 has no emulated time: real seconds"


def test_a_resumed_lane_sends_what_is_left_on_the_same_schedule_shifted_to_start_now():
    prompts = items(4)
    schedule = SendSchedule((0.0, 0.1, 0.2, 0.3))
    left = deque([(prompts.items[2], 0), (prompts.items[3], 0)])  # the first two were done in an earlier session
    rows = run_driver(FakeLane(left), schedule, prompts, 1)
    assert [r.prompt_id for r in rows] == ["q2", "q3"]
    assert [r.scheduled_s for r in rows] == [0.0, 0.1], "the remaining requests keep their gaps, from now"


def test_schedule_must_fit_the_requests():
    import pytest

    from llama_eval.errors import RunError

    with pytest.raises(RunError, match="3 send times for 4 requests"):
        SendSchedule((0.0, 1.0, 2.0)).check(4)
    with pytest.raises(RunError, match="never decrease"):
        SendSchedule((0.0, 2.0, 1.0)).check(3)
