"""What an evaluation costs, and what production traffic would cost, in exact Decimal dollars.

* per request: serverless token prices x usage (``RequestPrice``);
* before a run: prompt tokens counted with the Llama tokenizer, output at ``max_tokens`` (worst case)
  and, when a previous run of the same prompts exists, at what each model really wrote (expected);
  plus how long the quota makes the run take (``estimate_run``);
* after a run: actual cost per deployment, per tag and per 1,000 requests, and the estimate's error
  (``run_costs``);
* for production: monthly cost of a traffic profile on each serverless model and on managed compute
  (VM-hours, billed whether busy or not), the break-even volume, and a figure (``projection``).

A month is 730 hours, Azure's pricing convention. Managed compute is assumed able to serve the
volume; check that with a latency run at the concurrency you need.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from .catalog import Catalog, load_catalog
from .config import Deployment
from .errors import PriceTableError
from .prices import PriceBook, TokenPrice
from .prompts import PromptItem, PromptSet
from .tokens import TokenCounter, counter_for

THOUSAND = Decimal(1000)
HOURS_PER_MONTH = Decimal(730)
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
DEFAULT_MAX_TOKENS = 512
SERVERLESS, MANAGED, SELF_HOSTED = "serverless", "managed", "self-hosted"  # deployment kinds; the last two are billed per hour
FIXED_KINDS = (MANAGED, SELF_HOSTED)


# --------------------------------------------------------------------------- per request


@dataclass(frozen=True)
class RequestPrice:
    """The price that applies to one deployment's requests (None when tokens are not billed or unknown)."""

    price: TokenPrice | None
    reason: str = ""

    @property
    def known(self) -> bool:
        return self.price is not None and self.price.known

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal | None:
        """USD for this usage; None when there is no token price (never a silent zero)."""
        if not self.known:
            return None
        assert self.price is not None and self.price.input_per_1k is not None and self.price.output_per_1k is not None
        return Decimal(prompt_tokens) * self.price.input_per_1k / THOUSAND + Decimal(completion_tokens) * self.price.output_per_1k / THOUSAND


def price_for(prices: PriceBook, model: str | None, kind: str) -> RequestPrice:
    """The token price for a deployment's model and kind."""
    if kind == MANAGED:
        return RequestPrice(None, "managed compute is billed per VM-hour, not per token")
    if kind == SELF_HOSTED:
        return RequestPrice(None, "self-hosted: billed per GPU- or VM-hour, not per token")
    if model is None:
        return RequestPrice(None, "no catalog model named for this deployment")
    price = prices.token_price(model, "serverless")
    if price is None or not price.known:
        note = f" ({price.note})" if price is not None and price.note else ""
        return RequestPrice(price, f"no price for {model}{note}")
    return RequestPrice(price)


def usd(value: Decimal | None, places: int = 6) -> str:
    """Dollars for display: 'no price' for None, never '0'."""
    if value is None:
        return "no price"
    return f"${value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)}"


# --------------------------------------------------------------------------- before a run


def max_tokens_for(item: PromptItem, default: int | None) -> int:
    """An item's own max_tokens wins over the run's default (512 when neither is given)."""
    return item.max_tokens or default or DEFAULT_MAX_TOKENS


def count_prompts(prompts: PromptSet, kind: str) -> dict[str, int]:
    """Prompt tokens (chat template included) of every item, by item id, for one tokenizer kind."""
    counter = TokenCounter(kind)
    return {item.id: counter.count_chat(item.messages) for item in prompts}


def previous_outputs(run_dir: str | Path | None) -> dict[tuple[str | None, str], float]:
    """Mean completion tokens per (model, prompt id) in a previous run: the 'expected' output length."""
    if run_dir is None:
        return {}
    from .results import final_rows, read_rows

    sums: dict[tuple[str | None, str], list[int]] = {}
    for row in final_rows(read_rows(run_dir)).values():
        usage = row.get("usage")
        if usage and row["status"] in ("ok", "length"):
            sums.setdefault((row.get("model"), row["prompt_id"]), []).append(usage["completion_tokens"])
    return {key: sum(v) / len(v) for key, v in sums.items()}


def estimate_run(
    deployments: Sequence[Deployment],
    prompts: PromptSet,
    prices: PriceBook,
    *,
    repeats: int = 1,
    max_tokens: int | None = None,
    choices: int = 1,
    catalog: Catalog | None = None,
    previous_run: str | Path | None = None,
    counts: dict[str, dict[str, int]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per deployment: requests, prompt tokens, expected and worst-case output and cost, quota time.

    ``counts`` (tokenizer kind -> item id -> prompt tokens) is filled as a side effect, so a caller
    that goes on to run the prompts does not count them twice.
    """
    catalog = catalog or load_catalog()
    counts = counts if counts is not None else {}
    previous = previous_outputs(previous_run)
    out = {}
    for d in deployments:
        model = d.catalog_model(catalog)
        counter = counter_for(model.family if model else None)
        if counter.kind not in counts:
            counts[counter.kind] = count_prompts(prompts, counter.kind)
        per_item = counts[counter.kind]
        price = price_for(prices, d.model, d.kind)
        prompt_tokens = sum(per_item.values()) * repeats
        worst_output = sum(max_tokens_for(item, max_tokens) for item in prompts) * repeats * choices
        seen = [previous.get((d.model, item.id)) for item in prompts]
        expected_output = None
        if previous and all(v is not None for v in seen):
            expected_output = round(sum(min(v, max_tokens_for(i, max_tokens)) for v, i in zip(seen, prompts, strict=True)) * repeats * choices)  # type: ignore[type-var]
        quota = d.effective_quota(catalog)
        requests = len(prompts) * repeats
        minutes_by_rpm = requests / quota.rpm if quota and quota.rpm else None
        minutes_by_tpm = (prompt_tokens + worst_output) / quota.tpm if quota and quota.tpm else None
        binding = None
        if minutes_by_rpm is not None or minutes_by_tpm is not None:
            binding = "tokens/min" if (minutes_by_tpm or 0) > (minutes_by_rpm or 0) else "requests/min"
        out[d.name] = {
            "model": d.model,
            "requests": requests,
            "prompt_tokens": prompt_tokens,
            "prompt_tokens_exact": counter.exact,
            "max_output_tokens": worst_output,
            "expected_output_tokens": expected_output,
            "worst_case_usd": price.cost(prompt_tokens, worst_output),
            "expected_usd": price.cost(prompt_tokens, expected_output) if expected_output is not None else None,
            "price_note": price.reason,
            "price_effective": str(price.price.effective_date) if price.price else None,
            "quota_minutes": max(m for m in (minutes_by_rpm, minutes_by_tpm) if m is not None) if binding else None,
            "quota_binding": binding,
        }
    return out


# --------------------------------------------------------------------------- after a run


def _decimal(value: Any) -> Decimal | None:
    return Decimal(value) if value not in (None, "") else None


def run_costs(run_dir: str | Path) -> dict[str, Any]:
    """Actual cost of a run: per deployment, per tag, per 1,000 requests, and the estimate's error."""
    from .health import run_rows
    from .results import read_manifest

    manifest = read_manifest(run_dir) or {}
    per_deployment: dict[str, dict[str, Any]] = {}
    per_tag: dict[tuple[str, str], dict[str, Any]] = {}
    for row in run_rows(run_dir):
        usage = row.get("usage") or {}
        cost = _decimal(row.get("cost_usd"))
        targets = [per_deployment.setdefault(row["deployment"], _blank(row))]
        targets += [per_tag.setdefault((row["deployment"], tag), _blank(row)) for tag in row.get("tags") or ["(untagged)"]]
        for t in targets:
            t["requests"] += 1
            t["prompt_tokens"] += usage.get("prompt_tokens", 0)
            t["completion_tokens"] += usage.get("completion_tokens", 0)
            t["estimated_usage_rows"] += row.get("usage_source") == "estimated"
            if cost is not None:
                t["cost_usd"] += cost
            elif row["status"] not in ("budget_skipped",) and not row.get("price_known"):
                t["unpriced_rows"] += 1
    estimates = manifest.get("estimates", {})
    for name, t in per_deployment.items():
        t["usd_per_1k_requests"] = t["cost_usd"] / t["requests"] * THOUSAND if t["requests"] else None
        worst = _decimal(estimates.get(name, {}).get("worst_case_usd"))
        expected = _decimal(estimates.get(name, {}).get("expected_usd"))
        t["estimate_worst_usd"] = worst
        t["estimate_expected_usd"] = expected
        t["estimate_error"] = (expected - t["cost_usd"]) / t["cost_usd"] if expected is not None and t["cost_usd"] else None
        t["worst_over_actual"] = worst / t["cost_usd"] if worst is not None and t["cost_usd"] else None
    for t in per_tag.values():
        t["usd_per_1k_requests"] = t["cost_usd"] / t["requests"] * THOUSAND if t["requests"] else None
    return {
        "deployments": per_deployment,
        "tags": {f"{d}|{tag}": v for (d, tag), v in per_tag.items()},
        "total_usd": sum((t["cost_usd"] for t in per_deployment.values()), Decimal(0)),
        "prices": manifest.get("prices", {}),
    }


def _blank(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": row.get("model"),
        "requests": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": Decimal(0),
        "unpriced_rows": 0,
        "estimated_usage_rows": 0,
    }


# --------------------------------------------------------------------------- production projection


@dataclass(frozen=True)
class TrafficProfile:
    """Production traffic: requests a day and the mean tokens in and out of one request."""

    requests_per_day: Decimal
    input_tokens: Decimal
    output_tokens: Decimal

    @classmethod
    def of(cls, requests_per_day: float | int | str, input_tokens: float | int | str, output_tokens: float | int | str) -> TrafficProfile:
        values = [Decimal(str(v)) for v in (requests_per_day, input_tokens, output_tokens)]
        if any(v < 0 for v in values):
            raise ValueError("requests per day and token means must be >= 0")
        return cls(*values)

    @classmethod
    def from_run(cls, run_dir: str | Path, requests_per_day: float | int | str, deployment: str | None = None) -> TrafficProfile:
        """Mean tokens per request of a run's successful rows (optionally one deployment's)."""
        from .health import run_rows

        rows = [r for r in run_rows(run_dir) if r["status"] in ("ok", "length") and r.get("usage")]
        if deployment is not None:
            rows = [r for r in rows if r["deployment"] == deployment]
        if not rows:
            raise ValueError(f"{run_dir}: no successful rows to take token means from")
        n = Decimal(len(rows))
        return cls.of(
            requests_per_day,
            sum(Decimal(r["usage"]["prompt_tokens"]) for r in rows) / n,
            sum(Decimal(r["usage"]["completion_tokens"]) for r in rows) / n,
        )

    @property
    def requests_per_month(self) -> Decimal:
        return self.requests_per_day * DAYS_PER_MONTH

    def describe(self) -> str:
        """The traffic a projection assumes, in one sentence (the same in the report and the CLI)."""
        return (
            f"{self.requests_per_day:,.0f} requests/day ({self.requests_per_month:,.0f} a month of 730 h), "
            f"{self.input_tokens:,.0f} tokens in and {self.output_tokens:,.0f} out per request"
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


def hourly_usd(prices: PriceBook, compute: Any) -> Decimal:
    """What the machines cost an hour: ``usd_per_hour`` (per GPU, x ``count``) when given, else the VM SKU's list price; x instances.

    Managed compute gives a VM SKU; a self-hosted deployment may give ``{gpu, count, usd_per_hour}`` instead.
    """
    instances = int(_field(compute, "instances", 1))
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
    """One way to serve a model: per-token (serverless) or fixed machines (managed, self-hosted)."""

    label: str
    model: str
    kind: str
    per_request_usd: Decimal | None = None  # serverless: the same at every volume
    fixed_monthly_usd: Decimal | None = None  # managed / self-hosted: busy or idle
    note: str = ""
    deployments: tuple[str, ...] = ()  # the run's deployments this option is
    retired: str = ""  # "retired 2026-06-13; use X" when the offer is no longer available

    @property
    def priced(self) -> bool:
        return self.per_request_usd is not None or self.fixed_monthly_usd is not None

    def monthly_at(self, requests_per_day: Decimal) -> Decimal | None:
        if self.per_request_usd is not None:
            return self.per_request_usd * requests_per_day * DAYS_PER_MONTH
        return self.fixed_monthly_usd

    def per_request_at(self, requests_per_day: Decimal) -> Decimal | None:
        if self.per_request_usd is not None:
            return self.per_request_usd
        if self.fixed_monthly_usd is None or not requests_per_day:
            return None
        return self.fixed_monthly_usd / (requests_per_day * DAYS_PER_MONTH)


@dataclass(frozen=True)
class BreakEven:
    """Where two options cost the same; ``requests_per_day`` is None when they never do (both per-token or both fixed)."""

    a: str
    b: str
    why: str  # "same model" or "vs the cheapest offered"
    requests_per_day: Decimal | None
    monthly_usd: Decimal | None
    cheaper_now: str  # the label cheaper at the projected volume ("" when they cost the same)
    never_why: str = ""  # why there is no break-even: both billed per token, or both per hour

    def verdict(self) -> str:
        if self.requests_per_day is not None:
            return f"same cost at {self.requests_per_day:,.0f} requests/day (${self.monthly_usd:,.2f} a month)"
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
    if variable.per_request_usd is not None and fixed.fixed_monthly_usd is not None and variable.per_request_usd > 0:
        volume = fixed.fixed_monthly_usd / variable.per_request_usd / DAYS_PER_MONTH
        return BreakEven(a.label, b.label, why, volume, fixed.fixed_monthly_usd, cheaper)
    basis = "per token" if a.per_request_usd is not None else "per hour"
    return BreakEven(a.label, b.label, why, None, None, cheaper, f"none: both billed {basis}")


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
) -> Projection:
    """Monthly cost of ``profile`` on each option, retired offers apart, and break-even of the meaningful pairs.

    Meaningful pairs: the same model served two ways (serverless / managed / self-hosted), and each
    option the run used against the cheapest option still offered at this volume. ``managed`` and
    ``self_hosted`` are (model, compute) pairs. ``run_deployments`` maps (model, kind) to the run's deployment names.
    """
    catalog = catalog or load_catalog()
    run_deployments = run_deployments or {}
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
            try:
                monthly: Decimal | None = fixed_monthly_usd(prices, compute)
                note = f"{_field(compute, 'hours_per_day', 24.0):g} h/day" + (f" in {_field(compute, 'region', 'eastus')}" if _field(compute, "sku") else "")
            except PriceTableError as exc:
                monthly, note = None, f"no price ({exc})"
            option = CostOption(f"{model} · {kind} ({compute_label(compute)})", model, kind, fixed_monthly_usd=monthly, note=note,
                                deployments=tuple(run_deployments.get((model, kind), ())), retired=lifecycle(model, kind))  # fmt: skip
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
    from .health import manifest_deployments
    from .results import read_manifest

    return list(manifest_deployments(read_manifest(run_dir) or {}).values())


def project_run(
    run_dir: str | Path,
    requests_per_day: float | int | str,
    *,
    prices: PriceBook | None = None,
    catalog: Catalog | None = None,
    on: date | None = None,
    compute: Mapping[str, Any] | None = None,
) -> Projection:
    """The production projection of a run's models: what ``llama-eval cost --requests-per-day`` prints and the report shows.

    Token means come from the run's successful rows. Every model of the run is costed serverless (if
    offered) and on managed compute (the run's own ``compute``, else ``compute`` given here, else the
    catalog's recommended SKU; ``compute`` fields such as sku, instances, region, hours_per_day override
    either); self-hosted deployments of the run are costed with their GPU-hours.
    """
    catalog = catalog or load_catalog()
    from .prices import load_prices_for_run

    prices = prices or load_prices_for_run(run_dir)
    profile = TrafficProfile.from_run(run_dir, requests_per_day)
    records = deployment_records(run_dir)
    if not records:  # a run without a manifest: its rows still name models
        from .health import run_rows

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
    return projection(profile, prices, serverless, list(managed.items()), self_hosted, catalog=catalog, on=on, run_deployments=run_deployments)


def break_even_figure(result: Projection, *, low: float | None = None, high: float | None = None):
    """Plotly figure, requests per day against USD per month (log-log): one line per option, crossings in hover text.

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
        elif option.fixed_monthly_usd is not None:
            ys = [float(option.fixed_monthly_usd)] * len(volumes)
            figure.add_trace(go.Scatter(x=volumes, y=ys, mode="lines", name=option.label, line={"dash": "dash"},
                                        hovertemplate="$%{y:,.2f} a month at any volume<extra>" + option.label + "</extra>"))  # fmt: skip
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
