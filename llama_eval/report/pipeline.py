"""The report pipeline: run the report notebooks with papermill, export one standalone HTML page.

``build_report(run_dir, out_dir)`` executes 20_quality, 30_latency, 40_cost and 50_summary with
``run_dir`` injected, one after the other in one ``python3`` kernel (the run is read and the libraries imported
once: ``view.open_run`` hands the later notebooks the ``Run`` the first read), keeps the executed notebooks beside the page, and writes
``index.html``: the decision first (the summary notebook, whose first output is the brief a manager
reads), then quality, latency and cost; code cells hidden; plotly.js and the DataTables bundle of the
interactive tables embedded once so it opens offline; the page's stylesheet (``page.css``: no
horizontal scroll from 800 px up, a clean "Print to PDF"); the run's manifest folded under the
title and, for a run answered by the emulator, "SIMULATED — ..." as its first line.
Failed deployments and an incomplete or interrupted run get a banner under that line (``health``).
The traffic and objective the cost section and the decision assume (``requests_per_day``, ``peak_rps``,
``slo`` in the one SLO syntax of ``sweep`` and ``recommend``) default to ``llama_eval.defaults`` and are
stated on the page, with the emulator settings the run recorded when an emulator answered it.
Before the notebooks run, the run's final rows are written once to ``rows.parquet`` in the report folder
(``aggregates.write_rows``); the latency statistics, figures and the answers to read are DuckDB aggregates of it
(``aggregates``), so the page's size does not grow with the number of requests. The banners and the "About this
run" table are worked out in the same kernel (``page_facts``), not by reading the run again here.
A notebook that fails stops the pipeline with its cell and error; what finished is kept. The kernels'
own log lines (transport warnings, the interrupt it logs on shutdown) go to ``kernel.log``, not the terminal.
"""

from __future__ import annotations

import html
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from llama_eval import clock
from llama_eval.defaults import DEFAULT_PEAK_RPS, DEFAULT_REQUESTS_PER_DAY, DEFAULT_SLO
from llama_eval.errors import ReportError
from llama_eval.load.objectives import Slo
from llama_eval.paths import notebooks_dir
from llama_eval.rundir.health import RunHealth, assess_run
from llama_eval.rundir.run import Run, as_run

from .aggregates import write_rows
from .view import ITABLES_INIT, PAGE_DROPS, SIMULATED_BANNER, assumptions_line, emulator_settings

NOTEBOOKS = ("20_quality", "30_latency", "40_cost", "50_summary")  # the order they run in
PAGE_ORDER = ("50_summary", "20_quality", "30_latency", "40_cost")  # the order a reader meets them: the decision first
TITLES = {"20_quality": "Quality", "30_latency": "Latency", "40_cost": "Cost", "50_summary": "Decision"}
ROWS_READERS = ("20_quality", "30_latency", "50_summary")  # notebooks that take rows_file, the run's rows in Parquet (aggregates.ROWS_FILE)
SECTION_IDS = {"50_summary": "decision-section", "20_quality": "quality", "30_latency": "latency", "40_cost": "cost"}


def stylesheet() -> str:
    """The page's CSS (``page.css`` beside this module)."""
    return (Path(__file__).parent / "page.css").read_text(encoding="utf-8")


def _quiet_kernel_manager(log: IO[bytes]) -> type:
    """A kernel manager whose kernel writes its own log (transport warnings, the KeyboardInterrupt it logs
    when shut down) to ``log`` instead of our terminal. Cell output and cell errors still reach the notebook."""
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            kw["stderr"] = log
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return QuietKernelManager


def _execute(name: str, run_dir: Path, out_dir: Path, parameters: dict[str, Any], kernel: Any = None, *, source: Any = None,
             target: Path | None = None) -> Path:  # fmt: skip
    """Run one report notebook with papermill; ``kernel`` (``_shared_kernel``): the kernel every notebook of the report runs in.
    ``source``: a notebook node to run instead of the packaged notebook ``name``, written to ``target``."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = source if source is not None else str(notebooks_dir() / f"{name}.ipynb")
    target = target or out_dir / f"{name}.ipynb"
    kernel_log = out_dir / "kernel.log"
    own = {"km": kernel, "engine_name": SHARED_KERNEL_ENGINE} if kernel is not None else {}
    with kernel_log.open("ab") as log:
        try:
            papermill.execute_notebook(
                source,
                str(target),
                parameters={"run_dir": str(run_dir), **parameters},
                kernel_name="python3",
                progress_bar=False,
                cwd=str(out_dir),
                kernel_manager_class=_quiet_kernel_manager(log),
                **own,
            )
        except PapermillExecutionError as exc:
            raise ReportError(f"{name}.ipynb failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue} (the executed notebook is kept at {target})") from None
        except RuntimeError as exc:  # the kernel died or did not start: its own log says why
            tail = kernel_log.read_text(encoding="utf-8", errors="replace")[-1500:]
            raise ReportError(f"{name}.ipynb: the kernel failed ({exc}); its log ({kernel_log}) ends:\n{tail}") from None
    return target


SHARED_KERNEL_ENGINE = "llama-eval-shared-kernel"  # papermill's nbclient engine, closing each notebook's client of the shared kernel


def _register_shared_kernel_engine() -> None:
    """papermill's nbclient engine, except that each notebook's kernel client is closed when the notebook ends.

    A client of a kernel it did not start (``km=`` given) is left open by nbclient, and jupyter_client then complains on
    stderr when it is collected ("Could not destroy zmq context"); the kernel itself stays up for the next notebook."""
    from papermill.engines import NBClientEngine, PapermillNotebookClient, papermill_engines
    from papermill.log import logger

    class SharedKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False, stdout_file: Any = None, stderr_file: Any = None,
                                     start_timeout: int = 60, execution_timeout: int | None = None, **kwargs: Any) -> Any:  # fmt: skip
            passed = {k: v for k, v in kwargs.items() if k not in ("input_path", "timeout", "startup_timeout")}
            client = PapermillNotebookClient(nb_man, timeout=execution_timeout or kwargs.get("timeout"), startup_timeout=start_timeout, kernel_name=kernel_name,
                                             log=logger, log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file, **passed)  # fmt: skip
            try:
                return client.execute()
            finally:
                if client.kc is not None:
                    client.kc.stop_channels()

    papermill_engines.register(SHARED_KERNEL_ENGINE, SharedKernelEngine)


@contextmanager
def _shared_kernel(out_dir: Path) -> Iterator[Any]:
    """One kernel for every notebook of a report, shut down at the end: the run is read and the libraries imported once.

    Each notebook still starts from its own parameters and reads the run through ``view.open_run``, which hands
    the kernel's already-read ``Run`` back while ``results.jsonl`` and ``manifest.json`` are unchanged."""
    from jupyter_core.utils import run_sync

    _register_shared_kernel_engine()
    with (out_dir / "kernel.log").open("ab") as log:
        kernel = _quiet_kernel_manager(log)(kernel_name="python3")
        try:
            yield kernel
        finally:
            if kernel.has_kernel:
                run_sync(kernel.shutdown_kernel)(now=True)


def _body(notebook: Path) -> tuple[str, bool]:
    """The notebook's outputs and markdown as an HTML fragment, code hidden, and whether it had an interactive table.

    Outputs the page shows once elsewhere are left out: the SIMULATED line (the page's banner) and
    the DataTables bundle (embedded once in the page's head)."""
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.read(notebook, as_version=4)
    interactive = False
    for cell in node.cells:
        kept = []
        for output in cell.get("outputs", []):
            meta = output.get("metadata") or {}
            if meta.get(ITABLES_INIT):
                interactive = True
            if meta.get(ITABLES_INIT) or meta.get(PAGE_DROPS):
                continue
            kept.append(output)
        if "outputs" in cell:
            cell.outputs = kept
    exporter = HTMLExporter(template_name="basic")
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(node)
    return body, interactive


def _datatables() -> str:
    """The DataTables bundle of itables, inline (offline), for the page's interactive tables."""
    from itables import options
    from itables.javascript import generate_init_offline_itables_html

    return generate_init_offline_itables_html(options.dt_bundle)


def _text(value: Any, missing: str) -> str:
    return missing if value in (None, "", "None") else str(value)


def _meta_table(run: Run, health: RunHealth, requests_per_day: int, peak_rps: float | None, slo: str) -> str:
    manifest = run.manifest
    prompt_set = manifest.prompt_set
    deployments = manifest.deployments.values()
    rows = {
        "run": _text(manifest.run_id, run.name),
        "status": f"{health.state}{'' if health.manifest_status == 'completed' else f' (manifest: {health.manifest_status})'}; "
        f"{health.rows:,} of {health.expected:,} planned requests have a result",
        "started / finished": f"{_text(manifest.started_at, 'not recorded')} / {_text(manifest.finished_at, 'not finished')}",
        "prompt set": f"{_text(prompt_set.path, 'not recorded')} ({_text(prompt_set.items, 'unknown number of')} prompts, "
        f"sha256 {_text(prompt_set.sha256, 'not recorded')[:12]})",
        "deployments": ", ".join(f"{d.get('name')} ({_text(d.get('model'), 'no model')}, {_text(d.get('kind'), 'kind not recorded')})" for d in deployments)
        or "not recorded",
        "requests": ", ".join(f"{k} {v}" for k, v in sorted((manifest.summary.get("by_status") or {}).items())) or "not recorded",
        "assumed traffic and objective": assumptions_line(requests_per_day, peak_rps, slo).replace("`", "")
        + " (llama-eval report --requests-per-day, --peak-rps, --slo)",
        "price tables": f"{', '.join(manifest.price_tables) or 'not recorded'} (digest {_text(manifest.price_digest, 'not recorded')})",
        "versions": ", ".join(f"{k} {v}" for k, v in manifest.versions.items() if v) or "not recorded",
    }
    settings = emulator_settings(run)
    if settings:
        rows["emulator (SIMULATED)"] = "; ".join(settings)
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows.items())
    return f'<table class="meta">{cells}</table>'


def banners(run: Run | str | Path, health: RunHealth) -> list[tuple[str, str]]:
    """(css class, text) of the banners on top of the page: simulated first, then each failed deployment, answers cut short, an incomplete run."""
    out = [("banner", SIMULATED_BANNER)] if as_run(run).simulated else []
    for d in health.excluded:
        out.append(("banner failed", f"Not judged — {d.sentence()}"))
    for text in health.cut_short():
        out.append(("banner partial", f"Answers cut short — {text}"))
    run_banner = health.run_banner()
    if run_banner:
        out.append(("banner partial", run_banner))
    return out


def slo_from_ttft(ttft_p90_slo_s: float) -> str:
    """The ``--slo`` text of the deprecated ``--ttft-p90-slo-s N`` / ``ttft_p90_slo_s=N``: ``"ttft_p90<=N"``."""
    return f"ttft_p90<={ttft_p90_slo_s:g}"


FACTS_NOTEBOOK = ".page_facts.ipynb"  # the step that reads the page's own facts in the report's kernel (removed when read)


def page_facts(run: Run, requests_per_day: int, peak_rps: float | None, slo: str) -> str:
    """The page's banners and its "About this run" table, as JSON text: worked out in the kernel that already holds the run."""
    health = assess_run(run)
    return json.dumps({"banners": banners(run, health), "meta": _meta_table(run, health, requests_per_day, peak_rps, slo)})


def _facts(run_dir: Path, out_dir: Path, kernel: Any, requests_per_day: int, peak_rps: float | None, slo: str) -> dict[str, Any]:
    """``page_facts`` run in the report's kernel (the run it read is reused, not read again in this process)."""
    import nbformat

    parameters = nbformat.v4.new_code_cell("run_dir = None", metadata={"tags": ["parameters"]})
    code = ("from llama_eval.report import pipeline, view\n"
            f"print(pipeline.page_facts(view.open_run(run_dir), {requests_per_day!r}, {peak_rps!r}, {slo!r}))")  # fmt: skip
    metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}, "language_info": {"name": "python"}}
    node = nbformat.v4.new_notebook(cells=[parameters, nbformat.v4.new_code_cell(code)], metadata=metadata)
    target = _execute("page facts", run_dir, out_dir, {}, kernel, source=node, target=out_dir / FACTS_NOTEBOOK)
    outputs = nbformat.read(target, as_version=4).cells[-1].outputs
    target.unlink()
    return json.loads("".join(o.get("text", "") for o in outputs if o.get("name") == "stdout"))


def _sections(run_dir: Path, out_dir: Path, rows_file: Path, *, requests_per_day: int, peak_rps: float | None, slo: str,
              baseline: Path | None) -> tuple[dict[str, str], bool, dict[str, Any]]:  # fmt: skip
    """Each notebook executed (one shared kernel) and exported: its HTML body by name, whether any had an interactive table,
    and the page's own facts (``page_facts``)."""
    bodies: dict[str, str] = {}
    interactive = False
    with _shared_kernel(out_dir) as kernel:
        for name in NOTEBOOKS:
            traffic = {"requests_per_day": requests_per_day, "slo": slo, "peak_rps": peak_rps}
            extra = traffic if name in ("40_cost", "50_summary") else ({"slo": slo} if name == "30_latency" else {})
            if name in ROWS_READERS:
                extra = {**extra, "rows_file": str(rows_file)}
            if name == "50_summary" and baseline is not None:
                extra = {**extra, "baseline_dir": str(baseline)}
            bodies[name], has_tables = _body(_execute(name, run_dir, out_dir, extra, kernel))
            interactive |= has_tables
        facts = _facts(run_dir, out_dir, kernel, requests_per_day, peak_rps, slo)
    return bodies, interactive, facts


def build_report(run_dir: str | Path, out_dir: str | Path, *, requests_per_day: int = DEFAULT_REQUESTS_PER_DAY, peak_rps: float | None = DEFAULT_PEAK_RPS,
                 slo: str = DEFAULT_SLO, ttft_p90_slo_s: float | None = None, baseline: str | Path | None = None) -> Path:  # fmt: skip
    """Execute the report notebooks on ``run_dir`` and write ``out_dir/index.html``; returns its path.

    ``requests_per_day``, ``peak_rps`` (None: the day's average) and ``slo`` (the SLO syntax of ``sweep`` and
    ``recommend``, e.g. ``"ttft_p90<=1.0"``) are the production traffic and latency objective that the cost
    section and the decision assume; their defaults are ``llama_eval.defaults``'. ``ttft_p90_slo_s`` is the
    deprecated form of ``slo="ttft_p90<=N"`` (DeprecationWarning). ``baseline``: an earlier run the summary
    compares this one with (``llama-eval compare BASELINE RUN``'s tables), checked before any notebook runs.
    """
    if ttft_p90_slo_s is not None:
        if ttft_p90_slo_s <= 0:
            raise ReportError(f"ttft_p90_slo_s must be > 0 seconds, got {ttft_p90_slo_s}")
        warnings.warn(f"ttft_p90_slo_s is deprecated: pass slo={slo_from_ttft(ttft_p90_slo_s)!r}", DeprecationWarning, stacklevel=2)
        slo = slo_from_ttft(ttft_p90_slo_s)
    if peak_rps is not None and peak_rps <= 0:
        raise ReportError(f"peak_rps must be > 0 requests/s, got {peak_rps}; leave it out to use the day's average")
    if requests_per_day <= 0:
        raise ReportError(f"requests_per_day must be > 0, got {requests_per_day}")
    if Slo.parse(slo) is None:  # SloError, naming the term, before any notebook runs
        raise ReportError(f"slo is empty; give a latency objective such as {DEFAULT_SLO!r}")
    import plotly.offline

    run_dir, out_dir = Path(run_dir).resolve(), Path(out_dir).resolve()
    if not (run_dir / "results.jsonl").exists():
        raise ReportError(f"{run_dir} holds no results.jsonl; run `llama-eval run` first")
    if baseline is not None:
        baseline = Path(baseline).resolve()
        if not (baseline / "results.jsonl").exists():
            raise ReportError(f"baseline {baseline} holds no results.jsonl: give the run directory to compare with")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "kernel.log").unlink(missing_ok=True)
    rows_file = write_rows(run_dir, out_dir)  # the run read once into Parquet: the sections aggregate it with DuckDB
    bodies, interactive, facts = _sections(run_dir, out_dir, rows_file, requests_per_day=requests_per_day, peak_rps=peak_rps, slo=slo,
                                           baseline=baseline)  # fmt: skip
    top = "".join(f'<div class="{css}">{html.escape(text)}</div>' for css, text in facts["banners"])
    nav = "".join(f'<a href="#{SECTION_IDS[n]}">{TITLES[n]}</a>' for n in PAGE_ORDER)
    sections = "".join(f'<section id="{SECTION_IDS[n]}">{bodies[n]}</section>' for n in PAGE_ORDER)
    title = f"llama-eval report — {html.escape(run_dir.name)}"
    about = f"<details><summary>About this run: status, prompt set, deployments, assumed traffic and objective, prices, versions, emulator</summary>{facts['meta']}</details>"  # noqa: E501
    page = (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
        f"<style>{stylesheet()}</style>"
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script></head><body>'
        f"{top}<header><h1>{title}</h1><p>Generated {clock.now().isoformat(timespec='seconds')} by llama-eval.</p>"
        f"<nav>{nav}</nav>{about}</header>{sections}{_datatables() if interactive else ''}</body></html>"
    )
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
