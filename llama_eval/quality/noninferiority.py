"""Is a cheaper option no worse than the best by more than a margin? One-sided bounds and the verdict.

Pass/fail scores use Tango's score bound for paired proportions (continuity-corrected; at a margin
of 0 it is McNemar's test); graded scores use the quality section's sign-flip test one-sided, widened
to Tango's bounds on wins and losses. ``non_inferiority`` returns the ``NonInferiority`` record whose
``text()`` is the one sentence every surface prints. Calibration: docs/guides/quality.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from .stats import MIN_PROMPTS, RESAMPLES, SHIFT_STEPS, PairedTest, accept_boundary, paired_test, sample_size

# --------------------------------------------------------------------------- non-inferiority
NON_INFERIOR = "non-inferior"


INFERIOR = "inferior"


UNDECIDED = "undecided"


MARGIN = 0.02  # the default quality margin: 2 points (docs/guides/quality.md, "Deciding: non-inferiority", says why)


NI_LEVEL = 0.95  # each bound is one-sided at this level


NI_POWER = 0.8  # "prompts that would likely decide it": 80% power


NI_MIN_GRADED = 20  # graded scores: fewer shared prompts get no verdict (the sign-flip test assumes differences symmetric about the margin; see quality.md)


NI_METHODS = {
    "tango": "Tango score test",
    "sign-flip-exact": "exact sign-flip permutation test within Tango's bounds",
    "sign-flip": "sign-flip permutation test within Tango's bounds",
    "bootstrap": "paired bootstrap within Tango's bounds",
}


TANGO_CORRECTION = 0.5  # continuity correction on wins - losses: without it 5.7% wrongly non-inferior at 400 prompts (4,000 trials); with it 4.9%


def _tango_statistic(wins: float, losses: float, n: int, delta: float) -> float:
    """Tango's score statistic for H0: P(a right, b wrong) - P(a wrong, b right) = delta on paired 0/1 scores.

    Tango (1998, Statistics in Medicine 17:891): (wins - losses - n delta) / sqrt(n (2 q + delta (1 - delta))),
    q the maximum-likelihood P(a wrong, b right) under H0; the numerator moved TANGO_CORRECTION
    towards 0 (a continuity correction: the score test alone is slightly liberal one-sided). At
    delta = 0 it is McNemar's z, (|wins - losses| - 0.5) / sqrt(wins + losses) signed. Decreasing in delta.
    """
    a_ = 2 * n
    b_ = -wins - losses + (2 * n - wins + losses) * delta
    c_ = -losses * delta * (1 - delta)
    q = (math.sqrt(max(0.0, b_ * b_ - 4 * a_ * c_)) - b_) / (2 * a_)
    variance = n * (2 * q + delta * (1 - delta))
    if variance <= 0:
        return math.inf if wins - losses - n * delta > 0 else (-math.inf if wins - losses - n * delta < 0 else 0.0)
    excess = wins - losses - n * delta
    return math.copysign(max(0.0, abs(excess) - TANGO_CORRECTION), excess) / math.sqrt(variance)


def _tango_ends(wins: float, losses: float, n: int, level: float) -> tuple[float, float]:
    z = NormalDist().inv_cdf(level)
    diff, tol = (wins - losses) / n, 1e-12
    low = -1.0 if diff <= -1 + tol else accept_boundary(lambda d: _tango_statistic(wins, losses, n, d) <= z, diff, -1.0 + tol, SHIFT_STEPS * 2)
    high = 1.0 if diff >= 1 - tol else accept_boundary(lambda d: _tango_statistic(wins, losses, n, d) >= -z, diff, 1.0 - tol, SHIFT_STEPS * 2)
    return low, high


def tango_bounds(a: Sequence[float], b: Sequence[float], *, level: float = NI_LEVEL) -> PairedTest:
    """One-sided ``level`` bounds of mean(a - b) for 0/1 scores: ``low`` and ``high`` each hold with probability ``level``.

    Tango's score interval inverted one side at a time: ``low`` is the smallest delta the one-sided
    test does not reject (T(delta) <= z), ``high`` the largest (T(delta) >= -z). Unlike the interval
    ``mcnemar_exact`` prints (which takes the number of disagreements as fixed), it counts the
    disagreements the prompts could have had: 29 prompts that all agree give a lower bound of
    -11.4 points (-z²/(29 + z²) = -8.5 without the continuity correction), not 0. ``p`` is the one-sided p of delta = 0 against a > b.

    Graded scores in [0, 1] are accepted too: wins and losses are then the summed positive and
    negative parts of a - b (the expected counts if each score were rounded to 0/1 at random with
    its value as the chance of a 1), which makes the bounds wider than the scores' own spread needs.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = x.size
    if n == 0:
        return PairedTest(math.nan, math.nan, math.nan, math.nan, "tango", level)
    d = x - y
    wins, losses = float(np.clip(d, 0, None).sum()), float(np.clip(-d, 0, None).sum())
    low, high = _tango_ends(wins, losses, n, level)
    p = 1 - NormalDist().cdf(_tango_statistic(wins, losses, n, 0.0))
    return PairedTest((wins - losses) / n, low, high, p, "tango", level)


def one_sided_bounds(a: Sequence[float], b: Sequence[float], *, level: float = NI_LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> PairedTest:
    """Lower and upper one-sided ``level`` bounds of mean(a - b) on paired scores, from the quality section's own tests.

    0/1 scores: ``tango_bounds`` (the score form of McNemar's test, valid away from a difference of
    0). Graded scores: ``paired_test`` at two-sided level 2 x level - 1, whose ends are one-sided
    ``level`` bounds because the sign-flip and bootstrap distributions put 1 - level in each tail
    (sign-flip below BOOTSTRAP_MIN prompts, exact up to EXACT_MAX; the paired bootstrap from BOOTSTRAP_MIN).
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size and np.all((x == 0) | (x == 1)) and np.all((y == 0) | (y == 1)):
        return tango_bounds(x, y, level=level)
    return paired_test(x, y, level=2 * level - 1, resamples=resamples, seed=seed)


@dataclass(frozen=True)
class NonInferiority:
    """Is ``option`` no worse than ``best`` by more than ``margin``? One-sided bounds of mean(option - best) and the verdict.

    ``non-inferior`` when ``low`` > -margin, ``inferior`` when ``high`` < -margin, else ``undecided``
    (always undecided below MIN_PROMPTS shared prompts, NI_MIN_GRADED for graded scores). ``prompts_needed`` (undecided only): about
    how many paired prompts would settle it with 80% power if the observed difference and spread
    held (None when the difference sits on the margin, where no number would).
    """

    option: str
    best: str
    n: int
    diff: float
    low: float
    high: float
    margin: float
    verdict: str
    method: str
    level: float = NI_LEVEL
    prompts_needed: int | None = None

    def text(self) -> str:
        """The verdict in words: the one sentence the CLI, the JSON, the summary line and the report print."""
        method = NI_METHODS.get(self.method, self.method)
        bounds = f"{100 * self.diff:+.1f} points vs {self.best}, one-sided {100 * self.level:.0f}% bounds [{100 * self.low:+.1f}, {100 * self.high:+.1f}]"
        about = f"margin {100 * self.margin:g} points; {method}, {self.n} prompts"
        if self.verdict == NON_INFERIOR:
            return f"{NON_INFERIOR}: {bounds}, lower bound above -{100 * self.margin:g} ({about})"
        if self.verdict == INFERIOR:
            return f"{INFERIOR}: {bounds}, upper bound below -{100 * self.margin:g} ({about})"
        least = MIN_PROMPTS if self.method == "tango" else NI_MIN_GRADED
        if self.n < least:
            why = f"too few prompts ({self.n} shared, a verdict needs at least {least})"
        else:
            why = f"{bounds} straddle -{100 * self.margin:g}"
        settle = (
            f"about {self.prompts_needed:,} prompts would likely settle it"
            if self.prompts_needed
            else "no number of prompts would settle it (the difference sits on the margin)"
        )
        return f"{UNDECIDED}: {why}; {settle} ({about})"


def non_inferiority(
    option: Sequence[float],
    best: Sequence[float],
    *,
    margin: float = MARGIN,
    names: tuple[str, str] = ("option", "best"),
    level: float = NI_LEVEL,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> NonInferiority:
    """The non-inferiority verdict of ``option`` against ``best`` on the same prompts (paired, in the same order), at ``margin`` (score units).

    0/1 scores: Tango's bounds (``tango_bounds``), a verdict from MIN_PROMPTS shared prompts. Graded
    scores: ``one_sided_bounds`` (sign-flip or bootstrap) widened to ``tango_bounds`` of the same
    differences, and the margin itself must be rejected by the same test on the differences shifted
    by it; a verdict from NI_MIN_GRADED shared prompts (below it the sign-flip test, which assumes
    differences symmetric about the margin, called a rare loser non-inferior up to 19% of the time in
    simulation). The prompts needed are ``sample_size`` (one-sided, 80% power) for the distance of the
    observed difference from -margin, with the larger of the observed sd of the differences, the sd
    Tango's bounds assume (mean |d| - mean(d)²) and sqrt(margin (1 - margin)) (the least a 0/1
    difference of -margin varies), and never fewer than one more than the run has.
    """
    if margin < 0:
        raise ValueError("margin must be >= 0 (score units: 0.02 is 2 points)")
    x, y = np.asarray(option, dtype=float), np.asarray(best, dtype=float)
    t = one_sided_bounds(x, y, level=level, resamples=resamples, seed=seed)
    n = int(x.size)
    low, high = t.low, t.high
    if t.method != "tango" and n:
        # the sign-flip and bootstrap see no spread where most differences are exactly 0, so alone they call a rare loser
        # non-inferior: the bounds are widened to Tango's on the summed positive and negative parts (the disagreements the
        # prompts could have had) ...
        envelope = tango_bounds(x, y, level=level)
        low, high = min(low, envelope.low), max(high, envelope.high)
        # ... and, since a permutation test's accepted shifts need not be one interval, the margin itself must be rejected
        at_margin = paired_test(x + margin, y, level=2 * level - 1, resamples=resamples, seed=seed)
        rejected = at_margin.p < 2 * (1 - level)
        if low > -margin and not (rejected and at_margin.diff > 0):
            low = -margin
        if high < -margin and not (rejected and at_margin.diff < 0):
            high = -margin
    enough = n >= (MIN_PROMPTS if t.method == "tango" else NI_MIN_GRADED)
    if enough and low > -margin:
        verdict = NON_INFERIOR
    elif enough and high < -margin:
        verdict = INFERIOR
    else:
        verdict = UNDECIDED
    needed = None
    if verdict == UNDECIDED and n:
        d = x - y
        spread = float(d.std(ddof=1)) if n > 1 else 0.0
        sd = max(spread, math.sqrt(max(0.0, float(np.abs(d).mean() - d.mean() ** 2))), math.sqrt(margin * (1 - margin)))
        distance = abs(float(d.mean()) + margin)
        if distance > 1e-12 and sd > 0:
            needed = max(n + 1, MIN_PROMPTS, sample_size(distance, sd, alpha=1 - level, power=NI_POWER, one_sided=True))
        elif distance > 1e-12:
            needed = max(n + 1, MIN_PROMPTS)
    return NonInferiority(names[0], names[1], n, t.diff, low, high, margin, verdict, t.method, level, needed)
