"""``RayExecutor``: where a distributed sweep's clients run (a Ray cluster) and how many; the only module that imports Ray.

``RayExecutor(clients=N)`` joins the cluster at ``address`` (``"auto"`` or ``ray://head:10001``; None
with ``RAY_ADDRESS`` unset: a local cluster of N worker processes started by ``ray.init``) and creates
N actors spread over its nodes. Ray is an optional extra: without it the executor says
``pip install 'llama-eval[ray]'`` before anything is sent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from llama_eval.errors import SweepError

LEAD_S = 0.3  # how far ahead of "now" a level's shared start is placed (plus the slowest client's round trip)


def import_ray() -> Any:
    """The ``ray`` module, or a SweepError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise SweepError(f"--executor ray needs Ray, which is not installed ({exc}): pip install 'llama-eval[ray]' "
                         "(or run without --executor ray: one process sends every request)") from None  # fmt: skip
    return ray


@dataclass
class RayExecutor:
    """Run each sweep level on ``clients`` Ray actors; ``address`` an existing cluster (None: ``RAY_ADDRESS``, else a local one)."""

    clients: int = 2
    address: str | None = None
    lead_s: float = LEAD_S
    clock_probes: int = 8
    started_here: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.clients, int) or self.clients < 1:
            raise SweepError(f"--clients must be a whole number >= 1, got {self.clients!r}")
        if self.lead_s <= 0:
            raise SweepError(f"lead_s must be > 0 (the start is placed that far ahead), got {self.lead_s:g}")

    def sweeper(self, *args: Any, **kwargs: Any) -> Any:
        """The coordinator ``asweep`` runs in place of the single-process ``Sweeper`` (same arguments)."""
        import_ray()  # before the probe: a missing extra is said before anything is sent
        from .coordinator import RaySweeper

        return RaySweeper(*args, executor=self, **kwargs)

    def connect(self) -> Any:
        """Ray, initialised: the cluster at ``address``/``RAY_ADDRESS``, else a local one with a worker process per client."""
        ray = import_ray()
        if ray.is_initialized():
            return ray
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        for attempt in (1, 2):  # a local start once more: Ray gives its raylet 30 s to register, which a busy 2-core machine can miss
            try:
                if address:
                    ray.init(address=address, logging_level="WARNING", log_to_driver=False)
                else:
                    ray.init(num_cpus=self.clients, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
                break
            except Exception as exc:  # noqa: BLE001 - Ray's connection errors have many types; the message says what happened
                ray.shutdown()
                if address or attempt == 2:
                    where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
                    raise SweepError(f"could not start or join {where}: {type(exc).__name__}: {exc}") from exc
        self.started_here = True
        return ray

    def actor_class(self) -> Any:
        from .client import ShardClient

        return self.connect().remote(ShardClient)

    def describe(self) -> dict[str, Any]:
        ray = import_ray()
        return {"executor": "ray", "ray_version": ray.__version__, "address": self.address or os.environ.get("RAY_ADDRESS") or "local", "count": self.clients}
