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
LATENCY_METRICS = ("ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "itl_p50_s", "e2e_p50_s", "e2e_p90_s")
SLO_METRICS = (*LATENCY_METRICS, "error_rate")
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

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def load(self) -> str:
        """``concurrency 8`` or ``rate 2 rps``: the level's load in words."""
        return f"concurrency {self.concurrency}" if self.concurrency is not None else f"rate {self.rate_rps:g} rps"

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

_TERM = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|<)\s*([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(ms|s)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Objective:
    """One limit: ``metric <= limit`` (or ``<``). Latency limits are in seconds."""

    metric: str
    limit: float
    strict: bool = False

    def met(self, value: float | None) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False  # nothing measured cannot meet an objective
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
        return f"{name}{'<' if self.strict else '<='}{self.limit:g}"


@dataclass(frozen=True)
class Slo:
    """A latency SLO: every objective must hold, and the error share must stay under its limit."""

    objectives: tuple[Objective, ...]

    @classmethod
    def parse(cls, text: str | Slo | None) -> Slo | None:
        """``"ttft_p90<=1.0,e2e_p90<=10"`` (seconds; ``250ms`` also works) -> Slo; None/empty -> None."""
        if text is None or isinstance(text, Slo):
            return text
        terms = [t for t in re.split(r"[,;]", text) if t.strip()]
        if not terms:
            return None
        objectives: list[Objective] = []
        for term in terms:
            match = _TERM.match(term)
            if not match:
                raise SloError(
                    f"cannot read SLO term {term.strip()!r}: write METRIC<=NUMBER, e.g. 'ttft_p90<=1.0' or 'e2e_p90<=10' "
                    f"(seconds; '250ms' also works); metrics: {', '.join(m.removesuffix('_s') for m in SLO_METRICS)}"
                )
            name, op, number, unit = match.groups()
            name = name.lower()
            metric = name if name in SLO_METRICS else f"{name}_s" if f"{name}_s" in SLO_METRICS else None
            if metric is None:
                raise SloError(f"unknown SLO metric {name!r} in {term.strip()!r}; use one of {', '.join(m.removesuffix('_s') for m in SLO_METRICS)}")
            limit = float(number) / (1000.0 if (unit or "").lower() == "ms" else 1.0)
            if metric == "error_rate" and unit:
                raise SloError(f"error_rate is a share (0-1), not a time: {term.strip()!r}")
            if any(o.metric == metric for o in objectives):
                raise SloError(f"SLO names {metric.removesuffix('_s')} twice: {text!r}")
            objectives.append(Objective(metric, limit, strict=op == "<"))
        if not any(o.metric == "error_rate" for o in objectives):
            objectives.append(Objective("error_rate", DEFAULT_MAX_ERROR_RATE))
        return cls(tuple(objectives))

    def breaches(self, level: SweepLevel) -> tuple[str, ...]:
        """What this level misses, in words (empty: it meets the SLO)."""
        out = []
        for o in self.objectives:
            value = level.value(o.metric)
            if not o.met(value):
                shown = "not measured" if value is None else f"{value:.4g}"
                out.append(f"{o.metric.removesuffix('_s')} {shown} > {o.limit:g}")
        return tuple(out)

    def worst_ratio(self, level: SweepLevel) -> float:
        return max(o.ratio(level.value(o.metric)) for o in self.objectives)

    def __str__(self) -> str:
        return ",".join(str(o) for o in self.objectives)


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
    """The highest measured level that met the SLO, or ``level is None`` and ``reason`` says why."""

    level: SweepLevel | None
    reason: str | None = None
    lower_bound: bool = False  # every level met the SLO: the capacity is at least this
    estimate: CapacityEstimate | None = None

    @property
    def throughput_rps(self) -> float | None:
        return self.level.throughput_rps if self.level else None

    def to_json(self) -> dict[str, Any] | None:
        if self.level is None:
            return None
        data = {k: getattr(self.level, k) for k in CSV_COLUMNS if k not in ("requests", "errors")}
        data = {k: v for k, v in data.items() if v is not None or k in ("concurrency", "rate_rps")}
        data["lower_bound"] = self.lower_bound
        return data


def find_capacity(levels: Sequence[SweepLevel], slo: Slo | None) -> Capacity:
    """The capacity of a sweep under ``slo`` (levels in the order they were run, lowest load first)."""
    if slo is None:
        return Capacity(None, "no SLO was given, so no level can be said to meet one; pass --slo, e.g. 'ttft_p90<=1.0'")
    if not levels:
        return Capacity(None, "the sweep has no measured level")
    passing: SweepLevel | None = None
    failing: SweepLevel | None = None
    for level in levels:
        if slo.breaches(level):
            failing = level
            break
        passing = level
    if passing is None:
        first = levels[0]
        return Capacity(None, f"the lowest level ({first.load}) already misses the SLO {slo}: {'; '.join(slo.breaches(first))}")
    if failing is None:
        return Capacity(passing, None, lower_bound=True)
    return Capacity(passing, None, estimate=_interpolate(passing, failing, slo))


def _interpolate(passing: SweepLevel, failing: SweepLevel, slo: Slo) -> CapacityEstimate | None:
    x0, x1 = passing.throughput_rps, failing.throughput_rps
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
        levels = tuple(_judged(level, judge) for level in levels)
    return SweepResult.from_json(data, file.parent, levels, judge)


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


def _judged(level: SweepLevel, slo: Slo | None) -> SweepLevel:
    if slo is None:
        return replace(level, slo_met=None, slo_breaches=())
    breaches = slo.breaches(level)
    return replace(level, slo_met=not breaches, slo_breaches=breaches)


def judge_levels(levels: Iterable[SweepLevel], slo: Slo | None) -> list[SweepLevel]:
    """Levels with ``slo_met`` and ``slo_breaches`` filled in under ``slo``."""
    return [_judged(level, slo) for level in levels]
