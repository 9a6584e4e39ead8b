"""Load sweeps: one deployment at rising load, level by level, until it breaks its SLO.

Closed loop (``concurrency``): N workers, each sending its next request when its last one ends —
the load a batch job puts on a service. Open loop (``rate``): arrivals at a fixed mean rate, the
way independent users arrive — Poisson, or gamma gaps with ``burstiness`` (vLLM's semantics; the
schedule comes from ``load.arrivals``, the one arrivals module ``llama-eval run`` uses too); a
request is sent on schedule however slow the others are, and how late this process itself sent it
(``sender_lateness_s``) is recorded, so a late sender is never mistaken for a slow service. Each
level records its arrival process, and ``sweep.json`` the workload (``load.workload``: the prompt set,
a synth recipe, the arrivals) the capacity was measured with.

Every request goes through the runner's own parts — the measuring wire client
(``llama_eval.endpoint.wire``), ``run.attempt.Requester`` (send, measure, classify errors) and the results
writer — so a sweep's rows have the normal row format, plus ``level``, the level's ``concurrency``
or ``rate_rps``, and (open loop) ``sender_lateness_s``. Retries are off by default
(``max_attempts=1``): under load a 429 or a timeout is a measurement, not something to hide.
The first ``warmup_s`` of every level is marked ``warmup`` and left out of its statistics.

A sweep stops early when a level misses the SLO by a wide margin (``capacity.WIDE_MARGIN`` × a
limit), when the next level would exceed the deployment's quota, or at the budget. It writes
``sweep.csv`` (the columns in ``capacity.CSV_COLUMNS``) and ``sweep.json`` (levels, the SLO, the
capacity or why there is none). Against the emulator, times are converted to the emulated
service's time (measured ÷ the emulator's time scale) and ``sweep.json`` says so. Emulated time is one
clock: a level's rate (``--rate 2``: 2 requests per emulated second), its warm-up and duration, its
measured throughput and the quota it is checked against (requests and tokens per *emulated* minute,
as the emulator counts them) are all the service's, so a sped-up sweep stops where the same sweep in
real time would.

With ``search=True`` the levels are not listed but searched for (``load.search``): ``concurrency``
or ``rate`` is a range ``LO:HI``; the load doubles from LO until a level misses the SLO, then
bisects between the last level that met it and the first that did not, so only the levels near the
knee are paid for. A missed level does not stop a search (it is what the bisection needs). What the
sweep itself used (requests, tokens, USD at the run's prices, instance-hours for a deployment billed
by the hour) is ``cost`` in ``sweep.json``.

A sweep that was interrupted, or stopped by a failing deployment or the budget, resumes with
``resume=True`` (``llama-eval sweep --resume``): the levels it finished are kept as they are in
``sweep.json``, the level it was in runs again from its start, and the rows of every session stay in
``results.jsonl`` (rows of later sessions carry ``session``). The same command with more levels at the
end extends a finished sweep. A sweep that ended by breaking its SLO, or at the quota, is finished.

Several clients (``executor=llama_eval.distributed.RayExecutor(clients=N)``, ``--executor ray``): the
same ``Sweeper`` coordinates, and each client runs this module's level code for its ``shard``
(``load.params.Shard``: closed-loop slots and requests dealt evenly, open-loop arrivals of the one
schedule dealt round-robin, row keys those one process would give). The hooks a client overrides are
``_level_start`` (the shared start instant) and ``_deliver`` (rows to the coordinator, not to disk).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from itertools import accumulate
from pathlib import Path
from typing import Any

from llama_eval.catalog.models import Catalog, load_catalog
from llama_eval.catalog.prices import PriceBook, load_prices, price_for
from llama_eval.catalog.tokens import counter_for
from llama_eval.deployments.model import Deployment, DeploymentsConfig
from llama_eval.endpoint.wire import SessionPool, WireClient
from llama_eval.errors import LevelAborted, RunError, SweepError
from llama_eval.prompts.prompt_set import PromptSet, load_prompt_set
from llama_eval.records import Status, percentile
from llama_eval.run import run_blocking, store_run
from llama_eval.run.attempt import Requester, now_iso
from llama_eval.run.estimate import max_tokens_for
from llama_eval.run.heap import frozen_heap
from llama_eval.run.lane import Lane
from llama_eval.run.output import RunLock, manifest, redact_url, write_manifest
from llama_eval.run.pacing import QuotaPool
from llama_eval.run.params import RunParams
from llama_eval.run.plan import make_plan
from llama_eval.run.policy import Budget
from llama_eval.run.progress import LagMonitor
from llama_eval.rundir.store import ResultsWriter, read_rows

from .arrivals import gamma_gaps, send_instants
from .levels import _bar, _level_line, summarise_level, sweep_cost, write_sweep
from .objectives import RequestOutcome, Slo, SweepLevel
from .params import (
    EARLY_S,
    STOP_ALL_FAILED,
    STOP_BUDGET,
    STOP_DEPLOYMENT,
    STOP_INTERRUPTED,
    STOP_QUOTA,
    STOP_SLO,
    SWEEP_RUN_PARAMS,
    RequestSample,
    Shard,
    SweepParams,
    _LevelState,
    parse_levels,
)
from .resume import Resumed, load_resume
from .search import DEFAULT_PRECISION, SearchRange, next_load
from .slo import SWEEP_JSON, WIDE_MARGIN, SweepCost, SweepResult, judge_level, judge_levels, level_outcomes, levels_frame
from .workload import SweepWorkload


class Sweeper:
    """Runs the levels of one sweep against one deployment; ``run()`` returns the judged levels."""

    def __init__(self, deployment: Deployment, prompts: PromptSet, run_dir: Path, params: SweepParams, *, prices: PriceBook, catalog: Catalog,
                 progress: str, announce: Callable[[str], None]):  # fmt: skip
        self.deployment, self.prompts, self.run_dir, self.params = deployment, prompts, run_dir, params
        self.prices, self.catalog, self.progress_mode, self.announce = prices, catalog, progress, announce
        self.sessions = SessionPool()
        self.stopped: str | None = None
        self.stop_kind: str | None = None  # one of the STOP_* names
        self.session = 1
        self.nothing_to_do = False  # resumed a sweep that had already finished
        self.time_scale = 1.0
        self.interrupted = False
        self._seq = 0  # the last row key's repeat used; request seq n sends prompt item (n - 1) mod len
        self._level_base = 0  # self._seq when the level began
        self.window: tuple[float, float] | None = None  # the last open-loop level's measured window, seconds from its start
        self.shard = Shard(0, 1)  # this process's part of every level (a Ray client holds one of several: distributed.sweep)
        self.outcomes: dict[int, list[RequestOutcome]] = {}  # each level's sent, measured requests, for a per-request SLO
        self.service_s = 0.0  # the service time the levels of this session took (the sweep's own cost)

    # ---------------------------------------------------------------- the whole sweep
    async def run(self, resume: bool = False) -> tuple[list[SweepLevel], dict[str, Any]]:
        d, p = self.deployment, self.params
        # the plan refuses a used directory without resume, and a changed deployment, prompt set or request parameters with it
        plan = make_plan([d], self.prompts, self.run_dir, p.run, resume=resume, prices=self.prices, catalog=self.catalog)
        resumed = load_resume(self.run_dir, p) if resume else None
        levels: list[SweepLevel] = list(resumed.levels) if resumed else []
        if resumed is not None:
            # row keys go on from the earlier sessions' highest (a lost Ray client's level can leave gaps below it)
            self._seq = max(resumed.rows, max((int(row.get("repeat") or 0) for row in read_rows(self.run_dir)), default=0))
            if resumed.finished:
                self.announce(f"{d.name}: nothing to resume: {resumed.finished}")
                self.nothing_to_do = True
                return judge_levels(levels, p.slo), {}
        client = WireClient(d, self.sessions, timeout=p.run.timeout_s, catalog=self.catalog)
        probe = None
        try:  # the probe first: a wrong URL or key leaves the directory unused
            probe = await client.probe()
        finally:
            if probe is None or not probe.ok:
                await client.close()
                await self.sessions.close()
        if not probe.ok:
            raise SweepError(f"the probe before any request failed at {redact_url(d.resolve_endpoint())}: {probe.detail}; nothing was sent")
        self.time_scale = probe.time_scale
        if levels and p.slo is not None and p.slo.by_attainment and self.time_scale > 0:  # earlier sessions' levels, judged from their rows
            self.outcomes.update(level_outcomes(self.run_dir, self.time_scale))
        with RunLock(self.run_dir):
            record = manifest(self.run_dir, fingerprint=plan.fingerprint, prompts=self.prompts, prices=self.prices, catalog=self.catalog,
                              params=p.run.to_json(), estimates=plan.estimates_json(), now=now_iso())  # fmt: skip
            record["sweep"] = p.to_json()
            self.session = record["sessions"]
            write_manifest(self.run_dir, record)
            writer = ResultsWriter(self.run_dir)
            try:
                if self.time_scale <= 0:
                    raise SweepError(
                        "the endpoint runs at time scale 0 (no delays at all): a sweep would measure nothing; start the emulator with --time-scale > 0"
                    )
                counter = counter_for(client.model.family if client.model else None)
                pool = QuotaPool(f"sweep:{d.name}", None, None, None)  # the sweep sets the load itself; the quota is checked per level
                lane = Lane(d, client, pool, price_for(self.prices, d.model, d.kind), deque(), plan.prompt_tokens[counter.kind], counter)
                # the plan checked every prompt against this deployment with these parameters: no second check per request
                requester = Requester(p.run, Budget(p.budget_usd), self._stop_lane, checked=True)
                with frozen_heap():  # no collector pass over start-up objects while requests are timed
                    await self._run_levels(levels, lane, requester, writer)
            finally:
                writer.close()
                await client.close()
                await self.sessions.close()
            levels = judge_levels(levels, p.slo, self.outcomes if p.slo is not None and p.slo.by_attainment else None)
            entry = record.setdefault("deployments", {}).setdefault(d.name, {})
            entry.update(time_scale=self.time_scale, probe="ok")
            record.update(self.record_extra())
            record.update(status="completed" if not self.stopped else "stopped", finished_at=now_iso(), stopped=self.stopped)
            write_manifest(self.run_dir, record)
        return levels, record

    def record_extra(self) -> dict[str, Any]:
        """What this sweeper adds to the manifest (the Ray coordinator: its clients and their clock offsets)."""
        return {}

    def _loads(self, levels: list[SweepLevel]) -> Any:
        """(level number, load) to measure next, given the levels measured so far: the listed levels not yet measured,
        or, for a search, ``search.next_load`` of what has been measured (judged under the SLO)."""
        p = self.params
        if p.search is None:
            for index, load in enumerate(p.levels, start=1):
                if index > len(levels):  # not finished in an earlier session
                    yield index, load
            return
        while True:
            load = next_load(p.search, [(level.load_value, bool(level.slo_met)) for level in levels])
            if load is None:
                return
            yield len(levels) + 1, int(load) if p.search.closed else load

    async def _run_levels(self, levels: list[SweepLevel], lane: Lane, requester: Requester, writer: ResultsWriter) -> None:
        """Measure the levels not yet in ``levels`` (earlier sessions' stay), appending each judged under the SLO; stop at the
        quota, a wide miss (not in a search: a miss is what it bisects on), every request failing, or Ctrl-C."""
        for index, load in self._loads(levels):
            why = self._over_quota(load, levels, lane)
            if why:
                self.stopped, self.stop_kind = why, STOP_QUOTA
                self.announce(f"{self.deployment.name}: sweep stopped before level {index}: {why}")
                return
            began = time.perf_counter()
            try:
                level, outcomes = await self._level(index, load, lane, requester, writer)
            except LevelAborted as exc:  # a client of a distributed sweep was lost: its rows are written, the level runs again on --resume
                self.stopped, self.stop_kind = exc.why, exc.kind
                self.announce(f"{self.deployment.name}: sweep stopped: {exc.why}")
                return
            except asyncio.CancelledError:  # Ctrl-C: the levels measured so far are still written, then KeyboardInterrupt
                self.stopped = f"interrupted during level {index}; its rows are in results.jsonl, its statistics are not (--resume runs it again)"
                self.stop_kind = STOP_INTERRUPTED
                self.interrupted = True
                return
            finally:
                self.service_s += (time.perf_counter() - began) / self.time_scale
            self.outcomes[index] = outcomes
            level = judge_level(level, self.params.slo, outcomes)
            levels.append(level)
            self.announce(_level_line(self.deployment.name, level))
            if self.stopped:
                return
            kind, why = self._wide_miss(level)
            if why:
                self.stopped, self.stop_kind = why, kind
                self.announce(f"{self.deployment.name}: sweep stopped: {why}")
                return

    def _stop_lane(self, lane: Lane, why: str) -> None:
        lane.dead = why
        self.stopped, self.stop_kind = f"deployment stopped: {why}", STOP_DEPLOYMENT

    def _over_quota(self, load: float, done: list[SweepLevel], lane: Lane) -> str | None:
        """Why the next level would exceed the deployment's quota (None: it fits, or no quota is known)."""
        if not self.params.respect_quota:
            return None
        quota = self.deployment.effective_quota(self.catalog)
        if quota is None:
            return None
        if self.params.mode == "closed":
            if quota.concurrency and load > quota.concurrency:
                return (f"concurrency {load:g} exceeds the deployment's quota of {quota.concurrency} concurrent requests "
                        "(pass --ignore-quota to measure the 429s)")  # fmt: skip
            if not done or done[-1].throughput_rps is None or not done[-1].concurrency:
                return None
            rate = done[-1].throughput_rps * load / done[-1].concurrency  # the best this level can do if latency stays flat
        else:
            rate = load
        # ``rate`` is in the service's time (a level's rate and its measured throughput are), and so is the quota: the
        # emulator counts its quota minutes in emulated time (emulator.quota.emulated_clock), so no time scale enters here
        per_minute = rate * 60
        if quota.rpm and per_minute > quota.rpm:
            return f"about {per_minute:.0f} requests/min at this level exceeds the quota of {quota.rpm} rpm (pass --ignore-quota to measure the 429s)"
        if quota.tpm:
            per_request = statistics.fmean(lane.prompt_tokens[item.id] + max_tokens_for(item, self.params.run.max_tokens) for item in self.prompts)
            tokens = per_minute * per_request
            if tokens > quota.tpm:
                return (f"about {tokens:,.0f} tokens/min at this level (prompt + max_tokens per request) exceeds the quota of {quota.tpm:,} tpm "
                        "(pass --ignore-quota to measure the 429s)")  # fmt: skip
        return None

    def _wide_miss(self, level: SweepLevel) -> tuple[str | None, str | None]:
        """(stop kind, why) when this level ends the sweep; (None, None) otherwise."""
        slo = self.params.slo
        if level.requests and level.errors == level.requests:
            return STOP_ALL_FAILED, f"every request of level {level.level} ({level.load}) failed"
        if slo is None or self.params.search is not None:
            return None, None
        if slo.worst_ratio(level) >= self.params.stop_factor:
            margin = f">= {self.params.stop_factor:g}x a limit"
            return STOP_SLO, f"level {level.level} ({level.load}) breaks the SLO {slo} by a wide margin ({margin}): {'; '.join(slo.breaches(level))}"
        return None, None

    # ---------------------------------------------------------------- one level
    def _next(self) -> tuple[Any, int]:
        """The next closed-loop request: seqs go up by the number of shards, so the shards of a level never share a key."""
        self._seq = self._seq + self.shard.count if self._seq >= self._shard_base else self._shard_base
        return self._item(self._seq), self._seq

    def _item(self, seq: int) -> Any:
        return self.prompts.items[(seq - 1) % len(self.prompts)]

    @property
    def _shard_base(self) -> int:
        return self._level_base + self.shard.index + 1

    async def _level_start(self) -> float:
        """The instant (time.perf_counter) a level starts: now; a Ray client waits for the start its coordinator chose."""
        return time.perf_counter()

    def _deliver(self, writer: Any, data: dict[str, Any], sample: RequestSample, start: float) -> None:
        """One finished row out of the level: into results.jsonl here (a Ray client hands it to its coordinator instead)."""
        writer.write(data)

    async def _level(self, index: int, load: float, lane: Lane, requester: Requester, writer: ResultsWriter) -> tuple[SweepLevel, list[RequestOutcome]]:
        """One level: its statistics, and its sent, measured requests as a per-request SLO judges them."""
        p = self.params
        scale = self.time_scale
        state = _LevelState()
        closed = p.mode == "closed"
        extra = {"level": index, "concurrency": int(load)} if closed else {"level": index, "rate_rps": load}
        if self.session > 1:
            extra["session"] = self.session
        if self.shard.count > 1:
            extra["client"] = self.shard.index  # which client (shard) of a distributed sweep sent it
        self._level_base = self._seq
        total = p.requests_per_level  # the level's (the open loop's schedule holds them all; a shard sends its arrivals)
        quota = self.shard.share(total or 0)  # closed loop: the measured requests this process starts
        bar = _bar(self.progress_mode, total, f"{self.deployment.name} level {index} ({'concurrency' if closed else 'rate'} {load:g})")
        monitor = LagMonitor({lane.name: lane})
        start = await self._level_start()
        watcher = asyncio.create_task(monitor.watch())
        warm_end = start + p.warmup_s * scale
        deadline = warm_end + p.duration_s * scale if p.duration_s is not None else None

        async def send(item: Any, seq: int, warm: bool, scheduled: float | None) -> None:
            sent = time.perf_counter()
            lateness = sent - scheduled if scheduled is not None else None
            row = await requester.one(lane, item, seq)
            ended = time.perf_counter()
            if row is None:
                return
            if row.status is Status.BUDGET_SKIPPED and state.stop is None:
                state.stop = f"the budget of ${p.budget_usd} has no room for another request"
                self.stopped, self.stop_kind = state.stop, STOP_BUDGET
            if warm:
                row = replace(row, warmup=True)
            data = row.to_json() | extra
            if scheduled is not None:  # open loop: when it was meant to leave and when it did (real seconds from the level's start), as `run` rows
                data.update(scheduled_s=round(scheduled - start, 6), sent_s=round(sent - start, 6), sender_lateness_s=round(lateness, 6))
            sample = RequestSample(row, sent, ended, lateness)
            self._deliver(writer, data, sample, start)
            state.samples.append(sample)
            if bar is not None:
                bar.update(1)

        def may_start(now: float) -> bool:
            if state.stop or lane.dead or self.stopped:
                return False
            if deadline is not None:
                return now < deadline
            if now >= warm_end:
                if state.measured_started >= quota:
                    return False
                state.measured_started += 1
            return True

        window: tuple[float, float] | None = None
        try:
            if closed:
                workers = self.shard.share(int(load))  # this shard's concurrency slots (all of them in one process)
                ramp = min(p.warmup_s * scale, 0.01 * int(load))  # staggered starts, inside the warm-up only

                async def worker(i: int) -> None:
                    if ramp:  # the level's slots staggered as one process staggers them, whichever shard holds slot i
                        await asyncio.sleep(ramp * (i * self.shard.count + self.shard.index) / int(load))
                    while may_start(now := time.perf_counter()):
                        item, seq = self._next()
                        await send(item, seq, now < warm_end, None)

                await asyncio.gather(*(worker(i) for i in range(workers)))
            else:
                window = (warm_end, await self._open_loop(load, start, warm_end, deadline, total, send, state))
        finally:
            watcher.cancel()
            if bar is not None:
                bar.close()
        lag = monitor.samples[lane.name]
        lag_p99 = round(1000 * percentile(list(lag), 0.99), 2) if lag else None
        verdict = monitor.verdict(lane)
        lane.latencies.clear()
        self.window = (window[0] - start, window[1] - start) if window is not None else None  # seconds from the level's start
        outcomes = request_outcomes(state.samples, scale)
        level = summarise_level(index, load, closed, state.samples, window, scale, lag_p99, verdict.saturated)
        arrivals = p.arrivals
        return replace(level, arrivals=arrivals, burstiness=p.burstiness if arrivals == "gamma" else None), outcomes

    async def _open_loop(self, rate: float, start: float, warm_end: float, deadline: float | None, total: int | None,
                         send: Callable[..., Any], state: _LevelState) -> float:  # fmt: skip
        """Send each request at its scheduled instant, whatever the others do; returns the end of the measured window."""
        real_rate, burstiness = rate / self.time_scale, self.params.burstiness or 1.0
        rng = random.Random(f"{self.params.seed}:{rate}")
        # the warm-up's arrivals, then the measured ones; a window holds round(rate x span) of them, so its rate is the one asked for
        schedule = send_instants(real_rate, start, warm_end, rng, burstiness=burstiness, exact=True)
        if deadline is not None:
            measured_end = deadline
            schedule += send_instants(real_rate, warm_end, deadline, rng, burstiness=burstiness, exact=True)
        else:  # --requests-per-level: exactly that many, the process continuing from the warm-up's end; the window ends at the last
            measured = list(accumulate(gamma_gaps(real_rate, burstiness, total or 0, rng), initial=warm_end))[1:]
            measured_end = measured[-1] if measured else warm_end
            schedule += measured
        tasks: set[asyncio.Task] = set()
        perf = time.perf_counter
        base = self._seq
        for i, scheduled in enumerate(schedule):
            if not self.shard.owns(i):  # another client's arrival (a distributed sweep deals the one schedule round-robin)
                continue
            delay = scheduled - perf()
            if delay > EARLY_S:  # the loop's timers wake up to ~1 ms late (epoll's millisecond timeout): wake early,
                await asyncio.sleep(delay - EARLY_S)
            while perf() < scheduled:  # then yield to the other callbacks until the instant itself
                await asyncio.sleep(0)
            if state.stop or self.stopped:
                break
            seq = base + i + 1  # the arrival's place in the schedule: the same key whichever client sends it
            self._seq = seq
            task = asyncio.create_task(send(self._item(seq), seq, scheduled < warm_end, scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        return measured_end


# --------------------------------------------------------------------------- the API


async def asweep(
    deployments: DeploymentsConfig | Sequence[Deployment],
    prompts: PromptSet | str | Path,
    run_dir: str | Path,
    *,
    deployment: str | None = None,
    concurrency: Sequence[int] | str | None = None,
    rate: Sequence[float] | str | None = None,
    duration_s: float | None = None,
    requests_per_level: int | None = None,
    slo: str | Slo | None = None,
    warmup_s: float = 5.0,
    params: RunParams | None = None,
    budget_usd: Decimal | str | None = None,
    respect_quota: bool = True,
    stop_factor: float = WIDE_MARGIN,
    seed: int = 0,
    prices: PriceBook | None = None,
    catalog: Catalog | None = None,
    progress: str = "auto",
    announce: Callable[[str], None] | None = None,
    resume: bool = False,
    search: bool = False,
    precision: float = DEFAULT_PRECISION,
    burstiness: float | None = None,
    executor: Any = None,
    store: str | Path | None = None,
) -> SweepResult:
    """Sweep one deployment (see the module docstring); returns the ``SweepResult`` that ``read_sweep(run_dir)`` reads back.

    ``resume=True`` continues the sweep already in ``run_dir`` (same deployment, prompts and
    settings; more levels at the end extend it) instead of refusing the directory; a sweep that had
    already finished is returned as stored, its capacity judged under the ``slo`` given now.

    The result holds the judged levels (``.frame()``: as a DataFrame), ``capacity`` (``.level``
    None with ``.reason`` when there is none; ``.estimate``, an interpolation never used for money),
    ``stopped``/``stop_kind``/``resumable`` and ``path`` (``run_dir``). ``params``: request
    parameters (max_tokens, temperature, stream, timeout, max_attempts — 1 unless you say otherwise).

    ``search=True``: ``concurrency`` or ``rate`` is a range (``"1:64"``, ``(0.5, 32)``) and the levels are searched
    for (doubling, then bisection; see ``load.search``); the open-loop bisection stops at ``precision`` (relative).
    ``burstiness`` (open loop only): gamma gaps, mean rate unchanged, gap CV 1/sqrt(burstiness); None or 1 is Poisson.
    ``slo`` is a percentile SLO (``"ttft_p90<=1.0"``) or a per-request one (``"ttft<=0.5,e2e<=8@95%"``: levels judged
    on attainment, with goodput). The result's ``cost`` is what the sweep itself used.
    ``executor``: None sends every request from this process; ``llama_eval.distributed.RayExecutor(clients=N)``
    splits every level over N Ray actors and merges their rows here (``sweep.json``'s ``clients`` holds
    their clock offsets). ``store``: the run store the finished sweep is also written to (a path, an fsspec
    URL, ``"off"``; None: ``LLAMA_EVAL_STORE``, else ``.store`` beside ``run_dir``), as ``run_evaluation``'s.
    """
    catalog = catalog or load_catalog()
    prices = prices or load_prices(catalog=catalog)
    from llama_eval.run.progress import announce as default_announce  # stdout in a Jupyter kernel (stderr is a red box there), stderr elsewhere

    say = announce or default_announce
    chosen = _choose(list(deployments), deployment)
    prompt_set = prompts if isinstance(prompts, PromptSet) else load_prompt_set(prompts)
    if prompt_set.has_conversations:  # a level sends single requests: a conversation's later turns need its own earlier answers
        n = sum(1 for item in prompt_set if item.turns)
        raise SweepError(f"{prompt_set.path}: {n} item(s) are conversations (turns); a sweep sends single prompts, one request each, so it "
                         "would send only part of each conversation. Measure conversations with `llama-eval run --concurrency N`, or sweep "
                         "a set of their lengths (`llama-eval synth --input ...` with the turns' prompt tokens)")  # fmt: skip
    run = params or SWEEP_RUN_PARAMS
    run = replace(run, warmup=0, probe=False, concurrency=1)
    concurrency_levels = parse_levels(concurrency, int, search)
    rate_levels = tuple(float(v) for v in parse_levels(rate, float, search))
    sweep_params = SweepParams(
        concurrency=tuple(int(v) if float(v).is_integer() else v for v in concurrency_levels),
        rate=rate_levels,
        duration_s=duration_s,
        requests_per_level=requests_per_level,
        warmup_s=warmup_s,
        slo=Slo.parse(slo),
        stop_factor=stop_factor,
        respect_quota=respect_quota,
        budget_usd=Decimal(str(budget_usd)) if budget_usd is not None else None,
        seed=seed,
        run=run,
        search=_search_range(concurrency_levels, rate_levels, precision) if search else None,
        burstiness=float(burstiness) if burstiness is not None else None,
    )
    sweep_params.check()
    run_dir = Path(run_dir)
    make = executor.sweeper if executor is not None else Sweeper
    sweeper = make(chosen, prompt_set, run_dir, sweep_params, prices=prices, catalog=catalog, progress=progress, announce=say)
    levels, _ = await sweeper.run(resume=resume)
    model = chosen.catalog_model(catalog)
    if sweeper.nothing_to_do:  # the stored sweep as it is (SweepResult judges its capacity under the SLO given now)
        data = json.loads((run_dir / SWEEP_JSON).read_text())
    else:
        before = SweepCost.from_json(json.loads((run_dir / SWEEP_JSON).read_text()).get("cost")) if resume and (run_dir / SWEEP_JSON).exists() else None
        cost = sweep_cost(run_dir, chosen, prices, (before.service_s if before else 0.0) + sweeper.service_s)
        data = write_sweep(run_dir, chosen, sweep_params, levels, stopped=sweeper.stopped, time_scale=sweeper.time_scale, simulated=_simulated(run_dir),
                           model_id=model.id if model else chosen.model, stop_kind=sweeper.stop_kind, sessions=sweeper.session, cost=cost,
                           workload=SweepWorkload.of(prompt_set, sweep_params))  # fmt: skip
        clients = sweeper.record_extra().get("clients")
        if clients is not None:  # a distributed sweep: its clients, their clock offsets and the uncertainty they add
            data["clients"] = clients
            (run_dir / SWEEP_JSON).write_text(json.dumps(data, indent=2) + "\n")
    if not sweeper.nothing_to_do and not sweeper.interrupted:
        store_run(run_dir, store, say)  # the run store (issue 25): LLAMA_EVAL_STORE, else .store beside the sweep; a failure is said, not raised
    if sweeper.interrupted:
        raise KeyboardInterrupt(f"sweep interrupted; {run_dir} holds the rows so far and sweep.json for the finished levels")
    return SweepResult.from_json(data, run_dir, levels, sweep_params.slo)


def request_outcomes(samples: Sequence[RequestSample], scale: float) -> list[RequestOutcome]:
    """The sent, measured requests of a level as a per-request SLO judges them (warm-up and budget-skipped left out)."""
    sent = [x.row for x in samples if not x.row.warmup and x.row.status is not Status.BUDGET_SKIPPED]
    return [RequestOutcome.of(r.status, r.timing.ttft_s if r.timing else None, r.timing.e2e_s if r.timing else None,
                              r.usage.completion_tokens if r.usage else None, scale) for r in sent]  # fmt: skip


def _search_range(concurrency: tuple, rate: tuple, precision: float) -> SearchRange | None:
    if concurrency:
        return SearchRange(float(concurrency[0]), float(concurrency[-1]), closed=True, precision=precision)
    if rate:
        return SearchRange(rate[0], rate[-1], closed=False, precision=precision)
    return None  # neither given: SweepParams.check says so


def _simulated(run_dir: Path) -> bool:
    return any(row.get("simulated") for row in read_rows(run_dir)[:50])


def _choose(deployments: list[Deployment], name: str | None) -> Deployment:
    if not deployments:
        raise SweepError("no deployments to sweep")
    if name is None:
        if len(deployments) == 1:
            return deployments[0]
        raise SweepError(f"a sweep loads one deployment at a time; choose one with --deployment: {', '.join(d.name for d in deployments)}")
    for d in deployments:
        if d.name == name:
            return d
    raise SweepError(f"no deployment named {name!r}; the file has {', '.join(d.name for d in deployments)}")


def sweep(*args: Any, **kwargs: Any) -> SweepResult:
    """The blocking form of ``asweep`` (same arguments, same ``SweepResult``); inside a running event loop (Jupyter) it runs in a thread."""
    return run_blocking(asweep, *args, thread_name="llama-eval-sweep", **kwargs)


__all__ = ["Resumed", "SweepParams", "SweepResult", "Sweeper", "asweep", "levels_frame", "load_resume", "sweep", "write_sweep", "RunError", "SweepError"]
