"""``llama-eval compare`` through its exit codes, on real emulator runs (issue 26's four scenarios and the gate's usage errors).

One emulator process (time scale 1, a fixed 200 ms first token at 50 tokens/s with 5% jitter, so the
latency is the emulated service's and not this machine's) serves three deployments of Llama 3.3 70B
that differ only in the emulator's test knobs: ``base`` (right 90% of the time), ``worse`` (80%: a
seeded 10-point drop; the same seed makes its right answers a subset of base's) and ``slow`` (90%,
every delay x 1.3). Each run names its deployment ``llama33-70b``, so the runs compare as the same
deployment, and runs 200 generated arithmetic prompts with short numeric answers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from _support.comparison import MODEL, PROMPTS, cli, start_cli, write_prompts
from llama_eval.emulator.process import spawn_emulator

GATE = "quality_drop>2,ttft_p90_increase>20%,cost_per_1k_increase>10%"

pytestmark = pytest.mark.slow  # six emulator runs of 200 prompts, two at a time, at the service's own speed: in `make test`, not `make test-fast`


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run directories: base, base2 (same seed), worse, slow, priced (base with a changed price table), changed (7 prompts edited)."""
    root = tmp_path_factory.mktemp("compare")
    write_prompts(root / "p.jsonl")
    (root / "changed").mkdir()
    write_prompts(root / "changed" / "p.jsonl", changed=(3, 4, 5, 6, 7, 8, 9))
    key_env = "LLAMA_EVAL_EMULATOR_KEY"
    # kind self-hosted on the emulator's side: no quota, so the six runs go at once instead of paced one after another to
    # the catalog's requests per minute (the runs' own deployments files say serverless, for the prices)
    emu = {"deployments": [{"name": name, "model": MODEL, "kind": "self-hosted", "endpoint": f"http://127.0.0.1:8000/{name}", "key_env": key_env,
                            "emulator": knobs} for name, knobs in (("base", {"accuracy": 0.9}), ("worse", {"accuracy": 0.8}),
                                                                   ("slow", {"accuracy": 0.9, "slowdown": 1.3}))]}  # fmt: skip
    (root / "emu.yaml").write_text(yaml.safe_dump(emu))
    header = next(line for line in (Path(__file__).parents[2] / "data" / "prices.csv").read_text().splitlines() if line.startswith("model,"))
    doubled = f"{MODEL},serverless,0.00142,0.00142,USD,2026-12-01,https://example.org/negotiated,a negotiated rate,2026-12-01"
    (root / "prices.csv").write_text(f"{header}\n{doubled}\n")
    out = {}
    with spawn_emulator("--deployments", str(root / "emu.yaml"), "--time-scale", "1", "--ttft", "0.2", "--tps", "50", "--jitter", "0.05") as emulator:
        env = {**os.environ, "LLAMA_EVAL_EMULATOR_KEY": emulator.key}
        # two runs at a time (40 streams), base beside slow: the pair whose latencies are compared meets the same machine
        for pair in ((("base", "base", "p.jsonl", ()), ("slow", "slow", "p.jsonl", ())),
                     (("base2", "base", "p.jsonl", ()), ("worse", "worse", "p.jsonl", ())),
                     (("priced", "base", "p.jsonl", ("--prices", "prices.csv")), ("changed", "base", "changed/p.jsonl", ()))):  # fmt: skip
            running = {}
            for run, endpoint, prompts, extra in pair:
                entry = {"name": "llama33-70b", "model": MODEL, "kind": "serverless", "endpoint": f"{emulator.url}/{endpoint}", "key_env": key_env}
                (root / f"{run}.yaml").write_text(yaml.safe_dump({"deployments": [entry]}))
                running[run] = start_cli("run", "-d", f"{run}.yaml", "-p", prompts, "-o", run, "--progress", "none", "--temperature", "0",
                                         "--concurrency", "20", *extra, cwd=root, env=env)  # fmt: skip
            for run, process in running.items():
                _, stderr = process.communicate(timeout=300)
                assert process.returncode == 0, f"{run}: {stderr[-3000:]}"
                out[run] = root / run
    return out


def test_a_seeded_ten_point_quality_drop_fails_the_gate(runs):
    done = cli("compare", str(runs["base"]), str(runs["worse"]), "--fail-if", GATE, cwd=runs["base"].parent)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = {line.split()[1].rstrip(":"): line for line in done.stdout.splitlines() if line.startswith(("FAIL", "pass", "not evaluated"))}
    assert lines["quality_drop>2"].startswith("FAIL"), done.stdout
    assert "supported" in lines["quality_drop>2"] and "200 prompts" in lines["quality_drop>2"]
    assert "B lower than A" in done.stdout


def test_two_runs_with_the_same_seed_pass_the_gate(runs):
    done = cli("compare", str(runs["base"]), str(runs["base2"]), "--fail-if", GATE + ",e2e_p90_increase>20%", cwd=runs["base"].parent)
    assert done.returncode == 0, done.stdout + done.stderr
    gate = [line for line in done.stdout.splitlines() if line.startswith(("FAIL", "pass", "not evaluated"))]
    assert len(gate) == 4 and all(line.startswith("pass") for line in gate), gate
    assert "no detectable difference" in done.stdout


def test_a_latency_only_change_fails_only_the_latency_condition(runs):
    done = cli("compare", str(runs["base"]), str(runs["slow"]), "--fail-if", GATE, "--json", cwd=runs["base"].parent)
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(done.stdout)
    failed = {g["condition"]: g["failed"] for g in result["gates"]}
    assert failed == {"quality_drop>2": False, "ttft_p90_increase>20%": True, "cost_per_1k_increase>10%": False}, result["gates"]
    ttft = next(s for s in result["latency"] if s["metric"] == "TTFT" and s["statistic"] == "p90")
    assert 0.2 < ttft["low"] and 0.15 < ttft["change"] < 0.45  # slowed 30%: in service time, with its interval above 20%
    overall = next(q for q in result["quality"] if q["tag"] is None)
    assert overall["diff"] == 0 and overall["prompts"] == PROMPTS  # the same answers: the knob changed only the timing


def test_a_changed_price_table_shows_under_what_changed(runs):
    done = cli("compare", str(runs["base"]), str(runs["priced"]), "--json", "--fail-if", "cost_per_1k_increase>10%", cwd=runs["base"].parent)
    assert done.returncode == 1, done.stdout + done.stderr  # the price doubled: +100% per 1,000 requests
    result = json.loads(done.stdout)
    changes = {(c["area"], c["what"]): c for c in result["changes"]}
    assert ("prices", "price tables (digest)") in changes
    row = changes[("prices", f"price of {MODEL} (serverless)")]
    assert "0.00071" in row["a"] and "0.00142" in row["b"]
    cost = result["cost"][0]
    assert float(cost["from_tokens"]) == 0  # the same answers, so the same tokens: all of the change is the price
    assert float(cost["from_prices"]) > 0 and abs(cost["change"] - 1.0) < 1e-6


def test_changed_prompts_are_listed_apart_not_paired(runs):
    done = cli("compare", str(runs["base"]), str(runs["changed"]), "--json", cwd=runs["base"].parent)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["prompts"]["changed"] == ["q3", "q4", "q5", "q6", "q7", "q8", "q9"]
    assert next(q for q in result["quality"] if q["tag"] is None)["prompts"] == PROMPTS - 7


def test_markdown_and_html_outputs(runs, tmp_path):
    done = cli("compare", str(runs["base"]), str(runs["worse"]), "--markdown", "--fail-if", "quality_drop>2", "--html", str(tmp_path / "c.html"),
               cwd=runs["base"].parent)  # fmt: skip
    assert done.returncode == 1
    assert "**Gate: FAILED**" in done.stdout and "| deployment |" in done.stdout and "### Quality" in done.stdout
    page = (tmp_path / "c.html").read_text()
    assert "<table>" in page and "SIMULATED" in page and "Gate: FAILED" in page


def test_a_scored_run_compares_where_its_prompt_set_is_gone(runs, tmp_path):
    """The CI case: the baseline is an artifact, scored where it was made; its prompt set file is not here (or changed)."""
    import shutil

    for name in ("base", "worse"):
        shutil.copytree(runs[name], tmp_path / name)
    unscored = cli("compare", "base", "worse", cwd=tmp_path)
    assert unscored.returncode == 2 and "llama-eval score" in unscored.stderr, unscored.stderr  # no scores, no prompt set: says what to run
    for name in ("base", "worse"):
        scored = cli("score", str(tmp_path / name), "--prompts", str(runs["base"].parent / "p.jsonl"), cwd=tmp_path)
        assert scored.returncode == 0, scored.stderr
    done = cli("compare", "base", "worse", "--fail-if", "quality_drop>2", cwd=tmp_path)
    assert done.returncode == 1 and "FAIL  quality_drop>2" in done.stdout, done.stdout + done.stderr


def test_one_run_against_absolute_targets(runs):
    base = str(runs["base"])
    low = cli("compare", base, "--fail-if", "score<0.5,error_rate>1%", cwd=runs["base"].parent)
    assert low.returncode == 0, low.stdout + low.stderr
    high = cli("compare", base, "--fail-if", "score<0.99", cwd=runs["base"].parent)
    assert high.returncode == 1 and "FAIL  score<0.99" in high.stdout, high.stdout


@pytest.mark.parametrize(
    ("conditions", "said"),
    [
        ("quality_drop>2,latency_up>5%", "unknown condition 'latency_up'"),
        ("quality_drop<2", "quality_drop takes '>'"),
        ("ttft_p90_increase>20", "as a percentage"),
        ("quality_drop>2%", "in points"),
        ("quality_drop>,score<0.8", "cannot read 'quality_drop>'"),
    ],
)
def test_a_condition_that_cannot_be_read_exits_2_naming_it(tmp_path, conditions, said):
    done = cli("compare", str(tmp_path / "nowhere"), str(tmp_path / "nowhere2"), "--fail-if", conditions, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr, done.stderr


def test_a_directory_that_is_not_a_run_exits_2(tmp_path):
    done = cli("compare", str(tmp_path / "missing"), str(tmp_path / "missing2"), "--fail-if", "quality_drop>2", cwd=tmp_path)
    assert done.returncode == 2 and "missing" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_relative_conditions_on_one_run_exit_2(tmp_path):
    done = cli("compare", str(tmp_path), "--fail-if", "quality_drop>2", cwd=tmp_path)
    assert done.returncode == 2 and "compares two runs" in done.stderr, done.stderr
