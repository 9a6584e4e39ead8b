"""Export a run for other tools: azure-ai-evaluation's JSONL, CSV or Parquet.

``azure-ai-evaluation`` is Microsoft's evaluation SDK for Foundry: its ``evaluate(data=run.jsonl,
evaluators=..., evaluator_config={"default": {"column_mapping": ...}})`` reads one JSON object a
line with ``query``, ``response``, ``ground_truth`` (and ``context`` for groundedness). This module
writes exactly that from a run directory, plus ``deployment``, ``model``, ``prompt_id`` and
``repeat`` so its results join back onto llama-eval's. Rows whose request failed have no response
to evaluate: they are left out of every format by default and counted (``ExportSummary.failed``),
so nobody mistakes a shorter file for a complete one. CSV and Parquet carry the run's flat columns
(``results.COLUMNS``); the CSV guards cells against spreadsheet formulas like ``report --csv``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_eval.errors import ExportError, PathNotFoundError
from llama_eval.paths import resolve_recorded
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.records import ANSWERED  # statuses that carry a model answer (as scoring.run counts them)

from .store import _arrow_schema, final_rows, flatten_row, read_manifest, read_rows, write_csv

FORMATS = ("azure-ai-evaluation", "csv", "parquet")
__all__ = ["AZURE_COLUMNS", "FORMATS", "ExportError", "ExportSummary", "azure_records", "export_run", "query_text"]
AZURE_COLUMNS = ("query", "response", "ground_truth", "context", "deployment", "model", "prompt_id", "repeat")


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    format: str
    rows: int
    failed: int
    failed_by_status: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for stderr: how many rows went out and how many failed rows were left out."""
        left_out = ", ".join(f"{n} {s}" for s, n in sorted(self.failed_by_status.items()))
        tail = f"; {self.failed} failed row(s) left out ({left_out})" if self.failed else "; no failed rows"
        return f"{self.rows} row(s) written to {self.path} ({self.format}){tail}"


def _text(content: Any) -> str:
    """A message's text; image parts become ``[image]`` (the SDK's text evaluators read text only)."""
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        if isinstance(part, dict):
            parts.append(part.get("text", "") if part.get("type") == "text" else "[image]")
    return " ".join(p for p in parts if p)


def query_text(messages: Any) -> str:
    """The question the SDK's ``query`` means: the last user message's text."""
    users = [m for m in messages if m.get("role") == "user"]
    return _text(users[-1].get("content")) if users else ""


def ground_truth_text(reference: Any) -> str | None:
    """One string: the first of several accepted references, JSON for structured ones, None for none."""
    if reference is None:
        return None
    if isinstance(reference, list):
        return ground_truth_text(reference[0]) if reference else None
    if isinstance(reference, (dict, bool)):
        return json.dumps(reference)
    return str(reference)


def _prompt_items(run_dir: Path, prompts: str | Path | None) -> dict[str, Any]:
    """The run's prompt items by id (queries and references live there, not in results.jsonl)."""
    manifest = read_manifest(run_dir) or {}
    recorded = manifest.get("prompt_set", {}).get("path", "")
    try:  # a recorded path is relative to where the run was started: found from the run directory (paths.resolve_recorded)
        path = Path(prompts) if prompts else resolve_recorded(recorded, run_dir, what="prompt set")
    except PathNotFoundError as exc:
        raise ExportError(f"{run_dir}: the prompt set the run recorded is not found ({exc}); pass it with --prompts") from None
    if not path.is_file():
        raise ExportError(f"{run_dir}: the prompt set {str(path)!r} is not found; pass it with --prompts")
    loaded = load_prompt_set(path)
    expected = manifest.get("prompt_set", {}).get("sha256")
    if expected and loaded.sha256 != expected:
        raise ExportError(f"{path} changed since {run_dir} was run (sha256 differs); export with the prompt set the run used")
    return {item.id: item for item in loaded}


def azure_records(run_dir: str | Path, prompts: str | Path | None = None) -> tuple[list[dict[str, Any]], Counter[str]]:
    """(one azure-ai-evaluation record per answered final row, failed rows counted by status)."""
    run_dir = Path(run_dir)
    items = _prompt_items(run_dir, prompts)
    records, failed = [], Counter()
    for row in final_rows(read_rows(run_dir)).values():
        if row["status"] not in ANSWERED:
            failed[row["status"]] += 1
            continue
        item = items.get(row["prompt_id"])
        if item is None:
            raise ExportError(f"{run_dir}: row {row['key']!r} names prompt {row['prompt_id']!r}, which the prompt set does not have")
        record = {"query": query_text(item.messages), "response": row.get("response_text") or "", "ground_truth": ground_truth_text(item.reference)}
        context = item.metadata.get("context") if item.metadata else None
        if context is not None:
            record["context"] = context if isinstance(context, str) else json.dumps(context)
        record.update({k: row.get(k) for k in ("deployment", "model", "prompt_id", "repeat")})
        records.append(record)
    return records, failed


def _flat_rows(run_dir: Path, include_failed: bool) -> tuple[list[dict[str, Any]], Counter[str]]:
    rows, failed = [], Counter()
    for row in final_rows(read_rows(run_dir)).values():
        if row["status"] not in ANSWERED:
            failed[row["status"]] += 1
            if not include_failed:
                continue
        rows.append(flatten_row(row))
    return rows, failed


def export_run(
    run_dir: str | Path, path: str | Path, fmt: str = "azure-ai-evaluation", *, prompts: str | Path | None = None, include_failed: bool = False
) -> ExportSummary:
    """Write the run's final rows to ``path`` in ``fmt`` (one of FORMATS); returns what was written and left out.

    ``include_failed`` keeps failed rows in CSV/Parquet (their ``status`` says why); the
    azure-ai-evaluation format never has them: there is no response to evaluate.
    """
    run_dir, path = Path(run_dir), Path(path)
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
    if not (run_dir / "results.jsonl").is_file():
        raise ExportError(f"{run_dir}: no results.jsonl here; give a run directory (runs/<id>)")
    if not path.parent.is_dir():
        raise ExportError(f"{path}: the folder {str(path.parent)!r} does not exist; create it or write elsewhere")
    if fmt == "azure-ai-evaluation":
        if include_failed:
            raise ExportError("--include-failed applies to csv and parquet only: a failed row has no response for azure-ai-evaluation to evaluate")
        records, failed = azure_records(run_dir, prompts)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        tmp.replace(path)
        written = len(records)
    elif fmt == "csv":
        rows, failed = _flat_rows(run_dir, include_failed)
        written = write_csv(rows, path)
    else:
        from decimal import Decimal

        import pyarrow as pa
        import pyarrow.parquet as pq

        rows, failed = _flat_rows(run_dir, include_failed)
        for flat in rows:
            flat["cost_usd"] = Decimal(flat["cost_usd"]) if flat["cost_usd"] is not None else None
        schema = _arrow_schema()
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
        written = len(rows)
    return ExportSummary(path, fmt, written, 0 if include_failed else sum(failed.values()), {} if include_failed else dict(failed))
