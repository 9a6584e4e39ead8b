"""``CostOption``: the one record of what a way of serving a model costs, per token or by the hour.

The projection (``cost.projection``), the per-deployment costs of a run (``deployment_costs``) and the
recommendation (``llama_eval.decide``) all hold their options as ``CostOption``, and every money
figure is worked out by its methods, so the same option costs the same everywhere:

* per token (serverless): ``per_request_usd`` × requests;
* by the hour (managed, self-hosted): ``instance_hourly_usd`` (``Compute.hourly_usd`` of one
  machine) × instances × hours a day × 730 ÷ 24 (``fixed.machines_monthly_usd``). With a measured
  ``capacity`` the instances are those the load needs (``instances_at``); without one the configured
  machines are costed, a floor (``measured`` is False).
* provisioned throughput (``ptu`` set, built by ``cost.provisioned``): an "instance" is one PTU,
  ``instance_hourly_usd`` the price of a PTU-hour, and the PTUs a load needs come from Microsoft's
  throughput per PTU and the token mix (``fixed.PtuPlan.ptus_for``: the minimum, then whole steps),
  not from a sweep. ``ptus`` is the count at the sizing point.

The load that sizes the machines is ``peak_rps`` at ``requests_per_day`` (the sizing point), scaled
linearly to other volumes; no peak: the day's average. ``fixed_capacity_cost`` builds a fixed option
from a plain hourly price and says in ``note`` what is missing or assumed; ``serverless_option``
builds a per-token one from a token price and the model's own token means (``cost.traffic``).

**One number per quantity.** ``CostOption.cost_at`` is the one place an option's monthly cost and
its cost per 1,000 requests at a volume are worked out and rounded (to the cent; to a hundredth of
a cent): the projection table, the decision (its table, the brief, the summary sentence),
``llama-eval cost --json``, ``llama-eval recommend --json`` and the Python API all read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from llama_eval.catalog.prices import THOUSAND, PriceBook, TokenPrice
from llama_eval.deployments.model import Compute
from llama_eval.errors import PriceTableError
from llama_eval.records import FIXED_KINDS, SERVERLESS

from .fixed import (
    HOURS_PER_MONTH,
    NOT_MEASURED,
    SECONDS_PER_DAY,
    MeasuredCapacity,
    PtuPlan,
    cost_per_request_at_capacity,
    dec,
    instances_needed,
    machines_monthly_usd,
    sizing_load,
)
from .traffic import TokenMeans

CENT = Decimal("0.01")  # a monthly cost is shown to the cent
PER_1K_PLACES = Decimal("0.0001")  # a cost per 1,000 requests to a hundredth of a cent

NO_COMPUTE = "compute needs a VM 'sku' from the price table or a 'usd_per_hour' to be priced"


def machine_price(compute: Compute | None, prices: PriceBook) -> tuple[Decimal | None, str]:
    """One machine's ``Compute.hourly_usd``, or None and why (no compute, or a SKU the price table lacks)."""
    if compute is None:
        return None, NO_COMPUTE
    try:
        return compute.hourly_usd(prices, instances=1), ""
    except PriceTableError as exc:
        return None, str(exc)


@dataclass(frozen=True)
class OptionCost:
    """What an option costs at one daily volume, as every surface shows it (``CostOption.cost_at``).

    ``monthly_usd`` to the cent and ``usd_per_1k_requests`` (the month's cost ÷ the month's requests
    × 1,000) to a hundredth of a cent; None when the option has no price. ``floor``: a fixed option
    without a measured capacity, costed at its configured machines, so the true cost is at least this.
    """

    requests_per_day: Decimal
    monthly_usd: Decimal | None
    usd_per_1k_requests: Decimal | None
    instances: int | None = None  # machines (PTUs) this volume needs; None per token or when not measured
    floor: bool = False

    def to_json(self) -> dict[str, str | int | bool | None]:
        """Money as strings of the rounded Decimal (no float on the way), for ``--json`` outputs."""
        return {"requests_per_day": str(self.requests_per_day), "monthly_usd": _text(self.monthly_usd),
                "usd_per_1k_requests": _text(self.usd_per_1k_requests), "instances": self.instances, "floor": self.floor}  # fmt: skip


def _text(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


@dataclass(frozen=True)
class CostOption:
    """One way to serve a model and what it costs: per token, or machines by the hour sized by a measured capacity."""

    label: str
    model: str | None
    kind: str
    per_request_usd: Decimal | None = None  # per token: the same at every volume
    instance_hourly_usd: Decimal | None = None  # by the hour: one machine while it runs (None: no price)
    hours_per_day: Decimal = Decimal(24)
    configured_instances: int = 1  # costed when the capacity is not measured: a floor
    capacity: MeasuredCapacity | None = None  # a sweep's (for per-token options: what the quota let through)
    peak_rps: Decimal | None = None  # the sizing point: this peak at requests_per_day (None: the day's average)
    requests_per_day: Decimal | None = None
    basis: str = ""  # how the figure per 1,000 requests is worked out, or why there is none
    note: str = ""
    deployments: tuple[str, ...] = ()  # the run's deployments this option is
    retired: str = ""  # "retired 2026-06-13; use X" when the offer is no longer available
    ptu: PtuPlan | None = None  # provisioned throughput: instances are PTUs, sized by Microsoft's throughput per PTU

    # ----------------------------------------------------------------- what it is
    @property
    def fixed(self) -> bool:
        return self.kind in FIXED_KINDS

    @property
    def priced(self) -> bool:
        return self.per_request_usd is not None or self.instance_hourly_usd is not None

    @property
    def measured(self) -> bool:
        """A fixed option whose instances come from a measured capacity (always True for per-token options)."""
        if self.ptu is not None:  # sized from the PTU terms and the token mix: no sweep needed to count PTUs
            return True
        return not self.fixed or (self.capacity is not None and self.instance_hourly_usd is not None)

    @property
    def capacity_rps(self) -> Decimal | None:
        """Requests/s one instance sustains at the SLO (a per-token option: what the deployment sustained; PTU: one PTU at 100%)."""
        if self.ptu is not None:
            return self.ptu.rps_per_ptu
        return self.capacity.per_instance_rps if self.capacity is not None else None

    @property
    def capacity_source(self) -> str:
        """ "sweep x at ttft_p90<=1 (emulator)", or "" without a capacity; PTU: where its throughput per PTU comes from."""
        if self.ptu is not None:
            p = self.ptu
            return (f"PTUs from the token mix: {p.input_tokens:,.0f} in + {p.output_token_weight:g} x {p.output_tokens:,.0f} out = "
                    f"{p.normalized_tokens_per_request:,.0f} tokens a request, {p.input_tpm_per_ptu:,.0f} input tokens/min per PTU "
                    f"(Microsoft's sizing page), minimum {p.min_ptu}, steps of {p.step_ptu}")  # fmt: skip
        c = self.capacity
        if c is None or not self.fixed:
            return ""
        source = f"sweep {Path(c.source).name}" + (f" at {c.slo}" if c.slo else "") + (" (emulator)" if c.simulated else "")
        return source + ("; every swept level met the SLO, so the capacity is at least this" if c.lower_bound else "")

    # ----------------------------------------------------------------- machines
    def machines_monthly_usd(self, instances: int) -> Decimal | None:
        return machines_monthly_usd(self.instance_hourly_usd, instances, self.hours_per_day) if self.instance_hourly_usd is not None else None

    @property
    def instance_monthly_usd(self) -> Decimal | None:
        """One machine for a month at its hours a day."""
        return self.machines_monthly_usd(1) if self.fixed else None

    @property
    def fixed_monthly_usd(self) -> Decimal | None:
        """The configured machines for a month, busy or idle: the cost without a measured capacity, a floor."""
        return self.machines_monthly_usd(self.configured_instances) if self.fixed else None

    def load_at(self, requests_per_day: Decimal) -> Decimal:
        """The requests/s the machines must hold at this daily volume (the sizing point's peak, scaled)."""
        volume = dec(requests_per_day)
        if self.peak_rps is None:
            peak = volume / SECONDS_PER_DAY
        elif self.requests_per_day:
            peak = self.peak_rps * volume / self.requests_per_day
        else:
            peak = self.peak_rps
        return sizing_load(peak, volume, self.hours_per_day)

    @property
    def requests_per_instance_day(self) -> Decimal | None:
        """Requests a day one instance carries at the sizing point's peak shape (fixed, measured)."""
        if not self.fixed or not self.measured:
            return None
        per_instance = self.capacity_rps
        assert per_instance is not None
        return per_instance / self.load_at(Decimal(1))

    @property
    def per_request_at_capacity_usd(self) -> Decimal | None:
        """Fixed, measured: one machine's hour ÷ the requests it sustains in that hour at the SLO."""
        if not self.fixed or not self.measured:
            return None
        if self.ptu is not None:  # one PTU-hour ÷ the requests one PTU serves in that hour at 100% utilization
            return cost_per_request_at_capacity(self.instance_hourly_usd, self.ptu.rps_per_ptu) if self.instance_hourly_usd is not None else None
        assert self.instance_hourly_usd is not None
        assert self.capacity is not None
        return cost_per_request_at_capacity(self.instance_hourly_usd, self.capacity.throughput_rps, self.capacity.instances)

    @property
    def per_1k_requests_at_capacity_usd(self) -> Decimal | None:
        at = self.per_request_at_capacity_usd
        return at * THOUSAND if at is not None else None

    # ----------------------------------------------------------------- at any volume (projection, figure, break-even)
    def instances_at(self, requests_per_day: Decimal) -> int | None:
        """Instances this volume needs (its load ÷ the capacity of one, rounded up); None when not measured or per token.

        Provisioned: the PTUs (``PtuPlan.ptus_for``: the minimum, then whole steps)."""
        if not self.fixed or not self.measured:
            return None
        if self.ptu is not None:
            return self.ptu.ptus_for(self.load_at(requests_per_day))
        assert self.capacity is not None
        return instances_needed(self.load_at(requests_per_day), self.capacity.per_instance_rps)

    def monthly_at(self, requests_per_day: Decimal) -> Decimal | None:
        """USD a month at this volume; a fixed option without a measured capacity: its configured machines (a floor)."""
        if self.per_request_usd is not None:
            return self.per_request_usd * dec(requests_per_day) * HOURS_PER_MONTH / 24
        instances = self.instances_at(requests_per_day)
        if instances is not None:
            return self.machines_monthly_usd(instances)
        return self.fixed_monthly_usd

    def per_request_at(self, requests_per_day: Decimal) -> Decimal | None:
        if self.per_request_usd is not None:
            return self.per_request_usd
        monthly = self.monthly_at(requests_per_day)
        if monthly is None or not requests_per_day:
            return None
        return monthly / (dec(requests_per_day) * HOURS_PER_MONTH / 24)

    def cost_at(self, requests_per_day: Decimal | float | int | None = None) -> OptionCost:
        """USD a month and per 1,000 requests at this volume (default: the sizing point's), rounded as shown: the one place they are worked out.

        The projection's table, the decision and both commands call this, so an option has one monthly cost and one cost per 1,000
        requests everywhere. A fixed option without a measured capacity: its configured machines, a floor (``floor`` True).
        """
        volume = dec(requests_per_day) if requests_per_day is not None else self.requests_per_day
        if volume is None:
            raise ValueError(f"{self.label}: no daily volume to cost it at (give requests_per_day)")
        monthly = self.monthly_at(volume)
        per_request = self.per_request_at(volume)
        return OptionCost(
            volume,
            monthly.quantize(CENT, ROUND_HALF_UP) if monthly is not None else None,
            (per_request * THOUSAND).quantize(PER_1K_PLACES, ROUND_HALF_UP) if per_request is not None else None,
            self.instances_at(volume),
            self.fixed and not self.measured and monthly is not None,
        )

    # ----------------------------------------------------------------- at the sizing point (decide, deployment_costs)
    @property
    def instances(self) -> int | None:
        """Instances the sizing point needs; None per token, without a measured capacity, or with no peak given."""
        if not self.fixed or not self.measured:
            return None
        if self.requests_per_day is not None:
            return self.instances_at(self.requests_per_day)
        if self.peak_rps is None:
            return None
        if self.ptu is not None:
            return self.ptu.ptus_for(self.peak_rps)
        assert self.capacity is not None
        return instances_needed(self.peak_rps, self.capacity.per_instance_rps)

    @property
    def ptus(self) -> int | None:
        """Provisioned: the PTUs the sizing point needs (None for other kinds)."""
        return self.instances if self.ptu is not None else None

    def monthly_by_term(self) -> dict[str, Decimal | None]:
        """Provisioned: USD a month at the sizing point by the hour, on a 1-month and on a 1-year reservation ({} otherwise)."""
        ptus = self.ptus
        if self.ptu is None or ptus is None:
            return {}
        return self.ptu.monthly_by_term(ptus, self.instance_hourly_usd)

    @property
    def monthly_usd(self) -> Decimal | None:
        """USD a month at the sizing point: never a floor (None when the machines cannot be sized)."""
        if self.per_request_usd is not None:
            return self.monthly_at(self.requests_per_day) if self.requests_per_day is not None else None
        instances = self.instances
        return self.machines_monthly_usd(instances) if instances is not None else None

    @property
    def per_request_at_traffic_usd(self) -> Decimal | None:
        """The month's cost ÷ the month's requests at the sizing point: what each request really costs."""
        if self.per_request_usd is not None:
            return self.per_request_usd
        monthly = self.monthly_usd
        if monthly is None or not self.requests_per_day:
            return None
        return monthly / (self.requests_per_day * HOURS_PER_MONTH / 24)

    @property
    def usd_per_1k_requests(self) -> Decimal | None:
        """Per 1,000 requests: the token price per token, one machine at full capacity by the hour."""
        if self.per_request_usd is not None:
            return self.per_request_usd * THOUSAND
        return self.per_1k_requests_at_capacity_usd


def serverless_option(model: str, price: TokenPrice | None, means: TokenMeans | None, *, peak_rps: Decimal | float | str | None = None,
                      requests_per_day: Decimal | float | str | None = None, label: str | None = None, deployments: Sequence[str] = (),
                      retired: str = "") -> CostOption:  # fmt: skip
    """A model per token: its token means (``cost.traffic.option_token_means``) × its token price; ``note`` says what is missing.

    The projection, the decision and the per-deployment costs build their serverless options here, so one model's
    serverless cost per request is worked out once, from the same tokens.
    """
    option = CostOption(label or f"{model} · {SERVERLESS}", model, SERVERLESS, peak_rps=dec(peak_rps) if peak_rps is not None else None,
                        requests_per_day=dec(requests_per_day) if requests_per_day is not None else None, deployments=tuple(deployments),
                        retired=retired)  # fmt: skip
    if price is None or not price.known:
        return replace(option, basis="no price", note="no price" + (f" ({price.note})" if price is not None and price.note else ""))
    if means is None:
        return replace(option, basis="no answered requests to take token means from", note="no token means: nothing of this model answered")
    assert price.input_per_1k is not None and price.output_per_1k is not None
    per_request = means.input_tokens * price.input_per_1k / THOUSAND + means.output_tokens * price.output_per_1k / THOUSAND
    basis = f"tokens: {means.describe()} x ${price.input_per_1k}/${price.output_per_1k} per 1k in/out"
    return replace(option, per_request_usd=per_request, basis=basis)


def fixed_capacity_cost(
    label: str,
    kind: str,
    usd_per_hour: Decimal | float | str | None,
    capacity: MeasuredCapacity | None,
    *,
    peak_rps: Decimal | float | str | None = None,
    requests_per_day: Decimal | float | str | None = None,
    hours_per_day: Decimal | float | str = 24,
    model: str | None = None,
    instances: int = 1,
    deployments: Sequence[str] = (),
) -> CostOption:
    """A fixed option sized for ``peak_rps`` (and ``requests_per_day``) by its measured capacity; ``note`` says what is missing.

    ``usd_per_hour`` is one instance's price (``Compute.hourly_usd(prices, instances=1)``); ``instances``
    the configured machines (the floor without a capacity). No peak: the machines are not sized.
    """
    hours = dec(hours_per_day)
    peak = dec(peak_rps) if peak_rps is not None else None
    per_day = dec(requests_per_day) if requests_per_day is not None and peak is not None else None  # no peak: not sized
    option = CostOption(label, model, kind, instance_hourly_usd=dec(usd_per_hour) if usd_per_hour is not None else None, hours_per_day=hours,
                        configured_instances=instances, capacity=capacity, peak_rps=peak, requests_per_day=per_day, deployments=tuple(deployments))  # fmt: skip
    if capacity is None:
        return replace(option, note=f"{NOT_MEASURED}: run `llama-eval sweep` on this deployment with an --slo")
    notes = []
    if capacity.lower_bound:
        notes.append("every swept level met the SLO: capacity is at least the highest level, so costs here are upper bounds")
    if capacity.simulated:
        notes.append("capacity measured on the emulator, not the service")
    if peak is None:
        notes.append("no peak requests/s given: instances not sized")
    elif per_day is not None and (load := sizing_load(peak, per_day, hours)) > peak:
        notes.append(f"the daily volume averages {load:.2f} requests/s over {hours:g} h, above the peak given; sized for the average")
    return replace(option, note="; ".join(notes))


def describe(option: CostOption) -> str:
    """One line: ``$0.000084 a request at capacity (12.1 req/s at ttft_p90<=1); 4 instances for 40 req/s: $10,725.87 a month``."""
    if option.capacity is None or option.per_request_at_capacity_usd is None:
        return f"{option.label}: {NOT_MEASURED}"
    text = f"{option.label}: ${option.per_request_at_capacity_usd:.6f} a request at capacity ({option.capacity.throughput_rps:.4g} req/s"
    text += f" at {option.capacity.slo})" if option.capacity.slo else ")"
    instances, monthly = option.instances, option.monthly_usd
    if instances is not None and monthly is not None:
        text += f"; {instances} instance{'s' if instances != 1 else ''} for {option.peak_rps:g} req/s: ${monthly:,.2f} a month"
    return text


def capacity_cost_frame(options: Sequence[CostOption]):
    """A table for a notebook: one row per fixed option, money as Decimal, ``note`` saying what is missing."""
    import pandas as pd  # imported on use: start-up time

    rows = []
    for o in options:
        rows.append(
            {
                "option": o.label,
                "kind": o.kind,
                "usd_per_hour": o.instance_hourly_usd,
                "capacity_rps": o.capacity.throughput_rps if o.capacity else None,
                "capacity_per_instance_rps": o.capacity_rps,
                "usd_per_1k_requests_at_capacity": o.per_1k_requests_at_capacity_usd,
                "instances": o.instances,
                "monthly_usd": o.monthly_usd,
                "usd_per_request_at_traffic": o.per_request_at_traffic_usd,
                "note": o.note or ("" if o.measured else NOT_MEASURED),
            }
        )
    return pd.DataFrame(rows)


def deployment_cost_frame(options: Sequence[CostOption]):
    """Cost per 1,000 requests of a run's deployments (``deployment_costs``), one row each; the cost notebook's table."""
    import pandas as pd  # imported on use: start-up time

    columns = ["deployment", "model", "kind", "usd_per_1k_requests", "basis", "capacity_rps", "instances", "monthly_usd", "note"]
    rows = [
        [o.label, o.model, o.kind, o.usd_per_1k_requests, o.basis, o.capacity_rps if o.fixed and o.measured else None, o.instances, o.monthly_usd, o.note]
        for o in options
    ]
    return pd.DataFrame(rows, columns=columns)


__all__ = [
    "CENT",
    "NO_COMPUTE",
    "PER_1K_PLACES",
    "CostOption",
    "OptionCost",
    "capacity_cost_frame",
    "deployment_cost_frame",
    "describe",
    "fixed_capacity_cost",
    "machine_price",
    "serverless_option",
]
