"""Cost per request per workload (cost/workload.py, shown by the cost section's capacity table).

One conversation run (4 conversations x 3 turns) against the emulator's serverless and self-hosted
deployments of Llama 3.3 70B, and one real sweep of the self-hosted one with a ``llama-eval synth`` set
(a shared prefix), stored with the run. The table states, next to each capacity and cost per request,
the workload they hold for: the sweep's (synth shape, closed loop) for the self-hosted machine, the
run's (its conversations) for the per-token deployment. Per token, per conversation and per turn are
the rows' own costs added up here independently; by the hour, per conversation is "not measured"
(the capacity came from single prompts), never a number derived from another workload.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest

from llama_eval import Deployment
from llama_eval.cost.projection import deployment_costs
from llama_eval.cost.workload import NO_CONVERSATION_CAPACITY, run_workload, workload_costs
from llama_eval.deployments.model import Compute
from llama_eval.emulator import start_emulator
from llama_eval.emulator.config import EmulatedDeployment, EmulatorConfig
from llama_eval.load.sweep import sweep
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.report.cost import capacity_cost_frame
from llama_eval.run import RunParams, run_evaluation

L33 = "Llama-3.3-70B-Instruct"
QUIET = {"progress": "none", "announce": lambda message: None}
SLO = "ttft_p90<=60"  # loose: the capacity is the highest level swept, the subject here is what it is stated with


@pytest.fixture(scope="module")
def conversation_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("workload-cost")
    chats = root / "chats.jsonl"
    chats.write_text("".join(json.dumps({"id": f"c{c}", "system": "You are a patient support agent.",
                                         "turns": [f"Question {t} of customer {c}: where is parcel {c * 10 + t}?" for t in range(3)]}) + "\n"
                             for c in range(4)))  # fmt: skip
    synth = root / "synth.jsonl"
    made = subprocess.run([sys.executable, "-m", "llama_eval.cli", "synth", "-o", str(synth), "--count", "12", "--input", "fixed:300", "--output-tokens",
                           "fixed:8", "--prefix-tokens", "200", "--prefix-share", "0.8"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert made.returncode == 0, made.stderr
    config = EmulatorConfig(deployments=[EmulatedDeployment("sl", L33, "serverless"), EmulatedDeployment("sh", L33, "self-hosted")], time_scale=0.01)
    with start_emulator(config) as emu:
        mp = pytest.MonkeyPatch()
        mp.setenv("EMU_KEY", emu.key)
        gpus = Compute.from_json({"gpu": "H100", "count": 4, "usd_per_hour": "20.0"})
        deployments = [Deployment(name="sl", model=L33, kind="serverless", endpoint=emu.deployment_url("sl"), key_env="EMU_KEY"),
                       Deployment(name="sh", model=L33, kind="self-hosted", endpoint=emu.deployment_url("sh"), key_env="EMU_KEY", compute=gpus)]  # fmt: skip
        run_evaluation(deployments, load_prompt_set(chats), root / "run", RunParams(concurrency=4, max_tokens=30, seed=1), **QUIET)
        sweep([deployments[1]], synth, root / "run" / "sweeps" / "sh", concurrency=[1, 2], requests_per_level=6, warmup_s=0, params=RunParams(max_tokens=8),
              **QUIET)  # fmt: skip
        mp.undo()
    return root / "run", chats, synth


def test_each_cost_per_request_states_the_workload_it_holds_for(conversation_run):
    run, chats, synth = conversation_run
    frame = capacity_cost_frame(run, slo=SLO)
    assert run_workload(run) == f"{chats} (4 prompts), 4 conversations of 3-3 turns, history resent every turn, closed loop"
    assert frame.loc["sl", "workload"] == run_workload(run)  # per token: the run's own token mix
    said = frame.loc["sh", "workload"]  # by the hour: the sweep's capacity, measured with the synth set
    assert said.startswith(f"{synth} (12 prompts; synthetic: input fixed:300 tokens, output fixed:8 tokens, a shared 200-token prefix on 80% of requests")
    assert said.endswith("closed loop"), said
    capacity = Decimal(str(frame.loc["sh", "capacity_rps"]))
    assert capacity > 0
    costs = {c.deployment: c for c in workload_costs(run, deployment_costs(run, [run / "sweeps"], slo=SLO), [run / "sweeps"], slo=SLO)}
    hourly = 4 * Decimal("20.0")  # four GPUs at $20 each
    assert abs(costs["sh"].usd_per_request - hourly / (3600 * costs["sh"].capacity_rps)) < Decimal("1e-9")  # $/h / (3,600 x capacity)
    assert abs(float(costs["sh"].capacity_rps) - float(capacity)) < 0.01  # the table shows it rounded


def test_a_conversation_costs_the_sum_of_its_turns_per_token_and_is_not_invented_by_the_hour(conversation_run):
    run, _, _ = conversation_run
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    served = [r for r in rows if r["deployment"] == "sl"]
    assert len(served) == 12 and {r["status"] for r in served} <= {"ok", "length"}
    by_turn: dict[int, list[Decimal]] = {}
    by_chat: dict[str, Decimal] = {}
    for r in served:
        by_turn.setdefault(r["turn"], []).append(Decimal(str(r["cost_usd"])))
        by_chat[r["conversation_id"]] = by_chat.get(r["conversation_id"], Decimal(0)) + Decimal(str(r["cost_usd"]))
    costs = {c.deployment: c for c in workload_costs(run, deployment_costs(run, [run / "sweeps"], slo=SLO), [run / "sweeps"], slo=SLO)}
    sl = costs["sl"]
    assert sl.conversations == 4
    assert sl.usd_per_conversation == sum(by_chat.values()) / 4
    assert [t for t, _ in sl.usd_per_turn] == [1, 2, 3]
    assert [v for _, v in sl.usd_per_turn] == [sum(v) / len(v) for _, v in sorted(by_turn.items())]
    assert sl.usd_per_turn[2][1] > sl.usd_per_turn[0][1], "turn 3 resends the history: it costs more than turn 1"
    sh = costs["sh"]
    assert sh.conversations == 4 and sh.usd_per_conversation is None and sh.usd_per_turn == () and sh.note == NO_CONVERSATION_CAPACITY
    frame = capacity_cost_frame(run, slo=SLO)
    assert frame.loc["sl", "USD per conversation (mean)"] == f"${float(sl.usd_per_conversation):,.6f}"
    assert frame.loc["sh", "USD per conversation (mean)"] == "not measured"
    assert frame.loc["sh", "USD per turn (mean)"] == NO_CONVERSATION_CAPACITY
    assert frame.loc["sl", "USD per turn (mean)"].startswith("turn 1: $")
