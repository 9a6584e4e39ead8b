"""The emulator's prefix cache: repeated prefixes are served from cache on managed deployments, never on serverless."""

from __future__ import annotations

import random
from statistics import median

import pytest

from llama_eval.catalog.tokens import counter_for
from llama_eval.deployments.model import Deployment
from llama_eval.emulator import EmulatorConfig, start_emulator
from llama_eval.emulator.config import EmulatedDeployment
from llama_eval.emulator.latency import LatencyProfile
from llama_eval.emulator.prefix_cache import BLOCK_TOKENS, PrefixCache, chat_ids
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.prompts.synth import LengthDistribution, SynthRecipe, write_synth_set
from llama_eval.run import RunParams, run_evaluation
from llama_eval.rundir.run import load_run
from llama_eval.rundir.store import read_manifest

L33 = "Llama-3.3-70B-Instruct"
QUIET = {"progress": "none", "announce": lambda message: None}
LLAMA3 = counter_for(None)


def test_only_a_true_prefix_of_whole_blocks_hits_and_never_the_whole_prompt():
    cache = PrefixCache(capacity_tokens=10_000)
    ids = list(range(100))
    assert cache.lookup_insert(ids) == 0
    assert cache.lookup_insert(ids) == 96, "whole 16-token blocks, and the last token is always computed"
    assert cache.lookup_insert(list(range(64))) == 48, "a prompt that is all cached still computes its last block's last token"
    assert cache.lookup_insert(list(range(40)) + [999] * 60) == 32, "the blocks up to the first difference"
    assert cache.lookup_insert([7] + list(range(1, 100))) == 0, "a different first token: a block's key chains everything before it"


def test_least_recently_used_blocks_are_evicted_at_the_stated_size():
    cache = PrefixCache(capacity_tokens=4 * BLOCK_TOKENS)
    a, b = [1] * 64 + [2], [3] * 64 + [4]
    cache.lookup_insert(a)
    cache.lookup_insert(b)  # four blocks of b push out a's
    assert cache.lookup_insert(a) == 0
    assert len(cache.blocks) * BLOCK_TOKENS <= 4 * BLOCK_TOKENS


def test_chat_ids_separate_roles():
    system_then_user = chat_ids(LLAMA3, [{"role": "system", "content": "hello"}, {"role": "user", "content": "there"}])
    one_user = chat_ids(LLAMA3, [{"role": "user", "content": "hello there"}])
    assert system_then_user != one_user


def test_shared_prefixes_are_cached_on_managed_with_lower_intended_ttft_and_never_on_serverless(tmp_path, monkeypatch):
    recipe = SynthRecipe(60, LengthDistribution.parse("uniform:1200:1400"), LengthDistribution.parse("fixed:8"), prefix_tokens=1000, prefix_share=0.8,
                         prefix_groups=2, seed=1)  # fmt: skip
    write_synth_set(recipe, LLAMA3, tmp_path / "s.jsonl")
    prompts = load_prompt_set(tmp_path / "s.jsonl")
    profile = LatencyProfile(base_ttft_s=0.1, prefill_tps=5000.0, tps=50.0, jitter=0.0, source="test: TTFT = 0.1 s + uncached tokens / 5,000")
    config = EmulatorConfig(deployments=[EmulatedDeployment("m", L33, "managed"), EmulatedDeployment("s", L33, "serverless")], rpm=100_000,
                            tpm=100_000_000, time_scale=0, profile=profile)  # fmt: skip
    with start_emulator(config) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        deps = [Deployment(name=n, model=L33, kind="managed", endpoint=emu.deployment_url(n), key_env="EMU_KEY") for n in ("m", "s")]
        run_evaluation(deps, prompts, tmp_path / "r", RunParams(concurrency=1, seed=1), **QUIET)
    run = load_run(tmp_path / "r")
    assert read_manifest(tmp_path / "r")["prompt_set"]["recipe"]["prefix_tokens"] == 1000, "the run records the workload it was made for"
    items = {item.id: item for item in prompts}
    managed = [r for r in run.rows if r.deployment == "m"]
    served = [r for r in run.rows if r.deployment == "s"]
    assert all(r.usage.cached_tokens is None for r in served), "serverless Llama: no prompt cache documented, none reported"
    seen_groups: set[int] = set()
    cached_ttft, uncached_ttft = [], []
    for row in managed:  # concurrency 1: the rows are in the order they were served
        group = items[row.prompt_id].metadata["prefix_group"]
        if group is None or group not in seen_groups:
            assert row.usage.cached_tokens == 0, "a first sight of a prefix, or no prefix: nothing cached"
            uncached_ttft.append(row.intended_ttft_s)
        else:
            # the prefix's whole blocks: the template's tokens before it, then its 1,000 tokens, less the part of a block after it
            assert 1000 - BLOCK_TOKENS < row.usage.cached_tokens <= 1000 + 8, row.usage
            cached_ttft.append(row.intended_ttft_s)
        if group is not None:
            seen_groups.add(group)
        assert row.intended_ttft_s == pytest.approx(0.1 + (row.usage.prompt_tokens - row.usage.cached_tokens) / 5000, abs=2e-6), "TTFT: uncached only"
    assert len(cached_ttft) == 48 - 2 and len(uncached_ttft) == 14
    assert median(cached_ttft) < 0.5 * median(uncached_ttft), (median(cached_ttft), median(uncached_ttft))
    assert all(r.intended_ttft_s == pytest.approx(0.1 + r.usage.prompt_tokens / 5000, abs=2e-6) for r in served)
    assert sum(r.usage.cached_tokens for r in managed) / sum(r.usage.prompt_tokens for r in managed) == pytest.approx(46 * 1000 / 60 / 1300, rel=0.1)


def test_random_prompts_without_a_shared_prefix_are_not_cached(tmp_path):
    rng = random.Random(0)
    cache = PrefixCache(capacity_tokens=1_000_000)
    from llama_eval.prompts.synth import chat_of_tokens

    hits = [cache.lookup_insert(chat_ids(LLAMA3, chat_of_tokens(LLAMA3, 500, rng))) for _ in range(200)]
    assert sum(hits) == 0
