"""A ``RunComparison`` as rows of cells, and as Markdown (the CI job summary); the terminal table (``cli/compare.py``) and the HTML page use the same rows.

``sections(comparison)`` gives each section's title, headers and rows of text cells, so the
terminal table, the Markdown and the HTML page say the same thing; model text never appears in
them (prompt ids, deployment names and figures only), and the HTML page escapes every cell anyway.
"""

from __future__ import annotations

import math
from decimal import Decimal

from .gates import GateResult
from .result import RunComparison

Section = tuple[str, list[str], list[list[str]]]

SIMULATED = "Simulated: answered by the llama-eval emulator; text, scores, latencies and costs are the emulator's, not a model's or Azure's."


def _pts(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:+.1f}"


def _pct(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:+.1f}%"


def _usd(x: Decimal | None) -> str:
    if x is None:
        return "no figure"
    return f"-${-x:,.4f}" if x < 0 else f"${x:,.4f}"


def _score(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}"


def title(comparison: RunComparison) -> str:
    if comparison.run_a is None:
        return f"llama-eval: {comparison.run_b.name} against its targets"
    return f"llama-eval compare: {comparison.run_b.name} (B) against {comparison.run_a.name} (A, baseline)"


def sections(comparison: RunComparison) -> list[Section]:
    """Quality, latency, cost, what changed, prompts: title, headers, rows (text)."""
    c = comparison
    out: list[Section] = []
    if c.run_a is None:
        rows = [[t.deployment, t.metric, f"{t.value:.3f}", f"[{t.low:.3f}, {t.high:.3f}]", str(t.n)] for t in c.targets]
        return [("Figures of the run", ["deployment", "metric", "value", "95% interval", "n"], rows)]
    rows = [[q.deployment, q.tag or "(all)", str(q.prompts), _score(q.score_a), _score(q.score_b), _pts(q.diff), f"[{_pts(q.low)}, {_pts(q.high)}]",
             q.verdict.split(": ", 1)[-1]] for q in c.quality]  # fmt: skip
    out.append(("Quality (B - A, points; paired on prompts matched by id and content)",
                ["deployment", "tag", "prompts", "score A", "score B", "B - A", "95% interval", "verdict"], rows))  # fmt: skip
    rows = [[s.deployment, f"{s.metric} {s.statistic}", f"{s.a * 1000:,.0f} ms", f"{s.b * 1000:,.0f} ms", _pct(s.change), f"[{_pct(s.low)}, {_pct(s.high)}]",
             f"{s.requests_a}/{s.requests_b}"] for s in c.latency]  # fmt: skip
    out.append(("Latency (service time: measured ÷ time scale; 95% bootstrap intervals over requests)",
                ["deployment", "statistic", "A", "B", "change", "95% interval", "requests A/B"], rows))  # fmt: skip
    rows = []
    for k in c.cost:
        tokens = (f"{k.tokens_a[0]:.0f}+{k.tokens_a[1]:.0f} -> {k.tokens_b[0]:.0f}+{k.tokens_b[1]:.0f}" if k.tokens_a and k.tokens_b else "-")
        capacity = f"{k.capacity_a:.2f} -> {k.capacity_b:.2f} req/s" if k.capacity_a is not None and k.capacity_b is not None else "-"
        split = [_usd(x) if x is not None else "-" for x in (k.from_tokens, k.from_prices)]
        rows.append([k.deployment, k.kind, _usd(k.per_1k_a), _usd(k.per_1k_b), _pct(k.change), tokens, *split, capacity])
    out.append(("Cost per 1,000 requests (tokens in+out a request; the change split into tokens at A's prices, then prices)",
                ["deployment", "kind", "A", "B", "change", "tokens a request", "from tokens", "from prices", "capacity"], rows))  # fmt: skip
    out.append(("What else changed", ["area", "what", "A", "B"], [[x.area, x.what, x.a, x.b] for x in c.changes]))
    p = c.prompts
    out.append(("Prompts", ["matched", "changed (listed apart)", "only in A", "only in B", "basis"],
                [[str(len(p.shared)), str(len(p.changed)), str(len(p.only_a)), str(len(p.only_b)), p.basis]]))  # fmt: skip
    return out


def notes(comparison: RunComparison) -> list[str]:
    """The lines above the tables: simulated, warnings about how the runs were measured, notes."""
    lines = [SIMULATED] if comparison.simulated else []
    return lines + [f"Warning: {w}" for w in comparison.warnings] + list(comparison.notes)


def _md_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def markdown(comparison: RunComparison, gates: list[GateResult] | None = None) -> str:
    """GitHub-flavoured Markdown (``--markdown``: what a CI job writes to ``$GITHUB_STEP_SUMMARY``)."""
    lines = [f"## {_md_cell(title(comparison))}", ""]
    if gates:
        failed = [g for g in gates if g.failed]
        lines += [f"**Gate: {'FAILED' if failed else 'passed'}** ({len(failed)} of {len(gates)} conditions failed)", ""]
        lines += [f"- `{g.condition.text}` **{'FAIL' if g.failed else ('pass' if g.evaluated else 'not evaluated')}**: {_md_cell(g.reason)}" for g in gates]
        lines.append("")
    lines += [f"> {_md_cell(n)}" for n in notes(comparison)]
    if notes(comparison):
        lines.append("")
    for heading, headers, rows in sections(comparison):
        lines += [f"### {heading}", ""]
        if not rows:
            lines += ["(none)", ""]
            continue
        lines.append("| " + " | ".join(_md_cell(h) for h in headers) + " |")
        lines.append("|" + "|".join("---" for _ in headers) + "|")
        lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)
