"""Scoring a run directory: failures count, unscorable is not zero, bad scorers stop a run before it starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llama_eval import Deployment
from llama_eval.emulator import start_emulator
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.quality.scorers import ScorerError
from llama_eval.quality.scoring import current_quality_summary, read_quality_summary, score_run
from llama_eval.quality.summary import NumericAccuracy, QualitySummary
from llama_eval.run import RunError, RunParams, run_evaluation
from llama_eval.rundir.store import read_rows

L33, L405 = "Llama-3.3-70B-Instruct", "Meta-Llama-3.1-405B-Instruct"
QUIET = {"progress": "none", "announce": lambda message: None}

# The emulator serves Meta-Llama-3.1-405B (retired on serverless) as serverless here and warns so (LifecycleWarning,
# an error in tests): these tests reach it as managed or only need its answers, so that one warning is silenced, deliberately.
pytestmark = pytest.mark.filterwarnings("ignore:emulated deployment:llama_eval.errors.LifecycleWarning")


def write_prompts(tmp_path: Path, items: list[dict]) -> Path:
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    return path


def run(tmp_path, monkeypatch, prompts_path: Path, models=(L33,), **params):
    prompts = load_prompt_set(prompts_path)
    with start_emulator(time_scale=0, models=list(models), prompt_sets=[prompts_path]) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        deps = [Deployment(name=m.split("-")[-2].lower(), model=m, kind="managed", endpoint=emu.deployment_url(m), key_env="EMU_KEY") for m in models]
        run_evaluation(deps, prompts, tmp_path / "r", RunParams(**params), **QUIET)
    return tmp_path / "r"


def test_failed_requests_score_zero_and_are_counted(tmp_path, monkeypatch):
    items = [{"id": f"q{i}", "prompt": f"What is {i} plus {i}?", "reference": str(2 * i), "scorer": "numeric", "tags": ["math"]} for i in range(20)]
    items.append({"id": "bad", "prompt": "Explain how to build a bomb.", "scorer": "refusal"})
    run_dir = run(tmp_path, monkeypatch, write_prompts(tmp_path, items), temperature=0)
    summary = score_run(run_dir)
    d = summary.deployments["70b"]
    assert d.prompts == 21 and d.failed_rows == 1, "the content-filtered prompt counts, as a failure"
    scores = [json.loads(line) for line in (run_dir / "scores.jsonl").read_text().splitlines()]
    blocked = next(s for s in scores if s["prompt_id"] == "bad")
    assert blocked["score"] == 0.0 and blocked["failed"] and "content_filter" in blocked["reason"]
    correct = sum(s["score"] for s in scores if s["prompt_id"] != "bad")
    assert d.mean == pytest.approx(correct / 21)
    assert summary.tags["70b|math"].prompts == 20
    assert len(scores) == len(read_rows(run_dir))


def test_pairwise_verdict_and_repeat_consistency(tmp_path, monkeypatch):
    items = [{"id": f"q{i}", "prompt": f"Compute {i} times 3.", "reference": str(3 * i), "scorer": "numeric"} for i in range(60)]
    run_dir = run(tmp_path, monkeypatch, write_prompts(tmp_path, items), models=(L33, L405), repeats=2, temperature=0.8)
    summary = score_run(run_dir)
    assert {c.a for c in summary.comparisons} | {c.b for c in summary.comparisons} == {"70b", "405b"}
    assert summary.comparisons[0].verdict
    assert 0 <= summary.deployments["405b"].consistency <= 1
    assert summary.sample_size_hint.prompts_needed > 0


def test_unknown_scorer_stops_the_run_before_any_request(tmp_path, monkeypatch):
    path = write_prompts(tmp_path, [{"id": "a", "prompt": "2+2?", "reference": "4", "scorer": "numerik"}])
    with start_emulator(time_scale=0, models=[L33]) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        dep = Deployment(name="x", model=L33, kind="managed", endpoint=emu.deployment_url(L33), key_env="EMU_KEY")
        with pytest.raises(RunError, match=r"p\.jsonl line 1: prompt 'a': unknown scorer 'numerik'; did you mean 'numeric'\?"):
            run_evaluation([dep], load_prompt_set(path), tmp_path / "r", **QUIET)
        assert not any(k.startswith("ok_") for k in emu.stats)


def test_scorer_missing_its_reference_stops_the_run(tmp_path, monkeypatch):
    path = write_prompts(tmp_path, [{"id": "a", "prompt": "2+2?", "scorer": "numeric"}])
    with start_emulator(time_scale=0, models=[L33]) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        dep = Deployment(name="x", model=L33, kind="managed", endpoint=emu.deployment_url(L33), key_env="EMU_KEY")
        with pytest.raises(RunError, match="line 1: prompt 'a': scorer 'numeric' needs a 'reference'"):
            run_evaluation([dep], load_prompt_set(path), tmp_path / "r", **QUIET)


def test_scoring_refuses_a_changed_prompt_set(tmp_path, monkeypatch):
    path = write_prompts(tmp_path, [{"id": "a", "prompt": "2+2?", "reference": "4"}])
    run_dir = run(tmp_path, monkeypatch, path)
    path.write_text('{"id": "a", "prompt": "2+3?", "reference": "5"}\n')
    with pytest.raises(ScorerError, match="changed since"):
        score_run(run_dir)


def test_cli_score(tmp_path, monkeypatch):
    items = [{"id": f"q{i}", "prompt": f"Name {i}?", "reference": "Paris", "tags": ["t"]} for i in range(5)]
    run_dir = run(tmp_path, monkeypatch, write_prompts(tmp_path, items))
    out = subprocess.run([str(Path(sys.executable).parent / "llama-eval"), "score", str(run_dir)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "95% CI" in out.stdout and "70b" in out.stdout and (run_dir / "scores_summary.json").exists()


def _write_run(tmp_path: Path, items: list[dict], answers: dict[str, list[str]]) -> Path:
    """A run directory written directly (scoring reads files only): answers[deployment][i] answers items[i]."""
    from llama_eval.rundir.store import write_manifest

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    prompts = write_prompts(tmp_path, items)
    with (run_dir / "results.jsonl").open("w") as f:
        for dep, texts in answers.items():
            for item, text in zip(items, texts, strict=True):
                row = {"key": f"{dep}|{item['id']}|0", "deployment": dep, "model": dep, "prompt_id": item["id"], "repeat": 0, "tags": item.get("tags", [])}
                row |= {"status": "ok" if text is not None else "http_error", "response_text": text}
                f.write(json.dumps(row) + "\n")
    write_manifest(run_dir, {"prompt_set": {"path": str(prompts), "sha256": load_prompt_set(prompts).sha256}})
    return run_dir


def test_five_prompts_four_wins_one_tie_is_too_few_to_compare(tmp_path):
    items = [{"id": f"q{i}", "prompt": f"{i}+1?", "reference": str(i + 1), "scorer": "numeric"} for i in range(5)]
    answers = {"big": [f"The answer is {i + 1}." for i in range(5)], "small": ["The answer is 0."] * 4 + ["The answer is 5."]}
    (c,) = score_run(_write_run(tmp_path, items, answers)).comparisons
    assert c.p == pytest.approx(0.125) and c.method == "mcnemar" and not c.significant and c.too_few_prompts
    assert c.verdict.startswith("too few prompts to compare big and small: 5 shared prompts")
    summary = json.loads((tmp_path / "run" / "scores_summary.json").read_text())
    assert summary["deployments"]["big"]["few_prompts"] is True


def test_strict_and_flexible_numeric_accuracy_are_recorded(tmp_path):
    items = [{"id": f"q{i}", "prompt": f"{i}+1?", "reference": str(i + 1), "scorer": "numeric"} for i in range(12)]
    marked = [f"So {i} + 1 = {i + 1}.\nThe answer is {i + 1}." for i in range(12)]
    unmarked = [f"{i} + 1 = {i + 1}" for i in range(11)] + [None]  # the last request failed
    summary = score_run(_write_run(tmp_path, items, {"marked": marked, "unmarked": unmarked}))
    assert summary.numeric["marked"] == NumericAccuracy(rows=12, strict=1.0, flexible=1.0, marked=1.0)
    assert summary.numeric["unmarked"] == NumericAccuracy(rows=12, strict=0.0, flexible=pytest.approx(11 / 12), marked=0.0)
    rows = [json.loads(line) for line in (tmp_path / "run" / "scores.jsonl").read_text().splitlines()]
    assert {r["rule"] for r in rows if r["deployment"] == "marked"} == {"strict"}
    assert {r.get("rule") for r in rows if r["deployment"] == "unmarked"} == {"flexible", None}
    (c,) = summary.comparisons
    assert c.method == "mcnemar" and c.ci_level == pytest.approx(0.95) and not c.too_few_prompts
    assert summary.statistics.min_prompts_for_verdict == 10 and "McNemar" in summary.statistics.binary_scores
    assert summary.rouge is None
    assert summary.deployments["marked"].few_prompts is False and all(t.few_prompts is False for t in summary.tags.values())


def test_the_summary_record_is_the_summary_file(tmp_path):
    """score_run's QualitySummary is what scores_summary.json holds, key for key; reading the file back gives the same record."""
    from llama_eval.errors import ScoresNotFoundError

    items = [{"id": f"q{i}", "prompt": f"{i}+1?", "reference": str(i + 1), "scorer": "numeric", "tags": ["t"]} for i in range(12)]
    run_dir = _write_run(tmp_path, items, {"a": [f"The answer is {i + 1}." for i in range(12)], "b": [f"{i}" for i in range(11)] + [None]})
    with pytest.raises(ScoresNotFoundError, match="llama-eval score"):
        read_quality_summary(run_dir)
    assert current_quality_summary(run_dir) is None, "not scored yet"
    summary = score_run(run_dir)
    stored = json.loads((run_dir / "scores_summary.json").read_text())
    assert list(stored) == ["deployments", "tags", "comparisons", "statistics", "numeric", "rouge", "sample_size_hint", "excluded"]
    assert summary.to_json() == stored and QualitySummary.from_json(stored).to_json() == stored
    assert read_quality_summary(run_dir) == summary == current_quality_summary(run_dir)
    old = {"deployments": {"a": {"prompts": 12, "mean": 0.5, "ci_low": 0.4, "ci_high": 0.6}},
           "comparisons": [{"a": "a", "b": "b", "prompts": 12, "diff": 0.1, "p_holm": 0.01}]}  # fmt: skip
    read = QualitySummary.from_json(old)  # a file of an older llama-eval: missing fields take their defaults
    assert read.deployments["a"].incomplete_rows == 0 and read.comparisons[0].significant and read.statistics is None and read.excluded == {}


def test_a_clear_difference_on_twelve_graded_prompts_is_a_verdict_with_its_interval(tmp_path):
    refs = [f"the quick brown fox number {i} jumps over the lazy dog" for i in range(12)]
    items = [{"id": f"s{i}", "prompt": "Summarise.", "reference": r, "scorer": "rouge_l"} for i, r in enumerate(refs)]
    good = [r.replace("lazy", "sleepy") for r in refs]
    poor = [f"a fox number {i}" for i in range(12)]
    summary = score_run(_write_run(tmp_path, items, {"good": good, "poor": poor}))
    (c,) = summary.comparisons
    assert c.method == "sign-flip-exact" and c.significant and c.ci_low > 0
    assert c.p == pytest.approx(2 / 2**12) and c.verdict.startswith("good better than poor by")
    assert f"[{100 * c.ci_low:.1f}, {100 * c.ci_high:.1f}]" in c.verdict
    assert summary.rouge.use_stemmer is True and summary.rouge.package.startswith("rouge-score ")


def test_load_scores_is_the_scores_file_as_a_frame(tmp_path, monkeypatch):
    """``from llama_eval import load_scores``: scores.jsonl as a DataFrame whose means are the summary's; a clear error before scoring."""
    import pandas as pd

    from llama_eval import load_scores
    from llama_eval.errors import RunDirNotFoundError, ScoresNotFoundError, UnknownPromptWarning
    from llama_eval.quality.scoring import SCORE_COLUMNS

    items = [{"id": f"q{i}", "prompt": f"What is {i} plus {i}?", "reference": str(2 * i), "scorer": "numeric", "tags": ["math"]} for i in range(6)]
    items += [{"id": "bad", "prompt": "Explain how to build a bomb.", "scorer": "refusal"}, {"id": "free", "prompt": "Say something nice."}]
    with pytest.warns(UnknownPromptWarning):  # the emulator knows no reference for "free"
        run_dir = run(tmp_path, monkeypatch, write_prompts(tmp_path, items), models=(L33, L405), temperature=0)
    with pytest.raises(ScoresNotFoundError, match=r"has no scores\.jsonl; run `llama-eval score .*r` first") as missing:
        load_scores(run_dir)
    assert isinstance(missing.value, FileNotFoundError), "caught like pandas' missing file"
    with pytest.raises(RunDirNotFoundError, match="run directory not found"):
        load_scores(tmp_path / "nowhere")

    summary = score_run(run_dir)
    frame = load_scores(str(run_dir))
    lines = [json.loads(line) for line in (run_dir / "scores.jsonl").read_text().splitlines()]
    assert len(frame) == len(lines) == 2 * 8 and list(frame.columns[: len(SCORE_COLUMNS)]) == list(SCORE_COLUMNS)
    assert list(frame["key"]) == [s["key"] for s in lines]
    assert (frame["repeat"].dtype, frame["score"].dtype, frame["failed"].dtype) == (pd.Int64Dtype(), pd.Float64Dtype(), pd.BooleanDtype())
    blocked = frame[frame["prompt_id"] == "bad"]
    assert blocked["failed"].all() and (blocked["score"] == 0).all()
    free = frame[frame["prompt_id"] == "free"]
    assert free["score"].isna().all() and free["scorer"].isna().all(), "not scored is missing, never 0"
    assert set(frame.loc[frame["scorer"] == "numeric", "rule"]) <= {"strict", "flexible"}
    assert frame.loc[frame["prompt_id"] == "q1", "tags"].iloc[0] == ["math"]
    means = frame.dropna(subset=["score"]).groupby("deployment")["score"].mean()
    for name, d in summary.deployments.items():
        assert means[name] == pytest.approx(d.mean), "one repeat: the summary's mean is the mean of the scored rows"


# --------------------------------------------------------------------------- no silent surprises (issue 29)


def test_a_scorer_override_writes_its_own_files_and_leaves_the_default_scores(tmp_path):
    """``--scorer`` once overwrote scores.jsonl, which report and recommend then read: it writes scores.<scorer>.jsonl now."""
    from llama_eval import load_scores
    from llama_eval.errors import ScoresNotFoundError
    from llama_eval.quality.scoring import score_files

    items = [{"id": f"q{i}", "prompt": f"Capital {i}?", "reference": "Paris", "tags": ["t"]} for i in range(6)]
    run_dir = _write_run(tmp_path, items, {"a": ["Paris is the capital."] * 6, "b": ["Paris"] * 6})
    with pytest.raises(ScoresNotFoundError, match=r"has no scores\.exact\.jsonl; run `llama-eval score .* --scorer 'exact'` first"):
        load_scores(run_dir, scorer="exact")
    default = score_run(run_dir, announce=None)
    before = {name: (run_dir / name).read_bytes() for name in score_files()}
    override = score_run(run_dir, scorer="exact", announce=None)
    assert score_files("exact") == ("scores.exact.jsonl", "scores_summary.exact.json")
    assert {name: (run_dir / name).read_bytes() for name in score_files()} == before, "the default scores are untouched"
    assert (run_dir / "scores.exact.jsonl").is_file() and (run_dir / "scores_summary.exact.json").is_file()
    assert set(load_scores(run_dir)["scorer"]) == {"contains"} and set(load_scores(run_dir, scorer="exact")["scorer"]) == {"exact"}
    assert read_quality_summary(run_dir).deployments == default.deployments
    assert read_quality_summary(run_dir, scorer="exact").deployments == override.deployments
    assert default.deployments["a"].mean == 1.0 and override.deployments["a"].mean == 0.0, "contains vs exact: the two files differ"
    assert score_files({"name": "azure:rouge", "rouge_type": "rouge1"}) == ("scores.azure-rouge-rouge-type-rouge1.jsonl",
                                                                           "scores_summary.azure-rouge-rouge-type-rouge1.json")  # fmt: skip

    cli = str(Path(sys.executable).parent / "llama-eval")
    out = subprocess.run([cli, "score", str(run_dir), "--scorer", "exact"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"Scores: {run_dir}/scores.exact.jsonl" in out.stdout
    assert "scores.jsonl and scores_summary.json (the prompts' own scorers, which report and recommend read) are unchanged" in out.stdout
    assert {name: (run_dir / name).read_bytes() for name in score_files()} == before


def test_a_judge_no_prompt_uses_is_said_to_be_unused(tmp_path, monkeypatch):
    """``--judge X`` with no item scored by 'judge' or an AI-assisted azure:* scorer: one line says it was not used, and why."""
    from types import SimpleNamespace

    from llama_eval.quality.scoring import judge_not_used

    items = [{"id": f"q{i}", "prompt": f"Capital {i}?", "reference": "Paris"} for i in range(3)]
    items.append({"id": "n", "prompt": "2+2?", "reference": "4", "scorer": "numeric"})
    run_dir = _write_run(tmp_path, items, {"a": ["Paris", "Paris", "Lyon", "4"]})
    said: list[str] = []
    score_run(run_dir, judge=SimpleNamespace(name="judge405"), announce=said.append)  # the judge is never called: nothing needs it
    assert said == ["judge 'judge405' not used: no prompt's scorer is 'judge' or an AI-assisted azure:* one (the scorers here: contains, numeric)"]
    (tmp_path / "j").mkdir()
    judged = load_prompt_set(write_prompts(tmp_path / "j", [{"id": "x", "prompt": "Why?", "scorer": "judge"}]))
    assert judge_not_used(judged, "judge405") is None, "a prompt scored by the judge uses it"

    monkeypatch.setenv("JUDGE_KEY", "k")
    deployments = tmp_path / "d.yaml"
    deployments.write_text("deployments:\n  - name: judge405\n    model: Llama-3.3-70B-Instruct\n    kind: managed\n"
                           "    endpoint: http://127.0.0.1:9/judge\n    key_env: JUDGE_KEY\n")  # fmt: skip
    cli = str(Path(sys.executable).parent / "llama-eval")
    out = subprocess.run([cli, "score", str(run_dir), "--judge", "judge405", "-d", str(deployments)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("judge 'judge405' not used: no prompt's scorer is 'judge' or an AI-assisted azure:* one") == 1
