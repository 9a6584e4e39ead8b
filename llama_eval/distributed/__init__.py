"""Load from several client processes or machines: one sweep level split over Ray actors, merged into one run directory.

``RayExecutor`` (``executor.py``, the one module that imports Ray) starts or joins a Ray cluster and
hands ``load.sweep.asweep`` a coordinator (``coordinator.RaySweeper``). The coordinator splits every
level (``load.params.Shard``: closed-loop slots and measured requests, or the one seeded open-loop
schedule dealt round-robin) over N actors (``client.ShardClient``), each running the single-process
sweeper's own level code (the measuring wire client, ``run.attempt.Requester``, the row format). All
shards start at one instant chosen a few hundred ms ahead, corrected per actor by the clock offset
measured at start (``clock``); the actors' raw rows are merged (``merge``) into ``results.jsonl`` as
they arrive, and a level's percentiles and throughput are computed from the merged rows, never from
per-shard summaries. ``run`` does the same for ``llama-eval run --executor ray``: a run's requests
dealt over actors that each run the runner (``run.scheduler``) on their share.
"""

from __future__ import annotations

from .clock import ClockOffset, estimate_offset
from .executor import RayExecutor

__all__ = ["ClockOffset", "RayExecutor", "estimate_offset"]
