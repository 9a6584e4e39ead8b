"""A sweep level (``SweepLevel``: the columns of sweep.csv) and the latency SLO judged on it.

``Slo.parse`` reads percentile limits on a level (``ttft_p90<=1.0,e2e_p90<=10``) and per-request limits
with an attainment target (``ttft<=0.5,itl<=0.05,e2e<=8@95%``); ``RequestOutcome`` judges one request;
``wilson_interval`` bounds a level's attainment. ``slo.py`` turns judged levels into a capacity.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from llama_eval.errors import SloError
from llama_eval.records import Status

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
    arrivals: str | None = None  # how its requests arrived: closed (a loop of workers), poisson or gamma (open loop); None: not kept
    burstiness: float | None = None  # gamma arrivals: vLLM's --burstiness (gap CV 1/sqrt(b))
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
        goodput = round(good / span, 4) if span else (0.0 if n and good == 0 else None)
        if goodput is not None and level.throughput_rps is not None:
            # good <= answered over the same span: never above throughput (span_s is rounded to 6 places, throughput was not)
            goodput = min(goodput, level.throughput_rps)
        return replace(
            level,
            good_requests=good,
            attainment=round(good / n, 6) if n else None,
            attainment_low=round(low, 6) if n else None,
            attainment_high=round(high, 6) if n else None,
            goodput_rps=goodput,
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
