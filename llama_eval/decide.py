"""The decision the suite exists for: the cheapest option that is as good as the best and holds the SLO at peak.

Options are the run's deployments and, where the catalog offers them and they are not retired,
the same models' other offers (serverless or managed compute with the catalog's recommended VM).
An option wins only when all of these hold, and every other option is told why it lost:

* **quality** — no worse than the best-scoring deployment by more than a margin (``margin``, in
  points; 2 by default, see docs/guides/quality.md "Deciding: non-inferiority"): for each deployment
  against the best, one-sided 95% bounds of the paired difference on the prompts both answered
  (``llama_eval.quality.stats.non_inferiority``: the quality section's tests, each prompt's repeats
  averaged first, paired on prompt id) from the run's ``scores.jsonl`` (made by ``llama-eval score``;
  scored here if missing), and a verdict: **non-inferior** (lower bound above −margin),
  **inferior** (upper bound below −margin) or **undecided** (neither, or fewer than 10 shared
  prompts), with about how many prompts would settle it. Only the best itself and non-inferior
  options pass. Another offer of the same model is assumed to answer as that model did in the run;
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

So when no cheaper option is shown non-inferior, the cheapest of the best model's offers that meets
the SLO is chosen, and ``Recommendation.unsettled`` names the cheaper options whose only obstacle is
an undecided quality verdict, with the prompts that would likely settle each. One sentence renders
each verdict (``NonInferiority.text``): the table, the JSON, the summary line and the report repeat it.
When no option passes, ``Recommendation.decided`` is False and ``Recommendation.undecided_why`` says
why in words: the data cannot decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.catalog.models import RETIRED, Catalog, load_catalog
from llama_eval.catalog.prices import PriceBook, load_prices_for_run
from llama_eval.cost.fixed import NOT_MEASURED, SECONDS_PER_DAY, MeasuredCapacity
from llama_eval.cost.option import CostOption, OptionCost, fixed_capacity_cost, machine_price, serverless_option
from llama_eval.cost.provisioned import provisioned_option
from llama_eval.cost.traffic import option_token_means
from llama_eval.defaults import DEFAULT_PEAK_RPS, DEFAULT_REQUESTS_PER_DAY, DEFAULT_SLO
from llama_eval.deployments.model import Compute
from llama_eval.errors import RunError
from llama_eval.load.objectives import Slo
from llama_eval.load.slo import STORED_SWEEPS, SweepResult, read_sweeps, stored_sweeps
from llama_eval.load.workload import SweepWorkload, workloads_sentence
from llama_eval.quality.noninferiority import INFERIOR, MARGIN, NON_INFERIOR, UNDECIDED, NonInferiority, non_inferiority
from llama_eval.quality.scoring import SCORES, SUMMARY, read_quality_summary, score_run
from llama_eval.quality.stats import per_prompt
from llama_eval.quality.summary import QualitySummary
from llama_eval.records import MANAGED, PROVISIONED, SERVERLESS
from llama_eval.rundir.run import Run, as_run
from llama_eval.rundir.store import parse_line

# Why an option lost, in one place (the CLI, the notebook and tests use these words).
WORSE_QUALITY = f"quality {INFERIOR}"
QUALITY_UNDECIDED = f"quality {UNDECIDED}"
QUALITY_OK = f"quality {NON_INFERIOR}"
BEST_QUALITY = "best mean score"
MARGIN_POINTS = 100 * MARGIN  # the default margin, in points: `--margin 2`
MISSES_SLO = "misses the SLO"
COSTS_MORE = "costs more"
RETIRED_WHY = "retired"
NO_CAPACITY = NOT_MEASURED
NO_PRICE = "no price"
NO_QUALITY = "quality not measured"


class Reason(str):
    """Why an option lost: the whole sentence (a ``str``, as printed) and its ``head`` in a few words (one of the names above).

    The report's one-line verdicts show the head, the details fold under it; nobody has to cut the sentence at a ':' to find it.
    """

    head: str

    def __new__(cls, head: str, detail: str = "") -> Reason:
        reason = super().__new__(cls, head + detail)
        reason.head = head
        return reason


@dataclass
class Option:
    """One way to serve one model — its ``CostOption`` — and how it fared: quality, and why it lost."""

    cost: CostOption  # label, model, kind, capacity, instances, monthly_usd: the cost projection's record, priced the same way
    deployment: str | None  # the run's deployment this is (None: another offer of the same model)
    quality_from: str | None  # the run deployment whose scores stand for this option
    compute: Compute | None = None  # the machines a fixed option is costed on
    quality_mean: float | None = None
    quality_note: str = ""
    quality_verdict: NonInferiority | None = None  # against the best (None: it is the best model, or quality was not measured)
    lost: list[Reason] = field(default_factory=list)  # reasons, worst first; empty for the winner
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

    @property
    def costed(self) -> OptionCost | None:
        """Its monthly cost and cost per 1,000 requests at the decision's traffic (``CostOption.cost_at``, rounded as shown);
        None when it cannot be sized or priced (a fixed option without a measured capacity is never costed at its floor here)."""
        if self.cost.monthly_usd is None:
            return None
        return self.cost.cost_at()


@dataclass
class Recommendation:
    options: list[Option]
    chosen: Option | None
    slo: Slo
    peak_rps: Decimal
    requests_per_day: Decimal
    undecided_why: list[str] = field(default_factory=list)
    sweeps: dict[str, Path] = field(default_factory=dict)  # the sweep each deployment's capacity came from
    margin_points: float = MARGIN_POINTS  # the quality margin the verdicts were made at
    best: str | None = None  # the best-scoring deployment, the one every verdict is against
    unsettled: list[str] = field(default_factory=list)  # cheaper options only an undecided quality verdict kept out, with the prompts needed
    workloads: dict[str, SweepWorkload | None] = field(default_factory=dict)  # per swept deployment: the prompt set and arrivals its capacity was measured with

    @property
    def workload_sentence(self) -> str | None:
        """``Capacities measured with data/prompts/quickstart.jsonl (10 prompts), closed loop`` (None: no sweep): the workload
        the capacities, so the fixed-capacity costs and the SLO verdicts, hold for."""
        return workloads_sentence(self.workloads)

    @property
    def decided(self) -> bool:
        return self.chosen is not None and not self.undecided_why

    def frame(self):
        """The table the CLI prints and the summary notebook shows."""
        import pandas as pd  # imported on use: start-up time

        rows = []
        for o in self.options:
            c, costed = o.cost, o.costed
            rows.append(
                {
                    "option": o.label,
                    "kind": o.kind,
                    "quality": o.quality_mean,
                    "quality_verdict": o.quality_note,
                    "capacity_rps": float(c.capacity_rps) if c.capacity_rps is not None else None,
                    "instances": c.instances,
                    "monthly_usd": costed.monthly_usd if costed is not None else None,
                    "usd_per_1k_requests": costed.usd_per_1k_requests if costed is not None else None,
                    "verdict": "chosen" if o is self.chosen else ("lost: " + "; ".join(o.lost) if o.lost else "eligible"),
                    "detail": "; ".join(o.detail),
                }
            )
        return pd.DataFrame(rows)

    def to_json(self) -> dict[str, Any]:
        """The decision as ``llama-eval recommend --json`` prints it: the traffic, the choice, the summary sentence, one record per option.

        Money is the rounded Decimal of ``Option.costed`` as a string (``"9.30"``, ``"0.0306"``): the same figures as the table,
        the report and ``llama-eval cost --json``.
        """
        options = []
        for row, o in zip(self.frame().to_dict("records"), self.options, strict=True):
            costed = o.costed
            options.append(
                {
                    **{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()},
                    "model": o.model,
                    "deployment": o.deployment,
                    "monthly_usd": str(costed.monthly_usd) if costed and costed.monthly_usd is not None else None,
                    "usd_per_1k_requests": str(costed.usd_per_1k_requests) if costed and costed.usd_per_1k_requests is not None else None,
                }
            )
        return {
            "decided": self.decided,
            "chosen": self.chosen.label if self.chosen is not None else None,
            "summary": self.summary(),
            "traffic": {
                "requests_per_day": str(self.requests_per_day),
                "peak_rps": str(self.peak_rps),
                "slo": str(self.slo),
                "margin_points": self.margin_points,
            },
            "options": options,
            "sweeps": {name: str(path) for name, path in sorted(self.sweeps.items())},
            "workloads": {name: (w.to_json() if w is not None else None) for name, w in sorted(self.workloads.items())},
            "workload_sentence": self.workload_sentence,
        }

    def summary(self) -> str:
        head = f"peak {float(self.peak_rps):g} req/s, {self.requests_per_day:,.0f} requests/day, SLO {self.slo}"
        if self.chosen is None:
            return f"No option can be recommended ({head}): " + "; ".join(self.undecided_why)
        cost, costed = self.chosen.cost, self.chosen.costed
        assert costed is not None and costed.monthly_usd is not None  # chosen only when priced and sized
        text = f"Recommended: {self.chosen.label} — ${costed.monthly_usd:,.2f} a month (${costed.usd_per_1k_requests:,.4f} per 1,000 requests)"
        if cost.instances:
            text += f" with {cost.instances} instance{'s' if cost.instances != 1 else ''}"
        text += f"; {head}, quality margin {self.margin_points:g} points"
        text += f"; quality: {self.chosen.quality_note}" if self.chosen.quality_note else ""
        if self.unsettled:
            text += ". Cheaper, but quality undecided: " + "; ".join(self.unsettled)
        if self.undecided_why:
            text += ". But the data cannot fully decide: " + "; ".join(self.undecided_why)
        return text


def _quality(run_dir: Path, seed: int) -> tuple[QualitySummary, dict[str, dict[str, float]]]:
    """The scoring summary and each judged deployment's per-prompt scores (repeats averaged, as the quality section does).

    Both from the run's files (``scores_summary.json``, ``scores.jsonl``); the run is scored first
    when either is missing. Deployments the summary left out (stopped, mostly errors) are not judged.
    """
    if not (run_dir / SUMMARY).exists() or not (run_dir / SCORES).exists():
        score_run(run_dir, seed=seed)
    summary = read_quality_summary(run_dir)
    judged = set(summary.deployments)
    scores: dict[str, dict[str, list[float]]] = {name: {} for name in judged}
    with (run_dir / SCORES).open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = parse_line(line)  # orjson: a big run's scores read in a fraction of the time
            if row.get("deployment") in judged and row.get("scorer") is not None and row.get("score") is not None:
                scores[row["deployment"]].setdefault(row["prompt_id"], []).append(float(row["score"]))
    return summary, {name: per_prompt(prompt_scores)[0] for name, prompt_scores in scores.items()}


def _against_best(summary: QualitySummary, scores: dict[str, dict[str, float]], margin: float, seed: int) -> tuple[str | None, dict[str, NonInferiority]]:
    """The best deployment by mean score, and every other one's non-inferiority verdict against it on their shared prompts."""
    means = {name: d.mean for name, d in summary.deployments.items() if d.mean is not None}
    if not means:
        return None, {}
    best = max(means, key=lambda name: means[name])
    verdicts = {}
    for name in means:
        if name == best:
            continue
        shared = sorted(set(scores.get(name, {})) & set(scores.get(best, {})))
        option, top = [scores[name][p] for p in shared], [scores[best][p] for p in shared]
        verdicts[name] = non_inferiority(option, top, margin=margin, names=(name, best), seed=seed)
    return best, verdicts


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
    run: Run | str | Path,
    *,
    sweeps: Sequence[str | Path] = (),
    peak_rps: float | Decimal | None = DEFAULT_PEAK_RPS,
    requests_per_day: float | Decimal = DEFAULT_REQUESTS_PER_DAY,
    slo: str | Slo = DEFAULT_SLO,
    prices: PriceBook | None = None,
    catalog: Catalog | None = None,
    on: date | None = None,
    seed: int = 0,
    margin: float = MARGIN_POINTS,
) -> Recommendation:
    """Choose among a run's deployments (and their models' other offers); see the module docstring.

    ``margin`` is the quality loss against the best that is accepted, in points (2 = 0.02 on a 0–1
    score): an option is chosen only if its one-sided 95% lower bound is above −margin.

    ``sweeps`` are added to the run's stored ones (``RUN_DIR/sweeps/*``); one given for a deployment
    that has a stored sweep wins. ``prices`` default to the tables the run recorded, as the report's.
    ``run`` is a ``Run`` (``load_run``) or its directory, read once. The traffic and the objective
    default to ``llama_eval.defaults`` (10,000 requests/day, the day's average as the peak,
    ``ttft_p90<=1.0``), the same defaults as ``llama-eval cost``, ``recommend`` and ``report``.
    """
    run = as_run(run)
    run_dir = run.path
    judge = Slo.parse(slo)
    if judge is None:
        raise RunError("recommend needs an SLO, e.g. --slo 'ttft_p90<=1.0'")
    if not run.manifest.recorded:
        raise RunError(f"{run_dir}: no manifest.json; pass the directory of a `llama-eval run`")
    per_day = Decimal(str(requests_per_day))
    peak = Decimal(str(peak_rps)) if peak_rps is not None else per_day / SECONDS_PER_DAY  # None: the day's average, as the projection
    if peak <= 0 or per_day <= 0:
        raise RunError(f"--peak-rps and --requests-per-day must be > 0, got {peak} and {per_day}")
    catalog = catalog or load_catalog()
    prices = prices or load_prices_for_run(run_dir, catalog=catalog)
    records = run.manifest.fingerprint.get("deployments") or []
    if not records:
        raise RunError(f"{run_dir}/manifest.json lists no deployments (fingerprint.deployments); was it written by `llama-eval run`?")
    swept = _sweeps_of(run_dir, sweeps, judge, [r["name"] for r in records])
    if margin < 0:
        raise RunError(f"--margin is a quality loss in points (2 = 0.02 on a 0–1 score) and must be >= 0, got {margin}")
    summary, scores = _quality(run_dir, seed)
    best, verdicts = _against_best(summary, scores, margin / 100, seed)
    summary_means = {n: d.mean for n, d in summary.deployments.items()}
    options = _options(records, catalog)
    for o in options:
        _judge_option(o, run, swept.get(o.deployment or ""), judge, peak, per_day, prices, catalog, on, best, verdicts, summary_means)
    eligible = [o for o in options if o.eligible]
    chosen = min(eligible, key=lambda o: o.cost.monthly_usd) if eligible else None  # type: ignore[arg-type,return-value]
    for o in eligible:
        if o is not chosen:
            assert chosen is not None and o.cost.monthly_usd is not None and chosen.cost.monthly_usd is not None
            mine, theirs = o.costed, chosen.costed
            assert mine is not None and theirs is not None
            o.lost.append(Reason(COSTS_MORE, f" (${mine.monthly_usd:,.2f} vs ${theirs.monthly_usd:,.2f} a month)"))
    unsettled = _unsettled(options, chosen)
    undecided = _why_none(options, best) if chosen is None else []
    options.sort(key=lambda o: (o is not chosen, not o.eligible, o.cost.monthly_usd is None, o.cost.monthly_usd or 0))
    return Recommendation(options, chosen, judge, peak, per_day, undecided, {name: s.path for name, s in swept.items()}, float(margin), best, unsettled,
                          {name: s.workload for name, s in swept.items()})  # fmt: skip


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


def _unsettled(options: list[Option], chosen: Option | None) -> list[str]:
    """Options cheaper than the chosen one (all priced ones when none is chosen) that only an undecided quality verdict kept out."""
    out = []
    for o in options:
        if o is chosen or o.cost.monthly_usd is None or not o.lost or not all(r.head == QUALITY_UNDECIDED for r in o.lost):
            continue
        if chosen is not None and chosen.cost.monthly_usd is not None and o.cost.monthly_usd >= chosen.cost.monthly_usd:
            continue
        costed = o.costed
        assert costed is not None
        out.append(f"{o.label} (${costed.monthly_usd:,.2f} a month): {o.quality_note}")
    return out


def _why_none(options: list[Option], best: str | None) -> list[str]:
    reasons = {reason.head for o in options for reason in o.lost}
    why = []
    if best is None:
        why.append("no scores: the prompt set has no scorers or references, so quality cannot be compared")
    if NO_CAPACITY in reasons:
        why.append(f"{sum(any(r.head == NO_CAPACITY for r in o.lost) for o in options)} option(s) have no sweep: capacity not measured "
                   "(run `llama-eval sweep` on them with the same --slo)")  # fmt: skip
    if MISSES_SLO in reasons:
        why.append("the swept options miss the SLO at the peak")
    if WORSE_QUALITY in reasons:
        why.append(f"the options that pass the other checks are worse than {best} by more than the margin")
    if QUALITY_UNDECIDED in reasons:
        why.append(f"the quality of some options against {best} is undecided at this margin (more prompts would settle it)")
    return why or ["no option passed every check"]


def _judge_option(o: Option, run: Run, sweep: SweepResult | None, slo: Slo, peak: Decimal, per_day: Decimal, prices: PriceBook,
                  catalog: Catalog, on: date | None, best: str | None, verdicts: dict[str, NonInferiority], means: dict[str, float]) -> None:  # fmt: skip
    # quality: the best model passes; any other only when non-inferior to it
    o.quality_mean = means.get(o.quality_from or "")
    same = "" if o.deployment else f"same model as {o.quality_from}: "
    verdict = verdicts.get(o.quality_from or "")
    if best is not None and o.quality_from == best:
        o.quality_note = f"{same}{BEST_QUALITY}"
    elif verdict is None:
        o.lost.append(Reason(NO_QUALITY))
    else:
        o.quality_verdict = verdict
        o.quality_note = f"{same}{verdict.text()}"
        if verdict.verdict != NON_INFERIOR:  # "quality inferior: ..." or "quality undecided: ...": the verdict's own sentence
            o.lost.append(Reason(f"quality {verdict.verdict}", verdict.text().removeprefix(verdict.verdict)))
    if o.quality_note:
        o.detail.append(o.quality_note)
    # lifecycle
    model = catalog.get(o.model) if o.model and o.model in catalog else None
    offer = model.offer(o.kind) if model is not None else None
    if offer is not None and offer.status(on) == RETIRED:
        replacement = f"; use {offer.replacement}" if offer.replacement else ""
        o.lost.append(Reason(RETIRED_WHY, f" (the {o.kind} offer retired on {offer.retired}{replacement})"))
    # capacity and the SLO at peak
    capacity = MeasuredCapacity.from_sweep(sweep, o.compute.instances if o.compute else 1) if sweep else None
    if sweep is None:
        o.lost.append(Reason(NO_CAPACITY, " (no sweep of it)"))
    elif capacity is None:
        o.lost.append(Reason(MISSES_SLO, f": {sweep.capacity.reason}"))
    elif sweep.simulated:
        o.detail.append("capacity measured on the emulator")
    o.cost = replace(o.cost, capacity=capacity)
    # money: the same CostOption arithmetic as the cost projection, at this peak and volume
    if o.kind == SERVERLESS:  # the projection's arithmetic: cost.option.serverless_option on the model's own token means
        price = prices.token_price(o.model, SERVERLESS) if o.model else None
        means = None
        if price is not None and price.known and o.model:
            try:
                means = option_token_means(run, o.model, SERVERLESS)
            except ValueError as exc:
                o.detail.append(str(exc))
        priced = serverless_option(o.model or o.label, price, means, peak_rps=peak, requests_per_day=per_day, label=o.label, deployments=o.cost.deployments)
        if priced.per_request_usd is None:
            unknown = price is None or not price.known
            o.lost.append(Reason(NO_PRICE, " (serverless token price unknown)" if unknown else f" ({priced.note})"))
        else:
            o.cost = replace(priced, model=o.model, capacity=capacity)
        if capacity is not None and capacity.throughput_rps < peak:
            held = f"the sweep held it up to {capacity.throughput_rps:g} req/s < {float(peak):g}"  # 40 whether given as 40 or 40.0, as summary() says
            o.lost.append(Reason(MISSES_SLO, f" at peak: {held} (serverless is quota-bound; ask for more quota)"))
        return
    if o.kind == PROVISIONED:
        _price_provisioned(o, run, peak, per_day, prices, catalog)
        return
    hourly, _ = machine_price(o.compute, prices)
    if o.compute is None or hourly is None:
        o.lost.append(Reason(NO_PRICE, " (no VM SKU or usd_per_hour for its compute)"))
        return
    o.cost = fixed_capacity_cost(o.label, o.kind, hourly, capacity, peak_rps=peak, requests_per_day=per_day, hours_per_day=o.compute.hours_per_day,
                                 model=o.model, instances=o.compute.instances, deployments=(o.deployment,) if o.deployment else ())  # fmt: skip
    if o.cost.note:
        o.detail.append(o.cost.note)


def _price_provisioned(o: Option, run: Run, peak: Decimal, per_day: Decimal, prices: PriceBook, catalog: Catalog) -> None:
    """A PTU option: PTUs for the peak from the token mix of the deployment whose answers stand for it (``cost.provisioned``)."""
    offer = catalog.get(o.model).offer(PROVISIONED) if o.model and o.model in catalog else None
    if offer is None or offer.provisioned is None:
        o.lost.append(Reason(NO_PRICE, f" ({o.model} has no provisioned offer in the catalog)"))
        return
    try:
        mix = option_token_means(run, o.model or "", PROVISIONED)
    except ValueError as exc:
        o.lost.append(Reason(NO_PRICE, f" (no token mix to size PTUs: {exc})"))
        return
    price = prices.ptu_price(o.model) if o.model else None
    o.cost = replace(provisioned_option(o.model or "", offer.provisioned, price, mix.input_tokens, mix.output_tokens, peak_rps=peak,
                                        requests_per_day=per_day, label=o.label, deployments=o.cost.deployments), capacity=o.cost.capacity)  # fmt: skip
    if price is None or not price.known:
        o.lost.append(Reason(NO_PRICE, f" (no PTU price for {o.model})"))
        return
    o.detail.append(f"{o.cost.ptus} PTU for {float(peak):g} req/s: {o.cost.capacity_source}; {o.cost.note}")


__all__ = ["COSTS_MORE", "MARGIN_POINTS", "MISSES_SLO", "NO_CAPACITY", "NO_PRICE", "QUALITY_OK", "QUALITY_UNDECIDED", "RETIRED_WHY", "WORSE_QUALITY", "Option",
           "Reason", "Recommendation", "recommend"]  # fmt: skip
