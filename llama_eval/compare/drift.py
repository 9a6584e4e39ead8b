"""Drift over scheduled runs: each metric of each run against control limits from the earlier runs of the same configuration.

``drift(runs)`` takes run directories (a folder's, or the run store's, in any order), orders them by
start time, keeps those of the latest run's configuration (same prompt set, parameters, deployments
and models: ``configuration``), and for every run, deployment and metric gives a ``DriftPoint``:
the value, the centre line and the limits mean ± 3 standard deviations of the *earlier* runs (a
Shewhart chart for individual values), how many runs the limits rest on, and whether the value lies
outside. Fewer than ``MIN_RUNS`` earlier runs: no limits, ``outside`` None.

Metrics: ``score`` (mean over prompts), ``error_rate``, ``ttft_p90_s`` and ``e2e_p90_s`` (service
time: measured ÷ time scale), ``usd_per_1k`` (recorded cost per 1,000 requests).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llama_eval.cost.actual import run_costs
from llama_eval.errors import LlamaEvalError
from llama_eval.rundir.health import assess_run
from llama_eval.rundir.run import Run, load_run

from .latency import service_times
from .quality import prompt_scores
from .runs import error_targets

MIN_RUNS = 3  # earlier runs needed before limits are drawn
SIGMAS = 3.0


@dataclass(frozen=True)
class DriftPoint:
    """One metric of one deployment in one run, against the limits of the runs before it (``based_on`` of them)."""

    run: str
    started_at: str | None
    deployment: str
    metric: str
    value: float
    center: float | None
    lower: float | None
    upper: float | None
    based_on: int
    outside: bool | None  # None: fewer than MIN_RUNS earlier runs, no limits

    def sentence(self) -> str:
        if self.outside is None:
            return f"{self.run} {self.deployment} {self.metric} {self.value:.4g}: no limits yet ({self.based_on} earlier runs; {MIN_RUNS} needed)"
        where = "OUTSIDE" if self.outside else "within"
        return f"{self.run} {self.deployment} {self.metric} {self.value:.4g} {where} [{self.lower:.4g}, {self.upper:.4g}] (from {self.based_on} earlier runs)"


def configuration(run: Run) -> str:
    """What makes two runs the same configuration: prompt set, parameters, deployments with their models and kinds."""
    m = run.manifest
    deployments = sorted((n, str(d.get("model")), str(d.get("kind"))) for n, d in m.deployments.items())
    return json.dumps([m.prompt_set.sha256, m.params, deployments], sort_keys=True, default=str)


def metrics(run: Run) -> dict[str, dict[str, float]]:
    """Per deployment, the drift metrics of one run (those it has)."""
    health = assess_run(run)
    out: dict[str, dict[str, float]] = {}
    try:
        scores, _ = prompt_scores(run, health)
    except LlamaEvalError:  # an unscorable run (no scores, its prompt set changed) still has latency, errors and cost to chart
        scores = {}
    for name, per in scores.items():
        if per:
            out.setdefault(name, {})["score"] = float(np.mean(list(per.values())))
    for t in error_targets(run, health):
        out.setdefault(t.deployment, {})["error_rate"] = t.value
    for name, per in service_times(run, health).items():
        for metric, key in (("TTFT", "ttft_p90_s"), ("e2e", "e2e_p90_s")):
            if per[metric]:
                out.setdefault(name, {})[key] = float(np.quantile(per[metric], 0.9))
    for name, cost in run_costs(run).deployments.items():  # the Run already read, not its folder read again
        if cost.usd_per_1k_requests is not None and not cost.unpriced_rows:
            out.setdefault(name, {})["usd_per_1k"] = float(cost.usd_per_1k_requests)
    return out


def drift(runs: Iterable[str | Path | Run]) -> list[DriftPoint]:
    """Every run's metrics against control limits from the earlier runs of the latest run's configuration (see the module docstring)."""
    same, _ = _split_by_configuration(runs)
    history: dict[tuple[str, str], list[float]] = {}
    out = []
    for run in same:
        for name, values in metrics(run).items():
            for metric, value in values.items():
                earlier = history.setdefault((name, metric), [])
                center = lower = upper = None
                outside: bool | None = None
                if len(earlier) >= MIN_RUNS:
                    center = statistics.fmean(earlier)
                    spread = statistics.stdev(earlier)
                    lower, upper = center - SIGMAS * spread, center + SIGMAS * spread
                    outside = not (lower - 1e-12 <= value <= upper + 1e-12)
                out.append(DriftPoint(run.name, run.manifest.started_at, name, metric, value, center, lower, upper, len(earlier), outside))
                if not math.isnan(value):
                    earlier.append(value)
    return out


def left_out(runs: Iterable[str | Path | Run]) -> list[str]:
    """The runs ``drift`` leaves out because their configuration is not the latest run's (by name)."""
    return [r.name for r in _split_by_configuration(runs)[1]]


def started(run: Run) -> str:
    """A run's start time as text, the order runs are drifted in (its creation time when it never started)."""
    return str(run.manifest.started_at or run.manifest.created_at or "")


def _split_by_configuration(runs: Iterable[str | Path | Run]) -> tuple[list[Run], list[Run]]:
    """The runs, oldest first, split into those of the latest run's configuration and the others."""
    loaded = sorted((r if isinstance(r, Run) else load_run(r) for r in runs), key=started)
    if not loaded:
        return [], []
    key = configuration(loaded[-1])
    same = [r for r in loaded if configuration(r) == key]
    return same, [r for r in loaded if configuration(r) != key]


def drift_records(points: Iterable[DriftPoint]) -> list[dict[str, Any]]:
    """The points as plain dicts (for a DataFrame or JSON)."""
    return [p.__dict__ | {"sentence": p.sentence()} for p in points]
