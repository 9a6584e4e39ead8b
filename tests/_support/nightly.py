"""Synthetic nightly runs for the run store's tests and benchmark: real run directories, scored, one a day.

Each night is ``fakerun.write_run`` (real rows and costs from the real price table) with its
manifest's ``created_at`` set to that night, scored with the real scorers (``score_run``). The
prompt set gains two items from ``version_change_day`` on, so its sha256 changes: a new version.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from _support.fakerun import FakeDeployment, write_run
from llama_eval.quality.scoring import score_run
from llama_eval.rundir.store import read_manifest, write_manifest

DEPLOYMENTS = (
    ("llama33-70b", "Llama-3.3-70B-Instruct", 0.85, 0.45),
    ("llama31-8b", "Meta-Llama-3.1-8B-Instruct", 0.6, 0.2),
    ("llama4-maverick", "Llama-4-Maverick-17B-128E-Instruct-FP8", 0.9, 0.35),
    ("llama4-scout", "Llama-4-Scout-17B-16E-Instruct", 0.8, 0.3),
    ("llama31-405b", "Meta-Llama-3.1-405B-Instruct", 0.88, 0.8),
)


def nightly_runs(root: Path, nights: int, *, first: date = date(2026, 9, 1), deployments: int = 5, items: int = 12, repeats: int = 2,
                 version_change_day: int | None = None, time_scale: float = 1.0) -> list[Path]:  # fmt: skip
    """``nights`` scored run directories under ``root`` (``nightly-YYYY-MM-DD``), oldest first."""
    runs = []
    for night in range(nights):
        day = first + timedelta(days=night)
        grown = version_change_day is not None and night >= version_change_day
        fakes = [FakeDeployment(name, model, accuracy=acc, ttft_s=ttft * (1 + 0.01 * night), time_scale=time_scale, warmup=1,
                                fail=("rate_limited", 429, "Too many requests"), fail_share=0.05)  # fmt: skip
                 for name, model, acc, ttft in DEPLOYMENTS[:deployments]]
        run_dir = write_run(root / f"nightly-{day.isoformat()}", fakes, items=items + (2 if grown else 0), repeats=repeats, seed=night)
        manifest = read_manifest(run_dir)
        manifest["created_at"] = manifest["started_at"] = f"{day.isoformat()}T02:00:00+00:00"
        manifest["fingerprint"]["prompt_set_sha256"] = manifest["prompt_set"]["sha256"]  # as the runner records it
        write_manifest(run_dir, manifest)
        score_run(run_dir)
        runs.append(run_dir)
    return runs
