"""The report pipeline for real: papermill executes the notebooks, Chromium opens the page.

One small emulator run feeds every test here (module fixture). Its prompts include model output
that tries HTML injection, and its key is a recognisable fake that must appear in no output file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from llama_eval import Deployment
from llama_eval.emulator import start_emulator
from llama_eval.pipeline import ReportError, build_report
from llama_eval.prompts import load_prompt_set
from llama_eval.runner import RunParams, run_evaluation

FAKE_KEY = "LLAMAEVAL-REPORT-SECRET-7f3a9c"
HOSTILE = '<script>window.__pwned = 1; alert("x")</script><img src=x onerror="window.__pwned = 2">'


def chromium() -> str:
    """Debian's chromium, installed here when missing (the test setup owns its browser)."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("chromium is not installed and this user cannot apt-get install it")
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, capture_output=True, timeout=900)
    return shutil.which("chromium") or pytest.fail("chromium did not install")


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
    assert "Score per deployment" in page and "Time to first token" in page and "Quality vs TTFT p90 ms" in page
    assert "Quality vs cost" not in page, "no token price (managed): no cost-quality figure, rather than a made-up one"


def test_report_holds_the_runs_numbers(report):
    base, index = report
    summary = json.loads((base / "run" / "scores_summary.json").read_text())
    page = index.read_text()
    for d in summary["deployments"].values():
        assert f"{100 * d['mean']:.1f}" in page
    costs = [json.loads(line)["cost_usd"] for line in (base / "run" / "results.jsonl").read_text().splitlines()]
    assert all(c is None for c in costs), "managed deployments: token cost is 'no price', never 0"
    assert "no price (managed: VM-hours)" in page


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


def test_chromium_renders_without_console_errors(report, tmp_path):
    _, index = report
    browser = chromium()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    shot = tmp_path / "report.png"
    dom = subprocess.run(
        [browser, *flags, profile, "--virtual-time-budget=8000", "--enable-logging=stderr", "--v=0", "--dump-dom", index.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    assert dom.stdout.count('class="main-svg"') >= 4, "plotly drew its figures as SVG"
    assert "SIMULATED — local emulator, not real model output" in dom.stdout
    subprocess.run(
        [
            browser,
            *flags,
            f"--user-data-dir={tmp_path / 'profile2'}",
            "--window-size=1280,1600",
            "--virtual-time-budget=8000",
            f"--screenshot={shot}",
            index.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert shot.exists() and shot.stat().st_size > 20_000


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
    from llama_eval.reports import related_runs, trend_figure, trend_frame

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
