"""Open-loop sending: each request of a lane leaves at its scheduled instant, whatever the others do.

``RunParams(schedule=SendSchedule(...))`` (``params``) replaces the closed loop (``concurrency`` workers, each
sending its next request when its last one ends) with a schedule of send offsets, one per request
in the run's order (repeat by repeat, item by item: ``llama_eval.load.arrivals`` makes them). Every
deployment of the run gets the same schedule. A request is sent at its offset even when earlier
ones have not answered; only a quota pool's own concurrency cap can hold it (that wait is the row's
``queue_wait_s``, as always).

Offsets are in the service's seconds: against the emulator at time scale 0.05 (20x fast) a rate of 4
requests/s is 4 per *emulated* second, as sweeps and quotas count it (one clock, issue 29); a real
service and time scale 0 (no delays, no emulated time) are real seconds. Every row records
``scheduled_s`` and ``sent_s`` (the service's seconds from the schedule's start) and
``sender_lateness_s``: how late *this process* sent it, in real seconds (the sender's own delay is
this machine's, whatever the service's clock), so a busy client is never read as a slow service.
A resumed run sends what is left on the same schedule, shifted so that the first remaining request
goes at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace

from llama_eval.prompts.prompt_set import PromptItem, PromptSet
from llama_eval.records import ResultRow

from .lane import Lane
from .params import SendSchedule

# the loop's timers wake up to ~1 ms late (epoll's timeout is rounded up to the millisecond): sleep until this
# much before the instant, then yield to the other callbacks until the instant itself. 1 ms, not 2: the spin is
# CPU this process takes from the service and the others on a shared machine (benchmarks/RESULTS.md: ~17% less
# CPU over a 200 requests/s replay, lateness p99 the same against a bare loop measured at the same time)
EARLY_S = 0.001
LONG_WAIT_S = 0.25


def offsets_by_request(schedule: SendSchedule, prompts: PromptSet, repeats: int) -> dict[tuple[str, int], float]:
    """(item id, repeat) -> its scheduled offset, in the run's order (repeat by repeat, item by item)."""
    keys = [(item.id, repeat) for repeat in range(repeats) for item in prompts]
    return dict(zip(keys, schedule.offsets, strict=True))


async def drive_lane(
    lane: Lane,
    offsets: Mapping[tuple[str, int], float],
    send: Callable[[Lane, PromptItem, int], Awaitable[ResultRow | None]],
    record: Callable[[Lane, ResultRow], None],
    stop: asyncio.Event,
) -> None:
    """Send every queued request of ``lane`` at its instant; ``record`` each row as it finishes.

    Stopped (``stop`` set, the lane stopped, or cancelled): nothing more is sent; what was not sent
    stays in ``lane.queue`` (not run, left for ``--resume``), and requests cut off are put back too.
    """
    if not lane.queue:
        return
    shift = min(offsets[(item.id, repeat)] for item, repeat in lane.queue)
    scale = lane.time_scale if getattr(lane, "time_scale", 0) > 0 else 1.0  # real seconds per service second
    perf = time.perf_counter
    start = perf()
    in_flight: set[asyncio.Task] = set()

    async def one(item: PromptItem, repeat: int, offset: float, instant: float) -> None:
        sent = perf()
        try:
            row = await send(lane, item, repeat)
        except asyncio.CancelledError:
            lane.queue.appendleft((item, repeat))
            raise
        if row is None:  # the deployment was stopped before this request was sent
            lane.queue.appendleft((item, repeat))
            return
        record(lane, replace(row, scheduled_s=round(offset, 6), sent_s=round((sent - start) / scale, 6), sender_lateness_s=round(sent - instant, 6)))

    try:
        while lane.queue and not stop.is_set() and lane.dead is None:
            item, repeat = lane.queue[0]
            offset = offsets[(item.id, repeat)] - shift
            instant = start + offset * scale
            delay = instant - perf()
            if delay > LONG_WAIT_S:  # a long gap: wake at once on a stop (Ctrl-C)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay - EARLY_S)
                except TimeoutError:
                    pass
            elif delay > EARLY_S:  # a short one: a plain timer, cheaper than a waiting task on a busy loop
                await asyncio.sleep(delay - EARLY_S)
            if stop.is_set() or lane.dead is not None:
                break
            while perf() < instant:
                await asyncio.sleep(0)
            lane.queue.popleft()
            task = asyncio.create_task(one(item, repeat, offset, instant))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.gather(*in_flight)
    finally:
        for task in list(in_flight):
            task.cancel()
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
