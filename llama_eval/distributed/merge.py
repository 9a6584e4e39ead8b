"""Merging the clients' raw rows of one level into the coordinator's timeline (never their summaries).

A client delivers each finished request as ``(row, sent_s, ended_s, lateness_s)``: the row exactly as a
single-process sweep writes it (``client`` added) and its send and end times in seconds from the
level's shared start on the client's own monotonic clock. The coordinator places them at
``its start + those seconds``, so the level's percentiles, throughput and attainment come from the
merged rows by the same code (``load.levels.summarise_level``) a single process uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llama_eval.errors import SweepError
from llama_eval.load.params import RequestSample
from llama_eval.records import ResultRow

Delivery = tuple[dict[str, Any], float, float, float | None]  # (row JSON, sent_s, ended_s, sender lateness_s) from the level's start


def to_samples(deliveries: Iterable[Delivery], start: float, seen: set[str]) -> list[RequestSample]:
    """The coordinator's samples of delivered rows (``start``: its own perf_counter instant of the level's start).

    ``seen`` holds the row keys merged so far; a key delivered twice is a sharding fault and raises rather than
    counting one request twice."""
    samples = []
    for data, sent_s, ended_s, lateness_s in deliveries:
        key = data["key"]
        if key in seen:
            raise SweepError(f"row {key} was delivered twice (client {data.get('client')}): the shards of a level overlap; this is a bug")
        seen.add(key)
        samples.append(RequestSample(ResultRow.from_json(data), start + sent_s, start + ended_s, lateness_s))
    return samples
