"""The run store's schema: one row per final request, the run's flat row columns plus the run's facts.

A store file holds the rows of one run for one deployment. Its columns are, in order:

* ``schema_version`` (int32): ``SCHEMA_VERSION``, the version of this layout. Any change to the
  columns below (a name, a type, the order) must bump it; ``tests/store/test_schema.py`` pins the
  layout of each version and fails on a change without a bump.
* the run's facts, the same on every row of a run: ``run_uid`` (the run's identity in the store:
  its id and a digest of its creation time, so two folders both named ``run`` do not collide),
  ``run_id``, ``kind`` (``run`` or ``sweep``), ``run_status``, ``run_created_at`` and
  ``run_finished_at`` (UTC timestamps), ``date`` (the UTC day the run was created: a partition),
  ``prompt_set`` (the prompt file's name without its suffix), ``prompt_set_sha256``,
  ``prompt_set_items``, ``config_sha256`` (the run's configuration: its deployments and prompt-set
  version, as ``--resume`` compares them; runs with the same one are "the same configuration"),
  ``price_digest`` and ``price_tables`` (the prices the run's ``cost_usd``
  was computed with), ``time_scale`` (the deployment's measured/service time ratio: 1 for a real
  service, the emulator's speed-up for an emulated one, null when unknown), ``llama_eval_version``;
* every column of ``rundir.store.COLUMNS`` (the flat row: ``deployment`` — the other partition —,
  ``model``, ``status``, ``ttft_s``, ``e2e_s``, ``cost_usd`` as decimal(38, 18) ...), as
  ``results.parquet`` has them;
* ``level`` (int64): a sweep's level, null for a run;
* ``score``, ``scorer``, ``score_failed``: the prompts' own scorers' result for the row from
  ``scores.jsonl`` (null when the run was not scored, or the row has no scorer).
"""

from __future__ import annotations

from typing import Any

from llama_eval.rundir.store import COLUMNS

SCHEMA_VERSION = 1

__all__ = ["META_COLUMNS", "SCHEMA_VERSION", "SCORE_COLUMNS", "arrow_schema", "column_names"]

# the run's facts, ahead of the row columns (name -> arrow type name)
META_COLUMNS: dict[str, str] = {
    "schema_version": "int32",
    "run_uid": "string",
    "run_id": "string",
    "kind": "string",
    "run_status": "string",
    "run_created_at": "timestamp",
    "run_finished_at": "timestamp",
    "date": "date",
    "prompt_set": "string",
    "prompt_set_sha256": "string",
    "prompt_set_items": "int64",
    "config_sha256": "string",
    "price_digest": "string",
    "price_tables": "list<string>",
    "time_scale": "float64",
    "llama_eval_version": "string",
}
EXTRA_ROW_COLUMNS: dict[str, str] = {"level": "int64"}
SCORE_COLUMNS: dict[str, str] = {"score": "float64", "scorer": "string", "score_failed": "bool"}


def column_names() -> list[str]:
    """Every column of a store file, in order."""
    return [*META_COLUMNS, *COLUMNS, *EXTRA_ROW_COLUMNS, *SCORE_COLUMNS]


def arrow_schema() -> Any:
    """The pyarrow schema of a store file (``SCHEMA_VERSION`` in its metadata too)."""
    import pyarrow as pa

    from llama_eval.rundir.store import _arrow_schema

    types = {
        "int32": pa.int32(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "string": pa.string(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
        "list<string>": pa.list_(pa.string()),
    }
    fields = [pa.field(n, types[k]) for n, k in META_COLUMNS.items()]
    fields += list(_arrow_schema())
    fields += [pa.field(n, types[k]) for n, k in (EXTRA_ROW_COLUMNS | SCORE_COLUMNS).items()]
    return pa.schema(fields, metadata={"llama_eval.store.schema_version": str(SCHEMA_VERSION)})
