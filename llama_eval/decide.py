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
* then the lowest monthly cost at ``requests_per_day`` (``unitcost`` for fixed capacity, the run's
  token means × the token price for serverless).

When no option passes, or quality could not be compared (too few prompts), ``Recommendation.decided``
is False and ``Recommendation.undecided_why`` says why in words: the data cannot decide.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.catalog.models import RETIRED, Catalog, load_catalog
from llama_eval.catalog.prices import PriceBook, load_prices_for_run
from llama_eval.cost.fixed import NOT_MEASURED, MeasuredCapacity, fixed_capacity_cost, hourly_price
from llama_eval.cost.projection import HOURS_PER_MONTH, TrafficProfile, serverless_cost_per_request
from llama_eval.load.slo import STORED_SWEEPS, Slo, SweepResult, read_sweeps, stored_sweeps
from llama_eval.rundir.store import read_manifest

from .errors import RunError

# Why an option lost, in one place (the CLI, the notebook and tests use these words).
WORSE_QUALITY = "worse quality"
MISSES_SLO = "misses the SLO"
COSTS_MORE = "costs more"
RETIRED_WHY = "retired"
NO_CAPACITY = NOT_MEASURED
NO_PRICE = "no price"
NO_QUALITY = "quality not measured"
FIXED_KINDS = ("managed", "self-hosted")
CENT = Decimal("0.01")


@dataclass
class Option:
    """One way to serve one model, and how it fared."""

    label: str
    model: str | None
    kind: str
    deployment: str | None  # the run's deployment this is (None: another offer of the same model)
    quality_from: str | None  # the run deployment whose scores stand for this option
    compute: dict[str, Any] | None = None
    quality_mean: float | None = None
    quality_note: str = ""
    quality_undecided: bool = False  # too few prompts to tell it from the best
    capacity_rps: float | None = None  # per instance for fixed capacity; the deployment's for serverless
    instances: int | None = None
    monthly_usd: Decimal | None = None
    per_1k_usd: Decimal | None = None
    lost: list[str] = field(default_factory=list)  # reasons, worst first; empty for the winner
    detail: list[str] = field(default_factory=list)

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
        import pandas as pd

        rows = []
        for o in self.options:
            rows.append(
                {
                    "option": o.label,
                    "kind": o.kind,
                    "quality": o.quality_mean,
                    "capacity_rps": o.capacity_rps,
                    "instances": o.instances,
                    "monthly_usd": o.monthly_usd.quantize(CENT) if o.monthly_usd is not None else None,
                    "usd_per_1k_requests": o.per_1k_usd.quantize(Decimal("0.0001")) if o.per_1k_usd is not None else None,
                    "verdict": "chosen" if o is self.chosen else ("lost: " + "; ".join(o.lost) if o.lost else "eligible"),
                    "detail": "; ".join(o.detail),
                }
            )
        return pd.DataFrame(rows)

    def summary(self) -> str:
        head = f"peak {float(self.peak_rps):g} req/s, {self.requests_per_day:,.0f} requests/day, SLO {self.slo}"
        if self.chosen is None:
            return f"No option can be recommended ({head}): " + "; ".join(self.undecided_why)
        text = f"Recommended: {self.chosen.label} — ${self.chosen.monthly_usd:,.2f} a month"
        if self.chosen.instances:
            text += f" with {self.chosen.instances} instance{'s' if self.chosen.instances != 1 else ''}"
        text += f" ({head})"
        if self.undecided_why:
            text += ". But the data cannot fully decide: " + "; ".join(self.undecided_why)
        return text


def _quality(run_dir: Path, seed: int) -> dict[str, Any]:
    path = run_dir / "scores_summary.json"
    if path.exists():
        return json.loads(path.read_text())
    from llama_eval.quality.scoring import score_run

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
    options = []
    seen: set[tuple[str | None, str]] = set()
    for r in records:
        option = Option(r["name"], r.get("model"), r.get("kind", "serverless"), r["name"], r["name"], compute=r.get("compute"))
        if option.kind == "managed" and not option.compute and option.model in catalog:
            offer = catalog.get(option.model).offer("managed")
            if offer is not None and offer.recommended_sku:  # as the cost projection does: the smallest VM that fits the weights
                option.compute = {"sku": offer.recommended_sku, "instances": 1}
                option.detail.append(f"VM: the catalog's recommended {offer.recommended_sku} (the deployment names no compute)")
        options.append(option)
        seen.add((r.get("model"), r.get("kind", "serverless")))
    for r in records:  # the same models' other offers, where the catalog has them
        model_id = r.get("model")
        if not model_id or model_id not in catalog:
            continue
        model = catalog.get(model_id)
        for kind, offer in model.offers.items():
            if (model_id, kind) in seen:
                continue
            seen.add((model_id, kind))
            compute = {"sku": offer.recommended_sku, "instances": 1} if kind == "managed" and offer.recommended_sku else None
            label = f"{model_id} ({kind}{', ' + offer.recommended_sku if compute else ''})"
            options.append(Option(label, model_id, kind, None, r["name"], compute=compute))
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
    chosen = min(eligible, key=lambda o: o.monthly_usd) if eligible else None
    for o in eligible:
        if o is not chosen:
            o.lost.append(f"{COSTS_MORE} (${o.monthly_usd:,.2f} vs ${chosen.monthly_usd:,.2f} a month)")
    undecided: list[str] = []
    if chosen is None:
        undecided = _why_none(options, notes)
    elif chosen.quality_undecided:
        undecided = [f"{chosen.label} is the cheapest that passes, but its quality {chosen.quality_note}"]
    elif best is not None and chosen.quality_from != best:
        undecided = _low_power(chosen, best, summary_means, quality)
    options.sort(key=lambda o: (o is not chosen, not o.eligible, o.monthly_usd is None, o.monthly_usd or 0))
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
    capacity = MeasuredCapacity.from_sweep(sweep, int((o.compute or {}).get("instances") or 1)) if sweep else None
    if sweep is None:
        o.lost.append(f"{NO_CAPACITY} (no sweep of it)")
    elif capacity is None:
        o.lost.append(f"{MISSES_SLO}: {sweep.capacity.reason}")
    else:
        o.capacity_rps = float(capacity.per_instance_rps)
        if sweep.simulated:
            o.detail.append("capacity measured on the emulator")
    # money
    if o.kind == "serverless":
        price = prices.token_price(o.model, "serverless") if o.model else None
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
            o.monthly_usd = per_request * per_day * HOURS_PER_MONTH / 24
            o.per_1k_usd = per_request * 1000
        if capacity is not None and capacity.throughput_rps < peak:
            held = f"the sweep held it up to {capacity.throughput_rps:g} req/s < {float(peak):g}"  # 40 whether given as 40 or 40.0, as summary() says
            o.lost.append(f"{MISSES_SLO} at peak: {held} (serverless is quota-bound; ask for more quota)")
        return
    hourly = hourly_price(o.compute, prices)
    if hourly is None:
        o.lost.append(f"{NO_PRICE} (no VM SKU or usd_per_hour for its compute)")
        return
    hours = Decimal(str((o.compute or {}).get("hours_per_day") or 24))
    cost = fixed_capacity_cost(o.label, o.kind, hourly, capacity, peak_rps=peak, requests_per_day=per_day, hours_per_day=hours)
    if cost.monthly_usd is not None:
        o.instances, o.monthly_usd = cost.instances, cost.monthly_usd
        o.per_1k_usd = cost.per_request_at_traffic_usd * 1000 if cost.per_request_at_traffic_usd is not None else None
    if cost.note:
        o.detail.append(cost.note)


__all__ = ["COSTS_MORE", "MISSES_SLO", "NO_CAPACITY", "NO_PRICE", "RETIRED_WHY", "WORSE_QUALITY", "Option", "Recommendation", "recommend"]
