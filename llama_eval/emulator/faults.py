"""Fault injection (``--fault-rate``, ``--fault-kinds``): which requests fail, and the errors they fail with.

The dice are seeded (``EmulatorConfig.seed``), so the same configuration fails the same requests.
How a fault plays out on the wire (a stall, a reset or malformed stream, a cut answer) is in chat.py.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .protocol import ApiError

# "cut": the answer ends without a finish_reason, as llama.cpp's server (default --interrupt_requests True) ends a
# running stream when another request arrives: the role chunk, perhaps some content, then `data: [DONE]` (no finish
# reason, no usage); a non-streamed answer comes back with its text so far and finish_reason null.
FAULT_KINDS = ("500", "503", "reset", "stall", "malformed", "cut")


class FaultDice:
    """Numbers each request and decides, at ``rate``, which fault (one of ``kinds``) it meets; None: none."""

    def __init__(self, rate: float, kinds: Sequence[str], seed: int):
        self.rate, self.kinds = rate, list(kinds)
        self.count = 0
        self._rng = random.Random(seed)

    def next_request(self) -> tuple[int, str | None]:
        """The request's number (from 1) and its fault."""
        self.count += 1
        fault = None
        if self.rate and self._rng.random() < self.rate:
            fault = self._rng.choice(self.kinds)
        return self.count, fault


def server_error(fault: str, scale: float) -> ApiError:
    """The 500 or 503 an injected fault answers with (a 503 with Retry-After, as the service sends)."""
    extra = {"retry-after": "1", "retry-after-ms": str(max(1, int(1000 * scale)))} if fault == "503" else {}
    code = "ServiceUnavailable" if fault == "503" else "InternalServerError"
    return ApiError(
        int(fault),
        {"error": {"code": code, "message": "The server had an error while processing your request (emulated fault).", "status": int(fault)}},
        {**extra, "x-ms-error-code": code},
    )


def cut_steps(rng: random.Random, shortest: int) -> int:
    """How many token steps of every choice a cut answer keeps: half the time none (the role chunk alone, as llama.cpp's
    server sends when the next request arrives before the first token), else up to one step before the shortest choice ends."""
    return 0 if rng.random() < 0.5 else rng.randint(0, max(0, shortest - 1))
