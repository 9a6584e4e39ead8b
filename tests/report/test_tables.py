"""The report's presentation helpers, without papermill or a browser: tables for people, the decision brief, the palette."""

from __future__ import annotations

import re

import pandas as pd

from _support.decision_fixtures import ON
from _support.decision_fixtures import scored_run as _run
from _support.decision_fixtures import sweep_dir as _sweep
from _support.pagetext import visible_text
from llama_eval.decide import recommend
from llama_eval.report import brief, view

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="alert(1)">'


def test_a_table_has_no_index_typed_numbers_and_escapes_every_cell():
    frame = pd.DataFrame(
        {"deployment": ["a", HOSTILE], "monthly": [71773.6, float("nan")], "quality": [74.12, 80.0], "instances": [1.0, 2.0], "say": ["x", "no price"]}
    ).set_index("deployment")
    markup = str(view.table(frame, money={"monthly": 2}, percent=["quality"], integer=["instances"], missing={"monthly": "no price"},
                            labels={"monthly": "USD per month"}, spanners={"Cost": ["monthly", "instances"]}))  # fmt: skip
    text = visible_text(markup)
    assert "$71,773.60" in text and "74.1%" in text and "USD per month" in text and "Cost" in text
    assert "1.0" not in text.split() and re.search(r"^1$", text, re.M), "instances are integers"
    assert "no price" in text and "NaN" not in text and "nan" not in text
    assert HOSTILE not in markup and "&lt;script&gt;" in markup
    assert 'class="dataframe"' not in markup and "table-scroll" in markup


def test_numbers_and_words_in_one_column_are_formatted_alike():
    frame = pd.DataFrame({"option": ["a", "b"], "usd": [1234.5, "capacity not measured"]})
    text = visible_text(str(view.table(frame, money={"usd": 2})))
    assert "$1,234.50" in text and "capacity not measured" in text


def test_a_long_text_leaves_its_cell_for_a_note():
    long = "reason " * 60
    markup = str(view.table(pd.DataFrame({"option": ["a"], "why": [long]})))
    cells = re.findall(r"<td[^>]*>(.*?)</td>", markup, re.S)
    assert max(len(c) for c in cells) <= view.CELL_LIMIT and "(note 1)" in markup
    assert "<details" in markup and long.strip() in markup, "the full text is kept, folded under the table"


def test_header_ids_are_unique_per_table():
    one, two = (str(view.table(pd.DataFrame({"verdict": ["x"]}))) for _ in range(2))
    ids = re.findall(r'<th[^>]*\sid="([^"]+)"', one + two)
    assert len(ids) == len(set(ids)) == 2 and "verdict" not in ids


def test_one_colour_per_deployment_in_every_figure():
    import plotly.graph_objects as go

    colours = view.palette(["a", "b", "ab"])
    assert len(set(colours.values())) == 3
    fig = go.Figure([go.Scatter(name="ab p90", legendgroup="ab (emulated)", x=[1], y=[1]), go.Scatter(name="a", x=[1], y=[1])])
    view.style_figure(fig, colours)
    assert fig.data[0].line.color == colours["ab"] and fig.data[1].line.color == colours["a"], "the longest name that matches wins"
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0, "the legend sits under the plot"


def test_the_brief_states_the_decision_its_cost_the_slo_and_what_would_change_it(tmp_path):
    run = _run(tmp_path)
    sweeps = [_sweep(tmp_path, "l70", "serverless", [10, 30, 60], [0.4, 0.5, 0.6]), _sweep(tmp_path, "l405", "managed", [1, 2, 4, 4.2], [0.5, 0.6, 0.9, 2.5]),
              _sweep(tmp_path, "l8", "managed", [5, 10, 20], [0.3, 0.4, 0.5])]  # fmt: skip
    decision = recommend(run, sweeps=sweeps, peak_rps=40, requests_per_day=500_000, slo="ttft_p90<=1.0", on=ON)
    text = " ".join(visible_text(brief.brief_html(decision)).split())
    chosen = decision.chosen
    assert text.startswith(f"Recommended: {chosen.label} — ${chosen.cost.monthly_usd:,.2f} a month"), text[:200]
    assert "500,000 requests/day, peak 40 requests/s" in text
    assert "Latency objective (ttft_p90<=1" in text and "met at the peak" in text
    assert "Quality:" in text and "What would change the decision:" in text
    for option in decision.options:
        assert option.label in text
    assert "lost" in text and "quality inferior" in text and "costs more" in text
    assert "Every reason in full" in text


def test_undecided_says_so_first(tmp_path):
    decision = recommend(_run(tmp_path), peak_rps=40, requests_per_day=500_000, slo="ttft_p90<=1.0", on=ON)
    text = " ".join(visible_text(brief.brief_html(decision)).split())
    assert text.startswith("Undecided: no option passes every check")
    assert "A load sweep of" in text or "llama-eval sweep" in text
