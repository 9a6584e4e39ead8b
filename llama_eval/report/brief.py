"""The first screen of the report: the decision in words a manager reads in two minutes.

Built from the decision record (``llama_eval.decide.recommend``'s ``Recommendation``, as the summary
notebook computes it), never a second decision: the recommended option or "undecided" and why, its
monthly cost at the stated volume and peak, whether it meets the latency objective, how sure the
quality comparison is, what would change the decision; then one line per option, kept or lost and
the reason in a few words. The full reasons (tests, intervals, notes) are folded under it.
"""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

import pandas as pd

from llama_eval.decide import COSTS_MORE, NO_CAPACITY, NO_QUALITY, Option, Reason, Recommendation
from llama_eval.quality.noninferiority import NON_INFERIOR

from .view import notes_html, table

OPTION_LABELS = {
    "option": "Option",
    "kind": "Billed as",
    "verdict": "Verdict",
    "why": "Why, in a few words",
    "monthly": "USD per month",
    "per_1k": "USD per 1,000 requests",
    "quality": "Quality",
    "capacity": "Capacity (requests/s per instance)",
    "instances": "Instances",
}


def _usd(value: Decimal | float | None) -> str:
    return "no price" if value is None else f"${float(value):,.2f}"


def _pct(value: float | None) -> str:
    return "not scored" if value is None else f"{100 * value:.1f}%"


def _heads(reasons: list[Reason]) -> list[str]:
    """Each reason's head, in a few words (``decide.Reason.head``), each once."""
    return list(dict.fromkeys(r.head for r in reasons))


def short_reason(option: Option, chosen: Option | None) -> str:
    """Kept or lost, in a few words."""
    if option is chosen:
        return "lowest monthly cost of the options that pass every check"
    return ", ".join(_heads(option.lost)) or "passes every check"


def _best(decision: Recommendation) -> Option | None:
    scored = [o for o in decision.options if o.deployment and o.quality_mean is not None]
    return max(scored, key=lambda o: o.quality_mean or 0) if scored else None


def _monthly(option: Option | None) -> Decimal | None:
    """The option's monthly cost as every surface shows it (``Option.costed``: ``CostOption.cost_at``, to the cent)."""
    costed = option.costed if option is not None else None
    return costed.monthly_usd if costed is not None else None


def _per_1k(option: Option | None) -> Decimal | None:
    costed = option.costed if option is not None else None
    return costed.usd_per_1k_requests if costed is not None else None


def _only(option: Option, head: str) -> bool:
    return bool(option.lost) and all(r.head == head for r in option.lost)


def what_would_change(decision: Recommendation, hint: Any = None) -> list[str]:
    """Sentences: the undecided reasons, the cheaper options nobody swept, the runner-up's margin, the prompts a finer comparison needs."""
    chosen = decision.chosen
    out = list(decision.undecided_why)
    ceiling = _monthly(chosen)
    unswept = [o for o in decision.options if _only(o, NO_CAPACITY)]
    cheaper_unswept = [o for o in unswept if ceiling is None or _monthly(o) is None or (_monthly(o) or 0) < ceiling]
    if cheaper_unswept:
        out.append("A load sweep of " + ", ".join(o.label for o in cheaper_unswept) + ": without one their capacity, so their cost at the peak, is not known.")
    runner = next((o for o in decision.options if _only(o, COSTS_MORE)), None)
    theirs, mine = _monthly(runner), _monthly(chosen)
    if runner is not None and theirs and mine:
        gap = theirs - mine
        share = 100 * gap / mine
        out.append(f"A price change: the next option, {runner.label}, costs {_usd(gap)} ({share:,.0f}%) more a month.")
    if hint is not None and not any("prompts" in w for w in out):
        out.append(f"More prompts: telling a {hint.difference_points}-point quality difference apart needs about {hint.prompts_needed} prompts.")
    unmeasured = [o.label for o in decision.options if _only(o, NO_QUALITY)]
    if unmeasured:
        out.append("Scores for " + ", ".join(unmeasured) + " (quality not measured).")
    return out or ["Nothing this run can see: every other option loses on a measured check."]


def _quality_sentence(decision: Recommendation) -> str:
    chosen, best = decision.chosen, _best(decision)
    if chosen is None or best is None:
        return "Quality: no option could be recommended, so no comparison to state."
    mine = _pct(chosen.quality_mean)
    if chosen.quality_from == best.deployment:
        return f"Quality: {mine}, the best score of the run."
    gap = 100 * ((best.quality_mean or 0) - (chosen.quality_mean or 0))
    verdict = chosen.quality_verdict
    if verdict is not None and verdict.verdict == NON_INFERIOR:
        bound = f"the one-sided {100 * verdict.level:.0f}% lower bound of the difference, {100 * verdict.low:+.1f} points"
        below = f"{gap:.1f} points below {best.deployment} ({_pct(best.quality_mean)})"
        return f"Quality: {mine}, {below}, and non-inferior: {bound}, is above the −{decision.margin_points:g}-point margin."
    return f"Quality: {mine}, {gap:.1f} points below {best.deployment} ({_pct(best.quality_mean)})."


def _slo_sentence(decision: Recommendation) -> str:
    chosen = decision.chosen
    peak = f"{float(decision.peak_rps):.3g} requests/s"
    if chosen is None:
        return f"Latency objective ({decision.slo}): no option shown to meet it at the peak of {peak}."
    cap = chosen.cost.capacity
    if cap is None:
        return f"Latency objective ({decision.slo}): not measured for {chosen.label}."
    where = " on the emulator" if cap.simulated else ""
    at_least = "at least " if cap.lower_bound else ""
    held = f"{at_least}{float(cap.per_instance_rps):.3g} requests/s" + (" per instance" if chosen.cost.fixed else "")
    return f"Latency objective ({decision.slo}): met at the peak of {peak}; a load sweep{where} held {held} within it."


def options_frame(decision: Recommendation) -> pd.DataFrame:
    """One row per option: kept or lost, why in a few words, its monthly cost and quality (numbers; gaps NaN)."""
    rows = [
        {
            "option": o.label,
            "kind": o.kind,
            "verdict": "recommended" if o is decision.chosen else ("lost" if o.lost else "kept"),
            "why": short_reason(o, decision.chosen),
            "quality": 100 * o.quality_mean if o.quality_mean is not None else float("nan"),
            "capacity": float(o.cost.capacity_rps) if o.cost.capacity_rps is not None else float("nan"),
            "instances": o.cost.instances if o.cost.instances else ("not measured" if o.cost.fixed else "per token"),
            "monthly": float(m) if (m := _monthly(o)) is not None else float("nan"),
            "per_1k": float(k) if (k := _per_1k(o)) is not None else float("nan"),
        }
        for o in decision.options
    ]
    return pd.DataFrame(rows).set_index("option")


def brief_html(decision: Recommendation, hint: Any = None) -> str:
    """The summary block for the top of the page (escaped): the decision, its facts, what would change it, one line per option."""
    chosen = decision.chosen
    traffic = f"at {float(decision.requests_per_day):,.0f} requests/day, peak {float(decision.peak_rps):.3g} requests/s"
    if chosen is None:
        head = "Undecided: no option passes every check"
        verdict = f"{head} {traffic}."
    else:
        instances = f" with {chosen.cost.instances} instance{'s' if chosen.cost.instances != 1 else ''}" if chosen.cost.instances else ""
        lead = "Recommended" if decision.decided else "Recommended, tentatively (see what would change it)"
        per_1k = _per_1k(chosen)
        per = f" (${per_1k:,.4f} per 1,000 requests)" if per_1k is not None else ""
        verdict = f"{lead}: {chosen.label} — {_usd(_monthly(chosen))} a month{per}{instances} {traffic}."
    facts = [_slo_sentence(decision), _quality_sentence(decision)]
    if decision.workload_sentence:  # the traffic shape the capacities (so the fixed-capacity costs) hold for
        facts.insert(1, decision.workload_sentence + ".")
    change = what_would_change(decision, hint)
    items = "".join(f"<li>{html.escape(f)}</li>" for f in facts)
    changes = "".join(f"<li>{html.escape(c)}</li>" for c in change)
    options = table(
        options_frame(decision),
        labels=OPTION_LABELS,
        money={"monthly": 2, "per_1k": 4},
        percent=["quality"],
        integer=["instances"],
        number={"capacity": 2},
        missing={"monthly": "not known", "per_1k": "not known", "quality": "not scored", "capacity": "not measured"},
        source=[
            "USD per month and per 1,000 requests at the stated volume and peak: the same figures as the cost projection and `llama-eval cost`.",
            "Per token: each model's own mean tokens in the run. Fixed capacity: sized from the measured capacity per instance.",
        ],
    )
    details = [f"{o.label}: " + "; ".join([*o.lost, *o.detail]) for o in decision.options if o.lost or o.detail]
    return (
        '<div class="brief" id="decision" data-first-screen>'
        f'<p class="verdict">{html.escape(verdict)}</p>'
        f'<ul class="facts">{items}</ul>'
        f'<p class="change-head">What would change the decision:</p><ul class="change">{changes}</ul>'
        f"{options}{notes_html(details, 'Every reason in full: tests, intervals, notes')}"
        "</div>"
    )


def show_brief(decision: Recommendation, hint: Any = None) -> None:
    from IPython.display import HTML, display

    display(HTML(brief_html(decision, hint)), metadata={"llama_eval/brief": True})
