"""The report at scale: the run read once into Parquet, every figure and statistic a DuckDB aggregate of it.

A synthetic 20,000-row run (the benchmark's builder: five deployments, repeats, every 97th answer
hostile HTML) feeds the module. The aggregates must give the numbers pandas gives on the raw rows
(the pre-Parquet report computed them that way), and the page built from them must stay small and
hold no figure drawn from every request.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from _support.latency_reference import pandas_latency
from llama_eval.report import aggregates, latency, quality
from llama_eval.report.view import answered_frame
from llama_eval.rundir.health import assess_run
from llama_eval.rundir.run import load_run
from llama_eval.rundir.store import TornLineWarning, final_rows, read_rows

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
ROWS = 20_000


def _bench():
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "benchmarks" / "bench_report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_report"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    base = tmp_path_factory.mktemp("scaled")
    run_dir = base / "run"
    run_dir.mkdir()
    written = _bench().build(run_dir, ROWS, answer=HOSTILE)
    run = load_run(run_dir)
    health = assess_run(run)
    return run, health, aggregates.write_rows(run_dir, base), written


def test_parquet_holds_the_final_rows_in_order(big):
    run, _, rows_file, written = big
    stored = pd.read_parquet(rows_file)
    assert len(stored) == written == len(run.rows) == ROWS
    assert list(stored["prompt_id"][:3]) == [r.prompt_id for r in run.rows[:3]] and list(stored["repeat"][:3]) == [0, 1, 2]


def test_latency_statistics_match_pandas_on_the_raw_rows(big):
    run, health, rows_file, _ = big
    expected = pandas_latency(latency.latency_rows(run, health))
    exact = aggregates.latency_stats(aggregates.row_source(run, health, rows_file))[expected.columns]
    assert (exact - expected).abs().max().max() < 1e-9, "DuckDB's quantile_cont and pandas' linear quantile agree"
    pd.testing.assert_frame_equal(latency.latency_frame(run, health, rows_file=rows_file), expected.round(2), check_dtype=False)
    assert len(expected) == 5 and expected["requests"].sum() == ROWS - 5, "five deployments, the warm-up row of each left out"


def test_figures_are_built_from_aggregates_and_match_the_rows(big):
    run, health, rows_file, _ = big
    rows = latency.latency_rows(run, health)
    ecdf, box = latency.latency_figures(run, health, ttft_slo_s=1.0, rows_file=rows_file)
    assert len(ecdf.data) == 5 and all(len(t.x) == aggregates.ECDF_POINTS for t in ecdf.data), "200 quantiles per deployment, not 4,000 points"
    for trace in ecdf.data:
        ttft = rows.loc[rows["deployment"] == trace.name, "ttft_s"] * 1000
        assert trace.x[0] == pytest.approx(ttft.min()) and trace.x[-1] == pytest.approx(ttft.max())
        for k in (20, 100, 179):  # each point: the share y of requests at or below x, pandas' quantile
            assert trace.x[k] == pytest.approx(ttft.quantile(trace.y[k]))
    for trace in box.data:
        e2e = rows.loc[rows["deployment"] == trace.name, "e2e_s"]
        q1, q3 = e2e.quantile(0.25), e2e.quantile(0.75)
        assert trace.x == (trace.name,) and trace.boxpoints is False
        assert (trace.q1[0], trace.median[0], trace.q3[0]) == pytest.approx((q1, e2e.median(), q3))
        assert trace.lowerfence[0] == pytest.approx(e2e[e2e >= q1 - 1.5 * (q3 - q1)].min())
        assert trace.upperfence[0] == pytest.approx(e2e[e2e <= q3 + 1.5 * (q3 - q1)].max())


def test_answer_sample_matches_pandas_and_is_small(big):
    run, _, rows_file, _ = big
    frame = answered_frame(run)
    expected = frame.sort_values(["deployment", "prompt_id"]).groupby("deployment").head(3)[["deployment", "prompt_id", "response_text"]]
    pd.testing.assert_frame_equal(quality.sample_answers(run, 3, rows_file=rows_file), expected.set_index(["deployment", "prompt_id"]))
    assert HOSTILE in set(quality.sample_answers(run, 3, rows_file=rows_file)["response_text"]), "the sample holds a hostile answer to escape"


def test_write_rows_keeps_each_keys_latest_final_row(tmp_path):
    base = {"model": "m", "api": "openai-v1", "repeat": 0, "e2e_s": 1.0}
    lines = [
        {**base, "key": "a|p1|0", "deployment": "a", "prompt_id": "p1", "status": "timeout"},
        {**base, "key": "a|p2|0", "deployment": "a", "prompt_id": "p2", "status": "budget_skipped"},
        {**base, "key": "a|p3|0", "deployment": "a", "prompt_id": "p3", "status": "ok", "response_text": "three"},
        {**base, "key": "a|p1|0", "deployment": "a", "prompt_id": "p1", "status": "ok", "response_text": "retried"},
    ]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"key": "a|p4|0", "depl')  # a torn last line
    with pytest.warns(TornLineWarning):
        expected = list(final_rows(read_rows(tmp_path)).values())
    stored = pd.read_parquet(aggregates.write_rows(tmp_path, tmp_path))
    assert list(stored["prompt_id"]) == [r["prompt_id"] for r in expected] == ["p1", "p3"]
    assert list(stored["response_text"]) == ["retried", "three"] and list(stored["status"]) == ["ok", "ok"]


@pytest.mark.slow
def test_the_page_of_a_big_run_is_small_and_escaped(big, tmp_path):
    from llama_eval.report.pipeline import build_report

    run, _, _, _ = big
    index = build_report(run.path, tmp_path / "out")
    page = index.read_text()
    assert index.stat().st_size < 6 * 2**20, f"{index.stat().st_size / 2**20:.1f} MB: the page does not carry 20,000 rows"
    assert (tmp_path / "out" / aggregates.ROWS_FILE).is_file()
    executed = json.loads((tmp_path / "out" / "30_latency.ipynb").read_text())
    assert executed["metadata"]["papermill"]["parameters"]["rows_file"] == str(tmp_path / "out" / aggregates.ROWS_FILE)
    traces = [
        t for c in executed["cells"] for o in c.get("outputs", []) for t in (o.get("data", {}).get("application/vnd.plotly.v1+json") or {}).get("data", [])
    ]
    assert traces and max(len(t.get("x") or ()) for t in traces) <= aggregates.ECDF_POINTS, "no figure trace holds every request"
    assert HOSTILE not in page and "<script>window.__pwned" not in page and "&lt;script&gt;window.__pwned = 1" in page
    assert page.count(">3,999<") >= 5, "the latency table counts each deployment's timed requests (800 prompts x 5 repeats, the warm-up left out)"


def test_a_kernel_reads_a_run_once_until_it_changes(tmp_path):
    """The report's notebooks share a kernel: the second ``open_run`` of an unchanged run is the ``Run`` already read."""
    from llama_eval.report.view import open_run

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _bench().build(run_dir, 50)
    first = open_run(run_dir)
    assert open_run(run_dir) is first and len(first.rows) == 50
    line = (run_dir / "results.jsonl").read_text().splitlines()[0].replace('"repeat": 0', '"repeat": 9').replace("|0", "|9")
    with (run_dir / "results.jsonl").open("a") as f:
        f.write(line + "\n")
    again = open_run(run_dir)
    assert again is not first and len(again.rows) == 51, "a changed results.jsonl is read again"
