"""The capacity search: double the load until the SLO breaks, then bisect between the last good and the first bad level.

GuideLLM's goodput profile and DistServe's capacity search do the same: the levels worth paying for are
the ones near the knee. From ``lo`` the load doubles (``lo``, 2·``lo``, 4·``lo``, … capped at ``hi``)
until a level misses the SLO; then each next level is the midpoint of the highest passing load below
the lowest failing one and that failing load, until they are adjacent (closed loop: concurrency, whole
numbers) or within ``precision`` of each other (open loop: rate, ``bad ÷ good − 1 <= precision``).

``next_load`` is a pure function of what has been measured, so a resumed search picks up exactly where
it stopped, and the capacity it ends on is the one ``slo.find_capacity`` finds (the highest passing load
of the unbroken run from the lowest).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llama_eval.errors import SweepError

DEFAULT_PRECISION = 0.1  # open loop: stop bisecting when the first bad rate is within 10% of the last good one


@dataclass(frozen=True)
class SearchRange:
    """A capacity search from ``lo`` to ``hi``: closed loop (``closed``, whole-number concurrency) or open loop (rate, req/s)."""

    lo: float
    hi: float
    closed: bool
    precision: float = DEFAULT_PRECISION

    def check(self) -> None:
        """Refuse a range that cannot be searched, with what to write instead."""
        flag = "--concurrency" if self.closed else "--rate"
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)) or self.lo <= 0 or self.hi <= self.lo:
            raise SweepError(f"--search needs a range LO:HI with 0 < LO < HI, e.g. {flag} {'1:64' if self.closed else '0.5:32'}; got {self.lo:g}:{self.hi:g}")
        if self.closed and (int(self.lo) != self.lo or int(self.hi) != self.hi):
            raise SweepError(f"--concurrency levels are whole numbers, got {self.lo:g}:{self.hi:g}; e.g. --concurrency 1:64")
        if not 0 < self.precision < 1:
            raise SweepError(f"--precision is the relative width at which the rate search stops, between 0 and 1 (e.g. 0.1 for 10%), got {self.precision:g}")

    def ladder(self) -> tuple[float, ...]:
        """The doubling ladder over the range: ``lo``, 2·``lo``, … and ``hi`` (what a doubling-only sweep of it runs)."""
        out = [self.lo]
        while out[-1] < self.hi:
            out.append(min(out[-1] * 2, self.hi))
        return tuple(self._shape(v) for v in out)

    def _shape(self, value: float) -> float:
        return float(int(value)) if self.closed else round(value, 4)

    def to_json(self) -> dict[str, Any]:
        return {"range": [self.lo, self.hi], "precision": None if self.closed else self.precision, "doubling_ladder": list(self.ladder())}


def next_load(search: SearchRange, measured: Sequence[tuple[float, bool]]) -> float | None:
    """The next load to measure given ``measured`` (load, met the SLO) in the order measured; None when the search is done.

    Done when: the lowest load fails (no capacity), ``hi`` passes (the capacity is at least ``hi``), or the last
    good and the first bad load are adjacent (closed loop) or within ``precision`` (open loop).
    """
    if not measured:
        return search.lo
    passed = {load for load, met in measured if met}
    failed = {load for load, met in measured if not met}
    if not failed:
        top = max(passed)
        return None if top >= search.hi else search._shape(min(top * 2, search.hi))
    bad = min(failed)
    good_below = [load for load in passed if load < bad]
    if not good_below:
        return None  # the lowest level measured fails: nothing below it to bisect towards
    good = max(good_below)
    if search.closed:
        if bad - good <= 1:
            return None
        return float((int(good) + int(bad)) // 2)
    if bad / good - 1 <= search.precision:
        return None
    middle = round((good + bad) / 2, 4)
    return None if middle in (good, bad) else middle
