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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llama_eval.errors import SweepError
from llama_eval.records import Status
from llama_eval.rundir.store import read_rows

from .objectives import ATTAINMENT_COLUMNS, CSV_COLUMNS, RequestOutcome, Slo, SweepLevel
from .workload import SweepWorkload

if TYPE_CHECKING:  # pandas is imported when a frame is asked for: cost and recommend read sweeps without it
    import pandas as pd

WIDE_MARGIN = 2.0  # a level whose worst metric is this many times its limit ends the sweep
SWEEP_JSON = "sweep.json"
SWEEP_CSV = "sweep.csv"


# --------------------------------------------------------------------------- levels


# --------------------------------------------------------------------------- the SLO


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
    workload: SweepWorkload | None = None  # the prompt set and arrival process it measured with (None: written before it was kept)

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
            workload=SweepWorkload.from_json(data.get("workload")),
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
