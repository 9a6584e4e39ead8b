"""``llama-eval sweep --store``: the finished sweep goes to the run store named, or nowhere with ``off`` (as ``run --store``)."""

from __future__ import annotations

import json

from _support.capacityserver import CapacityServer
from llama_eval.cli import main


def _files(tmp_path, url: str):
    config = tmp_path / "deployments.yaml"
    config.write_text(f"deployments:\n  - {{name: k2, model: Llama-3.3-70B-Instruct, kind: managed, endpoint: '{url}', key_env: STORE_TEST_KEY}}\n")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Say hello number {i}."}) + "\n" for i in range(3)))
    return config, prompts


def test_sweep_store_path_and_off(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STORE_TEST_KEY", "k")
    monkeypatch.delenv("LLAMA_EVAL_STORE", raising=False)
    with CapacityServer(2, ttft_s=0.02, tokens=3, interval_s=0.005) as server:
        config, prompts = _files(tmp_path, server.url)
        common = ["sweep", "-d", str(config), "-p", str(prompts), "--concurrency", "1,2", "--requests-per-level", "4", "--warmup-s", "0",
                  "--progress", "none"]  # fmt: skip
        store = tmp_path / "elsewhere"
        assert main([*common, "-o", str(tmp_path / "runs" / "a"), "--store", str(store)]) == 0
        assert main([*common, "-o", str(tmp_path / "runs" / "b"), "--store", "off"]) == 0
    assert any(store.rglob("*.parquet")), "--store PATH: the sweep is in that store"
    assert not (tmp_path / "runs" / ".store").exists(), "neither sweep wrote the default store beside it"
    assert "the sweep itself used" in capsys.readouterr().out
