"""The emulator's batch limit counts KV-cache tokens, not only requests: long conversations lower capacity.

A managed deployment of batch 4 holds 4 x 2,048 = 8,192 tokens of KV cache. The 6th turn of a
conversation, resending its history (~2,760 prompt tokens), needs ~2,770 of them (with 8 max_tokens), so 2 run at once
where 4 single short prompts do; the others queue (first come, first served) and their time to
first token grows. Checked through a real closed-loop sweep over HTTP, reading how many requests the
emulator ran at once; the queue itself (order, no overtaking, cancellation) directly.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from llama_eval.catalog.tokens import counter_for
from llama_eval.deployments.model import Deployment
from llama_eval.emulator import EmulatorConfig, start_emulator
from llama_eval.emulator.batching import CONTEXT_TOKENS, BatchModel, FifoBudget
from llama_eval.emulator.config import EmulatedDeployment
from llama_eval.emulator.latency import LatencyProfile
from llama_eval.load.sweep import sweep
from llama_eval.run import RunParams

L33 = "Llama-3.3-70B-Instruct"
QUIET = {"progress": "none", "announce": lambda message: None}
LLAMA3 = counter_for(None)


def _sixth_turns(path, conversations: int = 6) -> int:
    """Prompt items holding the 6th turn of a support chat: the system prompt, 5 exchanges resent, the new question. Returns the prompt tokens."""
    lines = []
    for c in range(conversations):
        messages = [{"role": "system", "content": "You are a patient support agent for a parcel service."}]
        for t in range(5):
            messages.append({"role": "user", "content": f"Customer {c}, question {t}: " + "where is my parcel and when will it arrive " * 30})
            messages.append({"role": "assistant", "content": f"Answer {t}: " + "your parcel is on its way and should arrive soon " * 25})
        messages.append({"role": "user", "content": f"Customer {c}, question 6: can I get a refund?"})
        lines.append({"id": f"c{c}-turn6", "messages": messages})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return max(LLAMA3.count_chat(line["messages"]) for line in lines)


def test_long_conversation_turns_run_fewer_at_once_than_short_prompts(tmp_path, monkeypatch):
    long_tokens = _sixth_turns(tmp_path / "long.jsonl")
    budget = BatchModel(4).kv_tokens
    assert budget == 8192 and budget / 3 < long_tokens + 8 <= budget / 2, long_tokens  # two fit in the KV cache, three do not
    short = tmp_path / "short.jsonl"
    short.write_text("".join(json.dumps({"id": f"s{i}", "prompt": f"Where is parcel {i}?"}) + "\n" for i in range(6)))
    profile = LatencyProfile(base_ttft_s=0.2, prefill_tps=50_000.0, tps=40.0, jitter=0.0, source="test: a fixed profile")
    config = EmulatorConfig(deployments=[EmulatedDeployment("m", L33, "managed")], capacity={"m": BatchModel(4)}, rpm=100_000, tpm=1_000_000_000,
                            time_scale=0.25, profile=profile)  # fmt: skip
    held = {}
    with start_emulator(config) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        d = Deployment(name="m", model=L33, kind="managed", endpoint=emu.deployment_url("m"), key_env="EMU_KEY")
        gates = emu.emulator.capacity
        results = {}
        for name in ("short", "long"):
            gates.active_max.clear()
            results[name] = sweep([d], tmp_path / f"{name}.jsonl", tmp_path / f"sweep-{name}", concurrency=[4], requests_per_level=12, warmup_s=0,
                                  params=RunParams(max_tokens=8), **QUIET)  # fmt: skip
            held[name] = gates.active_max["m"]
    assert held == {"short": 4, "long": 2}, held
    short_level, long_level = results["short"].levels[0], results["long"].levels[0]
    assert short_level.errors == 0 and long_level.errors == 0
    # half of the long turns wait a whole service time (0.2 s + 8 tokens at 40/s = 0.375 s) for KV room; the short ones never wait
    assert long_level.ttft_p90_s > short_level.ttft_p90_s + 0.25, (short_level.ttft_p90_s, long_level.ttft_p90_s)


def test_the_budget_queue_is_first_come_first_served_and_a_request_over_it_runs_alone():
    async def scenario() -> list[str]:
        budget = FifoBudget(sequences=4, tokens=1000)
        order: list[str] = []

        async def request(name: str, tokens: int, hold: float) -> None:
            await budget.acquire(tokens)
            order.append(name)
            await asyncio.sleep(hold)
            budget.release(tokens)

        first = asyncio.create_task(request("a 600", 600, 0.05))
        await asyncio.sleep(0)
        tasks = [asyncio.create_task(request(n, t, 0.01)) for n, t in (("b 600", 600), ("c 100", 100), ("d 5000", 5000), ("e 100", 100))]
        await asyncio.sleep(0.01)
        assert order == ["a 600"], "c would fit, but b is ahead of it: nothing overtakes the head"
        await asyncio.gather(first, *tasks)
        assert budget.free_tokens == 1000 and budget.free_sequences == 4
        return order

    assert asyncio.run(scenario()) == ["a 600", "b 600", "c 100", "d 5000", "e 100"]


def test_a_cancelled_head_lets_the_queue_move():
    async def scenario() -> bool:
        budget = FifoBudget(sequences=4, tokens=1000)
        await budget.acquire(600)
        head = asyncio.create_task(budget.acquire(900))
        behind = asyncio.create_task(budget.acquire(300))
        await asyncio.sleep(0)
        assert not behind.done(), "300 would fit, but the 900 at the head waits first"
        head.cancel()
        for _ in range(3):  # the head's cancellation runs, then the woken request's task
            await asyncio.sleep(0)
        return behind.done() and budget.free_tokens == 100

    assert asyncio.run(scenario())


@pytest.mark.parametrize("tokens", [CONTEXT_TOKENS, 1])
def test_requests_within_the_context_never_meet_the_token_limit_before_the_batch_limit(tokens):
    model = BatchModel(batch=8, instances=2)
    assert model.kv_tokens == 16 * CONTEXT_TOKENS and model.kv_tokens // tokens >= model.slots
