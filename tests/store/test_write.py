"""Writing runs to the store: partitions, replace-not-duplicate, atomic files, the location rule, bad input, a real run."""

from __future__ import annotations

import json
from decimal import Decimal

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from _support.fakerun import FakeDeployment, write_run
from _support.nightly import nightly_runs
from llama_eval.errors import StoreError
from llama_eval.rundir.store import final_rows, read_manifest, read_rows, write_manifest
from llama_eval.store import add_run, resolve_store
from llama_eval.store.location import ENV


def _store_rows(store):
    return ds.dataset(str(store), format="parquet", partitioning=None).to_table().to_pylist()


def test_a_run_lands_in_date_and_deployment_partitions_with_every_final_row(tmp_path):
    (run,) = nightly_runs(tmp_path / "runs", 1, deployments=2)
    stored = add_run(run)
    store = tmp_path / "runs" / ".store"
    names = sorted(str(p.relative_to(store)) for p in store.rglob("*.parquet"))
    assert names == [f"date=2026-09-01/deployment={d}/{stored.run_uid}.parquet" for d in ("llama31-8b", "llama33-70b")]
    rows = [r for f in stored.files for r in pq.read_table(f).to_pylist()]
    final = final_rows(read_rows(run))
    assert stored.rows == len(rows) == len(final)
    assert {r["key"] for r in rows} == set(final)
    scores = {json.loads(line)["key"]: json.loads(line) for line in (run / "scores.jsonl").read_text().splitlines()}
    for row in rows:
        assert row["score"] == scores[row["key"]]["score"] and row["scorer"] == "numeric"
        assert row["run_id"] == run.name and row["prompt_set"] == "prompts" and row["kind"] == "run"
        assert row["cost_usd"] == (Decimal(final[row["key"]]["cost_usd"]) if final[row["key"]]["cost_usd"] else None)
        assert row["price_digest"] == read_manifest(run)["prices"]["digest"]


def test_writing_a_run_twice_replaces_its_files_never_duplicates(tmp_path):
    runs = nightly_runs(tmp_path / "runs", 2, deployments=2)
    for run in runs:
        add_run(run)
    before = _store_rows(tmp_path / "runs" / ".store")
    again = add_run(runs[0])
    after = _store_rows(tmp_path / "runs" / ".store")
    assert len(after) == len(before) == sum(len(final_rows(read_rows(r))) for r in runs)
    keys = [(r["run_uid"], r["key"]) for r in after]
    assert len(set(keys)) == len(keys)
    assert not list((tmp_path / "runs" / ".store").rglob("*.tmp")), "no temporary file is left behind"
    assert again.removed == ()


def test_a_deployment_the_run_no_longer_has_is_removed_from_the_store(tmp_path):
    run = write_run(tmp_path / "runs" / "r1", [FakeDeployment("a", "Llama-3.3-70B-Instruct"), FakeDeployment("b", "Llama-3.3-70B-Instruct")])
    manifest = read_manifest(run) | {"created_at": "2026-10-02T01:00:00+00:00"}
    write_manifest(run, manifest)
    first = add_run(run)
    lines = [line for line in (run / "results.jsonl").read_text().splitlines() if json.loads(line)["deployment"] == "a"]
    (run / "results.jsonl").write_text("\n".join(lines) + "\n")
    second = add_run(run)
    assert len(first.files) == 2 and len(second.files) == 1 and len(second.removed) == 1 and second.removed[0].endswith(f"deployment=b/{first.run_uid}.parquet")
    assert {r["deployment"] for r in _store_rows(tmp_path / "runs" / ".store")} == {"a"}


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    (run,) = nightly_runs(tmp_path / "runs", 1, deployments=1)
    (path,) = add_run(run).files
    old = pq.read_table(path)

    def broken(self, table, *args, **kwargs):  # the disk fills up mid-file: part of it is written, then the error
        real_write_table(self, table.slice(0, 1))
        raise OSError(28, "No space left on device")

    real_write_table = pq.ParquetWriter.write_table
    monkeypatch.setattr(pq.ParquetWriter, "write_table", broken)
    with pytest.raises(StoreError, match="No space left on device.*the run directory is intact"):
        add_run(run)
    monkeypatch.undo()
    assert pq.read_table(path).equals(old)
    assert not list((tmp_path / "runs" / ".store").rglob("*.tmp"))


def test_the_location_rule_argument_then_env_then_beside_the_runs(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    run = tmp_path / "runs" / "r1"
    assert resolve_store(None, beside=run).root == str((tmp_path / "runs" / ".store").resolve())
    monkeypatch.setenv(ENV, str(tmp_path / "elsewhere"))
    assert resolve_store(None, beside=run).root == str(tmp_path / "elsewhere")
    assert resolve_store(tmp_path / "given", beside=run).root == str(tmp_path / "given")
    monkeypatch.setenv(ENV, "off")
    assert resolve_store(None, beside=run) is None
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StoreError, match="is a file, not a folder"):
        resolve_store(tmp_path / "afile")


def test_an_unknown_url_protocol_says_what_to_install(tmp_path):
    with pytest.raises(StoreError, match="cannot open the run store nosuch://bucket/x"):
        resolve_store("nosuch://user:secret@bucket/x?sig=hidden")
    try:
        resolve_store("nosuch://user:secret@bucket/x?sig=hidden")
    except StoreError as exc:
        assert "secret" not in str(exc) and "hidden" not in str(exc)


def test_bad_input_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(StoreError, match="no results.jsonl here"):
        add_run(tmp_path, tmp_path / "store")
    run = write_run(tmp_path / "runs" / "r1", [FakeDeployment("a", "Llama-3.3-70B-Instruct")])  # fakerun's manifest has no created_at
    with pytest.raises(StoreError, match=r"manifest.json: created_at None is not an ISO 8601 time"):
        add_run(run, tmp_path / "store")
    (run / "manifest.json").unlink()
    with pytest.raises(StoreError, match="no manifest.json"):
        add_run(run, tmp_path / "store")
    assert not (tmp_path / "store").exists()


def test_a_run_read_in_many_batches_gives_the_same_files(tmp_path, monkeypatch):
    """The store is written batch by batch (memory flat for any run size): small batches, interleaved deployments, same rows."""
    import functools

    from llama_eval.store import write

    (run,) = nightly_runs(tmp_path / "runs", 1, deployments=3)
    whole = {p.rsplit("/", 2)[-2]: pq.read_table(p) for p in add_run(run, tmp_path / "one").files}
    monkeypatch.setattr(write, "parquet_batches", functools.partial(write.parquet_batches, batch_rows=5))
    batched = {p.rsplit("/", 2)[-2]: pq.read_table(p) for p in add_run(run, tmp_path / "many").files}
    assert whole.keys() == batched.keys() and len(whole) == 3
    for name in whole:
        assert batched[name].equals(whole[name]), name
