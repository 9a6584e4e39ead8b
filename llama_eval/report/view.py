"""The tables and figures of the report notebooks, computed from a run directory.

Notebooks call these and display the results; the logic lives here so it is tested like the rest.
Figures are shown with ``show``: JupyterLab renders plotly's own mimetype, and the exported HTML
report uses a ``text/html`` copy *without* plotly.js, which the report page embeds once.
Model output is untrusted: every table goes through pandas' escaping HTML, never raw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from llama_eval.rundir.health import RunHealth, assess_run, run_rows

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


def is_simulated(run_dir: str | Path) -> bool:
    return any(r.get("simulated") for r in run_rows(run_dir))


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


def run_health(run_dir: str | Path) -> RunHealth:
    return assess_run(run_dir)


def health_notes(health: RunHealth) -> list[str]:
    """Markdown lines for the top of a section: failed deployments (what failed, what to check), answers cut short, an incomplete run."""
    lines = [f"**Not judged** — {d.sentence()}" for d in health.excluded]
    lines += [f"**Answers cut short** — {text}" for text in health.cut_short()]
    banner = health.run_banner()
    if banner:
        lines.append(f"**{banner}**")
    return lines


# --------------------------------------------------------------------------- quality


# --------------------------------------------------------------------------- latency


# --------------------------------------------------------------------------- cost


# --------------------------------------------------------------------------- load sweeps


# --------------------------------------------------------------------------- summary


# --------------------------------------------------------------------------- trend across runs


