"""The traffic and latency objective a decision assumes when the user names none.

One home for them, so the CLI (``cost``, ``recommend``, ``report``), the report notebooks and the
Python API project the same volume at the same peak under the same objective: a surface that
needs a default imports it from here, never writes the number again.
"""

from __future__ import annotations

DEFAULT_REQUESTS_PER_DAY = 10_000  # production volume projected when none is given
DEFAULT_PEAK_RPS: float | None = None  # None: the day's average rate (requests_per_day / 86,400)
DEFAULT_SLO = "ttft_p90<=1.0"  # latency objective at peak, in the one SLO syntax (`--slo`), seconds
