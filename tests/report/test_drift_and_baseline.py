"""The report's drift and baseline sections (issue 26), on real emulator runs rendered into the page.

Four runs of one deployment answered right 90% of the time, then one whose service got worse (40%):
the fifth run's report flags its score OUTSIDE the limits the four earlier runs set, and, given the
fourth run as its baseline, shows `llama-eval compare`'s quality table with the drop.
"""

from __future__ import annotations

import os

import pytest
import yaml

from _support.comparison import MODEL, cli, write_prompts
from _support.pagetext import visible_text
from llama_eval.emulator.process import spawn_emulator
from llama_eval.report.pipeline import build_report
from llama_eval.report.summary import drift_frame, drift_summary

pytestmark = pytest.mark.slow  # five emulator runs and a report


def test_a_worse_night_is_outside_its_limits_and_the_baseline_section_shows_the_drop(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the runs record their prompt set as given (p.jsonl)
    write_prompts(tmp_path / "p.jsonl", 60)
    key_env = "LLAMA_EVAL_EMULATOR_KEY"
    emu = {"deployments": [{"name": name, "model": MODEL, "kind": "serverless", "endpoint": f"http://127.0.0.1:8000/{name}", "key_env": key_env,
                            "emulator": {"accuracy": accuracy}} for name, accuracy in (("good", 0.9), ("bad", 0.4))]}  # fmt: skip
    (tmp_path / "emu.yaml").write_text(yaml.safe_dump(emu))
    nights = tmp_path / "nights"
    with spawn_emulator("--deployments", str(tmp_path / "emu.yaml"), "--time-scale", "0") as emulator:
        env = {**os.environ, key_env: emulator.key}
        for i, path in enumerate(["good"] * 4 + ["bad"]):
            (tmp_path / f"d{i}.yaml").write_text(yaml.safe_dump({"deployments": [{"name": "llama33-70b", "model": MODEL, "kind": "serverless",
                                                                                  "endpoint": f"{emulator.url}/{path}", "key_env": key_env}]}))  # fmt: skip
            done = cli("run", "-d", f"d{i}.yaml", "-p", "p.jsonl", "-o", f"nights/r{i}", "--progress", "none", cwd=tmp_path, env=env)
            assert done.returncode == 0, done.stderr[-2000:]
            assert cli("score", f"nights/r{i}", cwd=tmp_path, env=env).returncode == 0
    frame = drift_frame(nights / "r4")
    score = frame[(frame["run"] == "r4") & (frame["metric"] == "score")].iloc[0]
    assert score["based_on"] == 4 and bool(score["outside"]), score.to_dict()
    assert "OUTSIDE" in drift_summary(frame, nights / "r4")
    early = drift_frame(nights / "r2")
    assert set(early["run"]) == {"r0", "r1", "r2"}, "a night's drift uses only the nights up to it"
    assert "No control limits yet" in drift_summary(early, nights / "r2")

    index = build_report(nights / "r4", tmp_path / "report", baseline=nights / "r3")
    text = visible_text(index.read_text(encoding="utf-8"))
    assert "Drift" in text and "OUTSIDE their control limits" in text
    assert "Against the baseline" in text and "No baseline run was given" not in text
    assert "Quality (B - A, points; paired on prompts matched by id and content)" in text and "What else changed" in text
    plain = build_report(nights / "r2", tmp_path / "plain")
    assert "No baseline run was given" in visible_text(plain.read_text(encoding="utf-8"))
