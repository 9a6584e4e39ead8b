"""azure:* scorers: Microsoft's azure-ai-evaluation evaluators, wired into llama-eval's scoring.

Deterministic ones must give exactly what the SDK's evaluator gives on the same pairs (TruthfulQA
answers: tests/data's hand-written sample always, the real set where the workspace has it);
AI-assisted ones are graded by a judge deployment over real HTTP (the emulator playing the judge,
and the recording server for what a real judge may say), and anything that is not a whole grade
1-5 is unscorable, never 0.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import warnings
from decimal import Decimal

import pytest

from _support import shared_data
from llama_eval import Deployment
from llama_eval.cli import main
from llama_eval.emulator import start_emulator
from llama_eval.errors import LifecycleWarning
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.quality import score
from llama_eval.quality.azure import AzureJudge, missing_nltk_data
from llama_eval.quality.scorers import ScorerError
from llama_eval.quality.scoring import make_judge, score_run
from llama_eval.run import RunParams, run_evaluation

ev = pytest.importorskip("azure.ai.evaluation", reason="azure-ai-evaluation is not installed: pip install 'llama-eval[foundry]' (make install does)")

L33, L405 = "Llama-3.3-70B-Instruct", "Meta-Llama-3.1-405B-Instruct"

# The emulator serves Meta-Llama-3.1-405B (retired on serverless) as serverless here and warns so (LifecycleWarning,
# an error in tests): these tests reach it as managed or only need its answers, so that one warning is silenced, deliberately.
pytestmark = pytest.mark.filterwarnings("ignore:emulated deployment:llama_eval.errors.LifecycleWarning")
QUIET = {"progress": "none", "announce": lambda message: None}
NLTK_MISSING = missing_nltk_data()


def truthfulqa_pairs(which: str, n: int = 40) -> list[tuple[str, str]]:
    """(answer, reference): TruthfulQA's correct and incorrect answers against its best answer, from the
    real set (``which="real"``; skips where it is absent) or tests/data's sample (``"sample"``)."""
    pairs = []
    with shared_data.source(which, "truthfulqa.csv").open(encoding="utf-8") as f:
        for row in list(csv.DictReader(f))[:n]:
            best = row["Best Answer"]
            pairs.append((row["Correct Answers"].split("; ")[-1], best))
            pairs.append((row["Best Incorrect Answer"], best))
    return pairs


def test_sdk_is_not_imported_at_start_up():
    code = "import sys, llama_eval, llama_eval.cli.app, llama_eval.quality, llama_eval.rundir.export; print('azure.ai.evaluation' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_extra_names_the_install_command():
    code = (
        "import sys; sys.modules['azure.ai.evaluation'] = None\n"  # as if the extra were not installed
        "from llama_eval.quality import score\n"
        "from llama_eval.quality.scorers import ScorerError\n"
        "try:\n    score('azure:f1', 'a', 'a')\nexcept ScorerError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'llama-eval[foundry]'" in out.stdout and "azure-ai-evaluation" in out.stdout


def test_missing_extra_stops_a_run_before_its_first_request(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "q", "prompt": "Hi?", "scorer": "azure:fluency"}) + "\n")
    code = (
        "import sys; sys.modules['azure.ai.evaluation'] = None\n"  # find_spec then raises: as good as absent
        "from llama_eval.prompts.prompt_set import load_prompt_set\n"
        "from llama_eval.quality.scoring import check_prompt_scorers\n"
        "from llama_eval.quality.scorers import ScorerError\n"
        f"try:\n    check_prompt_scorers(load_prompt_set({str(path)!r}))\nexcept ScorerError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "prompt 'q': scorer 'azure:fluency' needs Microsoft's azure-ai-evaluation SDK" in out.stdout and "llama-eval[foundry]" in out.stdout


@pytest.mark.parametrize(
    "name, make",
    [
        ("azure:f1", lambda: ev.F1ScoreEvaluator()),
        ({"name": "azure:rouge", "rouge_type": "rouge1"}, lambda: ev.RougeScoreEvaluator(rouge_type=ev.RougeType.ROUGE_1)),
        ({"name": "azure:rouge", "rouge_type": "rougeL"}, lambda: ev.RougeScoreEvaluator(rouge_type=ev.RougeType.ROUGE_L)),
        ("azure:rouge", lambda: ev.RougeScoreEvaluator(rouge_type=ev.RougeType.ROUGE_L)),  # the default rouge type
    ],
)
@pytest.mark.parametrize("which", shared_data.SOURCES)
def test_deterministic_scorers_equal_the_sdk(name, make, which):
    scorer_name, options = (name["name"], {k: v for k, v in name.items() if k != "name"}) if isinstance(name, dict) else (name, {})
    evaluator, key = make(), "f1_score" if scorer_name == "azure:f1" else "rouge"
    pairs = truthfulqa_pairs(which)
    ours = [score(scorer_name, answer, reference, **options).value for answer, reference in pairs]
    theirs = [evaluator(response=answer, ground_truth=reference)[key] for answer, reference in pairs]
    assert ours == theirs
    assert len(set(ours)) > 5, "the pairs must spread the scores, or equality proves little"


@pytest.mark.skipif(bool(NLTK_MISSING), reason=f"NLTK data {NLTK_MISSING} is not installed and cannot be downloaded offline (python -m nltk.downloader ...)")
@pytest.mark.parametrize(
    "name, cls, key",
    [("azure:bleu", "BleuScoreEvaluator", "bleu"), ("azure:gleu", "GleuScoreEvaluator", "gleu"), ("azure:meteor", "MeteorScoreEvaluator", "meteor")],
)
@pytest.mark.parametrize("which", shared_data.SOURCES)
def test_nltk_scorers_equal_the_sdk(name, cls, key, which):
    evaluator = getattr(ev, cls)()
    pairs = truthfulqa_pairs(which, 15)
    assert [score(name, a, r).value for a, r in pairs] == [evaluator(response=a, ground_truth=r)[key] for a, r in pairs]


@pytest.mark.skipif(not NLTK_MISSING, reason="the NLTK data is installed here, so its absence cannot be shown")
@pytest.mark.parametrize("name", ["azure:bleu", "azure:gleu", "azure:meteor"])
def test_nltk_scorers_say_what_data_is_missing_before_the_sdk_downloads(name):
    with pytest.raises(ScorerError, match=r"python -m nltk\.downloader .*punkt_tab"):
        score(name, "Paris is the capital.", "The capital is Paris.")


def test_several_references_take_the_best():
    evaluator = ev.F1ScoreEvaluator()
    refs = ["The seeds pass through you", "Nothing happens"]
    best = max(evaluator(response="Nothing happens at all", ground_truth=r)["f1_score"] for r in refs)
    assert score("azure:f1", "Nothing happens at all", refs).value == best > 0


def test_bad_rouge_type_is_a_clear_error():
    with pytest.raises(ScorerError, match="rouge_type must be one of"):
        score("azure:rouge", "a", "a", rouge_type="rougeZ")


# --------------------------------------------------------------------------- AI-assisted, emulator as judge


@pytest.fixture
def judged_run(tmp_path, monkeypatch):
    path = tmp_path / "p.jsonl"
    items = [{"id": f"q{i}", "prompt": f"What is {i} plus {i}?", "reference": str(2 * i), "tags": ["math"]} for i in range(10)]
    for item in items[::2]:
        item["scorer"] = "azure:similarity"  # the others keep the default scorer (contains)
    path.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    with start_emulator(time_scale=0, models=[L33, L405], prompt_sets=[path]) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        target = Deployment(name="l33", model=L33, kind="managed", endpoint=emu.deployment_url(L33), key_env="EMU_KEY")
        # the judge through the emulator's OpenAI-compatible surface: <root>/openai/v1, model chosen by name
        judge_dep = Deployment(name="judge405", model=L405, kind="serverless", endpoint=emu.url, key_env="EMU_KEY", api="openai-v1")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LifecycleWarning)
            run_evaluation([target], load_prompt_set(path), tmp_path / "r", RunParams(temperature=0), **QUIET)
        yield tmp_path / "r", judge_dep, emu


def test_similarity_graded_by_the_emulated_judge_cached_and_priced_apart(judged_run):
    run_dir, judge_dep, emu = judged_run
    summary = score_run(run_dir, judge=make_judge(run_dir, judge_dep), scorer="azure:similarity")
    scores = [json.loads(line) for line in (run_dir / "scores.azure-similarity.jsonl").read_text().splitlines()]  # an override's own file
    rows = {json.loads(line)["prompt_id"]: json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()}
    assert len(scores) == 10 and {s["scorer"] for s in scores} == {"azure:similarity"}
    grades = set()
    for s in scores:
        right = str(2 * int(s["prompt_id"][1:])) in rows[s["prompt_id"]]["response_text"]
        assert s["judge_grade"] == (5 if right else 2), "raw 1-5 grade kept"
        assert s["score"] == (1.0 if right else 0.25), "normalised to [0, 1] as (grade - 1) / 4"
        assert s["judge"] == "judge405" and s["judge_scale"] == "1-5"
        grades.add(s["judge_grade"])
    assert grades == {2, 5}, "the emulated model gets some right and some wrong"
    j = summary.judge
    assert j.judged_rows == 10 and j.requests_sent == 10 and j.unscorable_rows == 0
    assert Decimal(j.cost_usd) > 0 and j.tokens > 0, "the judge's own cost, at 405B prices, kept apart"
    sent = emu.stats.get(f"ok_{L405}", 0)
    again = score_run(run_dir, judge=make_judge(run_dir, judge_dep), scorer="azure:similarity")
    assert again.judge.requests_sent == 0 and again.judge.from_cache == 10 and again.judge.cost_usd == "0"
    assert emu.stats.get(f"ok_{L405}", 0) == sent, "a re-score costs nothing"
    assert again.deployments == summary.deployments


def test_prompt_items_name_azure_scorers_beside_native_ones(judged_run):
    run_dir, judge_dep, _ = judged_run
    summary = score_run(run_dir, judge=make_judge(run_dir, judge_dep))
    scores = {s["prompt_id"]: s for s in (json.loads(line) for line in (run_dir / "scores.jsonl").read_text().splitlines())}
    for i in range(10):
        s = scores[f"q{i}"]
        if i % 2 == 0:
            assert s["scorer"] == "azure:similarity" and s["judge_grade"] in (2, 5) and s["score"] == (s["judge_grade"] - 1) / 4
        else:
            assert s["scorer"] == "contains" and "judge" not in s and s["score"] in (0.0, 1.0)
    assert summary.judge.judged_rows == 5 and summary.deployments["l33"].prompts == 10


def test_prompt_item_scorer_and_cli_override_with_judge(judged_run, tmp_path, capsys):
    run_dir, judge_dep, emu = judged_run
    deployments = tmp_path / "deployments.yaml"
    deployments.write_text(
        f"deployments:\n  - name: judge405\n    model: {L405}\n    kind: managed\n    endpoint: {emu.url}\n    api: openai-v1\n    key_env: EMU_KEY\n"
    )
    for metric in ("relevance", "coherence", "fluency"):
        assert main(["score", str(run_dir), "--scorer", f"azure:{metric}", "--judge", "judge405", "-d", str(deployments)]) == 0
        out = capsys.readouterr().out
        scores = [json.loads(line) for line in (run_dir / f"scores.azure-{metric}.jsonl").read_text().splitlines()]  # the override's own file
        assert {(s["scorer"], s["judge_grade"], s["score"]) for s in scores} == {(f"azure:{metric}", 4, 0.75)}
        assert "Judge judge405: 10 rows judged" in out


def test_cli_scorer_override_takes_options_as_json(judged_run, capsys):
    run_dir, _, _ = judged_run
    assert main(["score", str(run_dir), "--scorer", '{"name": "azure:rouge", "rouge_type": "rouge1"}']) == 0
    # an override writes its own file, leaving scores.jsonl (what report reads) alone (issue 29)
    scores = [json.loads(line) for line in (run_dir / "scores.azure-rouge-rouge-type-rouge1.jsonl").read_text().splitlines()]
    direct = ev.RougeScoreEvaluator(rouge_type=ev.RougeType.ROUGE_1)
    answers = {json.loads(line)["prompt_id"]: json.loads(line)["response_text"] for line in (run_dir / "results.jsonl").read_text().splitlines()}
    for s in scores:
        assert s["scorer"] == "azure:rouge" and "rouge1" in s["reason"]
        assert s["score"] == direct(response=answers[s["prompt_id"]], ground_truth=str(2 * int(s["prompt_id"][1:])))["rouge"]
    with pytest.raises(SystemExit, match="--scorer is not valid JSON"):
        main(["score", str(run_dir), "--scorer", '{"name": "azure:rouge",'])
    assert main(["score", str(run_dir), "--scorer", "azure:rouj"]) == 2
    assert "unknown scorer 'azure:rouj'; did you mean 'azure:rouge'?" in capsys.readouterr().err


def test_ai_assisted_scorer_needs_a_judge(judged_run):
    run_dir, _, _ = judged_run
    with pytest.raises(ScorerError, match="uses the 'azure:relevance' scorer; pass a judge deployment"):
        score_run(run_dir, scorer="azure:relevance")


def test_entra_judge_is_refused_with_a_reason(judged_run):
    from llama_eval.quality.azure import model_configuration

    judge = Deployment(name="j", model=L405, kind="managed", endpoint="https://x.eastus2.inference.ml.azure.com", auth="entra")
    with pytest.raises(ScorerError, match="use a deployment with auth: key"):
        model_configuration(judge)


# --------------------------------------------------------------------------- AI-assisted, what a real judge may answer


def _completion(content: str) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": L405,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 900, "completion_tokens": 30, "total_tokens": 930},
    }


@pytest.mark.parametrize(
    "content, grade",
    [
        ('```json\n{"reason": "close enough", "score": 4, "status": "completed"}\n```', 4),  # Llama likes fences
        ('Here is my assessment: {"reason": "same facts", "score": 5, "status": "completed"}', 5),
        ("Great answer, I love it! 10/10", None),  # no JSON: the SDK alone would read the first digit (1)
        ("I would rate this 0 stars.", None),  # ... or a 0
        ('{"reason": "bad", "score": 0, "status": "completed"}', None),  # outside 1-5
        ('{"reason": "hmm", "score": 3.5, "status": "completed"}', None),  # not a whole grade
        ('{"reason": "no response given", "score": null, "status": "skipped"}', None),
        ('{"reason": "forgot the score"}', None),
        ('{"reason": "x", "score": "abc", "status": "completed"}', None),  # the SDK itself raises ValueError on this
    ],
)
def test_judge_output_is_graded_or_unscorable_never_zero(server, key_env, tmp_path, content, grade):
    server.answer_next(200, _completion(content))
    dep = Deployment(name="j", model=L405, kind="managed", endpoint=server.url, key_env=key_env, api="openai-v1")
    judge = AzureJudge(dep, cache_path=tmp_path / "cache.jsonl")
    j = judge.judge("azure:similarity", "What do seeds do?", "They pass through you.", "The seeds pass through your digestive system")
    assert j.grade == grade
    assert j.score.value == (None if grade is None else (grade - 1) / 4)
    if grade is None:
        assert j.reason.startswith(("unparseable judge output", "judge grade", "judge skipped", "unusable judge output")), j.reason
    assert j.prompt_tokens == 900 and j.completion_tokens == 30, "an unscorable answer still cost tokens"
    sent = server.chat_requests()[0]
    assert sent.path == "/openai/v1/chat/completions" and sent.body["model"] == L405
    assert sent.body["temperature"] == 0
    assert sent.body.get("response_format", {"type": "text"}) == {"type": "text"}, "Llama endpoints answer 422 to json_object"
    assert "seeds pass through your digestive system" in sent.body["messages"][-1]["content"]
    assert sent.headers.get("authorization") == "Bearer " + os.environ[key_env]


def test_a_failed_judge_request_is_unscorable_and_not_cached(server, key_env, tmp_path):
    server.answer_next(400, {"error": {"code": "BadRequest", "message": "nope"}})
    dep = Deployment(name="j", model=L405, kind="managed", endpoint=server.url, key_env=key_env, api="openai-v1")
    judge = AzureJudge(dep, cache_path=tmp_path / "cache.jsonl")
    j = judge.judge("azure:fluency", "", "Some answer.")
    assert j.grade is None and j.score.value is None and "judge request failed" in j.reason
    assert not (tmp_path / "cache.jsonl").exists() or not (tmp_path / "cache.jsonl").read_text().strip()
    server.answer_next(200, _completion('{"reason": "fine", "score": 3, "status": "completed"}'))
    assert judge.judge("azure:fluency", "", "Some answer.").grade == 3, "tried again, not served from a cache"


@pytest.mark.parametrize("status", [401, 404])
def test_a_judge_url_or_key_that_is_wrong_stops_scoring_with_a_clear_error(server, key_env, tmp_path, status):
    server.answer_next(status, {"error": {"code": "NotFound" if status == 404 else "Unauthorized", "message": "nope"}})
    dep = Deployment(name="j", model=L405, kind="managed", endpoint=server.url, key_env=key_env, api="openai-v1")
    with pytest.raises(ScorerError, match=rf"judge deployment 'j': http://127.0.0.1:\d+/openai/v1 answered {status}"):
        AzureJudge(dep).judge("azure:relevance", "Q?", "A.")
    assert len(server.chat_requests()) == 1, "no retries on a wrong URL or key"


def test_a_routed_emulator_url_is_not_an_openai_v1_base(judged_run):
    run_dir, judge_dep, emu = judged_run
    routed = Deployment(name="routed", model=L405, kind="managed", endpoint=emu.deployment_url(L405), key_env="EMU_KEY")
    with pytest.raises(ScorerError, match="answered 404"):
        score_run(run_dir, judge=make_judge(run_dir, routed), scorer="azure:fluency")


def test_the_judge_key_never_lands_in_output_caches_or_reasons(server, key_env, tmp_path, capfd):
    from _support.constants import FAKE_KEY

    dep = Deployment(name="j", model=L405, kind="managed", endpoint=server.url, key_env=key_env, api="openai-v1")
    judge = AzureJudge(dep, cache_path=tmp_path / "cache.jsonl")
    server.answer_next(429, {"error": {"code": "RateLimit", "message": "slow down"}}, headers={"retry-after": "0"})
    server.answer_next(200, _completion("not JSON at all"))
    server.answer_next(400, {"error": {"code": "BadRequest", "message": "nope"}})
    reasons = [judge.judge("azure:coherence", "Q?", f"answer {i}").reason for i in range(2)]
    assert "unparseable judge output" in reasons[0] and "judge request failed" in reasons[1]
    assert len(server.chat_requests()) == 3, "the 429 was retried by the SDK"
    out, err = capfd.readouterr()
    for text in (out, err, (tmp_path / "cache.jsonl").read_text(), *reasons):
        assert FAKE_KEY not in text


# --------------------------------------------------------------------------- groundedness: the item's metadata.context


def test_groundedness_against_the_emulated_judge():
    with start_emulator(time_scale=0, models=[L405]) as emu, pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMU_KEY", emu.key)
        judge = AzureJudge(Deployment(name="j", model=L405, kind="managed", endpoint=emu.url, key_env="EMU_KEY", api="openai-v1"))
        context = "The Eiffel Tower was completed in 1889 for the World's Fair in Paris."
        grounded = judge.judge("azure:groundedness", "", "The Eiffel Tower was completed in 1889.", context=context)
        invented = judge.judge("azure:groundedness", "", "It was designed by Leonardo da Vinci around 1500.", context=context)
    assert (grounded.grade, invented.grade) == (5, 2)
    assert grounded.score.value == 1.0 and invented.score.value == 0.25


def test_groundedness_sends_each_items_context_through_score_run(server, key_env, tmp_path, monkeypatch):
    path = tmp_path / "p.jsonl"
    contexts = {f"g{i}": f"Document {i}: the answer to question {i} is {i * 7}." for i in range(3)}
    items = [{"id": k, "prompt": f"What is the answer to question {k[1:]}?", "metadata": {"context": c}} for k, c in contexts.items()]
    path.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    with start_emulator(time_scale=0, models=[L33], prompt_sets=[path]) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        target = Deployment(name="l33", model=L33, kind="managed", endpoint=emu.deployment_url(L33), key_env="EMU_KEY")
        run_evaluation([target], load_prompt_set(path), tmp_path / "r", RunParams(temperature=0), **QUIET)
    for grade in (5, 3, 1):
        server.answer_next(200, _completion(json.dumps({"reason": f"graded {grade}", "score": grade, "status": "completed"})))
    judge_dep = Deployment(name="recorder", model=L405, kind="managed", endpoint=server.url, key_env=key_env, api="openai-v1")
    score_run(tmp_path / "r", judge=make_judge(tmp_path / "r", judge_dep), scorer="azure:groundedness")
    scores = [json.loads(line) for line in (tmp_path / "r" / "scores.azure-groundedness.jsonl").read_text().splitlines()]  # an override's own file
    answers = {json.loads(line)["prompt_id"]: json.loads(line)["response_text"] for line in (tmp_path / "r" / "results.jsonl").read_text().splitlines()}
    sent = [r.body["messages"][-1]["content"] for r in server.chat_requests()]
    assert len(sent) == 3
    for s, prompt, grade in zip(scores, sent, (5, 3, 1), strict=True):
        assert f"CONTEXT: {contexts[s['prompt_id']]}\nRESPONSE: {answers[s['prompt_id']]}" in prompt
        assert s["judge_grade"] == grade and s["score"] == (grade - 1) / 4


def test_groundedness_without_context_is_refused_before_any_request(judged_run):
    run_dir, judge_dep, emu = judged_run
    sent = emu.stats.get(f"ok_{L405}", 0)
    with pytest.raises(ScorerError, match=r"prompt 'q0': scorer 'azure:groundedness' needs the text to ground the answer in: give the item metadata.context"):
        score_run(run_dir, judge=make_judge(run_dir, judge_dep), scorer="azure:groundedness")
    assert emu.stats.get(f"ok_{L405}", 0) == sent
