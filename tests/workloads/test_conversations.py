"""Conversation prompt sets against the emulator: one row per turn, the history growing by the model's own answers."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from llama_eval import Deployment
from llama_eval.catalog.tokens import counter_for
from llama_eval.emulator import start_emulator
from llama_eval.emulator.latency import LatencyProfile
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.run import RunError, RunParams, run_evaluation
from llama_eval.run.params import SendSchedule
from llama_eval.rundir.run import load_run
from llama_eval.rundir.store import final_rows, read_rows

L33 = "Llama-3.3-70B-Instruct"
QUIET = {"progress": "none", "announce": lambda message: None}
LLAMA3 = counter_for(None)


def conversation_set(tmp_path: Path, conversations: int = 50, turns: int = 6) -> Path:
    path = tmp_path / "chats.jsonl"
    lines = [
        {"id": f"c{c}", "system": "You are a patient support agent.", "tags": ["support"],
         "turns": [f"Question {t} of customer {c}: where is parcel {c * 10 + t}?" for t in range(turns)]}
        for c in range(conversations)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def deployment(emu, monkeypatch) -> Deployment:
    monkeypatch.setenv("EMU_KEY", emu.key)
    return Deployment(name="l33", model=L33, kind="managed", endpoint=emu.deployment_url(L33), key_env="EMU_KEY")


def by_conversation(rows: list[dict]) -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = defaultdict(dict)
    for row in rows:
        out[row["conversation_id"]][row["turn"]] = row
    return out


# what one more exchange adds besides its text: the assistant message's header and end, and the next user message's
TEMPLATE_PER_EXCHANGE = LLAMA3.count_chat([{"role": "user", "content": ""}, {"role": "assistant", "content": ""}, {"role": "user", "content": ""}]) - (
    LLAMA3.count_chat([{"role": "user", "content": ""}])
)


def assert_history_grows_by_each_answer(conversation: dict[int, dict], item) -> None:
    for k in range(2, len(item.turns) + 1):
        before, now = conversation[k - 1], conversation[k]
        answer = before["usage"]["completion_tokens"]
        user = LLAMA3.count(item.turns[k - 1])
        assert now["usage"]["prompt_tokens"] == before["usage"]["prompt_tokens"] + answer + user + TEMPLATE_PER_EXCHANGE, (item.id, k)


def test_fifty_six_turn_conversations_one_row_per_turn_history_growing_by_each_answer(tmp_path, monkeypatch):
    prompts = load_prompt_set(conversation_set(tmp_path))
    with start_emulator(time_scale=0, models=[L33]) as emu:
        summary = run_evaluation([deployment(emu, monkeypatch)], prompts, tmp_path / "r", RunParams(concurrency=8, max_tokens=40, seed=1), **QUIET)
    assert summary.status == "completed" and summary.rows_written == 300
    rows = read_rows(tmp_path / "r")
    assert len(rows) == 300 and len({r["key"] for r in rows}) == 300
    conversations = by_conversation(rows)
    assert len(conversations) == 50 and all(sorted(turns) == [1, 2, 3, 4, 5, 6] for turns in conversations.values())
    items = {item.id: item for item in prompts}
    for cid, conversation in conversations.items():
        assert all(conversation[k]["prompt_id"] == f"{cid}#{k}" and conversation[k]["status"] in ("ok", "length") for k in conversation)
        assert_history_grows_by_each_answer(conversation, items[cid])
        assert conversation[6]["usage"]["prompt_tokens"] > conversation[1]["usage"]["prompt_tokens"] + 5 * 10
    run = load_run(tmp_path / "r")
    assert {(r.conversation_id, r.turn) for r in run.rows} == {(f"c{c}", t) for c in range(50) for t in range(1, 7)}, "typed rows carry them"


def test_a_failed_turn_ends_its_conversation_and_resume_continues_from_it(tmp_path, monkeypatch):
    prompts = load_prompt_set(conversation_set(tmp_path, conversations=20, turns=5))
    params = RunParams(concurrency=4, max_tokens=30, max_attempts=1, seed=2)
    with start_emulator(time_scale=0, models=[L33], fault_rate=0.15, fault_kinds=["500"], seed=4) as emu:
        first = run_evaluation([deployment(emu, monkeypatch)], prompts, tmp_path / "r", params, **QUIET)
        port = urlsplit(emu.url).port
    rows = read_rows(tmp_path / "r")
    ended = 0
    for cid, conversation in by_conversation(rows).items():
        turns = sorted(conversation)
        assert turns == list(range(1, len(turns) + 1)), "turns are played in order"
        failed = [k for k in turns if conversation[k]["status"] not in ("ok", "length")]
        if failed:
            ended += 1
            assert failed == [turns[-1]], f"{cid}: nothing is sent after a failed turn"
            assert conversation[failed[0]]["error_message"], "the row keeps the reason"
    assert ended >= 3, "a 15% fault rate must end some conversations"
    assert first.status == "incomplete" and first.not_run == ended
    with start_emulator(time_scale=0, models=[L33], seed=4, port=port, key=emu.key) as emu:  # the same endpoint: a resume checks it
        second = run_evaluation([deployment(emu, monkeypatch)], prompts, tmp_path / "r", params, resume=True, **QUIET)
    assert second.status == "completed"
    final = final_rows(read_rows(tmp_path / "r"))
    assert len(final) == 100 and all(r["status"] in ("ok", "length") for r in final.values())
    items = {item.id: item for item in prompts}
    for cid, conversation in by_conversation(list(final.values())).items():
        assert_history_grows_by_each_answer(conversation, items[cid])  # the resumed turns carry the answers read back from disk


def test_turns_take_their_own_references_and_a_conversation_rejects_arrivals(tmp_path, monkeypatch):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "c", "turns": ["What is 2+2?", "And 3+3?"], "references": [None, "6"], "scorer": "numeric"}) + "\n")
    prompts = load_prompt_set(path)
    turns = prompts.by_id()
    assert turns["c#1"].scorer is None and turns["c#2"].reference == "6" and turns["c#2"].scorer == "numeric"
    with start_emulator(time_scale=0, models=[L33]) as emu:
        with pytest.raises(RunError, match="a conversation set runs closed loop"):
            run_evaluation([deployment(emu, monkeypatch)], prompts, tmp_path / "r", RunParams(schedule=SendSchedule((0.0,))), **QUIET)


def test_per_turn_frame_shows_prompt_tokens_and_ttft_growing_turn_by_turn(tmp_path, monkeypatch):
    from llama_eval.report.workloads import PER_TURN_COLUMNS, per_turn_frame

    path = tmp_path / "long.jsonl"
    long_turn = "Here is the log I was asked for: " + "error timeout retry " * 150  # ~450 tokens a turn: prefill time shows
    path.write_text("".join(json.dumps({"id": f"c{c}", "turns": [f"{long_turn} (customer {c}, turn {t})" for t in range(4)]}) + "\n" for c in range(8)))
    prompts = load_prompt_set(path)
    # a stated profile with a slow prefill, so each turn's ~450 more tokens show in TTFT well above the shared machine's noise
    profile = LatencyProfile(base_ttft_s=0.1, prefill_tps=2000.0, tps=100.0, jitter=0.0, source="test: TTFT = 0.1 s + prompt tokens / 2,000")
    with start_emulator(time_scale=0.5, models=[L33], seed=1, profile=profile) as emu:
        run_evaluation([deployment(emu, monkeypatch)], prompts, tmp_path / "r", RunParams(concurrency=8, max_tokens=10, seed=1), **QUIET)
    frame = per_turn_frame(tmp_path / "r")
    assert tuple(frame.columns) == PER_TURN_COLUMNS and list(frame["turn"]) == [1, 2, 3, 4]
    assert list(frame["answered"]) == [8, 8, 8, 8] and list(frame["failed"]) == [0, 0, 0, 0]
    tokens = list(frame["prompt_tokens_mean"])
    assert all(b > a + 400 for a, b in zip(tokens, tokens[1:], strict=False)), tokens
    ttft = list(frame["ttft_p50_s"])
    assert ttft[-1] > ttft[0] + 0.5, f"TTFT grows with the prompt (~0.23 s a turn here): {ttft}"
    assert frame["cost_usd_mean"].isna().all(), "managed compute has no per-token cost: none is made up"
    assert frame.attrs["simulated"] is True
    assert per_turn_frame(tmp_path / "r").equals(frame), "a frame of the run on disk, not of state in memory"


def test_describe_workload_names_the_shape_and_the_arrivals(tmp_path):
    from llama_eval.prompts.synth import LengthDistribution, SynthRecipe, write_synth_set
    from llama_eval.report.workloads import describe_workload

    recipe = SynthRecipe(20, LengthDistribution.parse("uniform:1100:1300"), LengthDistribution.parse("fixed:50"), prefix_tokens=1000, prefix_share=0.8)
    write_synth_set(recipe, LLAMA3, tmp_path / "rag.jsonl")
    text = describe_workload(load_prompt_set(tmp_path / "rag.jsonl"), {"kind": "gamma", "rate_rps": 4.0, "burstiness": 0.5})
    assert text == ("prompt set 'rag' (20 items); synthetic: input uniform:1100:1300, output fixed:50 tokens (llama3 tokenizer), a shared 1000-token "
                    "prefix on 80% of requests (1 group(s)); open loop, gamma arrivals at 4.0 requests/s (burstiness 0.5)")  # fmt: skip
    chats = describe_workload(load_prompt_set(conversation_set(tmp_path, conversations=3, turns=4)))
    assert chats == "prompt set 'chats' (3 items); 3 conversations of 4-4 turns, history resent every turn; closed loop"
