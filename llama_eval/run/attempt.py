"""One request of a run, from budget reservation to its typed row: send, measure, retry, settle.

Latency comes from the final attempt alone; the retries, the time spent waiting for them and for
the quota pool are recorded beside it. A failed attempt is classified by ``policy.decide``. An
answer cut short (no ``finish_reason``: ``IncompleteAnswerError``) is a failed attempt too, but
one that used tokens: when it is the last attempt its row keeps them, with their cost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from llama_eval.errors import EndpointError, IncompleteAnswerError, RateLimitError
from llama_eval.prompts.prompt_set import PromptItem
from llama_eval.records import PROVISIONED, Reply, ResultRow, Status, Timing, Usage

from .estimate import max_tokens_for
from .lane import Lane
from .output import redact_url, row_key
from .params import RunParams
from .plan import request_params
from .policy import Budget, Decision, backoff, decide, retry_wait

_second: list = [None, ""]  # the last whole second formatted, and its text: rows finish many to a second


def now_iso() -> str:
    """The UTC time as ``datetime.isoformat(timespec="milliseconds")`` writes it, at a tenth of its cost."""
    now = time.time()
    second = int(now)
    if _second[0] != second:
        _second[:] = second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{int((now - second) * 1000):03d}+00:00"


@dataclass(frozen=True, slots=True)
class RequestShape:
    """What every request of a run with one ``max_tokens`` shares, worked out once instead of per request.

    ``row_params`` is the same dict in every row of that shape: rows never change it.
    """

    prepare: dict[str, Any]  # keyword arguments of ``client.prepare``
    row_params: dict[str, Any]  # what the row records as asked for (None values left out)
    max_out: int  # output tokens a request reserves from the quota: max_tokens x choices


@dataclass(slots=True)
class _Outcome:
    """What the last attempt produced: the outcome fields of its row, and the tokens and cost it used."""

    status: Status
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    reply: Reply | None = None
    usage: Usage | None = None
    usage_source: str | None = None
    timing: Timing | None = None
    used_tokens: int | None = None
    cost: Decimal | None = None


class Requester:
    """Sends the requests of a run; shared by every worker of every deployment."""

    def __init__(self, params: RunParams, budget: Budget, stop_lane: Callable[[Lane, str], None], *, checked: bool = False):
        """``checked``: every (deployment, item) request was already passed through ``build_request`` (``plan.make_plan`` does so)."""
        self.params = params
        self.checked = checked
        self.budget = budget
        self.stop_lane = stop_lane
        self.retries = 0
        self.cost = Decimal(0)
        self._shapes: dict[tuple[int, bool], RequestShape] = {}
        self._choices = params.choices

    def shape(self, item: PromptItem) -> RequestShape:
        """The request parameters of ``item``: an item differs from the run's only by its own max_tokens."""
        max_tokens = max_tokens_for(item, self.params.max_tokens)
        key = (max_tokens, item.metadata.get("ignore_eos") is True)  # an item may add ignore_eos (plan.request_params)
        shape = self._shapes.get(key)
        if shape is None:
            prepare = request_params(self.params, item)
            row_params = {k: v for k, v in prepare.items() if v is not None and k != "extra"}
            if prepare["extra"]:
                row_params["extra"] = prepare["extra"].to_dict()
            shape = self._shapes[key] = RequestShape(prepare, row_params, max_tokens * self._choices)
        return shape

    async def one(self, lane: Lane, item: PromptItem, repeat: int) -> ResultRow | None:
        """The row of one (item, repeat); None when the deployment was stopped before it was sent."""
        d = lane.deployment
        shape = self.shape(item)
        prepared = lane.client.prepare(item.messages, checked=self.checked, **shape.prepare)
        prompt_tokens = lane.prompt_tokens[item.id]
        worst = lane.price.cost(prompt_tokens, shape.max_out) if self.budget.limit is not None else None  # only a budget needs the worst case
        key = row_key(d.name, item.id, repeat)
        if not await self.budget.reserve(worst):
            stamp = now_iso()
            return ResultRow(key, d.name, d.model, lane.client.api, item.id, repeat, Status.BUDGET_SKIPPED, tuple(item.tags), shape.row_params,
                             started_at=stamp, finished_at=stamp, price_known=lane.price.known, warmup=False)  # fmt: skip
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
                reservation = await lane.pool.reserve(prompt_tokens + shape.max_out)
                waited_queue += reservation.waited_s
                lane.in_flight += 1
                try:
                    outcome = await self._attempt(lane, prepared, prompt_tokens, warmup)
                except EndpointError as exc:
                    error = exc
                    decision = decide(
                        exc, answered_before=lane.successes > 0, where=redact_url(d.resolve_endpoint()), key_hint=d.key_env or "the Entra ID credential",
                        provisioned=d.kind == PROVISIONED,
                    )  # fmt: skip
                    outcome = _failure(decision, exc, lane, prompt_tokens)
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
        reply = outcome.reply
        texts = reply.texts if reply is not None else None
        return ResultRow(
            key,
            d.name,
            d.model,
            lane.client.api,
            item.id,
            repeat,
            outcome.status,
            tuple(item.tags),
            shape.row_params,
            http_status=outcome.http_status,
            error_code=outcome.error_code,
            error_message=outcome.error_message,
            response_text=(texts[0] if texts else "") if reply is not None else None,
            choices=tuple(texts) if texts is not None and len(texts) > 1 else None,
            finish_reason=reply.finish_reason if reply is not None else None,
            usage=outcome.usage,
            usage_source=outcome.usage_source,
            timing=outcome.timing,
            attempts=attempts,
            retry_wait_s=round(waited_retry, 4),
            queue_wait_s=round(waited_queue, 4),
            started_at=started_at,
            finished_at=now_iso(),
            cost_usd=outcome.cost,
            price_known=lane.price.known,
            simulated=True if reply is not None and reply.simulated else None,
            warmup=warmup,
            **_intended_fields(reply),
        )

    async def _attempt(self, lane: Lane, prepared: Any, prompt_tokens: int, warmup: bool) -> _Outcome:
        reply = await lane.client.send(prepared)
        if reply.time_scale is not None and lane.probe is None:
            lane.time_scale = reply.time_scale
            lane.pool.set_time_scale(reply.time_scale)  # no probe: pace in the service's time from the first answer on
        outcome = _measured(Status.LENGTH if reply.finish_reason == "length" else Status.OK, reply, lane, prompt_tokens)
        if not warmup:
            assert outcome.timing is not None
            lane.latencies.append(outcome.timing.ttft_s if outcome.timing.ttft_s is not None else outcome.timing.e2e_s)
        return outcome


def _intended_fields(reply: Reply | None) -> dict[str, float]:
    """The row's ``intended_*`` fields from the emulator's intended timing of the answer (none for a real service)."""
    intended = reply.intended if reply is not None else None
    if intended is None:
        return {}
    return {"intended_ttft_s": intended.ttft_s, "intended_itl_s": intended.itl_s, "intended_e2e_s": intended.e2e_s}


def _measured(status: Status, reply: Reply, lane: Lane, prompt_tokens: int) -> _Outcome:
    """The outcome of an exchange that returned text: usage (the server's, else counted here), timing and cost."""
    if reply.usage is not None:
        usage, source = reply.usage, "server"
    else:
        completion = sum(lane.counter.count(t) for t in reply.texts)
        usage, source = Usage(prompt_tokens, completion, prompt_tokens + completion), "estimated"
    timing = Timing.measure(reply.started, reply.arrivals, reply.ended, reply.streamed, usage.completion_tokens)
    cost = lane.price.cost(usage.prompt_tokens, usage.completion_tokens)
    return _Outcome(status, http_status=200, reply=reply, usage=usage, usage_source=source, timing=timing, used_tokens=usage.total_tokens, cost=cost)


def _failure(decision: Decision, exc: EndpointError, lane: Lane, prompt_tokens: int) -> _Outcome:
    if isinstance(exc, IncompleteAnswerError) and exc.reply is not None:
        # cut short: not an answer, but the prompt was read and some tokens written, so they are costed (and the partial
        # text and its timing kept on the row); its status keeps it out of scores, latency statistics and successes
        outcome = _measured(decision.status, exc.reply, lane, prompt_tokens)
        outcome.error_message = exc.message[:2000]
        return outcome
    message = f"{decision.reason}: {exc.message}" if decision.reason else exc.message
    outcome = _Outcome(decision.status, http_status=exc.status_code, error_code=exc.code, error_message=message[:2000])
    if not decision.billed:  # a filtered prompt is not billed: cost 0 where the price is known
        outcome.used_tokens, outcome.cost = 0, Decimal(0) if lane.price.known else None
    return outcome
