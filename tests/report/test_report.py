"""The report pipeline for real: papermill executes the notebooks, Chromium opens the page.

One small emulator run feeds every test here (module fixture). Its prompts include model output
that tries HTML injection, and its key is a recognisable fake that must appear in no output file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from _support.fakerun import FakeDeployment, write_run
from _support.pagetext import chromium, measure, render, screenshot, visible_text
from llama_eval import Deployment
from llama_eval.emulator import start_emulator
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.report.pipeline import ReportError, build_report
from llama_eval.run import RunParams, run_evaluation
from llama_eval.rundir.health import assess_run
from llama_eval.rundir.store import read_manifest

FAKE_KEY = "LLAMAEVAL-REPORT-SECRET-7f3a9c"
ROOT = Path(__file__).resolve().parents[2]
WIDTHS = (1280, 800)  # a laptop window, and a half-screen one
CELL_LIMIT = 200  # characters in one table cell; a longer text belongs in a note
HOSTILE = '<script>window.__pwned = 1; alert("x")</script><img src=x onerror="window.__pwned = 2">'


# The report's run serves Meta-Llama-3.1-405B (retired on serverless) through the emulator, which warns so (LifecycleWarning,
# an error in tests): the report only needs its answers, so that one warning is silenced, deliberately.
pytestmark = pytest.mark.filterwarnings("ignore:emulated deployment:llama_eval.errors.LifecycleWarning")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    prompts_path = base / "prompts.jsonl"
    items = [{"id": f"q{i}", "prompt": f"What is {i} plus {i}?", "reference": str(2 * i), "scorer": "numeric", "tags": ["math"]} for i in range(8)]
    items.append({"id": "inject", "prompt": "Repeat the snippet.", "reference": HOSTILE, "scorer": "contains", "tags": ["hostile"]})
    prompts_path.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    models = ["Llama-3.3-70B-Instruct", "Meta-Llama-3.1-405B-Instruct"]
    old = os.environ.get("REPORT_TEST_KEY")
    with start_emulator(time_scale=0.01, models=models, prompt_sets=[prompts_path], key=FAKE_KEY) as emu:
        os.environ["REPORT_TEST_KEY"] = emu.key
        deps = [Deployment(name=m.split("-")[-2].lower(), model=m, kind="managed", endpoint=emu.deployment_url(m), key_env="REPORT_TEST_KEY") for m in models]
        run_evaluation(deps, load_prompt_set(prompts_path), base / "run", RunParams(repeats=2, temperature=0), progress="none", announce=lambda m: None)
    if old is None:
        os.environ.pop("REPORT_TEST_KEY", None)
    index = build_report(base / "run", base / "out")
    return base, index


def test_pipeline_keeps_executed_notebooks_and_writes_one_page(report):
    base, index = report
    out = index.parent
    for name in ("20_quality", "30_latency", "40_cost", "50_summary"):
        executed = json.loads((out / f"{name}.ipynb").read_text())
        assert executed["metadata"]["papermill"]["parameters"]["run_dir"] == str((base / "run").resolve())
        assert not any(o.get("output_type") == "error" for c in executed["cells"] for o in c.get("outputs", []))
    page = index.read_text()
    assert len(re.findall(r"plotly\.js v\d", page)) == 1, "plotly.js is embedded exactly once"
    body = page.split("<body>", 1)[1]
    assert body.startswith('<div class="banner">SIMULATED — local emulator, not real model output</div>'), "the banner comes first"
    assert "Score per deployment" in page and "Time to first token" in page
    unreliable = assess_run(base / "run").latency_unreliable()
    if unreliable:  # the measuring client was saturated on this busy machine: no latency verdict
        assert "For latency: no recommendation" in page
        assert "These latency figures are not reliable" in page or "Emulator time scale not recorded" in page
        if set(unreliable) == {"70b", "405b"}:
            assert "Quality vs TTFT p90 ms" not in page, "no latency figure from unreliable figures"
    else:
        assert "Quality vs TTFT p90 ms" in page and "For latency:" in page
    assert "Quality vs cost" not in page, "no token price (managed): no cost-quality figure, rather than a made-up one"
    assert not (out / "kernel.log").read_text() or "TCP" in (out / "kernel.log").read_text(), "the kernels' own log lines are kept apart"


def test_report_holds_the_runs_numbers(report):
    base, index = report
    summary = json.loads((base / "run" / "scores_summary.json").read_text())
    page = index.read_text()
    for d in summary["deployments"].values():
        assert f"{100 * d['mean']:.1f}" in page
    costs = [json.loads(line)["cost_usd"] for line in (base / "run" / "results.jsonl").read_text().splitlines()]
    assert all(c is None for c in costs), "managed deployments: token cost is 'no price', never 0"
    assert "VM-hours: see projection" in page


def test_latency_numbers_from_parquet_equal_pandas_on_the_raw_rows(report):
    """The page's latency statistics, now DuckDB aggregates of rows.parquet, are the numbers pandas gives on the run's rows."""
    from _support.latency_reference import pandas_latency
    from llama_eval.report.latency import latency_frame, latency_rows
    from llama_eval.rundir.run import load_run

    base, index = report
    run = load_run(base / "run")
    health = assess_run(run)
    rows_file = index.parent / "rows.parquet"
    assert rows_file.is_file(), "the pipeline read the run once into Parquet"
    rows = latency_rows(run, health)
    if rows.empty:
        pytest.skip("no deployment of this run could be timed on this machine")
    expected = pandas_latency(rows).round(2)
    expected = expected.drop(columns=[c for c in expected if expected[c].isna().all() and not c.startswith("e2e")])
    shown = latency_frame(run, health, rows_file=rows_file)
    pd.testing.assert_frame_equal(shown[expected.columns], expected, check_dtype=False)
    pd.testing.assert_frame_equal(latency_frame(run, health), shown, check_dtype=False)


def test_model_output_is_escaped(report):
    _, index = report
    page = index.read_text()
    assert HOSTILE not in page
    assert "&lt;script&gt;window.__pwned = 1" in page, "the hostile answer is shown, escaped"
    assert "<script>window.__pwned" not in page and "<img src=x onerror" not in page, "no live tag from model output"


def test_no_secret_in_any_file_written(report):
    base, _ = report
    leaks = [p for p in base.rglob("*") if p.is_file() and FAKE_KEY.encode() in p.read_bytes()]
    assert leaks == [], f"the key leaked into {leaks}"


def _no_gaps_in(text: str) -> None:
    gaps = re.findall(r".{0,60}\b(?:NaN|None|nan)\b.{0,30}", text)
    assert gaps == [], gaps


def test_chromium_renders_the_emulator_report_as_a_reader_sees_it(report, tmp_path):
    base, index = report
    dom, console, shot = render(index, tmp_path, "emulator-report.png", height=4000)
    assert console == "", console
    assert dom.count('class="main-svg"') >= 4, "plotly drew its figures as SVG"
    text = visible_text(dom)
    assert text.startswith("SIMULATED — local emulator, not real model output")
    _no_gaps_in(text)
    recorded = (read_manifest(base / "run").get("deployments") or {}).get("70b", {}).get("time_scale")
    if recorded is not None:  # the runner records the emulator's time scale (x-llama-eval-time-scale): the page rescales and says so
        assert recorded == 0.01 and "Emulated at 100x speed; times rescaled" in text
    else:  # a runner that does not record it yet: the page must not claim a rescaling it did not do
        assert "times rescaled" not in text
    assert "Projected traffic: 10,000 requests/day" in text
    assert "VM-hours: see projection" in text and "Break-even" in text
    assert shot.exists() and shot.stat().st_size > 20_000


@pytest.fixture(scope="module")
def stopped_report(tmp_path_factory):
    """A run with a deployment at a wrong URL (every request a 404, stopped) beside a working one."""
    base = tmp_path_factory.mktemp("stopped")
    run = write_run(
        base / "run",
        [
            FakeDeployment("llama33-70b", "Llama-3.3-70B-Instruct", accuracy=0.5, time_scale=0.01),
            FakeDeployment("maverick", "Llama-4-Maverick-17B-128E-Instruct-FP8", fail=("http_error", 404, "Resource not found"),
                           stopped="not found at https://maverick.example/ (HTTP 404 Resource not found)"),  # fmt: skip
        ],
        status="incomplete",
    )
    return build_report(run, base / "out", requests_per_day=25_000)


def test_a_stopped_deployment_gets_a_banner_and_no_verdict(stopped_report, tmp_path):
    dom, console, shot = render(stopped_report, tmp_path, "stopped-report.png", height=3000)
    assert console == "", console
    text = visible_text(dom)
    _no_gaps_in(text)
    banner = next(line for line in text.splitlines() if line.startswith("Not judged"))
    assert "maverick" in banner and "404" in banner and "Check the endpoint URL" in banner
    recommendations = text.split("Recommendations", 1)[1].split("Over time", 1)[0]
    verdicts = [line for line in recommendations.splitlines() if line.startswith(("Highest", "For "))]
    assert verdicts and not any("maverick" in line for line in verdicts), verdicts
    assert "maverick better" not in text and "than maverick" not in text, "no paired verdict with a deployment that never answered"
    assert "not scored: stopped" in text
    assert "Projected traffic: 25,000 requests/day" in text, "the report states the volume it was given"
    assert "Emulated at 100x speed; times rescaled" in text
    assert shot.exists()


def test_an_interrupted_run_says_so_and_recommends_only_complete_deployments(tmp_path):
    run = write_run(
        tmp_path / "run",
        [
            FakeDeployment("done", "Llama-3.3-70B-Instruct", accuracy=0.6),
            FakeDeployment("half", "Meta-Llama-3.1-8B-Instruct", kind="managed", accuracy=1.0, rows=7, saturated=True),
        ],
        status="interrupted",
    )
    index = build_report(run, tmp_path / "out")
    dom, console, shot = render(index, tmp_path, "interrupted-report.png", height=3000)
    assert console == "", console
    text = visible_text(dom)
    _no_gaps_in(text)
    assert "This run was interrupted" in text and "--resume" in text
    recommendations = text.split("Recommendations", 1)[1].split("Over time", 1)[0]
    verdicts = [line for line in recommendations.splitlines() if line.startswith(("Highest", "For "))]
    assert verdicts and not any("half" in line for line in verdicts), verdicts
    assert "These latency figures are not reliable" in text
    assert shot.exists()


def test_report_cli_is_quiet_on_success(stopped_report, tmp_path):
    out = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "llama-eval"), "report", str(stopped_report.parent.parent / "run"), "-o", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr
    assert "IPKernelApp" not in out.stdout and "KeyboardInterrupt" not in out.stdout


def test_hostile_answer_did_not_run_in_the_browser(report, tmp_path):
    """A page script reports whether the injected code ran: it must not have."""
    _, index = report
    probe = index.parent / "probe.html"
    probe.write_text(
        index.read_text().replace(
            "</body>", '<div id="verdict"></div><script>document.getElementById("verdict").textContent = "pwned=" + (window.__pwned || 0);</script></body>'
        )
    )
    browser = chromium()
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            f"--user-data-dir={tmp_path / 'p'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert '<div id="verdict">pwned=0</div>' in dom.stdout


def test_missing_run_is_a_clear_error(tmp_path):
    with pytest.raises(ReportError, match="holds no results.jsonl"):
        build_report(tmp_path / "nothing", tmp_path / "out")


def test_failing_notebook_names_itself(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.jsonl").write_text('{"key": "a|b|0", "deployment": "a", "prompt_id": "b", "repeat": 0, "status": "ok"}\n')
    with pytest.raises(ReportError, match=r"20_quality\.ipynb failed in cell \d+"):
        build_report(run_dir, tmp_path / "out")
    assert (tmp_path / "out" / "20_quality.ipynb").exists(), "the failed notebook is kept for inspection"


def test_evaluate_notebook_runs_with_papermill_parameters(tmp_path, monkeypatch):
    import papermill

    from llama_eval.paths import data_dir, notebooks_dir

    with start_emulator(time_scale=0, models=["Llama-3.3-70B-Instruct"]) as emu:
        monkeypatch.setenv("NOTEBOOK_TEST_KEY", emu.key)  # the kernel inherits the environment, never the key itself
        config = tmp_path / "deployments.yaml"
        endpoint = emu.deployment_url("Llama-3.3-70B-Instruct")
        config.write_text(f"deployments:\n  - name: l33\n    model: Llama-3.3-70B-Instruct\n    endpoint: {endpoint}\n    key_env: NOTEBOOK_TEST_KEY\n")
        parameters = {
            "deployments_file": str(config),
            "prompt_set": str(data_dir() / "prompts" / "quickstart.jsonl"),
            "run_dir": str(tmp_path / "run"),
            "max_tokens": 64,
        }
        out = tmp_path / "10_evaluate.ipynb"
        papermill.execute_notebook(
            str(notebooks_dir() / "10_evaluate.ipynb"), str(out), parameters=parameters, kernel_name="python3", progress_bar=False
        )
    assert len((tmp_path / "run" / "results.jsonl").read_text().splitlines()) == 10
    assert "completed" in out.read_text()
    assert emu.key not in out.read_text() and "NOTEBOOK_TEST_KEY" not in json.dumps(json.loads(out.read_text())["metadata"]["papermill"]["parameters"])


def test_trend_across_runs_of_the_same_configuration(tmp_path, monkeypatch):
    from llama_eval.report.summary import related_runs, trend_figure, trend_frame

    prompts_path = tmp_path / "p.jsonl"
    prompts_path.write_text(
        "\n".join(json.dumps({"id": f"q{i}", "prompt": f"What is {i}+{i}?", "reference": str(2 * i), "scorer": "numeric"}) for i in range(6)) + "\n"
    )
    runs = tmp_path / "runs"
    with start_emulator(time_scale=0, models=["Llama-3.3-70B-Instruct"], prompt_sets=[prompts_path]) as emu:
        monkeypatch.setenv("TREND_KEY", emu.key)
        dep = Deployment(name="l33", model="Llama-3.3-70B-Instruct", endpoint=emu.deployment_url("Llama-3.3-70B-Instruct"), key_env="TREND_KEY")
        for name in ("2026-11-01", "2026-11-08"):
            run_evaluation([dep], load_prompt_set(prompts_path), runs / name, RunParams(temperature=0.9), progress="none", announce=lambda m: None)
        other = Deployment(name="other", model="Llama-3.3-70B-Instruct", endpoint=emu.deployment_url("Llama-3.3-70B-Instruct"), key_env="TREND_KEY")
        run_evaluation([other], load_prompt_set(prompts_path), runs / "different-config", RunParams(), progress="none", announce=lambda m: None)
    assert [p.name for p in related_runs(runs / "2026-11-08")] == ["2026-11-01", "2026-11-08"], "a different configuration is not part of the trend"
    frame = trend_frame(runs / "2026-11-08")
    assert list(frame["run"]) == ["2026-11-01", "2026-11-08"] and set(frame["deployment"]) == {"l33"}
    assert frame["USD per 1k requests"].notna().all()
    assert len(trend_figure(frame).data) == 1


def test_a_run_where_nothing_answered_still_reports_and_recommends_nothing(tmp_path):
    run = write_run(
        tmp_path / "run",
        [
            FakeDeployment("wrong-key", "Llama-3.3-70B-Instruct", fail=("auth_error", 401, "Unauthorized"), stopped="authentication failed (HTTP 401)"),
            FakeDeployment("wrong-url", "Meta-Llama-3.1-8B-Instruct", kind="managed", fail=("http_error", 404, "Not Found"), fail_share=1.0),
        ],
        status="incomplete",
    )
    index = build_report(run, tmp_path / "out", requests_per_day=5000)
    text = visible_text(index.read_text())
    _no_gaps_in(text)
    assert text.count("Not judged —") == 2 and "wrong-key" in text and "wrong-url" in text
    assert "No recommendation: no deployment has complete rows" in text
    assert "Projected traffic: 5,000 requests/day" in text and "no token means to cost" in text


def test_answers_cut_short_are_named_in_the_report(tmp_path, monkeypatch):
    """A run where the server cut some streams (the emulator's ``cut`` fault, no retries): the page names the
    count per deployment, the quality table lists them among the failed rows, the latency table leaves them out."""
    prompts_path = tmp_path / "prompts.jsonl"
    prompts_path.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"What is {i} plus {i}?", "reference": str(2 * i)}) + "\n" for i in range(16)))
    model = "Llama-3.3-70B-Instruct"
    with start_emulator(time_scale=0.01, models=[model], prompt_sets=[prompts_path], fault_rate=0.25, fault_kinds=["cut"], seed=5) as emu:
        monkeypatch.setenv("REPORT_TEST_KEY", emu.key)
        dep = Deployment(name="l33", model=model, endpoint=emu.deployment_url(model), key_env="REPORT_TEST_KEY")
        run_evaluation([dep], load_prompt_set(prompts_path), tmp_path / "run", RunParams(max_attempts=1, warmup=0), progress="none", announce=lambda m: None)
    cut = sum(json.loads(line)["status"] == "incomplete" for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines())
    assert 0 < cut < 8
    text = visible_text(build_report(tmp_path / "run", tmp_path / "out").read_text())
    _no_gaps_in(text)
    words = " ".join(text.split())  # bold parts of a note are lines of their own in the visible text
    assert f"Answers cut short — l33: {cut} of 16 requests ended without a finish_reason" in words, "the banner on top"
    assert f"Answers cut short, left out of these figures — l33: {cut} of 16" in words, "the latency section's note"
    assert "failed rows incomplete unscorable" in words and "Cut short (left out)" in words and "--interrupt_requests False" in words


def test_the_demo_latencies_are_true(installed, installed_demo):
    """The demo's latency table holds the service's times: for every deployment, measured and rescaled, within the stated
    tolerance of the timing the emulator intended (medians 5%, p90s 10%), with inter-token latency measured (issue 24)."""
    from llama_eval.report.latency import latency_frame, latency_table

    assert installed_demo.returncode == 0, installed_demo.stderr[-3000:]
    run = installed["work"] / "runs" / "demo"
    health = assess_run(run)
    assert len(health.deployments) == 5
    for name, d in health.deployments.items():
        assert d.time_scale in (1.0, 4.0) and d.intended is not None and d.intended.requests >= 25, name
        assert d.intended.ok, f"{name}: {d.intended.sentence()}"
        assert {c.metric for c in d.intended.comparisons} == {"TTFT", "ITL", "e2e"}, name
    assert health.latency_unreliable() == []
    frame = latency_frame(run, health)
    assert frame["ITL p50 ms"].notna().all() and (frame["ITL p50 ms"] > 1).all(), frame
    table = latency_table(run, health)
    assert (table["vs emulator's intended"] == "within 5% (p50) / 10% (p90)").all() and (table["reliable"] == "yes").all()


def test_the_demo_report_reads_clean(tmp_path, installed, installed_demo):
    """What `llama-eval demo` builds (here from the installed wheel, the demo the packaging test also checks), read in Chromium:
    no gaps, the volume stated, retired offers apart, every deployment judged."""
    assert installed_demo.returncode == 0, installed_demo.stderr[-3000:]
    index = (installed["work"] / "reports" / "demo" / "index.html").resolve()
    dom, console, shot = render(index, tmp_path, "demo-report.png", height=6000)
    assert console == "", console
    text = visible_text(dom)
    assert text.startswith("SIMULATED — local emulator, not real model output")
    _no_gaps_in(text)
    assert "Not judged" not in text, "every demo deployment answers"
    assert "Projected traffic: 10,000 requests/day" in text
    assert "Retired offers" in text and "retired 2026-06-13" in text, "models retired on serverless are listed apart, not as options"
    assert "Highest quality:" in text and "For cost:" in text
    assert "times rescaled" in text or "time scale not recorded" in text, "emulator times are rescaled, or labelled as untrustworthy"
    assert "exact McNemar test" in text and "too few prompts to compare" in text, "the page says which test stands behind the verdicts"
    assert "Porter stemmer on" in text, "the ROUGE setting is stated"
    assert "strict %" in text and "flexible %" in text, "numeric prompts report strict and flexible accuracy"
    assert "Latency against load" in text and "No load sweep is stored" not in text, "the demo's sweeps are drawn"
    assert "Cost per 1,000 requests, every kind side by side" in text and "/h per instance /" in text, "managed cost per request from the measured capacity"
    assert "req/s each)" in text, "the projection sizes the swept machines from their measured capacity"
    assert "capacity not measured" in text and "at least $" in text, "machines nobody swept are a labelled floor"
    assert "The decision" in text and ("Recommended" in text or "Undecided" in text)
    assert shot.exists()
    for width in WIDTHS:
        _reads_well(index, tmp_path, width)
    # the top of the page as a newcomer sees it, taken here from the page just checked; `make screenshot` writes it to
    # docs/report.png (the README's picture), any other run to a temp file, so a clone is left as it was
    target = ROOT / "docs" / "report.png" if os.environ.get("LLAMA_EVAL_REFRESH_SCREENSHOT") == "1" else tmp_path / "report-top.png"
    screenshot(index, target, tmp_path, width=1280, height=900)
    assert target.stat().st_size > 10_000, "the picture of the page's top is not empty"


def _reads_well(index, tmp_path, width: int) -> dict:
    """The page measured in Chromium at ``width``: no horizontal scroll, the decision on the first screen, every
    figure drawn, no table cell over CELL_LIMIT characters."""
    m = measure(index, tmp_path, width)
    assert m["scrollWidth"] <= m["innerWidth"], f"horizontal scroll at {width} px: {m['scrollWidth']} > {m['innerWidth']}; {m['overflowing']}"
    assert m["firstScreenTop"] is not None, "the page has no decision block (data-first-screen)"
    assert m["firstScreenTop"] < m["innerHeight"], f"the decision starts at {m['firstScreenTop']:.0f} px, below the first screen ({m['innerHeight']} px)"
    assert m["figures"] >= 1 and m["figuresDrawn"] == m["figures"], f"{m['figuresDrawn']} of {m['figures']} figures drawn"
    assert m["longestCell"] <= CELL_LIMIT, f"a cell of {m['longestCell']} characters: {m['longestCellText']!r}"
    return m


def test_the_emulator_report_fits_the_window_and_opens_on_the_decision(report, tmp_path):
    _, index = report
    for width in WIDTHS:
        _reads_well(index, tmp_path, width)
    text = visible_text(index.read_text())
    brief = text.split("The decision", 1)[1].split("Trade-offs", 1)[0]
    assert "What would change the decision" in brief and "Latency objective" in brief and "Quality" in brief
    assert ("Recommended" in brief or "Undecided" in brief), brief[:500]


def test_tables_have_no_index_column_and_typed_numbers(report):
    _, index = report
    page = index.read_text()
    assert 'class="dataframe"' not in page, "no raw pandas table"
    assert not re.search(r"<th[^>]*>\s*</th>", page.split("<body>", 1)[1].split("<script", 1)[0]), "no empty index-name header cell"
    assert re.search(r"\d+\.\d%", page), "percentages with one decimal"
