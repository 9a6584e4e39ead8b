"""A run directory: ``results.jsonl`` (one line per finished request) and ``manifest.json``.

The results file is append-only and written as each request finishes (at the end of the event-loop
turn it finished in, so a killed process loses at most the requests in flight; fsync in small
groups, so an OS crash loses at most a fraction of a second). A line torn by a kill mid-write is detected when the run is read
again: it is reported, cut off, and its request runs again on ``--resume``.

Row schema (the contract scoring, cost and reports rely on)::

    key            "<deployment>|<prompt_id>|<repeat>"      unique per final row
    deployment, model, api, prompt_id, repeat, tags
    status         ok | length | content_filter | http_error | rate_limited | timeout | connection_error
                   | incomplete | auth_error | invalid_request | malformed_response | budget_skipped
                   (only ok and length are answers: records.ANSWERED; incomplete is a 200 whose answer
                   ended without a finish_reason, records.Status says why it is a failure)
    http_status, error_code, error_message
    warmup         true for a deployment's first request(s) of a session: excluded from latency statistics
    response_text, choices (all texts when n > 1), finish_reason
    usage          {prompt_tokens, completion_tokens, total_tokens}; usage_source: server | estimated
    streamed       true when timings come from a stream; false: only e2e_s is measured
    ttft_s, e2e_s, itl_mean_s, itl_p50_s, itl_p95_s, output_tps, content_chunks
    attempts, retry_wait_s, queue_wait_s, started_at, finished_at (UTC ISO 8601)
    params         the request parameters (temperature, max_tokens, ...)
    cost_usd       Decimal as text, or null when there is no token price; price_known
    simulated      true when the answer came from the llama-eval emulator (its system_fingerprint)
    intended_ttft_s, intended_itl_s, intended_e2e_s
                   the emulator only: the timing it simulated for this answer, in the emulated service's
                   time (records.IntendedTiming); rundir.health checks the rescaled measurement against it
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import typing
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from llama_eval import records
from llama_eval.errors import TornLineWarning
from llama_eval.records import NOT_FINAL, ResultRow, Status, Usage, row_fields

__all__ = ["COLUMNS", "MANIFEST", "NOT_FINAL", "RESULTS", "ResultsWriter", "Status", "TornLineWarning", "export_csv", "final_rows", "flatten_row",
           "parquet_batches", "read_manifest", "read_rows", "row_key", "write_csv", "write_manifest", "write_parquet"]  # fmt: skip

RESULTS = "results.jsonl"
MANIFEST = "manifest.json"


def row_key(deployment: str, prompt_id: str, repeat: int) -> str:
    return f"{deployment}|{prompt_id}|{repeat}"


def parse_line(raw: bytes | str) -> Any:
    """One line of ``results.jsonl`` parsed: orjson (several times faster), or the standard library for what orjson refuses
    but ``json.dumps`` of older llama-evals wrote (NaN, Infinity); ValueError when it is not JSON at all."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def read_rows(run_dir: str | Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """Every complete row of a run as stored (dicts, in file order); a torn last line is reported (and cut off with ``repair``).

    The low-level reader: the runner's ``--resume`` and the export read through it. Analysis reads a
    run with ``rundir.run.load_run``, which gives the final rows as typed records.
    """
    path = Path(run_dir) / RESULTS
    if not path.exists():
        return []
    data = path.read_bytes()
    rows: list[dict[str, Any]] = []
    good_end = 0
    position = 0
    for raw in data.split(b"\n"):
        end = position + len(raw) + 1
        if raw.strip():
            try:
                rows.append(parse_line(raw))
            except ValueError:
                if end < len(data):  # a bad line in the middle is not a crash artefact: say so loudly
                    raise ValueError(f"{path}: line {len(rows) + 1} is not valid JSON and is not the last line; the file was edited or corrupted") from None
                warnings.warn(TornLineWarning(f"{path}: the last line is incomplete (the run was killed mid-write); its request will run again"), stacklevel=2)
                if repair:
                    with path.open("r+b") as f:
                        f.truncate(good_end)
                break
        good_end = min(end, len(data))
        position = end
    return rows


def final_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The latest row per key, keeping only final ones (budget-skipped rows are not final)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        latest[row["key"]] = row
    return {k: r for k, r in latest.items() if r["status"] not in NOT_FINAL}


class ResultsWriter:
    """Appends rows to results.jsonl: written at the end of the event-loop turn in which they finished.

    Rows that finish in the same turn of the loop go out in one ``write`` (a system call costs about
    as much as the rest of a row's bookkeeping); nothing is reported done before it is written. The
    fsync runs on a background thread every ``sync_s``: it can take tens of milliseconds on a busy
    disk, and on the event loop that time would be added to every stream being measured.
    """

    def __init__(self, run_dir: str | Path, sync_s: float = 0.25):
        self.path = Path(run_dir) / RESULTS
        self._file = self.path.open("ab", buffering=0)
        self._sync_s = sync_s
        self.rows_written = 0
        self._synced = 0
        self._pending: list[bytes] = []
        self._stop = threading.Event()
        self._syncer = threading.Thread(target=self._sync_loop, name="llama-eval-fsync", daemon=True)
        self._syncer.start()

    def write(self, row: ResultRow | dict[str, Any]) -> None:
        if isinstance(row, ResultRow):
            row = row.to_json()
        self._pending.append(orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE))  # compact UTF-8, as json.dumps wrote it
        self.rows_written += 1
        if len(self._pending) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no event loop: write now
                self.flush()

    def flush(self) -> None:
        if self._pending and not self._file.closed:
            data, self._pending = b"".join(self._pending), []
            self._file.write(data)

    def _sync_loop(self) -> None:
        while not self._stop.wait(self._sync_s):
            if self.rows_written != self._synced:
                self.sync()

    def sync(self) -> None:
        written = self.rows_written
        try:
            os.fsync(self._file.fileno())
        except (OSError, ValueError):  # closed under us: close() syncs itself
            return
        self._synced = written

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._stop.set()
            self._syncer.join()
            self.sync()
            self._file.close()


def write_manifest(run_dir: str | Path, manifest: dict[str, Any]) -> None:
    """Write manifest.json atomically (temp file + rename), so a crash never leaves half a manifest."""
    path = Path(run_dir) / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


_KINDS = {int: "int64", float: "float64", bool: "bool", str: "string"}


def _columns() -> dict[str, str]:
    """The flat, typed columns of a row, derived from ``ResultRow``: usage_* flat, params as JSON text."""
    hints = typing.get_type_hints(ResultRow, vars(records)) | typing.get_type_hints(records.Timing, vars(records))
    columns: dict[str, str] = {}
    for name in row_fields():
        hint = hints[name]
        if name == "usage":
            columns.update({f"usage_{f}": "int64" for f in Usage.__slots__})
        elif name in ("tags", "choices"):
            columns[name] = "list<string>"
        elif name == "cost_usd":
            columns[name] = "decimal"
        elif name in ("params", "status"):
            columns[name] = "string"
        else:
            base = next((t for t in typing.get_args(hint) or (hint,) if t in _KINDS), str)
            columns[name] = _KINDS[base]
    return columns


COLUMNS: dict[str, str] = _columns()


# the flat columns read from a row's ``usage`` object; ``usage_source`` is a top-level field of its own
_USAGE_COLUMNS = {f"usage_{k}": k for k in Usage.__slots__}


def flatten_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row (as stored) as the flat columns of COLUMNS, in COLUMNS' order (missing fields are None).

    The order is the contract: CSV writes the values under a header made of COLUMNS, so a column
    out of place shifts every cell after it (issue 28: the usage columns used to come last, and
    ``usage_source``, which starts like them, went missing).
    """
    usage = row.get("usage") or {}
    flat: dict[str, Any] = {}
    for name in COLUMNS:
        if name in _USAGE_COLUMNS:
            flat[name] = usage.get(_USAGE_COLUMNS[name])
        elif name == "params":
            flat[name] = json.dumps(row["params"], sort_keys=True) if row.get("params") is not None else None
        else:
            flat[name] = row.get(name)
    return flat


def _final_line_numbers(path: Path) -> set[int]:
    """Line numbers holding the final row of each key (one pass, keeps only keys and numbers)."""
    last: dict[str, tuple[int, bool]] = {}
    with path.open("rb") as f:
        for number, line in enumerate(f):
            try:
                row = parse_line(line)
            except ValueError:
                continue  # a torn last line: read_rows reports it
            last[row["key"]] = (number, row["status"] not in NOT_FINAL)
    return {number for number, final in last.values() if final}


def _arrow_schema():
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "list<string>": pa.list_(pa.string()),
        "decimal": pa.decimal128(38, 18),  # exact dollars: no float rounding in sums
    }
    return pa.schema([(name, types[kind]) for name, kind in COLUMNS.items()])


def parquet_batches(run_dir: str | Path, batch_rows: int = 5000, *, extra: tuple[str, ...] = ()):
    """The run's final rows as Arrow record batches of the flat COLUMNS (``cost_usd`` exact), ``batch_rows`` at a time.

    One pass over ``results.jsonl`` to find each key's final line, one to convert them: memory stays
    flat for any run size. ``extra`` names top-level row fields outside ``ResultRow`` (a sweep's
    ``level``) to carry as int64 columns after COLUMNS (None where a row has none). ``write_parquet``
    and the run store (``llama_eval.store``) both read a run through here.
    """
    from decimal import Decimal

    import pyarrow as pa

    source = Path(run_dir) / RESULTS
    schema = _arrow_schema()
    for name in extra:
        schema = schema.append(pa.field(name, pa.int64()))
    keep = _final_line_numbers(source) if source.exists() else set()
    batch: list[dict[str, Any]] = []
    if source.exists():
        with source.open("rb") as f:
            for number, line in enumerate(f):
                if number not in keep:
                    continue
                row = parse_line(line)
                flat = flatten_row(row)
                flat["cost_usd"] = Decimal(flat["cost_usd"]) if flat["cost_usd"] is not None else None
                for name in extra:
                    flat[name] = row.get(name)
                batch.append(flat)
                if len(batch) >= batch_rows:
                    yield pa.RecordBatch.from_pylist(batch, schema=schema)
                    batch.clear()
    yield pa.RecordBatch.from_pylist(batch, schema=schema)


def write_parquet(run_dir: str | Path, batch_rows: int = 5000) -> Path:
    """results.parquet beside results.jsonl, written in batches so memory stays flat for any run size."""
    import pyarrow.parquet as pq

    target = Path(run_dir) / "results.parquet"
    with pq.ParquetWriter(target, _arrow_schema()) as writer:
        for batch in parquet_batches(run_dir, batch_rows):
            writer.write_batch(batch)
    return target


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(flat_rows: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Flat rows (``flatten_row``) as CSV under one header of COLUMNS; returns the number of rows written.

    Every cell is taken by its column's name, so each row has the header's fields in the header's
    order whatever the dict's order. Lists are joined with '; ', missing values are empty cells,
    and text a spreadsheet would run as a formula is neutralised. ``export --format csv`` and
    ``report --csv`` both write through here, so they cannot drift apart.
    """
    import csv

    names = list(COLUMNS)
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        for flat in flat_rows:
            writer.writerow([neutralize_cell("; ".join(v) if isinstance(v, list) else v) for v in (flat[name] for name in names)])
            count += 1
    return count


def export_csv(run_dir: str | Path, path: str | Path) -> Path:
    """The final rows as CSV (columns of COLUMNS; lists joined with '; '), safe to open in Excel (``report --csv``)."""
    path = Path(path)
    write_csv((flatten_row(row) for row in final_rows(read_rows(run_dir)).values()), path)
    return path
