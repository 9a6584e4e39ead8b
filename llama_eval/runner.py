"""The runner: every prompt through every deployment, as fast as each quota allows, nothing lost.

``run_evaluation`` (and ``llama-eval run``) checks everything before the first request — the prompt
set against every deployment's rules, the budget against the worst case, the output directory —
then drives all deployments at once from one event loop: each deployment has its own workers, so a
slow one never blocks a fast one, and each quota pool paces its deployments. Every finished request
becomes one row in ``results.jsonl`` the moment it finishes; ``resume=True`` runs only what is
missing. Latency comes from the final attempt alone; retries and the time spent waiting are
recorded beside it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import random
import shutil
import signal
import statistics
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .catalog import Catalog, load_catalog
from .client import AsyncLlamaClient, make_async_client
from .config import Deployment, DeploymentsConfig
from .cost import DEFAULT_MAX_TOKENS, RequestPrice, estimate_run, max_tokens_for, price_for
from .errors import (
    AuthenticationError,
    ContentFilterError,
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    LlamaEvalError,
    MalformedResponseError,
    RateLimitError,
    RequestValidationError,
)
from .pacing import QuotaPool
from .prices import PriceBook, load_prices
from .prompts import PromptItem, PromptSet
from .request import ChatRequest, ExtraParameters
from .results import ResultsWriter, final_rows, read_manifest, read_rows, row_key, write_manifest, write_parquet
from .tokens import counter_for

log = logging.getLogger("llama_eval.runner")

RETRYABLE_STATUS = {408, 409, 500, 502, 503, 504}
LOCK = "run.lock"


class RunError(LlamaEvalError):
    """The run cannot start (or go on): the message says why and what to do."""


class BudgetError(RunError):
    """The worst-case cost of the run exceeds the budget."""


@dataclass(frozen=True)
class RunParams:
    """How to run. ``max_tokens``: a prompt item's own value wins; this is the default (512 if None)."""

    repeats: int = 1
    concurrency: int = 8
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stream: bool = True
    budget_usd: Decimal | None = None
    budget_preflight: bool = True  # refuse to start when the worst case exceeds the budget (else: start, stop at it)
    max_attempts: int = 5
    timeout_s: float = 120.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    extra: ExtraParameters | None = None
    grace_s: float = 30.0
    ramp_s: float | None = None  # spread the first wave of requests over this long; None: 10 ms per worker, at most 2 s

    def fingerprint(self) -> dict[str, Any]:
        """What must match for a resumed run to continue this one (not budget, concurrency or timeouts)."""
        return {
            "repeats": self.repeats,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stream": self.stream,
            "extra": self.extra.to_dict() if self.extra else None,
        }


@dataclass
class RunSummary:
    run_dir: Path
    status: str
    by_status: Counter = field(default_factory=Counter)
    rows_written: int = 0
    skipped_done: int = 0
    not_run: int = 0
    cost_usd: Decimal = Decimal(0)
    retries: int = 0
    duration_s: float = 0.0
    client_loop_lag: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.by_status.items())) or "nothing run"
        return (
            f"{self.run_dir}: {self.status}; {self.rows_written} rows this session ({counts}); "
            f"{self.skipped_done} already done; {self.not_run} not run; {self.retries} retries; "
            f"${self.cost_usd:.6f} spent; {self.duration_s:.1f} s"
        )


# ------------------------------------------------------------------------------- pre-flight


def redact_url(url: str) -> str:
    """An endpoint URL without user info or query string (where keys hide)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "", parts.path, "", ""))


def _deployment_record(d: Deployment) -> dict[str, Any]:
    """A deployment as the manifest stores it: everything but secrets (a key's env var *name* is kept)."""
    record = {k: v for k, v in asdict(d).items() if k not in ("source", "headers", "endpoint", "key")}
    record["endpoint"] = redact_url(d.endpoint) if d.endpoint else None
    record["header_names"] = sorted(d.headers)
    return record


def _choices(params: RunParams) -> int:
    extra = params.extra or ExtraParameters()
    return max(extra.n or 1, extra.best_of or 0)


def _check_output_dir(run_dir: Path, expected_rows: int) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-probe"
        probe.write_bytes(b"x" * 1024)
        probe.unlink()
    except OSError as exc:
        raise RunError(f"cannot write to the output directory {run_dir}: {exc.strerror or exc}; choose another with -o") from None
    need = 4096 * expected_rows + 10 * 2**20  # a row is ~1-4 KB; keep 10 MB spare
    free = shutil.disk_usage(run_dir).free
    if free < need:
        raise RunError(f"only {free / 2**20:.1f} MB free at {run_dir}; this run needs about {need / 2**20:.1f} MB for its results")


def _acquire_lock(run_dir: Path) -> Path:
    lock = run_dir / LOCK
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            pid = int(lock.read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        alive = False
        if pid > 0:
            try:
                os.kill(pid, 0)
                alive = True
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True
        if alive and pid != os.getpid():
            raise RunError(f"{run_dir} is in use by another llama-eval run (pid {pid}); wait for it or use another directory") from None
        log.warning("taking over a stale lock in %s (pid %s is gone)", run_dir, pid)
        lock.unlink(missing_ok=True)
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return lock


# ------------------------------------------------------------------------------- the run


class _Budget:
    """Spent + reserved never passes the budget: each request reserves its worst case first.

    A request that does not fit while others are in flight waits for them to settle (their unused
    reservations come back); it is skipped only when it cannot fit even with nothing in flight.
    """

    def __init__(self, limit: Decimal | None):
        self.limit = limit
        self.spent = Decimal(0)
        self.reserved = Decimal(0)
        self._settled = asyncio.Condition()

    async def reserve(self, worst: Decimal | None) -> bool:
        if self.limit is None or worst is None:
            return True
        async with self._settled:
            while self.spent + self.reserved + worst > self.limit:
                if self.reserved == 0:
                    return False
                await self._settled.wait()
            self.reserved += worst
            return True

    async def settle(self, worst: Decimal | None, actual: Decimal | None) -> None:
        async with self._settled:
            if self.limit is not None and worst is not None:
                self.reserved -= worst
            if actual is not None:
                self.spent += actual
            self._settled.notify_all()


@dataclass
class _DeploymentState:
    deployment: Deployment
    client: AsyncLlamaClient
    pool: QuotaPool
    price: RequestPrice
    queue: deque
    done: int = 0
    total: int = 0
    errors: int = 0
    successes: int = 0
    dead: str | None = None  # why the deployment was stopped (auth, unreachable)


class _LoopLag:
    """How late the event loop wakes up: when it lags, the client is saturated and latency is inflated."""

    def __init__(self, interval_s: float = 0.05):
        self.interval_s = interval_s
        self.samples: deque[float] = deque(maxlen=100_000)

    async def watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval_s)
            self.samples.append(loop.time() - start - self.interval_s)

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {}
        return {"p50_ms": round(1000 * _percentile(list(self.samples), 0.5), 2), "p95_ms": round(1000 * _percentile(list(self.samples), 0.95), 2)}


class _Progress:
    """A tqdm bar per deployment when interactive, else a log line every ``every_s`` seconds."""

    def __init__(self, states: dict[str, _DeploymentState], mode: str, every_s: float = 5.0):
        self.states = states
        self.every_s = every_s
        self._last = time.monotonic()
        self._start = time.monotonic()
        interactive = mode == "bar" or (mode == "auto" and (sys.stderr.isatty() or "ipykernel" in sys.modules))
        self.bars: dict[str, Any] = {}
        self.mode = "none" if mode == "none" else ("bar" if interactive else "log")
        if self.mode == "bar":
            from tqdm.auto import tqdm

            for i, (name, s) in enumerate(states.items()):
                self.bars[name] = tqdm(total=s.total, desc=name, position=i, unit="req", leave=True)

    def advance(self, name: str) -> None:
        if self.mode == "bar":
            self.bars[name].update(1)
        elif self.mode == "log" and time.monotonic() - self._last >= self.every_s:
            self.log_line()

    def log_line(self) -> None:
        self._last = time.monotonic()
        elapsed = self._last - self._start
        for name, s in self.states.items():
            rate = s.done / elapsed if elapsed > 0 else 0.0
            eta = (s.total - s.done) / rate if rate > 0 else float("inf")
            log.info("%s: %d/%d done, %d errors, %.1f req/s, ETA %s", name, s.done, s.total, s.errors, rate, "-" if eta == float("inf") else f"{eta:.0f} s")

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        if self.mode == "log":
            self.log_line()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class _Runner:
    def __init__(
        self,
        config: DeploymentsConfig | Sequence[Deployment],
        prompts: PromptSet,
        run_dir: Path,
        params: RunParams,
        *,
        resume: bool,
        prices: PriceBook,
        catalog: Catalog,
        progress: str,
        client_factory: Callable[..., AsyncLlamaClient],
        announce: Callable[[str], None],
        estimate_from: str | Path | None = None,
    ):
        self.estimate_from = estimate_from
        self.deployments = list(config)
        self.prompts = prompts
        self.run_dir = run_dir
        self.params = params
        self.resume = resume
        self.prices = prices
        self.catalog = catalog
        self.progress_mode = progress
        self.client_factory = client_factory
        self.announce = announce
        self.budget = _Budget(params.budget_usd)
        self.stop: asyncio.Event | None = None  # created inside the event loop
        self.summary = RunSummary(run_dir, "running")
        self.prompt_tokens: dict[str, dict[str, int]] = {}  # tokenizer kind -> item id -> prompt tokens, counted once
        self.writer: ResultsWriter | None = None

    # ---------------------------------------------------------------- checks before any request
    def preflight(self) -> tuple[set[str], dict[str, Any]]:
        if not self.deployments:
            raise RunError("no deployments to run")
        names = [d.name for d in self.deployments]
        if len(set(names)) != len(names):
            raise RunError(f"deployment names must be unique, got {names}")
        if self.params.repeats < 1 or self.params.concurrency < 1 or self.params.max_attempts < 1:
            raise RunError("repeats, concurrency and max_attempts must be >= 1")
        for d in self.deployments:
            problems = d.check_environment()
            if problems:
                raise RunError("; ".join(problems))
        self._check_requests()
        estimates = estimate_run(
            self.deployments,
            self.prompts,
            self.prices,
            repeats=self.params.repeats,
            max_tokens=self.params.max_tokens,
            choices=_choices(self.params),
            catalog=self.catalog,
            previous_run=self.estimate_from,
            counts=self.prompt_tokens,
        )
        self._announce_estimates(estimates)
        if self.params.budget_usd is not None:
            unpriced = [n for n, e in estimates.items() if e["worst_case_usd"] is None and not e["price_note"].startswith("managed")]
            if unpriced:
                raise BudgetError(
                    f"--budget-usd needs a token price for every serverless deployment; none for {', '.join(unpriced)} "
                    f"({estimates[unpriced[0]]['price_note']}): add a price override file, or drop the budget"
                )
            worst = sum((e["worst_case_usd"] or Decimal(0) for e in estimates.values()), Decimal(0))
            if worst > self.params.budget_usd and self.params.budget_preflight:
                raise BudgetError(
                    f"worst-case cost ${worst:.4f} exceeds the budget ${self.params.budget_usd} (every answer at max_tokens); "
                    "lower max_tokens or repeats, drop deployments, or raise --budget-usd"
                )
        total = len(self.deployments) * len(self.prompts) * self.params.repeats
        _check_output_dir(self.run_dir, total)
        done = self._resume_state()
        return done, estimates

    def _check_requests(self) -> None:
        """Every prompt against every deployment's rules (images, output limits, extras) and its scorer, before sending."""
        from .request import build_request
        from .scoring.run import check_prompt_scorers
        from .scoring.scorers import ScorerError

        try:
            check_prompt_scorers(self.prompts)
        except ScorerError as exc:
            raise RunError(str(exc)) from None

        for d in self.deployments:
            model = d.catalog_model(self.catalog)
            for item in self.prompts:
                try:
                    build_request(list(item.messages), model=model, **self._request_params(item))
                except RequestValidationError as exc:
                    raise RunError(f"{item.source}: prompt {item.id!r} cannot go to deployment {d.name!r}: {exc}") from None

    def _request_params(self, item: PromptItem) -> dict[str, Any]:
        p = self.params
        return {
            "stream": p.stream and not (p.extra and p.extra.best_of),
            "temperature": p.temperature,
            "top_p": p.top_p,
            "seed": p.seed,
            "max_tokens": max_tokens_for(item, p.max_tokens),
            "extra": p.extra,
        }

    def _announce_estimates(self, estimates: dict[str, dict[str, Any]]) -> None:
        self.announce("Estimated cost before the run (prompt tokens counted; every answer at max_tokens as the ceiling):")
        for name, e in estimates.items():
            cost = "no token cost" if e["worst_case_usd"] is None else f"at most ${e['worst_case_usd']:.4f}"
            if e["expected_usd"] is not None:
                cost += f" (expected ${e['expected_usd']:.4f}, from a previous run)"
            exact = "" if e["prompt_tokens_exact"] else " (estimated)"
            note = f" — {e['price_note']}" if e["price_note"] else ""
            self.announce(
                f"  {name}: {e['requests']} requests, {e['prompt_tokens']} prompt tokens{exact}, up to {e['max_output_tokens']} output tokens, {cost}{note}"
            )

    def _fingerprint(self) -> dict[str, Any]:
        return {
            "deployments": [_deployment_record(d) for d in self.deployments],
            "prompt_set_sha256": self.prompts.sha256,
            "params": self.params.fingerprint(),
        }

    def _resume_state(self) -> set[str]:
        manifest = read_manifest(self.run_dir)
        has_results = (self.run_dir / "results.jsonl").exists()
        if not self.resume:
            if manifest is not None or has_results:
                raise RunError(f"{self.run_dir} already holds a run; pass --resume to continue it, or choose a new directory")
            return set()
        if manifest is None:
            if has_results:
                raise RunError(f"{self.run_dir} has results but no manifest.json; it was not made by llama-eval run")
            return set()
        before, now = manifest.get("fingerprint", {}), self._fingerprint()
        for key in ("prompt_set_sha256", "params", "deployments"):
            if before.get(key) != now[key]:
                change = _difference(before.get(key), now[key])
                what = key.replace("_", " ")
                raise RunError(f"cannot resume {self.run_dir}: the {what} changed since the run started ({change}); start a new run directory")
        return set(final_rows(read_rows(self.run_dir, repair=True)))

    # ---------------------------------------------------------------- the event loop part
    async def run(self) -> RunSummary:
        started = time.monotonic()
        done, estimates = self.preflight()
        lock = _acquire_lock(self.run_dir)
        self.stop = asyncio.Event()
        manifest = self._manifest(estimates, status="running")
        write_manifest(self.run_dir, manifest)
        self.writer = ResultsWriter(self.run_dir)
        states = await self._states(done)
        progress = _Progress(states, self.progress_mode)
        lag = _LoopLag()
        lag_task = asyncio.create_task(lag.watch())
        self._install_signal_handler()
        try:
            workers = []
            for s in states.values():
                count = min(self.params.concurrency, max(1, s.total))
                ramp = self.params.ramp_s if self.params.ramp_s is not None else min(2.0, 0.01 * count)
                # Staggered starts: a first wave sent in one instant queues in the client (and at the
                # service); spread out once, workers stay spread, since each starts its next request
                # when its last one ends.
                workers += [asyncio.create_task(self._worker(s, progress, delay=ramp * i / count)) for i in range(count)]
            await self._wait(workers)
        finally:
            lag_task.cancel()
            progress.close()
            self._remove_signal_handler()
            self.summary.client_loop_lag = lag.summary()
            if self.summary.client_loop_lag.get("p95_ms", 0) > 10:
                self.announce(
                    f"Warning: this client was saturated (event-loop lag p95 {self.summary.client_loop_lag['p95_ms']} ms): "
                    "measured latencies include time waiting for this machine's CPU; lower --concurrency for clean latency figures."
                )
            for s in states.values():
                await s.client.close()
            self.writer.close()
            self.summary.not_run = sum(len(s.queue) for s in states.values())
            self.summary.duration_s = time.monotonic() - started
            if self.stop.is_set() and self.summary.status == "running":
                self.summary.status = "interrupted"
            elif self.summary.status == "running":
                self.summary.status = "completed" if self.summary.not_run == 0 else "incomplete"
            manifest.update(status=self.summary.status, finished_at=_now_iso(), summary=self._summary_record(states))
            write_manifest(self.run_dir, manifest)
            if self.summary.status == "completed":
                write_parquet(self.run_dir)
            lock.unlink(missing_ok=True)
        return self.summary

    async def _wait(self, workers: list[asyncio.Task]) -> None:
        """Wait for the workers; after a stop request, give in-flight requests ``grace_s`` to finish."""
        stop_wait = asyncio.create_task(self.stop.wait())
        pending = set(workers)
        while pending:
            finished, pending = await asyncio.wait(pending | {stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            pending.discard(stop_wait)
            if stop_wait in finished and pending:
                _, late = await asyncio.wait(pending, timeout=self.params.grace_s)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
                break
        stop_wait.cancel()
        for task in workers:
            if task.done() and not task.cancelled() and task.exception():
                raise task.exception()

    def _install_signal_handler(self) -> None:
        self._signal_installed = False
        if threading.current_thread() is threading.main_thread():
            try:
                asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self._interrupt)
                self._signal_installed = True
            except (NotImplementedError, RuntimeError):
                pass

    def _remove_signal_handler(self) -> None:
        if self._signal_installed:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)

    def _interrupt(self) -> None:
        self.announce(f"Interrupted: no new requests; waiting up to {self.params.grace_s:.0f} s for those in flight. The run can be resumed with --resume.")
        assert self.stop is not None
        self.stop.set()

    async def _states(self, done: set[str]) -> dict[str, _DeploymentState]:
        pools: dict[str, QuotaPool] = {}
        states = {}
        # The largest single reservation: a tokens bucket must hold at least one request.
        choices = _choices(self.params)
        largest = max(
            (
                tokens + max_tokens_for(item, self.params.max_tokens) * choices
                for counts in self.prompt_tokens.values()
                for item in self.prompts
                for tokens in [counts[item.id]]
            ),
            default=DEFAULT_MAX_TOKENS,
        )
        for d in self.deployments:
            pool_name = d.quota_pool or d.name
            if pool_name not in pools:
                quota = d.effective_quota(self.catalog)
                pools[pool_name] = QuotaPool(
                    pool_name, quota.rpm if quota else None, quota.tpm if quota else None, quota.concurrency if quota else None, largest
                )
            queue = deque()
            for repeat in range(self.params.repeats):
                for item in self.prompts:
                    key = row_key(d.name, item.id, repeat)
                    if key in done:
                        self.summary.skipped_done += 1
                    else:
                        queue.append((item, repeat))
            client = self.client_factory(d, timeout=self.params.timeout_s, catalog=self.catalog)
            states[d.name] = _DeploymentState(d, client, pools[pool_name], price_for(self.prices, d.model, d.kind), queue, total=len(queue))
        return states

    async def _worker(self, s: _DeploymentState, progress: _Progress, delay: float = 0.0) -> None:
        assert self.stop is not None and self.writer is not None
        if delay > 0:
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=delay)
            except TimeoutError:
                pass
        while s.queue and not self.stop.is_set() and s.dead is None:
            item, repeat = s.queue.popleft()
            row = await self._one(s, item, repeat)
            if row is None:  # the deployment died before this request was sent: leave it for a resume
                s.queue.appendleft((item, repeat))
                return
            self.writer.write(row)
            self.summary.rows_written += 1
            self.summary.by_status[row["status"]] += 1
            s.done += 1
            if row["status"] not in ("ok", "length", "budget_skipped"):
                s.errors += 1
            progress.advance(s.deployment.name)

    async def _one(self, s: _DeploymentState, item: PromptItem, repeat: int) -> dict[str, Any] | None:
        d = s.deployment
        request_params = self._request_params(item)
        request = s.client.prepare(list(item.messages), **request_params)
        counter = counter_for(s.client.model.family if s.client.model else None)
        prompt_tokens = self.prompt_tokens[counter.kind][item.id]
        max_out = request.body.get("max_tokens", DEFAULT_MAX_TOKENS) * _choices(self.params)
        worst = s.price.cost(prompt_tokens, max_out)
        base = {
            "key": row_key(d.name, item.id, repeat),
            "deployment": d.name,
            "model": d.model,
            "api": d.api,
            "prompt_id": item.id,
            "repeat": repeat,
            "tags": list(item.tags),
            "params": {k: v for k, v in request_params.items() if v is not None and k != "extra"}
            | ({"extra": self.params.extra.to_dict()} if self.params.extra else {}),
        }
        if not await self.budget.reserve(worst):
            return {
                **base,
                "status": "budget_skipped",
                "started_at": _now_iso(),
                "finished_at": _now_iso(),
                "attempts": 0,
                "cost_usd": None,
                "price_known": s.price.known,
            }
        started_at = _now_iso()
        attempts, retry_wait, queue_wait = 0, 0.0, 0.0
        outcome: dict[str, Any] = {}
        try:
            while True:
                if s.dead is not None:
                    return None
                attempts += 1
                reservation = await s.pool.reserve(prompt_tokens + max_out)
                queue_wait += reservation.waited_s
                used: int | None = None
                try:
                    outcome = await self._attempt(s, request, prompt_tokens, counter)
                    used = outcome["usage"]["total_tokens"]
                    break
                except ContentFilterError as exc:
                    outcome = self._error_outcome("content_filter", exc)
                    outcome["_cost"] = Decimal(0) if s.price.known else None  # a filtered prompt is not billed
                    used = 0
                    break
                except AuthenticationError as exc:
                    outcome = self._error_outcome("auth_error", exc)
                    self._kill(s, f"authentication failed ({exc}); check {d.key_env or 'the Entra ID credential'}")
                    break
                except EndpointError as exc:
                    status, retry = self._classify(exc)
                    if isinstance(exc, RateLimitError):
                        s.pool.pause(exc.retry_after_s or self._backoff(attempts))
                    if not retry or attempts >= self.params.max_attempts:
                        outcome = self._error_outcome(status, exc)
                        if status == "connection_error" and s.successes == 0:
                            self._kill(s, f"unreachable at {redact_url(d.resolve_endpoint())}: {exc}")
                        elif exc.status_code == 404 and s.successes == 0:
                            self._kill(s, f"not found at {redact_url(d.resolve_endpoint())} ({exc}); check the endpoint and deployment_name")
                        break
                    wait = exc.retry_after_s if exc.retry_after_s is not None else self._backoff(attempts)
                    retry_wait += wait
                    await asyncio.sleep(wait)
                finally:
                    s.pool.release(reservation, used)
        finally:
            await self.budget.settle(worst, outcome.get("_cost"))
        if outcome.get("status") in ("ok", "length"):
            s.successes += 1
        cost = outcome.pop("_cost", None)
        self.summary.retries += attempts - 1
        if cost is not None:
            self.summary.cost_usd += cost
        return {
            **base,
            **outcome,
            "attempts": attempts,
            "retry_wait_s": round(retry_wait, 4),
            "queue_wait_s": round(queue_wait, 4),
            "started_at": started_at,
            "finished_at": _now_iso(),
            "cost_usd": str(cost) if cost is not None else None,
            "price_known": s.price.known,
        }

    def _kill(self, s: _DeploymentState, why: str) -> None:
        if s.dead is None:
            s.dead = why
            self.announce(f"deployment {s.deployment.name!r} stopped: {why}. Other deployments go on; its remaining requests are left for --resume.")

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.params.backoff_max_s, self.params.backoff_base_s * 2 ** (attempt - 1)))

    @staticmethod
    def _classify(exc: EndpointError) -> tuple[str, bool]:
        """(row status, retry?) for an endpoint error."""
        if isinstance(exc, RateLimitError):
            return "rate_limited", True
        if isinstance(exc, EndpointTimeout):
            return "timeout", True
        if isinstance(exc, MalformedResponseError):
            return "malformed_response", True
        if isinstance(exc, EndpointConnectionError):
            return "connection_error", True
        if exc.status_code in RETRYABLE_STATUS or (exc.status_code or 0) >= 500:
            return "http_error", True
        if exc.status_code in (400, 404, 422):
            return "invalid_request", False
        return "http_error", False

    @staticmethod
    def _error_outcome(status: str, exc: EndpointError) -> dict[str, Any]:
        return {"status": status, "http_status": exc.status_code, "error_code": exc.code, "error_message": exc.message[:2000], "_cost": None}

    async def _attempt(self, s: _DeploymentState, request: ChatRequest, prompt_tokens: int, counter: Any) -> dict[str, Any]:
        """One request, timed with perf_counter; returns the row fields of a success."""
        t0 = time.perf_counter()
        if request.stream:
            stream = await s.client.send(request)
            texts: dict[int, list[str]] = {}
            finish: dict[int, str | None] = {}
            arrivals: list[float] = []
            usage = None
            fingerprint = None
            async with stream:
                async for update in stream:
                    now = time.perf_counter()
                    fingerprint = fingerprint or update.get("system_fingerprint")
                    # Raw mapping access: the SDK models are mappings over the JSON, and their
                    # attributes deserialise on every access — this loop runs once per token.
                    for choice in update.get("choices") or ():
                        delta = choice.get("delta") or {}
                        content = delta.get("content")
                        if content:
                            texts.setdefault(choice.get("index", 0), []).append(content)
                            arrivals.append(now)
                        if choice.get("finish_reason"):
                            finish[choice.get("index", 0)] = str(choice["finish_reason"])
                    if update.get("usage"):
                        usage = update.usage
            end = time.perf_counter()
            choices = ["".join(texts.get(i, [])) for i in range(max(list(texts) + list(finish) + [0]) + 1)]
            finish_reason = finish.get(0)
            timing = self._stream_timing(t0, arrivals, end, usage)
        else:
            response = await s.client.send(request)
            end = time.perf_counter()
            choices = [c.message.content or "" for c in response.choices]
            finish_reason = str(response.choices[0].finish_reason) if response.choices else None
            usage = response.usage
            fingerprint = response.get("system_fingerprint")
            timing = {"streamed": False, "e2e_s": round(end - t0, 6), "timing_note": "not streamed: only end-to-end time is measured"}
        if usage is not None:
            usage_dict = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens}
            source = "server"
        else:
            completion = sum(counter.count(t) for t in choices)
            usage_dict = {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion}
            source = "estimated"
        if timing.get("streamed") and usage_dict["completion_tokens"] and timing.get("ttft_s") is not None:
            decode = timing["e2e_s"] - timing["ttft_s"]
            timing["output_tps"] = round(usage_dict["completion_tokens"] / decode, 3) if decode > 0 else None
        cost = s.price.cost(usage_dict["prompt_tokens"], usage_dict["completion_tokens"])
        finish_value = finish_reason.split(".")[-1].lower() if finish_reason else None
        finish_value = {"token_limit_reached": "length", "stopped": "stop"}.get(finish_value or "", finish_value)
        return {
            "status": "length" if finish_value == "length" else "ok",
            "http_status": 200,
            "response_text": choices[0] if choices else "",
            **({"choices": choices} if len(choices) > 1 else {}),
            "finish_reason": finish_value,
            "usage": usage_dict,
            "usage_source": source,
            **timing,
            **({"simulated": True} if fingerprint == "llama-eval-emulator" else {}),
            "_cost": cost,
        }

    @staticmethod
    def _stream_timing(t0: float, arrivals: list[float], end: float, usage: Any) -> dict[str, Any]:
        timing: dict[str, Any] = {"streamed": True, "e2e_s": round(end - t0, 6), "content_chunks": len(arrivals)}
        if arrivals:
            timing["ttft_s"] = round(arrivals[0] - t0, 6)
            gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
            if gaps:
                timing.update(
                    itl_mean_s=round(statistics.fmean(gaps), 6),
                    itl_p50_s=round(_percentile(gaps, 0.5), 6),
                    itl_p95_s=round(_percentile(gaps, 0.95), 6),
                )
        return timing

    # ---------------------------------------------------------------- manifest
    def _manifest(self, estimates: dict[str, dict[str, Any]], status: str) -> dict[str, Any]:
        previous = read_manifest(self.run_dir) or {}
        from importlib.metadata import PackageNotFoundError, version

        def v(name: str) -> str | None:
            try:
                return version(name)
            except PackageNotFoundError:
                return None

        return {
            "run_id": previous.get("run_id") or self.run_dir.name,
            "status": status,
            "created_at": previous.get("created_at") or _now_iso(),
            "started_at": _now_iso(),
            "sessions": int(previous.get("sessions", 0)) + 1,
            "fingerprint": self._fingerprint(),
            "prompt_set": {"path": str(self.prompts.path), "sha256": self.prompts.sha256, "items": len(self.prompts)},
            "prices": {"digest": self.prices.digest, "tables": [str(p) for p in self.prices.sources]},
            "catalog": {"path": str(self.catalog.path), "as_of": str(self.catalog.as_of)},
            "params": {**asdict(self.params), "budget_usd": str(self.params.budget_usd) if self.params.budget_usd is not None else None},
            "estimates": {k: {f: (str(v) if isinstance(v, Decimal) else v) for f, v in e.items()} for k, e in estimates.items()},
            "versions": {
                "llama-eval": v("llama-eval"),
                "azure-ai-inference": v("azure-ai-inference"),
                "openai": v("openai"),
                "python": platform.python_version(),
            },
        }

    def _summary_record(self, states: dict[str, _DeploymentState]) -> dict[str, Any]:
        return {
            "rows_written": self.summary.rows_written,
            "by_status": dict(self.summary.by_status),
            "already_done": self.summary.skipped_done,
            "not_run": self.summary.not_run,
            "retries": self.summary.retries,
            "cost_usd": str(self.summary.cost_usd),
            "stopped_deployments": {n: s.dead for n, s in states.items() if s.dead},
            "rate_limited_by_pool": {s.pool.name: s.pool.rate_limited for s in states.values()},
            "client_loop_lag": self.summary.client_loop_lag,
        }


def _difference(before: Any, now: Any) -> str:
    if isinstance(before, dict) and isinstance(now, dict):
        keys = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        return "; ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in keys[:3])
    if isinstance(before, list) and isinstance(now, list) and len(before) == len(now):
        return "; ".join(_difference(b, n) for b, n in zip(before, now, strict=True) if b != n)
    return f"{str(before)[:120]!r} -> {str(now)[:120]!r}"


async def arun_evaluation(
    deployments: DeploymentsConfig | Sequence[Deployment],
    prompts: PromptSet,
    run_dir: str | Path,
    params: RunParams | None = None,
    *,
    resume: bool = False,
    prices: PriceBook | None = None,
    catalog: Catalog | None = None,
    progress: str = "auto",
    client_factory: Callable[..., AsyncLlamaClient] = make_async_client,
    announce: Callable[[str], None] | None = None,
    estimate_from: str | Path | None = None,
) -> RunSummary:
    """Run a prompt set through deployments (asyncio; ``await`` it in a notebook).

    ``estimate_from``: a previous run of the same prompts, for an expected (not only worst-case) cost.
    """
    catalog = catalog or load_catalog()
    runner = _Runner(
        deployments,
        prompts,
        Path(run_dir),
        params or RunParams(),
        resume=resume,
        prices=prices or load_prices(catalog=catalog),
        catalog=catalog,
        progress=progress,
        client_factory=client_factory,
        announce=announce or (lambda message: print(message, file=sys.stderr)),
        estimate_from=estimate_from,
    )
    return await runner.run()


def run_evaluation(*args: Any, **kwargs: Any) -> RunSummary:
    """The blocking form of ``arun_evaluation``; inside a running event loop (Jupyter) it uses a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(arun_evaluation(*args, **kwargs))
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(arun_evaluation(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="llama-eval-run")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


__all__ = ["BudgetError", "RunError", "RunParams", "RunSummary", "arun_evaluation", "run_evaluation"]
