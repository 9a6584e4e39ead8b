"""One request of a run, from budget reservation to its typed row: send, measure, retry, settle.

Latency comes from the final attempt alone; the retries, the time spent waiting for them and for
the quota pool are recorded beside it. A failed attempt is classified by ``policy.decide``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..cost import DEFAULT_MAX_TOKENS
from ..errors import EndpointError, RateLimitError
from ..prompts import PromptItem
from ..records import ResultRow, Status, Timing, Usage
from .lane import Lane
from .params import RunParams
from .policy import Budget, Decision, backoff, decide, retry_wait
from .rundir import redact_url, row_key

_second: list = [None, ""]  # the last whole second formatted, and its text: rows finish many to a second


def now_iso() -> str:
    """The UTC time as ``datetime.isoformat(timespec="milliseconds")`` writes it, at a tenth of its cost."""
    now = time.time()
    second = int(now)
    if _second[0] != second:
        _second[:] = second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{int((now - second) * 1000):03d}+00:00"


@dataclass
class _Outcome:
    """What the last attempt produced: a row's outcome fields and the tokens/cost it used."""

    status: Status
    fields: dict[str, Any]
    used_tokens: int | None = None
    cost: Decimal | None = None


class Requester:
    """Sends the requests of a run; shared by every worker of every deployment."""

    def __init__(self, params: RunParams, budget: Budget, request_params: Callable[[PromptItem], dict[str, Any]], stop_lane: Callable[[Lane, str], None],
                 *, checked: bool = False):  # fmt: skip
        """``checked``: every (deployment, item) request was already passed through ``build_request`` (``plan.make_plan`` does so)."""
        self.params = params
        self.checked = checked
        self.budget = budget
        self.request_params = request_params
        self.stop_lane = stop_lane
        self.retries = 0
        self.cost = Decimal(0)

    async def one(self, lane: Lane, item: PromptItem, repeat: int) -> ResultRow | None:
        """The row of one (item, repeat); None when the deployment was stopped before it was sent."""
        d = lane.deployment
        request_params = self.request_params(item)
        prepared = lane.client.prepare(item.messages, checked=self.checked, **request_params)
        prompt_tokens = lane.prompt_tokens[item.id]
        max_out = request_params.get("max_tokens", DEFAULT_MAX_TOKENS) * self.params.choices
        worst = lane.price.cost(prompt_tokens, max_out) if self.budget.limit is not None else None  # only a budget needs the worst case
        params = {k: v for k, v in request_params.items() if v is not None and k != "extra"}
        if self.params.extra:
            params["extra"] = self.params.extra.to_dict()
        identity = {"key": row_key(d.name, item.id, repeat), "deployment": d.name, "model": d.model, "api": lane.client.api}
        identity |= {"prompt_id": item.id, "repeat": repeat, "tags": tuple(item.tags), "params": params, "price_known": lane.price.known}
        if not await self.budget.reserve(worst):
            stamp = now_iso()
            return ResultRow(**identity, status=Status.BUDGET_SKIPPED, started_at=stamp, finished_at=stamp, warmup=False)
        started_at = now_iso()
        attempts, waited_retry, waited_queue = 0, 0.0, 0.0
        outcome: _Outcome | None = None
        decision: Decision | None = None
        warmup = lane.started < self.params.warmup
        lane.started += 1
        try:
            while True:
                if lane.dead is not None:
                    return None
                attempts += 1
                outcome, error = None, None
                reservation = await lane.pool.reserve(prompt_tokens + max_out)
                waited_queue += reservation.waited_s
                lane.in_flight += 1
                try:
                    outcome = await self._attempt(lane, prepared, prompt_tokens, warmup)
                except EndpointError as exc:
                    error = exc
                    decision = decide(
                        exc, answered_before=lane.successes > 0, where=redact_url(d.resolve_endpoint()), key_hint=d.key_env or "the Entra ID credential"
                    )
                    outcome = _failure(decision, exc, lane)
                finally:
                    lane.in_flight -= 1
                    lane.pool.release(reservation, outcome.used_tokens if outcome else None)
                if error is None:
                    break
                if isinstance(error, RateLimitError):
                    lane.pool.pause(error.retry_after_s or backoff(attempts, self.params.backoff_base_s, self.params.backoff_max_s))
                last = not decision.retry or attempts >= self.params.max_attempts
                if last:
                    if decision.stop_deployment:
                        self.stop_lane(lane, decision.stop_deployment)
                    break
                wait = retry_wait(error, attempts, self.params.backoff_base_s, self.params.backoff_max_s)
                waited_retry += wait
                await asyncio.sleep(wait)
        finally:
            await self.budget.settle(worst, outcome.cost if outcome else None)
        assert outcome is not None
        if outcome.status.answered:
            lane.successes += 1
        self.retries += attempts - 1
        if outcome.cost is not None:
            self.cost += outcome.cost
        return ResultRow(
            **identity,
            status=outcome.status,
            **outcome.fields,
            attempts=attempts,
            retry_wait_s=round(waited_retry, 4),
            queue_wait_s=round(waited_queue, 4),
            started_at=started_at,
            finished_at=now_iso(),
            cost_usd=outcome.cost,
            warmup=warmup,
        )

    async def _attempt(self, lane: Lane, prepared: Any, prompt_tokens: int, warmup: bool) -> _Outcome:
        reply = await lane.client.send(prepared)
        if reply.time_scale is not None and lane.probe is None:
            lane.time_scale = reply.time_scale
        if reply.usage is not None:
            usage, source = reply.usage, "server"
        else:
            completion = sum(lane.counter.count(t) for t in reply.texts)
            usage, source = Usage(prompt_tokens, completion, prompt_tokens + completion), "estimated"
        timing = Timing.measure(reply.started, reply.arrivals, reply.ended, reply.streamed, usage.completion_tokens)
        fields = {
            "http_status": 200,
            "response_text": reply.texts[0] if reply.texts else "",
            "choices": tuple(reply.texts) if len(reply.texts) > 1 else None,
            "finish_reason": reply.finish_reason,
            "usage": usage,
            "usage_source": source,
            "timing": timing,
            "simulated": True if reply.simulated else None,
        }
        status = Status.LENGTH if reply.finish_reason == "length" else Status.OK
        if not warmup:
            lane.latencies.append(timing.ttft_s if timing.ttft_s is not None else timing.e2e_s)
        return _Outcome(status, fields, usage.total_tokens, lane.price.cost(usage.prompt_tokens, usage.completion_tokens))


def _failure(decision: Decision, exc: EndpointError, lane: Lane) -> _Outcome:
    fields = {"http_status": exc.status_code, "error_code": exc.code, "error_message": exc.message[:2000]}
    if not decision.billed:  # a filtered prompt is not billed: cost 0 where the price is known
        return _Outcome(decision.status, fields, 0, Decimal(0) if lane.price.known else None)
    return _Outcome(decision.status, fields)
