"""What production traffic would cost on each way of serving a run's models, and where two ways cost the same.

* ``TrafficProfile`` (``cost.traffic``): requests a day and the peak; the tokens per request are each
  option's own model's means in the run (``option_token_means``, the one definition), never pooled;
* ``projection``: a ``CostOption`` per offer — each serverless model per token, managed compute and
  self-hosted GPUs by the hour (``Compute.hourly_usd``), sized by a measured capacity where a sweep
  measured one (``cost.fixed``), else their configured machines as a floor, and provisioned throughput
  (PTU) for models the catalog sells that way, sized from the token mix (``cost.provisioned``) —
  retired offers apart, and the break-even of the meaningful pairs (``BreakEven``);
* ``project_run``: the same for a run directory (its deployments, price tables and sweeps), what
  ``llama-eval cost --requests-per-day`` prints and the report shows;
* ``deployment_costs``: cost per 1,000 requests of each deployment of a run, every kind side by side.

A fixed option's monthly cost is a step function of volume (one more instance each time the peak
needs it), so its break-even is the volume above which it stays cheaper. The figure is in ``cost.figures``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.catalog.models import Catalog, load_catalog
from llama_eval.catalog.prices import PriceBook, TokenPrice, load_prices_for_run
from llama_eval.defaults import DEFAULT_REQUESTS_PER_DAY, DEFAULT_SLO
from llama_eval.deployments.model import Compute
from llama_eval.load.slo import read_sweeps
from llama_eval.records import MACHINE_KINDS, MANAGED, PROVISIONED, SELF_HOSTED, SERVERLESS
from llama_eval.rundir.run import Run, as_run

from .fixed import DAYS_PER_MONTH, NOT_MEASURED, MeasuredCapacity, dec
from .option import CostOption, OptionCost, fixed_capacity_cost, machine_price, serverless_option
from .provisioned import break_even_ptus, provisioned_option
from .traffic import TokenMeans, TrafficProfile, option_token_means


def serverless_cost_per_request(price: TokenPrice, profile: TrafficProfile | TokenMeans) -> Decimal | None:
    """USD a request: the tokens in and out (a profile's one mix, or a model's ``TokenMeans``) × the token price; None without either."""
    means = profile.tokens if isinstance(profile, TrafficProfile) else profile
    if means is None or not price.known:
        return None
    return serverless_option(price.model, price, means).per_request_usd


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
                text = (
                    f"same cost at no fewer than {self.requests_per_day:,.0f} requests/day: "
                    "capacity not measured, so the machines are costed as configured, a floor"
                )
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
    token_means: dict[tuple[str, str], TokenMeans] = field(default_factory=dict)  # (model, kind) -> the tokens a request its options were priced with

    def describe(self) -> str:
        """The traffic and the tokens per request the projection assumes, in one sentence (the report and the CLI)."""
        text = self.profile.describe()
        if self.profile.tokens is None and self.token_means:
            mixes = [f"{model} {m.input_tokens:,.0f} in / {m.output_tokens:,.0f} out" for (model, kind), m in self.token_means.items() if kind == SERVERLESS]
            text += (". Tokens per request, each model's own: " + "; ".join(mixes)) if mixes else ""
        return text

    def costs(self) -> dict[str, OptionCost]:
        """Each option's ``OptionCost`` at the projected volume, by label: what the table, ``cost --json`` and the API show."""
        return {o.label: o.cost_at(self.profile.requests_per_day) for o in self.options + self.retired}

    def find(self, model: str, kind: str) -> CostOption | None:
        """The option of ``model`` served as ``kind`` (the first, if the run costs more than one machine of it)."""
        return next((o for o in self.options + self.retired if o.model == model and o.kind == kind), None)

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
    first, step = (fixed.ptu.min_ptu, fixed.ptu.step_ptu) if fixed.ptu is not None else (1, 1)  # PTUs: the minimum, then steps
    last = break_even_ptus(first, step, full, c)
    return BreakEven(a.label, b.label, why, last * c, last * fixed.instance_monthly_usd, cheaper, first_cheaper_at=first * c if last > first else None)


def _fixed_option(model: str, kind: str, compute: Compute | None, prices: PriceBook, profile: TrafficProfile, capacity: MeasuredCapacity | None,
                  deployments: Sequence[str], retired: str) -> CostOption:  # fmt: skip
    """A managed or self-hosted option of the projection: its machines by the hour, sized by ``capacity`` when measured."""
    hourly, why = machine_price(compute, prices)
    if compute is None or hourly is None:
        label = f"{model} · {kind} ({compute.label if compute else 'no compute'})"
        return CostOption(label, model, kind, note=f"no price ({why})", deployments=tuple(deployments), retired=retired)
    note = f"{compute.hours_per_day:g} h/day" + (f" in {compute.region}" if compute.sku else "")
    if capacity is None:
        plural = "s" if compute.instances != 1 else ""
        note += f"; {NOT_MEASURED}: {compute.instances} instance{plural} as configured, a floor (`llama-eval sweep` measures it)"
    return CostOption(f"{model} · {kind} ({compute.label})", model, kind, instance_hourly_usd=hourly, hours_per_day=dec(compute.hours_per_day),
                      configured_instances=compute.instances, capacity=capacity, peak_rps=profile.peak_rps, requests_per_day=profile.requests_per_day,
                      note=note, deployments=tuple(deployments), retired=retired)  # fmt: skip


def projection(
    profile: TrafficProfile,
    prices: PriceBook,
    serverless_models: Iterable[str] = (),
    managed: Iterable[tuple[str, Compute | None]] = (),
    self_hosted: Iterable[tuple[str, Compute | None]] = (),
    *,
    catalog: Catalog | None = None,
    on: date | None = None,
    run_deployments: Mapping[tuple[str, str], Sequence[str]] | None = None,
    capacities: Mapping[tuple[str, str], MeasuredCapacity] | None = None,
    provisioned: Iterable[str] = (),
    token_means: Mapping[tuple[str, str], TokenMeans] | None = None,
) -> Projection:
    """Monthly cost of ``profile`` on each option, retired offers apart, and break-even of the meaningful pairs.

    Meaningful pairs: the same model served two ways (serverless / managed / self-hosted / provisioned), and each
    option the run used against the cheapest option still offered at this volume. ``managed`` and
    ``self_hosted`` are (model, ``Compute``) pairs; ``provisioned`` the models to cost on their catalog PTU offer,
    sized for the profile's peak from its token mix (``cost.provisioned``) and priced from ``prices.ptu_price``.
    ``run_deployments`` maps (model, kind) to the run's deployment names.
    ``capacities`` maps (model, kind) to a ``MeasuredCapacity`` from a sweep of that compute;
    fixed options without one are costed at their configured instances and say "capacity not measured".
    ``token_means`` maps (model, kind) to the tokens per request of that option (``cost.traffic.option_token_means``);
    an option it lacks takes the profile's one mix, if it has one.
    """
    catalog = catalog or load_catalog()
    run_deployments = run_deployments or {}
    means = dict(token_means or {})
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
        option = serverless_option(model, prices.token_price(model, SERVERLESS), means.get((model, SERVERLESS), profile.tokens), peak_rps=profile.peak_rps,
                                   requests_per_day=profile.requests_per_day, deployments=run_deployments.get((model, SERVERLESS), ()),
                                   retired=lifecycle(model, SERVERLESS))  # fmt: skip
        (retired if option.retired else offered).append(option)
    for kind, pairs in ((MANAGED, managed), (SELF_HOSTED, self_hosted)):
        for model, compute in pairs:
            option = _fixed_option(model, kind, compute, prices, profile, capacities.get((model, kind)), run_deployments.get((model, kind), ()),
                                   lifecycle(model, kind))  # fmt: skip
            (retired if option.retired else offered).append(option)
    for model in dict.fromkeys(provisioned):
        offer = catalog.get(model).offer(PROVISIONED) if model in catalog else None
        if offer is None or offer.provisioned is None:
            continue
        mix = means.get((model, PROVISIONED), profile.tokens)
        if mix is None:
            continue
        option = provisioned_option(model, offer.provisioned, prices.ptu_price(model), mix.input_tokens, mix.output_tokens,
                                    peak_rps=profile.peak_rps, requests_per_day=profile.requests_per_day,
                                    deployments=tuple(run_deployments.get((model, PROVISIONED), ())), retired=lifecycle(model, PROVISIONED))  # fmt: skip
        (retired if option.retired else offered).append(option)

    result = Projection(profile, offered, retired, [], means)
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


def deployment_records(run: Run | str | Path) -> list[dict[str, Any]]:
    """The run's deployments as its manifest records them (name, model, kind, compute; no secrets)."""
    return list(as_run(run).manifest.deployments.values())


def _catalog_machines(model: str | None, catalog: Catalog) -> Compute | None:
    """The catalog's recommended VM for a model on managed compute (the smallest that fits its weights), if it names one."""
    offer = catalog.get(model).offer(MANAGED) if model and model in catalog else None
    return Compute(sku=offer.recommended_sku) if offer is not None and offer.recommended_sku else None


def project_run(
    run: Run | str | Path,
    requests_per_day: float | int | str = DEFAULT_REQUESTS_PER_DAY,
    *,
    prices: PriceBook | None = None,
    catalog: Catalog | None = None,
    on: date | None = None,
    compute: Mapping[str, Any] | None = None,
    sweeps: Iterable[str | Path] = (),
    slo: str | None = DEFAULT_SLO,
    peak_rps: float | int | str | Decimal | None = None,
) -> Projection:
    """The production projection of a run's models: what ``llama-eval cost --requests-per-day`` prints and the report shows.

    ``run``: a ``Run`` (``load_run``, read once) or its directory. Tokens per request are each option's own
    model's means in the run (``cost.traffic.option_token_means``), never pooled across models. Every model of the run is costed serverless (if
    offered) and on managed compute (the run's own ``compute``, else ``compute`` given here, else the
    catalog's recommended SKU; ``compute`` fields such as sku, instances, region, hours_per_day override
    either); self-hosted deployments of the run are costed with their GPU-hours. ``sweeps`` (sweep
    directories, or directories of them, judged under ``slo``; None: each sweep's own) give the measured
    capacity of the deployments swept, which sizes their instances for ``peak_rps``. Volume, peak and
    objective default to ``llama_eval.defaults``, as ``llama-eval cost``, ``recommend`` and the report.
    """
    run = as_run(run)
    catalog = catalog or load_catalog()
    prices = prices or load_prices_for_run(run.path)
    if not any(r.usage is not None for r in run.answered):
        raise ValueError(f"{run.path}: no successful rows to take token means from")
    profile = TrafficProfile.of(requests_per_day, peak_rps=peak_rps)
    records = list(run.manifest.deployments.values())
    if not records:  # a run without a manifest: its rows still name models
        models_of = {r.deployment: r.model for r in run.rows}
        records = [{"name": n, "model": m, "kind": SERVERLESS} for n, m in models_of.items()]
    run_deployments: dict[tuple[str, str], list[str]] = {}
    for r in records:
        if r.get("model"):
            run_deployments.setdefault((r["model"], r.get("kind") or SERVERLESS), []).append(r["name"])
    models = list(dict.fromkeys(r["model"] for r in records if r.get("model")))
    serverless = [m for m in models if m in catalog and catalog.get(m).offer(SERVERLESS)]
    override = {k: v for k, v in (compute or {}).items() if v is not None}
    managed: dict[str, Compute | None] = {}
    for r in records:
        if r.get("kind") == MANAGED and r.get("model") and r.get("compute"):
            managed.setdefault(r["model"], Compute.from_json({**r["compute"], **override}))
    for m in models:
        offer = catalog.get(m).offer(MANAGED) if m in catalog else None
        if m not in managed and offer is not None:
            managed[m] = Compute.from_json({"sku": offer.recommended_sku, **override})
    self_hosted = [(r["model"], Compute.from_json(r.get("compute"))) for r in records if r.get("kind") == SELF_HOSTED and r.get("model")]
    options = {(model, MANAGED): c for model, c in managed.items()} | {(model, SELF_HOSTED): c for model, c in self_hosted}
    # the machines each deployment ran on (a managed one naming no VM: the catalog's, as costed above): what a sweep of it measured
    swept_on = {r["name"]: Compute.from_json(r.get("compute")) or (_catalog_machines(r.get("model"), catalog) if r.get("kind") == MANAGED else None)
                for r in records}  # fmt: skip
    capacities = measured_capacities(records, swept_on, sweeps, slo, options)
    provisioned = [m for m in models if m in catalog and catalog.get(m).offer(PROVISIONED)]
    means = {}
    for key in [(m, SERVERLESS) for m in serverless] + [(m, PROVISIONED) for m in provisioned]:
        try:
            means[key] = option_token_means(run, *key)
        except ValueError:  # nothing of this model answered: its per-token options say so ("no token means")
            continue
    return projection(profile, prices, serverless, list(managed.items()), self_hosted, catalog=catalog, on=on, run_deployments=run_deployments,
                      capacities=capacities, provisioned=provisioned, token_means=means)  # fmt: skip


def _same_machines(a: Compute | None, b: Compute | None) -> bool:
    """Whether two computes are the same machine (VM SKU, or GPU model and count): a capacity measured on one holds for the other."""
    return a is not None and b is not None and (a.sku, a.gpu, a.count) == (b.sku, b.gpu, b.count)


def measured_capacities(records: Sequence[Mapping[str, Any]], computes: Mapping[str, Compute | None], sweeps: Iterable[str | Path], slo: str | None,
                        options: Mapping[tuple[str, str], Compute | None]) -> dict[tuple[str, str], MeasuredCapacity]:  # fmt: skip
    """(model, kind) -> ``MeasuredCapacity`` of each fixed option whose machines a sweep measured (no SLO met: absent).

    ``computes``: the machines each deployment (by name) ran on; ``options``: the machines each option is costed on.
    """
    by_name = {r["name"]: r for r in records}
    out: dict[tuple[str, str], MeasuredCapacity] = {}
    for name, result in read_sweeps(sweeps, slo).items():
        record = by_name.get(name)
        if record is None or record.get("kind") not in MACHINE_KINDS or not record.get("model"):
            continue
        key, machines = (record["model"], record["kind"]), computes.get(name)
        if key in options and _same_machines(options[key], machines):
            capacity = MeasuredCapacity.from_sweep(result, machines.instances if machines else 1)
            if capacity is not None:
                out.setdefault(key, capacity)
    return out


def deployment_costs(run: Run | str | Path, sweeps: Iterable[str | Path] = (), *, slo: str | None = None, peak_rps: float | None = None,
                     requests_per_day: float | None = None, prices: PriceBook | None = None, catalog: Catalog | None = None) -> list[CostOption]:  # fmt: skip
    """Cost per 1,000 requests of every deployment of a run, every kind side by side: a ``CostOption`` each, labelled by deployment.

    Serverless: its model's mean tokens in and out in the run (``option_token_means``) × the token price. Managed compute / self-hosted:
    $/hour ÷ the throughput its sweep sustained at the SLO (``sweeps``: sweep directories, or a
    directory of them), and, with ``peak_rps``, the instances and the month; without a sweep,
    ``NOT_MEASURED``. ``basis`` says how; for the cost notebook: ``option.deployment_cost_frame(...)``.
    """
    catalog = catalog or load_catalog()
    run = as_run(run)
    prices = prices or load_prices_for_run(run.path, catalog=catalog)  # the tables the run used, as the projection and the decision
    swept = read_sweeps(sweeps, slo)
    records = run.manifest.fingerprint.get("deployments") or []
    out = []
    for r in records:
        name, model, kind = r["name"], r.get("model"), r.get("kind", SERVERLESS)
        bare = CostOption(name, model, kind, deployments=(name,))
        if kind == SERVERLESS:
            price = prices.token_price(model, SERVERLESS) if model else None
            means, why = None, ""
            try:
                means = option_token_means(run, model, SERVERLESS) if model else None
            except ValueError as exc:
                why = str(exc)
            option = serverless_option(model or name, price, means, label=name, deployments=(name,),
                                       requests_per_day=dec(requests_per_day) if requests_per_day else None)  # fmt: skip
            out.append(replace(option, model=model, note=option.note if option.per_request_usd is not None or not why else why))
            continue
        if kind == PROVISIONED:
            out.append(_provisioned_cost(run, r, bare, prices, catalog, peak_rps, requests_per_day))
            continue
        compute, note = Compute.from_json(r.get("compute")), ""
        if compute is None and (compute := _catalog_machines(model, catalog)) is not None:
            note = f"VM: the catalog's recommended {compute.sku}"
        hourly, _ = machine_price(compute, prices)
        if compute is None or hourly is None:
            out.append(replace(bare, basis="no price", note="no VM SKU or usd_per_hour for its compute"))
            continue
        sweep = swept.get(name)
        capacity = MeasuredCapacity.from_sweep(sweep, compute.instances) if sweep else None
        cost = fixed_capacity_cost(name, kind, hourly, capacity, peak_rps=peak_rps, requests_per_day=requests_per_day, hours_per_day=compute.hours_per_day,
                                   model=model, instances=compute.instances, deployments=(name,))  # fmt: skip
        if capacity is None:
            why = sweep.capacity.reason if sweep else "no sweep of it"
            out.append(replace(cost, basis=NOT_MEASURED, note="; ".join(n for n in (note, why) if n)))
            continue
        basis = f"${hourly}/h per instance / {capacity.per_instance_rps:.4g} req/s at {capacity.slo}"
        out.append(replace(cost, basis=basis, note="; ".join(n for n in (note, cost.note) if n)))
    return out


def per_token_per_1k(run: Run | str | Path, *, prices: PriceBook | None = None) -> dict[str, Decimal]:
    """USD per 1,000 requests of each per-token deployment of a run: the one figure (its model's own token means × the price,
    rounded by ``CostOption.cost_at``) the projection, the decision and both commands show; deployments without one are left out."""
    out = {}
    for option in deployment_costs(run, prices=prices):
        figure = option.cost_at(1).usd_per_1k_requests if not option.fixed and option.per_request_usd is not None else None
        if figure is not None:
            out[option.label] = figure
    return out


def _provisioned_cost(run: Run, record: Mapping[str, Any], bare: CostOption, prices: PriceBook, catalog: Catalog,
                      peak_rps: float | None, requests_per_day: float | None) -> CostOption:  # fmt: skip
    """A provisioned deployment of the run: its PTU-hour ÷ the requests one PTU serves with the deployment's own token mix."""
    model, name = record.get("model"), record["name"]
    offer = catalog.get(model).offer(PROVISIONED) if model and model in catalog else None
    price = prices.ptu_price(model) if model else None
    if offer is None or offer.provisioned is None:
        return replace(bare, basis="no price", note=f"{model} has no provisioned offer in the catalog")
    try:
        mix = option_token_means(run, model, PROVISIONED)
    except ValueError as exc:
        return replace(bare, basis="no answered requests to take token means from", note=str(exc))
    option = provisioned_option(model, offer.provisioned, price, mix.input_tokens, mix.output_tokens, peak_rps=peak_rps,
                                requests_per_day=requests_per_day if peak_rps is not None else None, label=name, deployments=(name,))  # fmt: skip
    if price is None or not price.known:
        return replace(option, basis="no price")
    assert option.ptu is not None
    deployed = f"; {record['ptu']} PTU deployed" if record.get("ptu") else ""
    basis = f"{price.label} / {option.ptu.rps_per_ptu:.4g} req/s per PTU at 100% utilization ({option.capacity_source}){deployed}"
    return replace(option, basis=basis)


__all__ = [
    "BreakEven",
    "CostOption",
    "Projection",
    "TrafficProfile",
    "deployment_costs",
    "deployment_records",
    "measured_capacities",
    "per_token_per_1k",
    "project_run",
    "projection",
    "serverless_cost_per_request",
]
