"""Adding a run directory to the run store: one Parquet file per (run, deployment), replaced whole, never duplicated.

Layout (Hive-style partitions, readable by DuckDB, pandas, Spark)::

    <store>/date=2026-09-01/deployment=llama33-70b/<run_uid>.parquet

A run's rows are read the way ``results.parquet`` is written (``rundir.store.parquet_batches``: the
final row per key, flat columns, exact ``cost_usd``), joined to ``scores.jsonl`` by key when the
run was scored, and given the run's facts (``store.schema``). ``results.jsonl`` stays the
write-ahead log: the store is written when a run ends (and again when a resumed run ends, or when
``llama-eval store add`` / ``history --ingest`` is given the run), from the run directory, so
nothing is lost if the store cannot be reached — add the run again later.

Atomic: on a local store each file is written to a hidden temporary name in its folder and renamed
over the old one (``os.replace``), so a reader sees the old file or the new one, never half of
one; on an object store (Azure Blob, S3) an upload becomes visible whole when it completes. The file
name is the run's ``run_uid``, so writing a run again replaces its files; files of that run in
other partitions (a deployment the run no longer has) are removed after the new ones are in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from llama_eval.errors import StoreError
from llama_eval.rundir.run import manifest_deployments
from llama_eval.rundir.store import RESULTS, parquet_batches, read_manifest

from .location import StoreLocation, resolve_store
from .schema import EXTRA_ROW_COLUMNS, META_COLUMNS, SCHEMA_VERSION, arrow_schema

__all__ = ["StoredRun", "add_run", "config_sha256", "run_uid"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class StoredRun:
    """What ``add_run`` wrote: the run's identity in the store, its files and how many rows."""

    run_uid: str
    run_dir: Path
    store: str
    files: tuple[str, ...]
    rows: int
    removed: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"{self.run_dir}: {self.rows} row(s) in {len(self.files)} file(s) of the run store {self.store}"


def run_uid(run_id: str, created_at: str | None) -> str:
    """The run's name in the store: its id (file-name safe) and 8 hex digits of its id and creation time."""
    digest = hashlib.sha256(f"{run_id}|{created_at}".encode()).hexdigest()[:8]
    return f"{_SAFE.sub('-', run_id).strip('-') or 'run'}--{digest}"


def config_sha256(manifest: dict[str, Any]) -> str | None:
    """The digest of a run's configuration: its fingerprint's deployments and prompt-set version (None: no fingerprint).

    Two runs with the same digest are what ``report.summary.related_runs`` calls the same configuration.
    """
    fingerprint = manifest.get("fingerprint") or {}
    if not fingerprint:
        return None
    same = {"deployments": fingerprint.get("deployments"), "prompt_set_sha256": fingerprint.get("prompt_set_sha256")}
    return hashlib.sha256(json.dumps(same, sort_keys=True, default=str).encode()).hexdigest()


def _timestamp(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _scores(run_dir: Path) -> dict[str, dict[str, Any]]:
    """``scores.jsonl`` by row key (empty when the run was not scored)."""
    from llama_eval.quality.scoring import SCORES  # start-up time: scoring's imports (~170 ms) only when a run is written

    path = run_dir / SCORES
    if not path.is_file():
        return {}
    out: dict[str, dict[str, Any]] = {}
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise StoreError(f"{path}: line {number} is not valid JSON; score the run again (llama-eval score {run_dir})") from None
            out[row["key"]] = row
    return out


def _facts(run_dir: Path) -> tuple[dict[str, Any], dict[str, float | None]]:
    """The run's facts (META_COLUMNS but time_scale) and each deployment's time scale, from its manifest."""
    manifest = read_manifest(run_dir)
    if manifest is None:
        raise StoreError(f"{run_dir}: no manifest.json; only a run directory made by llama-eval run or sweep can go into the store")
    created = _timestamp(manifest.get("created_at"))
    if created is None:
        raise StoreError(f"{run_dir}/manifest.json: created_at {manifest.get('created_at')!r} is not an ISO 8601 time; the store partitions runs by it")
    run_id = str(manifest.get("run_id") or run_dir.name)
    prompt_set = manifest.get("prompt_set") or {}
    prices = manifest.get("prices") or {}
    path = prompt_set.get("path")
    facts = {
        "schema_version": SCHEMA_VERSION,
        "run_uid": run_uid(run_id, manifest.get("created_at")),
        "run_id": run_id,
        "kind": "sweep" if (run_dir / "sweep.json").is_file() else "run",
        "run_status": manifest.get("status"),
        "run_created_at": created,
        "run_finished_at": _timestamp(manifest.get("finished_at")),
        "date": created.date(),
        "prompt_set": Path(path).stem if path else None,
        "prompt_set_sha256": prompt_set.get("sha256"),
        "prompt_set_items": prompt_set.get("items"),
        "config_sha256": config_sha256(manifest),
        "price_digest": prices.get("digest"),
        "price_tables": [str(t) for t in prices.get("tables") or []],
        "llama_eval_version": (manifest.get("versions") or {}).get("llama-eval"),
    }
    scales = {}
    for name, record in manifest_deployments(manifest).items():
        scale = record.get("time_scale")
        scales[name] = float(scale) if isinstance(scale, (int, float)) and scale > 0 else None
    return facts, scales


def _store_batches(run_dir: Path, facts: dict[str, Any], scales: dict[str, float | None]) -> Iterator[Any]:
    """The run's store rows as Arrow tables of at most ``parquet_batches``' batch size (schema ``store.schema.arrow_schema()``)."""
    import pyarrow as pa

    schema = arrow_schema()
    scores = _scores(run_dir)
    for batch in parquet_batches(run_dir, extra=tuple(EXTRA_ROW_COLUMNS)):
        rows = pa.Table.from_batches([batch])
        n = rows.num_rows
        found = [scores.get(k) or {} for k in rows.column("key").to_pylist()]
        columns: dict[str, Any] = {}
        for name in META_COLUMNS:
            if name == "time_scale":
                columns[name] = pa.array([scales.get(d) for d in rows.column("deployment").to_pylist()], type=schema.field(name).type)
            else:
                columns[name] = pa.array([facts[name]] * n, type=schema.field(name).type)
        for name in rows.column_names:
            columns[name] = rows.column(name)
        columns["score"] = pa.array([s.get("score") for s in found], type=pa.float64())
        columns["scorer"] = pa.array([s.get("scorer") for s in found], type=pa.string())
        columns["score_failed"] = pa.array([s.get("failed") for s in found], type=pa.bool_())
        yield pa.table([columns[name] for name in schema.names], schema=schema)


def _partition(day: date, deployment: str) -> str:
    if not deployment or "/" in deployment or deployment in (".", ".."):
        raise StoreError(f"deployment name {deployment!r} cannot name a store partition (a folder); rename the deployment")
    return f"date={day.isoformat()}/deployment={deployment}"


class _PartitionFiles:
    """One open Parquet writer per deployment of a run; ``commit`` puts every file in place, ``abort`` leaves the old ones.

    Local: each file is written under a hidden temporary name in its folder and renamed over the
    old one at ``commit`` (``os.replace``: a reader sees the old file or the new one, never half).
    Object store: each file is an upload that becomes visible whole when it completes (at ``commit``).
    """

    def __init__(self, location: StoreLocation, day: date, uid: str):
        self.location, self.day, self.uid = location, day, uid
        self.open: dict[str, tuple[Any, Any, str, str | None]] = {}  # deployment -> (writer, sink, final path, temporary path)

    def write(self, deployment: str, table: Any) -> None:
        import pyarrow.parquet as pq

        if deployment not in self.open:
            path = self.location.path(_partition(self.day, deployment), f"{self.uid}.parquet")
            folder, name = path.rsplit("/", 1)
            if self.location.local:
                self.location.fs.makedirs(folder, exist_ok=True)
                tmp = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
                sink = open(tmp, "wb")  # noqa: SIM115 - closed by commit or abort
            else:
                tmp, sink = None, self.location.fs.open(path, "wb")
            self.open[deployment] = (pq.ParquetWriter(sink, table.schema, compression="zstd"), sink, path, tmp)
        self.open[deployment][0].write_table(table)

    def commit(self) -> list[str]:
        for writer, sink, _, _ in self.open.values():
            writer.close()
            sink.close()
        for _, _, path, tmp in self.open.values():
            if tmp is not None:
                os.replace(tmp, path)
        return [path for _, _, path, _ in self.open.values()]

    def abort(self) -> None:
        for writer, sink, _, tmp in self.open.values():
            for closing in (writer.close, sink.close):
                try:
                    closing()
                except Exception:  # noqa: BLE001, S110 - already failing: the first error is the one reported
                    pass
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)


def _ensure_container(location: StoreLocation) -> None:
    """An object store's container (bucket) exists before the first upload: object stores have no folders to make."""
    if location.local:
        return
    container = location.root.strip("/").split("/", 1)[0]
    if not location.fs.exists(container):
        location.fs.mkdir(container)


def add_run(run_dir: str | Path, store: str | os.PathLike[str] | StoreLocation | None = None, *,
            storage_options: dict[str, Any] | None = None) -> StoredRun:  # fmt: skip
    """Write (or rewrite) ``run_dir``'s rows in the run store; returns what was written.

    ``store``: a path, an fsspec URL or a resolved ``StoreLocation``; None follows the rule of
    ``store.location`` (``LLAMA_EVAL_STORE``, else ``.store`` beside the run directory). A store
    turned off (``off``) is a StoreError here: the caller asked to add a run.
    """
    run_dir = Path(run_dir)
    if not (run_dir / RESULTS).is_file():
        raise StoreError(f"{run_dir}: no {RESULTS} here; give a run directory (the folder `llama-eval run -o` wrote)")
    location = store if isinstance(store, StoreLocation) else resolve_store(store, beside=run_dir, storage_options=storage_options)
    if location is None:
        raise StoreError("the run store is turned off (LLAMA_EVAL_STORE=off or --store off); give a store to add runs to")
    facts, scales = _facts(run_dir)
    uid = facts["run_uid"]
    files = _PartitionFiles(location, facts["date"], uid)
    rows = 0
    import pyarrow.compute as pc

    try:
        _ensure_container(location)
        for table in _store_batches(run_dir, facts, scales):
            rows += table.num_rows
            deployments = table.column("deployment")
            for name in sorted({d for d in deployments.to_pylist() if d is not None}):
                files.write(name, table.filter(pc.equal(deployments, name)))
        written = files.commit()
        kept = {_norm(p) for p in written}
        stale = [p for p in location.fs.glob(location.path("date=*", "deployment=*", f"{uid}.parquet")) if _norm(p) not in kept]
        for path in stale:
            location.fs.rm(path)
    except (OSError, RuntimeError, ValueError) as exc:  # adlfs reports a failed upload as RuntimeError
        files.abort()
        raise StoreError(f"cannot write {run_dir} to the run store {location.display}: {exc.__class__.__name__}: {exc}; "
                         "the run directory is intact: add it later with `llama-eval store add`") from None  # fmt: skip
    return StoredRun(run_uid=uid, run_dir=run_dir, store=location.display, files=tuple(written), rows=rows, removed=tuple(stale))


def _norm(path: str) -> str:
    """A path as fsspec's glob gives it back: no protocol, no trailing slash."""
    return path.split("://", 1)[-1].rstrip("/")

