"""The traffic and latency objective a decision assumes when the user names none.

One home for them, so the CLI (``cost``, ``recommend``, ``report``), the report notebooks and the
Python API project the same volume at the same peak under the same objective: a surface that
needs a default imports it from here, never writes the number again, and says in its output that
it assumed it (``assumed_traffic``).

The peak. With no ``--peak-rps`` the machines are sized for the day's average rate
(``requests_per_day / 86,400``). A real service peaks higher, so for fixed capacity this is the
*least* it can need: a floor, never an inflated figure. We keep it rather than a "typical" peak
factor because no source we hold gives one that fits every workload (a chat tool used in office
hours and a nightly batch job differ several-fold), and an invented factor would be a number the
report could not back. Every surface that uses it says so ("peak not given, so the day's average
... sizes the machines (a real service peaks higher)") and names the flag that sets the real one.
Per-token options do not depend on the peak at all.
"""

from __future__ import annotations

DEFAULT_REQUESTS_PER_DAY = 10_000  # production volume projected when none is given
DEFAULT_PEAK_RPS: float | None = None  # None: the day's average rate (requests_per_day / 86,400); see the module docstring
DEFAULT_TTFT_P90_SLO_S = 1.0  # the default objective's limit: p90 time to first token, seconds
DEFAULT_SLO = f"ttft_p90<={DEFAULT_TTFT_P90_SLO_S}"  # latency objective at peak, in the one SLO syntax (`--slo`)


def assumed_traffic(requests_per_day: float | None, peak_rps: float | None, slo: str | None) -> list[str]:
    """What a command assumed because it was not told, one phrase each: ``assumed 10,000 requests/day (default; --requests-per-day)``."""
    out = []
    if requests_per_day is None:
        out.append(f"assumed {DEFAULT_REQUESTS_PER_DAY:,} requests/day (default; --requests-per-day)")
    if peak_rps is None:
        out.append("assumed the peak is the day's average, a floor for fixed capacity: a real service peaks higher (default; --peak-rps)")
    if slo is None:
        out.append(f"assumed the latency objective {DEFAULT_SLO} (default; --slo)")
    return out


def as_sentences(phrases: list[str]) -> list[str]:
    """``assumed_traffic``'s phrases as the lines a command prints: ``Assumed 10,000 requests/day (default; --requests-per-day).``"""
    return [p[0].upper() + p[1:] + "." for p in phrases]
