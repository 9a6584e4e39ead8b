"""Fixed capacity: cost per request at measured capacity and the machines a load needs, checked against hand calculations from the price table."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from llama_eval.catalog.prices import load_prices
from llama_eval.cost.fixed import NOT_MEASURED, MeasuredCapacity, cost_per_request_at_capacity, instances_needed
from llama_eval.cost.option import capacity_cost_frame, describe, fixed_capacity_cost
from llama_eval.load.slo import read_sweep


def test_managed_cost_per_request_equals_the_hand_calculation():
    hourly = load_prices().compute_price("Standard_NC24ads_A100_v4").usd_per_hour
    assert hourly == Decimal("3.673")  # data/compute_prices.csv, eastus
    # by hand: 3.673 $/h / (3,600 s x 12.1 req/s) = 3.673 / 43,560 = 0.0000843205 $ a request; 0.0843205 $ per 1,000
    per_request = cost_per_request_at_capacity(hourly, Decimal("12.1"))
    assert per_request == pytest.approx(Decimal("0.0000843205"), abs=Decimal("1e-10"))
    # the same two VMs behind one endpoint, swept together at 24.2 req/s: the same cost per request
    assert cost_per_request_at_capacity(hourly, Decimal("24.2"), instances=2) == per_request

    option = fixed_capacity_cost("llama33-70b managed", "managed", hourly, MeasuredCapacity(Decimal("12.1")), peak_rps=40, requests_per_day=500_000)
    # by hand: ceil(40 / 12.1) = ceil(3.306) = 4 instances; 4 x 3.673 x 730 h = 10,725.16 $ a month;
    # 500,000 a day x 730/24 days = 15,208,333.3 requests a month -> 10,725.16 / 15,208,333.3 = 0.000705216 $ a request
    assert option.instances == 4
    assert option.monthly_usd == Decimal("10725.16")
    assert option.per_request_at_traffic_usd == pytest.approx(Decimal("0.000705216"), abs=Decimal("1e-9"))
    assert option.per_1k_requests_at_capacity_usd == pytest.approx(Decimal("0.0843205"), abs=Decimal("1e-7"))
    assert "4 instances for 40 req/s: $10,725.16 a month" in describe(option)


def test_instances_needed_rounds_up_and_never_goes_below_one():
    assert instances_needed(40, Decimal("12.1")) == 4
    assert instances_needed(Decimal("36.3"), Decimal("12.1")) == 3  # exactly three instances' worth
    assert instances_needed(0, 5) == 1
    with pytest.raises(ValueError, match="capacity per instance must be > 0"):
        instances_needed(1, 0)


def test_without_a_sweep_it_says_capacity_not_measured_instead_of_nan():
    option = fixed_capacity_cost("405b managed", "managed", Decimal("32.77"), None, peak_rps=40, requests_per_day=500_000)
    assert option.per_request_at_capacity_usd is None and option.monthly_usd is None and option.instances is None
    assert option.note.startswith(NOT_MEASURED)
    frame = capacity_cost_frame([option])
    assert frame.loc[0, "note"].startswith(NOT_MEASURED) and frame.loc[0, "usd_per_1k_requests_at_capacity"] is None
    assert describe(option) == f"405b managed: {NOT_MEASURED}"


def test_average_volume_above_the_peak_sizes_for_the_average():
    # 2,000,000 a day over 24 h = 23.15 req/s average; a stated peak of 10 cannot be right: size for 23.15 -> ceil(23.15/5) = 5
    option = fixed_capacity_cost("x", "self-hosted", 2, MeasuredCapacity(Decimal(5)), peak_rps=10, requests_per_day=2_000_000)
    assert option.instances == 5 and "above the peak" in option.note


def test_capacity_from_a_sweep_directory(tmp_path):
    levels = [
        {"level": 1, "concurrency": 1, "rate_rps": None, "requests": 50, "errors": 0, "throughput_rps": 2.0, "output_tps": 100.0, "ttft_p50_s": 0.3,
         "ttft_p90_s": 0.4, "ttft_p99_s": 0.5, "itl_p50_s": 0.02, "e2e_p50_s": 1.0, "e2e_p90_s": 1.2},
        {"level": 2, "concurrency": 4, "rate_rps": None, "requests": 50, "errors": 0, "throughput_rps": 7.5, "output_tps": 300.0, "ttft_p50_s": 0.5,
         "ttft_p90_s": 0.9, "ttft_p99_s": 1.0, "itl_p50_s": 0.03, "e2e_p50_s": 1.5, "e2e_p90_s": 2.0},
        {"level": 3, "concurrency": 8, "rate_rps": None, "requests": 50, "errors": 0, "throughput_rps": 8.0, "output_tps": 320.0, "ttft_p50_s": 1.5,
         "ttft_p90_s": 2.5, "ttft_p99_s": 3.0, "itl_p50_s": 0.04, "e2e_p50_s": 3.0, "e2e_p90_s": 4.0},
    ]  # fmt: skip
    (tmp_path / "sweep.json").write_text(json.dumps({"deployment": "m", "kind": "managed", "mode": "closed", "slo": "ttft_p90<=1", "levels": levels}))
    sweep = read_sweep(tmp_path)
    capacity = MeasuredCapacity.from_sweep(sweep, instances=1)
    assert capacity.throughput_rps == Decimal("7.5") and capacity.slo == "ttft_p90<=1,error_rate<=0.01"
    assert MeasuredCapacity.from_sweep(read_sweep(tmp_path, slo="ttft_p90<=0.1")) is None  # the first level misses it


def test_cost_per_1k_requests_for_every_deployment_kind_of_a_run(tmp_path):
    from _support.decision_fixtures import scored_run as _run
    from _support.decision_fixtures import sweep_dir as _sweep
    from llama_eval.cost.projection import deployment_costs

    run = _run(tmp_path)
    (tmp_path / "sweeps").mkdir()
    _sweep(tmp_path / "sweeps", "l405", "managed", [1, 2, 4, 4.2], [0.5, 0.6, 0.9, 2.5])
    costs = {c.label: c for c in deployment_costs(run, [tmp_path / "sweeps"], peak_rps=40, requests_per_day=500_000)}
    # serverless, by hand: (1,000 + 400 tokens) x $0.00071 per 1k = $0.000994 a request = $0.994 per 1,000
    assert costs["l70"].kind == "serverless" and costs["l70"].usd_per_1k_requests == Decimal("0.99400")
    # managed with a sweep, by hand: $32.77 / (3,600 x 4 req/s) x 1,000 = $2.2756944 per 1,000 at capacity; 10 instances at 40 req/s
    assert costs["l405"].usd_per_1k_requests == pytest.approx(Decimal("2.2756944"), abs=Decimal("1e-7"))
    assert costs["l405"].instances == 10 and costs["l405"].monthly_usd == Decimal("239221.00")
    # managed without a sweep: said, not NaN
    assert costs["l8"].usd_per_1k_requests is None and costs["l8"].basis == NOT_MEASURED and "no sweep" in costs["l8"].note


@pytest.mark.parametrize(
    "kind, compute",
    [
        ("managed", {"sku": "Meta-Llama-3.1-405B-Instruct", "vm": "Standard_ND96amsr_A100_v4"}),
        ("self-hosted", {"sku": None, "gpu": "H100", "count": 2, "usd_per_hour": "4.0", "instances": 1, "hours_per_day": 10.0}),
    ],
)
def test_the_hourly_price_of_each_kind_comes_from_one_place(tmp_path, kind, compute):
    """Compute.hourly_usd is the only hourly price: the projection, the capacity-based cost and the decision cost one option the same.

    A manifest records the compute as a dict; each caller reads it into a Compute once. With the same
    measured capacity (4 req/s an instance), peak (40 req/s) and volume, the three give the same month.
    """
    from _support.decision_fixtures import ON, scored_run
    from _support.decision_fixtures import sweep_dir as _sweep
    from llama_eval.cost.projection import TrafficProfile, deployment_costs, projection
    from llama_eval.decide import recommend
    from llama_eval.deployments.model import Compute
    from llama_eval.rundir.store import read_manifest, write_manifest

    model = compute.pop("sku") if kind == "managed" else "Meta-Llama-3.1-405B-Instruct"
    record = {"sku": compute.pop("vm"), "instances": 1} if kind == "managed" else compute
    run = scored_run(tmp_path)
    manifest = read_manifest(run)
    for d in manifest["fingerprint"]["deployments"]:
        if d["name"] == "l405":
            d.update(kind=kind, compute=record, model=model)
    write_manifest(run, manifest)
    (tmp_path / "sweeps").mkdir()
    _sweep(tmp_path / "sweeps", "l405", kind, [1, 2, 4, 4.2], [0.5, 0.6, 0.9, 2.5])
    prices = load_prices()
    machines = Compute.from_json(record)
    hourly = machines.hourly_usd(prices, instances=1)
    # by hand: ceil(40 / 4) = 10 instances x one instance's hourly price x hours a day x 730 / 24
    by_hand = hourly * 10 * Decimal(str(machines.hours_per_day)) * 730 / 24

    capacity = MeasuredCapacity(Decimal(4), slo="ttft_p90<=1")
    fixed = fixed_capacity_cost("l405", kind, hourly, capacity, peak_rps=40, requests_per_day=500_000, hours_per_day=machines.hours_per_day)
    profile = TrafficProfile.of(500_000, 1000, 400, peak_rps=40)
    projected = projection(profile, prices, [], **{"managed" if kind == "managed" else "self_hosted": [(model, machines)]},
                           capacities={(model, kind): capacity}).options[0]  # fmt: skip
    [per_deployment] = [c for c in deployment_costs(run, [tmp_path / "sweeps"], peak_rps=40, requests_per_day=500_000, prices=prices) if c.label == "l405"]
    decision = recommend(run, sweeps=[tmp_path / "sweeps"], peak_rps=40, requests_per_day=500_000, slo="ttft_p90<=1.0", prices=prices, on=ON)
    decided = next(o for o in decision.options if o.deployment == "l405")
    months = {
        "fixed_capacity_cost": fixed.monthly_usd,
        "projection": projected.monthly_at(profile.requests_per_day),
        "deployment_costs": per_deployment.monthly_usd,
        "recommend": decided.cost.monthly_usd,
    }
    assert set(months.values()) == {by_hand}, months
    assert {fixed.instances, projected.instances_at(profile.requests_per_day), per_deployment.instances, decided.cost.instances} == {10}
