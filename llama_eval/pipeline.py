"""The report pipeline: run the report notebooks with papermill, export one standalone HTML page.

``build_report(run_dir, out_dir)`` executes 20_quality, 30_latency, 40_cost and 50_summary with
``run_dir`` injected (kernel ``python3``), keeps the executed notebooks beside the page, and writes
``index.html``: code cells hidden, plotly.js embedded once so it opens offline, the run's manifest
summary on top and, for a run answered by the emulator, "SIMULATED — ..." as its first line.
A notebook that fails stops the pipeline with its cell and error; what finished is kept.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import ReportError
from .paths import notebooks_dir
from .reports import SIMULATED_BANNER, is_simulated
from .results import read_manifest

NOTEBOOKS = ("20_quality", "30_latency", "40_cost", "50_summary")
TITLES = {"20_quality": "Quality", "30_latency": "Latency", "40_cost": "Cost", "50_summary": "Summary"}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 0 auto; padding: 0 1.5rem 4rem; color: #1d1d1f; }
.banner { background: #b00020; color: #fff; padding: .6rem 1rem; font-weight: 700; letter-spacing: .02em; }
header { border-bottom: 1px solid #ddd; padding: 1rem 0; }
nav a { margin-right: 1rem; }
section { margin-top: 2.5rem; }
table { border-collapse: collapse; font-size: .9rem; margin: .5rem 0; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; vertical-align: top; }
td { max-width: 40rem; white-space: pre-wrap; text-align: left; }
pre { background: #f6f8fa; padding: .5rem; overflow-x: auto; white-space: pre-wrap; }
.meta td, .meta th { text-align: left; }
"""


def _execute(name: str, run_dir: Path, out_dir: Path, parameters: dict[str, Any]) -> Path:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = notebooks_dir() / f"{name}.ipynb"
    target = out_dir / f"{name}.ipynb"
    try:
        papermill.execute_notebook(
            str(source),
            str(target),
            parameters={"run_dir": str(run_dir), **parameters},
            kernel_name="python3",
            progress_bar=False,
            cwd=str(out_dir),
        )
    except PapermillExecutionError as exc:
        raise ReportError(f"{name}.ipynb failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue} (the executed notebook is kept at {target})") from None
    return target


def _body(notebook: Path) -> str:
    """The notebook's outputs and markdown as an HTML fragment, code hidden."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="basic")
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    return body


def _meta_table(run_dir: Path) -> str:
    manifest = read_manifest(run_dir) or {}
    summary = manifest.get("summary", {})
    prompt_set = manifest.get("prompt_set", {})
    rows = {
        "run": manifest.get("run_id"),
        "status": manifest.get("status"),
        "started / finished": f"{manifest.get('started_at')} / {manifest.get('finished_at')}",
        "prompt set": f"{prompt_set.get('path')} ({prompt_set.get('items')} prompts, sha256 {str(prompt_set.get('sha256'))[:12]})",
        "deployments": ", ".join(
            f"{d.get('name')} ({d.get('model')}, {d.get('kind')}, {d.get('api')})" for d in manifest.get("fingerprint", {}).get("deployments", [])
        ),
        "requests": json.dumps(summary.get("by_status", {})),
        "price tables": f"{', '.join(manifest.get('prices', {}).get('tables', []))} (digest {manifest.get('prices', {}).get('digest')})",
        "versions": json.dumps(manifest.get("versions", {})),
    }
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows.items())
    return f'<table class="meta">{cells}</table>'


def build_report(run_dir: str | Path, out_dir: str | Path, *, requests_per_day: int = 10_000) -> Path:
    """Execute the report notebooks on ``run_dir`` and write ``out_dir/index.html``; returns its path."""
    import plotly.offline

    run_dir, out_dir = Path(run_dir).resolve(), Path(out_dir).resolve()
    if not (run_dir / "results.jsonl").exists():
        raise ReportError(f"{run_dir} holds no results.jsonl; run `llama-eval run` first")
    out_dir.mkdir(parents=True, exist_ok=True)
    bodies = []
    for name in NOTEBOOKS:
        extra = {"requests_per_day": requests_per_day} if name == "40_cost" else {}
        bodies.append((name, _body(_execute(name, run_dir, out_dir, extra))))
    simulated = is_simulated(run_dir)
    banner = f'<div class="banner">{html.escape(SIMULATED_BANNER)}</div>' if simulated else ""
    nav = "".join(f'<a href="#{n}">{TITLES[n]}</a>' for n, _ in bodies)
    sections = "".join(f'<section id="{n}">{body}</section>' for n, body in bodies)
    title = f"llama-eval report — {html.escape(run_dir.name)}"
    page = (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{STYLE}</style>'
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script></head><body>'
        f"{banner}<header><h1>{title}</h1><p>Generated {datetime.now(UTC).isoformat(timespec='seconds')} by llama-eval.</p>"
        f"{_meta_table(run_dir)}<nav>{nav}</nav></header>{sections}</body></html>"
    )
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
