"""Statistics that say whether a difference between deployments is real.

* ``bootstrap_ci``: mean with a percentile bootstrap confidence interval (seeded, vectorised, in
  chunks so 10,000 resamples of 5,000 items stay fast and small).
* ``per_prompt``: repeats of a prompt are averaged first (the prompt is the unit of analysis), with
  a consistency figure: how often all repeats of a prompt got the same score.
* ``compare``: every pair of deployments on the prompts both answered — a *paired* bootstrap of
  the mean difference, its CI and p-value, Holm-corrected across pairs, and a verdict in words.
* ``sample_size``: how many prompts a paired comparison needs to detect a given difference.

Scores are in [0, 1]; differences are reported in percentage points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

RESAMPLES = 10_000
LEVEL = 0.95
CHUNK_CELLS = 4_000_000  # resample indices drawn per chunk (~32 MB of int64)


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int


MULTINOMIAL_MAX_DISTINCT = 256


def _resampled_means(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``resamples`` bootstrap resamples of ``values``.

    Scores usually take few distinct values (0/1, or repeat averages). Drawing n items with
    replacement from k distinct values is a multinomial draw over those values, so the resampled
    means come from ``multinomial(n, frequencies)`` in O(resamples x k) — the same distribution as
    index resampling at a fraction of the cost. Many distinct values fall back to chunked indices.
    """
    n = len(values)
    distinct, counts = np.unique(values, return_counts=True)
    if len(distinct) <= MULTINOMIAL_MAX_DISTINCT:
        draws = rng.multinomial(n, counts / n, size=resamples)
        return draws @ distinct / n
    per_chunk = max(1, CHUNK_CELLS // max(n, 1))
    means = np.empty(resamples)
    done = 0
    while done < resamples:
        k = min(per_chunk, resamples - done)
        idx = rng.integers(0, n, size=(k, n))
        means[done : done + k] = values[idx].mean(axis=1)
        done += k
    return means


def bootstrap_ci(values: Sequence[float] | np.ndarray, *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0) -> Estimate:
    """Mean and percentile-bootstrap CI of ``values`` (NaN-free); n=0 gives NaNs."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    if data.size == 1 or np.all(data == data[0]):
        return Estimate(float(data.mean()), float(data.mean()), float(data.mean()), int(data.size))
    means = _resampled_means(data, resamples, np.random.default_rng(seed))
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Estimate(float(data.mean()), float(low), float(high), int(data.size))


def per_prompt(scores: Mapping[str, Sequence[float]]) -> tuple[dict[str, float], float | None]:
    """Mean score per prompt over its repeats, and the share of multi-repeat prompts whose repeats agree."""
    means = {pid: float(np.mean(v)) for pid, v in scores.items() if len(v)}
    repeated = [v for v in scores.values() if len(v) > 1]
    consistency = float(np.mean([max(v) - min(v) < 1e-9 for v in repeated])) if repeated else None
    return means, consistency


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    n: int
    diff: float  # mean(a - b) in score units
    low: float
    high: float
    p: float
    p_holm: float = math.nan

    @property
    def significant(self) -> bool:
        return self.p_holm < 0.05

    def verdict(self) -> str:
        if self.significant:
            # state the difference as (better - worse), interval included
            better, worse, low, high = (self.a, self.b, self.low, self.high) if self.diff > 0 else (self.b, self.a, -self.high, -self.low)
            points = f"{100 * abs(self.diff):.1f} points [{100 * low:.1f}, {100 * high:.1f}]"
            return f"{better} better than {worse} by {points} (p={self.p_holm:.3g}, Holm-adjusted, {self.n} prompts)"
        interval = f"difference {100 * self.diff:+.1f} points [{100 * self.low:+.1f}, {100 * self.high:+.1f}]"
        return f"no detectable difference between {self.a} and {self.b} ({interval}, p={self.p_holm:.2g}, {self.n} prompts)"


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0
) -> tuple[float, float, float, float]:
    """(mean difference, CI low, CI high, two-sided p) of a - b on the same prompts."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size == 0:
        return math.nan, math.nan, math.nan, math.nan
    observed = float(d.mean())
    if np.all(d == d[0]):
        return observed, observed, observed, (1.0 if observed == 0 else 0.0)
    means = _resampled_means(d, resamples, np.random.default_rng(seed))
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    # p-value from the bootstrap distribution shifted to the null (mean difference 0)
    extreme = np.count_nonzero(np.abs(means - observed) >= abs(observed))
    p = (extreme + 1) / (resamples + 1)
    return observed, float(low), float(high), float(p)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone), in the input order."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def compare(per_deployment: Mapping[str, Mapping[str, float]], *, resamples: int = RESAMPLES, seed: int = 0) -> list[Comparison]:
    """Every pair of deployments on their shared prompts, Holm-corrected across the pairs."""
    names = list(per_deployment)
    raw = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = sorted(set(per_deployment[a]) & set(per_deployment[b]))
            xs = [per_deployment[a][p] for p in shared]
            ys = [per_deployment[b][p] for p in shared]
            diff, low, high, p = paired_bootstrap(xs, ys, resamples=resamples, seed=seed)
            raw.append(Comparison(a, b, len(shared), diff, low, high, p))
    adjusted = holm([c.p if not math.isnan(c.p) else 1.0 for c in raw])
    return [Comparison(c.a, c.b, c.n, c.diff, c.low, c.high, c.p, p_holm) for c, p_holm in zip(raw, adjusted, strict=True)]


def sample_size(difference: float, sd: float | None = None, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Prompts a paired comparison needs to detect ``difference`` (score units) with this power.

    ``sd`` is the standard deviation of per-prompt differences (from a pilot run); without one, the
    worst case for pass/fail scores, 0.5 per system, assuming no correlation (sd of the difference
    sqrt(0.5)).
    """
    if difference <= 0:
        raise ValueError("difference must be > 0")
    sd = math.sqrt(0.5) if sd is None else sd
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return max(2, math.ceil((z * sd / difference) ** 2))
