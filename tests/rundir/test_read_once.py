"""A run read once, fast: rows parsed with orjson (and the NaN older runs wrote), and what is worked out of a ``Run``
(health, cost, token means, scores) worked out once and equal to what a fresh read of the directory gives."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

import pytest

from llama_eval.compare.quality import prompt_scores
from llama_eval.cost.actual import run_costs
from llama_eval.cost.traffic import token_means
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.quality import scoring
from llama_eval.rundir.health import assess_run
from llama_eval.rundir.run import load_run
from llama_eval.rundir.store import write_manifest


def _row(deployment: str, prompt: int, repeat: int, answer: str, **extra) -> dict:
    return {"key": f"{deployment}|q{prompt}|{repeat}", "deployment": deployment, "model": f"model-{deployment}", "api": "azure-ai-inference",
            "prompt_id": f"q{prompt}", "repeat": repeat, "tags": ["t"] if prompt % 2 else [], "status": "ok", "response_text": answer,
            "usage": {"prompt_tokens": 10 + prompt, "completion_tokens": 5 + repeat, "total_tokens": 15 + prompt + repeat}, "usage_source": "server",
            "streamed": True, "ttft_s": 0.1 + prompt / 100, "e2e_s": 0.5, "cost_usd": "0.000123", "price_known": True} | extra  # fmt: skip


def make_run(tmp_path: Path, rows: list[dict], *, prompts: int = 3, repeats: int = 3) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    items = tmp_path / "prompts.jsonl"
    items.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"{i} + 1?", "reference": str(i + 1), "scorer": "numeric"}) + "\n" for i in range(prompts)))
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))  # json.dumps, as older llama-evals wrote
    deployments = sorted({r["deployment"] for r in rows})
    write_manifest(run, {"run_id": "r", "status": "completed", "params": {"repeats": repeats},
                         "prompt_set": {"path": str(items), "sha256": load_prompt_set(items).sha256, "items": prompts},
                         "fingerprint": {"deployments": [{"name": n, "model": f"model-{n}", "kind": "serverless"} for n in deployments]}})  # fmt: skip
    return run


def sample_rows() -> list[dict]:
    rows = [_row(d, p, r, f"It is {p + 1}." if (d, p, r) != ("b", 1, 2) else "It is 7.") for d in ("a", "b") for p in range(3) for r in range(3)]
    rows[4] = rows[4] | {"status": "http_error", "response_text": None, "usage": None, "cost_usd": None, "ttft_s": None}
    rows[5] = rows[5] | {"cost_usd": None, "price_known": False}
    return rows


def test_a_row_json_dumps_wrote_with_nan_still_reads(tmp_path):
    run_dir = make_run(tmp_path, [_row("a", 0, 0, "It is 1.", ttft_s=float("nan"), output_tps=float("inf"))], prompts=1, repeats=1)
    assert "NaN" in (run_dir / "results.jsonl").read_text(), "the file holds what orjson refuses"
    row = load_run(run_dir).rows[0]
    assert math.isnan(row.timing.ttft_s) and row.timing.output_tps == math.inf and row.response_text == "It is 1."


def test_health_cost_and_token_means_of_a_run_are_worked_out_once_and_equal_a_fresh_read(tmp_path):
    run_dir = make_run(tmp_path, sample_rows())
    run = load_run(run_dir)
    assert assess_run(run) is assess_run(run) and run_costs(run) is run_costs(run)
    assert assess_run(run) == assess_run(run_dir), "a directory is read again and assessed the same"
    assert run_costs(run) == run_costs(run_dir)
    a = run_costs(run).deployments["a"]
    assert (a.requests, a.prompt_tokens, a.unpriced_rows) == (9, 3 * (10 + 11 + 12) - 11, 1)  # row 4 (q1, repeat 1) failed: no usage
    assert a.cost_usd == Decimal("0.000123") * 7, "exact Decimal: the failed row and the unpriced row add nothing"
    assert run_costs(run).tags[("a", "t")].requests == 3 and run_costs(run).tags[("a", "(untagged)")].requests == 6
    means = token_means(run, ["a"])
    answered = [r for r in sample_rows()[:9] if r["status"] == "ok"]
    assert means.requests == len(answered) == 8
    assert means.input_tokens == Decimal(sum(r["usage"]["prompt_tokens"] for r in answered)) / 8
    assert token_means(run).deployments == ("a", "b") and token_means(run, ["b"]).deployments == ("b",)
    with pytest.raises(ValueError, match="no successful rows of c"):
        token_means(run, ["c"])
    groups = run.by_deployment()
    groups["a"].clear()
    assert len(run.by_deployment()["a"]) == 9, "each call gives lists of its own"


def test_the_same_answer_to_the_same_prompt_is_scored_once_with_the_same_score(tmp_path, monkeypatch):
    run = load_run(make_run(tmp_path, sample_rows()))
    calls = []
    real = scoring.score
    monkeypatch.setattr(scoring, "score", lambda name, answer, *a, **k: calls.append((name, answer)) or real(name, answer, *a, **k))
    prompts = load_prompt_set(tmp_path / "prompts.jsonl")
    scores = scoring.score_rows(run.rows, prompts)
    answered = [r for r in run.rows if r.status == "ok"]
    assert len(calls) == len({(r.prompt_id, r.response_text) for r in answered}) == 4, "each prompt's answer (both say it), and b's other one"
    for s, r in zip(scores, run.rows, strict=True):
        item = prompts.by_id()[r.prompt_id]
        expected = real("numeric", r.response_text or "", item.reference) if r.status == "ok" else None
        assert s["key"] == r.key and (s["score"] == expected.value if expected else s["failed"] and s["score"] == 0.0)


def test_scores_just_written_are_reused_only_while_the_file_is_the_one_written(tmp_path):
    run_dir = make_run(tmp_path, sample_rows())
    run = load_run(run_dir)
    scoring.score_run(run, announce=None)
    on_disk = [json.loads(line) for line in (run_dir / "scores.jsonl").read_text().splitlines()]
    assert scoring.written_scores(run) == on_disk
    assert prompt_scores(run, assess_run(run)) == prompt_scores(load_run(run_dir), assess_run(run_dir)), "from memory as from the file"
    changed = [line | {"score": 1.0} for line in on_disk]
    (run_dir / "scores.jsonl").write_text("".join(json.dumps(line) + "\n" for line in changed) + "\n")
    assert scoring.written_scores(run) is None, "the file changed since: it is read, not what this process wrote"
    assert prompt_scores(run, assess_run(run))[0]["a"] == {"q0": 1.0, "q1": 1.0, "q2": 1.0}
