"""What every report section shares: display helpers, the run's health, the answered rows.

Each report module (quality, latency, cost, summary) computes its section's tables and figures
from a ``Run`` (``llama_eval.load_run(run_dir)``, read once per notebook and passed to every call;
a run directory is also accepted and read). Notebooks call these and display the results; the
logic lives here so it is tested like the rest.
Figures are shown with ``show``: JupyterLab renders plotly's own mimetype, and the exported HTML
report uses a ``text/html`` copy *without* plotly.js, which the report page embeds once.
Model output is untrusted: every table goes through pandas' escaping HTML, never raw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from llama_eval.rundir.health import RunHealth, assess_run
from llama_eval.rundir.run import Run, as_run

SIMULATED_BANNER = "SIMULATED — local emulator, not real model output"


# --------------------------------------------------------------------------- display


def figure_html(fig: Any) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True})


def show(fig: Any) -> None:
    """Display a plotly figure in a notebook: interactive in JupyterLab, plain HTML in the exported report (None: nothing)."""
    from IPython.display import display

    if fig is None:
        return
    display({"application/vnd.plotly.v1+json": fig.to_plotly_json(), "text/html": figure_html(fig)}, raw=True)


def show_text_table(frame: pd.DataFrame) -> None:
    """Display a table of long texts uncut (pandas escapes the HTML); an empty table shows nothing."""
    from IPython.display import display

    if frame.empty:
        return
    with pd.option_context("display.max_colwidth", None):
        display(frame)


# --------------------------------------------------------------------------- run facts


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
