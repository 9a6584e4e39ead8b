"""The coordinator of a distributed sweep: ``RaySweeper`` runs the single-process sweep with each level split over Ray actors.

It is the ``load.sweep.Sweeper`` (same plan, probe, manifest, quota checks, SLO judging, stop rules,
resume) with one step replaced: a level. For a level it

1. chooses the level's start a few hundred ms ahead on its own wall clock (``RayExecutor.lead_s`` plus
   the slowest client's round trip) and sends each client that instant shifted by the client's
   measured clock offset (``clock``) — the barrier: every client was set up and answered before;
2. collects every client's finished rows every ``POLL_S`` and writes them to ``results.jsonl`` at once
   (so a lost client's delivered rows are on disk);
3. summarises the level from the merged raw rows (``load.levels.summarise_level`` over ``merge.to_samples``),
   never from per-client summaries.

A client that dies mid-level (``ray.kill``, a lost node) stops the sweep with ``stop_kind``
``client-lost``: the message names the client and the rows it delivered; the others stop sending and
deliver what was in flight; ``--resume`` measures that level again with every client.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace
from typing import Any

from llama_eval.errors import LevelAborted, SweepError
from llama_eval.load.levels import summarise_level
from llama_eval.load.objectives import RequestOutcome, SweepLevel
from llama_eval.load.params import STOP_CLIENT_LOST, RequestSample
from llama_eval.load.sweep import Sweeper, request_outcomes
from llama_eval.run.lane import Lane

from .clock import ClockOffset, estimate_offset, uncertainty_s
from .merge import to_samples

POLL_S = 0.25  # how often the coordinator collects finished rows from its clients


class RaySweeper(Sweeper):
    def __init__(self, *args: Any, executor: Any, **kwargs: Any):  # executor: the RayExecutor that made it
        super().__init__(*args, **kwargs)
        self.executor = executor
        self.actors: list[Any] = []
        self.offsets: list[ClockOffset] = []
        self.where: list[dict[str, Any]] = []
        self.start_late_s = 0.0
        self.lost: list[dict[str, Any]] = []
        self.ray: Any = None  # the ray module, once connected
        self._lost: tuple[int, str] | None = None  # (client, error) of a client lost in the current level

    # ---------------------------------------------------------------- the clients
    async def _run_levels(self, levels: list[SweepLevel], lane: Lane, requester: Any, writer: Any) -> None:
        ray = self.ray = self.executor.connect()
        try:
            await self._start_clients(ray, lane)
            await super()._run_levels(levels, lane, requester, writer)
        finally:
            for actor in self.actors:
                try:
                    await asyncio.wait_for(asyncio.wrap_future(actor.close.remote().future()), timeout=5)
                except Exception:  # noqa: BLE001, S110 - a lost or stuck actor is killed below all the same
                    pass
                ray.kill(actor)

    async def _start_clients(self, ray: Any, lane: Lane) -> None:
        d, n = self.deployment, self.executor.clients
        # the key travels to the clients as an argument (each sets it in its own environment), not in a runtime_env: a runtime_env
        # would start a fresh worker pool for it (seconds per client), and Ray keeps either in its task specs the same way
        env = {d.key_env: os.environ[d.key_env]} if d.key_env and d.key_env in os.environ else {}
        options: dict[str, Any] = {"num_cpus": 1, "scheduling_strategy": "SPREAD", "max_concurrency": 1000}
        cls = self.executor.actor_class()
        self.actors = [cls.options(**options).remote(d, self.prompts, self.params, dict(lane.prompt_tokens), self.catalog, self.prices, k, n, env)
                       for k in range(n)]  # fmt: skip
        ready = await asyncio.gather(*(self._call(actor.setup) for actor in self.actors))  # the barrier: every client probed and ready
        for k, answer in enumerate(ready):
            if not answer["ok"]:
                raise SweepError(f"client {k} ({answer['host']}) could not reach the deployment: {answer['detail']}; nothing was measured")
            if abs(answer["time_scale"] - self.time_scale) > 1e-9:
                raise SweepError(f"client {k} sees time scale {answer['time_scale']:g}, the coordinator {self.time_scale:g}: "
                                 "every client must load the same service")  # fmt: skip
        self.where = [{"host": a["host"], "pid": a["pid"]} for a in ready]
        self.offsets = [await self._offset(k, actor) for k, actor in enumerate(self.actors)]
        spread = uncertainty_s(self.offsets)
        self.announce(f"{d.name}: {n} Ray clients ready on {len({w['host'] for w in self.where})} host(s); "
                      f"clock offset uncertainty ±{1000 * spread:.1f} ms")  # fmt: skip

    async def _call(self, method: Any, *args: Any) -> Any:
        return await asyncio.wrap_future(method.remote(*args).future())

    async def _offset(self, k: int, actor: Any) -> ClockOffset:
        probes = []
        for _ in range(self.executor.clock_probes):
            t0 = time.time()
            tc = await self._call(actor.clock)
            probes.append((t0, tc, time.time()))
        return estimate_offset(k, probes)

    def record_extra(self) -> dict[str, Any]:
        spread = uncertainty_s(self.offsets)
        return {"clients": self.executor.describe() | {
            "clients": [o.to_json() | w for o, w in zip(self.offsets, self.where, strict=False)],
            "clock_offset_uncertainty_ms": round(1000 * spread, 3),
            "uncertainty_note": (f"clock offset uncertainty ±{1000 * spread:.1f} ms: the shards' start instants, and so the alignment of their rows "
                                 "on one timeline (a level's throughput span), may be off by this much; latencies are measured "
                                 "within one client and carry none of it"),
            "latest_start_ms": round(1000 * self.start_late_s, 3),
            "lost": self.lost,
            "split": "closed loop: slots and measured requests dealt evenly; open loop: the one seeded schedule dealt round-robin",
        }}  # fmt: skip

    # ---------------------------------------------------------------- one level
    async def _level(self, index: int, load: float, lane: Lane, requester: Any, writer: Any) -> tuple[SweepLevel, list[RequestOutcome]]:
        ray = self.ray
        p, scale, closed = self.params, self.time_scale, self.params.mode == "closed"
        base = self._seq
        lead = self.executor.lead_s + max((o.rtt_s for o in self.offsets), default=0.0)
        start_wall = time.time() + lead
        start = time.perf_counter() + lead  # the same instant on this process's monotonic clock
        runs = {k: asyncio.wrap_future(actor.run_level.remote(index, load, start_wall + self.offsets[k].offset_s, base, self.session).future())
                for k, actor in enumerate(self.actors)}  # fmt: skip
        samples: list[RequestSample] = []
        seen: set[str] = set()
        delivered = [0] * len(self.actors)
        results: dict[int, dict[str, Any]] = {}

        async def collect(k: int) -> None:
            rows = await self._call(self.actors[k].drain)
            for data, *_ in rows:
                writer.write(data)
            samples.extend(to_samples(rows, start, seen))
            delivered[k] += len(rows)

        try:
            await self._poll(index, runs, results, collect, ray)
        except asyncio.CancelledError:  # Ctrl-C: the clients stop sending; what they finished is written before the sweep stops
            await self._drain_on_interrupt(runs, collect)
            raise
        lost = self._lost
        if lost is not None:
            await self._abort(index, lost, runs, results, collect, delivered, ray)
        for k in range(len(self.actors)):  # rows finished between the last poll and the end of the client's level
            await collect(k)
        self._seq = max([base, *(s.row.repeat for s in samples)])
        for k in sorted(results):
            answer = results[k]
            self.start_late_s = max(self.start_late_s, answer["start_late_s"])
            if answer["stopped"] and not self.stopped:
                self.stopped, self.stop_kind = f"client {k}: {answer['stopped']}", answer["stop_kind"]
        windows = [r["window"] for r in results.values() if r["window"] is not None]
        window = (start + min(w[0] for w in windows), start + max(w[1] for w in windows)) if windows else None
        lags = [r["loop_lag_p99_ms"] for r in results.values() if r["loop_lag_p99_ms"] is not None]
        saturated = any(r["saturated"] for r in results.values())
        lane.latencies.clear()
        level = summarise_level(index, load, closed, samples, window, scale, max(lags) if lags else None, saturated)
        level = replace(level, arrivals=p.arrivals, burstiness=p.burstiness if p.arrivals == "gamma" else None)
        return level, request_outcomes(samples, scale)

    async def _poll(self, index: int, runs: dict, results: dict, collect: Any, ray: Any) -> None:
        """Until every client's level has returned or one is lost (``self._lost``): collect finished rows every POLL_S."""
        self._lost = lost = None
        while len(results) < len(runs) and lost is None:
            await asyncio.wait([f for k, f in runs.items() if k not in results], timeout=POLL_S)
            for k, future in runs.items():
                if k in results or not future.done():
                    continue
                try:
                    results[k] = future.result()
                except ray.exceptions.RayActorError as exc:
                    lost = (k, f"{type(exc).__name__}")
                    break
                except ray.exceptions.RayTaskError as exc:
                    raise SweepError(f"client {k} failed in level {index}: {exc}") from exc
            for k in range(len(self.actors)):
                if lost is not None and k == lost[0]:
                    continue
                try:
                    await collect(k)
                except ray.exceptions.RayActorError as exc:
                    lost = lost or (k, type(exc).__name__)
        self._lost = lost

    async def _drain_on_interrupt(self, runs: dict, collect: Any) -> None:
        for actor in self.actors:
            try:
                actor.stop.remote("interrupted")
            except Exception:  # noqa: BLE001, S110 - a client already gone has nothing more to give
                pass
        await asyncio.wait(list(runs.values()), timeout=10)
        for k in range(len(self.actors)):
            try:
                await asyncio.wait_for(collect(k), timeout=5)
            except Exception:  # noqa: BLE001, S110 - as above
                pass

    async def _abort(self, index: int, lost: tuple[int, str], runs: dict, results: dict, collect: Any, delivered: list[int], ray: Any) -> None:
        """A client died: the others stop sending and deliver what they had in flight; the level is aborted, its rows kept."""
        k, kind = lost
        why = f"client {k} was lost"
        for j, actor in enumerate(self.actors):
            if j != k:
                try:
                    actor.stop.remote(why)
                except Exception:  # noqa: BLE001, S110 - another one lost at the same time: reported by its own collect
                    pass
        for j, future in runs.items():
            if j == k or j in results:
                continue
            try:
                results[j] = await future
            except ray.exceptions.RayActorError:
                pass
        for j in range(len(self.actors)):
            if j != k:
                try:
                    await collect(j)
                except ray.exceptions.RayActorError:
                    pass
        self.lost.append({"client": k, "level": index, "rows_delivered": delivered[k], "error": kind})
        raise LevelAborted(f"client {k} of {len(self.actors)} was lost during level {index} ({kind}) after delivering {delivered[k]} rows; "
                           f"every delivered row is in results.jsonl ({sum(delivered)} from this level); --resume measures level {index} "
                           "again with every client", STOP_CLIENT_LOST)  # fmt: skip
