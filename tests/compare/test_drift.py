"""``compare.drift``: control limits from earlier runs of the same configuration, on real emulator runs.

Four runs of one deployment answered right 90% of the time, sampled (no temperature, no seed: each
run's answers differ), then one whose service got worse (right 40% of the time): the last run's
score lies outside the limits the four earlier runs set, and the point says it rests on four runs.
A run of another configuration (other parameters) is left out.
"""

from __future__ import annotations

import os

import pytest
import yaml

from _support.comparison import MODEL, cli, write_prompts
from llama_eval.compare.drift import MIN_RUNS, drift, left_out
from llama_eval.emulator.process import spawn_emulator

pytestmark = pytest.mark.slow  # six emulator runs


def test_a_run_outside_the_limits_of_earlier_runs_is_flagged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the runs record their prompt set as given (p.jsonl): scoring reads it from here
    write_prompts(tmp_path / "p.jsonl", 60)
    key_env = "LLAMA_EVAL_EMULATOR_KEY"
    emu = {"deployments": [{"name": name, "model": MODEL, "kind": "serverless", "endpoint": f"http://127.0.0.1:8000/{name}", "key_env": key_env,
                            "emulator": {"accuracy": accuracy}} for name, accuracy in (("good", 0.9), ("bad", 0.4))]}  # fmt: skip
    (tmp_path / "emu.yaml").write_text(yaml.safe_dump(emu))
    runs = []
    with spawn_emulator("--deployments", str(tmp_path / "emu.yaml"), "--time-scale", "0") as emulator:
        env = {**os.environ, key_env: emulator.key}
        for i, (path, extra) in enumerate([("good", ())] * 4 + [("bad", ()), ("good", ("--repeats", "2"))]):
            (tmp_path / f"d{i}.yaml").write_text(yaml.safe_dump({"deployments": [{"name": "llama33-70b", "model": MODEL, "kind": "serverless",
                                                                                  "endpoint": f"{emulator.url}/{path}", "key_env": key_env}]}))  # fmt: skip
            done = cli("run", "-d", f"d{i}.yaml", "-p", "p.jsonl", "-o", f"r{i}", "--progress", "none", *extra, cwd=tmp_path, env=env)
            assert done.returncode == 0, done.stderr[-2000:]
            runs.append(tmp_path / f"r{i}")
    other = runs.pop()  # other parameters (two repeats): another configuration
    assert drift([*runs, other])[0].run == "r5" and left_out([*runs, other]) == ["r0", "r1", "r2", "r3", "r4"]  # the latest run's configuration wins
    points = drift(list(reversed(runs)))  # any order: they are sorted by start time
    scores = [p for p in points if p.metric == "score"]
    assert [p.run for p in scores] == ["r0", "r1", "r2", "r3", "r4"]
    assert all(p.outside is None for p in scores[:MIN_RUNS])  # fewer than MIN_RUNS earlier runs: no limits
    assert scores[3].outside is not None and scores[3].based_on == 3  # limits from three runs (in or out: sampled answers vary)
    last = scores[4]
    assert last.outside is True and last.based_on == 4 and last.value < last.lower, [p.sentence() for p in scores]
    assert "OUTSIDE" in last.sentence() and "from 4 earlier runs" in last.sentence()
    assert {p.metric for p in points} >= {"score", "error_rate", "usd_per_1k"}
