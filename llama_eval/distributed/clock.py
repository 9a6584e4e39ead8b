"""Clock offsets between the coordinator and a client, NTP-style, and the uncertainty they add to a merged level.

A probe is three wall-clock readings: the coordinator's before it asks (``t0``), the client's when it
answers (``tc``), the coordinator's when the answer arrives (``t1``). If the two legs took equally long,
the client's clock is ahead by ``tc - (t0 + t1) / 2``; whatever the legs took, the true offset lies within
± half the round trip of that. The probe with the shortest round trip is the tightest bound, so the
estimate is that probe's (NTP's clock filter does the same).

What the offset touches: a level's shared start instant (each client starts at the coordinator's
chosen instant shifted by its offset) and so the alignment of the shards' rows on one timeline, which
a level's throughput span is taken over. Latencies (TTFT, inter-token, end-to-end) are measured
inside one client process on its own monotonic clock and carry no offset error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClockOffset:
    """How far a client's wall clock is ahead of the coordinator's (``offset_s``, negative: behind), within ± ``uncertainty_s``."""

    client: int
    offset_s: float
    rtt_s: float
    probes: int

    @property
    def uncertainty_s(self) -> float:
        return self.rtt_s / 2

    def to_json(self) -> dict[str, Any]:
        return {"client": self.client, "offset_ms": round(1000 * self.offset_s, 3), "rtt_ms": round(1000 * self.rtt_s, 3),
                "uncertainty_ms": round(1000 * self.uncertainty_s, 3), "probes": self.probes}  # fmt: skip


def estimate_offset(client: int, probes: Sequence[tuple[float, float, float]]) -> ClockOffset:
    """The offset from ``(t0, tc, t1)`` probes (coordinator before, client, coordinator after): the shortest round trip's."""
    if not probes:
        raise ValueError("no clock probes to estimate an offset from")
    t0, tc, t1 = min(probes, key=lambda p: p[2] - p[0])
    if t1 < t0:
        raise ValueError(f"a clock probe ended before it began ({t0} > {t1}): the coordinator's readings must come from one clock")
    return ClockOffset(client, tc - (t0 + t1) / 2, t1 - t0, len(probes))


def uncertainty_s(offsets: Sequence[ClockOffset]) -> float:
    """What the offsets add to a merged level: two clients' rows may be misaligned by up to the sum of their two largest
    uncertainties (each client's start is off by at most its own)."""
    worst = sorted((o.uncertainty_s for o in offsets), reverse=True)[:2]
    return sum(worst) if len(worst) > 1 else (worst[0] if worst else 0.0)
