"""The report's workload sections, for real: papermill runs the notebooks, Chromium draws the page, the visible text is read.

A 10-conversation x 3-turn run against the emulator's managed deployment (which keeps a prefix cache
and reports cached tokens, as vLLM does) shows the per-turn section in 30_latency and the
cached-token share in 40_cost, and names the workload of the sweep stored with it. A plain open-loop run of single prompts shows no per-turn section
(and no error) but states its sender's lateness.
"""

from __future__ import annotations

import json

import pytest

from _support.pagetext import render, visible_text
from llama_eval import Deployment
from llama_eval.emulator import start_emulator
from llama_eval.emulator.config import EmulatedDeployment, EmulatorConfig
from llama_eval.load import arrivals
from llama_eval.load.sweep import sweep
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.report.pipeline import build_report
from llama_eval.report.workloads import per_turn_frame
from llama_eval.run import RunParams, run_evaluation
from llama_eval.run.params import SendSchedule

L33 = "Llama-3.3-70B-Instruct"
QUIET = {"progress": "none", "announce": lambda message: None}
TABLE_TITLE = "Per turn of the conversations"


def _deployment(emu, monkeypatch) -> Deployment:
    monkeypatch.setenv("EMU_KEY", emu.key)
    return Deployment(name="l33", model=L33, kind="managed", endpoint=emu.deployment_url("l33"), key_env="EMU_KEY")


def _page(run_dir, out) -> str:
    index = build_report(run_dir, out)
    dom, _, _ = render(index, out)
    return visible_text(dom)


@pytest.mark.slow
def test_a_conversation_runs_report_shows_turns_and_cached_tokens_and_a_plain_runs_does_not(tmp_path, monkeypatch):
    chats = tmp_path / "chats.jsonl"
    chats.write_text("".join(json.dumps({"id": f"c{c}", "system": "You are a patient support agent. " * 8,
                                         "turns": [f"Question {t} of customer {c}: where is parcel {c * 10 + t}?" for t in range(3)]}) + "\n"
                             for c in range(10)))  # fmt: skip
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"What is {i} plus {i}?"}) + "\n" for i in range(8)))
    config = EmulatorConfig(deployments=[EmulatedDeployment("l33", L33, "managed")], time_scale=0.01)  # managed: a prefix cache, as vLLM's
    with start_emulator(config) as emu:
        d = _deployment(emu, monkeypatch)
        run_evaluation([d], load_prompt_set(chats), tmp_path / "chat", RunParams(concurrency=4, max_tokens=30, seed=1), **QUIET)
        # a sweep stored with the conversation run (as `llama-eval demo` stores them): the report names the workload it measured with
        sweep([d], plain, tmp_path / "chat" / "sweeps" / "l33", concurrency=[1], requests_per_level=3, warmup_s=0, params=RunParams(max_tokens=4), **QUIET)
        made = arrivals.poisson(rate=20, count=8, seed=2)
        run_evaluation([d], load_prompt_set(plain), tmp_path / "plain", RunParams(max_tokens=8, schedule=SendSchedule(made.offsets, made.recipe)), **QUIET)

    frame = per_turn_frame(tmp_path / "chat")
    assert list(frame["turn"]) == [1, 2, 3] and list(frame["answered"]) == [10, 10, 10]
    first, last = frame["prompt_tokens_mean"].iloc[0], frame["prompt_tokens_mean"].iloc[-1]
    assert last > first, "every turn resends the history"

    text = _page(tmp_path / "chat", tmp_path / "chat-report")
    assert TABLE_TITLE in text and "Prompt tokens (mean)" in text and "Cached prompt tokens" in text
    assert f"l33: {first:,.0f} prompt tokens at turn 1, {last:,.0f} at turn 3" in text  # the intro's numbers are the table's
    assert "Conversations: every turn resends the history" in text  # the figure's title, drawn by plotly
    # 40_cost: the shared system prompt and each resent history were served from the cache, and the page says how much
    assert "(as the servers reported them," in text and "l33: " in text.split("(as the servers reported them,")[1][:200]

    # next to the load figure (30_latency) and in the decision's facts (the brief)
    assert text.count(f"Capacities measured with {plain} (8 prompts), closed loop.") == 2, text[:3000]

    plain_text = _page(tmp_path / "plain", tmp_path / "plain-report")
    assert TABLE_TITLE not in plain_text and "every turn resends" not in plain_text
    assert "Sender lateness" in plain_text and "l33: p50" in plain_text  # open loop: the sender's own delay, stated apart
    assert "Traceback" not in plain_text and "Traceback" not in text
