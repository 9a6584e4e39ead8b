"""Failures stay failures, times are real times: health of hand-made run directories, and what score/report conclude from them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from _support.fakerun import FakeDeployment as F
from _support.fakerun import write_run
from llama_eval.quality.scoring import score_run
from llama_eval.records import ResultRow
from llama_eval.report import cost, latency, quality
from llama_eval.report import summary as report_summary
from llama_eval.rundir.health import DeploymentState, RunState, assess_run, longest_pause

L33, MAV, L8 = "Llama-3.3-70B-Instruct", "Llama-4-Maverick-17B-128E-Instruct-FP8", "Meta-Llama-3.1-8B-Instruct"
NOT_FOUND = ("http_error", 404, "Resource not found")


@pytest.fixture
def stopped_run(tmp_path):
    """The issue's case: one deployment at a wrong URL (every row a 404), stopped by the runner."""
    return write_run(
        tmp_path / "stopped",
        [F("llama33-70b", L33, accuracy=0.5), F("maverick", MAV, fail=NOT_FOUND, stopped="not found at https://maverick.example/ (HTTP 404)")],
        status="incomplete",
    )


def test_a_stopped_deployment_is_named_with_its_error_and_what_to_check(stopped_run):
    health = assess_run(stopped_run)
    maverick = health.deployments["maverick"]
    assert maverick.state is DeploymentState.STOPPED and maverick.excluded
    assert "404" in maverick.error and "endpoint URL" in maverick.check and "https://maverick.example/" in maverick.check
    assert health.deployments["llama33-70b"].state is DeploymentState.OK
    assert health.comparable == ["llama33-70b"] and health.recommendable == ["llama33-70b"]
    assert health.state is RunState.INCOMPLETE and "incomplete" in health.run_banner()


def test_a_stop_not_recorded_is_inferred_from_rows_that_are_all_fatal(tmp_path):
    """Runs made before the runner recorded stops: no answer and every row a 401 is a stopped deployment."""
    run = write_run(tmp_path / "r", [F("a", L33), F("b", MAV, fail=("auth_error", 401, "Unauthorized"), fail_share=1.0)])
    b = assess_run(run).deployments["b"]
    assert b.state is DeploymentState.STOPPED and "401" in b.error and "$FAKE_KEY" in b.check


def test_a_failed_probe_stops_a_deployment(tmp_path):
    run = write_run(tmp_path / "r", [F("a", L33), F("b", MAV, probe="GET /info: HTTP 404 Not Found", rows=0)], status="incomplete")
    b = assess_run(run).deployments["b"]
    assert b.state is DeploymentState.STOPPED and b.error == "GET /info: HTTP 404 Not Found" and b.expected == 24 and b.rows == 0


def test_mostly_errors_and_incomplete(tmp_path):
    run = write_run(
        tmp_path / "r",
        [F("quota", L33, fail=("rate_limited", 429, "Rate limit is exceeded"), fail_share=0.8), F("fine", MAV), F("short", L8, kind="managed", rows=10)],
        status="interrupted",
    )
    health = assess_run(run)
    quota, short = health.deployments["quota"], health.deployments["short"]
    assert quota.state is DeploymentState.MOSTLY_ERRORS and "429" in quota.error and "quota" in quota.check
    assert short.state is DeploymentState.INCOMPLETE and not short.excluded and not short.complete
    assert health.state is RunState.INTERRUPTED and "interrupted" in health.run_banner() and "--resume" in health.run_banner()
    assert health.comparable == ["fine", "short"] and health.recommendable == ["fine"]


def test_score_leaves_the_stopped_deployment_out_of_verdicts_and_says_so(stopped_run):
    summary = score_run(stopped_run)
    assert set(summary.deployments) == {"llama33-70b"}, "the 404s are not scored as wrong answers"
    assert summary.comparisons == (), "no verdict pairs a deployment with one that never answered"
    assert summary.excluded["maverick"].state == "stopped"
    out = subprocess.run([str(Path(sys.executable).parent / "llama-eval"), "score", str(stopped_run)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "maverick better" not in out.stdout and "than maverick" not in out.stdout
    assert "left out of the comparisons" in out.stdout and "maverick (Llama-4-Maverick-17B-128E-Instruct-FP8) stopped" in out.stdout and "404" in out.stdout


def test_recommendations_only_name_deployments_with_complete_rows(tmp_path):
    run = write_run(
        tmp_path / "r",
        [
            F("best-but-short", L8, kind="managed", accuracy=1.0, rows=20),
            F("stopped", MAV, fail=NOT_FOUND, stopped="not found (404)"),
            F("complete", L33, accuracy=0.5),
        ],
        status="interrupted",
    )
    health = assess_run(run)
    summary = score_run(run)
    frame = report_summary.summary_frame(quality.quality_frame(summary), cost.cost_numbers(run), latency.latency_frame(run, health), health)
    lines = report_summary.recommendations(frame, summary.comparisons, health)
    verdicts = [line for line in lines if line.startswith(("Highest", "For "))]
    assert verdicts and all("complete" in line for line in verdicts if "Highest" in line)
    assert not any("best-but-short" in line or "stopped" in line for line in verdicts)
    assert any(line.startswith("best-but-short is left out") for line in lines) and any(line.startswith("stopped is left out") for line in lines)


def test_latency_is_shown_in_real_time_without_warmup(tmp_path):
    """Rows measured against an emulator at 50x speed (time scale 0.02) read, after rescaling, as the service's time (ttft_s=0.4 s given)."""
    run = write_run(tmp_path / "r", [F("emu", L33, time_scale=0.02, ttft_s=0.4, tps=30.0, warmup=2), F("real", MAV, ttft_s=0.4, tps=30.0)], items=30, repeats=1)
    raw = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert max(r["ttft_s"] for r in raw if r["deployment"] == "emu" and not r.get("warmup")) < 0.01, "as measured, 50x too fast"
    health = assess_run(run)
    assert health.deployments["emu"].time_scale == 0.02 and health.deployments["emu"].warmup_rows == 2
    frame = latency.latency_frame(run, health)
    assert frame.loc["emu", "requests"] == 28, "the two warm-up rows are left out"
    for name in ("emu", "real"):
        assert 0.4 * 0.8 * 1000 <= frame.loc[name, "TTFT p50 ms"] <= 0.4 * 1.2 * 1000
        assert frame.loc[name, "output tok/s p50"] == pytest.approx(30.0)
    assert frame.loc["emu", "TTFT p99 ms"] < 0.4 * 1.2 * 1000 + 1, "no 10x cold start in the statistics"
    notes = " ".join(latency.latency_notes(health))
    assert "Emulated at 50x speed; times rescaled" in notes and "Warm-up requests left out" in notes and "emu 2" in notes
    table = latency.latency_table(run, health)
    assert table.loc["emu", "time basis"] == "emulated at 50x speed; rescaled" and table.loc["real", "time basis"] == "as measured"


def test_old_runs_read_as_real_time_and_no_warmup(tmp_path):
    run = write_run(tmp_path / "r", [F("azure", L33, record_time_scale=False, simulated=False)])
    d = assess_run(run).deployments["azure"]
    assert d.time_scale == 1.0 and d.warmup_rows == 0 and not d.saturated and d.latency_caveat == ""


def test_an_emulated_run_without_a_recorded_time_scale_is_labelled_not_trusted(tmp_path):
    """Runs made before the runner recorded the scale: the emulator may have run 100x fast, so the times are not the service's."""
    run = write_run(tmp_path / "r", [F("emu", L33, record_time_scale=False, time_scale=0.01), F("other", MAV, record_time_scale=False, time_scale=0.01)])
    health = assess_run(run)
    assert health.deployments["emu"].unknown_time_base and health.latency_unreliable() == ["emu", "other"]
    assert any(n.startswith("**Emulator time scale not recorded** (emu, other)") for n in latency.latency_notes(health))
    assert latency.latency_table(run, health).loc["emu", "time basis"] == "emulator, time scale not recorded"
    summary = score_run(run)
    frame = report_summary.summary_frame(quality.quality_frame(summary), cost.cost_numbers(run), latency.latency_frame(run, health), health)
    lines = report_summary.recommendations(frame, summary.comparisons, health)
    assert any("For latency: no recommendation" in line and "time scale was not recorded" in line for line in lines)


def test_a_saturated_client_gets_no_latency_recommendation(tmp_path):
    run = write_run(tmp_path / "r", [F("a", L33, saturated=True, accuracy=0.9), F("b", MAV, accuracy=0.9, ttft_s=0.1)])
    health = assess_run(run)
    assert health.latency_unreliable() == ["a"]
    notes = " ".join(latency.latency_notes(health))
    assert "not reliable" in notes and "a (event-loop lag 45 ms)" in notes
    summary = score_run(run)
    frame = report_summary.summary_frame(quality.quality_frame(summary), cost.cost_numbers(run), latency.latency_frame(run, health), health)
    lines = report_summary.recommendations(frame, summary.comparisons, health)
    assert any(line.startswith("For latency: no recommendation") for line in lines)
    assert not any("lowest" in line for line in lines)


def test_tables_say_words_not_nan_or_none(tmp_path, stopped_run):
    run = write_run(tmp_path / "r", [F("s", L33), F("m", L8, kind="managed"), F("x", MAV, rows=5)], repeats=1, status="interrupted")
    for r in (run, stopped_run):
        health = assess_run(r)
        summary = score_run(r)
        frame = report_summary.summary_frame(quality.quality_frame(summary), cost.cost_numbers(r), latency.latency_frame(r, health), health)
        for table in (quality.quality_table(summary), quality.tag_frame(summary), latency.latency_table(r, health), cost.cost_frame(r),
                      report_summary.summary_table(frame, health)):  # fmt: skip
            text = table.to_string() + table.to_html()
            assert "NaN" not in text and "None" not in text and "nan" not in text, text
    assert "one repeat per prompt" in quality.quality_table(score_run(run)).to_string()
    assert cost.cost_frame(run).loc["m", "per 1,000 requests"] == "VM-hours: see projection"


def test_summary_figures_have_no_labels_to_overlap(tmp_path):
    run = write_run(tmp_path / "r", [F("a", L33), F("b", MAV), F("c", L8, kind="managed")])
    health = assess_run(run)
    summary = score_run(run)
    frame = report_summary.summary_frame(quality.quality_frame(summary), cost.cost_numbers(run), latency.latency_frame(run, health), health)
    cost_figure, latency_figure = report_summary.summary_figures(frame)
    assert sorted(t.name for t in cost_figure.data) == ["Pareto frontier", "a", "b"], "managed c has no token price: not placed on a cost axis"
    assert sorted(t.name for t in latency_figure.data) == ["a", "b", "c"]
    assert not any("text" in (t.mode or "") for f in (cost_figure, latency_figure) for t in f.data)


def _row(deployment: str, start: float, end: float) -> dict:
    from datetime import UTC, datetime

    iso = lambda t: datetime.fromtimestamp(1_790_000_000 + t, UTC).isoformat()  # noqa: E731
    return {"deployment": deployment, "started_at": iso(start), "finished_at": iso(end)}


def _typed(deployment: str, start: float, end: float) -> ResultRow:
    return ResultRow.from_json(_row(deployment, start, end) | {"key": f"{deployment}|{start}|0", "prompt_id": "p", "status": "ok"})


def test_a_pause_of_every_deployment_at_once_is_found_and_labelled():
    steady = [_typed(d, i * 0.1, i * 0.1 + 0.25) for i in range(40) for d in ("a", "b")]
    assert longest_pause(steady) is None, "requests finishing steadily: no pause"
    stalled = steady + [_typed("a", 4.05, 9.0), _typed("b", 4.06, 9.01), _typed("a", 9.2, 9.4)]
    start, seconds, through = longest_pause(stalled)
    assert seconds == pytest.approx(9.0 - 4.15, abs=0.01) and through == {"a", "b"}


def test_a_paused_run_gets_no_latency_recommendation(tmp_path):
    run = write_run(tmp_path / "r", [F("a", L33), F("b", MAV)], items=6, repeats=1)
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    for i, row in enumerate(rows):  # six requests each, 0.3 s apart; all in flight through a 5 s pause
        row.update({k: v for k, v in _row(row["deployment"], i * 0.3, i * 0.3 + 0.2).items() if k != "deployment"})
    rows[2].update({k: v for k, v in _row("x", 0.55, 6.0).items() if k != "deployment"})
    rows[8].update({k: v for k, v in _row("x", 0.56, 6.1).items() if k != "deployment"})
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    health = assess_run(run)
    assert health.latency_unreliable() == ["a", "b"] and "pause" in health.deployments["a"].latency_caveat
    assert any("These latency figures are not reliable" in note and "pause" in note for note in latency.latency_notes(health))
    summary = score_run(run)
    frame = report_summary.summary_frame(quality.quality_frame(summary), cost.cost_numbers(run), latency.latency_frame(run, health), health)
    assert any(line.startswith("For latency: no recommendation") for line in report_summary.recommendations(frame, summary.comparisons, health))


# --------------------------------------------------------------------------- measured against the emulator's intended timing (issue 24)


def test_intended_check_flags_the_stalled_deployment_and_not_the_clean_one(tmp_path):
    """Two emulated deployments at time scale 0.02 (50x speed); one had a 60 ms pause of this machine in every fifth request.

    Rescaled, 60 ms reads as 3 s: its TTFT and e2e p90 are far from what the emulator intended, so its latency
    is not trustworthy and no latency recommendation is made; the clean one passes the same check.
    """
    deployments = [
        F("clean", L33, time_scale=0.02, ttft_s=0.4, tps=30.0, intended=True),
        F("stalled", MAV, time_scale=0.02, ttft_s=0.4, tps=30.0, intended=True, stall_real_s=0.06, stall_share=0.2),
    ]
    run = write_run(tmp_path / "r", deployments, items=30, repeats=1)
    health = assess_run(run)
    clean, stalled = health.deployments["clean"], health.deployments["stalled"]
    assert clean.intended is not None and clean.intended.ok and clean.intended.requests == 30 and clean.latency_caveat == ""
    assert stalled.intended is not None and not stalled.intended.ok and stalled.intended_mismatch
    assert {(c.metric, c.statistic) for c in stalled.intended.failed} == {("TTFT", "p90"), ("e2e", "p90")}, "the median is untouched: 1 in 5"
    assert "not trustworthy on this machine" in stalled.latency_caveat and "TTFT p90" in stalled.latency_caveat
    assert health.latency_unreliable() == ["stalled"]

    table = latency.latency_table(run, health)
    assert table.loc["clean", "vs emulator's intended"] == "within 5% (p50) / 10% (p90)" and table.loc["clean", "reliable"] == "yes"
    assert table.loc["stalled", "vs emulator's intended"].startswith("off: TTFT p90 +") and table.loc["stalled", "reliable"].startswith("no: not trustworthy")
    notes = " ".join(latency.latency_notes(health))
    assert "Checked against the emulator's intended timing" in notes and "Within: clean." in notes
    assert "stalled: latency not trustworthy on this machine" in notes and "measured vs" in notes and "intended" in notes

    summary = score_run(run)
    frame = report_summary.summary_frame(quality.quality_frame(summary), cost.cost_numbers(run), latency.latency_frame(run, health), health)
    lines = report_summary.recommendations(frame, summary.comparisons, health)
    assert any(line.startswith("For latency: no recommendation") and "stalled" in line for line in lines), lines
    assert not any(line.startswith("For latency:") and "lowest" in line for line in lines)


def test_intended_check_catches_a_small_stall_in_most_requests(tmp_path):
    """A pause of only 2 ms in three requests of four: rescaled from 1/50 it adds 100 ms to a 400 ms TTFT, the median moves 25%."""
    stalled = F("d", L33, time_scale=0.02, ttft_s=0.4, tps=30.0, intended=True, stall_real_s=0.002, stall_share=0.75)
    run = write_run(tmp_path / "r", [stalled], items=40, repeats=1)
    check = assess_run(run).deployments["d"].intended
    assert check is not None and ("TTFT", "p50") in {(c.metric, c.statistic) for c in check.failed}


def test_intended_check_needs_the_intended_timing(tmp_path):
    """A real service (or a run from before the emulator sent it) has no intended timing: no check, no caveat from it."""
    run = write_run(tmp_path / "r", [F("azure", L33, simulated=False), F("old-emulated", MAV, time_scale=0.5)])
    for d in assess_run(run).deployments.values():
        assert d.intended is None and not d.intended_mismatch and d.latency_caveat == ""
    assert "vs emulator's intended" not in latency.latency_table(run)


def test_intended_comparison_tolerances():
    from llama_eval.rundir.health import INTENDED_MEDIAN_TOLERANCE, INTENDED_P90_TOLERANCE, IntendedComparison

    assert (INTENDED_MEDIAN_TOLERANCE, INTENDED_P90_TOLERANCE) == (0.05, 0.10)
    assert IntendedComparison("TTFT", "p50", 1.049, 1.0, 0.05).ok and not IntendedComparison("TTFT", "p50", 1.051, 1.0, 0.05).ok
    assert IntendedComparison("e2e", "p90", 0.91, 1.0, 0.10).ok and not IntendedComparison("e2e", "p90", 0.89, 1.0, 0.10).ok, "too fast is off too"
    assert IntendedComparison("ITL", "p50", 0.0, 0.005, 0.05).sentence() == "ITL p50 0.0 ms measured vs 5.0 ms intended (-100%; tolerance 5%)"


def test_intended_timing_round_trips_and_ignores_what_it_is_not():
    from llama_eval.records import IntendedTiming

    timing = IntendedTiming(0.412, 0.021, 1.93, 80)
    assert timing.to_text() == "ttft=0.412;itl=0.021;e2e=1.93;tokens=80"
    assert IntendedTiming.parse(timing.to_text()) == timing and IntendedTiming.parse(timing.to_text().encode()) == timing
    assert IntendedTiming.parse(None) is None and IntendedTiming.parse("") is None and IntendedTiming.parse("ttft=x;itl=1") is None
