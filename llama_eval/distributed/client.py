"""One client of a distributed sweep: the body of a Ray actor (Ray itself is applied by ``executor``; nothing here imports it).

``ShardClient`` holds a ``ShardSweeper``: the single-process ``load.sweep.Sweeper`` with its part of
every level (``shard``), its level start set by the coordinator, and its finished rows handed to the
coordinator (``drain``) instead of written. So a client measures with the very code a single process
uses: the wire client, ``run.attempt.Requester``, the row format, the emulated-time handling (its
own probe reads the emulator's time scale, and the level's times are scaled as one process scales them).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.catalog.models import Catalog
from llama_eval.catalog.prices import PriceBook, price_for
from llama_eval.catalog.tokens import counter_for
from llama_eval.deployments.model import Deployment
from llama_eval.endpoint.wire import WireClient
from llama_eval.load.params import EARLY_S, RequestSample, Shard, SweepParams
from llama_eval.load.sweep import Sweeper
from llama_eval.prompts.prompt_set import PromptSet
from llama_eval.run.attempt import Requester
from llama_eval.run.lane import Lane
from llama_eval.run.pacing import QuotaPool
from llama_eval.run.policy import Budget

from .merge import Delivery


class ShardSweeper(Sweeper):
    """A sweeper that runs its shard of each level from the coordinator's start instant and keeps its rows for ``drain``."""

    def __init__(self, *args: Any, shard: Shard, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.shard = shard
        self.start_at = 0.0  # perf_counter instant the next level starts at
        self.start_late_s = 0.0
        self.out: list[Delivery] = []

    async def _level_start(self) -> float:
        target = self.start_at
        delay = target - time.perf_counter()
        if delay > EARLY_S:
            await asyncio.sleep(delay - EARLY_S)
        while time.perf_counter() < target:
            await asyncio.sleep(0)
        self.start_late_s = max(0.0, time.perf_counter() - target)  # > 0: the start instant had passed when the order arrived
        return target

    def _deliver(self, writer: Any, data: dict[str, Any], sample: RequestSample, start: float) -> None:
        self.out.append((data, sample.sent - start, sample.ended - start, sample.lateness_s))


class ShardClient:
    """Client ``index`` of ``count``: ``setup`` (probe, ready), ``clock`` (offset probes), ``run_level``, ``drain``, ``stop``."""

    def __init__(self, deployment: Deployment, prompts: PromptSet, params: SweepParams, prompt_tokens: dict[str, int], catalog: Catalog,
                 prices: PriceBook, index: int, count: int, env: dict[str, str] | None = None):  # fmt: skip
        os.environ.update(env or {})  # the deployment's key, as the coordinator's environment holds it
        self.said: list[str] = []
        self.sweeper = ShardSweeper(deployment, prompts, Path("."), params, prices=prices, catalog=catalog, progress="none",
                                    announce=self.said.append, shard=Shard(index, count))  # fmt: skip
        self.prompt_tokens = prompt_tokens
        self.lane: Lane | None = None
        self.requester: Requester | None = None

    async def setup(self) -> dict[str, Any]:
        """Probe the deployment from here and build the lane; the coordinator waits for every client's answer (the barrier)."""
        sw = self.sweeper
        d, p = sw.deployment, sw.params
        client = WireClient(d, sw.sessions, timeout=p.run.timeout_s, catalog=sw.catalog)
        probe = await client.probe()
        where = {"host": socket.gethostname(), "pid": os.getpid()}
        if not probe.ok:
            await client.close()
            await sw.sessions.close()
            return where | {"ok": False, "detail": probe.detail, "time_scale": probe.time_scale}
        sw.time_scale = probe.time_scale
        counter = counter_for(client.model.family if client.model else None)
        pool = QuotaPool(f"sweep:{d.name}:client{sw.shard.index}", None, None, None)  # the coordinator checks the quota per level
        self.lane = Lane(d, client, pool, price_for(sw.prices, d.model, d.kind), deque(), self.prompt_tokens, counter)
        budget = p.budget_usd / Decimal(sw.shard.count) if p.budget_usd is not None else None  # this client's share of the budget
        self.requester = Requester(p.run, Budget(budget), sw._stop_lane, checked=True)
        return where | {"ok": True, "detail": "", "time_scale": probe.time_scale}

    def clock(self) -> float:
        """This process's wall clock, for the coordinator's offset probes."""
        return time.time()

    async def run_level(self, index: int, load: float, start_wall: float, base_seq: int, session: int) -> dict[str, Any]:
        """Run this client's part of a level starting at ``start_wall`` (this client's wall clock, offset-corrected);
        ``base_seq``: the last row key's repeat before the level, ``session``: the sweep's session (rows of a resumed one carry it)."""
        sw = self.sweeper
        sw._seq, sw.session = base_seq, session
        sw.start_at = time.perf_counter() + (start_wall - time.time())
        level, _ = await sw._level(index, load, self.lane, self.requester, None)
        return {"stopped": sw.stopped, "stop_kind": sw.stop_kind, "start_late_s": sw.start_late_s, "window": sw.window,
                "loop_lag_p99_ms": level.loop_lag_p99_ms, "saturated": level.saturated}  # fmt: skip

    def drain(self) -> list[Delivery]:
        """The rows finished since the last call (the coordinator writes them to results.jsonl as they come)."""
        out, self.sweeper.out = self.sweeper.out, []
        return out

    def stop(self, why: str) -> None:
        """No new requests (those in flight finish and are delivered): another client was lost."""
        self.sweeper.stopped = why

    async def close(self) -> None:
        if self.lane is not None:
            await self.lane.client.close()
        await self.sweeper.sessions.close()
