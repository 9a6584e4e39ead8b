"""Latency of run B against run A: TTFT, ITL and end-to-end p50 and p90, in the service's real time, with bootstrap intervals.

Each run's answers (not warm-up, of deployments health does not exclude) are rescaled by the time
scale that run recorded for the deployment (``rundir.health``: measured ÷ time scale, as the latency
report does); an emulator run at time scale 0 has no service time and gives no latency. The change
of a percentile, b / a - 1, gets a 95% percentile-bootstrap interval: the requests of each run
resampled on their own (two independent samples), the percentile taken of each, the ratio of the two.

``conditions`` says in words when the two runs were not measured alike: a saturated client or
another caveat health found, a different concurrency, an emulator against a real service, a
different time scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from llama_eval.records import ANSWERED
from llama_eval.rundir.health import RunHealth
from llama_eval.rundir.run import Run

from .result import Shift

RESAMPLES = 2_000
LEVEL = 0.95
METRICS = (("TTFT", "ttft_s"), ("ITL", "itl_p50_s"), ("e2e", "e2e_s"))  # ITL: each answer's median gap, as the latency table
STATISTICS = (("p50", 0.5), ("p90", 0.9))


def service_times(run: Run, health: RunHealth) -> dict[str, dict[str, list[float]]]:
    """Per deployment with a usable time base, per metric: each answer's time in the service's seconds (measured ÷ time scale)."""
    out: dict[str, dict[str, list[float]]] = {}
    for name, rows in run.by_deployment().items():
        h = health.deployments.get(name)
        if h is None or h.excluded or h.time_scale <= 0:
            continue
        per: dict[str, list[float]] = {metric: [] for metric, _ in METRICS}
        for r in rows:
            if r.status not in ANSWERED or r.warmup or r.timing is None:
                continue
            for metric, attr in METRICS:
                value = getattr(r.timing, attr)
                if value is not None and (metric != "ITL" or value > 0):  # ITL 0: the chunks came together, no gap measured
                    per[metric].append(value / h.time_scale)
        out[name] = per
    return out


def bootstrap_change(a: Sequence[float], b: Sequence[float], statistic: Callable[[np.ndarray], np.ndarray], *, seed: int = 0) -> tuple[float, float, float]:
    """(observed b/a - 1, 95% low, high): ``statistic`` (row-wise on a resample matrix) of B over that of A, both resampled."""
    x, y = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))  # sorted: the same values give the same interval in any row order
    sa, sb = float(statistic(x[None, :])[0]), float(statistic(y[None, :])[0])
    observed = sb / sa - 1 if sa > 0 else math.nan
    if sa <= 0 or len(x) < 2 or len(y) < 2:
        return observed, math.nan, math.nan
    rng = np.random.default_rng(seed)
    ra = statistic(x[rng.integers(0, len(x), size=(RESAMPLES, len(x)))])
    rb = statistic(y[rng.integers(0, len(y), size=(RESAMPLES, len(y)))])
    ratios = rb / np.where(ra > 0, ra, np.nan) - 1
    low, high = np.nanquantile(ratios, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2])
    return observed, float(low), float(high)


def _quantile(q: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda m: np.quantile(m, q, axis=1)


def latency_shifts(times_a: dict[str, dict[str, list[float]]], times_b: dict[str, dict[str, list[float]]]) -> list[Shift]:
    """For every deployment timed in both runs: each metric's p50 and p90, B against A."""
    out = []
    for name in [n for n in times_a if n in times_b]:
        for metric, _ in METRICS:
            a, b = times_a[name][metric], times_b[name][metric]
            if not a or not b:
                continue
            for stat, q in STATISTICS:
                change, low, high = bootstrap_change(a, b, _quantile(q))
                out.append(Shift(name, metric, stat, float(np.quantile(a, q)), float(np.quantile(b, q)), change, low, high, len(a), len(b)))
    return out


def conditions(run_a: Run, health_a: RunHealth, run_b: Run, health_b: RunHealth) -> list[str]:
    """Why the two runs' latencies may not be comparable, one sentence each ([] when they were measured alike)."""
    out = []
    for label, h in (("A", health_a), ("B", health_b)):
        for d in h.deployments.values():
            if d.latency_caveat and not d.excluded and d.time_scale > 0:
                out.append(f"run {label}, {d.name}: latency supports no conclusion: {d.latency_caveat}")
    ca, cb = run_a.manifest.params.get("concurrency"), run_b.manifest.params.get("concurrency")
    if ca != cb:
        out.append(f"different concurrency: A ran {ca} requests at a time, B {cb}; latency under other load is not the same latency")
    for name in [n for n in health_a.deployments if n in health_b.deployments]:
        da, db = health_a.deployments[name], health_b.deployments[name]
        if not (da.answered and db.answered) or da.excluded or db.excluded:
            continue  # nothing timed on one side: the health warnings say why
        if da.simulated != db.simulated:
            which = "A" if da.simulated else "B"
            out.append(f"{name}: run {which} was answered by the llama-eval emulator and the other by the service: emulated against real latency")
        elif da.time_scale != db.time_scale:
            out.append(f"{name}: different emulator time scales (A {da.time_scale:g}, B {db.time_scale:g}); both rescaled to service time")
        if da.time_scale <= 0 or db.time_scale <= 0:
            out.append(f"{name}: an emulator ran at time scale 0 (no delays): no latency to compare")
    return out
