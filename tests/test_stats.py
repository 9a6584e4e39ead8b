"""The statistics, checked by simulation: CIs cover, paired tests find real differences and only those."""

from __future__ import annotations

import time

import numpy as np
import pytest

from llama_eval.scoring.stats import bootstrap_ci, compare, holm, paired_bootstrap, per_prompt, sample_size


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
    from llama_eval.scoring.stats import Comparison

    c = Comparison(a="8B", b="405B", n=100, diff=-0.154, low=-0.161, high=-0.147, p=0.0001, p_holm=0.0006)
    assert c.verdict().startswith("405B better than 8B by 15.4 points [14.7, 16.1]")


def test_multinomial_and_index_bootstraps_agree():
    from llama_eval.scoring import stats

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
