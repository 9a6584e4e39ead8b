"""LLM-as-judge: graded through a real deployment over HTTP, cached, priced apart, never 0 when unparseable."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from llama_eval import Deployment, make_client
from llama_eval.emulator import start_emulator
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.quality.judge import Judge, parse_judgment
from llama_eval.quality.scorers import ScorerError
from llama_eval.quality.scoring import make_judge, score_run
from llama_eval.run import RunParams, run_evaluation

L33, L405 = "Llama-3.3-70B-Instruct", "Meta-Llama-3.1-405B-Instruct"

# The emulator serves Meta-Llama-3.1-405B (retired on serverless) as serverless here and warns so (LifecycleWarning, an error in
# tests): these tests only need its answers, so that one warning is silenced, deliberately.
pytestmark = pytest.mark.filterwarnings("ignore:emulated deployment:llama_eval.errors.LifecycleWarning")
QUIET = {"progress": "none", "announce": lambda message: None}


@pytest.mark.parametrize(
    "text, grade",
    [
        ("Score: 4\nReason: mostly right.", 4),
        ("**Score:** 5\nReason: exact.", 5),
        ('{"score": 2, "reason": "wrong year"}', 2),
        ('```json\n{"score": 3, "reason": "partial"}\n```', 3),
        ("I would give it a 4.", None),
        ("Score: 7\nReason: out of range", None),
        ("", None),
    ],
)
def test_parse_judgment(text, grade):
    got, reason = parse_judgment(text)
    assert got == grade
    if grade is None:
        assert reason.startswith("unparseable judge output")


@pytest.fixture
def judged_run(tmp_path, monkeypatch):
    path = tmp_path / "p.jsonl"
    items = [{"id": f"q{i}", "prompt": f"What is {i} plus {i}?", "reference": str(2 * i), "scorer": "judge", "tags": ["math"]} for i in range(12)]
    path.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    with start_emulator(time_scale=0, models=[L33, L405], prompt_sets=[path]) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        target = Deployment(name="l33", model=L33, kind="managed", endpoint=emu.deployment_url(L33), key_env="EMU_KEY")
        judge_dep = Deployment(name="judge405", model=L405, kind="serverless", endpoint=emu.deployment_url(L405), key_env="EMU_KEY")
        import warnings

        from llama_eval.errors import LifecycleWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LifecycleWarning)
            run_evaluation([target], load_prompt_set(path), tmp_path / "r", RunParams(temperature=0), **QUIET)
        yield tmp_path / "r", judge_dep, emu


def test_judge_grades_through_a_deployment_and_caches(judged_run):
    run_dir, judge_dep, emu = judged_run
    summary = score_run(run_dir, judge=make_judge(run_dir, judge_dep))
    scores = [json.loads(line) for line in (run_dir / "scores.jsonl").read_text().splitlines()]
    rows = {json.loads(line)["prompt_id"]: json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()}
    for s in scores:
        right = rows[s["prompt_id"]]["response_text"].rstrip(".").split()[-1] == str(2 * int(s["prompt_id"][1:]))
        assert s["judge_grade"] == (5 if right else 2) and s["score"] == (1.0 if right else 0.25)
    j = summary.judge
    assert j.judged_rows == 12 and j.requests_sent == 12 and j.unscorable_rows == 0
    assert Decimal(j.cost_usd) > 0 and j.tokens > 0, "the judge's own cost, at 405B prices, kept apart"
    requests_before = emu.stats.get("ok_Meta-Llama-3.1-405B-Instruct", 0)
    again = score_run(run_dir, judge=make_judge(run_dir, judge_dep))
    assert again.judge.requests_sent == 0 and again.judge.from_cache == 12 and again.judge.cost_usd == "0"
    assert emu.stats.get("ok_Meta-Llama-3.1-405B-Instruct", 0) == requests_before, "a re-score costs nothing"
    assert again.deployments == summary.deployments


def test_judge_scorer_needs_a_judge(judged_run):
    run_dir, _, _ = judged_run
    with pytest.raises(ScorerError, match="uses the 'judge' scorer; pass a judge deployment"):
        score_run(run_dir)


def test_malformed_judge_output_is_unscorable_not_zero(server, key_env):
    server.answer_next(200, {"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": "Great answer, I love it!"}, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 50, "completion_tokens": 6, "total_tokens": 56}})  # fmt: skip
    server.answer_next(500, {"error": {"code": "InternalServerError", "message": "boom"}})
    dep = Deployment(name="j", model=L405, kind="managed", endpoint=server.url, key_env=key_env)
    judge = Judge(make_client(dep))
    unparseable = judge.judge("Q?", "A", "A")
    assert unparseable.grade is None and unparseable.score.value is None and "unparseable" in unparseable.reason
    failed = judge.judge("Q2?", "B", "B")
    assert failed.grade is None and "judge request failed" in failed.reason
    sent = server.chat_requests()[0].body
    assert sent["temperature"] == 0 and "[llama-eval judge v1]" in sent["messages"][0]["content"]


def test_unscorable_rows_are_reported_apart(tmp_path):
    from llama_eval.quality.scoring import summarize

    scores = [
        {"deployment": "a", "prompt_id": "1", "scorer": "judge", "score": 1.0, "failed": False, "tags": []},
        {"deployment": "a", "prompt_id": "2", "scorer": "judge", "score": None, "failed": False, "tags": []},
    ]
    d = summarize(scores).deployments["a"]
    assert d.unscorable_rows == 1 and d.prompts == 1 and d.mean == 1.0
