"""Per-request SLOs, attainment, goodput and the capacity search, over real HTTP against a server of known capacity.

The server (tests/_support/capacityserver.py) serves at most K requests at once, FIFO beyond, each taking
a fixed service time. In a closed loop at concurrency c > K, c − K requests of every round wait a whole
service time (0.38 s) for a place, so their TTFT is ~0.58 s against 0.2 s: a per-request limit of
ttft<=0.35 is met by every request up to K and missed by about (c − K)/c of them above it. With a 90%
target the capacity is exactly K, and K = 6 is not a power of two, so doubling alone cannot land on it.
"""

from __future__ import annotations

import csv
import json
import math

import pytest

from _support.capacityserver import CapacityServer
from llama_eval.deployments.model import Deployment
from llama_eval.errors import SloError, SweepError
from llama_eval.load.objectives import ATTAINMENT_COLUMNS, CSV_COLUMNS, RequestOutcome, Slo, SweepLevel, wilson_interval
from llama_eval.load.search import SearchRange, next_load
from llama_eval.load.slo import find_capacity, read_sweep
from llama_eval.load.sweep import sweep
from llama_eval.records import Status
from llama_eval.rundir.store import read_rows

pytestmark = pytest.mark.serial  # timing-based (a queued request's TTFT): run alone, after the parallel part, like test_sweep.py

QUIET = {"progress": "none", "announce": lambda message: None}
TTFT, TOKENS, INTERVAL = 0.2, 10, 0.02  # service time 0.38 s
K = 6
SLO = f"ttft<={TTFT + 0.15}@90%"  # 150 ms of slack for a loaded machine; a queued request waits 0.38 s more


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Say hello number {i}."}) + "\n" for i in range(5)))
    return path


@pytest.fixture(scope="module")
def kserver():
    with CapacityServer(K, ttft_s=TTFT, tokens=TOKENS, interval_s=INTERVAL) as server:
        yield server


def _deployment(url: str, monkeypatch) -> Deployment:
    monkeypatch.setenv("SWEEP_TEST_KEY", "test-key")
    return Deployment(name="k6", model="Llama-3.3-70B-Instruct", kind="managed", endpoint=url, key_env="SWEEP_TEST_KEY")


def test_the_search_finds_capacity_k_in_fewer_levels_than_a_sweep_that_resolves_it(kserver, prompts, tmp_path, monkeypatch):
    out = tmp_path / "search"
    result = sweep([_deployment(kserver.url, monkeypatch)], prompts, out, concurrency="1:64", search=True, duration_s=1.5, warmup_s=0, slo=SLO, **QUIET)

    loads = [level.concurrency for level in result.levels]
    # doubling 1, 2, 4, 8 (8 misses), then bisection between 4 and 8: 6 meets, 7 misses -> adjacent, done
    assert loads == [1, 2, 4, 8, 6, 7], loads
    assert result.capacity.level.concurrency == K and not result.capacity.lower_bound
    assert [level.slo_met for level in result.levels] == [True, True, True, False, True, False]
    # the doubling ladder over 1:64 has 7 levels and cannot land on 6 (it would call 4 the capacity); a sweep that lists
    # every level up to the first miss, the only other way to find 6 exactly, measures 1..7: 7 levels against the search's 6
    assert result.search["doubling_ladder"] == [1, 2, 4, 8, 16, 32, 64]
    assert len(result.levels) < len(result.search["doubling_ladder"]) and len(result.levels) < K + 1
    assert kserver.state.max_in_service <= K
    assert result == read_sweep(out), "sweep() returns the SweepResult that read_sweep reads back"

    # goodput per level, consistent with the rows: good requests (answered, TTFT within the limit) / the level's measured span
    rows = read_rows(out)
    slo = Slo.parse(SLO)
    for level in result.levels:
        mine = [r for r in rows if r["level"] == level.level and not r["warmup"]]
        good = sum(1 for r in mine if r["status"] == "ok" and r["ttft_s"] <= TTFT + 0.15)
        assert level.requests == len(mine) and level.good_requests == good
        assert level.attainment == pytest.approx(good / len(mine), abs=1e-6)
        assert (level.attainment_low, level.attainment_high) == pytest.approx(wilson_interval(good, len(mine)), abs=1e-6)
        assert level.goodput_rps == pytest.approx(good / level.measured_s, rel=1e-3)
        assert level.goodput_rps <= level.throughput_rps + 1e-9
        assert level.slo_met == (good / len(mine) >= slo.target)
    above = {level.concurrency: level for level in result.levels}
    assert above[8].attainment < 0.9 and above[7].attainment < 0.9  # (c - K)/c of the requests queue: ~25% and ~14%

    # sweep.csv keeps its columns and adds the attainment ones; sweep.json keeps the search and the sweep's own cost
    with (out / "sweep.csv").open() as f:
        assert tuple(csv.DictReader(f).fieldnames) == (*CSV_COLUMNS, *ATTAINMENT_COLUMNS)
    data = json.loads((out / "sweep.json").read_text())
    assert data["capacity"]["concurrency"] == K and data["capacity"]["goodput_rps"] == above[K].goodput_rps
    assert data["search"]["levels_measured"] == 6 and data["slo"] == "ttft<=0.35@90%"
    cost = result.cost
    assert cost.requests == len(rows) and cost.completion_tokens == TOKENS * sum(1 for r in rows if r["status"] == "ok")
    assert cost.token_usd is None and cost.instance_hours is not None and cost.instance_hours > 0  # managed: billed by the hour


def test_a_doubling_only_sweep_over_the_same_range_cannot_resolve_k(kserver, prompts, tmp_path, monkeypatch):
    # the explicit doubling ladder, judged the same way: it stops at its first wide miss and calls 4 the capacity
    result = sweep([_deployment(kserver.url, monkeypatch)], prompts, tmp_path / "ladder", concurrency=[1, 2, 4, 8, 16, 32, 64], duration_s=1.0,
                   warmup_s=0, slo=SLO, **QUIET)  # fmt: skip
    assert result.capacity.level.concurrency == 4
    assert result.levels[3].concurrency == 8 and result.levels[3].slo_met is False


def test_open_loop_search_bisects_to_the_stated_precision(prompts, tmp_path, monkeypatch):
    # one slot, 0.38 s a request: it can answer ~2.6 requests/s; Poisson arrivals queue long before that
    with CapacityServer(1, ttft_s=TTFT, tokens=TOKENS, interval_s=INTERVAL) as server:
        result = sweep([_deployment(server.url, monkeypatch)], prompts, tmp_path / "open", rate="0.5:8", search=True, precision=0.25, duration_s=3.0,
                       warmup_s=0, slo="ttft<=0.6@80%", seed=1, **QUIET)  # fmt: skip
    rates = [level.rate_rps for level in result.levels]
    met = {level.rate_rps: level.slo_met for level in result.levels}
    search = SearchRange(0.5, 8.0, closed=False, precision=0.25)
    # every level is the one the search rule asks for after the ones before it, and the search ended by its own rule
    for i, rate in enumerate(rates):
        assert next_load(search, [(r, met[r]) for r in rates[:i]]) == rate
    assert next_load(search, [(r, met[r]) for r in rates]) is None
    assert result.capacity.level is not None and met[result.capacity.level.rate_rps]
    failed_above = [r for r in rates if not met[r] and r > result.capacity.level.rate_rps]
    assert failed_above and min(failed_above) / result.capacity.level.rate_rps - 1 <= 0.25
    assert all(level.goodput_rps is not None for level in result.levels)


def test_wilson_interval_matches_the_known_value():
    # 8 of 10: [0.4902, 0.9433] (Newcombe 1998, Table I; the same from scipy's binomtest(...).proportion_ci(method="wilson"))
    low, high = wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(20, 20)
    assert high == 1.0 and 0.83 < low < 0.84  # not zero-width at 100%: 20 of 20 does not prove 99%
    scipy_stats = pytest.importorskip("scipy.stats")
    for good, n in [(8, 10), (95, 100), (1, 40), (57, 57)]:
        ci = scipy_stats.binomtest(good, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson_interval(good, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_per_request_slo_parsing_and_its_errors():
    slo = Slo.parse("ttft<=0.5, itl<=50ms, e2e<=8 @95%")
    assert [(o.metric, o.limit, o.per_request, o.floor) for o in slo.objectives] == [
        ("ttft", 0.5, True, False), ("itl", 0.05, True, False), ("e2e", 8.0, True, False)
    ]  # fmt: skip
    assert slo.target == 0.95 and slo.by_attainment and str(slo) == "ttft<=0.5,itl<=0.05,e2e<=8@95%"
    assert Slo.parse(str(slo)) == slo, "an SLO reads back from the text sweep.json stores"
    ptu = Slo.parse("otps>=50@99%")
    assert ptu.objectives[0].floor and ptu.target == 0.99 and Slo.parse("otps>=50@0.99") == ptu
    assert not any(o.metric == "error_rate" for o in slo.objectives), "errors are misses already: no implicit error limit"
    cases = [
        ("ttft<=x@95%", "--slo 'ttft<=x': 'x' is not a number of seconds; e.g. ttft<=0.5"),
        ("otps>=fast@99%", "'fast' is not a number of tokens/s; e.g. otps>=50"),
        ("ttft<=0.5", "need the share of requests that must meet them: add it after @, e.g. 'ttft<=0.5@95%'"),
        ("ttft_p90<=1.0@95%", "'ttft_p90<=1.0' is already a level's percentile: drop '@95%'"),
        ("otps<=50@99%", "output speed is a floor: write otps>=50"),
        ("e2e>=8@95%", "e2e is a ceiling: write e2e<=8"),
        ("ttft<=0.5@95", "did you mean @95%?"),
        ("ttft<=0.5@150%", "at most 100%"),
        ("ttft<=0.5,ttft<=0.6@95%", "twice"),
        ("ttfb<=0.5@95%", "unknown SLO metric 'ttfb'"),
        ("@95%", "needs limits before it"),
    ]
    for text, message in cases:
        with pytest.raises(SloError) as caught:
            Slo.parse(text)
        assert message in str(caught.value), (text, str(caught.value))


def test_a_request_is_good_only_when_answered_and_within_every_limit():
    slo = Slo.parse("ttft<=0.5,itl<=0.05,otps>=20@90%")
    fast = RequestOutcome.of(Status.OK, 0.3, 0.3 + 9 * 0.02, 10)  # 10 tokens, 0.02 s apart after the first
    assert fast.itl == pytest.approx(0.02) and fast.otps == pytest.approx(10 / 0.18)
    assert slo.request_met(fast)
    assert not slo.request_met(RequestOutcome.of(Status.OK, 0.6, 0.78, 10)), "late first token"
    assert not slo.request_met(RequestOutcome.of(Status.OK, 0.3, 0.3 + 9 * 0.1, 10)), "crawls after a fast start"
    assert not slo.request_met(RequestOutcome.of(Status.INCOMPLETE, 0.1, 0.2, 10)), "a cut stream is a miss"
    assert not slo.request_met(RequestOutcome.of(Status.RATE_LIMITED, None, 0.01, None)), "an error is a miss"
    assert not slo.request_met(RequestOutcome.of(Status.OK, None, 0.3, 10)), "not streamed: no TTFT measured, so not met"
    # the emulator's time scale: measured 0.15 s at scale 0.5 is 0.3 s of the service
    assert RequestOutcome.of(Status.OK, 0.15, 0.24, 10, scale=0.5).ttft == pytest.approx(0.3)


def _level(i: int, c: int, good: int, n: int = 100) -> SweepLevel:
    level = SweepLevel(i, c, None, n, 0, float(c), None, 0.1, 0.2, 0.3, 0.02, 1.0, 2.0, measured_s=n / c)
    low, high = wilson_interval(good, n)
    return SweepLevel(**{**level.__dict__, "good_requests": good, "attainment": good / n, "attainment_low": low, "attainment_high": high})


def test_capacity_under_attainment_by_hand_and_the_straddle_note():
    slo = Slo.parse("ttft<=0.5@95%")
    # measured out of order, as a search does: 1, 2, 4, 8 (miss), 6, 7 (miss)
    levels = [_level(1, 1, 100), _level(2, 2, 99), _level(3, 4, 98), _level(4, 8, 70), _level(5, 6, 96), _level(6, 7, 93)]
    cap = find_capacity(levels, slo)
    assert cap.level.concurrency == 6 and cap.estimate is None  # no interpolation on a share of requests
    # 96/100 meets 95% on the point estimate, but its interval [90.2%, 98.4%] holds 95%; so does 93/100's [86.2%, 96.6%]
    assert "concurrency 6 meets it on the point estimate 96.0%" in cap.straddles and "concurrency 7 misses it" in cap.straddles
    clear = find_capacity([_level(1, 1, 400, n=400), _level(2, 2, 300, n=400)], slo)
    assert clear.level.concurrency == 1 and clear.straddles is None  # 100% [99.0%, 100%] and 75% [70.5%, 79.0%]: both clear of 95%
    # a percentile SLO on the same levels is unchanged: no attainment involved
    assert find_capacity(levels, Slo.parse("ttft_p90<=1.0")).lower_bound


def test_search_rule_by_hand():
    closed = SearchRange(1, 64, closed=True)
    assert closed.ladder() == (1, 2, 4, 8, 16, 32, 64)
    assert SearchRange(1, 48, closed=True).ladder() == (1, 2, 4, 8, 16, 32, 48)
    assert next_load(closed, []) == 1
    assert next_load(closed, [(1, True), (2, True)]) == 4
    assert next_load(closed, [(1, True), (2, True), (4, True), (8, False)]) == 6
    assert next_load(closed, [(1, True), (2, True), (4, True), (8, False), (6, True), (7, False)]) is None
    assert next_load(closed, [(1, False)]) is None, "the lowest load misses: no capacity to search for"
    assert next_load(closed, [(v, True) for v in closed.ladder()]) is None, "the top of the range meets it: at least 64"
    opened = SearchRange(0.5, 32, closed=False, precision=0.1)
    assert next_load(opened, [(0.5, True), (1.0, True), (2.0, False)]) == 1.5
    assert next_load(opened, [(0.5, True), (1.0, True), (2.0, False), (1.5, True), (1.75, False)]) == 1.625
    assert next_load(opened, [(0.5, True), (1.0, True), (2.0, False), (1.5, True), (1.75, False), (1.625, True)]) is None  # 1.75/1.625 < 1.1
    assert next_load(opened, [(1.0, True), (1.09, False)]) is None  # within 10%
    refused = [(SearchRange(4, 2, True), "0 < LO < HI"), (SearchRange(1.5, 8, True), "whole numbers"), (SearchRange(1, 8, False, 1.5), "--precision")]
    for bad, message in refused:
        with pytest.raises(SweepError, match=message):
            bad.check()


def test_search_input_is_refused_before_any_request(kserver, prompts, tmp_path, monkeypatch):
    d = _deployment(kserver.url, monkeypatch)
    served = kserver.state.served
    cases = [
        ({"concurrency": "1:64"}, "a range LO:HI is for a capacity search: add --search"),
        ({"concurrency": "1,2,4", "search": True, "slo": SLO}, "--search takes a range LO:HI"),
        ({"concurrency": "1:64", "search": True}, "needs one: pass --slo"),
        ({"rate": "0.5:x", "search": True, "slo": SLO}, "cannot read the range"),
    ]
    for kwargs, message in cases:
        with pytest.raises(SweepError, match=message):
            sweep([d], prompts, tmp_path / "bad", requests_per_level=2, warmup_s=0, **kwargs, **QUIET)
    assert kserver.state.served == served and not (tmp_path / "bad" / "results.jsonl").exists()


def test_a_percentile_sweep_is_rejudged_under_a_per_request_slo_from_its_rows(kserver, prompts, tmp_path, monkeypatch):
    out = tmp_path / "p"
    result = sweep([_deployment(kserver.url, monkeypatch)], prompts, out, concurrency=[2, 8], requests_per_level=16, warmup_s=0,
                   slo="ttft_p90<=0.35", **QUIET)  # fmt: skip
    assert all(level.attainment is None for level in result.levels)  # a percentile SLO: no attainment
    with (out / "sweep.csv").open() as f:
        assert tuple(csv.DictReader(f).fieldnames) == CSV_COLUMNS
    again = read_sweep(out, slo=SLO)
    assert [level.slo_met for level in again.levels] == [True, False] and again.capacity.level.concurrency == 2
    assert again.levels[0].good_requests == 16 and math.isclose(again.levels[0].attainment, 1.0)

    from llama_eval.load.figure import load_figure

    fig = load_figure([again])
    points = [t for t in fig.data if t.name == "k6 attainment"]
    assert len(points) == 1 and list(points[0].y) == [level.attainment for level in again.levels]
    assert list(points[0].error_y.arrayminus) == pytest.approx([lv.attainment - lv.attainment_low for lv in again.levels])
    assert any(a["text"].startswith("target 90% (ttft<=0.35)") for a in fig.to_dict()["layout"]["annotations"])
    assert len(load_figure([result]).layout.annotations) < len(fig.layout.annotations), "a percentile sweep has no attainment panel"
