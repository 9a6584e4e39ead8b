"""Latency profiles: the 405B anchor reproduces its published numbers; others follow the stated rule."""

from __future__ import annotations

import random
import time

import pytest

from llama_eval import Deployment, load_catalog, make_client
from llama_eval.emulator import fixed_profile, profile_for, start_emulator


def test_anchor_reproduces_the_published_measurement():
    p = profile_for(load_catalog().get("Meta-Llama-3.1-405B-Instruct"))
    no_jitter = random.Random(0)
    assert p.tps == pytest.approx(29.4)
    assert (p.base_ttft_s + 10_000 / p.prefill_tps) == pytest.approx(2.01)
    assert "Artificial Analysis" in p.source
    assert p.ttft(100, no_jitter) < p.ttft(10_000, no_jitter)


def test_smaller_models_are_faster_by_the_stated_rule():
    cat = load_catalog()
    big, small = profile_for(cat.get("Meta-Llama-3.1-405B-Instruct")), profile_for(cat.get("Meta-Llama-3.1-8B-Instruct"))
    assert small.tps == pytest.approx(big.tps * (405 / 8) ** 0.5)
    maverick = profile_for(cat.get("Llama-4-Maverick-17B-128E-Instruct-FP8"))
    assert maverick.tps == pytest.approx(big.tps * (405 / 17) ** 0.5), "mixture of experts: active parameters decide"
    assert "rough rule" in small.source


@pytest.mark.filterwarnings("ignore:emulated deployment:llama_eval.errors.LifecycleWarning")  # 405B is retired on serverless: deliberately silenced
def test_longer_prompts_wait_longer_for_the_first_token(monkeypatch):
    model = "Meta-Llama-3.1-405B-Instruct"
    with start_emulator(models=[model], time_scale=0.2, rpm=10**6, tpm=10**9) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        d = Deployment(name="d", model=model, kind="managed", endpoint=emu.deployment_url(model), key_env="EMU_KEY")
        with make_client(d) as client:

            def ttft(prompt: str) -> float:
                start = time.perf_counter()
                with client.stream([{"role": "user", "content": prompt}], max_tokens=2, temperature=0) as s:
                    for update in s:
                        if update.choices and update.choices[0].delta.content:
                            return time.perf_counter() - start
                raise AssertionError("no content")

            ttft("warm-up")  # the first request pays for connection set-up and loading the tokenizer
            short, long = ttft("Hi"), ttft("lorem ipsum " * 5000)  # ~15k prompt tokens: +2.3 s x 0.2
    assert long - short > 0.2


def test_named_deployments_and_fixed_profile():
    with start_emulator(deployments={"team-llama": "Llama-3.3-70B-Instruct"}, profile=fixed_profile(0.0, 1000.0), time_scale=1) as emu:
        import urllib.request

        request = urllib.request.Request(f"{emu.url}/openai/v1/models", headers={"api-key": emu.key})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert b"team-llama" in response.read()
        assert emu.deployment_url("team-llama").endswith("/team-llama")
        with pytest.raises(KeyError, match="team-llama"):
            emu.deployment_url("Llama-3.3-70B-Instruct")
