"""What every report section shares: display helpers, the run's health, the answered rows.

Each report module (quality, latency, cost, summary) computes its section's tables and figures
from a ``Run`` (``llama_eval.load_run(run_dir)``, read once per notebook and passed to every call;
a run directory is also accepted and read). Notebooks call these and display the results; the
logic lives here so it is tested like the rest.
Figures are shown with ``show``: JupyterLab renders plotly's own mimetype, and the exported HTML
report uses a ``text/html`` copy *without* plotly.js, which the report page embeds once.
Model output is untrusted: every table goes through great_tables or itables, which escape every cell, never raw.

Tables for people (``table``): great_tables, no index, typed formats (money ``$71,773.60``, percent with one
decimal, integers as integers), units in the column labels, long texts moved out of the cells to numbered notes
under the table, inside a box that scrolls on its own when the window is narrow. Long per-prompt tables
(``interactive_table``): itables, offline (the DataTables bundle is embedded once per page, by the pipeline).
Figures (``show``): one colour per deployment, the same in every figure of the page (``palette``), the legend
under the plot.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from llama_eval.rundir.health import RunHealth, assess_run
from llama_eval.rundir.locate import check_run_dir
from llama_eval.rundir.run import Run, as_run, load_run

SIMULATED_BANNER = "SIMULATED — local emulator, not real model output"


# --------------------------------------------------------------------------- display


# Okabe & Ito's colour-blind-safe palette, then a few more; a deployment keeps its colour in every figure of a page.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7F7F7F", "#000000", "#8C564B", "#BCBD22")


def palette(run: Run | str | Path | Iterable[str]) -> dict[str, str]:
    """Deployment name -> colour, in the order the run's manifest lists them (so every notebook of a report agrees)."""
    if isinstance(run, Run | str | Path):
        loaded = as_run(run)
        names = list(loaded.manifest.deployments) or sorted({r.deployment for r in loaded.rows})
    else:
        names = list(run)
    return {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(names)}


def _owner(trace: Any, colours: Mapping[str, str]) -> str | None:
    """The deployment a trace draws: its legend group or name is the deployment's name, maybe followed by words."""
    for label in (getattr(trace, "legendgroup", None), getattr(trace, "name", None)):
        if not label:
            continue
        for name in sorted(colours, key=len, reverse=True):
            if label == name or label.startswith(name + " "):
                return name
    return None


def style_figure(fig: Any, colours: Mapping[str, str] | None = None) -> Any:
    """One look for every figure: each deployment's traces in its colour, the legend under the plot (never over the data)."""
    if colours:
        for trace in fig.data:
            owner = _owner(trace, colours)
            if owner is None:
                continue
            colour = colours[owner]
            if hasattr(trace, "line") and trace.type in ("scatter", "box"):
                trace.line.color = colour
            if hasattr(trace, "marker") and trace.type != "box" or trace.type == "box":
                trace.marker.color = colour
    fig.update_layout(
        template="plotly_white",
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0, "title": {"text": ""}},
        margin={"l": 60, "r": 20, "t": 70, "b": 60},
        title={"x": 0, "xanchor": "left"},
    )
    return fig


def figure_html(fig: Any) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True})


def show(fig: Any, colours: Mapping[str, str] | None = None) -> None:
    """Display a plotly figure in a notebook: interactive in JupyterLab, plain HTML in the exported report (None: nothing).

    ``colours`` (``palette(run)``): each deployment's traces in its colour."""
    from IPython.display import display

    if fig is None:
        return
    style_figure(fig, colours)
    display({"application/vnd.plotly.v1+json": fig.to_plotly_json(), "text/html": f'<div class="figure">{figure_html(fig)}</div>'}, raw=True)


# --------------------------------------------------------------------------- tables for people

CELL_LIMIT = 200  # characters: a longer text goes to a numbered note under its table
SHORT = 90  # what stays in the cell of a text moved to a note


def _moved_to_notes(frame: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, list[str]]:
    """Texts over ``limit`` characters cut to their start and a note number; the notes, in order."""
    notes: list[str] = []
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype != object:
            continue
        cells = []
        for value in out[column]:
            if isinstance(value, str) and len(value) > limit:
                notes.append(value)
                start = value[:SHORT].rsplit(" ", 1)[0].rstrip(" ,;:(")
                cells.append(f"{start}… (note {len(notes)})")
            else:
                cells.append(value)
        out[column] = cells
    return out, notes


def _is_number(value: Any) -> bool:
    from decimal import Decimal

    return isinstance(value, int | float | Decimal) and not isinstance(value, bool) and not pd.isna(value)


def notes_html(notes: Sequence[str], summary: str = "Notes") -> str:
    """Numbered notes (escaped), collapsed under a ``summary`` line."""
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f'<details class="notes"><summary>{html.escape(summary)} ({len(notes)})</summary><ol>{items}</ol></details>'


class Table:
    """An HTML table for a notebook and the report page (``_repr_html_``), and its text (``str``)."""

    def __init__(self, markup: str) -> None:
        self.markup = markup

    def _repr_html_(self) -> str:
        return self.markup

    def __str__(self) -> str:
        return self.markup


def table(
    frame: pd.DataFrame,
    *,
    labels: Mapping[str, str] | None = None,
    money: Mapping[str, int] | Sequence[str] = (),
    percent: Sequence[str] = (),
    integer: Sequence[str] = (),
    number: Mapping[str, int] | None = None,
    missing: Mapping[str, str] | None = None,
    spanners: Mapping[str, Sequence[str]] | None = None,
    footnotes: Mapping[str, str] | None = None,
    source: Sequence[str] = (),
    title: str | None = None,
    limit: int = CELL_LIMIT,
) -> Table:
    """``frame`` as a great_tables table: its index (when named) as the first column, no row numbers; ``money``
    columns as ``$1,234.56`` (a mapping gives decimals), ``percent`` columns (already 0-100) with one decimal,
    ``integer`` columns without decimals, ``number`` columns with the given decimals; a gap (NaN) says ``missing[column]``
    (else "—"). Texts over ``limit`` characters move to numbered notes under the table. Every cell is escaped."""
    from great_tables import GT, loc

    if frame.empty:
        return Table("")
    data = frame.reset_index() if any(n is not None for n in frame.index.names) else frame.reset_index(drop=True)
    data.columns = [str(c) for c in data.columns]
    data, notes = _moved_to_notes(data, limit)
    places = dict(money) if isinstance(money, Mapping) else dict.fromkeys(money, 2)
    formats: dict[str, Any] = {c: (lambda v, d=d: f"${v:,.{d}f}") for c, d in places.items()}
    formats |= {c: (lambda v: f"{v:.1f}%") for c in percent}
    formats |= {c: (lambda v: f"{v:,.0f}") for c in integer}
    formats |= {c: (lambda v, d=d: f"{v:,.{d}f}") for c, d in (number or {}).items()}
    typed = {}
    for column, fmt in formats.items():
        if column not in data.columns:
            continue
        if pd.api.types.is_numeric_dtype(data[column]):
            typed[column] = fmt
        else:  # numbers and words in one column: the numbers formatted here the same way, the words kept
            data[column] = [fmt(float(v)) if _is_number(v) else v for v in data[column]]
    gt = GT(data)
    for column, decimals in places.items():
        if column in typed:
            gt = gt.fmt_currency(columns=column, currency="USD", decimals=decimals)
    if [c for c in percent if c in typed]:
        gt = gt.fmt_percent(columns=[c for c in percent if c in typed], decimals=1, scale_values=False)
    if [c for c in integer if c in typed]:
        gt = gt.fmt_integer(columns=[c for c in integer if c in typed])
    for column, decimals in (number or {}).items():
        if column in typed:
            gt = gt.fmt_number(columns=column, decimals=decimals)
    gaps = missing or {}
    for column in data.columns:
        gt = gt.sub_missing(columns=column, missing_text=gaps.get(column, "—"))
    for label, columns in (spanners or {}).items():
        gt = gt.tab_spanner(label=label, columns=list(columns))
    if labels:
        gt = gt.cols_label(**{k: v for k, v in labels.items() if k in data.columns})
    for column, text in (footnotes or {}).items():
        if column in data.columns:
            gt = gt.tab_footnote(text, locations=loc.column_labels(columns=column))
    for line in source:
        gt = gt.tab_source_note(line)
    if title:
        gt = gt.tab_header(title=title)
    gt = gt.tab_options(table_font_size="14px", container_overflow_x="auto", table_margin_left="0", column_labels_font_weight="600")
    return Table(f'<div class="table-scroll">{_own_ids(gt.as_raw_html())}</div>{notes_html(notes)}')


def _own_ids(markup: str) -> str:
    """great_tables names each header cell by its column (``<th id="verdict">``, ``<td headers="verdict">``): on a page of
    many tables those ids repeat and can take another element's id. Each table's header ids get a prefix of their own."""
    import re
    import uuid

    prefix = f"t{uuid.uuid4().hex[:8]}-"
    markup = re.sub(r'(<th\b[^>]*?\sid=")([^"]*)"', lambda m: f'{m.group(1)}{prefix}{m.group(2)}"', markup)
    return re.sub(r'(\sheaders=")([^"]*)"', lambda m: m.group(1) + " ".join(prefix + h for h in m.group(2).split()) + '"', markup)


ITABLES_INIT = "llama_eval/itables-init"  # the display metadata key of the DataTables bundle (the pipeline embeds it once per page)


def init_interactive_tables() -> None:
    """Load DataTables into the notebook, offline (for JupyterLab; the report page embeds it once, so the pipeline drops this output)."""
    from IPython.display import HTML, display
    from itables import options
    from itables.javascript import generate_init_offline_itables_html

    display(HTML(generate_init_offline_itables_html(options.dt_bundle)), metadata={ITABLES_INIT: True})


def interactive_html(frame: pd.DataFrame, *, limit: int = CELL_LIMIT, page_length: int = 10, caption: str | None = None) -> str:
    """A long table as a sortable, paginated DataTable (itables, offline: it needs the bundle ``init_interactive_tables`` loads);
    cells escaped by itables, texts over ``limit`` characters cut with "…" (the full text stays in the run's results)."""
    from itables import to_html_datatable

    if frame.empty:
        return ""
    data = frame.reset_index() if any(n is not None for n in frame.index.names) else frame.reset_index(drop=True)
    for column in data.columns:
        if data[column].dtype == object:
            data[column] = [v[: limit - 1].rstrip() + "…" if isinstance(v, str) and len(v) > limit else v for v in data[column]]
    markup = to_html_datatable(data, connected=False, showIndex=False, pageLength=page_length, lengthMenu=[10, 25, 100], classes="display compact",
                               caption=caption, allow_html=False, maxBytes=0, display_logo_when_loading=False)  # fmt: skip
    return f'<div class="table-scroll interactive">{markup}</div>'


def interactive_table(frame: pd.DataFrame, **kw: Any) -> Table:
    return Table(interactive_html(frame, **kw))


def show_text_table(frame: pd.DataFrame) -> None:
    """Display a table of texts (great_tables escapes them; a text over CELL_LIMIT goes to a note); an empty table shows nothing."""
    from IPython.display import display

    if frame.empty:
        return
    display(table(frame))


# --------------------------------------------------------------------------- run facts


_OPENED: dict[Path, tuple[tuple[int, ...], Run]] = {}  # this kernel's runs, by folder: the notebooks of one report read a run once


def _stamp(run_dir: Path) -> tuple[int, ...]:
    """What changes when a run changes: the size and modification time of its results and manifest (0: absent)."""
    out: list[int] = []
    for name in ("results.jsonl", "manifest.json"):
        try:
            st = (run_dir / name).stat()
            out += [st.st_size, st.st_mtime_ns]
        except FileNotFoundError:
            out += [0, 0]
    return tuple(out)


def open_run(run_dir: str | Path) -> Run:
    """The run a notebook's ``run_dir`` names, read once: a relative name is found by ``llama_eval.paths.resolve_path``'s
    one rule (the working folder, then the folders above it up to the project root), so ``runs/demo`` works from the
    repository root, from ``notebooks/`` and from a ``llama-eval notebooks DIR`` folder; found nowhere, or not a run,
    ``RunDirNotFoundError`` names every place looked. ``run.path`` is absolute: pass it on (``run_dir = run.path``).

    In one kernel a run is read once: the report's notebooks share a kernel (``pipeline``), and the second one to open
    a run gets the ``Run`` the first read, as long as its ``results.jsonl`` and ``manifest.json`` have not changed."""
    path = check_run_dir(run_dir, resolve=True).resolve()
    stamp = _stamp(path)
    cached = _OPENED.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    run = load_run(path)
    _OPENED.clear()  # one run at a time: a big run's rows are not kept twice
    _OPENED[path] = (stamp, run)
    return run


def _scale_words(value: Any) -> str:
    if not isinstance(value, int | float):
        return "not recorded"
    if value == 0:
        return "0 (no simulated delays: its latencies describe this machine, not a service)"
    return f"{value:g} ({'real speed' if value == 1 else f'{1 / value:g}x the service speed, times rescaled'})"


def _profile_words(profile: Any) -> str:
    if not isinstance(profile, Mapping) or not profile:
        return "not recorded"
    known = {"base_ttft_s": "first token after {}s", "prefill_tps": "prefill {} tokens/s", "tps": "{} tokens/s"}
    parts = [known[k].format(f"{v:g}" if isinstance(v, int | float) else v) for k, v in profile.items() if k in known]
    parts += [f"{k} {v}" for k, v in profile.items() if k not in known and k != "source"]
    return ", ".join(parts) + (f" ({profile['source']})" if profile.get("source") else "")


def _batch_words(own: Mapping[str, Any], capacity: Any, kind: Any) -> str:
    if own.get("batch_size") is not None:
        return str(own["batch_size"])
    if isinstance(capacity, Mapping) and capacity.get("batch") is not None:
        instances = capacity.get("instances")
        return f"{capacity['batch']}" + (f" per instance, {instances} instance{'s' if instances != 1 else ''}" if instances else "")
    return "none (serverless: limited by its quota)" if kind == "serverless" else "not recorded"


def _per_name(record: Mapping[str, Any], field: str, name: str) -> Any:
    value = record.get(field)
    return value.get(name) if isinstance(value, Mapping) else None


def emulator_settings(run: Run | str | Path) -> list[str]:
    """One line per emulated deployment: the emulator settings the run recorded (batch size, time scale, latency
    profile, seed), then the basis of those settings when the run states one; "not recorded" for what it did not
    record (older runs: only the time scale the probe saw). Empty for a run no emulator answered.

    Read from the manifest: each deployment's record (``time_scale``; ``batch_size``, ``profile``, ``seed`` if there)
    and ``manifest["emulator"]`` when the demo wrote one (``seed``, ``run_time_scales``, ``profiles``, ``capacity``,
    ``basis``, keyed by deployment name)."""
    loaded = as_run(run)
    if not loaded.simulated:
        return []
    shared = loaded.manifest.raw.get("emulator")
    shared = shared if isinstance(shared, Mapping) else {}
    emulated = {r.deployment for r in loaded.rows if r.simulated}
    lines = []
    for name, record in loaded.manifest.deployments.items():
        if name not in emulated:
            continue
        scale = record.get("time_scale", _per_name(shared, "run_time_scales", name))
        profile = record.get("profile") or _per_name(shared, "profiles", name)
        seed = record.get("seed", shared.get("seed"))
        batch = _batch_words(record, _per_name(shared, "capacity", name), record.get("kind"))
        lines.append(f"{name}: batch size {batch}; time scale {_scale_words(scale)}; latency profile {_profile_words(profile)}; "
                     f"seed {'not recorded' if seed is None else seed}")  # fmt: skip
    if lines and shared.get("basis"):
        lines.append(f"Basis: {shared['basis']}")
    return lines


def slo_ttft_p90_s(slo: str) -> float | None:
    """The ``ttft_p90`` limit of an SLO text, in seconds (drawn on the latency figures); None when it names none."""
    from llama_eval.load.objectives import Slo

    parsed = Slo.parse(slo)
    return next((o.limit for o in parsed.objectives if o.metric == "ttft_p90_s"), None) if parsed else None


def assumptions_line(requests_per_day: int | float, peak_rps: float | None, slo: str) -> str:
    """What the cost section and the decision assume, in one sentence (the report states it; nothing is hidden)."""
    if peak_rps is not None:
        peak = f"a peak of {peak_rps:g} requests/s"
    else:
        peak = f"a peak of the day's average ({requests_per_day / 86_400:.3g} requests/s; set peak_rps for your real peak)"
    return f"Assumed: {requests_per_day:,.0f} requests/day, {peak}, latency objective `{slo}` at peak."


PAGE_DROPS = "llama_eval/page-drops"  # display metadata: an output the report page shows once elsewhere (its banner), not in the section


def simulated_note(run: Run | str | Path) -> None:
    """The SIMULATED line on top of a notebook answered by the emulator (the report page has it as its banner instead)."""
    from IPython.display import Markdown, display

    if is_simulated(run):
        display(Markdown(f"**{SIMULATED_BANNER}.**"), metadata={PAGE_DROPS: True})


def is_simulated(run: Run | str | Path) -> bool:
    """Some answer of the run came from the llama-eval emulator (its report says SIMULATED)."""
    return as_run(run).simulated


ANSWER_COLUMNS = ("deployment", "prompt_id", "repeat", "warmup", "ttft_s", "e2e_s", "itl_p50_s", "output_tps", "response_text")
_TIMES = ("ttft_s", "e2e_s", "itl_p50_s", "output_tps")


def answered_frame(run: Run | str | Path) -> pd.DataFrame:
    """The answered rows (``records.ANSWERED``), one per request, with the columns of ANSWER_COLUMNS.

    Times are floats as measured (NaN where not measured, e.g. TTFT of a request not streamed);
    ``warmup`` is a plain bool. An empty frame (with those columns) when nothing was answered.
    """
    rows = [
        {
            "deployment": r.deployment,
            "prompt_id": r.prompt_id,
            "repeat": r.repeat,
            "warmup": bool(r.warmup),
            "ttft_s": r.timing.ttft_s if r.timing else None,
            "e2e_s": r.timing.e2e_s if r.timing else None,
            "itl_p50_s": r.timing.itl_p50_s if r.timing else None,
            "output_tps": r.timing.output_tps if r.timing else None,
            "response_text": r.response_text,
        }
        for r in as_run(run).answered
    ]
    return pd.DataFrame(rows, columns=list(ANSWER_COLUMNS)).astype(dict.fromkeys(_TIMES, "float64"))


# --------------------------------------------------------------------------- words instead of gaps


NOT_MEASURED = "not measured"


def words(frame: pd.DataFrame, missing: str = NOT_MEASURED) -> pd.DataFrame:
    """The frame for display: every gap (NaN, None) says ``missing`` in words."""
    if frame.empty:
        return frame
    return frame.astype(object).where(frame.notna(), missing)


def _money(value: Any, places: int = 4) -> str:
    return f"${float(value):,.{places}f}"


# --------------------------------------------------------------------------- run health


def run_health(run: Run | str | Path) -> RunHealth:
    """``rundir.health.assess_run`` of the run: which deployments can be judged, and how their times were measured."""
    return assess_run(run)


def health_notes(health: RunHealth) -> list[str]:
    """Markdown lines for the top of a section: failed deployments (what failed, what to check), answers cut short, an incomplete run."""
    lines = [f"**Not judged** — {d.sentence()}" for d in health.excluded]
    lines += [f"**Answers cut short** — {text}" for text in health.cut_short()]
    banner = health.run_banner()
    if banner:
        lines.append(f"**{banner}**")
    return lines
