"""Drives a planned run: one lane per deployment, its workers, the signals, the end of the session.

Each deployment has its own workers, so a slow one never blocks a fast one; each quota pool paces
its deployments. Before the first paid request every deployment is probed once; one whose probe
fails is stopped with the reason and costs nothing. Ctrl-C stops scheduling and gives in-flight
requests ``grace_s`` to finish (a second Ctrl-C cancels them); the directory stays resumable.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from llama_eval.catalog.models import Catalog
from llama_eval.catalog.prices import PriceBook
from llama_eval.deployments.model import Deployment
from llama_eval.endpoint.emulator_hook import EmulatorHook
from llama_eval.endpoint.sdk import SdkClient
from llama_eval.endpoint.wire import SessionPool, WireClient
from llama_eval.errors import EndpointError
from llama_eval.prompts.prompt_set import PromptSet
from llama_eval.records import ResultRow
from llama_eval.rundir.store import ResultsWriter, write_parquet

from .arrivals_driver import drive_lane, offsets_by_request
from .attempt import Requester, now_iso
from .conversation import answers_on_disk, drive_conversations
from .heap import frozen_heap
from .lane import Lane, RunClient, build_lanes
from .output import RunLock, manifest, redact_url, write_manifest
from .params import RunParams, RunSummary
from .plan import Plan
from .policy import Budget
from .progress import LagMonitor, Progress, saturation_message


class Scheduler:
    def __init__(self, deployments: Sequence[Deployment], prompts: PromptSet, run_dir: Path, params: RunParams, plan: Plan, *,
                 prices: PriceBook, catalog: Catalog, progress: str, announce: Callable[[str], None],
                 on_emulator: EmulatorHook | None = None):  # fmt: skip
        self.deployments, self.prompts, self.run_dir, self.params, self.plan = list(deployments), prompts, run_dir, params, plan
        self.prices, self.catalog, self.progress_mode, self.announce = prices, catalog, progress, announce
        self.on_emulator = on_emulator
        self.summary = RunSummary(run_dir, "running", skipped_done=0)
        self.stop = asyncio.Event()
        self.sessions = SessionPool()
        # the plan checked every prompt against every deployment with these same parameters: no second check per request
        self.requester = Requester(params, Budget(params.budget_usd), self._stop_lane, checked=True)
        self._interrupts = 0
        self._workers: list[asyncio.Task] = []

    # ---------------------------------------------------------------- the session
    async def run(self) -> RunSummary:
        started = time.monotonic()
        with RunLock(self.run_dir):
            record = manifest(self.run_dir, fingerprint=self.plan.fingerprint, prompts=self.prompts, prices=self.prices, catalog=self.catalog,
                              params=self.params.to_json(), estimates=self.plan.estimates_json(), now=now_iso())  # fmt: skip
            write_manifest(self.run_dir, record)
            writer = ResultsWriter(self.run_dir)
            lanes: dict[str, Lane] = {}
            lag: LagMonitor | None = None
            progress: Progress | None = None
            watcher = None
            signals = self._install_signal_handler()
            try:
                lanes.update(self._lanes())
                lag = LagMonitor(lanes)
                if self.params.probe:
                    await self._probe(lanes)
                progress = Progress(lanes, self.progress_mode)
                watcher = asyncio.create_task(lag.watch())
                with frozen_heap():  # no collector pass over start-up objects while requests are timed
                    await self._drive(lanes, writer, progress)
            except asyncio.CancelledError:  # Ctrl-C before our handler was in place (asyncio.run cancels the run)
                self.stop.set()
                raise
            finally:
                if watcher is not None:
                    watcher.cancel()
                if progress is not None:
                    progress.close()
                for lane in lanes.values():
                    lane.loop_lag = lag.verdict(lane) if lag is not None else None
                    await lane.client.close()
                await self.sessions.close()
                writer.close()
                self._finish(record, lanes, started)
                if signals:
                    asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
        return self.summary

    def _finish(self, record: dict, lanes: dict[str, Lane], started: float) -> None:
        s = self.summary
        s.not_run = sum(len(lane.queue) for lane in lanes.values()) if lanes else len(self.deployments) * len(self.prompts) * self.params.repeats
        s.duration_s = time.monotonic() - started
        s.retries, s.cost_usd = self.requester.retries, self.requester.cost
        s.loop_lag = {name: lane.loop_lag for name, lane in lanes.items() if lane.loop_lag is not None}
        s.stopped = {name: lane.dead for name, lane in lanes.items() if lane.dead}
        if self.stop.is_set():
            s.status = "interrupted"
        else:
            s.status = "completed" if s.not_run == 0 else "incomplete"
        message = saturation_message(s.loop_lag)
        if message:
            self.announce(message)
        deployments = record.setdefault("deployments", {})
        for name, lane in lanes.items():
            entry = deployments.setdefault(name, {})
            entry.update(time_scale=lane.time_scale, warmup_requests=min(self.params.warmup, lane.started))
            if lane.probe is not None:
                entry["probe"] = lane.probe.to_json()
            if lane.emulator_taught is not None:
                entry["emulator_taught"] = lane.emulator_taught
            if lane.loop_lag is not None:
                entry["loop_lag"] = lane.loop_lag.to_json()
        record.update(status=s.status, finished_at=now_iso(), summary=self._summary_record(lanes))
        write_manifest(self.run_dir, record)
        if s.status == "completed":
            write_parquet(self.run_dir)

    def _summary_record(self, lanes: dict[str, Lane]) -> dict:
        s = self.summary
        return {
            "rows_written": s.rows_written,
            "by_status": dict(s.by_status),
            "already_done": s.skipped_done,
            "not_run": s.not_run,
            "retries": s.retries,
            "cost_usd": str(s.cost_usd),
            "stopped_deployments": s.stopped,
            "rate_limited_by_pool": {lane.pool.name: lane.pool.rate_limited for lane in lanes.values()},
            "client": self.params.client,
        }

    # ---------------------------------------------------------------- lanes and probes
    def _client(self, d: Deployment) -> RunClient:
        if self.params.client == "sdk":
            return SdkClient(d, timeout=self.params.timeout_s, catalog=self.catalog)
        return WireClient(d, self.sessions, timeout=self.params.timeout_s, catalog=self.catalog)

    def _lanes(self) -> dict[str, Lane]:
        lanes = build_lanes(self.deployments, self.prompts, self.params, self.plan, self._client, prices=self.prices, catalog=self.catalog)
        self.summary.skipped_done = sum(self.params.repeats * len(self.prompts) - lane.total for lane in lanes.values())
        return lanes

    async def _probe(self, lanes: dict[str, Lane]) -> None:
        async def one(lane: Lane) -> None:
            prober = (
                lane.client
                if isinstance(lane.client, WireClient)
                else WireClient(lane.deployment, self.sessions, timeout=min(30.0, self.params.timeout_s), catalog=self.catalog)
            )
            lane.probe = await prober.probe()
            lane.time_scale = lane.probe.time_scale
            lane.pool.set_time_scale(lane.time_scale)  # one clock: pace to the quota in the service's minutes
            if not lane.probe.ok:
                self._stop_lane(lane, f"the probe before any request failed at {redact_url(lane.deployment.resolve_endpoint())}: {lane.probe.detail}")

        await asyncio.gather(*(one(lane) for lane in lanes.values() if lane.queue))
        if self.on_emulator is not None:
            await self._teach(self.on_emulator, [lane for lane in lanes.values() if lane.probe is not None and lane.probe.ok and lane.probe.emulator])

    async def _teach(self, hook: EmulatorHook, lanes: list[Lane]) -> None:
        """Call the ``on_emulator`` hook once per emulator origin (e.g. ``teach_emulator``: one POST of the run's prompts).

        Only lanes whose probe saw the emulator's marker header come here: a real service is never sent
        this. A failure costs the run nothing but scorable answers, so it is announced, not raised.
        """
        by_origin: dict[str, list[Lane]] = {}
        for lane in lanes:
            parts = urlsplit(lane.deployment.resolve_endpoint())
            by_origin.setdefault(f"{parts.scheme}://{parts.netloc}", []).append(lane)
        for origin, group in by_origin.items():
            first = group[0].deployment
            key = first.resolve_key() if first.auth == "key" else None
            try:
                learned = await asyncio.to_thread(hook, origin, self.prompts, key=key or None, timeout_s=min(30.0, self.params.timeout_s))
            except EndpointError as exc:
                self.announce(f"could not teach the emulator at {redact_url(origin)} the run's prompts ({exc}); its answers to them cannot be scored fairly")
                continue
            for lane in group:
                lane.emulator_taught = learned

    def _stop_lane(self, lane: Lane, why: str) -> None:
        if lane.dead is None:
            lane.dead = why
            self.announce(f"deployment {lane.name!r} stopped: {why}. Other deployments go on; its remaining requests are left for --resume.")

    # ---------------------------------------------------------------- workers
    async def _drive(self, lanes: dict[str, Lane], writer: ResultsWriter, progress: Progress) -> None:
        if self.params.schedule is not None:  # open loop: one dispatcher per lane sends at the schedule's instants (arrivals_driver)
            offsets = offsets_by_request(self.params.schedule, self.prompts, self.params.repeats)
            record = functools.partial(self._record, writer=writer, progress=progress)
            self._workers += [asyncio.create_task(drive_lane(lane, offsets, self.requester.one, record, self.stop)) for lane in lanes.values()]
        elif self.prompts.has_conversations:  # conversations: each played turn by turn, `concurrency` at once (conversation.py)
            record = functools.partial(self._record, writer=writer, progress=progress)
            answered = answers_on_disk(self.run_dir) if self.plan.done else {}
            self._workers += [asyncio.create_task(drive_conversations(lane, self.params.concurrency, self.requester.one, record, self.stop, answered,
                                                                      self.announce)) for lane in lanes.values()]  # fmt: skip
        for lane in lanes.values() if self.params.schedule is None and not self.prompts.has_conversations else ():
            count = min(self.params.concurrency, max(1, lane.total))
            ramp = self.params.ramp_s if self.params.ramp_s is not None else min(2.0, 0.01 * count)
            # staggered starts: a first wave sent in one instant queues in the client and at the service;
            # spread once, workers stay spread, since each starts its next request when its last one ends
            self._workers += [asyncio.create_task(self._worker(lane, writer, progress, ramp * i / count)) for i in range(count)]
        stop_wait = asyncio.create_task(self.stop.wait())
        pending = set(self._workers)
        try:
            while pending:
                finished, pending = await asyncio.wait(pending | {stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                pending.discard(stop_wait)
                if stop_wait in finished and pending:
                    _, late = await asyncio.wait(pending, timeout=self.params.grace_s)
                    for task in late:
                        task.cancel()
                    await asyncio.gather(*late, return_exceptions=True)
                    break
        finally:
            stop_wait.cancel()
            for task in self._workers:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
        for task in self._workers:
            if task.done() and not task.cancelled() and task.exception():
                raise task.exception()

    async def _worker(self, lane: Lane, writer: ResultsWriter, progress: Progress, delay: float) -> None:
        if delay > 0:
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=delay)
            except TimeoutError:
                pass
        while lane.queue and not self.stop.is_set() and lane.dead is None:
            item, repeat = lane.queue.popleft()
            try:
                row = await self.requester.one(lane, item, repeat)
            except asyncio.CancelledError:
                lane.queue.appendleft((item, repeat))  # cut off after the grace period: left for --resume
                raise
            if row is None:  # the deployment was stopped before this request was sent
                lane.queue.appendleft((item, repeat))
                return
            self._record(lane, row, writer=writer, progress=progress)

    def _record(self, lane: Lane, row: ResultRow, *, writer: ResultsWriter, progress: Progress) -> None:
        """One finished row written and counted: the closed loop's workers, the open loop (``arrivals_driver``) and conversations alike."""
        writer.write(row.to_json())
        self.summary.rows_written += 1
        self.summary.by_status[row.status.value] += 1
        lane.done += 1
        if not row.status.answered and row.status.final:
            lane.errors += 1
        progress.advance(lane.name)

    # ---------------------------------------------------------------- Ctrl-C
    def _install_signal_handler(self) -> bool:
        if threading.current_thread() is not threading.main_thread():
            return False
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self._interrupt)
        except (NotImplementedError, RuntimeError):
            return False
        return True

    def _interrupt(self) -> None:
        self._interrupts += 1
        if self._interrupts == 1:
            self.announce(f"Interrupted: no new requests; waiting up to {self.params.grace_s:.0f} s for those in flight "
                          "(Ctrl-C again to stop now). Continue later with --resume.")  # fmt: skip
            self.stop.set()
        else:
            for task in self._workers:
                task.cancel()
