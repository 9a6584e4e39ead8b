"""A run directory: ``results.jsonl`` (one line per finished request) and ``manifest.json``.

The results file is append-only and written as each request finishes (write + flush per row, so a
killed process loses at most the requests in flight; fsync in small groups, so an OS crash loses at
most a fraction of a second). A line torn by a kill mid-write is detected when the run is read
again: it is reported, cut off, and its request runs again on ``--resume``.

Row schema (the contract scoring, cost and reports rely on)::

    key            "<deployment>|<prompt_id>|<repeat>"      unique per final row
    deployment, model, api, prompt_id, repeat, tags
    status         ok | length | content_filter | http_error | rate_limited | timeout | connection_error
                   | auth_error | invalid_request | malformed_response | budget_skipped
    http_status, error_code, error_message
    response_text, choices (all texts when n > 1), finish_reason
    usage          {prompt_tokens, completion_tokens, total_tokens}; usage_source: server | estimated
    streamed       true when timings come from a stream; false: only e2e_s is measured
    ttft_s, e2e_s, itl_mean_s, itl_p50_s, itl_p95_s, output_tps, content_chunks
    attempts, retry_wait_s, queue_wait_s, started_at, finished_at (UTC ISO 8601)
    params         the request parameters (temperature, max_tokens, ...)
    cost_usd       Decimal as text, or null when there is no token price; price_known
    simulated      true when the answer came from the llama-eval emulator (its system_fingerprint)
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

RESULTS = "results.jsonl"
MANIFEST = "manifest.json"
NOT_FINAL = {"budget_skipped"}  # a resumed run tries these again


class TornLineWarning(UserWarning):
    """The last line of results.jsonl was cut off by a crash; its request will run again."""


def row_key(deployment: str, prompt_id: str, repeat: int) -> str:
    return f"{deployment}|{prompt_id}|{repeat}"


def read_rows(run_dir: str | Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """Every complete row of a run; a torn last line is reported (and cut off with ``repair``)."""
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
                rows.append(json.loads(raw))
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
    """Appends rows to results.jsonl: written and flushed at once, fsync'd at most every ``sync_s``."""

    def __init__(self, run_dir: str | Path, sync_s: float = 0.25):
        self.path = Path(run_dir) / RESULTS
        self._file = self.path.open("ab", buffering=0)
        self._sync_s = sync_s
        self._last_sync = time.monotonic()
        self.rows_written = 0

    def write(self, row: dict[str, Any]) -> None:
        self._file.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
        self.rows_written += 1
        if time.monotonic() - self._last_sync >= self._sync_s:
            self.sync()

    def sync(self) -> None:
        os.fsync(self._file.fileno())
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if not self._file.closed:
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


# The flat, typed columns of a result row (nested ``usage`` becomes ``usage.*``; ``params`` is JSON text).
COLUMNS: dict[str, str] = {
    "key": "string",
    "deployment": "string",
    "model": "string",
    "api": "string",
    "prompt_id": "string",
    "repeat": "int64",
    "tags": "list<string>",
    "status": "string",
    "http_status": "int64",
    "error_code": "string",
    "error_message": "string",
    "response_text": "string",
    "choices": "list<string>",
    "finish_reason": "string",
    "usage.prompt_tokens": "int64",
    "usage.completion_tokens": "int64",
    "usage.total_tokens": "int64",
    "usage_source": "string",
    "streamed": "bool",
    "ttft_s": "float64",
    "e2e_s": "float64",
    "itl_mean_s": "float64",
    "itl_p50_s": "float64",
    "itl_p95_s": "float64",
    "output_tps": "float64",
    "content_chunks": "int64",
    "timing_note": "string",
    "attempts": "int64",
    "retry_wait_s": "float64",
    "queue_wait_s": "float64",
    "started_at": "string",
    "finished_at": "string",
    "params": "string",
    "cost_usd": "decimal",
    "price_known": "bool",
    "simulated": "bool",
}


def flatten_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the flat columns of COLUMNS (missing fields are None)."""
    usage = row.get("usage") or {}
    flat = {name: row.get(name) for name in COLUMNS if "." not in name}
    flat.update({f"usage.{k}": usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")})
    flat["params"] = json.dumps(row["params"], sort_keys=True) if row.get("params") is not None else None
    return flat


def _final_line_numbers(path: Path) -> set[int]:
    """Line numbers holding the final row of each key (one pass, keeps only keys and numbers)."""
    last: dict[str, tuple[int, bool]] = {}
    with path.open("rb") as f:
        for number, line in enumerate(f):
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a torn last line: read_rows reports it
            last[row["key"]] = (number, row["status"] not in NOT_FINAL)
    return {number for number, final in last.values() if final}


def load_run(run_dir: str | Path):
    """The run's final rows as a pandas DataFrame (columns of COLUMNS), one per (deployment, prompt, repeat)."""
    import pandas as pd

    rows = [flatten_row(r) for r in final_rows(read_rows(run_dir)).values()]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["cost_usd"] = pd.to_numeric(frame["cost_usd"], errors="coerce")
    return frame


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


def write_parquet(run_dir: str | Path, batch_rows: int = 5000) -> Path:
    """results.parquet beside results.jsonl, written in batches so memory stays flat for any run size."""
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    source = Path(run_dir) / RESULTS
    target = Path(run_dir) / "results.parquet"
    keep = _final_line_numbers(source) if source.exists() else set()
    schema = _arrow_schema()
    batch: list[dict[str, Any]] = []
    with pq.ParquetWriter(target, schema) as writer:
        if source.exists():
            with source.open("rb") as f:
                for number, line in enumerate(f):
                    if number not in keep:
                        continue
                    flat = flatten_row(json.loads(line))
                    flat["cost_usd"] = Decimal(flat["cost_usd"]) if flat["cost_usd"] is not None else None
                    batch.append(flat)
                    if len(batch) >= batch_rows:
                        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                        batch.clear()
        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return target


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_csv(run_dir: str | Path, path: str | Path) -> Path:
    """The final rows as CSV (columns of COLUMNS; lists joined with '; '), safe to open in Excel."""
    import csv

    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(COLUMNS))
        for row in final_rows(read_rows(run_dir)).values():
            flat = flatten_row(row)
            writer.writerow([neutralize_cell("; ".join(v) if isinstance(v, list) else v) for v in flat.values()])
    return path
