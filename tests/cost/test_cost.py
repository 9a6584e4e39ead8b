"""Cost: hand-computed prices, exact estimates, actuals, projections and break-even."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from llama_eval import Deployment, load_prices
from llama_eval.catalog.prices import price_for, usd
from llama_eval.cost.actual import run_costs
from llama_eval.cost.figures import break_even_figure
from llama_eval.cost.projection import TrafficProfile, projection
from llama_eval.deployments.model import Compute
from llama_eval.emulator import start_emulator
from llama_eval.endpoint.request import ExtraParameters
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.run import RunParams, run_evaluation
from llama_eval.run.estimate import estimate_run
from llama_eval.rundir.store import read_manifest, read_rows

L33 = "Llama-3.3-70B-Instruct"
QUIET = {"progress": "none", "announce": lambda message: None}


@pytest.mark.parametrize(
    "model, prompt, completion, expected",
    [
        ("Meta-Llama-3.1-405B-Instruct", 19, 72, "0.00125327"),  # the Azure docs' example: 19*0.00533/1000 + 72*0.016/1000
        ("Llama-3.3-70B-Instruct", 1000, 500, "0.001065"),  # 1500 * 0.00071 / 1000
        ("Llama-4-Maverick-17B-128E-Instruct-FP8", 2000, 300, "0.0008"),  # 2*0.00025 + 0.3*0.001
        ("Meta-Llama-3.1-8B-Instruct", 100, 100, "0.000091"),  # 0.1*0.0003 + 0.1*0.00061
        ("Llama-4-Scout-17B-16E-Instruct", 1, 1, "0.00000098"),  # (0.0002 + 0.00078) / 1000
    ],
)
def test_hand_computed_costs(model, prompt, completion, expected):
    assert price_for(load_prices(), model, "serverless").cost(prompt, completion) == Decimal(expected)


def test_no_price_and_managed_are_never_zero():
    prices = load_prices()
    assert price_for(prices, "Llama-2-70b-chat", "serverless").cost(10, 10) is None
    assert "retired" in price_for(prices, "Llama-2-70b-chat", "serverless").reason
    assert price_for(prices, L33, "managed").cost(10, 10) is None
    assert usd(None) == "no price" and usd(Decimal("0.0000004")) == "$0.000000"


def test_sums_of_a_million_rows_do_not_drift():
    per_request = price_for(load_prices(), "Meta-Llama-3.1-405B-Instruct", "serverless").cost(19, 72)
    total = sum((per_request for _ in range(1_000_000)), Decimal(0))
    assert total == Decimal("1253.27000000")
    assert sum(0.00125327 for _ in range(1_000_000)) != 1253.27, "floats would drift"


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"q{i}", "prompt": f"Question number {i}?", "tags": ["a" if i % 2 else "b"]}) for i in range(8)) + "\n")
    return load_prompt_set(path)


def _deployment(emu, monkeypatch) -> Deployment:
    monkeypatch.setenv("EMU_KEY", emu.key)
    return Deployment(name="l33", model=L33, endpoint=emu.deployment_url(L33), key_env="EMU_KEY")


def test_estimate_is_exact_when_output_equals_max_tokens(tmp_path, prompts, monkeypatch):
    with start_emulator(time_scale=0, models=[L33]) as emu:
        dep = _deployment(emu, monkeypatch)
        estimate = estimate_run([dep], prompts, load_prices(), repeats=2, max_tokens=40)["l33"]
        params = RunParams(repeats=2, max_tokens=40, extra=ExtraParameters(ignore_eos=True))  # every answer runs to max_tokens
        run_evaluation([dep], prompts, tmp_path / "r", params, **QUIET)
    actual = run_costs(tmp_path / "r").deployments["l33"]
    assert actual.completion_tokens == estimate.max_output_tokens == 8 * 2 * 40
    assert actual.prompt_tokens == estimate.prompt_tokens
    assert actual.cost_usd == estimate.worst_case_usd
    assert actual.worst_over_actual == 1


def test_expected_cost_from_a_previous_run_and_its_error(tmp_path, prompts, monkeypatch):
    with start_emulator(time_scale=0, models=[L33]) as emu:
        dep = _deployment(emu, monkeypatch)
        run_evaluation([dep], prompts, tmp_path / "first", RunParams(max_tokens=300, temperature=0), **QUIET)
        estimate = estimate_run([dep], prompts, load_prices(), max_tokens=300, previous_run=tmp_path / "first")["l33"]
        run_evaluation([dep], prompts, tmp_path / "second", RunParams(max_tokens=300, temperature=0), estimate_from=tmp_path / "first", **QUIET)
    first_out = sum(r["usage"]["completion_tokens"] for r in read_rows(tmp_path / "first"))
    assert estimate.expected_output_tokens == first_out < estimate.max_output_tokens
    assert estimate.expected_usd < estimate.worst_case_usd
    second = run_costs(tmp_path / "second").deployments["l33"]
    assert second.estimate_expected_usd == estimate.expected_usd
    assert second.estimate_error == 0, "temperature 0: the second run writes exactly what the first did"


def test_actuals_per_deployment_tag_and_thousand_requests(tmp_path, prompts, monkeypatch):
    with start_emulator(time_scale=0, models=[L33]) as emu:
        run_evaluation([_deployment(emu, monkeypatch)], prompts, tmp_path / "r", RunParams(max_tokens=30, repeats=2), **QUIET)
    rows = read_rows(tmp_path / "r")
    costs = run_costs(tmp_path / "r")
    d = costs.deployments["l33"]
    assert d.requests == 16 and d.cost_usd == sum(Decimal(r["cost_usd"]) for r in rows)
    assert d.usd_per_1k_requests == d.cost_usd / 16 * 1000
    assert costs.tags[("l33", "a")].requests == 8 and costs.tags[("l33", "a")].cost_usd + costs.tags[("l33", "b")].cost_usd == d.cost_usd
    assert costs.total_usd == d.cost_usd
    assert costs.prices["digest"] == load_prices().digest
    frame = costs.frame()
    assert frame.loc["l33", "requests"] == 16 and frame.loc["l33", "usd_per_1k_requests"] == d.usd_per_1k_requests, "the table is a view of the record"
    assert set(costs.frame(by_tag=True)["tag"]) == {"a", "b"}


def test_price_override_is_applied_and_reported(tmp_path, prompts, monkeypatch):
    override = tmp_path / "negotiated.csv"
    override.write_text(
        "model,offer,input_per_1k,output_per_1k,currency,effective_date,source_url,note\n"
        f"{L33},serverless,0.0001,0.0002,USD,2026-11-01,https://contract.example,negotiated\n"
    )
    prices = load_prices(override)
    with start_emulator(time_scale=0, models=[L33]) as emu:
        run_evaluation([_deployment(emu, monkeypatch)], prompts, tmp_path / "r", RunParams(max_tokens=30), prices=prices, **QUIET)
    row = read_rows(tmp_path / "r")[0]
    assert (
        Decimal(row["cost_usd"])
        == (Decimal(row["usage"]["prompt_tokens"]) * Decimal("0.0001") + Decimal(row["usage"]["completion_tokens"]) * Decimal("0.0002")) / 1000
    )
    assert str(override) in read_manifest(tmp_path / "r")["prices"]["tables"]
    assert str(override) in run_costs(tmp_path / "r").prices["tables"]


def test_break_even_matches_a_hand_calculation():
    prices = load_prices()
    profile = TrafficProfile.of(requests_per_day=10_000, input_tokens=1000, output_tokens=200)
    result = projection(profile, prices, [L33, "Llama-2-70b-chat"], [(L33, Compute(sku="Standard_NC96ads_A100_v4", instances=1))])
    per_request = Decimal("1200") * Decimal("0.00071") / 1000  # 0.000852
    managed = Decimal("14.692") * 24 * Decimal(730) / 24  # 10,725.16 a month
    serverless = result.option(f"{L33} · serverless")
    assert serverless.per_request_usd == per_request
    assert serverless.monthly_at(profile.requests_per_day) == per_request * 10_000 * Decimal(730) / 24
    assert result.option(f"{L33} · managed (1x Standard_NC96ads_A100_v4)").fixed_monthly_usd == managed == Decimal("10725.16")
    [point] = result.break_even
    assert point.why == "same model"
    assert point.requests_per_day == managed / per_request / (Decimal(730) / 24)
    assert round(point.requests_per_day) == 413_859  # 10,725.16 / 0.000852 / (730/24)
    assert point.cheaper_now == f"{L33} · serverless"
    assert [o.label for o in result.retired] == ["Llama-2-70b-chat · serverless"], "retired on serverless: listed apart, not an option"
    assert result.retired[0].retired.startswith("retired 2025-06-30")


def test_self_hosted_is_a_third_option_priced_by_gpu_hours():
    """Self-hosted compute as the config carries it ({gpu, count, usd_per_hour}): priced by Compute.hourly_usd like a VM."""
    profile = TrafficProfile.of(10_000, 1000, 200)
    gpus = Compute(gpu="H100", count=2, usd_per_hour=4.0)
    managed = [(L33, Compute(sku="Standard_NC96ads_A100_v4"))]
    result = projection(profile, load_prices(), [L33], managed, [(L33, gpus)], run_deployments={(L33, "self-hosted"): ["vllm"]})
    own = result.option(f"{L33} · self-hosted (2x H100 at $4.0/GPU-hour)")
    assert own.fixed_monthly_usd == Decimal("4.0") * 2 * 730 and own.deployments == ("vllm",)
    pairs = {(p.a, p.b): p for p in result.break_even}
    per_request = Decimal("0.000852")
    versus_serverless = pairs[(f"{L33} · serverless", own.label)]
    assert versus_serverless.requests_per_day == Decimal(5840) / per_request / (Decimal(730) / 24)
    versus_managed = pairs[(f"{L33} · managed (1x Standard_NC96ads_A100_v4)", own.label)]
    assert versus_managed.requests_per_day is None and versus_managed.cheaper_now == own.label and versus_managed.never_why == "none: both billed per hour"
    assert len(result.break_even) == 3, "the same model three ways: three pairs, nothing else"


def test_break_even_pairs_are_meaningful_only(tmp_path):
    """Two models: pairs are the same model two ways, and each option the run used against the cheapest offered; never model A serverless vs model B managed."""
    from _support.fakerun import FakeDeployment, write_run
    from llama_eval.cost.projection import project_run

    run = write_run(tmp_path / "r", [FakeDeployment("l33", L33), FakeDeployment("mav", "Llama-4-Maverick-17B-128E-Instruct-FP8")])
    result = project_run(run, 10_000)
    cheapest = result.cheapest
    for p in result.break_even:
        a, b = result.option(p.a), result.option(p.b)
        assert a.model == b.model or cheapest.label in (p.a, p.b), (p.a, p.b)
        assert not (a.model != b.model and {a.kind, b.kind} == {"serverless", "managed"} and cheapest.label not in (p.a, p.b))
    assert all(o.label != cheapest.label or not o.retired for o in result.options)


def test_scheduled_hours_scale_managed_cost():
    prices = load_prices()

    def monthly(compute):
        return projection(TrafficProfile.of(1000, 10, 10), prices, [], [(L33, compute)]).options[0].fixed_monthly_usd

    always = monthly(Compute(sku="Standard_NC24ads_A100_v4"))
    office = monthly(Compute(sku="Standard_NC24ads_A100_v4", instances=2, hours_per_day=10))
    assert always == Decimal("3.673") * 730 and office == Decimal("3.673") * 2 * 10 * 730 / 24


def test_break_even_figure_one_unit_no_labels_volume_in_legend():
    result = projection(TrafficProfile.of(10_000, 1000, 200), load_prices(), [L33], [(L33, Compute(sku="Standard_NC96ads_A100_v4"))])
    figure = break_even_figure(result)
    names = [t.name for t in figure.data]
    assert f"{L33} · serverless" in names and any("managed" in n for n in names)
    assert "your volume: 10,000 requests/day" in names, "the projected volume is in the legend"
    crossing = next(t for t in figure.data if t.name.startswith("break-even"))
    assert crossing.mode == "markers" and crossing.x[0] == pytest.approx(float(result.break_even[0].requests_per_day))
    assert "413,859 requests/day" in crossing.hovertext[0], "the numbers are in hover text, not in overlapping labels"
    assert not any(t.mode and "text" in t.mode for t in figure.data)
    assert figure.layout.xaxis.title.text == "requests per day" and figure.layout.yaxis.title.text == "USD per month"
    assert figure.layout.xaxis.type == "log"


def test_traffic_profile_from_a_run(tmp_path, prompts, monkeypatch):
    with start_emulator(time_scale=0, models=[L33]) as emu:
        run_evaluation([_deployment(emu, monkeypatch)], prompts, tmp_path / "r", RunParams(max_tokens=30), **QUIET)
    rows = read_rows(tmp_path / "r")
    profile = TrafficProfile.from_run(tmp_path / "r", 5000)
    assert profile.input_tokens == Decimal(sum(r["usage"]["prompt_tokens"] for r in rows)) / len(rows)
    with pytest.raises(ValueError, match="no successful rows"):
        TrafficProfile.from_run(tmp_path / "r", 5000, deployment="nope")


def test_cli_estimate_and_cost(tmp_path, prompts, monkeypatch):
    with start_emulator(time_scale=0, models=[L33]) as emu:
        run_evaluation([_deployment(emu, monkeypatch)], prompts, tmp_path / "r", RunParams(max_tokens=30), **QUIET)
    cli = [str(Path(sys.executable).parent / "llama-eval")]
    from llama_eval.paths import data_dir

    out = subprocess.run(
        [*cli, "estimate", "-d", str(data_dir() / "deployments.emulator.yaml"), "-p", str(prompts.path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "llama33-70b" in out.stdout and "VM-hours" in out.stdout
    figure = tmp_path / "be.html"
    out = subprocess.run(
        [*cli, "cost", str(tmp_path / "r"), "--requests-per-day", "20000", "--figure", str(figure)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "l33" in out.stdout and "Break-even" in out.stdout and figure.read_text().count("plotly") > 10
    from llama_eval.cost.projection import project_run

    result = project_run(tmp_path / "r", 20000)
    assert f"Projected traffic: {result.profile.describe()}" in out.stdout, "the CLI states the same traffic as the report"
    assert "20,000 requests/day" in out.stdout and "NaN" not in out.stdout and "None" not in out.stdout
    tables = read_manifest(tmp_path / "r")["prices"]["tables"]
    assert "['" not in out.stdout and "Price tables (digest " in out.stdout, "the price tables print as a list, not a Python repr"
    assert all(f"\n  {t}\n" in out.stdout for t in tables), "one table per line"


def test_projection_uses_the_price_tables_the_run_used(tmp_path):
    from _support.fakerun import FakeDeployment, write_run
    from llama_eval.cost.projection import project_run
    from llama_eval.rundir.store import write_manifest

    run = write_run(tmp_path / "r", [FakeDeployment("l33", L33)])
    override = tmp_path / "negotiated.csv"
    override.write_text(
        "model,offer,input_per_1k,output_per_1k,currency,effective_date,source_url,note\n"
        f"{L33},serverless,0.0001,0.0002,USD,2026-11-01,https://contract.example,negotiated\n"
    )
    manifest = read_manifest(run)
    manifest["prices"]["tables"].append(str(override))
    write_manifest(run, manifest)
    option = project_run(run, 1000).option(f"{L33} · serverless")
    assert option.per_request_usd == (20 * Decimal("0.0001") + 12 * Decimal("0.0002")) / 1000, "the run's negotiated rate, not the list price"


# --------------------------------------------------------------------------- instances from a measured capacity (issue 14)

A100X4 = "Standard_NC96ads_A100_v4"  # $14.692 an hour in eastus: $10,725.16 a month of 730 h


def _measured(rps: str):
    from llama_eval.cost.fixed import MeasuredCapacity

    return MeasuredCapacity(Decimal(rps), source="by hand", slo="ttft_p90<=1")


def test_measured_capacity_sizes_the_instances_and_the_month():
    # by hand: 500,000 requests a day average 5.787 req/s; a stated peak of 40 req/s; one instance holds 40 req/s at the SLO
    profile = TrafficProfile.of(500_000, 1000, 400, peak_rps=40)
    result = projection(profile, load_prices(), [L33], [(L33, Compute(sku=A100X4))], capacities={(L33, "managed"): _measured("40")})
    managed = result.option(f"{L33} · managed (1x {A100X4})")
    assert managed.measured and managed.capacity_rps == Decimal(40)
    assert managed.requests_per_instance_day == Decimal(500_000), "40 req/s at a peak 6.9x the average carries 500,000 a day"
    assert managed.instances_at(Decimal(500_000)) == 1 and managed.monthly_at(Decimal(500_000)) == Decimal("10725.16")
    assert managed.instances_at(Decimal(500_001)) == 2 and managed.monthly_at(Decimal(1_200_000)) == 3 * Decimal("10725.16")
    assert profile.describe().endswith("peak 40 requests/s (6.91x the day's average)")


def test_break_even_with_measured_capacity_is_where_the_fixed_option_stays_cheaper():
    profile = TrafficProfile.of(500_000, 1000, 400, peak_rps=40)
    result = projection(profile, load_prices(), [L33], [(L33, Compute(sku=A100X4))], capacities={(L33, "managed"): _measured("40")})
    serverless, managed = result.option(f"{L33} · serverless"), result.option(f"{L33} · managed (1x {A100X4})")
    [point] = result.break_even
    # by hand: one instance ($10,725.16) costs as much as c = 10,725.16 / ($0.000994 x 730/24) = 354,736.4 requests a day of per-token
    # serverless, and carries 500,000 a day; k instances lose to per-token below k·c while (k-1)·500,000 < k·c, i.e. k < 3.44: the last is k = 3
    c = Decimal("10725.16") / Decimal("0.000994") / (Decimal(730) / 24)
    assert point.requests_per_day == 3 * c and point.monthly_usd == 3 * Decimal("10725.16")
    assert point.first_cheaper_at == c and not point.lower_bound
    assert point.cheaper_now == managed.label  # one instance at 500,000 a day: $10,725.16 against $15,117.08
    # the claim itself, checked against the cost curves on a fine grid rather than the formula
    grid = [Decimal(v) for v in range(100_000, 5_000_000, 997)]
    after = [v for v in grid if v > point.requests_per_day]
    assert all(managed.monthly_at(v) <= serverless.monthly_at(v) for v in after), "above the break-even the fixed option stays cheaper"
    assert any(managed.monthly_at(v) > serverless.monthly_at(v) for v in grid if 2 * 500_000 < v < point.requests_per_day), "it flips back below"
    assert "first cheaper at 354,736/day" in point.verdict()


def test_no_break_even_when_even_full_instances_cost_more_than_per_token():
    # one instance holding 20 req/s carries only 250,000 a day at this peak shape, less than the 354,736 a day it costs in tokens
    profile = TrafficProfile.of(500_000, 1000, 400, peak_rps=40)
    result = projection(profile, load_prices(), [L33], [(L33, Compute(sku=A100X4))], capacities={(L33, "managed"): _measured("20")})
    [point] = result.break_even
    assert point.requests_per_day is None and point.verdict().startswith("never: even with every instance full at peak")
    assert point.cheaper_now == f"{L33} · serverless"  # 2 instances: $21,450.32 against $15,117.08


def test_without_a_sweep_the_fixed_cost_is_a_floor_and_the_tables_say_so():
    from llama_eval.report.cost import break_even_table, options_table

    profile = TrafficProfile.of(10_000, 1000, 200)
    result = projection(profile, load_prices(), [L33], [(L33, Compute(sku=A100X4))])
    managed = result.option(f"{L33} · managed (1x {A100X4})")
    assert not managed.measured and managed.instances_at(Decimal(10_000)) is None
    assert managed.monthly_at(Decimal(10**9)) == Decimal("10725.16"), "the configured machines, whatever the volume: a floor"
    [point] = result.break_even
    assert point.lower_bound and point.verdict().startswith("same cost at no fewer than 413,859 requests/day")
    table = options_table(result)
    row = table.loc[managed.label]
    assert row["instances at peak"] == "capacity not measured" and row["USD per month"] == "at least $10,725.16"
    assert "capacity not measured" in row["note"]
    assert table.loc[f"{L33} · serverless", "instances at peak"] == "— (per token)"
    assert break_even_table(result).iloc[0]["break-even requests/day"] == "at least 413,859 (capacity not measured)"


def test_project_run_takes_capacity_from_the_sweeps_and_agrees_with_recommend(tmp_path):
    """The cost notebook and `llama-eval recommend` size the same machines the same way from the same sweep."""
    from _support.decision_fixtures import ON
    from _support.decision_fixtures import scored_run as _run
    from _support.decision_fixtures import sweep_dir as _sweep
    from llama_eval.cost.projection import project_run
    from llama_eval.decide import recommend

    run = _run(tmp_path)
    sweeps = tmp_path / "sweeps"
    sweeps.mkdir()
    _sweep(sweeps, "l405", "managed", [1, 2, 4, 4.2], [0.5, 0.6, 0.9, 2.5])  # 4 req/s at ttft_p90<=1
    result = project_run(run, 500_000, sweeps=[sweeps], slo="ttft_p90<=1.0", peak_rps=40, on=ON)
    l405 = next(o for o in result.options if o.deployments == ("l405",))
    l8 = next(o for o in result.options if o.deployments == ("l8",))
    # by hand: ceil(40 / 4) = 10 instances x $32.77 x 730 h = $239,221.00 a month
    assert l405.instances_at(result.profile.requests_per_day) == 10 and l405.monthly_at(result.profile.requests_per_day) == Decimal("239221.00")
    assert "sweep" in l405.capacity_source and "ttft_p90<=1" in l405.capacity_source
    decision = recommend(run, sweeps=[sweeps], peak_rps=40, requests_per_day=500_000, slo="ttft_p90<=1.0", on=ON)
    picked = next(o for o in decision.options if o.deployment == "l405")
    assert (picked.cost.instances, picked.cost.monthly_usd) == (10, Decimal("239221.00"))
    assert not l8.measured and "capacity not measured" in l8.note
    # the same sweep does not size other machines: a different VM is not measured
    other = project_run(run, 500_000, sweeps=[sweeps], peak_rps=40, on=ON, compute={"sku": "Standard_ND96isr_H100_v5"})
    assert not next(o for o in other.options if o.deployments == ("l405",)).measured


def test_break_even_figure_draws_measured_machines_as_steps():
    profile = TrafficProfile.of(500_000, 1000, 400, peak_rps=40)
    result = projection(profile, load_prices(), [L33], [(L33, Compute(sku=A100X4))], capacities={(L33, "managed"): _measured("40")})
    trace = next(t for t in break_even_figure(result).data if t.name == f"{L33} · managed (1x {A100X4})")
    assert trace.line.shape == "hv" and list(trace.customdata) == sorted(trace.customdata) and trace.customdata[-1] > 1
    assert all(y == pytest.approx(n * 10725.16) for n, y in zip(trace.customdata, trace.y, strict=True))
    unmeasured = projection(profile, load_prices(), [L33], [(L33, Compute(sku=A100X4))])
    assert any("capacity not measured" in t.name for t in break_even_figure(unmeasured).data)


def test_cli_cost_sizes_machines_from_a_sweep_and_says_when_it_cannot(tmp_path, capsys):
    from _support.decision_fixtures import scored_run as _run
    from _support.decision_fixtures import sweep_dir as _sweep
    from llama_eval.cli import main

    run = _run(tmp_path)
    _sweep(tmp_path, "l405", "managed", [1, 2, 4, 4.2], [0.5, 0.6, 0.9, 2.5])
    code = main(["cost", str(run), "--requests-per-day", "500000", "--peak-rps", "40", "--sweep", str(tmp_path / "sweep-l405"), "--slo", "ttft_p90<=1.0"])
    out = capsys.readouterr().out
    assert code == 0
    assert "peak 40 requests/s" in out
    line = next(x for x in out.splitlines() if "Meta-Llama-3.1-405B-Instruct · managed" in x and "per hour" in x)
    assert "10 (4 req/s each)" in line and "$239,221.00" in line, line  # ceil(40 / 4) x $32.77 x 730 h
    unswept = next(x for x in out.splitlines() if "Meta-Llama-3.1-8B-Instruct · managed" in x and "per hour" in x)
    assert "capacity not measured" in unswept and "at least $" in unswept


def test_cli_cost_refuses_bad_projection_input_before_printing_anything(tmp_path, capsys):
    from _support.decision_fixtures import scored_run as _run
    from llama_eval.cli import main

    run = str(_run(tmp_path))
    assert main(["cost", run, "--requests-per-day", "500000", "--sweep", str(tmp_path / "no-such-sweep")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "no sweep here" in err and "llama-eval sweep" in err
    for args, said in ((["--requests-per-day", "500000", "--peak-rps", "-3"], "--peak-rps must be > 0"),
                       (["--requests-per-day", "0"], "--requests-per-day must be > 0")):  # fmt: skip
        with pytest.raises(SystemExit, match=said):
            main(["cost", run, *args])
        assert capsys.readouterr().out == "", "no half of a report before the error"


def test_cli_cost_without_a_volume_projects_at_the_default_and_says_so(tmp_path, capsys):
    """Plain `llama-eval cost RUN` projects at llama_eval.defaults (as `report` and `recommend` do) and states each assumption."""
    from _support.decision_fixtures import scored_run as _run
    from llama_eval.cli import main
    from llama_eval.defaults import DEFAULT_REQUESTS_PER_DAY, DEFAULT_SLO

    run = str(_run(tmp_path))
    assert main(["cost", run]) == 0
    out = capsys.readouterr().out
    assert f"Assumed {DEFAULT_REQUESTS_PER_DAY:,} requests/day (default; --requests-per-day)." in out
    assert f"Assumed the latency objective {DEFAULT_SLO} (default; --slo)." in out and "(default; --peak-rps)" in out
    assert f"Projected traffic: {DEFAULT_REQUESTS_PER_DAY:,} requests/day" in out and "USD per month" in out
    assert main(["cost", run, "--peak-rps", "40"]) == 0, "a peak alone is a projection at the default volume, no longer an error"
    out = capsys.readouterr().out
    assert "peak 40 requests/s" in out and "(default; --peak-rps)" not in out and "Assumed 10,000 requests/day" in out
    assert main(["cost", run, "--requests-per-day", "20000", "--peak-rps", "1", "--slo", "ttft_p90<=2"]) == 0
    assert "Assumed" not in capsys.readouterr().out, "nothing assumed when everything is given"


def test_run_estimate_is_a_typed_record_the_manifest_stores_and_reads_back(tmp_path, prompts, monkeypatch):
    """The estimate travels as a RunEstimate; the manifest holds its JSON, which reads back equal (old manifests too)."""
    from llama_eval.run.estimate import RunEstimate

    with start_emulator(time_scale=0, models=[L33]) as emu:
        dep = _deployment(emu, monkeypatch)
        estimate = estimate_run([dep], prompts, load_prices(), max_tokens=40)["l33"]
        run_evaluation([dep], prompts, tmp_path / "r", RunParams(max_tokens=40), **QUIET)
    assert isinstance(estimate, RunEstimate) and isinstance(estimate.worst_case_usd, Decimal) and not estimate.billed_by_hour
    stored = read_manifest(tmp_path / "r")["estimates"]["l33"]
    assert stored["worst_case_usd"] == str(estimate.worst_case_usd), "money is stored as exact decimal text"
    assert RunEstimate.from_json(stored) == estimate
    old = {k: v for k, v in stored.items() if k != "kind"} | {"price_note": "managed compute is billed per VM-hour, not per token", "worst_case_usd": None}
    assert RunEstimate.from_json(old).billed_by_hour, "a manifest written before 'kind' was stored still says who bills by the hour"


def test_cost_json_never_shows_zero_dollars_for_a_deployment_without_a_price():
    """A managed deployment's rows have no token price: its actual cost is null in JSON, not "0" (the table says VM-hours)."""
    from decimal import Decimal

    from llama_eval.cost.actual import ActualCost

    hourly = ActualCost("llama31-405b", "Meta-Llama-3.1-405B-Instruct", requests=20, unpriced_rows=20).to_json()
    assert hourly["cost_usd"] is None and hourly["usd_per_1k_requests"] is None and hourly["priced"] is False
    some = ActualCost("l33", "Llama-3.3-70B-Instruct", requests=4, cost_usd=Decimal("0.003"), unpriced_rows=1).to_json()
    assert some["cost_usd"] == "0.003" and some["cost_is_lower_bound"] is True and some["priced"] is True
    full = ActualCost("l33", "Llama-3.3-70B-Instruct", requests=4, cost_usd=Decimal("0.004")).to_json()
    assert full["usd_per_1k_requests"] == "1.000" and full["cost_is_lower_bound"] is False
