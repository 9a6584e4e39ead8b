"""What an evaluation costs, and what production traffic would cost, in exact Decimal dollars.

* per request: serverless token prices x usage (``RequestPrice``);
* before a run: prompt tokens counted with the Llama tokenizer, output at ``max_tokens`` (worst case)
  and, when a previous run of the same prompts exists, at what each model really wrote (expected);
  plus how long the quota makes the run take (``estimate_run``);
* after a run: actual cost per deployment, per tag and per 1,000 requests, and the estimate's error
  (``run_costs``);
* for production: monthly cost of a traffic profile on each serverless model and on managed compute
  or self-hosted GPUs (billed by the hour, busy or idle), the break-even volume, and a figure
  (``projection``).

A month is 730 hours, Azure's pricing convention. A fixed-price option (managed, self-hosted) needs
as many instances as its measured capacity requires: ceil(peak requests/s ÷ requests/s one
instance sustains at the SLO), the capacity coming from a load sweep (``unitcost``). Its monthly cost
is then a step function of volume, and the break-even is the volume above which it stays cheaper.
Without a sweep the capacity is not measured: the option is costed at its configured instances, and
that figure is a floor (``CostOption.measured`` is False; tables say "at least" and why).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

from llama_eval.catalog.models import Catalog, load_catalog
from llama_eval.catalog.prices import THOUSAND, PriceBook, TokenPrice
from llama_eval.errors import PriceTableError
from llama_eval.records import ANSWERED, FIXED_KINDS, MANAGED, SELF_HOSTED, SERVERLESS

HOURS_PER_MONTH = Decimal(730)
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
SECONDS_PER_DAY = Decimal(86_400)


# --------------------------------------------------------------------------- per request


# --------------------------------------------------------------------------- before a run


# --------------------------------------------------------------------------- after a run


# --------------------------------------------------------------------------- production projection


@dataclass(frozen=True)
class TrafficProfile:
    """Production traffic: requests a day and the mean tokens in and out of one request."""

    requests_per_day: Decimal
    input_tokens: Decimal
    output_tokens: Decimal
    peak_rps: Decimal | None = None  # requests/s at the busiest moment; None: the day's average

    @classmethod
    def of(cls, requests_per_day: float | int | str, input_tokens: float | int | str, output_tokens: float | int | str,
           peak_rps: float | int | str | Decimal | None = None) -> TrafficProfile:  # fmt: skip
        values = [Decimal(str(v)) for v in (requests_per_day, input_tokens, output_tokens)]
        if any(v < 0 for v in values):
            raise ValueError("requests per day and token means must be >= 0")
        peak = Decimal(str(peak_rps)) if peak_rps is not None else None
        if peak is not None and peak <= 0:
            raise ValueError(f"peak requests/s must be > 0, got {peak}; leave it out to use the day's average")
        return cls(*values, peak)

    @property
    def average_rps(self) -> Decimal:
        return self.requests_per_day / SECONDS_PER_DAY

    @property
    def peak_factor(self) -> Decimal:
        """Peak ÷ the day's average rate (at least 1): how much more than average the busiest moment carries."""
        if self.peak_rps is None or not self.requests_per_day:
            return Decimal(1)
        return max(Decimal(1), self.peak_rps / self.average_rps)

    @classmethod
    def from_run(cls, run_dir: str | Path, requests_per_day: float | int | str, deployment: str | None = None,
                 peak_rps: float | int | str | Decimal | None = None) -> TrafficProfile:  # fmt: skip
        """Mean tokens per request of a run's successful rows (optionally one deployment's)."""
        from llama_eval.rundir.health import run_rows

        rows = [r for r in run_rows(run_dir) if r["status"] in ANSWERED and r.get("usage")]
        if deployment is not None:
            rows = [r for r in rows if r["deployment"] == deployment]
        if not rows:
            raise ValueError(f"{run_dir}: no successful rows to take token means from")
        n = Decimal(len(rows))
        return cls.of(
            requests_per_day,
            sum(Decimal(r["usage"]["prompt_tokens"]) for r in rows) / n,
            sum(Decimal(r["usage"]["completion_tokens"]) for r in rows) / n,
            peak_rps,
        )

    @property
    def requests_per_month(self) -> Decimal:
        return self.requests_per_day * DAYS_PER_MONTH

    def describe(self) -> str:
        """The traffic a projection assumes, in one sentence (the same in the report and the CLI)."""
        if self.peak_rps is None:
            peak = f"peak not given, so the day's average {self.average_rps:.3g} requests/s sizes the machines"
        else:
            peak = f"peak {float(self.peak_rps):g} requests/s ({self.peak_factor:.3g}x the day's average)"
        return (
            f"{self.requests_per_day:,.0f} requests/day ({self.requests_per_month:,.0f} a month of 730 h), "
            f"{self.input_tokens:,.0f} tokens in and {self.output_tokens:,.0f} out per request; {peak}"
        )


def serverless_cost_per_request(price: TokenPrice, profile: TrafficProfile) -> Decimal | None:
    if not price.known:
        return None
    assert price.input_per_1k is not None and price.output_per_1k is not None
    return profile.input_tokens * price.input_per_1k / THOUSAND + profile.output_tokens * price.output_per_1k / THOUSAND


def _field(compute: Any, name: str, default: Any = None) -> Any:
    """A compute field from a Compute or its manifest dict; absent fields (older/newer configs) read as ``default``."""
    value = compute.get(name) if isinstance(compute, Mapping) else getattr(compute, name, None)
    return default if value is None else value


def hourly_usd(prices: PriceBook, compute: Any, *, one_instance: bool = False) -> Decimal:
    """What the machines cost an hour: ``usd_per_hour`` (per GPU, x ``count``) when given, else the VM SKU's list price; x instances.

    Managed compute gives a VM SKU; a self-hosted deployment may give ``{gpu, count, usd_per_hour}`` instead.
    ``one_instance``: the price of one of the instances (what a capacity is measured on).
    """
    instances = 1 if one_instance else int(_field(compute, "instances", 1))
    per_hour = _field(compute, "usd_per_hour")
    if per_hour is not None:
        return Decimal(str(per_hour)) * int(_field(compute, "count", 1)) * instances
    sku = _field(compute, "sku")
    if not sku:
        raise PriceTableError("compute needs a VM 'sku' from the price table or a 'usd_per_hour' to be priced")
    return prices.compute_price(sku, _field(compute, "region", "eastus")).usd_per_hour * instances


def fixed_monthly_usd(prices: PriceBook, compute: Any) -> Decimal:
    """Machines x hours a day x days a month: billed whether busy or not."""
    return hourly_usd(prices, compute) * Decimal(str(_field(compute, "hours_per_day", 24.0))) * HOURS_PER_MONTH / 24  # x 730 / 24 last: exact for 24 h


managed_monthly_cost = fixed_monthly_usd  # the name this had when managed compute was the only fixed-cost option


def compute_label(compute: Any) -> str:
    instances = _field(compute, "instances", 1)
    if _field(compute, "usd_per_hour") is not None:
        machines = f"{instances} machines of " if instances != 1 else ""
        return f"{machines}{_field(compute, 'count', 1)}x {_field(compute, 'gpu', 'GPU')} at ${_field(compute, 'usd_per_hour')}/GPU-hour"
    return f"{instances}x {_field(compute, 'sku')}"


@dataclass(frozen=True)
class CostOption:
    """One way to serve a model: per-token (serverless) or fixed machines (managed, self-hosted).

    A fixed option with a measured ``capacity_rps`` (one instance, at the SLO of its sweep) needs
    ceil(load ÷ capacity) instances at each volume; without one it is costed at its configured
    instances (``fixed_monthly_usd``), a floor, and ``measured`` is False.
    """

    label: str
    model: str
    kind: str
    per_request_usd: Decimal | None = None  # serverless: the same at every volume
    fixed_monthly_usd: Decimal | None = None  # managed / self-hosted: the configured instances, busy or idle
    note: str = ""
    deployments: tuple[str, ...] = ()  # the run's deployments this option is
    retired: str = ""  # "retired 2026-06-13; use X" when the offer is no longer available
    instance_monthly_usd: Decimal | None = None  # fixed: one instance for a month at its hours a day
    capacity_rps: Decimal | None = None  # fixed: requests/s one instance sustains at the SLO (a sweep); None: not measured
    capacity_source: str = ""  # "sweep runs/x/sweeps/y at ttft_p90<=1 (emulator)", or why there is none
    requests_per_instance_day: Decimal | None = None  # fixed, measured: requests/day one instance carries at this peak shape

    @property
    def priced(self) -> bool:
        return self.per_request_usd is not None or self.fixed_monthly_usd is not None

    @property
    def fixed(self) -> bool:
        return self.kind in FIXED_KINDS

    @property
    def measured(self) -> bool:
        """A fixed option whose instances come from a measured capacity (always True for per-token options)."""
        return not self.fixed or (self.capacity_rps is not None and self.instance_monthly_usd is not None)

    def instances_at(self, requests_per_day: Decimal) -> int | None:
        """Instances this volume needs (its peak ÷ the capacity of one, rounded up); None when not measured or per token."""
        if not self.fixed or self.requests_per_instance_day is None:
            return None
        from .fixed import instances_needed

        return instances_needed(Decimal(requests_per_day), self.requests_per_instance_day)

    def monthly_at(self, requests_per_day: Decimal) -> Decimal | None:
        if self.per_request_usd is not None:
            return self.per_request_usd * requests_per_day * DAYS_PER_MONTH
        instances = self.instances_at(requests_per_day)
        if instances is not None and self.instance_monthly_usd is not None:
            return instances * self.instance_monthly_usd
        return self.fixed_monthly_usd

    def per_request_at(self, requests_per_day: Decimal) -> Decimal | None:
        if self.per_request_usd is not None:
            return self.per_request_usd
        monthly = self.monthly_at(requests_per_day)
        if monthly is None or not requests_per_day:
            return None
        return monthly / (requests_per_day * DAYS_PER_MONTH)


@dataclass(frozen=True)
class BreakEven:
    """Where two options cost the same; ``requests_per_day`` is None when they never do.

    Against a measured fixed option it is the volume above which the fixed option *stays* cheaper:
    each added instance makes the cost jump, so just past an instance boundary per-token can briefly
    win again; ``first_cheaper_at`` is where the fixed option first wins when that differs.
    ``lower_bound``: the fixed option's capacity is not measured, so its cost is a floor and the true
    break-even is at least this volume.
    """

    a: str
    b: str
    why: str  # "same model" or "vs the cheapest offered"
    requests_per_day: Decimal | None
    monthly_usd: Decimal | None
    cheaper_now: str  # the label cheaper at the projected volume ("" when they cost the same)
    never_why: str = ""  # why there is no break-even: both billed per token or per hour, or per token is cheaper even at full instances
    lower_bound: bool = False
    first_cheaper_at: Decimal | None = None

    def verdict(self) -> str:
        if self.requests_per_day is not None:
            text = f"same cost at {self.requests_per_day:,.0f} requests/day (${self.monthly_usd:,.2f} a month)"
            if self.lower_bound:
                text = (f"same cost at no fewer than {self.requests_per_day:,.0f} requests/day: "
                        "capacity not measured, so the machines are costed as configured, a floor")
            if self.first_cheaper_at is not None:
                text += f"; first cheaper at {self.first_cheaper_at:,.0f}/day, for good from the break-even on"
            return text
        if self.never_why.startswith("never"):
            return self.never_why
        return f"never: {self.cheaper_now} is cheaper at every volume" if self.cheaper_now else "never: the same cost at every volume"


@dataclass(frozen=True)
class Projection:
    profile: TrafficProfile
    options: list[CostOption]  # offered today
    retired: list[CostOption]  # in the run, no longer offered: listed apart, never a recommendation
    break_even: list[BreakEven]

    @property
    def cheapest(self) -> CostOption | None:
        priced = [o for o in self.options if o.priced]
        return min(priced, key=lambda o: o.monthly_at(self.profile.requests_per_day) or Decimal(0)) if priced else None

    def option(self, label: str) -> CostOption:
        return next(o for o in self.options + self.retired if o.label == label)


def _break_even(a: CostOption, b: CostOption, why: str, profile: TrafficProfile) -> BreakEven:
    now_a, now_b = a.monthly_at(profile.requests_per_day), b.monthly_at(profile.requests_per_day)
    assert now_a is not None and now_b is not None
    cheaper = "" if now_a == now_b else (a.label if now_a < now_b else b.label)
    variable, fixed = (a, b) if a.per_request_usd is not None else (b, a)
    if variable.per_request_usd is None or fixed.per_request_usd is not None:
        basis = "per token" if a.per_request_usd is not None else "per hour"
        return BreakEven(a.label, b.label, why, None, None, cheaper, f"none: both billed {basis}")
    per_request = variable.per_request_usd
    if per_request <= 0:
        return BreakEven(a.label, b.label, why, None, None, cheaper, f"never: {variable.label} costs nothing a request")
    if not fixed.measured:
        assert fixed.fixed_monthly_usd is not None
        volume = fixed.fixed_monthly_usd / per_request / DAYS_PER_MONTH
        return BreakEven(a.label, b.label, why, volume, fixed.fixed_monthly_usd, cheaper, lower_bound=True)
    assert fixed.instance_monthly_usd is not None and fixed.requests_per_instance_day is not None
    # One instance costs M a month and carries V requests/day; per token costs M at c requests/day. With k instances
    # the fixed cost is k·M on ((k-1)·V, k·V], so per token wins there below k·c; it last wins in the last k with (k-1)·V < k·c.
    c, full = fixed.instance_monthly_usd / per_request / DAYS_PER_MONTH, fixed.requests_per_instance_day
    if c >= full:
        cost_full = fixed.instance_monthly_usd / (full * DAYS_PER_MONTH)
        return BreakEven(a.label, b.label, why, None, None, cheaper,
                         f"never: even with every instance full at peak, {fixed.label} costs ${cost_full:.6f} a request, "
                         f"{'the same as' if c == full else 'more than'} {variable.label} at ${per_request:.6f}")  # fmt: skip
    last = int((full / (full - c)).to_integral_value(rounding=ROUND_CEILING)) - 1
    return BreakEven(a.label, b.label, why, last * c, last * fixed.instance_monthly_usd, cheaper, first_cheaper_at=c if last > 1 else None)


def _capacity_terms(capacity: Any, compute: Any, profile: TrafficProfile, instance_monthly: Decimal | None) -> dict[str, Any]:
    """The capacity fields of a fixed option: one instance's requests/s and the requests/day it carries at this peak shape."""
    if capacity is None or instance_monthly is None:
        return {}
    from .fixed import sizing_load

    per_instance = Decimal(capacity.per_instance_rps)
    hours = Decimal(str(_field(compute, "hours_per_day", 24.0)))
    # the load is linear in the volume: what one request a day adds to it, at this peak shape and these hours
    load_per_daily_request = sizing_load(profile.peak_factor / SECONDS_PER_DAY, Decimal(1), hours)
    source = f"sweep {Path(capacity.source).name}" + (f" at {capacity.slo}" if capacity.slo else "") + (" (emulator)" if capacity.simulated else "")
    if capacity.lower_bound:
        source += "; every swept level met the SLO, so the capacity is at least this"
    return {"capacity_rps": per_instance, "capacity_source": source, "requests_per_instance_day": per_instance / load_per_daily_request}


def projection(
    profile: TrafficProfile,
    prices: PriceBook,
    serverless_models: Iterable[str] = (),
    managed: Iterable[tuple[str, Any]] = (),
    self_hosted: Iterable[tuple[str, Any]] = (),
    *,
    catalog: Catalog | None = None,
    on: date | None = None,
    run_deployments: Mapping[tuple[str, str], Sequence[str]] | None = None,
    capacities: Mapping[tuple[str, str], Any] | None = None,
) -> Projection:
    """Monthly cost of ``profile`` on each option, retired offers apart, and break-even of the meaningful pairs.

    Meaningful pairs: the same model served two ways (serverless / managed / self-hosted), and each
    option the run used against the cheapest option still offered at this volume. ``managed`` and
    ``self_hosted`` are (model, compute) pairs. ``run_deployments`` maps (model, kind) to the run's deployment names.
    ``capacities`` maps (model, kind) to a ``unitcost.MeasuredCapacity`` from a sweep of that compute;
    fixed options without one are costed at their configured instances and say "capacity not measured".
    """
    catalog = catalog or load_catalog()
    run_deployments = run_deployments or {}
    capacities = capacities or {}
    offered: list[CostOption] = []
    retired: list[CostOption] = []

    def lifecycle(model: str, kind: str) -> str:
        if model not in catalog:
            return ""
        offer = catalog.get(model).offer(kind)
        if offer is not None and offer.status(on) == "retired":
            use = catalog.available_replacement(model, kind, on)
            return f"retired {offer.retired}" + (f"; use {use}" if use else "")
        return ""

    for model in dict.fromkeys(serverless_models):
        price = prices.token_price(model, SERVERLESS)
        per_request = serverless_cost_per_request(price, profile) if price else None
        note = "" if per_request is not None else ("no price" + (f" ({price.note})" if price and price.note else ""))
        option = CostOption(f"{model} · serverless", model, SERVERLESS, per_request_usd=per_request, note=note,
                            deployments=tuple(run_deployments.get((model, SERVERLESS), ())), retired=lifecycle(model, SERVERLESS))  # fmt: skip
        (retired if option.retired else offered).append(option)
    for kind, pairs in ((MANAGED, managed), (SELF_HOSTED, self_hosted)):
        for model, compute in pairs:
            instances = int(_field(compute, "instances", 1))
            try:
                monthly: Decimal | None = fixed_monthly_usd(prices, compute)
                note = f"{_field(compute, 'hours_per_day', 24.0):g} h/day" + (f" in {_field(compute, 'region', 'eastus')}" if _field(compute, "sku") else "")
            except PriceTableError as exc:
                monthly, note = None, f"no price ({exc})"
            one = monthly / instances if monthly is not None else None
            terms = _capacity_terms(capacities.get((model, kind)), compute, profile, one)
            if monthly is not None and not terms:
                note += f"; capacity not measured: {instances} instance{'s' if instances != 1 else ''} as configured, a floor (`llama-eval sweep` measures it)"
            option = CostOption(f"{model} · {kind} ({compute_label(compute)})", model, kind, fixed_monthly_usd=monthly, note=note,
                                deployments=tuple(run_deployments.get((model, kind), ())), retired=lifecycle(model, kind),
                                instance_monthly_usd=one, **terms)  # fmt: skip
            (retired if option.retired else offered).append(option)

    result = Projection(profile, offered, retired, [])
    pairs: dict[frozenset[str], BreakEven] = {}
    priced = [o for o in offered if o.priced]
    for i, a in enumerate(priced):
        for b in priced[i + 1 :]:
            if a.model == b.model and a.kind != b.kind:
                pairs[frozenset((a.label, b.label))] = _break_even(a, b, "same model", profile)
    cheapest = result.cheapest
    if cheapest is not None:
        for option in priced:
            key = frozenset((option.label, cheapest.label))
            if option.deployments and option is not cheapest and key not in pairs:
                pairs[key] = _break_even(option, cheapest, "vs the cheapest offered", profile)
    result.break_even.extend(pairs.values())
    return result


def deployment_records(run_dir: str | Path) -> list[dict[str, Any]]:
    """The run's deployments as its manifest records them (name, model, kind, compute; no secrets)."""
    from llama_eval.rundir.health import manifest_deployments
    from llama_eval.rundir.store import read_manifest

    return list(manifest_deployments(read_manifest(run_dir) or {}).values())


def project_run(
    run_dir: str | Path,
    requests_per_day: float | int | str,
    *,
    prices: PriceBook | None = None,
    catalog: Catalog | None = None,
    on: date | None = None,
    compute: Mapping[str, Any] | None = None,
    sweeps: Iterable[str | Path] = (),
    slo: str | None = None,
    peak_rps: float | int | str | Decimal | None = None,
) -> Projection:
    """The production projection of a run's models: what ``llama-eval cost --requests-per-day`` prints and the report shows.

    Token means come from the run's successful rows. Every model of the run is costed serverless (if
    offered) and on managed compute (the run's own ``compute``, else ``compute`` given here, else the
    catalog's recommended SKU; ``compute`` fields such as sku, instances, region, hours_per_day override
    either); self-hosted deployments of the run are costed with their GPU-hours. ``sweeps`` (sweep
    directories, or directories of them, judged under ``slo`` or each sweep's own) give the measured
    capacity of the deployments swept, which sizes their instances for ``peak_rps``.
    """
    catalog = catalog or load_catalog()
    from llama_eval.catalog.prices import load_prices_for_run

    prices = prices or load_prices_for_run(run_dir)
    profile = TrafficProfile.from_run(run_dir, requests_per_day, peak_rps=peak_rps)
    records = deployment_records(run_dir)
    if not records:  # a run without a manifest: its rows still name models
        from llama_eval.rundir.health import run_rows

        models_of = {r["deployment"]: r.get("model") for r in run_rows(run_dir)}
        records = [{"name": n, "model": m, "kind": SERVERLESS} for n, m in models_of.items()]
    run_deployments: dict[tuple[str, str], list[str]] = {}
    for r in records:
        if r.get("model"):
            run_deployments.setdefault((r["model"], r.get("kind") or SERVERLESS), []).append(r["name"])
    models = list(dict.fromkeys(r["model"] for r in records if r.get("model")))
    serverless = [m for m in models if m in catalog and catalog.get(m).offer(SERVERLESS)]
    override = {k: v for k, v in (compute or {}).items() if v is not None}
    managed: dict[str, Any] = {}
    for r in records:
        if r.get("kind") == MANAGED and r.get("model") and r.get("compute"):
            managed.setdefault(r["model"], {**r["compute"], **override})
    for m in models:
        offer = catalog.get(m).offer(MANAGED) if m in catalog else None
        if m not in managed and offer is not None:
            managed[m] = {"sku": offer.recommended_sku, **override}
    self_hosted = [(r["model"], r.get("compute") or {}) for r in records if r.get("kind") == SELF_HOSTED and r.get("model")]
    options = {(model, MANAGED): c for model, c in managed.items()} | {(model, SELF_HOSTED): c for model, c in self_hosted}
    def machines(r: Mapping[str, Any]) -> Mapping[str, Any]:  # a managed deployment naming no VM: the catalog's, as costed above
        offer = catalog.get(r["model"]).offer(MANAGED) if r.get("model") in catalog else None
        return r.get("compute") or ({"sku": offer.recommended_sku} if r.get("kind") == MANAGED and offer is not None else {})

    capacities = measured_capacities([{**r, "compute": machines(r)} for r in records], sweeps, slo, options)
    return projection(profile, prices, serverless, list(managed.items()), self_hosted, catalog=catalog, on=on, run_deployments=run_deployments,
                      capacities=capacities)  # fmt: skip


def _same_machines(a: Any, b: Any) -> bool:
    """Whether two computes are the same machine (VM SKU, or GPU model and count): a capacity measured on one holds for the other."""
    return all(_field(a, k) == _field(b, k) for k in ("sku", "gpu", "count"))


def measured_capacities(records: Sequence[Mapping[str, Any]], sweeps: Iterable[str | Path], slo: str | None,
                        options: Mapping[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:  # fmt: skip
    """(model, kind) -> ``unitcost.MeasuredCapacity`` of each fixed option whose machines a sweep measured (no SLO met: absent)."""
    from llama_eval.load.slo import read_sweeps

    from .fixed import MeasuredCapacity

    by_name = {r["name"]: r for r in records}
    out: dict[tuple[str, str], Any] = {}
    for name, result in read_sweeps(sweeps, slo).items():
        record = by_name.get(name)
        if record is None or record.get("kind") not in FIXED_KINDS or not record.get("model"):
            continue
        key = (record["model"], record["kind"])
        swept_on = record.get("compute") or {}
        if key in options and _same_machines(options[key], swept_on):
            capacity = MeasuredCapacity.from_sweep(result, int(_field(swept_on, "instances", 1)))
            if capacity is not None:
                out.setdefault(key, capacity)
    return out


def break_even_figure(result: Projection, *, low: float | None = None, high: float | None = None):
    """Plotly figure, requests per day against USD per month (log-log): one line per option, crossings in hover text.

    Per-token options are straight lines; fixed options with a measured capacity are steps (one more
    instance each time the peak needs it); fixed options without one are a dotted floor, named so.

    No text on the plot (crossings would overlap); the break-even table beside it carries the numbers.
    The projected volume is a line in the legend.
    """
    import plotly.graph_objects as go

    current = float(result.profile.requests_per_day)
    crossings = [float(p.requests_per_day) for p in result.break_even if p.requests_per_day is not None]
    low = low or min([100.0, current / 10, *[c / 10 for c in crossings]])
    high = high or max([1e7, current * 10, *[c * 10 for c in crossings]])
    volumes = [low * (high / low) ** (i / 80) for i in range(81)]
    figure = go.Figure()
    monthly_values = []
    for option in result.options:
        if option.per_request_usd is not None:
            per_request = float(option.per_request_usd) * float(DAYS_PER_MONTH)
            ys = [v * per_request for v in volumes]
            figure.add_trace(go.Scatter(x=volumes, y=ys, mode="lines", name=option.label,
                                        hovertemplate="%{x:,.0f} requests/day: $%{y:,.2f} a month<extra>" + option.label + "</extra>"))  # fmt: skip
        elif option.measured and option.instance_monthly_usd is not None:
            # machines sized by the measured capacity: a step each time the peak needs one more instance
            instances = [option.instances_at(Decimal(repr(v))) for v in volumes]
            ys = [float(n * option.instance_monthly_usd) for n in instances]  # type: ignore[operator]
            hover = "%{x:,.0f} requests/day: %{customdata} instances, $%{y:,.2f} a month<extra>" + option.label + "</extra>"
            figure.add_trace(go.Scatter(x=volumes, y=ys, mode="lines", name=option.label, line={"dash": "dash", "shape": "hv"}, customdata=instances,
                                        hovertemplate=hover))  # fmt: skip
        elif option.fixed_monthly_usd is not None:
            ys = [float(option.fixed_monthly_usd)] * len(volumes)
            name = f"{option.label} — capacity not measured: configured machines, a floor"
            figure.add_trace(go.Scatter(x=volumes, y=ys, mode="lines", name=name, line={"dash": "dot"},
                                        hovertemplate="at least $%{y:,.2f} a month (capacity not measured)<extra>" + option.label + "</extra>"))  # fmt: skip
        else:
            continue
        monthly_values += [y for y in ys if y > 0]
    points = [p for p in result.break_even if p.requests_per_day is not None and low <= float(p.requests_per_day) <= high]
    if points:
        figure.add_trace(
            go.Scatter(
                x=[float(p.requests_per_day) for p in points],  # type: ignore[arg-type]
                y=[float(p.monthly_usd) for p in points],  # type: ignore[arg-type]
                mode="markers",
                marker={"size": 9, "symbol": "circle-open", "color": "#333"},
                name="break-even (hover; table below)",
                hovertext=[f"{p.a} = {p.b}<br>{float(p.requests_per_day):,.0f} requests/day, ${float(p.monthly_usd):,.2f} a month" for p in points],  # type: ignore[arg-type]
                hoverinfo="text",
            )
        )
    if monthly_values:
        bottom, top = min(monthly_values), max(monthly_values)
        figure.add_trace(go.Scatter(x=[current, current], y=[bottom, top], mode="lines", line={"dash": "dot", "color": "#b00020"},
                                    name=f"your volume: {current:,.0f} requests/day", hoverinfo="name"))  # fmt: skip
    figure.update_layout(
        title="Monthly cost by daily volume: serverless (per token) vs managed and self-hosted (per hour)",
        xaxis_title="requests per day",
        yaxis_title="USD per month",
        legend={"font": {"size": 11}, "orientation": "h", "yanchor": "top", "y": -0.18, "xanchor": "left", "x": 0},
        height=640,
    )
    figure.update_xaxes(type="log")
    figure.update_yaxes(type="log")
    return figure
