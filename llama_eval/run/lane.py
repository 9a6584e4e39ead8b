"""One deployment's state within a run: its client, quota pool, price, queue and counters.

It sits below the parts that use it (attempt, scheduler, progress, rundir), so none of them
imports another to reach it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import Deployment
from ..cost import RequestPrice
from ..pacing import QuotaPool
from ..prompts import PromptItem
from ..records import LoopLag, ProbeResult, Reply
from ..tokens import TokenCounter


class RunClient(Protocol):
    """What the runner needs of a client: the wire client and the SDK adapter both fit."""

    api: str
    model: Any

    def prepare(self, messages: Any, *, stream: bool = False, **params: Any) -> Any: ...

    async def send(self, prepared: Any) -> Reply: ...

    async def close(self) -> None: ...


@dataclass
class Lane:
    deployment: Deployment
    client: RunClient
    pool: QuotaPool
    price: RequestPrice
    queue: deque[tuple[PromptItem, int]]
    prompt_tokens: dict[str, int]  # item id -> prompt tokens, counted with this model's tokenizer
    counter: TokenCounter  # for completions the server sent no usage for
    total: int = 0
    done: int = 0
    errors: int = 0
    successes: int = 0
    started: int = 0  # requests sent this session (the first ``warmup`` of them are marked)
    in_flight: int = 0
    dead: str | None = None  # why the deployment was stopped (probe failed, auth, unreachable)
    probe: ProbeResult | None = None
    time_scale: float = 1.0
    loop_lag: LoopLag | None = None
    latencies: list[float] = field(default_factory=list)  # TTFT (or e2e) of non-warm-up answers, for the lag verdict

    @property
    def name(self) -> str:
        return self.deployment.name
