"""Provisioned throughput (PTU) as a way to serve a model: how many PTUs a load needs, and what they cost a month.

Microsoft sells Llama-3.3-70B-Instruct as *Global Provisioned* throughput (``data/models.yaml``,
provisioned offer, each term sourced): one PTU serves 8,450 input tokens a minute, one output token
counts as four input tokens, and a deployment has at least 100 PTU in steps of 100. So, from a
run's own token mix:

    PTUs at peak = ceil(peak req/s × (mean input tokens + 4 × mean output tokens) × 60 ÷ 8,450 ÷ step) × step,
                   at least the minimum

e.g. 10 req/s of 1,000 tokens in and 200 out: (1,000 + 800) × 10 × 60 ÷ 8,450 = 127.8 → 200 PTU.

PTUs are billed per PTU-hour, busy or idle, and cannot be paused (24 h a day); a 1-month or 1-year
reservation lowers the price. Monthly cost = PTUs × $/PTU-hour × 730 (the headline, what the
projection and ``recommend`` compare), and PTUs × the reservation's price per PTU-month
(``CostOption.monthly_by_term``). The price comes from ``data/ptu_prices.csv``; no Llama PTU price
was found, so the bundled row is an assumption (Azure OpenAI's Global PTU price) and every figure
built on it says "est.".

The PTU count is Microsoft's throughput arithmetic, not a measured capacity: Microsoft's latency
statement for it ("99% > 50 tokens/s") is not your SLO, so the decision still wants a sweep of a
provisioned deployment before choosing one.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_CEILING, Decimal

from llama_eval.catalog.models import ProvisionedTerms
from llama_eval.catalog.prices import PtuPrice
from llama_eval.records import PROVISIONED

from .fixed import PtuPlan, dec
from .option import CostOption

TWELVE = Decimal(12)


def ptu_plan(terms: ProvisionedTerms, input_tokens: Decimal | float | str, output_tokens: Decimal | float | str, price: PtuPrice | None = None) -> PtuPlan:
    """The ``PtuPlan`` of a model's provisioned offer for a token mix (mean tokens in and out of a request), with its reservation prices."""
    year = price.usd_per_ptu_year_1y if price is not None else None
    return PtuPlan(
        min_ptu=terms.min_ptu,
        step_ptu=terms.step_ptu,
        input_tpm_per_ptu=Decimal(terms.input_tpm_per_ptu),
        output_token_weight=Decimal(terms.output_token_weight),
        input_tokens=dec(input_tokens),
        output_tokens=dec(output_tokens),
        usd_per_ptu_month_1m=price.usd_per_ptu_month_1m if price is not None else None,
        usd_per_ptu_month_1y=year / TWELVE if year is not None else None,
        estimated=bool(price is not None and price.assumption),
        deployment_type=terms.deployment_type,
        latency_target=terms.latency_target,
    )


def ptus_needed(peak_rps: Decimal | float | str, input_tokens: Decimal | float | str, output_tokens: Decimal | float | str, terms: ProvisionedTerms) -> int:
    """PTUs to deploy for ``peak_rps`` requests/s of this token mix: the formula of the module docstring."""
    return ptu_plan(terms, input_tokens, output_tokens).ptus_for(peak_rps)


def provisioned_option(
    model: str,
    terms: ProvisionedTerms,
    price: PtuPrice | None,
    input_tokens: Decimal | float | str,
    output_tokens: Decimal | float | str,
    *,
    peak_rps: Decimal | float | str | None = None,
    requests_per_day: Decimal | float | str | None = None,
    label: str | None = None,
    deployments: tuple[str, ...] = (),
    retired: str = "",
) -> CostOption:
    """The ``CostOption`` (kind "provisioned") of serving this token mix on the model's PTU offer.

    Sized for ``peak_rps`` at ``requests_per_day`` (no peak: the day's average), as every fixed
    option is. Without a price row, or with an empty hourly price, it is listed unpriced ("no price").
    ``note`` states the prices used (and "est." when assumed), the reservation figures and Microsoft's
    latency statement.
    """
    plan = ptu_plan(terms, input_tokens, output_tokens, price)
    hourly = price.usd_per_ptu_hour if price is not None else None
    option = CostOption(
        label or f"{model} · provisioned ({terms.deployment_type}, PTU)",
        model,
        PROVISIONED,
        instance_hourly_usd=hourly,
        configured_instances=terms.min_ptu,
        peak_rps=dec(peak_rps) if peak_rps is not None else None,
        requests_per_day=dec(requests_per_day) if requests_per_day is not None else None,
        deployments=tuple(deployments),
        retired=retired,
        ptu=plan,
    )
    return replace(option, note=describe_terms(option, price))


def describe_terms(option: CostOption, price: PtuPrice | None) -> str:
    """The note of a PTU option: its price (est. when assumed), the month on each term, Microsoft's latency statement."""
    plan = option.ptu
    assert plan is not None
    if price is None or price.usd_per_ptu_hour is None:
        return f"no price (no PTU price row for {option.model} in ptu_prices.csv); billed per PTU-hour"
    est = " (est.)" if price.assumption else ""
    parts = [f"billed per PTU-hour, busy or idle: {price.label}"]
    ptus = option.ptus
    if ptus is not None:
        months = option.monthly_by_term()
        terms = [f"{name} reservation ${value:,.2f}{est}" for name, value in months.items() if name != "hourly" and value is not None]
        if terms:
            parts.append(f"{ptus} PTU a month: " + ", ".join(terms))
    if price.assumption:
        parts.append(f"price assumed: {price.basis}")
    parts.append(f"Microsoft's latency target for PTU: {plan.latency_target} (not your SLO: sweep a provisioned deployment to check it)")
    return "; ".join(parts)


def break_even_ptus(first: int, step: int, full: Decimal, c: Decimal) -> int:
    """The largest size on the grid first, first+step, ... at which per token still wins somewhere (at least ``first``).

    ``full``: requests/day one unit (a PTU, a machine) carries at the sizing point's peak shape;
    ``c``: requests/day at which per token costs what one unit costs a month (``c < full``). With n units
    the fixed cost holds on ((n - step) · full, n · full]; per token wins there below n · c, i.e. when
    (n - step) · full < n · c, i.e. n < step · full ÷ (full - c). Machines are the case first = step = 1.
    """
    bound = step * full / (full - c)
    if bound <= first:
        return first
    steps = int(((bound - first) / step).to_integral_value(rounding=ROUND_CEILING)) - 1
    return first + max(0, steps) * step


__all__ = ["break_even_ptus", "describe_terms", "provisioned_option", "ptu_plan", "ptus_needed"]
