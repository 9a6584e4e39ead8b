"""What a load sweep's levels mean: the latency SLO, which levels meet it, and the capacity.

A sweep measures one row per load level (``SweepLevel``: the columns of ``sweep.csv``). An SLO
such as ``"ttft_p90<=1.0,e2e_p90<=10"`` is a list of limits on those columns (``Slo.parse``). The
*capacity* is the highest level of the contiguous run of passing levels that starts at the lowest
level: a level that passes above one that failed is noise, not capacity (``find_capacity``). It is
always a level that was measured; a linear interpolation to where the binding metric crosses its
limit may sit beside it, under its own name (``CapacityEstimate``), and is never used for money.

Error share is part of every SLO: unless the SLO names ``error_rate``, a level whose share of
failed requests exceeds ``DEFAULT_MAX_ERROR_RATE`` does not meet it (a deployment that answers fast
because it refuses half its requests has not met a latency objective).

Per-request SLOs (``"ttft<=0.5,itl<=0.05,e2e<=8@95%"``, ``"otps>=50@99%"``) judge each request
instead of a level's percentile: a request is *good* when it was answered and meets every limit
(an error, a cut stream or an unmeasured value is a miss). A level's *attainment* is good ÷ sent
requests, with a Wilson 95% interval; its *goodput* is good requests ÷ the level's measured span
(vLLM's ``request_goodput``); it meets the SLO when the attainment's point estimate reaches the
share after ``@``. Errors are misses already, so no implicit error limit is added to these.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llama_eval.errors import SloError, SweepError
from llama_eval.records import Status
from llama_eval.rundir.store import read_rows

if TYPE_CHECKING:  # pandas is imported when a frame is asked for: cost and recommend read sweeps without it
    import pandas as pd

# The columns of sweep.csv, in order, exactly as issue 14 names them (other tools read them by name).
CSV_COLUMNS = (
    "level",
    "concurrency",
    "rate_rps",
    "requests",
    "errors",
    "throughput_rps",
    "output_tps",
    "ttft_p50_s",
    "ttft_p90_s",
    "ttft_p99_s",
    "itl_p50_s",
    "e2e_p50_s",
    "e2e_p90_s",
)
# what sweep.csv adds after those (empty under a percentile SLO), and the attainment fields of a level
ATTAINMENT_COLUMNS = ("good_requests", "attainment", "attainment_low", "attainment_high", "goodput_rps")
LATENCY_METRICS = ("ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "itl_p50_s", "e2e_p50_s", "e2e_p90_s")
SLO_METRICS = (*LATENCY_METRICS, "error_rate")
# per-request metrics (``--slo "ttft<=0.5,otps>=50@95%"``): seconds, except otps (completion tokens/s after the first token)
REQUEST_METRICS = ("ttft", "itl", "e2e", "otps")
REQUEST_FLOORS = ("otps",)  # a floor (>=), not a ceiling (<=)
WILSON_Z = 1.959963984540054  # the two-sided 95% normal quantile
DEFAULT_MAX_ERROR_RATE = 0.01
WIDE_MARGIN = 2.0  # a level whose worst metric is this many times its limit ends the sweep
SWEEP_JSON = "sweep.json"
SWEEP_CSV = "sweep.csv"


# --------------------------------------------------------------------------- levels


@dataclass(frozen=True)
class SweepLevel:
    """One load level as measured: the ``sweep.csv`` columns, then what ``sweep.json`` adds.

    Latencies are seconds of the service's time (for the emulator: measured ÷ its time scale);
    ``throughput_rps`` is answered requests ÷ (last answer's end − first measured request's start),
    the definition vLLM's benchmark_serving uses. ``None`` where nothing was measured.
    """

    level: int
    concurrency: int | None
    rate_rps: float | None
    requests: int
    errors: int
    throughput_rps: float | None
    output_tps: float | None
    ttft_p50_s: float | None
    ttft_p90_s: float | None
    ttft_p99_s: float | None
    itl_p50_s: float | None
    e2e_p50_s: float | None
    e2e_p90_s: float | None
    # sweep.json only
    warmup_requests: int = 0
    send_rate_rps: float | None = None  # open loop: measured requests sent ÷ the measured window (longer if the last ones went out late)
    sender_lateness_p50_ms: float | None = None  # open loop: how late this process sent against the schedule (real ms)
    sender_lateness_p99_ms: float | None = None
    loop_lag_p99_ms: float | None = None
    saturated: bool = False  # this process's own delay was large enough to move the percentiles
    error_kinds: dict[str, int] = field(default_factory=dict)
    slo_met: bool | None = None
    slo_breaches: tuple[str, ...] = ()
    measured_s: float | None = None  # the span throughput divides by (service seconds); goodput divides by it too
    # under a per-request SLO (None otherwise): requests meeting every limit, their share with its Wilson 95% interval, their rate
    good_requests: int | None = None
    attainment: float | None = None
    attainment_low: float | None = None
    attainment_high: float | None = None
    goodput_rps: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def load(self) -> str:
        """``concurrency 8`` or ``rate 2 rps``: the level's load in words."""
        return f"concurrency {self.concurrency}" if self.concurrency is not None else f"rate {self.rate_rps:g} rps"

    @property
    def load_value(self) -> float:
        """The level's load as a number (concurrency or rate): what a sweep orders its levels by."""
        return float(self.concurrency) if self.concurrency is not None else float(self.rate_rps or 0.0)

    @property
    def span_s(self) -> float | None:
        """``measured_s``; for sweep.json files written before it was kept, answered ÷ throughput (the same span)."""
        if self.measured_s is not None:
            return self.measured_s
        answered = self.requests - self.errors
        return answered / self.throughput_rps if self.throughput_rps and answered > 0 else None

    def value(self, metric: str) -> float | None:
        return self.error_rate if metric == "error_rate" else getattr(self, metric)

    def csv_row(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in CSV_COLUMNS}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["slo_breaches"] = list(self.slo_breaches)
        data["error_rate"] = self.error_rate
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepLevel:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["slo_breaches"] = tuple(values.get("slo_breaches") or ())
        return cls(**values)


# --------------------------------------------------------------------------- the SLO

_NUMBER = re.compile(r"^([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(ms|s|tok/s|tokens/s)?$", re.IGNORECASE)
_TERM = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|<|>|==|=)?\s*(.*?)\s*$", re.IGNORECASE)
_METRIC_LIST = ", ".join([*(m.removesuffix("_s") for m in SLO_METRICS), *REQUEST_METRICS])


def wilson_interval(good: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval of a share ``good``/``n`` (95% for the default ``z``); (0, 1) when ``n`` is 0.

    The closed form (Wilson 1927), the same as ``statsmodels.stats.proportion.proportion_confint(good, n,
    method="wilson")``: unlike the normal approximation it stays inside [0, 1] and is not zero-width at
    0% or 100%, which is where an attainment target sits.
    """
    if n <= 0:
        return 0.0, 1.0
    p = good / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class RequestOutcome:
    """One sent request as a per-request SLO sees it (service seconds): answered or not, and its measures.

    ``itl`` is the time per output token after the first, (e2e − ttft) ÷ (completion tokens − 1), as
    vLLM's goodput TPOT (0 for a one-token answer); ``otps`` is completion tokens ÷ (e2e − ttft), the
    generation speed after the first token. ``None``: not measured (a non-streamed request has no TTFT).
    """

    answered: bool
    ttft: float | None = None
    itl: float | None = None
    e2e: float | None = None
    otps: float | None = None

    @classmethod
    def of(cls, status: Status, ttft_s: float | None, e2e_s: float | None, completion_tokens: int | None, scale: float = 1.0) -> RequestOutcome:
        """From a row's status, times (as measured) and completion tokens; ``scale``: the emulator's time scale (measured ÷ it)."""
        if not status.answered or e2e_s is None:
            return cls(False)
        e2e = e2e_s / scale
        ttft = ttft_s / scale if ttft_s is not None else None
        itl = otps = None
        if ttft is not None and completion_tokens:
            decode = max(0.0, e2e - ttft)
            itl = decode / (completion_tokens - 1) if completion_tokens > 1 else 0.0
            otps = completion_tokens / decode if decode > 0 else None
        return cls(True, ttft, itl, e2e, otps)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], scale: float = 1.0) -> RequestOutcome:
        """From a results.jsonl row (as ``read_rows`` gives it)."""
        usage = row.get("usage") or {}
        return cls.of(Status(row["status"]), row.get("ttft_s"), row.get("e2e_s"), usage.get("completion_tokens"), scale)


@dataclass(frozen=True)
class Objective:
    """One limit. Level objectives: ``metric <= limit`` (or ``<``) on a level's column (``ttft_p90_s``, ``error_rate``).
    Per-request objectives (``per_request``): the same on each request's ``ttft``/``itl``/``e2e``, or ``otps >= limit``
    (``floor``). Latency limits are in seconds."""

    metric: str
    limit: float
    strict: bool = False
    per_request: bool = False
    floor: bool = False  # the value must be at least the limit (otps)

    def met(self, value: float | None) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False  # nothing measured cannot meet an objective
        if self.floor:
            return value > self.limit if self.strict else value >= self.limit
        return value < self.limit if self.strict else value <= self.limit

    def ratio(self, value: float | None) -> float:
        """value ÷ limit (how far over; inf when nothing was measured)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return math.inf
        if self.limit == 0:
            return 0.0 if value == 0 else math.inf
        return value / self.limit

    def __str__(self) -> str:
        name = self.metric.removesuffix("_s")
        op = (">" if self.floor else "<") + ("" if self.strict else "=")
        return f"{name}{op}{self.limit:g}"


def _refuse(term: str, why: str) -> SloError:
    return SloError(f"--slo {term!r}: {why}")


def _objective(term: str) -> Objective:
    """One term of an SLO (``ttft_p90<=1.0``, ``ttft<=0.5``, ``otps>=50``, ``itl<50ms``), or an SloError that says how to write it."""
    match = _TERM.match(term)
    name, op, number = match.groups() if match else (term, None, "")
    name = name.lower()
    per_request = name in REQUEST_METRICS
    metric = name if per_request or name in SLO_METRICS else f"{name}_s" if f"{name}_s" in SLO_METRICS else None
    if not match or op is None or not number:
        raise _refuse(term, "cannot read SLO term: write METRIC<=NUMBER, e.g. 'ttft_p90<=1.0' (a level's percentile) or 'ttft<=0.5@95%' "
                            f"(each request; the share after @); metrics: {_METRIC_LIST}")  # fmt: skip
    if metric is None:
        raise SloError(f"unknown SLO metric {name!r} in {term!r}; use one of {_METRIC_LIST}")
    if op in ("=", "=="):
        raise _refuse(term, f"cannot read SLO term: '{op}' is not a limit; write {name}<=NUMBER (at most) or, for a speed, otps>=NUMBER (at least)")
    floor = metric in REQUEST_FLOORS
    if floor and op.startswith("<"):
        raise _refuse(term, f"output speed is a floor: write {name}>={number} (each request at least {number} tokens/s)")
    if not floor and op.startswith(">"):
        raise _refuse(term, f"{name} is a ceiling: write {name}<={number}")
    parsed = _NUMBER.match(number)
    example = {"otps": "otps>=50", "error_rate": "error_rate<=0.01"}.get(name, f"{name}<=0.5")
    if not parsed:
        what = "a number of tokens/s" if floor else "a share between 0 and 1" if metric == "error_rate" else "a number of seconds"
        raise _refuse(term, f"{number!r} is not {what}; e.g. {example}")
    value, unit = float(parsed.group(1)), (parsed.group(2) or "").lower()
    if metric == "error_rate":
        if unit:
            raise _refuse(term, f"error_rate is a share (0-1), not a time; e.g. {example}")
        if value > 1:
            raise _refuse(term, f"error_rate is a share between 0 and 1, got {value:g}; e.g. {example}")
    elif floor and unit in ("ms", "s"):
        raise _refuse(term, f"otps is tokens per second, not a time; e.g. {example}")
    elif not floor and unit in ("tok/s", "tokens/s"):
        raise _refuse(term, f"{name} is a time in seconds (or ms), not a speed; e.g. {example}")
    limit = value / 1000.0 if unit == "ms" else value
    return Objective(metric, limit, strict=op in ("<", ">"), per_request=per_request, floor=floor)


def _target(text: str, share: str) -> float:
    """The share after ``@``: ``95%`` or ``0.95``."""
    raw = share.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise _refuse(text, f"'@{raw}' is not a share of requests; write it as @95% (or @0.95)") from None
    if not raw.endswith("%") and value > 1:
        raise _refuse(text, f"'@{raw}' is not a share of requests: did you mean @{raw}%? (a share is 0-1, or a percentage with %)")
    if not 0 < value <= 1:
        raise _refuse(text, f"'@{raw}' must be a share above 0% and at most 100%, e.g. @95%")
    return value


@dataclass(frozen=True)
class Slo:
    """A latency SLO: every level objective must hold, and, when ``target`` is set, the share of requests meeting
    every per-request objective (the attainment) must reach it. Without per-request objectives the error share must
    stay under its limit (``DEFAULT_MAX_ERROR_RATE`` unless ``error_rate`` is named); with them, errors are misses."""

    objectives: tuple[Objective, ...]
    target: float | None = None  # the attainment target (0-1) of the per-request objectives

    @classmethod
    def parse(cls, text: str | Slo | None) -> Slo | None:
        """``"ttft_p90<=1.0,e2e_p90<=10"`` (a level's percentiles) or ``"ttft<=0.5,itl<=0.05,e2e<=8@95%"`` (each request;
        the share after ``@``), ``"otps>=50@99%"``; seconds (``250ms`` also works) -> Slo; None/empty -> None.

        Raises ``SloError`` naming the term and how to write it (an unknown metric, a limit that is not a
        number, ``otps<=``, per-request limits without ``@share``, ``@share`` without per-request limits).
        """
        if text is None or isinstance(text, Slo):
            return text
        body, at, share = text.partition("@")
        terms = [t.strip() for t in re.split(r"[,;]", body) if t.strip()]
        if not terms:
            if at:
                raise _refuse(text, "'@share' needs limits before it, e.g. 'ttft<=0.5,e2e<=8@95%'")
            return None
        objectives: list[Objective] = []
        for term in terms:
            objective = _objective(term)
            if any(o.metric == objective.metric for o in objectives):
                raise SloError(f"SLO names {objective.metric.removesuffix('_s')} twice: {text!r}")
            objectives.append(objective)
        per_request = [o for o in objectives if o.per_request]
        target = _target(text, share) if at else None
        if per_request and target is None:
            first = str(per_request[0])
            raise _refuse(text, f"per-request limits ({first}) need the share of requests that must meet them: add it after @, "
                                f"e.g. '{body.strip()}@95%'; or limit a level's percentile instead, "
                                f"e.g. '{per_request[0].metric}_p90<={per_request[0].limit:g}'")  # fmt: skip
        if target is not None and not per_request:
            raise _refuse(text, f"'@{share.strip()}' is the share of requests that must meet per-request limits ({', '.join(REQUEST_METRICS)}); "
                                f"'{terms[0]}' is already a level's percentile: drop '@{share.strip()}', or write e.g. 'ttft<=1.0@90%'")  # fmt: skip
        if not per_request and not any(o.metric == "error_rate" for o in objectives):
            objectives.append(Objective("error_rate", DEFAULT_MAX_ERROR_RATE))
        return cls(tuple(objectives), target)

    @property
    def per_request(self) -> tuple[Objective, ...]:
        """The objectives each request must meet (empty: a percentile SLO)."""
        return tuple(o for o in self.objectives if o.per_request)

    @property
    def level_objectives(self) -> tuple[Objective, ...]:
        return tuple(o for o in self.objectives if not o.per_request)

    @property
    def by_attainment(self) -> bool:
        """True when levels are judged by attainment (the SLO has per-request limits and a target)."""
        return bool(self.per_request) and self.target is not None

    def request_met(self, outcome: RequestOutcome) -> bool:
        """Whether one request meets every per-request limit (an unanswered request never does)."""
        return outcome.answered and all(o.met(getattr(outcome, o.metric)) for o in self.per_request)

    def attain(self, level: SweepLevel, outcomes: Sequence[RequestOutcome]) -> SweepLevel:
        """``level`` with its good requests, attainment (Wilson 95% interval) and goodput under this SLO, from its
        sent requests' ``outcomes``; a percentile SLO leaves those fields None."""
        if not self.by_attainment:
            return replace(level, good_requests=None, attainment=None, attainment_low=None, attainment_high=None, goodput_rps=None)
        good = sum(1 for o in outcomes if self.request_met(o))
        n = len(outcomes)
        low, high = wilson_interval(good, n)
        span = level.span_s
        return replace(
            level,
            good_requests=good,
            attainment=round(good / n, 6) if n else None,
            attainment_low=round(low, 6) if n else None,
            attainment_high=round(high, 6) if n else None,
            goodput_rps=round(good / span, 4) if span else (0.0 if n and good == 0 else None),
        )

    def breaches(self, level: SweepLevel) -> tuple[str, ...]:
        """What this level misses, in words (empty: it meets the SLO). Under a per-request SLO, ``level`` must have been
        through ``attain`` (no attainment: not measured, a miss)."""
        out = []
        if self.by_attainment:
            assert self.target is not None
            if level.attainment is None or level.attainment < self.target:
                shown = "not measured" if level.attainment is None else f"{level.attainment:.1%} ({level.good_requests}/{level.requests})"
                out.append(f"attainment {shown} < {self.target * 100:g}%")
        for o in self.level_objectives:
            value = level.value(o.metric)
            if not o.met(value):
                shown = "not measured" if value is None else f"{value:.4g}"
                out.append(f"{o.metric.removesuffix('_s')} {shown} > {o.limit:g}")
        return tuple(out)

    def worst_ratio(self, level: SweepLevel) -> float:
        """How far the level is from the SLO: the largest value ÷ limit; under a per-request SLO also the miss share ÷ the
        allowed miss share (1 − target), so that ``stop_factor`` 2 stops a sweep at twice the misses the target allows."""
        ratios = [o.ratio(level.value(o.metric)) for o in self.level_objectives]
        if self.by_attainment:
            assert self.target is not None
            if level.attainment is None:
                ratios.append(math.inf)
            else:
                missed, allowed = 1 - level.attainment, 1 - self.target
                ratios.append((0.0 if missed <= 0 else math.inf) if allowed <= 0 else missed / allowed)
        return max(ratios, default=0.0)

    def __str__(self) -> str:
        text = ",".join(str(o) for o in self.objectives)
        return f"{text}@{self.target * 100:g}%" if self.target is not None else text


# --------------------------------------------------------------------------- capacity


@dataclass(frozen=True)
class CapacityEstimate:
    """An interpolated capacity: where the binding metric would cross its limit between two measured levels."""

    throughput_rps: float
    between_levels: tuple[int, int]
    metric: str
    method: str = "linear interpolation of the binding metric against throughput between the last passing and the first failing level"

    def to_json(self) -> dict[str, Any]:
        return {"throughput_rps": self.throughput_rps, "between_levels": list(self.between_levels), "metric": self.metric, "method": self.method}


@dataclass(frozen=True)
class Capacity:
    """The highest measured level that met the SLO, or ``level is None`` and ``reason`` says why.

    Under a per-request SLO the level is judged on its attainment's point estimate; ``straddles`` says, in
    words, where a Wilson interval around the boundary (the capacity level's, or the first failing one's)
    holds the target, so the boundary itself is uncertain (None: both intervals are clear of it).
    """

    level: SweepLevel | None
    reason: str | None = None
    lower_bound: bool = False  # every level met the SLO: the capacity is at least this
    estimate: CapacityEstimate | None = None
    straddles: str | None = None

    @property
    def throughput_rps(self) -> float | None:
        return self.level.throughput_rps if self.level else None

    @property
    def goodput_rps(self) -> float | None:
        """Requests/s meeting every per-request limit at the capacity level (None under a percentile SLO)."""
        return self.level.goodput_rps if self.level else None

    def to_json(self) -> dict[str, Any] | None:
        if self.level is None:
            return None
        data = {k: getattr(self.level, k) for k in CSV_COLUMNS if k not in ("requests", "errors")}
        data = {k: v for k, v in data.items() if v is not None or k in ("concurrency", "rate_rps")}
        for k in ATTAINMENT_COLUMNS:
            if getattr(self.level, k) is not None:
                data[k] = getattr(self.level, k)
        data["lower_bound"] = self.lower_bound
        if self.straddles:
            data["straddles"] = self.straddles
        return data


def find_capacity(levels: Sequence[SweepLevel], slo: Slo | None) -> Capacity:
    """The capacity of a sweep under ``slo``: levels are taken in order of load (a searched sweep measures them out of
    order), and the capacity is the highest of the unbroken run of levels meeting the SLO from the lowest load up."""
    if slo is None:
        return Capacity(None, "no SLO was given, so no level can be said to meet one; pass --slo, e.g. 'ttft_p90<=1.0'")
    if not levels:
        return Capacity(None, "the sweep has no measured level")
    ordered = sorted(levels, key=lambda level: level.load_value)
    passing: SweepLevel | None = None
    failing: SweepLevel | None = None
    for level in ordered:
        if slo.breaches(level):
            failing = level
            break
        passing = level
    if passing is None:
        first = ordered[0]
        return Capacity(None, f"the lowest level ({first.load}) already misses the SLO {slo}: {'; '.join(slo.breaches(first))}")
    straddles = _straddles(passing, failing, slo)
    if failing is None:
        return Capacity(passing, None, lower_bound=True, straddles=straddles)
    return Capacity(passing, None, estimate=_interpolate(passing, failing, slo), straddles=straddles)


def _straddles(passing: SweepLevel, failing: SweepLevel | None, slo: Slo) -> str | None:
    """Where the Wilson interval of the capacity level or of the first failing level holds the attainment target."""
    if not slo.by_attainment or slo.target is None:
        return None
    said = []
    for level, verdict in ((passing, "meets"), (failing, "misses")):
        if level is None or level.attainment_low is None or level.attainment_high is None:
            continue
        if level.attainment_low < slo.target <= level.attainment_high:
            said.append(f"{level.load} {verdict} it on the point estimate {level.attainment:.1%}, but its 95% interval "
                        f"[{level.attainment_low:.1%}, {level.attainment_high:.1%}] holds the target {slo.target * 100:g}%")  # fmt: skip
    if not said:
        return None
    return "; ".join(said) + " (more requests per level would narrow it)"


def _interpolate(passing: SweepLevel, failing: SweepLevel, slo: Slo) -> CapacityEstimate | None:
    x0, x1 = passing.throughput_rps, failing.throughput_rps
    if slo.by_attainment:
        return None  # attainment is a share of requests, not a metric with a limit to interpolate towards
    if x0 is None or x1 is None or x1 <= x0:
        return None  # throughput did not grow: the knee is at the passing level, nothing to interpolate
    best: tuple[float, str] | None = None
    for o in slo.objectives:
        y0, y1 = passing.value(o.metric), failing.value(o.metric)
        if y0 is None or y1 is None or o.met(y1) or y1 <= y0:
            continue
        t = (o.limit - y0) / (y1 - y0)
        if best is None or t < best[0]:
            best = (t, o.metric)
    if best is None:
        return None
    t, metric = best
    return CapacityEstimate(round(x0 + max(0.0, min(1.0, t)) * (x1 - x0), 4), (passing.level, failing.level), metric.removesuffix("_s"))


# --------------------------------------------------------------------------- reading a sweep back


def levels_frame(levels: Sequence[SweepLevel]) -> pd.DataFrame:
    """The levels as a DataFrame: the sweep.csv columns first, then the rest of sweep.json's."""
    import pandas as pd

    frame = pd.DataFrame([level.to_json() for level in levels])
    if frame.empty:
        return pd.DataFrame(columns=[*CSV_COLUMNS])
    rest = [c for c in frame.columns if c not in CSV_COLUMNS]
    return frame[[*CSV_COLUMNS, *rest]]


@dataclass(frozen=True)
class SweepCost:
    """What the sweep itself used, over every session: its requests and tokens (warm-up included), the USD they cost
    at the run's per-token prices (None when the deployment is not billed per token, or its price is unknown), and
    the service time its levels took; for a deployment billed by the hour, those hours of its compute and their USD
    (None without a known hourly price)."""

    requests: int
    prompt_tokens: int
    completion_tokens: int
    token_usd: str | None  # Decimal as text, like the rows' cost_usd
    service_s: float  # the levels' wall time in the service's time (÷ the emulator's time scale)
    instance_hours: float | None = None  # billed-by-the-hour deployments: service_s ÷ 3600 × its instances
    instance_usd: str | None = None
    basis: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SweepCost | None:
        if not data:
            return None
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def __str__(self) -> str:
        parts = [f"{self.requests} requests", f"{self.prompt_tokens + self.completion_tokens:,} tokens"]
        if self.token_usd is not None:
            parts.append(f"${float(self.token_usd):.4f} at the run's token prices")
        if self.instance_hours is not None:
            hours = f"{self.instance_hours:.3g} instance-hours"
            parts.append(f"{hours} (${float(self.instance_usd):.2f})" if self.instance_usd is not None else f"{hours} (no hourly price)")
        return ", ".join(parts)


@dataclass(frozen=True)
class SweepResult:
    """A sweep: what ``sweep()`` returns and what ``read_sweep`` reads back from ``sweep.json`` (cost, recommend and the figure read it).

    ``levels`` are judged under ``slo`` (``slo_met``, ``slo_breaches``) and ``capacity`` is found
    under it: the highest measured level of the unbroken run that meets it, or ``capacity.level is
    None`` with ``capacity.reason``. ``stopped`` says why the sweep ended early (None: every level
    ran), ``stop_kind`` names it (``load.params.STOP_*``), ``resumable`` whether ``--resume`` can go
    on. ``frame()`` is the levels as a DataFrame.
    """

    path: Path  # the sweep directory
    deployment: str
    model: str | None
    kind: str
    mode: str  # closed | open
    levels: tuple[SweepLevel, ...]
    slo: Slo | None
    capacity: Capacity
    stopped: str | None
    time_scale: float
    simulated: bool
    stop_kind: str | None = None  # why it stopped, by name (sweeper.STOP_*); None also for files written before the name was kept
    resumable: bool = False  # stopped by an interruption, a failing deployment or the budget: --resume continues it
    sessions: int = 1  # how many sessions (the first run and its resumes) measured it
    search: Mapping[str, Any] | None = None  # a capacity search: its range, precision, and the levels a doubling-only ladder has
    cost: SweepCost | None = None  # what the sweep itself used (None: written before it was kept)

    @property
    def capacity_rps(self) -> float | None:
        return self.capacity.throughput_rps

    def frame(self) -> pd.DataFrame:
        """The levels as a DataFrame (``levels_frame``): the sweep.csv columns first, then the rest of sweep.json's."""
        return levels_frame(self.levels)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], path: Path, levels: Sequence[SweepLevel], slo: Slo | None) -> SweepResult:
        """The sweep of ``sweep.json``'s fields ``data`` at ``path``, with ``levels`` (already judged under ``slo``) and the capacity under ``slo``."""
        return cls(
            path=path,
            deployment=data["deployment"],
            model=data.get("model"),
            kind=data.get("kind", "serverless"),
            mode=data.get("mode", "closed"),
            levels=tuple(levels),
            slo=slo,
            capacity=find_capacity(levels, slo),
            stopped=data.get("stopped"),
            time_scale=float(data.get("time_scale", 1.0)),
            simulated=bool(data.get("simulated", False)),
            stop_kind=data.get("stop_kind"),
            resumable=bool(data.get("resumable", False)),
            sessions=int(data.get("sessions") or 1),
            search=data.get("search"),
            cost=SweepCost.from_json(data.get("cost")),
        )


def capacity_record(capacity: Capacity) -> dict[str, Any]:
    """The ``capacity`` / ``capacity_reason`` / ``capacity_estimate`` keys of sweep.json."""
    return {
        "capacity": capacity.to_json(),
        "capacity_reason": capacity.reason,
        "capacity_estimate": capacity.estimate.to_json() if capacity.estimate else None,
    }


def read_sweep(path: str | Path, slo: str | Slo | None = None) -> SweepResult:
    """A sweep directory (or its sweep.json); ``slo`` re-judges its levels under another SLO."""
    path = Path(path)
    file = path / SWEEP_JSON if path.is_dir() else path
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        raise SweepError(f"{file}: no sweep here; run `llama-eval sweep ... -o {path}` first, or point at the directory it wrote") from None
    levels = tuple(SweepLevel.from_json(level) for level in data.get("levels", ()))
    judge = Slo.parse(slo) if slo is not None else Slo.parse(data.get("slo"))
    if slo is not None:
        outcomes = None
        if judge is not None and judge.by_attainment:
            if not (file.parent / "results.jsonl").exists():
                raise SweepError(f"{file.parent}: judging this sweep under the per-request SLO {judge} needs its results.jsonl (each request's "
                                 "times), which is not there; keep results.jsonl beside sweep.json, "
                                 "or judge it under a percentile SLO such as 'ttft_p90<=1.0'")  # fmt: skip
            outcomes = level_outcomes(file.parent, float(data.get("time_scale", 1.0)))
        levels = tuple(judge_levels(levels, judge, outcomes))
    return SweepResult.from_json(data, file.parent, levels, judge)


def level_outcomes(run_dir: Path, time_scale: float = 1.0) -> dict[int, list[RequestOutcome]]:
    """Each level's sent, measured requests (warm-up and budget-skipped rows left out) from ``run_dir/results.jsonl``, by level.

    A level measured again in a later session (an interrupted level, resumed) counts only the rows of its last session.
    """
    by_level: dict[int, dict[int, list[RequestOutcome]]] = {}
    for row in read_rows(run_dir):
        if row.get("warmup") or row.get("level") is None or row.get("status") == Status.BUDGET_SKIPPED.value:
            continue
        by_level.setdefault(int(row["level"]), {}).setdefault(int(row.get("session") or 1), []).append(RequestOutcome.from_row(row, time_scale))
    return {level: sessions[max(sessions)] for level, sessions in by_level.items()}


def sweeps_in(path: str | Path) -> list[Path]:
    """Sweep directories at ``path``: itself if it holds ``sweep.json``, else its sub-directories that do."""
    path = Path(path)
    if (path / SWEEP_JSON).exists():
        return [path]
    return sorted(p.parent for p in path.glob(f"*/{SWEEP_JSON}"))


STORED_SWEEPS = "sweeps"


def stored_sweeps(run_dir: str | Path) -> list[Path]:
    """The load sweeps stored with a run (``RUN_DIR/sweeps/*``, as ``llama-eval demo`` writes them); none: [].

    The one place that says where a run's sweeps live: the report's figures, its cost section, its
    decision and ``llama-eval recommend`` all read them from here, so they cannot disagree about it.
    """
    path = Path(run_dir) / STORED_SWEEPS
    return sweeps_in(path) if path.is_dir() else []


def read_sweeps(paths: Iterable[str | Path], slo: str | Slo | None = None) -> dict[str, SweepResult]:
    """Each given sweep (or directory of sweeps) read under ``slo``, by deployment name; two sweeps of one deployment are an error."""
    found: dict[str, SweepResult] = {}
    for path in [p for given in paths for p in (sweeps_in(given) or [Path(given)])]:
        result = read_sweep(path, slo=slo)
        if result.deployment in found:
            raise SweepError(f"two sweeps of deployment {result.deployment!r}: {found[result.deployment].path} and {result.path}; pass one of them")
        found[result.deployment] = result
    return found


def judge_level(level: SweepLevel, slo: Slo | None, outcomes: Sequence[RequestOutcome] | None = None) -> SweepLevel:
    """``level`` with ``slo_met`` and ``slo_breaches`` under ``slo``; under a per-request SLO, with its attainment and goodput
    from ``outcomes`` (its sent requests; None keeps the attainment it already has)."""
    if slo is None:
        return replace(level, slo_met=None, slo_breaches=())
    if outcomes is not None or not slo.by_attainment:
        level = slo.attain(level, outcomes or ())
    breaches = slo.breaches(level)
    return replace(level, slo_met=not breaches, slo_breaches=breaches)


def judge_levels(levels: Iterable[SweepLevel], slo: Slo | None, outcomes: Mapping[int, Sequence[RequestOutcome]] | None = None) -> list[SweepLevel]:
    """Levels with ``slo_met`` and ``slo_breaches`` filled in under ``slo`` (and, under a per-request SLO, attainment and
    goodput from ``outcomes`` by level number: a level with none there has no attainment, a miss; ``outcomes`` None keeps
    the attainment each level already has)."""
    return [judge_level(level, slo, outcomes.get(level.level, []) if outcomes is not None else None) for level in levels]
