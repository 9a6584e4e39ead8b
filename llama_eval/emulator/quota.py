"""Per-deployment rate limits, enforced as the service does: sliding windows over requests and tokens.

Tokens are reserved at admission (prompt tokens + ``max_tokens``) and settled to the real usage when
the response is done, so a burst of long requests is refused up front, and short answers give the
unused reservation back. Limits are per minute; the window may be shortened (``window_s``) so tests
can exercise throttling in a second, with each limit scaled to the window.

One clock: the emulator counts its windows in the *emulated service's* seconds (``emulated_clock``:
real seconds ÷ the time scale), so at ``time_scale`` 0.05 a quota minute lasts 3 real seconds and a
1,000-rpm deployment admits 1,000 requests in it, exactly as the service would in its minute; waits
come back in emulated seconds and go on the wire in real ones (``real_seconds``), because the client
sleeps real time. Time scale 0 (no delays at all) has no emulated time: its windows count real seconds.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


def _clock_scale(time_scale: float) -> float:
    return time_scale if time_scale > 0 else 1.0


def emulated_clock(time_scale: float) -> Callable[[], float]:
    """Seconds of the emulated service's time: ``time.monotonic()`` ÷ ``time_scale`` (0: real seconds)."""
    scale = _clock_scale(time_scale)
    if scale == 1.0:
        return time.monotonic
    return lambda: time.monotonic() / scale


def real_seconds(emulated_s: float, time_scale: float) -> float:
    """Real seconds that ``emulated_s`` seconds of the emulated service take at ``time_scale`` (0: as many)."""
    return emulated_s * _clock_scale(time_scale)


@dataclass(eq=False)  # identity, not value: two reservations of the same size at the same instant are different
class _Entry:
    at: float
    amount: float
    expired: bool = False


class SlidingWindow:
    """How much of ``limit`` was used in the last ``window_s`` seconds."""

    def __init__(self, limit: float, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._entries: deque[_Entry] = deque()
        self._used = 0.0

    def _prune(self, now: float) -> None:
        while self._entries and self._entries[0].at <= now - self.window_s:
            entry = self._entries.popleft()
            entry.expired = True
            self._used -= entry.amount

    def remaining(self) -> float:
        self._prune(self._clock())
        return max(0.0, self.limit - self._used)

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` fits (0 if it fits now; the whole window if it never can)."""
        now = self._clock()
        self._prune(now)
        needed = self._used + amount - self.limit
        if needed <= 0:
            return 0.0
        if amount > self.limit:
            return self.window_s
        freed = 0.0
        for entry in self._entries:
            freed += entry.amount
            if freed >= needed:
                return max(0.0, entry.at + self.window_s - now)
        return self.window_s

    def take(self, amount: float) -> _Entry:
        entry = _Entry(self._clock(), amount)
        self._entries.append(entry)
        self._used += amount
        return entry

    def adjust(self, entry: _Entry, amount: float) -> None:
        """Change an entry's amount (settle a reservation); O(1), and only counted while in the window."""
        if not entry.expired:
            self._used += amount - entry.amount
        entry.amount = amount


class QuotaExceeded(Exception):
    def __init__(self, retry_after_s: float, remaining_requests: int, remaining_tokens: int, what: str):
        super().__init__(what)
        self.retry_after_s = retry_after_s
        self.remaining_requests = remaining_requests
        self.remaining_tokens = remaining_tokens
        self.what = what


@dataclass
class Admission:
    tokens: _Entry | None
    limiter: QuotaLimiter
    done: bool = False

    def settle(self, actual_tokens: int) -> None:
        """Replace the reservation by what the request really used, and free its concurrency slot."""
        if self.done:
            return
        self.done = True
        if self.tokens is not None and self.limiter.tokens is not None:
            self.limiter.tokens.adjust(self.tokens, actual_tokens)
        self.limiter.in_flight -= 1


class QuotaLimiter:
    """Requests-per-minute, tokens-per-minute and concurrency limits of one deployment."""

    def __init__(self, rpm: int | None, tpm: int | None, concurrency: int | None = None, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        scale = window_s / 60.0
        self.requests = SlidingWindow(rpm * scale, window_s, clock) if rpm else None
        self.tokens = SlidingWindow(tpm * scale, window_s, clock) if tpm else None
        self.concurrency = concurrency
        self.in_flight = 0

    def remaining(self) -> tuple[int, int]:
        req = int(self.requests.remaining()) if self.requests else 10**9
        tok = int(self.tokens.remaining()) if self.tokens else 10**9
        return req, tok

    def admit(self, reserve_tokens: int, prompt_tokens: int | None = None) -> Admission:
        """Admit a request reserving ``reserve_tokens``, or raise QuotaExceeded with the wait.

        ``prompt_tokens`` (the input part of the reservation) is not needed here: token quotas count
        input and output alike. A provisioned deployment's bucket (``provisioned.PtuBucket``) weighs them.
        """
        waits = []
        if self.requests:
            waits.append((self.requests.wait_for(1), "requests"))
        if self.tokens:
            waits.append((self.tokens.wait_for(reserve_tokens), "tokens"))
        wait, what = max(waits, default=(0.0, ""))
        if wait <= 0 and self.concurrency is not None and self.in_flight >= self.concurrency:
            wait, what = 1.0, "concurrent requests"
        if wait > 0:
            req, tok = self.remaining()
            raise QuotaExceeded(wait, req, tok, what)
        if self.requests:
            self.requests.take(1)
        entry = self.tokens.take(reserve_tokens) if self.tokens else None
        self.in_flight += 1
        return Admission(entry, self)


def retry_after_header(seconds: float) -> str:
    """Whole seconds, rounded up, at least 1 — what Retry-After carries."""
    return str(max(1, math.ceil(seconds)))
