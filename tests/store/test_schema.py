"""The run store's schema is versioned: a change to its columns without a SCHEMA_VERSION bump fails here."""

from __future__ import annotations

import pyarrow.parquet as pq

from _support.nightly import nightly_runs
from llama_eval.store import SCHEMA_VERSION, add_run
from llama_eval.store.schema import arrow_schema, column_names

# The layout of each schema version, as written. A new column, a renamed one, a new type or order: bump
# SCHEMA_VERSION in llama_eval/store/schema.py, add its layout here, and say in docs/guides/store.md what changed.
# (Version 1 was first released with the workloads' columns: conversation turns, send schedule, cached tokens.)
PINNED = {
    1: [('schema_version', 'int32'), ('run_uid', 'string'), ('run_id', 'string'), ('kind', 'string'), ('run_status', 'string'),
        ('run_created_at', 'timestamp[us, tz=UTC]'), ('run_finished_at', 'timestamp[us, tz=UTC]'), ('date', 'date32[day]'), ('prompt_set', 'string'),
        ('prompt_set_sha256', 'string'), ('prompt_set_items', 'int64'), ('config_sha256', 'string'), ('price_digest', 'string'),
        ('price_tables', 'list<item: string>'), ('time_scale', 'double'), ('llama_eval_version', 'string'), ('key', 'string'),
        ('deployment', 'string'), ('model', 'string'), ('api', 'string'), ('prompt_id', 'string'), ('repeat', 'int64'), ('status', 'string'),
        ('tags', 'list<item: string>'), ('params', 'string'), ('http_status', 'int64'), ('error_code', 'string'), ('error_message', 'string'),
        ('response_text', 'string'), ('choices', 'list<item: string>'), ('finish_reason', 'string'), ('usage_prompt_tokens', 'int64'),
        ('usage_completion_tokens', 'int64'), ('usage_total_tokens', 'int64'), ('usage_cached_tokens', 'int64'), ('usage_source', 'string'),
        ('streamed', 'bool'), ('e2e_s', 'double'), ('ttft_s', 'double'), ('itl_mean_s', 'double'), ('itl_p50_s', 'double'), ('itl_p95_s', 'double'),
        ('output_tps', 'double'), ('content_chunks', 'int64'), ('timing_note', 'string'), ('attempts', 'int64'), ('retry_wait_s', 'double'),
        ('queue_wait_s', 'double'), ('started_at', 'string'), ('finished_at', 'string'), ('cost_usd', 'decimal128(38, 18)'), ('price_known', 'bool'),
        ('simulated', 'bool'), ('warmup', 'bool'), ('intended_ttft_s', 'double'), ('intended_itl_s', 'double'), ('intended_e2e_s', 'double'),
        ('scheduled_s', 'double'), ('sent_s', 'double'), ('sender_lateness_s', 'double'), ('conversation_id', 'string'), ('turn', 'int64'),
        ('level', 'int64'), ('score', 'double'), ('scorer', 'string'), ('score_failed', 'bool')],
}  # fmt: skip


def test_the_schema_of_this_version_is_the_pinned_one():
    assert SCHEMA_VERSION in PINNED, f"SCHEMA_VERSION {SCHEMA_VERSION} has no pinned layout: add it to PINNED"
    now = [(f.name, str(f.type)) for f in arrow_schema()]
    assert now == PINNED[SCHEMA_VERSION], (
        "the run store's columns changed without a SCHEMA_VERSION bump: bump it in llama_eval/store/schema.py and pin the new layout here; "
        f"changed: {sorted(set(now) ^ set(PINNED[SCHEMA_VERSION]))}"
    )
    assert [name for name, _ in now] == column_names()


def test_a_written_file_has_the_schema_and_says_its_version(tmp_path):
    (run,) = nightly_runs(tmp_path / "runs", 1, deployments=1)
    stored = add_run(run)
    table = pq.read_table(stored.files[0])
    assert table.schema.remove_metadata() == arrow_schema().remove_metadata()
    assert table.schema.metadata[b"llama_eval.store.schema_version"] == str(SCHEMA_VERSION).encode()
    assert set(table.column("schema_version").to_pylist()) == {SCHEMA_VERSION}
