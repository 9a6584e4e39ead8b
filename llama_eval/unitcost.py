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

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from .capacity import SweepResult
from .cost import HOURS_PER_MONTH, THOUSAND

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
    average = per_day / (hours * 3600) if per_day is not None and hours > 0 else None
    load = max(peak, average) if average is not None else peak
    if average is not None and average > peak:
        notes.append(f"the daily volume averages {average:.2f} requests/s over {hours:g} h, above the peak given; sized for the average")
    instances = instances_needed(load, capacity.per_instance_rps)
    monthly = instances * hourly * hours / 24 * HOURS_PER_MONTH
    per_request = None
    if per_day:
        per_request = monthly / (per_day * HOURS_PER_MONTH / 24)
    return FixedCapacityCost(**base, instances=instances, per_request_at_capacity_usd=at_capacity, monthly_usd=monthly,
                             per_request_at_traffic_usd=per_request, note="; ".join(notes))  # fmt: skip


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
    "capacity_cost_frame",
    "cost_per_request_at_capacity",
    "describe",
    "fixed_capacity_cost",
    "instances_needed",
]
