"""Pacing requests so a deployment runs as fast as its quota allows, and no faster.

Limits belong to a *quota pool*: by default one per deployment, but deployments that share one
limit name the same ``quota_pool`` and are paced together (Llama quotas are per region,
subscription and model; Azure's subscription-level shared pool covers a few non-Llama models only).
A pool holds:

* a requests bucket (rate rpm/60 per second) and a tokens bucket (tpm/60), each with a capacity of
  about one second's worth, and a 2% margin: in any 60-second window the pool sends at most
  capacity + 0.98 x limit, so a sliding-window quota is not exceeded by a burst;
* a concurrency cap;
* a pause: a 429 that arrives anyway stops the whole pool for its ``retry-after``.

Tokens are reserved as (prompt tokens + max_tokens x choices) before a request and settled to the
real usage afterwards, returning what was not used.

One clock: the buckets refill in the *service's* seconds. Against the emulator, the runner learns its
time scale from the probe (``x-llama-eval-time-scale``) and calls ``QuotaPool.set_time_scale``: at
0.05 a 1,000-rpm pool sends 1,000 requests per emulated minute (3 real seconds), i.e. 20,000 a real
minute, because the emulator counts its quota in emulated minutes too. A real service has time scale
1 and nothing changes; time scale 0 (no delays) paces in real seconds, as its quota counts them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

MARGIN = 0.98


class TokenBucket:
    """A refilling bucket; ``acquire`` waits (FIFO) until ``amount`` is available."""

    def __init__(self, per_minute: float, capacity: float | None = None):
        self.rate = per_minute * MARGIN / 60.0  # per second of the service's time
        self.capacity = capacity if capacity is not None else max(1.0, self.rate)
        self.level = self.capacity
        self.scale = 1.0  # real seconds per service second (the emulator's time scale; 1 for a real service)
        self._stamp = self._now()
        self._lock = asyncio.Lock()
        self._queued = 0  # acquirers in (or queued for) the slow path

    def _now(self) -> float:
        """The service's clock: real monotonic seconds ÷ the time scale."""
        return time.monotonic() / self.scale

    def set_time_scale(self, time_scale: float) -> None:
        """Count in the service's seconds from now on (``time_scale`` 0: real seconds)."""
        self._refill()
        self.scale = time_scale if time_scale > 0 else 1.0
        self._stamp = self._now()

    def _refill(self) -> None:
        now = self._now()
        self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now

    def take_now(self, amount: float) -> bool:
        """Take ``amount`` if it is there and nobody is waiting (no one is overtaken); False: ``acquire`` must wait."""
        if self._queued:
            return False
        self._refill()
        amount = min(amount, self.capacity)
        if self.level >= amount:
            self.level -= amount
            return True
        return False

    async def acquire(self, amount: float) -> float:
        """Take ``amount`` (waiting as needed); returns the real seconds waited."""
        waited = 0.0
        if self.take_now(amount):
            return waited
        amount = min(amount, self.capacity)  # a request larger than a second's worth waits for a full bucket
        self._queued += 1
        try:
            async with self._lock:
                self._refill()
                while self.level < amount:
                    delay = (amount - self.level) / self.rate * self.scale  # service seconds -> real seconds
                    await asyncio.sleep(delay)
                    waited += delay
                    self._refill()
                self.level -= amount
        finally:
            self._queued -= 1
        return waited

    def refund(self, amount: float) -> None:
        self._refill()
        self.level = min(self.capacity, self.level + amount)


@dataclass
class Reservation:
    tokens: int
    waited_s: float


class QuotaPool:
    """Requests/min, tokens/min and concurrency shared by the deployments of one pool."""

    def __init__(self, name: str, rpm: int | None, tpm: int | None, concurrency: int | None, largest_request_tokens: int = 0):
        self.name = name
        self.requests = TokenBucket(rpm) if rpm else None
        self.tokens = TokenBucket(tpm, capacity=max(tpm * MARGIN / 60.0, float(largest_request_tokens))) if tpm else None
        self._slots = asyncio.Semaphore(concurrency) if concurrency else None
        self._paused_until = 0.0
        self.rate_limited = 0

    def set_time_scale(self, time_scale: float) -> None:
        """Pace in the service's time: the emulator's ``time_scale`` as the probe read it (1: a real service)."""
        for bucket in (self.requests, self.tokens):
            if bucket is not None:
                bucket.set_time_scale(time_scale)

    def pause(self, seconds: float) -> None:
        """A 429 arrived: hold every request of the pool for ``seconds`` (real: what ``retry-after`` says on the wire)."""
        self.rate_limited += 1
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def reserve(self, tokens: int) -> Reservation:
        """Wait for a slot, the pause, a request and ``tokens``; call ``release`` when done."""
        start = time.monotonic()
        if self._slots:
            await self._slots.acquire()
        while (delay := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        if self.requests and not self.requests.take_now(1):
            await self.requests.acquire(1)
        if self.tokens and not self.tokens.take_now(tokens):
            await self.tokens.acquire(tokens)
        return Reservation(tokens, time.monotonic() - start)

    def release(self, reservation: Reservation, used_tokens: int | None) -> None:
        """Give back the slot, and the tokens reserved but not used."""
        if self.tokens and used_tokens is not None and used_tokens < reservation.tokens:
            self.tokens.refund(reservation.tokens - used_tokens)
        if self._slots:
            self._slots.release()
