"""The emulator's capacity model: managed deployments batch then queue; serverless keeps flat latency.

A sweep over real HTTP against the emulator must show the knee the model promises: capacity at an
SLO only an unqueued request can meet is exactly the batch size, inter-token time grows mildly
with the batch, and a serverless deployment shows no knee at the same loads.
"""

from __future__ import annotations

import json

import pytest

from llama_eval.deployments.model import Deployment
from llama_eval.emulator import EmulatorConfig, fixed_profile, start_emulator
from llama_eval.emulator.batching import BatchModel, batch_size_for, managed_capacity
from llama_eval.load.sweep import sweep
from llama_eval.run import RunParams

QUIET = {"progress": "none", "announce": lambda message: None}


def test_batch_size_rule_by_hand():
    # 70B on 4 x A100 80 GB: (0.9 x 320 - 70 x 2) = 148 GB free; KV per 2,048-token sequence
    # = 2 x 80 layers x 8 KV heads x 128 x 2 bytes x 2,048 = 0.671 GB -> floor(148 / 0.671) = 220
    assert batch_size_for(70, 320)[0] == 220
    # 8B on one A100 80 GB: 72 - 16 = 56 GB; 2 x 32 x 8 x 128 x 2 x 2,048 = 0.268 GB -> 208
    assert batch_size_for(8, 80)[0] == 208
    # 405B on 8 x H100 80 GB: bf16 (810 GB) does not fit in 576 GB, so FP8: 576 - 405 = 171 GB; 1.057 GB a sequence -> 161
    batch, rule = batch_size_for(405, 640)
    assert batch == 161 and "1 byte weights" in rule
    assert batch_size_for(8, 640)[0] == 256  # vLLM's max_num_seqs caps it
    with pytest.raises(ValueError, match="does not fit"):
        batch_size_for(405, 80)


def test_interval_factor_grows_mildly_and_per_instance():
    model = BatchModel(batch=5, instances=2)
    assert model.slots == 10
    assert model.interval_factor(1) == 1.0
    assert model.interval_factor(10) == pytest.approx(1.5)  # 5 a instance: a full batch, 1 + 0.5
    assert model.interval_factor(6) == pytest.approx(1 + 0.5 * 2 / 4)  # ceil(6 / 2) = 3 sequences an instance


def test_managed_capacity_from_a_deployments_file(monkeypatch):
    from llama_eval.deployments.model import Compute

    monkeypatch.setenv("K", "k")
    managed = Deployment(name="m", model="Llama-3.3-70B-Instruct", kind="managed", endpoint="http://127.0.0.1:1/m", key_env="K",
                         compute=Compute(sku="Standard_NC96ads_A100_v4", instances=2))  # fmt: skip
    serverless = Deployment(name="s", model="Llama-3.3-70B-Instruct", endpoint="http://127.0.0.1:1/s", key_env="K")
    models = managed_capacity([managed, serverless])
    assert set(models) == {"m"} and models["m"].batch == 220 and models["m"].instances == 2
    assert "Standard_NC96ads_A100_v4" in models["m"].source
    assert managed_capacity([managed], batch=4)["m"].batch == 4


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Tell me about the number {i} at length."}) + "\n" for i in range(6)))
    return path


def test_a_sweep_on_the_emulator_finds_the_batch_size_and_serverless_shows_no_knee(prompts, tmp_path, monkeypatch):
    config = EmulatorConfig(
        deployments={"m": "Llama-3.3-70B-Instruct", "s": "Llama-3.3-70B-Instruct"},
        profile=fixed_profile(ttft_s=0.15, tps=50),
        capacity={"m": BatchModel(batch=3)},
        rpm=100_000,
        tpm=100_000_000,
    )
    params = RunParams(max_tokens=8)
    with start_emulator(config) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        managed = Deployment(name="m", model="Llama-3.3-70B-Instruct", kind="managed", endpoint=emu.deployment_url("m"), key_env="EMU_KEY")
        # "s" has no capacity model at the emulator, as a serverless deployment (client kind managed: no catalog quota check here)
        serverless = Deployment(name="s", model="Llama-3.3-70B-Instruct", kind="managed", endpoint=emu.deployment_url("s"), key_env="EMU_KEY")
        slo = "ttft_p90<=0.25"
        m = sweep([managed], prompts, tmp_path / "m", concurrency=[1, 3, 4, 6], requests_per_level=12, warmup_s=0, slo=slo, params=params, **QUIET)
        s = sweep([serverless], prompts, tmp_path / "s", concurrency=[1, 3, 4, 6], requests_per_level=12, warmup_s=0, slo=slo, params=params, **QUIET)
    assert m.capacity.level.concurrency == 3  # the batch size, exactly
    by_c = {r["concurrency"]: r for r in m.frame().to_dict("records")}
    assert by_c[3]["itl_p50_s"] > by_c[1]["itl_p50_s"] * 1.3  # a full batch of 3: 1.5x the inter-token time alone
    assert by_c[4]["ttft_p90_s"] > 0.25  # beyond the batch, requests queue
    assert s.capacity.level.concurrency == 6 and s.capacity.lower_bound  # no knee without a capacity model
    flat = [r["ttft_p50_s"] for r in s.frame().to_dict("records")]
    assert max(flat) < 0.25


def test_emulator_cli_batch_size_gives_managed_deployments_a_knee(prompts, tmp_path, monkeypatch):
    from llama_eval.emulator.process import spawn_emulator

    monkeypatch.setenv("EMU_KEY", "emu-key")
    spec = tmp_path / "deployments.yaml"
    spec.write_text(
        "deployments:\n"
        "  - {name: m, model: Llama-3.3-70B-Instruct, kind: managed, endpoint: 'http://127.0.0.1:8000/m', key_env: EMU_KEY}\n"
    )
    with spawn_emulator("--deployments", str(spec), "--batch-size", "2", "--ttft", "0.15", "--tps", "50", "--key", "emu-key") as emu:
        managed = Deployment(name="m", model="Llama-3.3-70B-Instruct", kind="managed", endpoint=f"{emu.url}/m", key_env="EMU_KEY")
        result = sweep([managed], prompts, tmp_path / "cli", concurrency=[1, 2, 3], requests_per_level=6, warmup_s=0, slo="ttft_p90<=0.25",
                      params=RunParams(max_tokens=8), **QUIET)  # fmt: skip
    assert result.capacity.level.concurrency == 2
    with pytest.raises(SystemExit, match="--batch-size applies"):
        from llama_eval.cli import main

        main(["emulator", "--batch-size", "2"])


def test_a_sweep_of_a_sped_up_emulator_reports_the_emulated_service_time(prompts, tmp_path, monkeypatch):
    # the emulator at time scale 0.1 runs ten times faster than the service it models, and says so in a header
    config = EmulatorConfig(deployments={"m": "Llama-3.3-70B-Instruct"}, profile=fixed_profile(ttft_s=1.0, tps=20), capacity={"m": BatchModel(batch=2)},
                            time_scale=0.1)  # fmt: skip
    with start_emulator(config) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        managed = Deployment(name="m", model="Llama-3.3-70B-Instruct", kind="managed", endpoint=emu.deployment_url("m"), key_env="EMU_KEY")
        result = sweep([managed], prompts, tmp_path / "fast", concurrency=[1, 2, 3], requests_per_level=6, warmup_s=0, slo="ttft_p90<=1.5",
                      params=RunParams(max_tokens=8), **QUIET)  # fmt: skip
    data = json.loads((tmp_path / "fast" / "sweep.json").read_text())
    assert data["time_scale"] == pytest.approx(0.1) and data["simulated"] is True
    by_c = {r["concurrency"]: r for r in result.frame().to_dict("records")}
    assert by_c[1]["ttft_p50_s"] == pytest.approx(1.0, rel=0.15)  # the profile's 1 s, not the 0.1 s measured on the wall clock
    assert result.capacity.level.concurrency == 2  # the batch; a third request queues a whole service time
