"""A real run against the emulator ends in the run store; a resumed run replaces its rows; ``store="off"`` writes none."""

from __future__ import annotations

import json

import pytest

from llama_eval import Deployment, load_history
from llama_eval.emulator import start_emulator
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.run import RunParams, run_evaluation
from llama_eval.rundir.store import final_rows, read_rows

L33 = "Llama-3.3-70B-Instruct"


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"q{i}", "prompt": f"What is {i} plus {i}?", "reference": str(2 * i)}) for i in range(6)) + "\n")
    return load_prompt_set(path)


def _deployment(emu, monkeypatch):
    monkeypatch.setenv("EMU_KEY", emu.key)
    return [Deployment(name="llama33", model=L33, kind="serverless", endpoint=emu.deployment_url(L33), key_env="EMU_KEY")]


def test_a_completed_run_is_in_the_store_beside_it_and_a_resume_replaces_it(tmp_path, prompts, monkeypatch):
    monkeypatch.delenv("LLAMA_EVAL_STORE", raising=False)
    said = []
    with start_emulator(time_scale=0, models=[L33], seed=1) as emu:
        deps = _deployment(emu, monkeypatch)
        run_evaluation(deps, prompts, tmp_path / "runs" / "first", RunParams(max_tokens=20), progress="none", announce=said.append)
        summary = run_evaluation(deps, prompts, tmp_path / "runs" / "first", RunParams(max_tokens=20), resume=True, progress="none", announce=said.append)
    assert summary.status == "completed" and not [m for m in said if "run store" in m]
    history = load_history(tmp_path / "runs" / ".store")
    assert len(history) == 1 and history.loc[0, "requests"] == len(final_rows(read_rows(tmp_path / "runs" / "first"))) == 6
    assert history.loc[0, "emulated"] and history.loc[0, "deployment"] == "llama33"


def test_store_off_writes_nothing_and_an_unwritable_store_is_said_not_raised(tmp_path, prompts, monkeypatch):
    said = []
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the store's folder would go")
    with start_emulator(time_scale=0, models=[L33], seed=1) as emu:
        deps = _deployment(emu, monkeypatch)
        run_evaluation(deps, prompts, tmp_path / "runs" / "a", RunParams(max_tokens=20), progress="none", announce=said.append, store="off")
        summary = run_evaluation(deps, prompts, tmp_path / "runs" / "b", RunParams(max_tokens=20), progress="none", announce=said.append, store=blocker)
    assert not (tmp_path / "runs" / ".store").exists()
    assert summary.status == "completed" and len(final_rows(read_rows(tmp_path / "runs" / "b"))) == 6, "the run's rows are all in its directory"
    assert [m for m in said if "but not in the run store" in m and "is a file, not a folder" in m]


def test_a_sweep_is_in_the_store_one_history_row_per_level(tmp_path, prompts, monkeypatch):
    from llama_eval import sweep

    monkeypatch.delenv("LLAMA_EVAL_STORE", raising=False)
    with start_emulator(time_scale=0.05, models=[L33], seed=1) as emu:  # a sweep needs a time scale to convert to service time
        result = sweep(_deployment(emu, monkeypatch), prompts, tmp_path / "runs" / "sweep", concurrency=[1, 2], requests_per_level=4, warmup_s=0,
                       params=RunParams(max_tokens=20), progress="none", announce=lambda m: None)  # fmt: skip
    history = load_history(tmp_path / "runs" / ".store", kind="sweep")
    levels = result.frame()
    assert list(history["level"]) == list(levels["level"]) and list(history["requests"]) == list(levels["requests"])
    assert load_history(tmp_path / "runs" / ".store").empty, "history shows runs by default, sweeps with kind='sweep'"
