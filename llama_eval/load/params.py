"""What a sweep is asked to do (``SweepParams``), the samples a level collects, and the ways a sweep can stop."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from llama_eval.errors import SweepError
from llama_eval.records import ResultRow
from llama_eval.run.params import RunParams

from .objectives import Slo
from .search import SearchRange
from .slo import WIDE_MARGIN

EARLY_S = 0.0015  # open loop: how long before a send the sender wakes, to send on time despite timer granularity


SWEEP_RUN_PARAMS = RunParams(max_attempts=1, warmup=0, probe=False, concurrency=1)


@dataclass(frozen=True)
class SweepParams:
    """What to sweep. Give ``concurrency`` (closed loop) or ``rate`` (open loop, requests/s), and
    ``duration_s`` or ``requests_per_level``. Times are the service's seconds (see the module docstring).

    With ``search`` (a ``SearchRange``; ``concurrency``/``rate`` then hold its ``(lo, hi)``) the levels are not
    listed but chosen as the sweep goes (``search.next_load``), and an SLO is required.
    """

    concurrency: tuple[int, ...] = ()
    rate: tuple[float, ...] = ()
    duration_s: float | None = None
    requests_per_level: int | None = None
    warmup_s: float = 5.0
    slo: Slo | None = None
    stop_factor: float = WIDE_MARGIN
    respect_quota: bool = True
    budget_usd: Decimal | None = None
    seed: int = 0
    run: RunParams = SWEEP_RUN_PARAMS  # request parameters (max_tokens, temperature, stream...) and attempts
    search: SearchRange | None = None
    burstiness: float | None = None  # open loop: gamma gaps (vLLM's --burstiness; None or 1: Poisson)

    @property
    def mode(self) -> str:
        return "closed" if self.concurrency else "open"

    @property
    def arrivals(self) -> str:
        """The arrival process every level uses: ``closed`` (a loop of workers), ``poisson`` or ``gamma`` (open loop)."""
        if self.mode == "closed":
            return "closed"
        return "poisson" if self.burstiness in (None, 1.0) else "gamma"

    @property
    def levels(self) -> tuple[float, ...]:
        """The listed levels (empty for a search: it chooses them as it goes)."""
        if self.search is not None:
            return ()
        return tuple(self.concurrency) if self.concurrency else tuple(self.rate)

    def check(self) -> None:
        """Refuse what cannot be swept, before any request."""
        if bool(self.concurrency) == bool(self.rate):
            raise SweepError("give exactly one of --concurrency (closed loop, e.g. 1,2,4,8) or --rate (open loop, requests/s, e.g. 0.5,1,2,4)")
        if self.search is not None:
            self.search.check()
            if self.slo is None:
                raise SweepError("--search doubles the load until the SLO breaks, so it needs one: pass --slo, e.g. 'ttft<=0.5,e2e<=8@95%' or 'ttft_p90<=1.0'")
        if self.burstiness is not None:
            if self.mode == "closed":
                raise SweepError(f"--burstiness {self.burstiness:g} shapes the gaps between open-loop arrivals (--rate); a closed loop "
                                 "(--concurrency) sends each request when the last one ends, so it has no gaps to shape: use --rate with it")  # fmt: skip
            if not math.isfinite(self.burstiness) or self.burstiness <= 0:
                raise SweepError(f"--burstiness must be a number > 0 (1: Poisson, below 1 burstier, above 1 more regular), got {self.burstiness:g}")
        levels = self.levels
        if any(not math.isfinite(v) or v <= 0 for v in levels):
            raise SweepError(f"every level must be > 0, got {', '.join(f'{v:g}' for v in levels)}")
        if self.concurrency and any(int(v) != v for v in self.concurrency):
            raise SweepError(f"--concurrency levels are whole numbers, got {', '.join(f'{v:g}' for v in self.concurrency)}")
        if list(levels) != sorted(set(levels)):
            raise SweepError(f"levels must rise strictly (the sweep stops at the first one that breaks the SLO), got {', '.join(f'{v:g}' for v in levels)}")
        if (self.duration_s is None) == (self.requests_per_level is None):
            raise SweepError("give exactly one of --duration-s (seconds per level) or --requests-per-level (measured requests per level)")
        if self.duration_s is not None and self.duration_s <= 0:
            raise SweepError(f"--duration-s must be > 0, got {self.duration_s:g}")
        if self.requests_per_level is not None and self.requests_per_level < 1:
            raise SweepError(f"--requests-per-level must be >= 1, got {self.requests_per_level}")
        if self.warmup_s < 0:
            raise SweepError(f"--warmup-s must be >= 0, got {self.warmup_s:g}")
        if self.stop_factor <= 1:
            raise SweepError(f"stop_factor must be > 1 (a level this many times over a limit ends the sweep), got {self.stop_factor:g}")

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "levels": list(self.levels),
            "search": self.search.to_json() if self.search is not None else None,
            "duration_s": self.duration_s,
            "requests_per_level": self.requests_per_level,
            "warmup_s": self.warmup_s,
            "slo": str(self.slo) if self.slo else None,
            "stop_factor": self.stop_factor,
            "respect_quota": self.respect_quota,
            "budget_usd": str(self.budget_usd) if self.budget_usd is not None else None,
            "seed": self.seed,
            "burstiness": self.burstiness,
            "request": self.run.to_json(),
        }


@dataclass
class RequestSample:
    """One request of a level as the sweep saw it: its row and this process's perf_counter stamps."""

    row: ResultRow
    sent: float
    ended: float
    lateness_s: float | None = None


@dataclass
class _LevelState:
    samples: list[RequestSample] = field(default_factory=list)
    measured_started: int = 0
    stop: str | None = None  # why the level (and the sweep) ended early


# Why a sweep ended early (``stop_kind`` in sweep.json). The first three leave the last level unfinished and can be resumed.
STOP_INTERRUPTED, STOP_DEPLOYMENT, STOP_BUDGET = "interrupted", "deployment", "budget"


STOP_CLIENT_LOST = "client-lost"  # a client (Ray actor) of a distributed sweep died mid-level: its rows are kept, the level runs again


STOP_SLO, STOP_QUOTA, STOP_ALL_FAILED = "slo", "quota", "all-failed"


RESUMABLE = (STOP_INTERRUPTED, STOP_DEPLOYMENT, STOP_BUDGET, STOP_ALL_FAILED, STOP_CLIENT_LOST)


@dataclass(frozen=True)
class Shard:
    """One client's part of every level: ``index`` of ``count`` (``Shard(0, 1)``: one process does it all).

    Closed loop: slots and measured requests are dealt as evenly as they go (the first ``n % count`` shards one more);
    open loop: the one seeded schedule's arrivals are dealt round-robin (arrival ``i`` to shard ``i % count``).
    """

    index: int = 0
    count: int = 1

    def share(self, n: int) -> int:
        """This shard's part of ``n`` (slots, requests); the parts of all shards add up to ``n``."""
        return n // self.count + (1 if self.index < n % self.count else 0)

    def owns(self, arrival: int) -> bool:
        """Whether arrival number ``arrival`` (0-based, in schedule order) is this shard's to send."""
        return arrival % self.count == self.index


_SAME_ON_RESUME = ("mode", "burstiness", "search", "duration_s", "requests_per_level", "warmup_s", "seed", "request")


def parse_levels(values: Sequence[float] | str | None, kind: type, search: bool = False) -> tuple:
    """Listed levels (``"1,2,4"`` or a sequence), or with ``search`` a range (``"1:64"`` or ``(1, 64)``) as ``(lo, hi)``."""
    flag = "--concurrency" if kind is int else "--rate"
    example = "1:64" if kind is int else "0.5:32"
    if values is None:
        return ()
    if isinstance(values, str) and ":" in values:
        if not search:
            raise SweepError(f"{flag} {values}: a range LO:HI is for a capacity search: add --search (search=True), or list the levels, e.g. 1,2,4,8")
        lo, _, hi = values.partition(":")
        try:
            ends = (float(lo), float(hi))
        except ValueError:
            raise SweepError(f"cannot read the range {values!r}: write LO:HI, e.g. {flag} {example}") from None
        return tuple(int(v) if kind is int and v.is_integer() else v for v in ends)
    if search:
        given = values.split(",") if isinstance(values, str) else list(values)
        if len(given) != 2:
            raise SweepError(f"--search takes a range LO:HI, not a list of levels: e.g. {flag} {example} (got {values!r})")
        return parse_levels(":".join(str(v).strip() for v in given), kind, search=True)
    if isinstance(values, str):
        try:
            return tuple(kind(float(v)) if kind is int and float(v).is_integer() else kind(v) for v in values.split(",") if v.strip())
        except ValueError:
            raise SweepError(f"cannot read levels {values!r}: write numbers separated by commas, e.g. 1,2,4,8") from None
    return tuple(values)
