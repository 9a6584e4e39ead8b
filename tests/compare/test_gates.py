"""The gate's parser and judge in process, on records built by hand, and the emulator's knobs checked when read."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from llama_eval.compare import PromptMatch, RunComparison, Shift, Target, judge, parse_conditions
from llama_eval.emulator.config import specs_from_deployments
from llama_eval.errors import GateError


def test_conditions_are_read_with_their_units():
    got = {c.name: c.threshold for c in parse_conditions("quality_drop>2, ttft_p90_increase>20%,cost_per_1k_increase>10%,e2e_p50_increase>5.5%")}
    assert got == {"quality_drop": 2.0, "ttft_p90_increase": 0.2, "cost_per_1k_increase": 0.1, "e2e_p50_increase": 0.055}
    assert {c.name: c.threshold for c in parse_conditions("score<80%,error_rate>1%", two_runs=False)} == {"score": 0.8, "error_rate": 0.01}
    assert parse_conditions("score<0.8,error_rate>0.02", two_runs=False)[1].threshold == 0.02


@pytest.mark.parametrize("text", ["", "quality_drop>2,,score<0.8", "score<1.5", "error_rate<1%", "cost_per_1k_increase=10%", "quality_drop>abc"])
def test_unreadable_conditions_name_the_token(text):
    with pytest.raises(GateError) as caught:
        parse_conditions(text)
    assert "--fail-if" in str(caught.value)


def _comparison(**parts) -> RunComparison:
    return RunComparison(Path("a"), Path("b"), PromptMatch(()), **parts)


def test_a_latency_increase_fails_only_when_its_interval_lies_above_the_threshold():
    above = Shift("d", "TTFT", "p90", 0.2, 0.26, 0.30, 0.24, 0.36, 200, 200)
    straddles = Shift("d", "TTFT", "p90", 0.2, 0.26, 0.30, 0.15, 0.45, 200, 200)
    conditions = parse_conditions("ttft_p90_increase>20%")
    assert judge(conditions, _comparison(latency=(above,)))[0].failed
    result = judge(conditions, _comparison(latency=(straddles,)))[0]
    assert not result.failed and result.evaluated and "does not lie above" in result.reason


def test_absolute_targets_and_what_cannot_be_judged():
    targets = (Target("d", "score", 0.7, 0.65, 0.75, 200), Target("d", "error_rate", 0.0, 0.0, 0.0, 200))
    results = judge(parse_conditions("score<0.8,error_rate>1%,ttft_p50_increase>10%"), _comparison(targets=targets))
    assert [r.failed for r in results] == [True, False, False]
    assert results[2].evaluated is False and results[2].line().startswith("not evaluated")
    assert judge(parse_conditions("score<0.72"), _comparison(targets=targets))[0].failed is False  # 0.72 is inside the interval: not supported


def test_a_quality_drop_is_judged_by_the_non_inferiority_test():
    a = (1.0,) * 200
    b = (1.0,) * 180 + (0.0,) * 20  # 10 points worse, every difference one way
    failed = judge(parse_conditions("quality_drop>2"), _comparison(paired={"d": (b, a)}))[0]
    assert failed.failed and "supported" in failed.reason
    small = (1.0,) * 197 + (0.0,) * 3  # 1.5 points: not beyond 2
    assert not judge(parse_conditions("quality_drop>2"), _comparison(paired={"d": (small, a)}))[0].failed


def test_the_json_has_no_paired_scores_and_no_nan():
    c = _comparison(latency=(Shift("d", "ITL", "p50", 0.01, 0.01, 0.0, math.nan, math.nan, 1, 1),), paired={"d": ((1.0,), (1.0,))})
    data = c.to_json()
    assert "paired" not in data and data["latency"][0]["low"] is None


def test_emulator_knobs_are_checked_when_read():
    base = {"name": "x", "model": "Llama-3.3-70B-Instruct", "endpoint": "http://127.0.0.1:1/x"}
    spec = specs_from_deployments([base | {"emulator": {"accuracy": 0.5, "slowdown": 1.3}}])[0]
    assert (spec.accuracy, spec.slowdown) == (0.5, 1.3)
    for bad in ({"accuracy": 2}, {"slowdown": 0}, {"speed": 2}, "fast"):
        with pytest.raises(ValueError, match="emulator"):
            specs_from_deployments([base | {"emulator": bad}])


def test_the_html_page_escapes_what_it_read_from_the_runs(tmp_path):
    from llama_eval.compare import Change
    from llama_eval.compare.html import page

    hostile = "<script>alert(1)</script>"
    text = page(_comparison(changes=(Change("deployment", f"d: headers {hostile}", hostile, "b"),), warnings=(hostile,)))
    assert hostile not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<style>" in text and "table-scroll" in text  # the report's stylesheet
