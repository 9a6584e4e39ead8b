"""The report's over-time table from the store equals the one made by scanning the run's folder, and the report prefers the store."""

from __future__ import annotations

import pandas as pd
import pytest

from _support.nightly import nightly_runs
from llama_eval.errors import StoreError
from llama_eval.report.summary import folder_trend_frame, trend_frame
from llama_eval.rundir.store import read_manifest, write_manifest
from llama_eval.store import add_run
from llama_eval.store.trend import TREND_COLUMNS, store_trend_frame


def test_the_store_trend_equals_the_folder_scan(tmp_path):
    runs = nightly_runs(tmp_path / "runs", 4, deployments=2, version_change_day=3)  # night 4 is another configuration (new prompt-set version)
    for run in runs:
        add_run(run)
    from_folder = folder_trend_frame(runs[2]).sort_values(["run", "deployment"]).reset_index(drop=True)
    from_store = store_trend_frame(runs[2]).sort_values(["run", "deployment"]).reset_index(drop=True)
    assert list(from_store.columns) == TREND_COLUMNS == list(from_folder.columns)
    assert list(from_store["run"].unique()) == [r.name for r in runs[:3]], "the same configuration only: night 4 changed the prompt set"
    pd.testing.assert_frame_equal(from_store.drop(columns=["started", "USD per 1k requests"]), from_folder.drop(columns=["started", "USD per 1k requests"]))
    assert from_store["USD per 1k requests"].tolist() == pytest.approx(from_folder["USD per 1k requests"].tolist(), rel=1e-12)
    assert [pd.Timestamp(s) for s in from_store["started"]] == [pd.Timestamp(s) for s in from_folder["started"]]


def test_a_run_without_a_configuration_has_no_trend(tmp_path):
    (run,) = nightly_runs(tmp_path / "runs", 1, deployments=1)
    write_manifest(run, {k: v for k, v in read_manifest(run).items() if k != "fingerprint"})
    with pytest.raises(StoreError, match="records no configuration"):
        store_trend_frame(run)


def test_the_report_reads_the_store_and_finds_runs_that_ran_elsewhere(tmp_path, monkeypatch):
    """Nights 1-2 ran in another folder; night 3's report still shows them, from the store (a folder scan cannot)."""
    store = tmp_path / "store"
    monkeypatch.setenv("LLAMA_EVAL_STORE", str(store))
    runs = nightly_runs(tmp_path / "runs", 3, deployments=1)
    for run in runs:
        add_run(run)
    moved = tmp_path / "elsewhere" / runs[2].name
    moved.parent.mkdir()
    runs[2].rename(moved)
    frame = trend_frame(moved)
    assert frame.attrs["source"] == "the run store"
    assert list(frame["run"].unique()) == [r.name for r in runs], "all three nights, though night 3 sits alone in its folder"
    assert list(folder_trend_frame(moved)["run"].unique()) == [moved.name], "the folder alone knows only night 3"
    monkeypatch.setenv("LLAMA_EVAL_STORE", "off")
    off = trend_frame(moved)
    assert off.attrs["source"].startswith("the runs in this run's folder") and list(off["run"].unique()) == [moved.name]


def test_the_store_rounds_as_the_cost_layer_does():
    from llama_eval.cost.option import PER_1K_PLACES
    from llama_eval.store import trend

    assert trend.PER_1K_PLACES == PER_1K_PLACES, "store/trend.py repeats cost.option's rounding (the store sits below cost)"
