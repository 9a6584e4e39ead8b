"""The pre-run estimate and the budget preflight count every turn of a conversation set, not only the first.

Turn k resends the history (system, turns 1..k-1 and their answers, turn k), so a 4-turn
conversation is 4 requests whose prompts grow by each answer. Checked against a real run of
6 conversations x 4 turns on the emulator's serverless Llama 3.3 70B: the worst case (every earlier
answer at max_tokens) is at least what the run used, and within a factor of 2 of it (measured: 1.02x
prompt tokens, 1.03x dollars, the emulator's answers running close to max_tokens); the expected case from that run's own answers is the
run's completion tokens exactly and its prompt tokens within 2% (an answer re-tokenized inside the
history may differ by a token from its count as a completion). A budget the first turns alone
would fit is refused before any request (the emulator is gone by then: nothing could be sent).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest

from llama_eval import Deployment
from llama_eval.catalog.prices import load_prices
from llama_eval.emulator import start_emulator
from llama_eval.emulator.config import EmulatedDeployment, EmulatorConfig
from llama_eval.errors import BudgetError
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.run import RunParams, run_evaluation
from llama_eval.run.estimate import estimate_run

L33 = "Llama-3.3-70B-Instruct"
QUIET = {"progress": "none", "announce": lambda message: None}
MAX_TOKENS = 40


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    root = tmp_path_factory.mktemp("conversation-estimate")
    chats = root / "chats.jsonl"
    chats.write_text("".join(json.dumps({"id": f"c{c}", "system": "You are a patient support agent for a parcel service.",
                                         "turns": [f"Question {t} of customer {c}: where is parcel {c * 10 + t}, and when will it arrive?" for t in range(4)]})
                             + "\n" for c in range(6)))  # fmt: skip
    firsts = root / "firsts.jsonl"  # the same conversations' first turns alone: what an estimate of one request each would count
    system = {"role": "system", "content": "You are a patient support agent for a parcel service."}
    first = "Question 0 of customer {c}: where is parcel {p}, and when will it arrive?"
    lines = [{"id": f"c{c}", "messages": [system, {"role": "user", "content": first.format(c=c, p=c * 10)}]} for c in range(6)]
    firsts.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = EmulatorConfig(deployments=[EmulatedDeployment("sl", L33, "serverless")], time_scale=0.01)
    with start_emulator(config) as emu:
        mp = pytest.MonkeyPatch()
        mp.setenv("EMU_KEY", emu.key)
        d = Deployment(name="sl", model=L33, kind="serverless", endpoint=emu.deployment_url("sl"), key_env="EMU_KEY")
        run_evaluation([d], load_prompt_set(chats), root / "run", RunParams(concurrency=3, max_tokens=MAX_TOKENS, seed=1), **QUIET)
        mp.undo()
    rows = [json.loads(line) for line in (root / "run" / "results.jsonl").read_text().splitlines()]
    return root, d, chats, rows, firsts


def test_the_worst_case_counts_every_turn_and_bounds_the_run(played):
    root, d, chats, rows, _ = played
    assert len(rows) == 24 and {r["status"] for r in rows} <= {"ok", "length"}
    actual_prompt = sum(r["usage"]["prompt_tokens"] for r in rows)
    actual_output = sum(r["usage"]["completion_tokens"] for r in rows)
    actual_usd = sum(Decimal(str(r["cost_usd"])) for r in rows)
    e = estimate_run([d], load_prompt_set(chats), load_prices(), max_tokens=MAX_TOKENS)["sl"]
    assert e.requests == 24, "every turn is a request"
    assert e.max_output_tokens == 24 * MAX_TOKENS
    assert actual_prompt <= e.prompt_tokens <= 2 * actual_prompt, (e.prompt_tokens, actual_prompt)
    assert actual_usd <= e.worst_case_usd <= 2 * actual_usd, (e.worst_case_usd, actual_usd)
    assert actual_output <= e.max_output_tokens
    print(f"\nconversation estimate: worst case {e.prompt_tokens} prompt tokens vs {actual_prompt} used ({e.prompt_tokens / actual_prompt:.2f}x), "
          f"${e.worst_case_usd:.6f} vs ${actual_usd:.6f} ({e.worst_case_usd / actual_usd:.2f}x)")  # fmt: skip


def test_the_expected_case_from_the_run_s_own_answers_is_the_run(played):
    root, d, chats, rows, _ = played
    actual_prompt = sum(r["usage"]["prompt_tokens"] for r in rows)
    e = estimate_run([d], load_prompt_set(chats), load_prices(), max_tokens=MAX_TOKENS, previous_run=root / "run")["sl"]
    assert e.expected_output_tokens == sum(r["usage"]["completion_tokens"] for r in rows)
    assert e.expected_prompt_tokens is not None and abs(e.expected_prompt_tokens - actual_prompt) <= 0.02 * actual_prompt, (
        e.expected_prompt_tokens,
        actual_prompt,
    )
    assert e.expected_usd <= e.worst_case_usd


def test_a_budget_the_first_turns_would_fit_is_refused_before_any_request(played, monkeypatch):
    root, d, chats, _, firsts = played
    monkeypatch.setenv("EMU_KEY", "the emulator has stopped: a request would fail")
    budget = estimate_run([d], load_prompt_set(firsts), load_prices(), max_tokens=MAX_TOKENS)["sl"].worst_case_usd * Decimal("1.5")
    with pytest.raises(BudgetError, match="worst-case cost"):
        run_evaluation([d], load_prompt_set(chats), root / "refused", RunParams(max_tokens=MAX_TOKENS, budget_usd=budget), **QUIET)
    assert not (root / "refused" / "results.jsonl").exists()
    # and the command line says so: 24 requests, the history rule stated
    config = root / "d.yaml"
    config.write_text(f"deployments:\n  - name: sl\n    model: {L33}\n    kind: serverless\n    endpoint: {d.endpoint}\n    key_env: EMU_KEY\n")
    done = subprocess.run([sys.executable, "-m", "llama_eval.cli", "estimate", "-d", str(config), "-p", str(chats), "--max-tokens", str(MAX_TOKENS)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "EMU_KEY": "unused"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("sl "))
    assert line.split()[1] == "24", line
    assert "Conversations: every turn is a request" in done.stdout
