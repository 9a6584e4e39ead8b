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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from .catalog import Catalog, load_catalog
from .config import Compute, Deployment
from .prices import PriceBook, TokenPrice
from .prompts import PromptItem, PromptSet
from .tokens import TokenCounter, counter_for

THOUSAND = Decimal(1000)
HOURS_PER_MONTH = Decimal(730)
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
DEFAULT_MAX_TOKENS = 512


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
    if kind == "managed":
        return RequestPrice(None, "managed compute is billed per VM-hour, not per token")
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
    from .results import final_rows, read_manifest, read_rows

    manifest = read_manifest(run_dir) or {}
    per_deployment: dict[str, dict[str, Any]] = {}
    per_tag: dict[tuple[str, str], dict[str, Any]] = {}
    for row in final_rows(read_rows(run_dir)).values():
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
        from .results import final_rows, read_rows

        rows = [r for r in final_rows(read_rows(run_dir)).values() if r["status"] in ("ok", "length") and r.get("usage")]
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


def serverless_cost_per_request(price: TokenPrice, profile: TrafficProfile) -> Decimal | None:
    if not price.known:
        return None
    assert price.input_per_1k is not None and price.output_per_1k is not None
    return profile.input_tokens * price.input_per_1k / THOUSAND + profile.output_tokens * price.output_per_1k / THOUSAND


def managed_monthly_cost(prices: PriceBook, compute: Compute) -> Decimal:
    """VM list price x instances x hours a day x days a month: billed whether busy or not."""
    hourly = prices.compute_price(compute.sku, compute.region).usd_per_hour
    return hourly * compute.instances * Decimal(str(compute.hours_per_day)) * DAYS_PER_MONTH


def projection(
    profile: TrafficProfile,
    prices: PriceBook,
    serverless_models: Iterable[str],
    managed: Iterable[tuple[str, Compute]] = (),
) -> dict[str, Any]:
    """Monthly cost of the profile on each option, and the break-even volume of each pair."""
    options: dict[str, dict[str, Any]] = {}
    for model in serverless_models:
        price = prices.token_price(model, "serverless")
        per_request = serverless_cost_per_request(price, profile) if price else None
        options[f"{model} (serverless)"] = {
            "kind": "serverless",
            "per_request_usd": per_request,
            "monthly_usd": per_request * profile.requests_per_month if per_request is not None else None,
            "note": "" if per_request is not None else (price.note if price else "no price row"),
        }
    for label, compute in managed:
        monthly = managed_monthly_cost(prices, compute)
        options[f"{label} (managed, {compute.instances}x {compute.sku})"] = {
            "kind": "managed",
            "per_request_usd": monthly / profile.requests_per_month if profile.requests_per_month else None,
            "monthly_usd": monthly,
            "note": f"{compute.hours_per_day:g} h/day in {compute.region}",
        }
    break_even = []
    for s_name, s in options.items():
        for m_name, m in options.items():
            if s["kind"] == "serverless" and m["kind"] == "managed" and s["per_request_usd"]:
                volume = m["monthly_usd"] / s["per_request_usd"]
                break_even.append({"serverless": s_name, "managed": m_name, "requests_per_month": volume, "requests_per_day": volume / DAYS_PER_MONTH})
    return {"profile": profile, "options": options, "break_even": break_even}


def break_even_figure(result: dict[str, Any], *, low: float = 1e3, high: float = 1e9):
    """Plotly figure: monthly cost against monthly requests, each option a line, crossings marked."""
    import plotly.graph_objects as go

    volumes = [low * (high / low) ** (i / 60) for i in range(61)]
    figure = go.Figure()
    for name, option in result["options"].items():
        if option["kind"] == "serverless" and option["per_request_usd"] is not None:
            per_request = float(option["per_request_usd"])
            figure.add_trace(go.Scatter(x=volumes, y=[v * per_request for v in volumes], mode="lines", name=name))
        elif option["kind"] == "managed":
            figure.add_trace(go.Scatter(x=volumes, y=[float(option["monthly_usd"])] * len(volumes), mode="lines", name=name, line={"dash": "dash"}))
    for point in result["break_even"]:
        x = float(point["requests_per_month"])
        if low <= x <= high:
            y = float(result["options"][point["managed"]]["monthly_usd"])
            figure.add_trace(
                go.Scatter(
                    x=[x],
                    y=[y],
                    mode="markers+text",
                    marker={"size": 10},
                    text=[f"{x:,.0f}/month"],
                    textposition="top left",
                    name=f"break-even: {point['serverless']}",
                    showlegend=False,
                )
            )
    current = float(result["profile"].requests_per_month)
    if low <= current <= high:
        figure.add_vline(x=current, line_dash="dot", annotation_text="your volume")
    figure.update_layout(title="Monthly cost: serverless pay-as-you-go vs managed compute", xaxis_title="requests per month", yaxis_title="USD per month")
    figure.update_xaxes(type="log")
    figure.update_yaxes(type="log")
    return figure
