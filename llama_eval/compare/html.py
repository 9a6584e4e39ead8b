"""A ``RunComparison`` as one HTML page in the report's style (``report/page.css``), every cell escaped.

The cells are prompt ids, deployment names, figures and sentences made here, but also values read
from the runs' manifests (deployment fields, paths): all of it is escaped (``html.escape``), so
nothing from a run can become markup.
"""

from __future__ import annotations

import html
from pathlib import Path

from .gates import GateResult
from .render import notes, sections, title
from .result import RunComparison

# the report's stylesheet, read as a file: the report package sits above this one and is not imported
PAGE_CSS = Path(__file__).resolve().parent.parent / "report" / "page.css"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<div class="table-scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def page(comparison: RunComparison, gates: list[GateResult] | None = None) -> str:
    """The whole page: banner (simulated), header, the gate's lines, warnings, then a section per table."""
    css = PAGE_CSS.read_text(encoding="utf-8") if PAGE_CSS.is_file() else ""
    parts = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title(comparison))}</title><style>{css}</style></head><body>"]
    if comparison.simulated:
        parts.append('<div class="banner">SIMULATED: answered by the llama-eval emulator, not by a model or Azure</div>')
    parts.append(f"<header><h1>{html.escape(title(comparison))}</h1>")
    if comparison.run_a is not None:
        parts.append(f"<p>A (baseline): {html.escape(str(comparison.run_a))}<br>B: {html.escape(str(comparison.run_b))}</p>")
    parts.append("</header>")
    if gates:
        failed = any(g.failed for g in gates)
        parts.append(f'<section><h2>Gate: {"FAILED" if failed else "passed"}</h2><ul>')
        parts += [f"<li><code>{html.escape(g.condition.text)}</code> <strong>{'FAIL' if g.failed else ('pass' if g.evaluated else 'not evaluated')}</strong>: "
                  f"{html.escape(g.reason)}</li>" for g in gates]  # fmt: skip
        parts.append("</ul></section>")
    lines = notes(comparison)
    if lines:
        parts.append("<section>" + "".join(f'<p class="banner partial">{html.escape(line)}</p>' for line in lines) + "</section>")
    for heading, headers, rows in sections(comparison):
        parts.append(f"<section><h2>{html.escape(heading)}</h2>{_table(headers, rows)}</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_page(comparison: RunComparison, path: str | Path, gates: list[GateResult] | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page(comparison, gates), encoding="utf-8")
    return path
