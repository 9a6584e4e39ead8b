"""The arithmetic of capacity billed by the hour (managed compute, self-hosted GPUs, PTUs): the leaf of ``cost/``.

A VM bills by the hour, busy or idle; an hour becomes a cost per request only once you know how
many requests the deployment sustains within the latency SLO. A load sweep measures that
(``SweepResult.capacity``: the throughput of the highest level meeting the SLO, for the deployment
*as swept*, i.e. with the instances it had). Then:

* cost per request at capacity = $/hour per instance × instances swept ÷ (3,600 × sustained throughput);
* capacity per instance = sustained throughput ÷ instances swept;
* instances a load needs = ceil(requests/s to hold ÷ capacity per instance), at least one;
* monthly cost = $/hour per instance × instances × hours a day × 730 hours a month ÷ 24 (``machines_monthly_usd``).

Provisioned throughput is sized without a sweep, from Microsoft's throughput per PTU and the token
mix (``PtuPlan``; ``cost.provisioned`` builds its option). A month is 730 hours, Azure's pricing convention. Without a sweep there is no capacity, and every
money figure that would need one is ``None`` with the note ``NOT_MEASURED`` — never NaN, never an
assumed single instance. Plain Decimals in, Decimals out: the hourly price itself is
``Compute.hourly_usd`` (``llama_eval.deployments``), and the option records are in ``cost.option``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from llama_eval.load.slo import SweepResult

NOT_MEASURED = "capacity not measured"
HOURS_PER_MONTH = Decimal(730)
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
SECONDS_PER_HOUR = Decimal(3600)
SECONDS_PER_DAY = Decimal(86_400)


def dec(value: Any) -> Decimal:
    """A Decimal of a number given as Decimal, int, float or text (floats by their shortest repr, so 0.1 is 0.1)."""
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
        return cls(dec(rps), instances, str(sweep.path), str(sweep.slo or ""), sweep.capacity.lower_bound, sweep.simulated)


@dataclass(frozen=True)
class PtuPlan:
    """How a provisioned (PTU) deployment is sized and priced: Microsoft's throughput terms, a token mix, the prices.

    One PTU serves ``input_tpm_per_ptu`` input tokens a minute; an output token counts as
    ``output_token_weight`` input tokens. A request of the mix therefore weighs
    ``input_tokens + output_token_weight × output_tokens`` normalized tokens, and a load of L requests/s
    needs L × that × 60 ÷ ``input_tpm_per_ptu`` PTUs, rounded up to ``min_ptu`` and then whole steps of
    ``step_ptu`` (``ptus_for``). Prices per PTU: ``usd_per_ptu_hour`` (pay as you go; the option's
    hourly price), and a month of one PTU on a 1-month and on a 1-year reservation (None: not known).
    ``estimated``: the price rests on an assumption (reports print "est.").
    """

    min_ptu: int
    step_ptu: int
    input_tpm_per_ptu: Decimal
    output_token_weight: Decimal
    input_tokens: Decimal  # mean per request
    output_tokens: Decimal
    usd_per_ptu_month_1m: Decimal | None = None
    usd_per_ptu_month_1y: Decimal | None = None  # the 1-year reservation's price ÷ 12
    estimated: bool = False
    deployment_type: str = ""
    latency_target: str = ""

    def __post_init__(self) -> None:
        if self.min_ptu < 1 or self.step_ptu < 1 or self.input_tpm_per_ptu <= 0:
            raise ValueError(f"PTU terms must be positive: minimum {self.min_ptu}, step {self.step_ptu}, {self.input_tpm_per_ptu} input tokens/min per PTU")
        if self.normalized_tokens_per_request <= 0:
            raise ValueError("a request of this token mix weighs no tokens: PTUs cannot be sized from it")

    @property
    def normalized_tokens_per_request(self) -> Decimal:
        """Input tokens + output weight × output tokens: what one request uses of a PTU's throughput."""
        return self.input_tokens + self.output_token_weight * self.output_tokens

    @property
    def rps_per_ptu(self) -> Decimal:
        """Requests/s one PTU serves at 100% utilization with this token mix."""
        return self.input_tpm_per_ptu / 60 / self.normalized_tokens_per_request

    def exact_ptus(self, load_rps: Decimal | float | str) -> Decimal:
        """PTUs the load uses before rounding: load × normalized tokens a request × 60 ÷ input tokens/min per PTU."""
        return dec(load_rps) * self.normalized_tokens_per_request * 60 / self.input_tpm_per_ptu

    def ptus_for(self, load_rps: Decimal | float | str) -> int:
        """PTUs to deploy for ``load_rps``: the exact need rounded up to the minimum, then to whole steps above it."""
        need = self.exact_ptus(load_rps)
        if need <= self.min_ptu:
            return self.min_ptu
        steps = ((need - self.min_ptu) / self.step_ptu).to_integral_value(rounding=ROUND_CEILING)
        return self.min_ptu + int(steps) * self.step_ptu

    def monthly_by_term(self, ptus: int, usd_per_ptu_hour: Decimal | None) -> dict[str, Decimal | None]:
        """USD a month for ``ptus`` PTUs: "hourly" (730 h of pay as you go), "1-month" and "1-year" reservations."""
        return {
            "hourly": usd_per_ptu_hour * ptus * HOURS_PER_MONTH if usd_per_ptu_hour is not None else None,
            "1-month": self.usd_per_ptu_month_1m * ptus if self.usd_per_ptu_month_1m is not None else None,
            "1-year": self.usd_per_ptu_month_1y * ptus if self.usd_per_ptu_month_1y is not None else None,
        }


def cost_per_request_at_capacity(usd_per_hour: Decimal | float | str, throughput_rps: Decimal | float | str, instances: int = 1) -> Decimal:
    """$/hour per instance × instances ÷ (3,600 × sustained requests/s of those instances at the SLO)."""
    rps = dec(throughput_rps)
    if rps <= 0:
        raise ValueError(f"throughput must be > 0 requests/s, got {rps}")
    return dec(usd_per_hour) * instances / (SECONDS_PER_HOUR * rps)


def instances_needed(peak_rps: Decimal | float | str, capacity_per_instance_rps: Decimal | float | str) -> int:
    """ceil(peak requests/s ÷ capacity per instance); at least one instance."""
    peak, capacity = dec(peak_rps), dec(capacity_per_instance_rps)
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


def machines_monthly_usd(instance_hourly_usd: Decimal, instances: int, hours_per_day: Decimal) -> Decimal:
    """What ``instances`` machines cost a month running ``hours_per_day``: the one monthly formula of fixed capacity.

    ×730 then ÷24 last, so that a machine running 24 h a day costs exactly its hourly price × 730.
    """
    return instance_hourly_usd * instances * hours_per_day * HOURS_PER_MONTH / 24


__all__ = [
    "DAYS_PER_MONTH",
    "HOURS_PER_MONTH",
    "NOT_MEASURED",
    "SECONDS_PER_DAY",
    "SECONDS_PER_HOUR",
    "MeasuredCapacity",
    "PtuPlan",
    "cost_per_request_at_capacity",
    "dec",
    "instances_needed",
    "machines_monthly_usd",
    "sizing_load",
]
