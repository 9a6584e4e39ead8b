"""What to do after a failed attempt, and how much may still be spent.

``decide`` turns an ``EndpointError`` into a ``Decision``: the row status it would get, whether it
is worth another attempt (an answer cut short without a ``finish_reason`` is, like a dropped
connection), and whether the whole deployment should stop (a refused key, or a
deployment that has never answered and now says 404 or cannot be reached: every other request
would fail the same way). ``Budget`` keeps spent + reserved under the limit with any number of
requests in flight.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from decimal import Decimal

from llama_eval.errors import (
    AuthenticationError,
    ContentFilterError,
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    IncompleteAnswerError,
    MalformedResponseError,
    RateLimitError,
)
from llama_eval.records import Status

RETRYABLE_STATUS = frozenset({408, 409, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    retry: bool
    stop_deployment: str | None = None  # why, when every other request of the deployment would fail too
    billed: bool = True  # False: the service does not charge for this outcome (content filter)
    reason: str = ""  # what the outcome means, recorded before the server's message ("" : the message says it)


PTU_BACK_PRESSURE = "PTU back-pressure: the provisioned deployment's utilization is above 100%, so it refused at once (no queue)"


def decide(exc: EndpointError, *, answered_before: bool, where: str, key_hint: str, provisioned: bool = False) -> Decision:
    """The decision for one failed attempt. ``answered_before``: the deployment has answered at least once.

    ``provisioned``: the deployment is provisioned throughput (PTU). Its 429 is not a token quota but
    utilization above 100%: refused at once, to be retried after ``retry-after-ms`` (``retry_wait``
    honours it, and ``retry-after``). The row is ``rate_limited`` with ``PTU_BACK_PRESSURE`` as its
    reason, and the wait is recorded as retry wait, never as time to first token.
    """
    if isinstance(exc, ContentFilterError):
        return Decision(Status.CONTENT_FILTER, retry=False, billed=False)
    if isinstance(exc, AuthenticationError):
        return Decision(Status.AUTH_ERROR, retry=False, stop_deployment=f"authentication failed ({exc}); check {key_hint}")
    if isinstance(exc, RateLimitError):
        if provisioned:
            wait = f" (retry-after {exc.retry_after_s * 1000:.0f} ms)" if exc.retry_after_s is not None else " (no retry-after-ms given)"
            return Decision(Status.RATE_LIMITED, retry=True, reason=PTU_BACK_PRESSURE + wait)
        return Decision(Status.RATE_LIMITED, retry=True)
    if isinstance(exc, EndpointTimeout):
        return Decision(Status.TIMEOUT, retry=True)
    if isinstance(exc, IncompleteAnswerError):
        # a dropped generation is retried like a dropped connection; it never stops the deployment: the server answered
        return Decision(Status.INCOMPLETE, retry=True)
    if isinstance(exc, MalformedResponseError):
        return Decision(Status.MALFORMED_RESPONSE, retry=True)
    if isinstance(exc, EndpointConnectionError):
        stop = None if answered_before else f"unreachable at {where}: {exc}"
        return Decision(Status.CONNECTION_ERROR, retry=True, stop_deployment=stop)
    code = exc.status_code or 0
    if code in RETRYABLE_STATUS or code >= 500:
        return Decision(Status.HTTP_ERROR, retry=True)
    if code in (400, 404, 422):
        stop = f"not found at {where} ({exc}); check the endpoint and deployment_name" if code == 404 and not answered_before else None
        return Decision(Status.INVALID_REQUEST, retry=False, stop_deployment=stop)
    return Decision(Status.HTTP_ERROR, retry=False)


def backoff(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Full-jitter exponential back-off: uniform in [0, min(max, base * 2**(attempt-1))]."""
    return (rng or random).uniform(0, min(max_s, base_s * 2 ** (attempt - 1)))


def retry_wait(exc: EndpointError, attempt: int, base_s: float, max_s: float) -> float:
    """The server's ``retry-after`` when it gave one, else back-off."""
    return exc.retry_after_s if exc.retry_after_s is not None else backoff(attempt, base_s, max_s)


class Budget:
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
        if self.limit is None:  # nothing reserved, nobody waits: keep the tally without the lock
            if actual is not None:
                self.spent += actual
            return
        async with self._settled:
            if worst is not None:
                self.reserved -= worst
            if actual is not None:
                self.spent += actual
            self._settled.notify_all()
