"""The statistics, checked by simulation and against scipy: CIs cover, paired tests find real differences and only those,
verdicts agree with their intervals, and small samples get exact tests (or no verdict)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from llama_eval.quality.noninferiority import INFERIOR, MARGIN, NON_INFERIOR, UNDECIDED, non_inferiority, one_sided_bounds, tango_bounds
from llama_eval.quality.stats import bootstrap_ci, compare, holm, paired_bootstrap, per_prompt, sample_size


def test_ci_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    true_p, hits, trials = 0.7, 0, 300
    for t in range(trials):
        sample = rng.random(200) < true_p
        est = bootstrap_ci(sample.astype(float), resamples=1000, seed=t)
        hits += est.low <= true_p <= est.high
    coverage = hits / trials
    assert 0.90 <= coverage <= 0.99, coverage  # nominal 0.95; 300 trials give a standard error of about 0.013


def test_paired_test_finds_a_planted_five_point_difference():
    rng = np.random.default_rng(2)
    n = 1000
    difficulty = rng.random(n)  # shared per-prompt difficulty: what makes the design paired
    a = (difficulty < 0.75).astype(float)
    b = a.copy()
    flip = np.flatnonzero(a == 1)[: int(0.05 * n)]
    b[flip] = 0.0  # b loses exactly 5 points on the same prompts
    diff, low, high, p = paired_bootstrap(a, b, resamples=2000)
    assert diff == pytest.approx(0.05) and low > 0 and p < 0.01


def test_identical_systems_are_flagged_at_about_the_nominal_rate():
    rng = np.random.default_rng(3)
    false_positives, trials = 0, 200
    for t in range(trials):
        difficulty = rng.random(300)
        a = (rng.random(300) < difficulty).astype(float)  # same system, sampled twice
        b = (rng.random(300) < difficulty).astype(float)
        _, _, _, p = paired_bootstrap(a, b, resamples=500, seed=t)
        false_positives += p < 0.05
    assert false_positives / trials <= 0.09, false_positives  # nominal 0.05


def test_holm():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]


def test_compare_gives_verdicts_in_words():
    rng = np.random.default_rng(4)
    prompts = [f"p{i}" for i in range(800)]
    base = {p: float(rng.random() < 0.6) for p in prompts}
    better = {p: 1.0 if (v == 1.0 or i % 10 == 0) else 0.0 for i, (p, v) in enumerate(base.items())}
    same = dict(base)
    result = {(c.a, c.b): c for c in compare({"405B": better, "70B": base, "70B-copy": same}, resamples=2000)}
    win = result[("405B", "70B")]
    assert win.significant and win.verdict().startswith("405B better than 70B by")
    tie = result[("70B", "70B-copy")]
    assert not tie.significant and tie.verdict().startswith("no detectable difference")


def test_repeats_are_averaged_per_prompt_with_consistency():
    means, consistency = per_prompt({"a": [1, 1, 1], "b": [1, 0, 1], "c": [0]})
    assert means == {"a": 1.0, "b": pytest.approx(2 / 3), "c": 0.0}
    assert consistency == 0.5  # a agrees, b does not; c has one repeat


def test_sample_size_hint():
    assert sample_size(0.05) == 1570  # (1.96 + 0.84)^2 * 0.5 / 0.05^2
    assert sample_size(0.05, sd=0.2) < sample_size(0.05)
    with pytest.raises(ValueError):
        sample_size(0)


def test_bootstrap_of_5000_items_10000_resamples_is_fast_and_small():
    values = (np.random.default_rng(5).random(5000) < 0.8).astype(float)
    start = time.process_time()
    est = bootstrap_ci(values)
    elapsed = time.process_time() - start
    assert est.low < est.mean < est.high and est.n == 5000
    assert elapsed < 5, elapsed  # a loose ceiling against pathologies; the benchmark measures the real time


def test_verdict_interval_is_for_the_better_minus_the_worse():
    from llama_eval.quality.stats import Comparison

    c = Comparison(a="8B", b="405B", n=100, diff=-0.154, low=-0.161, high=-0.147, p=0.0001, p_holm=0.0006, p_adjusted=0.0006)
    assert c.verdict().startswith("405B better than 8B by 15.4 points [14.7, 16.1]")


def test_multinomial_and_index_bootstraps_agree():
    from llama_eval.quality import stats

    rng = np.random.default_rng(6)
    values = rng.choice([0.0, 0.5, 1.0], size=2000, p=[0.3, 0.2, 0.5])
    fast = stats.bootstrap_ci(values, resamples=4000, seed=1)
    original = stats.MULTINOMIAL_MAX_DISTINCT
    stats.MULTINOMIAL_MAX_DISTINCT = 0  # force index resampling
    try:
        slow = stats.bootstrap_ci(values, resamples=4000, seed=1)
    finally:
        stats.MULTINOMIAL_MAX_DISTINCT = original
    assert fast.mean == slow.mean
    assert abs(fast.low - slow.low) < 0.006 and abs(fast.high - slow.high) < 0.006  # same distribution, different draws


# --------------------------------------------------------------------------- small samples: exact tests


def test_five_prompts_four_wins_one_tie_gives_p_0125_and_no_verdict():
    from llama_eval.quality.stats import paired_test

    binary = paired_test([1, 1, 1, 1, 0], [0, 0, 0, 0, 0])
    graded = paired_test([0.9, 0.8, 1.0, 0.7, 0.5], [0.4, 0.3, 0.2, 0.6, 0.5])  # not 0/1: the sign-flip test
    assert binary.method == "mcnemar" and binary.p == pytest.approx(0.125, abs=1e-12)
    assert graded.method == "sign-flip-exact" and graded.p == pytest.approx(0.125, abs=1e-12)
    (c,) = compare({"x": dict(enumerate([1.0, 1, 1, 1, 0])), "y": dict(enumerate([0.0] * 5))})
    assert c.p == pytest.approx(0.125) and not c.significant
    assert c.verdict().startswith("too few prompts to compare x and y: 5 shared prompts, a verdict needs at least 10")


def test_exact_mcnemar_matches_scipy_binomtest_and_clopper_pearson():
    scipy_stats = pytest.importorskip("scipy.stats")
    from llama_eval.quality.stats import mcnemar_exact

    rng = np.random.default_rng(7)
    for _ in range(60):
        n = int(rng.integers(10, 400))
        a = (rng.random(n) < rng.random()).astype(float)
        b = (rng.random(n) < rng.random()).astype(float)
        t = mcnemar_exact(a, b, level=0.95)
        wins, losses = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
        if wins + losses == 0:
            assert t.p == 1.0
            continue
        ref = scipy_stats.binomtest(wins, wins + losses, 0.5)
        assert t.p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
        ci = ref.proportion_ci(confidence_level=0.95, method="exact")
        share = (wins + losses) / n
        assert t.low == pytest.approx(share * (2 * ci.low - 1), abs=1e-9)
        assert t.high == pytest.approx(share * (2 * ci.high - 1), abs=1e-9)


def test_exact_sign_flip_matches_scipy_permutation_test():
    scipy_stats = pytest.importorskip("scipy.stats")
    from llama_eval.quality.stats import sign_flip_test

    rng = np.random.default_rng(8)
    for n in (3, 6, 9, 12):
        for _ in range(5):
            a, b = rng.random(n).round(2), rng.random(n).round(2)
            ours = sign_flip_test(a, b)
            ref = scipy_stats.permutation_test((a, b), lambda x, y: np.mean(x - y), permutation_type="samples", n_resamples=np.inf, alternative="two-sided")
            assert ours.method == "sign-flip-exact" and ours.p == pytest.approx(ref.pvalue, rel=1e-9)


def test_random_sign_flip_agrees_with_scipy_permutation_test_at_30_prompts():
    scipy_stats = pytest.importorskip("scipy.stats")
    from llama_eval.quality.stats import sign_flip_test

    rng = np.random.default_rng(12)
    for _ in range(4):
        a, b = rng.random(30).round(2), (rng.random(30) - 0.1).clip(0, 1).round(2)
        ours = sign_flip_test(a, b, resamples=20_000, seed=1)
        ref = scipy_stats.permutation_test(
            (a, b), lambda x, y: np.mean(x - y), permutation_type="samples", n_resamples=50_000, alternative="two-sided", random_state=2
        )
        assert ours.method == "sign-flip" and abs(ours.p - ref.pvalue) < 0.015, (ours.p, ref.pvalue)


def test_p_is_never_zero():
    from llama_eval.quality.stats import paired_test

    for n in (12, 50, 150, 3000):  # exact sign-flip, random sign-flip, bootstrap, bootstrap: a constant difference
        t = paired_test(np.full(n, 0.7), np.full(n, 0.2))
        assert t.p > 0, t
    big = paired_test(np.ones(3000), np.zeros(3000))  # McNemar with 3000 wins: below float range, still not 0
    assert big.p > 0
    (c,) = compare({"x": {i: 0.7 for i in range(150)}, "y": {i: 0.2 for i in range(150)}}, resamples=1000)
    assert c.p_floor and c.p_text == "p < 1/1000" and "p < 1/1000" in c.verdict()


@pytest.mark.parametrize("kind", ["binary", "graded"])
def test_verdict_and_printed_interval_always_agree(kind):
    """'better' exactly when the adjusted interval shown excludes 0, for every test and sample size."""
    rng = np.random.default_rng(9)
    seen = set()
    for trial in range(80):
        n = int(rng.choice([10, 14, 20, 35, 80, 120, 400]))
        effect = rng.choice([0.0, 0.1, 0.3])
        base = rng.random(n)
        scores = {}
        for name, shift in (("x", effect), ("y", 0.0), ("z", effect / 2)):
            raw = np.clip(base + shift + rng.normal(0, 0.3, n), 0, 1)
            scores[name] = dict(enumerate((raw > 0.5).astype(float) if kind == "binary" else raw.round(2)))
        for c in compare(scores, resamples=2000, seed=trial):
            excludes_zero = c.low > 0 or c.high < 0
            assert c.significant == excludes_zero, (c, c.verdict())
            assert c.level == pytest.approx(1 - 0.05 / 3)
            seen.add(c.method)
            words = c.verdict()
            assert ("better than" in words) == c.significant
    assert seen == ({"mcnemar"} if kind == "binary" else {"sign-flip-exact", "sign-flip", "bootstrap"})


@pytest.mark.parametrize("n", [3, 5, 10, 30])
@pytest.mark.parametrize("kind", ["binary", "graded"])
def test_false_positive_rate_with_no_real_difference_is_at_most_5_percent(n, kind):
    """Two samples of the same system (shared per-prompt difficulty, so the design is paired)."""
    rng = np.random.default_rng(100 + n)
    trials = 2000 if kind == "binary" else 600
    verdicts = rejections = 0
    for t in range(trials):
        difficulty = rng.random(n)
        if kind == "binary":
            a, b = (rng.random(n) < difficulty).astype(float), (rng.random(n) < difficulty).astype(float)
        else:
            a = np.clip(difficulty + rng.normal(0, 0.2, n), 0, 1).round(2)
            b = np.clip(difficulty + rng.normal(0, 0.2, n), 0, 1).round(2)
        (c,) = compare({"a": dict(enumerate(a)), "b": dict(enumerate(b))}, resamples=2000, seed=t)
        verdicts += c.significant
        rejections += c.p < 0.05
    assert verdicts / trials <= 0.05, (verdicts, trials)
    assert rejections / trials <= 0.05, (rejections, trials)  # the test itself, whether or not a verdict is given


def test_a_real_difference_is_found_at_30_prompts():
    rng = np.random.default_rng(11)
    found = 0
    for t in range(100):
        difficulty = rng.random(30)
        a = np.clip(difficulty + 0.25 + rng.normal(0, 0.1, 30), 0, 1).round(2)
        b = np.clip(difficulty + rng.normal(0, 0.1, 30), 0, 1).round(2)
        (c,) = compare({"a": dict(enumerate(a)), "b": dict(enumerate(b))}, resamples=2000, seed=t)
        found += c.significant and c.diff > 0
    assert found >= 95


def test_no_shared_prompts_says_so():
    (c,) = compare({"x": {"p1": 1.0}, "y": {"p2": 0.0}})
    assert c.n == 0 and not c.significant and c.verdict() == "no prompts answered by both x and y: nothing to compare"


# --------------------------------------------------------------------------- non-inferiority (issue 27)
# An option is non-inferior to the best when the one-sided 95% lower bound of mean(option - best) is above
# -margin. The simulations plant a true difference and count how often each verdict comes out; the table in
# docs/guides/quality.md ("Deciding: non-inferiority") was made with these generators.


def _binary(rng, n, delta):
    """0/1 scores that disagree both ways: the option alone right on 5% of prompts, the best alone right on 5% - delta."""
    u = rng.random(n)
    best = (u < 0.7 + 0.05 - delta).astype(float)
    option = ((u < 0.7) | ((u >= 0.75 - delta) & (u < 0.8 - delta))).astype(float)
    return option, best


def _binary_losses(rng, n, delta):
    """0/1 scores where the option only ever loses (on -delta of the prompts): identical answers at delta = 0."""
    u = rng.random(n)
    return (u < 0.8 + delta).astype(float), (u < 0.8).astype(float)


def _graded(rng, n, delta):
    """Graded scores (ROUGE-like): option = best + delta + symmetric noise on a 0.05 grid."""
    best = rng.integers(6, 15, n) * 0.05
    return best + delta + rng.integers(-5, 6, n) * 0.05, best


def _ties(rng, n, delta):
    """Judge grades (steps of 0.25), mostly ties: the option a grade up on 8% of prompts, a grade down on 8% - 4 delta."""
    best = rng.integers(1, 4, n) * 0.25
    u = rng.random(n)
    return best + np.where(u < 0.08, 0.25, np.where(u < 0.16 - 4 * delta, -0.25, 0.0)), best


def _graded_losses(rng, n, delta):
    """Judge grades where the option only ever loses a grade (on -4 delta of the prompts)."""
    best = rng.integers(1, 4, n) * 0.25
    return best + np.where(rng.random(n) < -4 * delta, -0.25, 0.0), best


SCENARIOS = {"binary": _binary, "binary_losses": _binary_losses, "graded": _graded, "ties": _ties, "graded_losses": _graded_losses}


def _verdict_shares(make, n, delta, trials, seed, resamples=2000):
    rng = np.random.default_rng(seed)
    counts = {NON_INFERIOR: 0, INFERIOR: 0, UNDECIDED: 0}
    for t in range(trials):
        option, best = make(rng, n, delta)
        counts[non_inferiority(option, best, margin=MARGIN, resamples=resamples, seed=t).verdict] += 1
    return {k: v / trials for k, v in counts.items()}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_simulated_scores_have_the_planted_difference(scenario):
    for delta in (0.0, -MARGIN, -2 * MARGIN):
        option, best = SCENARIOS[scenario](np.random.default_rng(0), 200_000, delta)
        assert float(np.mean(option - best)) == pytest.approx(delta, abs=0.002)
        assert option.min() >= 0 and option.max() <= 1 and best.min() >= 0 and best.max() <= 1
        binary = scenario.startswith("binary")
        assert binary == bool(np.all((option == 0) | (option == 1)) and np.all((best == 0) | (best == 1)))


def _at_most_5_percent(share, trials):
    return share <= 0.05 + 2 * (0.05 * 0.95 / trials) ** 0.5  # nominal 5%, within two simulation standard errors


@pytest.mark.parametrize("scenario", ["binary", "binary_losses"])
def test_pass_fail_scores_are_wrongly_called_non_inferior_at_most_5_percent_at_the_margin(scenario):
    trials = 1000
    for n in (10, 29, 100, 400):
        wrong = _verdict_shares(SCENARIOS[scenario], n, -MARGIN, trials, seed=n)[NON_INFERIOR]
        assert _at_most_5_percent(wrong, trials), (n, wrong)
    # and the rule can choose: identical answers on 400 prompts are always non-inferior, two-way disagreements often
    assert _verdict_shares(_binary_losses, 400, 0.0, 50, seed=1)[NON_INFERIOR] == 1.0
    assert _verdict_shares(_binary, 400, 0.0, trials, seed=2)[NON_INFERIOR] > 0.25


@pytest.mark.slow  # about 30 s: sign-flip and bootstrap tests in every trial
@pytest.mark.parametrize("scenario", ["graded", "ties", "graded_losses"])
def test_graded_scores_are_wrongly_called_non_inferior_at_most_5_percent_at_the_margin(scenario):
    trials = 300
    for n in (10, 29, 100, 400):
        wrong = _verdict_shares(SCENARIOS[scenario], n, -MARGIN, trials, seed=n)[NON_INFERIOR]
        assert _at_most_5_percent(wrong, trials), (n, wrong)


def test_a_rare_loser_on_graded_scores_is_not_called_non_inferior():
    """98 ties and two lost grades: the sign-flip test alone puts the lower bound at -0.5 points; the Tango envelope does not."""
    best = np.full(100, 0.5)
    option = best.copy()
    option[:2] = 0.25
    alone = one_sided_bounds(option, best)
    assert alone.method == "bootstrap" and alone.low > -MARGIN, "what the quality section's test alone would conclude"
    verdict = non_inferiority(option, best, names=("cheap", "best"))
    assert verdict.verdict == UNDECIDED and verdict.low < -MARGIN and verdict.prompts_needed > 100
    assert verdict.text().startswith("undecided: -0.5 points vs best, one-sided 95% bounds [")


def test_tango_bound_is_where_the_score_statistic_reaches_z_and_is_mcnemar_at_zero():
    from statistics import NormalDist

    from llama_eval.quality.noninferiority import TANGO_CORRECTION, _tango_statistic

    z = NormalDist().inv_cdf(0.95)
    for wins, losses, n in ((0, 0, 29), (0, 2, 400), (3, 7, 50), (40, 20, 160)):
        option = [1.0] * wins + [0.0] * losses + [1.0] * (n - wins - losses)
        best = [0.0] * wins + [1.0] * losses + [1.0] * (n - wins - losses)
        t = tango_bounds(option, best)
        assert t.diff == pytest.approx((wins - losses) / n)
        assert _tango_statistic(wins, losses, n, t.low) == pytest.approx(z, abs=1e-6)
        assert _tango_statistic(wins, losses, n, t.high) == pytest.approx(-z, abs=1e-6)
        assert t.low < t.diff < t.high
        if wins + losses:  # McNemar's z with the same continuity correction
            expected = np.sign(wins - losses) * max(0, abs(wins - losses) - TANGO_CORRECTION) / (wins + losses) ** 0.5
            assert _tango_statistic(wins, losses, n, 0.0) == pytest.approx(expected)
    # the bound narrows as agreeing prompts accumulate: 29 say little, 400 enough for a 2-point margin
    assert tango_bounds([1] * 29, [1] * 29).low < -0.1 < -0.01 < tango_bounds([1] * 400, [1] * 400).low


def test_the_three_verdicts_in_words():
    agree = non_inferiority([1.0] * 400, [1.0] * 400, names=("l8", "l405"))
    assert agree.verdict == NON_INFERIOR and agree.text() == (
        f"non-inferior: +0.0 points vs l405, one-sided 95% bounds [{100 * agree.low:+.1f}, {100 * agree.high:+.1f}], lower bound above -2 "
        "(margin 2 points; Tango score test, 400 prompts)"
    )
    worse = non_inferiority([1.0] * 200 + [0.0] * 200, [1.0] * 400, names=("l8", "l405"))
    assert worse.verdict == INFERIOR and worse.text().startswith("inferior: -50.0 points vs l405") and "upper bound below -2" in worse.text()
    few = non_inferiority([1.0] * 5, [1.0] * 5)
    assert few.verdict == UNDECIDED and "too few prompts (5 shared, a verdict needs at least 10)" in few.text()
    thin = non_inferiority([1.0] * 29, [1.0] * 29)
    assert thin.verdict == UNDECIDED and thin.prompts_needed > 29 and f"about {thin.prompts_needed:,} prompts would likely settle it" in thin.text()
    with pytest.raises(ValueError, match="margin"):
        non_inferiority([1.0], [1.0], margin=-0.01)


def test_one_sided_sample_size():
    assert sample_size(0.02, sd=0.14, one_sided=True) == 303  # ((1.645 + 0.842) x 0.14 / 0.02)^2 = 302.9
    assert sample_size(0.02, sd=0.14, one_sided=True) < sample_size(0.02, sd=0.14)
