"""The one rule for paths a notebook names (``llama_eval.paths``), the report's stated assumptions and emulator settings,
and ``llama-eval report --slo`` (with ``--ttft-p90-slo-s`` as its hidden, deprecated alias)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from _support.fakerun import FakeDeployment, write_run
from _support.pagetext import visible_text
from llama_eval import defaults
from llama_eval.errors import PathNotFoundError, RunDirNotFoundError, ScorerError
from llama_eval.paths import resolve_path, resolve_recorded, search_folders
from llama_eval.quality.scoring import score_run
from llama_eval.report.view import assumptions_line, emulator_settings, open_run, slo_ttft_p90_s


def test_the_search_walks_up_to_the_project_root_and_no_further(tmp_path, monkeypatch):
    root = tmp_path / "outer" / "project"
    deep = root / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (tmp_path / "outer" / "runs" / "demo").mkdir(parents=True)  # above the project root: never looked at
    assert search_folders(deep) == [deep, root / "a" / "b", root / "a", root]
    assert search_folders(root) == [root]
    (root / "runs" / "demo").mkdir(parents=True)
    (root / "runs" / "demo" / "results.jsonl").write_text("")
    monkeypatch.chdir(deep)
    assert resolve_path("runs/demo") == root / "runs" / "demo", "three folders down, found at the project root"
    assert open_run("runs/demo").path == root / "runs" / "demo"
    with pytest.raises(RunDirNotFoundError) as caught:
        open_run("runs/dmeo")
    message = str(caught.value)
    for folder in search_folders(deep):
        assert str(folder / "runs" / "dmeo") in message, "every place looked is named"
    assert str(tmp_path / "outer" / "runs") not in message
    with pytest.raises(PathNotFoundError, match="not given"):
        resolve_path("", what="prompt set")


def test_without_a_project_root_the_search_goes_two_folders_up(tmp_path):
    deep = tmp_path / "x" / "y" / "z"
    deep.mkdir(parents=True)
    assert search_folders(deep) == [deep, tmp_path / "x" / "y", tmp_path / "x"]


def test_a_recorded_prompt_set_is_found_from_the_run_not_the_readers_folder(tmp_path, monkeypatch):
    """The demo records its prompt set as runs/demo/prompts.jsonl (relative to where it ran): scoring from another folder
    finds it from the run directory; a run moved elsewhere finds it beside itself; a missing one says where it looked."""
    project = tmp_path / "project"
    run = write_run(project / "runs" / "demo", [FakeDeployment("a", "Llama-3.3-70B-Instruct")], items=4, repeats=1)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["prompt_set"]["path"] = "runs/demo/prompts.jsonl"
    (run / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert resolve_recorded("runs/demo/prompts.jsonl", run) == run / "prompts.jsonl"
    assert score_run(run).deployments["a"].prompts == 4
    moved = tmp_path / "moved"
    shutil.copytree(run, moved)
    manifest["prompt_set"]["path"] = str(tmp_path / "gone" / "prompts.jsonl")
    (moved / "manifest.json").write_text(json.dumps(manifest))
    assert score_run(moved).deployments["a"].prompts == 4, "an absolute path that is gone: the copy beside the run"
    (moved / "prompts.jsonl").unlink()
    with pytest.raises(ScorerError, match=r"the prompt set the run recorded is not found .*gone/prompts.jsonl.*; pass it with --prompts"):
        score_run(moved)


def test_the_report_states_its_assumptions_and_the_emulator_settings_it_has(tmp_path):
    assert assumptions_line(10_000, None, "ttft_p90<=1.0") == (
        "Assumed: 10,000 requests/day, a peak of the day's average (0.116 requests/s; set peak_rps for your real peak), "
        "latency objective `ttft_p90<=1.0` at peak."
    )
    assert assumptions_line(500_000, 40.0, "ttft_p90<=2") == "Assumed: 500,000 requests/day, a peak of 40 requests/s, latency objective `ttft_p90<=2` at peak."
    assert slo_ttft_p90_s("ttft_p90<=0.5,e2e_p90<=8") == 0.5 and slo_ttft_p90_s("e2e_p90<=8") is None
    old = write_run(tmp_path / "old", [FakeDeployment("a", "Llama-3.3-70B-Instruct", time_scale=0.25)], items=2, repeats=1)
    assert emulator_settings(old) == [
        "a: batch size none (serverless: limited by its quota); time scale 0.25 (4x the service speed, times rescaled); latency profile not recorded; "
        "seed not recorded"
    ]
    recorded = write_run(tmp_path / "new", [FakeDeployment("b", "Meta-Llama-3.1-405B-Instruct", kind="managed", time_scale=4.0),
                                            FakeDeployment("c", "Llama-3.3-70B-Instruct")], items=2, repeats=1)  # fmt: skip
    manifest = json.loads((recorded / "manifest.json").read_text())
    manifest["emulator"] = {  # as the demo records its emulation (demo.DemoEmulation)
        "seed": 29,
        "run_time_scales": {"b": 4.0, "c": 1.0},
        "profiles": {"b": {"base_ttft_s": 0.9, "prefill_tps": 4000.0, "tps": 25.5, "source": "catalog"}},
        "capacity": {"b": {"batch": 161, "instances": 1, "itl_growth": 1.0, "source": "vLLM rule"}},
        "basis": "Managed deployments decode up to a batch of sequences per instance.",
    }
    (recorded / "manifest.json").write_text(json.dumps(manifest))
    assert emulator_settings(recorded) == [
        "b: batch size 161 per instance, 1 instance; time scale 4 (0.25x the service speed, times rescaled); "
        "latency profile first token after 0.9s, prefill 4000 tokens/s, 25.5 tokens/s (catalog); seed 29",
        "c: batch size none (serverless: limited by its quota); time scale 1 (real speed); latency profile not recorded; seed 29",
        "Basis: Managed deployments decode up to a batch of sequences per instance.",
    ]
    real = write_run(tmp_path / "real", [FakeDeployment("c", "Llama-3.3-70B-Instruct", simulated=False)], items=2, repeats=1)
    assert emulator_settings(real) == [], "a run no emulator answered has no emulator settings"


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "llama_eval.cli", *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=os.environ.copy())


@pytest.mark.slow
def test_report_cli_takes_slo_and_the_deprecated_alias(tmp_path):
    run = write_run(tmp_path / "runs" / "r", [FakeDeployment("a", "Llama-3.3-70B-Instruct", time_scale=0.1)], items=4, repeats=1)
    assert "--ttft-p90-slo-s" not in _cli("report", "--help", cwd=tmp_path).stdout, "the deprecated alias is hidden"
    bad = _cli("report", str(run), "--slo", "ttft_p90<=fast", cwd=tmp_path)
    assert bad.returncode != 0 and "ttft_p90<=fast" in bad.stderr and not (tmp_path / "reports").exists(), "refused before any notebook runs"
    both = _cli("report", str(run), "--slo", "ttft_p90<=2", "--ttft-p90-slo-s", "2", cwd=tmp_path)
    assert both.returncode != 0 and "give the latency objective once" in both.stderr
    done = _cli("report", str(run), "--ttft-p90-slo-s", "2.5", "--peak-rps", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'deprecated; use --slo "ttft_p90<=2.5"' in done.stderr
    text = " ".join(visible_text((tmp_path / "reports" / "r" / "index.html").read_text()).split())
    assert "Assumed: 10,000 requests/day, a peak of 3 requests/s, latency objective ttft_p90<=2.5 at peak." in text
    assert f"{defaults.DEFAULT_REQUESTS_PER_DAY:,} requests/day" in text
    assert "time scale 0.1 (10x the service speed, times rescaled)" in text and "latency profile not recorded" in text
