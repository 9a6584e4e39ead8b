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
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RESULTS = "results.jsonl"
MANIFEST = "manifest.json"
NOT_FINAL = {"budget_skipped"}  # a resumed run tries these again
STATUSES = (
    "ok",
    "length",
    "content_filter",
    "http_error",
    "rate_limited",
    "timeout",
    "connection_error",
    "auth_error",
    "invalid_request",
    "malformed_response",
    "budget_skipped",
)


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


def iter_final(run_dir: str | Path) -> Iterator[dict[str, Any]]:
    yield from final_rows(read_rows(run_dir)).values()


def load_run(run_dir: str | Path):
    """The run's final rows as a pandas DataFrame, one row per (deployment, prompt, repeat)."""
    import pandas as pd

    rows = list(final_rows(read_rows(run_dir)).values())
    frame = pd.json_normalize(rows) if rows else pd.DataFrame(columns=["key", "deployment", "prompt_id", "repeat", "status"])
    if "cost_usd" in frame:
        frame["cost_usd"] = pd.to_numeric(frame["cost_usd"], errors="coerce")
    return frame


def write_parquet(run_dir: str | Path) -> Path | None:
    """results.parquet beside results.jsonl, for fast loading in notebooks (needs pyarrow)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return None
    frame = load_run(run_dir)
    path = Path(run_dir) / "results.parquet"
    frame.to_parquet(path, index=False)
    return path
