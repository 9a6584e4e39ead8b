"""Gates: ``--fail-if "quality_drop>2,ttft_p90_increase>20%,cost_per_1k_increase>10%"`` read, and judged on a comparison.

A condition fails only when it holds *and is statistically supported*:

* ``quality_drop>P`` (points): B is worse than A by more than P points — the non-inferiority test of
  B against A at margin P says *inferior* (its one-sided 95% upper bound of B - A is below -P);
* ``<metric>_<p50|p90>_increase>N%`` (``ttft``, ``itl``, ``e2e``): the 95% bootstrap interval of the
  percentile's change lies above N%;
* ``cost_per_1k_increase>N%``: the 95% bootstrap interval of the mean cost a request lies above N%
  (deployments billed by the hour: the figure itself, which has no sampling error of its own);
* on one run (or run B) against absolute targets: ``score<S`` (S in 0-1, or a percentage) fails
  when the score's 95% interval lies below S; ``error_rate>N%`` when its interval lies above N%.

Every condition is judged per deployment (one failing deployment fails it) and gives one line of
reason. A condition the runs cannot answer (no latency at time scale 0, no shared deployment) is
``not evaluated``, said on its line, and does not fail the gate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llama_eval.errors import GateError
from llama_eval.quality.noninferiority import INFERIOR, non_inferiority

from .result import RunComparison

LATENCY = tuple(f"{m}_{s}_increase" for m in ("ttft", "itl", "e2e") for s in ("p50", "p90"))
RELATIVE = ("quality_drop", *LATENCY, "cost_per_1k_increase")
ABSOLUTE = ("score", "error_rate")
OPERATOR = {"quality_drop": ">", "cost_per_1k_increase": ">", "score": "<", "error_rate": ">"} | dict.fromkeys(LATENCY, ">")
_TOKEN = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|<|>|=)?\s*([-+]?[0-9]*\.?[0-9]+)?\s*(%|points?)?\s*$")
ALLOWED = (
    "quality_drop>POINTS, ttft|itl|e2e_p50|p90_increase>N%, cost_per_1k_increase>N% (comparing two runs); "
    "score<S (0-1 or N%), error_rate>N% (one run, or run B)"
)


@dataclass(frozen=True)
class Condition:
    """One parsed condition: ``name`` ``operator`` ``threshold`` (points for quality_drop, a share for the rest: 20% -> 0.2)."""

    name: str
    operator: str
    threshold: float
    text: str

    @property
    def relative(self) -> bool:
        return self.name in RELATIVE


@dataclass(frozen=True)
class GateResult:
    """A condition judged: ``failed`` (it holds and is supported), ``evaluated`` (the runs could answer it), and the line that says why."""

    condition: Condition
    failed: bool
    evaluated: bool
    reason: str

    def line(self) -> str:
        status = "FAIL" if self.failed else ("pass" if self.evaluated else "not evaluated")
        return f"{status}  {self.condition.text}: {self.reason}"


def parse_conditions(text: str, *, two_runs: bool = True) -> list[Condition]:
    """The conditions of a ``--fail-if`` string; GateError naming the bad token and what is allowed."""
    out = []
    for token in text.split(","):
        if not token.strip():
            raise GateError(f"--fail-if {text!r}: an empty condition (two commas, or one at an end); allowed: {ALLOWED}")
        m = _TOKEN.match(token)
        if not m or m.group(3) is None:
            raise GateError(f"--fail-if: cannot read {token.strip()!r}: write NAME OP NUMBER, e.g. quality_drop>2 or ttft_p90_increase>20%; allowed: {ALLOWED}")
        name, op, number, unit = m.group(1), m.group(2), float(m.group(3)), m.group(4)
        if name not in OPERATOR:
            raise GateError(f"--fail-if: unknown condition {name!r} in {token.strip()!r}; allowed: {ALLOWED}")
        if op != OPERATOR[name]:
            raise GateError(f"--fail-if: {token.strip()!r}: {name} takes '{OPERATOR[name]}' (write {name}{OPERATOR[name]}{m.group(3)}{unit or ''})")
        if name in RELATIVE and not two_runs:
            raise GateError(f"--fail-if: {token.strip()!r} compares two runs; with one run give absolute targets: score<S, error_rate>N%")
        if name == "quality_drop":
            if unit == "%":
                raise GateError(f"--fail-if: {token.strip()!r}: quality_drop is in points (2 = 0.02 on a 0-1 score), not a percentage: write quality_drop>2")
            threshold = number
        elif name == "score":
            threshold = number / 100 if unit == "%" else number
            if not 0 <= threshold <= 1:
                raise GateError(f"--fail-if: {token.strip()!r}: a score is in 0-1 (or 0-100%)")
        else:
            if unit != "%" and name != "error_rate":
                raise GateError(f"--fail-if: {token.strip()!r}: give the increase as a percentage, e.g. {name}>{m.group(3)}%")
            threshold = number / 100 if unit == "%" else number
        out.append(Condition(name, op, threshold, token.strip()))
    return out


def _pct(x: float) -> str:
    return f"{100 * x:+.0f}%" if abs(x) >= 0.1 else f"{100 * x:+.1f}%"


def _judge(condition: Condition, comparison: RunComparison) -> GateResult:
    name, thr = condition.name, condition.threshold
    parts, failed = [], False
    if name == "quality_drop":
        for dep, (b, a) in comparison.paired.items():
            ni = non_inferiority(b, a, margin=thr / 100, names=("B", "A"))
            bad = ni.verdict == INFERIOR
            failed |= bad
            if not ni.n:
                parts.append(f"{dep}: no prompts scored in both runs")
                continue
            why = f"below -{thr:g}: supported" if bad else f"not below -{thr:g}: not supported"
            parts.append(f"{dep} B - A {100 * ni.diff:+.1f} points (one-sided 95% upper bound {100 * ni.high:+.1f}, {why}; {ni.n} prompts)")
    elif name in LATENCY:
        metric, stat = name.split("_")[:2]
        for s in comparison.latency:
            if s.metric.lower() == metric and s.statistic == stat:
                bad = s.low == s.low and s.low > thr
                failed |= bad
                where = "lies above" if bad else "does not lie above"
                figures = f"{s.a * 1000:,.0f} -> {s.b * 1000:,.0f} ms ({_pct(s.change)}, 95% [{_pct(s.low)}, {_pct(s.high)}] {where} {_pct(thr)})"
                parts.append(f"{s.deployment} {s.metric} {s.statistic} {figures}")
    elif name == "cost_per_1k_increase":
        for c in comparison.cost:
            if c.shift is not None:
                s = c.shift
                bad = s.low == s.low and s.low > thr
                where = "lies above" if bad else "does not lie above"
                per_1k = f"${c.per_1k_a:.4f} -> ${c.per_1k_b:.4f} per 1k " if c.per_1k_a is not None and c.per_1k_b is not None else ""
                parts.append(f"{c.deployment} {per_1k}({_pct(s.change)}, 95% [{_pct(s.low)}, {_pct(s.high)}] {where} {_pct(thr)})")
            elif c.change is not None:
                bad = c.change > thr
                parts.append(f"{c.deployment} ${c.per_1k_a:.4f} -> ${c.per_1k_b:.4f} per 1k ({_pct(c.change)}, {c.basis}; no sampling interval)")
            else:
                continue
            failed |= bad
    else:
        for t in comparison.targets:
            if t.metric != name:
                continue
            bad = t.high < thr if name == "score" else t.low > thr
            failed |= bad
            shown = f"{t.value:.3f} [{t.low:.3f}, {t.high:.3f}]" if name == "score" else f"{100 * t.value:.1f}% [{100 * t.low:.1f}%, {100 * t.high:.1f}%]"
            side = "below" if name == "score" else "above"
            target = f"{thr:g}" if name == "score" else f"{100 * thr:g}%"
            lies = "the interval lies" if bad else "the interval does not lie"
            parts.append(f"{t.deployment} {shown} ({lies} {side} {target}; {t.n} {'prompts' if name == 'score' else 'requests'})")
    if not parts:
        return GateResult(condition, False, False, NOTHING.get(name, NOTHING["latency"]))
    return GateResult(condition, failed, True, "; ".join(parts))


NOTHING = {
    "quality_drop": "no deployment was scored in both runs",
    "latency": "no deployment has latency in service time in both runs (an emulator at time scale 0, or no answers)",
    "cost_per_1k_increase": "no deployment has a cost per 1,000 requests in both runs (no token price, or billed by the hour without a sweep)",
    "score": "no deployment was scored",
    "error_rate": "no deployment has requests",
}


def judge(conditions: list[Condition], comparison: RunComparison) -> list[GateResult]:
    """Each condition judged on ``comparison`` (absolute ones on its ``targets``: run B's, or the one run's)."""
    return [_judge(c, comparison) for c in conditions]
