"""Provisioned throughput (PTU) as a fourth option: sizing from the token mix, monthly cost by term, projection, decision.

Every figure here is worked by hand from the catalog's PTU terms for Llama-3.3-70B-Instruct (Microsoft's
sizing page: 8,450 input tokens/min per PTU, output x4, minimum 100, steps of 100) and the bundled
PTU price row ($1.00/PTU-hour, $260/PTU on a 1-month and $2,652/PTU on a 1-year reservation: an
assumption, Azure OpenAI's Global PTU standing in for Llama).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from _support.decision_fixtures import ON
from _support.decision_fixtures import scored_run as _run
from _support.decision_fixtures import sweep_dir as _sweep
from llama_eval import load_catalog, load_prices
from llama_eval.cost.projection import TrafficProfile, projection
from llama_eval.cost.provisioned import break_even_ptus, provisioned_option, ptus_needed
from llama_eval.decide import NO_CAPACITY, recommend

L33 = "Llama-3.3-70B-Instruct"


def terms():
    return load_catalog().get(L33).offer("provisioned").provisioned


def test_ptus_needed_hand_checked():
    """10 req/s of 1,000 tokens in and 200 out: (1,000 + 4 x 200) x 10 x 60 / 8,450 = 127.8 PTU -> steps of 100 -> 200 PTU.

    1 req/s of the same mix: 12.78 PTU -> the minimum, 100. 20 req/s: 255.6 -> 300. Exactly 8,450 normalized
    tokens a minute x 100 PTU (845,000 / 60 / 1,800 = 7.824 req/s) fits 100 PTU with nothing to spare.
    """
    t = terms()
    assert ptus_needed(10, 1000, 200, t) == 200
    assert ptus_needed(1, 1000, 200, t) == 100
    assert ptus_needed(20, 1000, 200, t) == 300
    assert ptus_needed(Decimal(845_000) / 60 / 1800, 1000, 200, t) == 100
    assert ptus_needed(Decimal(845_000) / 60 / 1800 + Decimal("0.001"), 1000, 200, t) == 200


def test_the_ptu_option_costs_a_month_by_the_hour_and_on_each_reservation():
    """200 PTU: by the hour $1.00 x 200 x 730 h = $146,000.00; 1-month reservation $260 x 200 = $52,000;
    1-year reservation $2,652 / 12 x 200 = $44,200. Per 1,000 requests at 100% utilization: one PTU serves
    8,450 / 60 / 1,800 = 0.078241 req/s, so $1.00 / (3,600 x 0.078241) x 1,000 = $3.5503.
    """
    option = provisioned_option(L33, terms(), load_prices().ptu_price(L33), 1000, 200, peak_rps=10, requests_per_day=100_000)
    assert option.kind == "provisioned" and option.fixed and option.ptus == 200
    assert option.monthly_usd == Decimal("146000.00")
    assert option.monthly_by_term() == {"hourly": Decimal("146000.00"), "1-month": Decimal("52000"), "1-year": Decimal("44200")}
    assert option.usd_per_1k_requests == pytest.approx(Decimal("3.5503"), abs=Decimal("0.0001"))
    assert "(est.)" in option.note and "Azure OpenAI" in option.note, "an assumed price says so where it is shown"
    assert "99% > 50 tokens/s" in option.note and "not your SLO" in option.note
    unpriced = provisioned_option(L33, terms(), None, 1000, 200, peak_rps=10)
    assert not unpriced.priced and unpriced.note.startswith("no price") and unpriced.ptus == 200


def test_break_even_on_the_ptu_grid_hand_checked():
    """Units of 100 PTU from 100: one PTU carries 10 requests/day, per token costs a PTU-month at 9 a day.

    n PTU hold ((n - 100) x 10, n x 10]; per token wins there below n x 9, i.e. while (n - 100) x 10 < 9n,
    n < 1,000: the last such size is 900, so the break-even is 900 x 9 = 8,100 requests/day. Machines are
    first = step = 1: full 10, c 9 -> n < 10 -> 9.
    """
    assert break_even_ptus(100, 100, Decimal(10), Decimal(9)) == 900
    assert break_even_ptus(1, 1, Decimal(10), Decimal(9)) == 9
    assert break_even_ptus(100, 100, Decimal(10), Decimal(1)) == 100, "per token never wins beyond the minimum"


def test_the_projection_lists_ptu_beside_serverless_with_its_ptu_count():
    """The projection's fourth option: Llama-3.3-70B on Global Provisioned, 200 PTU at 10 req/s peak, and the break-even.

    Serverless: (1,000 + 200) x $0.00071 / 1,000 = $0.000852 a request, $2,591.50 a month at 100,000 a day
    (x 730 / 24). PTU: $146,000.00. One PTU at this peak shape carries 0.078241 req/s x 10,000 = 782.4 requests
    a day, while per token costs a PTU-month (730 x $1) only at 730 / 0.000852 / 30.4167 = 28,169 a day:
    per token is cheaper at every volume.
    """
    profile = TrafficProfile.of(100_000, 1000, 200, peak_rps=10)
    result = projection(profile, load_prices(), [L33], provisioned=[L33], catalog=load_catalog(), on=ON)
    ptu = result.option(f"{L33} · provisioned (Global Provisioned, PTU)")
    assert ptu.kind == "provisioned" and ptu.instances_at(profile.requests_per_day) == 200 and ptu.monthly_at(profile.requests_per_day) == Decimal("146000.00")
    assert ptu.instances_at(Decimal(300_000)) == 400, "30 req/s: 383.4 PTU -> 400"
    serverless = result.option(f"{L33} · serverless")
    assert serverless.monthly_at(profile.requests_per_day) == pytest.approx(Decimal("2591.50"), abs=Decimal("0.01"))
    assert result.cheapest is serverless
    (pair,) = [b for b in result.break_even if {b.a, b.b} == {ptu.label, serverless.label}]
    assert pair.requests_per_day is None and pair.verdict().startswith("never: even with every instance full at peak")


def test_recommend_lists_the_ptu_option_with_its_ptus_and_does_not_choose_it_unswept(tmp_path):
    """The decision's option list has PTU for Llama-3.3-70B (the run's l70 answers stand for it).

    l70's token mix is 1,000 in and 400 out: (1,000 + 1,600) x 10 x 60 / 8,450 = 184.6 -> 200 PTU at 10 req/s,
    $1.00 x 200 x 730 = $146,000.00 a month. No sweep of a provisioned deployment checks the SLO, so it loses
    "capacity not measured" and says Microsoft's latency statement is not the SLO.
    """
    run = _run(tmp_path)
    sweeps = [_sweep(tmp_path, "l70", "serverless", [10, 30, 50, 52], [0.4, 0.5, 0.8, 1.6])]
    result = recommend(run, sweeps=sweeps, peak_rps=10, requests_per_day=100_000, slo="ttft_p90<=1.0", on=ON)
    ptu = next(o for o in result.options if o.kind == "provisioned")
    assert ptu.label == f"{L33} (provisioned, Global Provisioned)" and ptu.quality_from == "l70"
    assert ptu.cost.ptus == 200 and ptu.cost.monthly_usd == Decimal("146000.00")
    assert any(r.startswith(NO_CAPACITY) for r in ptu.lost)
    assert any("200 PTU for 10 req/s" in d and "not your SLO" in d for d in ptu.detail)
    row = result.frame().set_index("option").loc[ptu.label]
    assert row["kind"] == "provisioned" and row["instances"] == 200 and row["monthly_usd"] == Decimal("146000.00")
    assert result.chosen.label == "l70"
