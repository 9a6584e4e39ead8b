"""Statistics that say whether a difference between deployments is real.

* ``bootstrap_ci``: mean with a percentile bootstrap confidence interval (seeded, vectorised, in
  chunks so 10,000 resamples of 5,000 items stay fast and small).
* ``per_prompt``: repeats of a prompt are averaged first (the prompt is the unit of analysis), with
  a consistency figure: how often all repeats of a prompt got the same score.
* ``paired_test``: mean(a - b) on the same prompts with the test that fits the sample — exact
  McNemar for 0/1 scores, the sign-flip permutation test (exact up to 20 prompts) below 100 prompts,
  the paired bootstrap above — and the interval got by inverting that same test.
* ``compare``: every pair of deployments on the prompts both answered, intervals and p-values
  adjusted (Bonferroni) over the pairs, and a verdict in words that agrees with the interval shown;
  below MIN_PROMPTS shared prompts, "too few prompts to compare" instead of a verdict.
* ``sample_size``: how many prompts a paired comparison needs to detect a given difference.
* ``non_inferiority``: is an option no worse than the best by more than a margin? One-sided bounds
  from the same tests (``one_sided_bounds``; Tango's score form of McNemar for 0/1 scores) and a
  verdict — non-inferior, inferior or undecided, with the prompts that would likely settle it.

Scores are in [0, 1]; differences are reported in percentage points.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
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
    means = {pid: math.fsum(v) / len(v) for pid, v in scores.items() if len(v)}  # fsum: exact, and 10x faster than np.mean on short lists
    repeated = [v for v in scores.values() if len(v) > 1]
    consistency = float(np.mean([max(v) - min(v) < 1e-9 for v in repeated])) if repeated else None
    return means, consistency


ALPHA = 0.05
MIN_PROMPTS = 10  # below this many shared prompts a comparison gets no verdict
EXACT_MAX = 20  # up to this many prompts the sign-flip test enumerates all 2^n sign patterns
BOOTSTRAP_MIN = 100  # from this many prompts non-0/1 scores use the paired bootstrap
SHIFT_STEPS = 26  # bisection steps for a sign-flip interval end: ~1e-7 score units, far below the 0.1 points printed
FLIPS = RESAMPLES  # random sign patterns for the sign-flip test between EXACT_MAX and BOOTSTRAP_MIN

METHODS = {
    "mcnemar": "exact McNemar test",
    "sign-flip-exact": "exact sign-flip permutation test",
    "sign-flip": "sign-flip permutation test",
    "bootstrap": "paired bootstrap",
}


@dataclass(frozen=True)
class PairedTest:
    """A paired test of mean(a - b) = 0 and the interval got by inverting that same test, so they always agree.

    ``p_floor``: no resample was as extreme as the data; the true p is below 1/resamples (never shown as 0).
    """

    diff: float
    low: float
    high: float
    p: float
    method: str
    level: float
    resamples: int = 0
    p_floor: bool = False


def format_p(p: float, *, floor: bool = False, resamples: int = 0) -> str:
    """'p=0.125', 'p < 0.0001', or 'p < 1/10000' for a resampling test where nothing was as extreme."""
    if math.isnan(p):
        return "p=n/a"
    if floor:
        return f"p < 1/{resamples}"
    if p < 1e-4:
        return "p < 0.0001"
    return f"p={p:.3g}"


def _binomial_tails(k: int, n: int, prob: float, log_choose: np.ndarray) -> tuple[float, float]:
    """(P(X <= k), P(X >= k)) for X ~ Binomial(n, prob), exact in log space (no overflow at any n)."""
    if prob <= 0:
        return 1.0, float(k == 0)
    if prob >= 1:
        return float(k == n), 1.0
    ks = np.arange(n + 1)
    pmf = np.exp(log_choose + ks * math.log(prob) + (n - ks) * math.log1p(-prob))
    return float(min(1.0, pmf[: k + 1].sum())), float(min(1.0, pmf[k:].sum()))


def _log_choose(n: int) -> np.ndarray:
    ks = np.arange(1, n + 1)
    return np.concatenate([[0.0], np.cumsum(np.log(n - ks + 1) - np.log(ks))])


def accept_boundary(f: Callable[[float], bool], accept: float, reject: float, iterations: int = 60) -> float:
    """A point near the boundary between ``accept`` (f true) and ``reject`` (f false), on the accept side: how every interval here is inverted from its test."""
    for _ in range(iterations):
        mid = (accept + reject) / 2
        if f(mid):
            accept = mid
        else:
            reject = mid
    return accept


def mcnemar_exact(a: Sequence[float], b: Sequence[float], *, level: float = LEVEL) -> PairedTest:
    """Exact McNemar test for 0/1 scores: a binomial test on the prompts where a and b disagree.

    p = min(1, 2 x the smaller binomial tail) (as scipy.stats.binomtest). The interval is for the
    difference in accuracy given the number of disagreements D: (D/n)(2π - 1) over the
    Clopper-Pearson interval of π = P(a right | they disagree) — the inversion of the same test, so
    it excludes 0 exactly when p < 1 - level.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = x.size
    wins, losses = int(np.sum((x == 1) & (y == 0))), int(np.sum((x == 0) & (y == 1)))
    d = wins + losses
    diff = (wins - losses) / n if n else math.nan
    if d == 0:
        return PairedTest(diff, 0.0, 0.0, 1.0, "mcnemar", level)
    log_choose = _log_choose(d)
    lower_tail, upper_tail = _binomial_tails(wins, d, 0.5, log_choose)
    p = max(min(1.0, 2 * min(lower_tail, upper_tail)), sys.float_info.min)  # below float range it is still not 0
    alpha = 1 - level
    # Clopper-Pearson: P(X >= wins; π_low) = α/2 and P(X <= wins; π_high) = α/2 (kept on the wide side)
    pi_low = 0.0 if wins == 0 else accept_boundary(lambda q: _binomial_tails(wins, d, q, log_choose)[1] <= alpha / 2, 0.0, 1.0)
    pi_high = 1.0 if wins == d else accept_boundary(lambda q: _binomial_tails(wins, d, q, log_choose)[0] <= alpha / 2, 1.0, 0.0)
    share = d / n
    return PairedTest(diff, share * (2 * pi_low - 1), share * (2 * pi_high - 1), p, "mcnemar", level)


def _sign_flip_sums(d: np.ndarray, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Σ s_i d_i and Σ s_i over sign patterns s: all 2^n of them up to EXACT_MAX prompts, else ``resamples`` random ones."""
    if d.size <= EXACT_MAX:
        sums, counts = np.zeros(1), np.zeros(1)
        for value in d:
            sums = np.concatenate([sums + value, sums - value])
            counts = np.concatenate([counts + 1, counts - 1])
        return sums, counts, True
    signs = np.random.default_rng(seed).integers(0, 2, size=(resamples, d.size), dtype=np.int8) * 2 - 1
    return signs @ d, signs.sum(axis=1).astype(float), False


def sign_flip_test(a: Sequence[float], b: Sequence[float], *, level: float = LEVEL, resamples: int = FLIPS, seed: int = 0) -> PairedTest:
    """Paired sign-flip permutation test of mean(a - b) = 0; exact (all 2^n patterns) up to EXACT_MAX prompts.

    Under no difference each prompt's difference is as likely + as -, so p is the share of sign
    patterns whose |sum| reaches the observed one (with the observed pattern counted, p > 0; random
    patterns use (count + 1)/(resamples + 1)). The interval holds every shift δ the same test would not
    reject for a - b - δ, so it excludes 0 exactly when p < 1 - level.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = d.size
    if n == 0:
        return PairedTest(math.nan, math.nan, math.nan, math.nan, "sign-flip", level)
    sums, counts, exact = _sign_flip_sums(d, resamples, seed)
    total, size = d.sum(), sums.size
    tol = 1e-9 * (np.abs(d).sum() + 1)
    # all 2^n patterns grouped by Σ s_i, each group's sums sorted: a shift δ is then two binary searches a group
    groups = [(c, np.sort(sums[counts == c])) for c in np.unique(counts)] if exact else []

    def p_at(delta: float) -> float:
        threshold = abs(total - n * delta) - tol  # |Σ s_i (d_i - δ)| = |sum - δ count| must reach this
        if threshold <= 0:
            extreme = size
        elif not exact:
            extreme = int(np.count_nonzero(np.abs(sums - delta * counts) >= threshold))
        else:
            extreme = sum(
                len(g) - int(np.searchsorted(g, delta * c + threshold, "left")) + int(np.searchsorted(g, delta * c - threshold, "right")) for c, g in groups
            )
        return extreme / size if exact else (extreme + 1) / (size + 1)

    alpha = 1 - level
    p = p_at(0.0)
    mean = total / n

    def accepted(delta: float) -> bool:
        return p_at(delta) >= alpha

    spread = float(d.max() - d.min()) + 1.0
    ends = []
    for far in (mean - spread - 1.0, mean + spread + 1.0):
        zero_side = (far - mean) * (0.0 - mean) > 0  # 0 lies between the mean and this end
        if zero_side and not accepted(0.0):
            ends.append(accept_boundary(accepted, mean, 0.0, SHIFT_STEPS))
        elif accepted(far):
            ends.append(far)  # the test cannot reject any shift this way: the interval is open here
        else:
            start = 0.0 if zero_side else mean
            ends.append(accept_boundary(accepted, start, far, SHIFT_STEPS))
    low, high = max(ends[0], -1.0), min(ends[1], 1.0)  # scores are in [0, 1]: differences in [-1, 1]
    method = "sign-flip-exact" if exact else "sign-flip"
    return PairedTest(float(mean), float(low), float(high), float(p), method, level, 0 if exact else size)


def paired_bootstrap_test(a: Sequence[float], b: Sequence[float], *, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> PairedTest:
    """Paired percentile bootstrap of mean(a - b): interval from order statistics, p from the same distribution.

    p = 2 x the smaller share of resampled means on either side of 0, so the interval at ``level``
    excludes 0 exactly when p < 1 - level; when no resample reaches 0, p is reported as < 1/resamples.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size == 0:
        return PairedTest(math.nan, math.nan, math.nan, math.nan, "bootstrap", level, resamples)
    observed = float(d.mean())
    means = np.sort(_resampled_means(d, resamples, np.random.default_rng(seed)))
    k = max(1, math.ceil(resamples * (1 - level) / 2))
    low, high = float(means[k - 1]), float(means[resamples - k])
    at_or_below, at_or_above = int(np.searchsorted(means, 0.0, side="right")), resamples - int(np.searchsorted(means, 0.0, side="left"))
    extreme = min(at_or_below, at_or_above)
    p = min(1.0, 2 * extreme / resamples)
    return PairedTest(observed, low, high, p if extreme else 1 / resamples, "bootstrap", level, resamples, p_floor=extreme == 0)


def paired_test(a: Sequence[float], b: Sequence[float], *, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> PairedTest:
    """The test for this sample: exact McNemar for 0/1 scores; else sign-flip below BOOTSTRAP_MIN prompts (exact up to EXACT_MAX); else bootstrap."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size and np.all((x == 0) | (x == 1)) and np.all((y == 0) | (y == 1)):
        return mcnemar_exact(x, y, level=level)
    if x.size < BOOTSTRAP_MIN:
        return sign_flip_test(x, y, level=level, resamples=resamples, seed=seed)
    return paired_bootstrap_test(x, y, level=level, resamples=resamples, seed=seed)


@dataclass(frozen=True)
class Comparison:
    """Deployment a vs b on their shared prompts.

    ``low``/``high`` is the interval at ``level`` = 1 - 0.05/m (Bonferroni over the m comparisons that
    get a verdict), ``p_adjusted`` = min(1, m x p); "better" is said exactly when that interval
    excludes 0, i.e. when p_adjusted < 0.05. Holm's adjusted p is kept for reference.
    """

    a: str
    b: str
    n: int
    diff: float  # mean(a - b) in score units
    low: float
    high: float
    p: float
    p_holm: float = math.nan
    p_adjusted: float = math.nan
    method: str = "bootstrap"
    level: float = LEVEL
    comparisons: int = 1
    resamples: int = 0
    p_floor: bool = False

    @property
    def too_few(self) -> bool:
        return self.n < MIN_PROMPTS

    @property
    def significant(self) -> bool:
        return not self.too_few and self.p_adjusted < ALPHA

    @property
    def p_text(self) -> str:
        return format_p(self.p_adjusted, floor=self.p_floor, resamples=self.resamples)

    @property
    def method_text(self) -> str:
        text = METHODS.get(self.method, self.method)
        if self.method in ("sign-flip", "bootstrap") and self.resamples:
            text += f", {self.resamples:,} {'random sign patterns' if self.method == 'sign-flip' else 'resamples'}"
        return text

    def verdict(self) -> str:
        if self.n == 0:
            return f"no prompts answered by both {self.a} and {self.b}: nothing to compare"
        if self.too_few:
            return (
                f"too few prompts to compare {self.a} and {self.b}: {self.n} shared prompts, a verdict needs at least {MIN_PROMPTS} "
                f"(difference {100 * self.diff:+.1f} points)"
            )
        adjusted = f", adjusted for {self.comparisons} comparisons" if self.comparisons > 1 else ""
        about = f"{self.method_text}, {self.p_text}{adjusted}, {self.n} prompts"
        if self.significant:
            # state the difference as (better - worse), interval included
            better, worse, low, high = (self.a, self.b, self.low, self.high) if self.diff > 0 else (self.b, self.a, -self.high, -self.low)
            points = f"{100 * abs(self.diff):.1f} points [{100 * low:.1f}, {100 * high:.1f}]"
            return f"{better} better than {worse} by {points} ({about})"
        interval = f"difference {100 * self.diff:+.1f} points [{100 * self.low:+.1f}, {100 * self.high:+.1f}]"
        return f"no detectable difference between {self.a} and {self.b} ({interval}; {about})"


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0
) -> tuple[float, float, float, float]:
    """(mean difference, CI low, CI high, two-sided p) of a - b on the same prompts, by the paired bootstrap."""
    t = paired_bootstrap_test(a, b, level=level, resamples=resamples, seed=seed)
    return t.diff, t.low, t.high, t.p


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
    """Every pair of deployments on their shared prompts; intervals and p adjusted over the pairs that get a verdict."""
    names = list(per_deployment)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = sorted(set(per_deployment[a]) & set(per_deployment[b]))
            pairs.append((a, b, [per_deployment[a][p] for p in shared], [per_deployment[b][p] for p in shared]))
    m = max(1, sum(len(xs) >= MIN_PROMPTS for _, _, xs, _ in pairs))
    out = []
    for a, b, xs, ys in pairs:
        level = 1 - ALPHA / m if len(xs) >= MIN_PROMPTS else LEVEL
        t = paired_test(xs, ys, level=level, resamples=resamples, seed=seed)
        tested = m if len(xs) >= MIN_PROMPTS else 1
        p_adjusted = min(1.0, tested * t.p) if not math.isnan(t.p) else math.nan
        out.append(Comparison(a, b, len(xs), t.diff, t.low, t.high, t.p, math.nan, p_adjusted, t.method, level, tested, t.resamples, t.p_floor))
    verdicts = [i for i, c in enumerate(out) if not c.too_few and not math.isnan(c.p)]
    for i, p_holm in zip(verdicts, holm([out[i].p for i in verdicts]), strict=True):
        out[i] = replace(out[i], p_holm=p_holm)
    return out


def sample_size(difference: float, sd: float | None = None, *, alpha: float = 0.05, power: float = 0.8, one_sided: bool = False) -> int:
    """Prompts a paired comparison needs to detect ``difference`` (score units) with this power.

    ``sd`` is the standard deviation of per-prompt differences (from a pilot run); without one, the
    worst case for pass/fail scores, 0.5 per system, assuming no correlation (sd of the difference
    sqrt(0.5)). ``one_sided``: a one-sided test at ``alpha`` (z of 1 - alpha, not 1 - alpha/2), as
    a non-inferiority question is; ``difference`` is then the distance of the true difference from
    the margin.
    """
    if difference <= 0:
        raise ValueError("difference must be > 0")
    sd = math.sqrt(0.5) if sd is None else sd
    z = NormalDist().inv_cdf(1 - (alpha if one_sided else alpha / 2)) + NormalDist().inv_cdf(power)
    return max(2, math.ceil((z * sd / difference) ** 2))


