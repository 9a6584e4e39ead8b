"""The decision the suite exists for: the cheapest option that is as good as the best and holds the SLO at peak.

Options are the run's deployments and, where the catalog offers them and they are not retired,
the same models' other offers (serverless or managed compute with the catalog's recommended VM).
An option wins only when all of these hold, and every other option is told why it lost:

* **quality** — not detectably worse than the best-scoring option: the paired verdicts of
  ``llama_eval.quality`` (``scores_summary.json``, made by ``llama-eval score``; computed here if
  missing). Another offer of the same model is assumed to answer as that model did in the run;
* **capacity** — a sweep of it meets the SLO at some level. The sweeps are those stored with the run
  (``RUN_DIR/sweeps/*``, where ``llama-eval demo`` and the report find them) plus any given
  (``--sweep``); a given sweep of a deployment that also has a stored one replaces it. Managed / self-hosted:
  instances = ceil(peak ÷ capacity per instance), assuming instances add capacity linearly behind
  one endpoint. Serverless: its measured capacity (quota-bound) must reach the peak;
* **not retired** on the day, and **priced** (token price, or VM / GPU price per hour);
* then the lowest monthly cost at ``requests_per_day``: each option's cost is a ``CostOption``
  (``llama_eval.cost.option``), built and priced as the cost projection builds it — the run's token
  means × the token price for serverless, ``Compute.hourly_usd`` × the instances its measured
  capacity needs for fixed capacity — so the recommendation and the cost report agree to the cent.

An ``Option`` is that ``CostOption`` plus the verdict: quality, why it lost, details.

When no option passes, or quality could not be compared (too few prompts), ``Recommendation.decided``
is False and ``Recommendation.undecided_why`` says why in words: the data cannot decide.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.catalog.models import RETIRED, Catalog, load_catalog
from llama_eval.catalog.prices import PriceBook, load_prices_for_run
from llama_eval.cost.fixed import NOT_MEASURED, MeasuredCapacity
from llama_eval.cost.option import CostOption, fixed_capacity_cost, machine_price
from llama_eval.cost.projection import TrafficProfile, serverless_cost_per_request
from llama_eval.cost.provisioned import provisioned_option
from llama_eval.deployments.model import Compute
from llama_eval.errors import RunError
from llama_eval.load.slo import STORED_SWEEPS, Slo, SweepResult, read_sweeps, stored_sweeps
from llama_eval.quality.scoring import score_run
from llama_eval.records import MANAGED, PROVISIONED, SERVERLESS
from llama_eval.rundir.store import read_manifest

# Why an option lost, in one place (the CLI, the notebook and tests use these words).
WORSE_QUALITY = "worse quality"
MISSES_SLO = "misses the SLO"
COSTS_MORE = "costs more"
RETIRED_WHY = "retired"
NO_CAPACITY = NOT_MEASURED
NO_PRICE = "no price"
NO_QUALITY = "quality not measured"
CENT = Decimal("0.01")


@dataclass
class Option:
    """One way to serve one model — its ``CostOption`` — and how it fared: quality, and why it lost."""

    cost: CostOption  # label, model, kind, capacity, instances, monthly_usd: the cost projection's record, priced the same way
    deployment: str | None  # the run's deployment this is (None: another offer of the same model)
    quality_from: str | None  # the run deployment whose scores stand for this option
    compute: Compute | None = None  # the machines a fixed option is costed on
    quality_mean: float | None = None
    quality_note: str = ""
    quality_undecided: bool = False  # too few prompts to tell it from the best
    lost: list[str] = field(default_factory=list)  # reasons, worst first; empty for the winner
    detail: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.cost.label

    @property
    def model(self) -> str | None:
        return self.cost.model

    @property
    def kind(self) -> str:
        return self.cost.kind

    @property
    def eligible(self) -> bool:
        return not self.lost


@dataclass
class Recommendation:
    options: list[Option]
    chosen: Option | None
    slo: Slo
    peak_rps: Decimal
    requests_per_day: Decimal
    undecided_why: list[str] = field(default_factory=list)
    sweeps: dict[str, Path] = field(default_factory=dict)  # the sweep each deployment's capacity came from

    @property
    def decided(self) -> bool:
        return self.chosen is not None and not self.undecided_why

    def frame(self):
        """The table the CLI prints and the summary notebook shows."""
        import pandas as pd  # imported on use: start-up time

        rows = []
        for o in self.options:
            c = o.cost
            per_request = c.per_request_at_traffic_usd
            rows.append(
                {
                    "option": o.label,
                    "kind": o.kind,
                    "quality": o.quality_mean,
                    "capacity_rps": float(c.capacity_rps) if c.capacity_rps is not None else None,
                    "instances": c.instances,
                    "monthly_usd": c.monthly_usd.quantize(CENT) if c.monthly_usd is not None else None,
                    "usd_per_1k_requests": (per_request * 1000).quantize(Decimal("0.0001")) if per_request is not None else None,
                    "verdict": "chosen" if o is self.chosen else ("lost: " + "; ".join(o.lost) if o.lost else "eligible"),
                    "detail": "; ".join(o.detail),
                }
            )
        return pd.DataFrame(rows)

    def summary(self) -> str:
        head = f"peak {float(self.peak_rps):g} req/s, {self.requests_per_day:,.0f} requests/day, SLO {self.slo}"
        if self.chosen is None:
            return f"No option can be recommended ({head}): " + "; ".join(self.undecided_why)
        cost = self.chosen.cost
        text = f"Recommended: {self.chosen.label} — ${cost.monthly_usd:,.2f} a month"
        if cost.instances:
            text += f" with {cost.instances} instance{'s' if cost.instances != 1 else ''}"
        text += f" ({head})"
        if self.undecided_why:
            text += ". But the data cannot fully decide: " + "; ".join(self.undecided_why)
        return text


def _quality(run_dir: Path, seed: int) -> dict[str, Any]:
    path = run_dir / "scores_summary.json"
    if path.exists():
        return json.loads(path.read_text())
    return score_run(run_dir, seed=seed).to_json()


def _significant(c: dict[str, Any]) -> bool:
    if "significant" in c:
        return bool(c["significant"])
    return float(c.get("p_holm", 1.0)) < 0.05


def _compare_to_best(summary: dict[str, Any]) -> tuple[str | None, dict[str, tuple[str | None, str]], list[str]]:
    """The best deployment by mean score, and for every deployment (verdict-or-None, words); plus undecided notes."""
    means = {name: d["mean"] for name, d in summary.get("deployments", {}).items() if d.get("mean") is not None}
    if not means:
        return None, {}, ["no scores: the prompt set has no scorers or references, so quality cannot be compared"]
    best = max(means, key=lambda name: means[name])
    out: dict[str, tuple[str | None, str]] = {best: (None, "best mean score")}
    notes = []
    for c in summary.get("comparisons", []):
        if best not in (c["a"], c["b"]):
            continue
        other = c["b"] if c["a"] == best else c["a"]
        best_better = (c["diff"] > 0) == (c["a"] == best)
        if c.get("too_few_prompts"):
            out[other] = (None, f"cannot tell against {best}: too few prompts ({c['prompts']})")
            notes.append(f"quality of {other} vs {best} cannot be told apart with {c['prompts']} shared prompts")
        elif _significant(c) and best_better:
            out[other] = (WORSE_QUALITY, c.get("verdict") or f"worse than {best}")
        else:
            out[other] = (None, c.get("verdict") or f"no detectable difference from {best}")
    return best, out, notes


def _options(records: list[dict[str, Any]], catalog: Catalog) -> list[Option]:
    """An unpriced option per deployment of the run, then per other offer of its models; the manifest's compute read once into a ``Compute``."""
    options = []
    seen: set[tuple[str | None, str]] = set()
    for r in records:
        kind = r.get("kind", SERVERLESS)
        option = Option(CostOption(r["name"], r.get("model"), kind), r["name"], r["name"], compute=Compute.from_json(r.get("compute")))
        if option.kind == MANAGED and option.compute is None and option.model in catalog:
            offer = catalog.get(option.model).offer(MANAGED)
            if offer is not None and offer.recommended_sku:  # as the cost projection does: the smallest VM that fits the weights
                option.compute = Compute(sku=offer.recommended_sku)
                option.detail.append(f"VM: the catalog's recommended {offer.recommended_sku} (the deployment names no compute)")
        options.append(option)
        seen.add((r.get("model"), kind))
    for r in records:  # the same models' other offers, where the catalog has them
        model_id = r.get("model")
        if not model_id or model_id not in catalog:
            continue
        model = catalog.get(model_id)
        for kind, offer in model.offers.items():
            if (model_id, kind) in seen:
                continue
            seen.add((model_id, kind))
            compute = Compute(sku=offer.recommended_sku) if kind == MANAGED and offer.recommended_sku else None
            label = f"{model_id} ({kind}{', ' + offer.recommended_sku if compute else ''})"
            if offer.provisioned is not None:  # provisioned throughput: a fourth option, sized in PTUs when judged
                label = f"{model_id} ({kind}, {offer.provisioned.deployment_type})"
            options.append(Option(CostOption(label, model_id, kind), None, r["name"], compute=compute))
    return options


def recommend(
    run_dir: str | Path,
    *,
    sweeps: Sequence[str | Path] = (),
    peak_rps: float | Decimal,
    requests_per_day: float | Decimal,
    slo: str | Slo,
    prices: PriceBook | None = None,
    catalog: Catalog | None = None,
    on: date | None = None,
    seed: int = 0,
) -> Recommendation:
    """Choose among a run's deployments (and their models' other offers); see the module docstring.

    ``sweeps`` are added to the run's stored ones (``RUN_DIR/sweeps/*``); one given for a deployment
    that has a stored sweep wins. ``prices`` default to the tables the run recorded, as the report's.
    """
    run_dir = Path(run_dir)
    judge = Slo.parse(slo)
    if judge is None:
        raise RunError("recommend needs an SLO, e.g. --slo 'ttft_p90<=1.0'")
    manifest = read_manifest(run_dir)
    if manifest is None:
        raise RunError(f"{run_dir}: no manifest.json; pass the directory of a `llama-eval run`")
    peak, per_day = Decimal(str(peak_rps)), Decimal(str(requests_per_day))
    if peak <= 0 or per_day <= 0:
        raise RunError(f"--peak-rps and --requests-per-day must be > 0, got {peak} and {per_day}")
    catalog = catalog or load_catalog()
    prices = prices or load_prices_for_run(run_dir, catalog=catalog)
    records = manifest.get("fingerprint", {}).get("deployments") or []
    if not records:
        raise RunError(f"{run_dir}/manifest.json lists no deployments (fingerprint.deployments); was it written by `llama-eval run`?")
    swept = _sweeps_of(run_dir, sweeps, judge, [r["name"] for r in records])
    quality = _quality(run_dir, seed)
    best, verdicts, notes = _compare_to_best(quality)
    summary_means = {n: d.get("mean") for n, d in quality.get("deployments", {}).items()}
    options = _options(records, catalog)
    for o in options:
        _judge_option(o, run_dir, swept.get(o.deployment or ""), judge, peak, per_day, prices, catalog, on, verdicts, summary_means)
    eligible = [o for o in options if o.eligible]
    chosen = min(eligible, key=lambda o: o.cost.monthly_usd) if eligible else None  # type: ignore[arg-type,return-value]
    for o in eligible:
        if o is not chosen:
            assert chosen is not None and o.cost.monthly_usd is not None and chosen.cost.monthly_usd is not None
            o.lost.append(f"{COSTS_MORE} (${o.cost.monthly_usd:,.2f} vs ${chosen.cost.monthly_usd:,.2f} a month)")
    undecided: list[str] = []
    if chosen is None:
        undecided = _why_none(options, notes)
    elif chosen.quality_undecided:
        undecided = [f"{chosen.label} is the cheapest that passes, but its quality {chosen.quality_note}"]
    elif best is not None and chosen.quality_from != best:
        undecided = _low_power(chosen, best, summary_means, quality)
    options.sort(key=lambda o: (o is not chosen, not o.eligible, o.cost.monthly_usd is None, o.cost.monthly_usd or 0))
    return Recommendation(options, chosen, judge, peak, per_day, undecided, {name: s.path for name, s in swept.items()})


def _sweeps_of(run_dir: Path, given: Sequence[str | Path], slo: Slo, names: list[str]) -> dict[str, SweepResult]:
    """The sweeps stored with the run, then the given ones over them (same deployment: the given one wins).

    A sweep of a deployment the run does not have is refused with its path: its capacity would be
    priced against another deployment's quality and tokens.
    """
    stored = read_sweeps(stored_sweeps(run_dir), slo)
    explicit = read_sweeps(given, slo)
    for origin, found in ((f"stored in {run_dir / STORED_SWEEPS}", stored), ("given", explicit)):
        unknown = sorted(set(found) - set(names))
        if unknown:
            where = ", ".join(f"{name} ({found[name].path})" for name in unknown)
            raise RunError(f"sweeps of {where}, {origin}, which the run {run_dir} does not have; its deployments: {', '.join(names)}")
    return stored | explicit


def _low_power(chosen: Option, best: str, means: dict[str, float], quality: dict[str, Any]) -> list[str]:
    """Not detectably worse is not the same as as good: say so when the run had too few prompts to see a gap of its size."""
    hint = quality.get("sample_size_hint") or {}
    gap = 100 * (means[best] - means.get(chosen.quality_from or "", means[best]))
    prompts = quality.get("deployments", {}).get(best, {}).get("prompts")
    needed = hint.get("prompts_needed")
    if gap <= 0 or not needed or not prompts or prompts >= needed:
        return []
    return [f"{chosen.label} scored {gap:.1f} points below {best}, not detectably with {prompts} prompts; telling a "
            f"{hint.get('difference_points', 5)}-point difference apart needs about {needed} prompts (the scoring summary's estimate)"]


def _why_none(options: list[Option], notes: list[str]) -> list[str]:
    reasons = {reason.split(" (")[0].split(":")[0] for o in options for reason in o.lost}
    why = []
    if NO_CAPACITY in reasons:
        why.append(f"{sum(any(r.startswith(NO_CAPACITY) for r in o.lost) for o in options)} option(s) have no sweep: capacity not measured "
                   "(run `llama-eval sweep` on them with the same --slo)")  # fmt: skip
    if MISSES_SLO in reasons:
        why.append("the swept options miss the SLO at the peak")
    if WORSE_QUALITY in reasons:
        why.append("the cheaper options score detectably worse than the best")
    return why + notes or ["no option passed every check"]


def _judge_option(o: Option, run_dir: Path, sweep: SweepResult | None, slo: Slo, peak: Decimal, per_day: Decimal, prices: PriceBook,
                  catalog: Catalog, on: date | None, verdicts: dict[str, tuple[str | None, str]], means: dict[str, float]) -> None:  # fmt: skip
    # quality
    o.quality_mean = means.get(o.quality_from or "")
    verdict = verdicts.get(o.quality_from or "")
    if verdict is None:
        o.lost.append(NO_QUALITY)
    else:
        if verdict[0]:
            o.lost.append(f"{WORSE_QUALITY}: {verdict[1]}")
        o.quality_note = verdict[1] if o.deployment else f"same model as {o.quality_from}: {verdict[1]}"
        o.quality_undecided = verdict[1].startswith("cannot tell")
        o.detail.append(o.quality_note)
    # lifecycle
    model = catalog.get(o.model) if o.model and o.model in catalog else None
    offer = model.offer(o.kind) if model is not None else None
    if offer is not None and offer.status(on) == RETIRED:
        replacement = f"; use {offer.replacement}" if offer.replacement else ""
        o.lost.append(f"{RETIRED_WHY} (the {o.kind} offer retired on {offer.retired}{replacement})")
    # capacity and the SLO at peak
    capacity = MeasuredCapacity.from_sweep(sweep, o.compute.instances if o.compute else 1) if sweep else None
    if sweep is None:
        o.lost.append(f"{NO_CAPACITY} (no sweep of it)")
    elif capacity is None:
        o.lost.append(f"{MISSES_SLO}: {sweep.capacity.reason}")
    elif sweep.simulated:
        o.detail.append("capacity measured on the emulator")
    o.cost = replace(o.cost, capacity=capacity)
    # money: the same CostOption arithmetic as the cost projection, at this peak and volume
    if o.kind == SERVERLESS:
        price = prices.token_price(o.model, SERVERLESS) if o.model else None
        per_request = None
        if price is not None and price.known:
            try:
                profile = TrafficProfile.from_run(run_dir, per_day, deployment=o.quality_from)
                per_request = serverless_cost_per_request(price, profile)
            except ValueError as exc:
                o.detail.append(str(exc))
        if per_request is None:
            o.lost.append(f"{NO_PRICE} (serverless token price unknown)")
        else:
            o.cost = replace(o.cost, per_request_usd=per_request, peak_rps=peak, requests_per_day=per_day)
        if capacity is not None and capacity.throughput_rps < peak:
            held = f"the sweep held it up to {capacity.throughput_rps:g} req/s < {float(peak):g}"  # 40 whether given as 40 or 40.0, as summary() says
            o.lost.append(f"{MISSES_SLO} at peak: {held} (serverless is quota-bound; ask for more quota)")
        return
    if o.kind == PROVISIONED:
        _price_provisioned(o, run_dir, peak, per_day, prices, catalog)
        return
    hourly, _ = machine_price(o.compute, prices)
    if o.compute is None or hourly is None:
        o.lost.append(f"{NO_PRICE} (no VM SKU or usd_per_hour for its compute)")
        return
    o.cost = fixed_capacity_cost(o.label, o.kind, hourly, capacity, peak_rps=peak, requests_per_day=per_day, hours_per_day=o.compute.hours_per_day,
                                 model=o.model, instances=o.compute.instances, deployments=(o.deployment,) if o.deployment else ())  # fmt: skip
    if o.cost.note:
        o.detail.append(o.cost.note)


def _price_provisioned(o: Option, run_dir: Path, peak: Decimal, per_day: Decimal, prices: PriceBook, catalog: Catalog) -> None:
    """A PTU option: PTUs for the peak from the token mix of the deployment whose answers stand for it (``cost.provisioned``)."""
    offer = catalog.get(o.model).offer(PROVISIONED) if o.model and o.model in catalog else None
    if offer is None or offer.provisioned is None:
        o.lost.append(f"{NO_PRICE} ({o.model} has no provisioned offer in the catalog)")
        return
    try:
        profile = TrafficProfile.from_run(run_dir, per_day, deployment=o.quality_from)
    except ValueError as exc:
        o.lost.append(f"{NO_PRICE} (no token mix to size PTUs: {exc})")
        return
    price = prices.ptu_price(o.model) if o.model else None
    o.cost = replace(provisioned_option(o.model or "", offer.provisioned, price, profile.input_tokens, profile.output_tokens, peak_rps=peak,
                                        requests_per_day=per_day, label=o.label, deployments=o.cost.deployments), capacity=o.cost.capacity)  # fmt: skip
    if price is None or not price.known:
        o.lost.append(f"{NO_PRICE} (no PTU price for {o.model})")
        return
    o.detail.append(f"{o.cost.ptus} PTU for {float(peak):g} req/s: {o.cost.capacity_source}; {o.cost.note}")


__all__ = ["COSTS_MORE", "MISSES_SLO", "NO_CAPACITY", "NO_PRICE", "RETIRED_WHY", "WORSE_QUALITY", "Option", "Recommendation", "recommend"]
