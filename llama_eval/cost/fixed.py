"""Cost per request of fixed-price capacity (managed compute, self-hosted GPUs), from a measured sweep.

A VM bills by the hour, busy or idle; an hour becomes a cost per request only once you know how
many requests the deployment sustains within the latency SLO. A load sweep measures that
(``capacity.SweepResult.capacity``: the throughput of the highest level meeting the SLO, for the
deployment *as swept*, i.e. with the instances it had). Then:

* cost per request at capacity = $/hour per instance × instances swept ÷ (3,600 × sustained throughput);
* capacity per instance = sustained throughput ÷ instances swept;
* instances a traffic profile needs = ceil(peak requests/s ÷ capacity per instance), at least one;
* monthly cost = instances needed × $/hour × hours a day ÷ 24 × 730 hours a month (``cost.HOURS_PER_MONTH``).

Without a sweep there is no capacity, and every money figure that would need one is ``None``
with the note ``NOT_MEASURED`` ("capacity not measured") — never NaN, never an assumed single
instance. The REPORT engineer's ``cost`` module owns token prices and the break-even; this module
takes plain Decimals (an hourly price, a throughput) so either side can change without the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

from llama_eval.catalog.prices import THOUSAND, PriceBook
from llama_eval.errors import PriceTableError
from llama_eval.load.slo import SweepResult

from .projection import HOURS_PER_MONTH

NOT_MEASURED = "capacity not measured"
SECONDS_PER_HOUR = Decimal(3600)


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass(frozen=True)
class MeasuredCapacity:
    """Sustained requests/s at the SLO of a deployment as it was swept, and how many instances it had then."""

    throughput_rps: Decimal
    instances: int = 1
    source: str = ""  # the sweep directory
    slo: str = ""
    lower_bound: bool = False  # every swept level met the SLO: the true capacity is at least this
    simulated: bool = False  # measured against the emulator

    def __post_init__(self) -> None:
        if self.throughput_rps <= 0:
            raise ValueError(f"a capacity must be > 0 requests/s, got {self.throughput_rps}")
        if self.instances < 1:
            raise ValueError(f"instances must be >= 1, got {self.instances}")

    @property
    def per_instance_rps(self) -> Decimal:
        return self.throughput_rps / self.instances

    @classmethod
    def from_sweep(cls, sweep: SweepResult, instances: int = 1) -> MeasuredCapacity | None:
        """The sweep's capacity (None when it has none: no SLO, or the lowest level missed it)."""
        rps = sweep.capacity.throughput_rps
        if rps is None or rps <= 0:
            return None
        return cls(_dec(rps), instances, str(sweep.path), str(sweep.slo or ""), sweep.capacity.lower_bound, sweep.simulated)


def cost_per_request_at_capacity(usd_per_hour: Decimal | float | str, throughput_rps: Decimal | float | str, instances: int = 1) -> Decimal:
    """$/hour per instance × instances ÷ (3,600 × sustained requests/s of those instances at the SLO)."""
    rps = _dec(throughput_rps)
    if rps <= 0:
        raise ValueError(f"throughput must be > 0 requests/s, got {rps}")
    return _dec(usd_per_hour) * instances / (SECONDS_PER_HOUR * rps)


def instances_needed(peak_rps: Decimal | float | str, capacity_per_instance_rps: Decimal | float | str) -> int:
    """ceil(peak requests/s ÷ capacity per instance); at least one instance."""
    peak, capacity = _dec(peak_rps), _dec(capacity_per_instance_rps)
    if capacity <= 0:
        raise ValueError(f"capacity per instance must be > 0 requests/s, got {capacity}")
    if peak < 0:
        raise ValueError(f"peak requests/s must be >= 0, got {peak}")
    return max(1, int((peak / capacity).to_integral_value(rounding=ROUND_CEILING)))


def sizing_load(peak_rps: Decimal, requests_per_day: Decimal | None, hours_per_day: Decimal) -> Decimal:
    """The requests/s the machines must hold: the peak, or the day's volume spread over the hours they run if that is more."""
    if requests_per_day is None or hours_per_day <= 0:
        return peak_rps
    return max(peak_rps, requests_per_day / (hours_per_day * 3600))


@dataclass(frozen=True)
class FixedCapacityCost:
    """What a fixed-price option costs for a traffic profile, from its measured capacity (or why it cannot say)."""

    label: str
    kind: str  # managed | self-hosted
    usd_per_hour: Decimal  # one instance
    capacity: MeasuredCapacity | None
    peak_rps: Decimal | None
    requests_per_day: Decimal | None
    hours_per_day: Decimal = Decimal(24)
    instances: int | None = None
    per_request_at_capacity_usd: Decimal | None = None
    monthly_usd: Decimal | None = None
    per_request_at_traffic_usd: Decimal | None = None  # monthly ÷ the month's requests: what each request really costs
    note: str = ""

    @property
    def per_1k_requests_at_capacity_usd(self) -> Decimal | None:
        return self.per_request_at_capacity_usd * THOUSAND if self.per_request_at_capacity_usd is not None else None

    @property
    def measured(self) -> bool:
        return self.capacity is not None


def fixed_capacity_cost(
    label: str,
    kind: str,
    usd_per_hour: Decimal | float | str,
    capacity: MeasuredCapacity | None,
    *,
    peak_rps: Decimal | float | str | None = None,
    requests_per_day: Decimal | float | str | None = None,
    hours_per_day: Decimal | float | str = 24,
) -> FixedCapacityCost:
    """The cost of serving a profile on fixed capacity. ``usd_per_hour`` is one instance's price."""
    hourly, hours = _dec(usd_per_hour), _dec(hours_per_day)
    peak = _dec(peak_rps) if peak_rps is not None else None
    per_day = _dec(requests_per_day) if requests_per_day is not None else None
    base = {"label": label, "kind": kind, "usd_per_hour": hourly, "capacity": capacity, "peak_rps": peak, "requests_per_day": per_day, "hours_per_day": hours}
    if capacity is None:
        return FixedCapacityCost(**base, note=f"{NOT_MEASURED}: run `llama-eval sweep` on this deployment with an --slo")
    at_capacity = cost_per_request_at_capacity(hourly, capacity.throughput_rps, capacity.instances)
    notes = []
    if capacity.lower_bound:
        notes.append("every swept level met the SLO: capacity is at least the highest level, so costs here are upper bounds")
    if capacity.simulated:
        notes.append("capacity measured on the emulator, not the service")
    if peak is None:
        return FixedCapacityCost(**base, per_request_at_capacity_usd=at_capacity, note="; ".join(notes + ["no peak requests/s given: instances not sized"]))
    load = sizing_load(peak, per_day, hours)
    if load > peak:
        notes.append(f"the daily volume averages {load:.2f} requests/s over {hours:g} h, above the peak given; sized for the average")
    instances = instances_needed(load, capacity.per_instance_rps)
    monthly = instances * hourly * hours / 24 * HOURS_PER_MONTH
    per_request = None
    if per_day:
        per_request = monthly / (per_day * HOURS_PER_MONTH / 24)
    return FixedCapacityCost(**base, instances=instances, per_request_at_capacity_usd=at_capacity, monthly_usd=monthly,
                             per_request_at_traffic_usd=per_request, note="; ".join(notes))  # fmt: skip


def hourly_price(compute: Mapping[str, Any] | Any | None, prices: PriceBook) -> Decimal | None:
    """One instance's price an hour (``cost.hourly_usd`` of one instance); None when the compute names no price we know."""
    from .projection import hourly_usd

    if not compute:
        return None
    try:
        return hourly_usd(prices, compute, one_instance=True)
    except PriceTableError:  # an unknown SKU, or neither a SKU nor usd_per_hour: "no price", said where it is shown
        return None


@dataclass(frozen=True)
class DeploymentCost:
    """What 1,000 requests cost on one deployment of a run, and on what basis."""

    deployment: str
    model: str | None
    kind: str
    usd_per_1k_requests: Decimal | None
    basis: str
    capacity_rps: Decimal | None = None
    instances: int | None = None
    monthly_usd: Decimal | None = None
    note: str = ""


def deployment_costs(run_dir: str | Path, sweeps: Iterable[str | Path] = (), *, slo: str | None = None, peak_rps: float | None = None,
                     requests_per_day: float | None = None, prices: PriceBook | None = None, catalog: Any = None) -> list[DeploymentCost]:  # fmt: skip
    """Cost per 1,000 requests of every deployment of a run, every kind side by side.

    Serverless: the run's mean tokens in and out × the token price. Managed compute / self-hosted:
    $/hour ÷ the throughput its sweep sustained at the SLO (``sweeps``: sweep directories, or a
    directory of them), and, with ``peak_rps``, the instances and the month; without a sweep,
    ``NOT_MEASURED``. For the cost notebook: ``pd.DataFrame(map(asdict, deployment_costs(...)))``.
    """
    from llama_eval.catalog.models import load_catalog
    from llama_eval.catalog.prices import load_prices
    from llama_eval.load.slo import read_sweeps
    from llama_eval.rundir.store import read_manifest

    from .projection import TrafficProfile, serverless_cost_per_request

    catalog = catalog or load_catalog()
    prices = prices or load_prices(catalog=catalog)
    swept = read_sweeps(sweeps, slo)
    records = (read_manifest(run_dir) or {}).get("fingerprint", {}).get("deployments") or []
    out = []
    for r in records:
        name, model, kind = r["name"], r.get("model"), r.get("kind", "serverless")
        if kind == "serverless":
            price = prices.token_price(model, "serverless") if model else None
            if price is None or not price.known:
                out.append(DeploymentCost(name, model, kind, None, "no price", note=price.note if price else "no price row"))
                continue
            try:
                profile = TrafficProfile.from_run(run_dir, requests_per_day or 1, deployment=name)
            except ValueError as exc:
                out.append(DeploymentCost(name, model, kind, None, "no answered requests to take token means from", note=str(exc)))
                continue
            per_request = serverless_cost_per_request(price, profile)
            monthly = per_request * _dec(requests_per_day) * HOURS_PER_MONTH / 24 if requests_per_day else None
            basis = f"tokens: {profile.input_tokens:.0f} in, {profile.output_tokens:.0f} out a request x ${price.input_per_1k}/${price.output_per_1k} per 1k"
            out.append(DeploymentCost(name, model, kind, per_request * THOUSAND, basis, monthly_usd=monthly))
            continue
        compute = r.get("compute") or {}
        note = ""
        if not compute and model in catalog and (offer := catalog.get(model).offer("managed")) is not None and offer.recommended_sku:
            compute, note = {"sku": offer.recommended_sku, "instances": 1}, f"VM: the catalog's recommended {offer.recommended_sku}"
        hourly = hourly_price(compute, prices)
        if hourly is None:
            out.append(DeploymentCost(name, model, kind, None, "no price", note="no VM SKU or usd_per_hour for its compute"))
            continue
        sweep = swept.get(name)
        capacity = MeasuredCapacity.from_sweep(sweep, int(compute.get("instances") or 1)) if sweep else None
        cost = fixed_capacity_cost(name, kind, hourly, capacity, peak_rps=peak_rps, requests_per_day=requests_per_day,
                                   hours_per_day=compute.get("hours_per_day") or 24)  # fmt: skip
        notes = "; ".join(n for n in (note, cost.note) if n)
        if capacity is None:
            why = sweep.capacity.reason if sweep else "no sweep of it"
            out.append(DeploymentCost(name, model, kind, None, NOT_MEASURED, note="; ".join(n for n in (note, why) if n)))
            continue
        basis = f"${hourly}/h per instance / {capacity.per_instance_rps:.4g} req/s at {capacity.slo}"
        out.append(DeploymentCost(name, model, kind, cost.per_1k_requests_at_capacity_usd, basis, capacity.per_instance_rps, cost.instances,
                                  cost.monthly_usd, notes))  # fmt: skip
    return out


def capacity_cost_frame(options: list[FixedCapacityCost]):
    """A table for a notebook: one row per option, money as Decimal, ``note`` saying what is missing."""
    import pandas as pd

    rows = []
    for o in options:
        rows.append(
            {
                "option": o.label,
                "kind": o.kind,
                "usd_per_hour": o.usd_per_hour,
                "capacity_rps": o.capacity.throughput_rps if o.capacity else None,
                "capacity_per_instance_rps": o.capacity.per_instance_rps if o.capacity else None,
                "usd_per_1k_requests_at_capacity": o.per_1k_requests_at_capacity_usd,
                "instances": o.instances,
                "monthly_usd": o.monthly_usd,
                "usd_per_request_at_traffic": o.per_request_at_traffic_usd,
                "note": o.note or ("" if o.measured else NOT_MEASURED),
            }
        )
    return pd.DataFrame(rows)


def describe(option: FixedCapacityCost) -> str:
    """One line: ``$0.000084 a request at capacity (12.1 req/s at ttft_p90<=1); 4 instances for 40 req/s: $10,725.87 a month``."""
    if option.capacity is None:
        return f"{option.label}: {NOT_MEASURED}"
    text = f"{option.label}: ${option.per_request_at_capacity_usd:.6f} a request at capacity ({option.capacity.throughput_rps:.4g} req/s"
    text += f" at {option.capacity.slo})" if option.capacity.slo else ")"
    if option.instances is not None and option.monthly_usd is not None:
        text += f"; {option.instances} instance{'s' if option.instances != 1 else ''} for {option.peak_rps:g} req/s: ${option.monthly_usd:,.2f} a month"
    return text


__all__ = [
    "NOT_MEASURED",
    "FixedCapacityCost",
    "MeasuredCapacity",
    "DeploymentCost",
    "capacity_cost_frame",
    "deployment_costs",
    "hourly_price",
    "cost_per_request_at_capacity",
    "describe",
    "fixed_capacity_cost",
    "instances_needed",
    "sizing_load",
]
