"""The run store: every finished run also in a Parquet dataset (partitioned by date and deployment), queried with DuckDB.

``results.jsonl`` in the run directory stays the crash-safe write-ahead log; the store is a copy
made when a run ends (``write.add_run``), in a stable, versioned schema (``schema``), at a local
folder or an fsspec URL (``location``: ``--store``, ``LLAMA_EVAL_STORE``, else ``.store`` beside the
runs). ``history.load_history`` answers questions over many runs: score, latency percentiles from
the raw rows, cost per 1,000 requests and error rate per deployment over time; ``trend`` gives the
report's over-time table from the store instead of a folder scan.
Modules: schema, location, write, read, history, trend.
"""

from __future__ import annotations

from .history import HISTORY_COLUMNS, HistoryFilter, load_history
from .location import ENV, StoreLocation, resolve_store
from .schema import SCHEMA_VERSION
from .write import StoredRun, add_run

__all__ = ["ENV", "HISTORY_COLUMNS", "SCHEMA_VERSION", "HistoryFilter", "StoreLocation", "StoredRun", "add_run", "load_history", "resolve_store"]
