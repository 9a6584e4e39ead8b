"""Answers cut short: a 200 that ends without a finish_reason is status ``incomplete``, never ``ok``.

llama.cpp's OpenAI server (default ``--interrupt_requests True``) ends a running stream when another
request arrives: the role chunk, then ``data: [DONE]``. The emulator's ``cut`` fault does the same
(and sends a non-streamed answer with its text so far and ``finish_reason: null``), so these tests
run the runner over real HTTP against it: every attempt cut leaves ``incomplete`` rows after the
retries; a transient cut recovers with retries; and a run with some cut rows counts them as failures
in health, scores, latency, cost, export, the report banners and ``llama-eval score``.
"""

from __future__ import annotations

import ast
import json
from decimal import Decimal
from pathlib import Path

import pytest

import llama_eval
from llama_eval import Deployment, Status
from llama_eval.cli import main as cli_main
from llama_eval.cost.actual import run_costs
from llama_eval.emulator import start_emulator
from llama_eval.errors import NoSuccessfulRequestsError
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.quality.scoring import score_run
from llama_eval.records import ANSWERED
from llama_eval.report.pipeline import banners
from llama_eval.run import RunParams, run_evaluation
from llama_eval.rundir.export import azure_records
from llama_eval.rundir.health import DeploymentState, assess_run
from llama_eval.rundir.locate import check_run_succeeded
from llama_eval.rundir.store import read_manifest, read_rows

L33 = "Llama-3.3-70B-Instruct"
L33_USD_PER_1K = Decimal("0.00071")  # serverless input and output price in data/prices.csv (the runner tests use it too)
QUIET = {"progress": "none", "announce": lambda message: None}


def _prompts(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"What is {i} plus {i}?", "reference": str(2 * i)}) + "\n" for i in range(n)))
    return path


def _run(tmp_path: Path, monkeypatch, emulator: dict, params: RunParams, n: int = 6, *, resume_too: bool = False, time_scale: float = 0):
    """(summary, emulator stats, rows) of one run against the emulator; with ``resume_too``, also the summary and
    stats of ``--resume`` on the same directory right after (same emulator, so the deployments are unchanged)."""
    prompts = _prompts(tmp_path, n)
    with start_emulator(time_scale=time_scale, models=[L33], seed=5, prompt_sets=[prompts], **emulator) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        dep = Deployment(name="d", model=L33, kind="serverless", endpoint=emu.deployment_url(L33), key_env="EMU_KEY")
        summary = run_evaluation([dep], load_prompt_set(prompts), tmp_path / "r", params, **QUIET)
        stats = emu.stats
        resumed = (run_evaluation([dep], load_prompt_set(prompts), tmp_path / "r", params, resume=True, **QUIET), emu.stats) if resume_too else None
    return summary, stats, read_rows(tmp_path / "r"), resumed


def _price(usage: dict) -> Decimal:
    return (Decimal(usage["prompt_tokens"]) + Decimal(usage["completion_tokens"])) * L33_USD_PER_1K / 1000


# --------------------------------------------------------------------------- every attempt cut


@pytest.mark.parametrize("client", ["wire", "sdk"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
def test_every_attempt_cut_leaves_incomplete_rows_after_the_retries(tmp_path, monkeypatch, client, stream):
    params = RunParams(max_tokens=40, max_attempts=3, backoff_base_s=0.01, stream=stream, client=client, warmup=0)
    summary, stats, rows, (again, after) = _run(tmp_path, monkeypatch, {"fault_rate": 1.0, "fault_kinds": ["cut"]}, params, resume_too=True)
    assert [r["status"] for r in rows] == ["incomplete"] * 6, [(r["status"], r.get("error_message")) for r in rows]
    assert all(r["attempts"] == 3 for r in rows), "retried like a dropped connection, up to max_attempts"
    assert stats["fault_cut"] == 18 and summary.retries == 12 and summary.by_status == {"incomplete": 6}
    for r in rows:
        assert r["http_status"] == 200 and r.get("finish_reason") is None
        if stream:
            assert r["error_message"].startswith("the stream ended without a finish_reason after "), r["error_message"]
            assert f"after {r['content_chunks']} content chunks" in r["error_message"]
            assert r["usage_source"] == "estimated", "a cut stream carries no usage: the tokens are counted here"
        else:
            assert r["error_message"].startswith("the answer has no finish_reason"), r["error_message"]
            assert r["usage_source"] == "server", "the cut body said what it used"
        # the tokens it used are still costed: the prompt was read, whatever was written before the cut
        assert r["usage"]["prompt_tokens"] > 0 and Decimal(r["cost_usd"]) == _price(r["usage"]) > 0
    assert run_costs(tmp_path / "r").total_usd == sum(Decimal(r["cost_usd"]) for r in rows) > 0

    health = assess_run(tmp_path / "r").deployments["d"]
    assert (health.answered, health.errors, health.incomplete_rows) == (0, 6, 6)
    assert health.state is DeploymentState.MOSTLY_ERRORS and "--interrupt_requests False" in health.check
    with pytest.raises(NoSuccessfulRequestsError, match="incomplete.*--interrupt_requests False"):
        check_run_succeeded(tmp_path / "r")

    # final after the retries, like connection_error: a resumed run sends none of them again
    assert again.rows_written == 0 and again.skipped_done == 6 and after["fault_cut"] == 18
    assert len(read_rows(tmp_path / "r")) == 6


# --------------------------------------------------------------------------- a transient cut


def test_a_transient_cut_recovers_with_retries(tmp_path, monkeypatch):
    params = RunParams(repeats=2, max_tokens=40, max_attempts=8, backoff_base_s=0.01, concurrency=8)
    summary, stats, rows, _ = _run(tmp_path, monkeypatch, {"fault_rate": 0.3, "fault_kinds": ["cut"]}, params, n=20)
    assert len(rows) == 40 and {r["status"] for r in rows} <= set(ANSWERED), {r["status"] for r in rows}
    assert stats["fault_cut"] > 0 and summary.retries == stats["fault_cut"], "each cut answer was sent again, and only those"
    assert all(r["finish_reason"] in ("stop", "length") for r in rows)


# --------------------------------------------------------------------------- counted as failures everywhere


@pytest.fixture(scope="module")
def cut_run(tmp_path_factory):
    """20 prompts, a quarter of the answers cut, no retries: some rows incomplete, most ok (timed: latency is measured)."""
    tmp_path = tmp_path_factory.mktemp("cut")
    monkeypatch = pytest.MonkeyPatch()
    try:
        params = RunParams(max_tokens=40, max_attempts=1, warmup=0)
        _, stats, rows, _ = _run(tmp_path, monkeypatch, {"fault_rate": 0.25, "fault_kinds": ["cut"]}, params, n=20, time_scale=0.002)
    finally:
        monkeypatch.undo()
    cut = [r for r in rows if r["status"] == "incomplete"]
    assert 0 < len(cut) < 10 and len(cut) == stats["fault_cut"], "seed 5 cuts some rows, fewer than half"
    assert {r["status"] for r in rows} - {"incomplete"} <= set(ANSWERED)
    return tmp_path / "r", rows, cut


def test_health_counts_them_as_failures(cut_run):
    run_dir, rows, cut = cut_run
    health = assess_run(run_dir)
    d = health.deployments["d"]
    assert (d.answered, d.errors, d.incomplete_rows) == (len(rows) - len(cut), len(cut), len(cut))
    assert d.state is DeploymentState.OK, "under half failed: still judged"
    assert health.cut_short() == [d.cut_short()] and d.cut_short().startswith(f"d: {len(cut)} of 20 requests ended without a finish_reason")
    assert read_manifest(run_dir)["summary"]["by_status"]["incomplete"] == len(cut)


def test_scores_list_them_with_failed_rows_never_as_answers(cut_run):
    run_dir, rows, cut = cut_run
    summary = score_run(run_dir)
    scores = {s["key"]: s for s in map(json.loads, (run_dir / "scores.jsonl").read_text().splitlines())}
    for r in cut:
        assert scores[r["key"]]["failed"] is True and scores[r["key"]]["reason"] == "request failed: incomplete"
    assert not any(s["failed"] for k, s in scores.items() if k not in {r["key"] for r in cut})
    d = summary.deployments["d"]
    assert d.failed_rows == d.incomplete_rows == len(cut)
    from llama_eval.report import quality

    assert quality.quality_frame(summary).loc["d", "incomplete"] == len(cut)


def test_latency_leaves_them_out_and_counts_them(cut_run):
    from llama_eval.report import latency as report_latency

    run_dir, rows, cut = cut_run
    frame = report_latency.latency_frame(run_dir)
    assert frame.loc["d", "requests"] == len(rows) - len(cut), "only answers in the percentiles"
    assert frame.loc["d", "incomplete (left out)"] == len(cut)
    assert any(note.startswith("**Answers cut short, left out of these figures** — d: ") for note in report_latency.latency_notes(assess_run(run_dir)))
    assert any(css == "banner partial" and text.startswith("Answers cut short — d: ") for css, text in banners(run_dir, assess_run(run_dir)))


def test_cost_counts_their_tokens(cut_run):
    run_dir, rows, cut = cut_run
    costs = run_costs(run_dir).deployments["d"]
    assert all(r["usage"]["prompt_tokens"] > 0 and r["cost_usd"] is not None for r in cut)
    assert costs.prompt_tokens == sum(r["usage"]["prompt_tokens"] for r in rows), "the cut rows' prompts are counted"
    assert costs.cost_usd == sum(Decimal(r["cost_usd"]) for r in rows)
    assert costs.estimated_usage_rows >= len(cut), "a cut stream has no usage: counted with the tokenizer"


def test_export_leaves_them_out_and_says_so(cut_run):
    run_dir, rows, cut = cut_run
    records, failed = azure_records(run_dir)
    assert len(records) == len(rows) - len(cut) and failed == {"incomplete": len(cut)}


def test_llama_eval_score_names_the_count(cut_run, capsys):
    run_dir, rows, cut = cut_run
    assert cli_main(["score", str(run_dir)]) == 0
    out = capsys.readouterr().out
    header, _, line = out.splitlines()[:3]
    assert header.split() == ["deployment", "prompts", "score", "95%", "CI", "failed", "rows", "incomplete", "unscorable", "repeats", "agree"]
    assert line.split()[5:7] == [str(len(cut)), str(len(cut))], line
    assert f"d: {len(cut)} of 20 requests ended without a finish_reason" in out


# --------------------------------------------------------------------------- one definition of "answered"


def test_incomplete_is_final_and_not_answered():
    assert not Status.INCOMPLETE.answered and Status.INCOMPLETE.final
    assert "incomplete" not in ANSWERED


def test_no_module_keeps_its_own_list_of_answered_statuses():
    """``records.ANSWERED`` is the one list: a copy elsewhere is how a new failure status ends up scored as an answer."""
    copies = []
    for path in Path(llama_eval.__file__).parent.rglob("*.py"):
        if path.name == "records.py" or "emulator" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Tuple | ast.List | ast.Set) and {"ok", "length"} <= {e.value for e in node.elts if isinstance(e, ast.Constant)}:
                copies.append(f"{path.name}:{node.lineno}")
    assert copies == []
