"""One deployment's state within a run: its client, quota pool, price, queue and counters.

It sits below the parts that use it (attempt, scheduler, progress, rundir), so none of them
imports another to reach it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from llama_eval.catalog.models import Catalog
from llama_eval.catalog.prices import PriceBook, RequestPrice, price_for
from llama_eval.catalog.tokens import TokenCounter, counter_for
from llama_eval.deployments.model import Deployment
from llama_eval.prompts.prompt_set import PromptItem, PromptSet
from llama_eval.records import LoopLag, ProbeResult, Reply
from llama_eval.rundir.store import row_key

from .estimate import DEFAULT_MAX_TOKENS, max_tokens_for
from .pacing import QuotaPool

if TYPE_CHECKING:
    from .params import RunParams
    from .plan import Plan


class RunClient(Protocol):
    """What the runner needs of a client: the wire client and the SDK adapter both fit."""

    api: str
    model: Any

    def prepare(self, messages: Any, *, stream: bool = False, checked: bool = False, **params: Any) -> Any: ...

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
    emulator_taught: int | None = None  # prompts the emulator behind this lane learned from the run (None: not an emulator, or not taught)
    loop_lag: LoopLag | None = None
    latencies: list[float] = field(default_factory=list)  # TTFT (or e2e) of non-warm-up answers, for the lag verdict

    @property
    def name(self) -> str:
        return self.deployment.name


def build_lanes(
    deployments: Sequence[Deployment],
    prompts: PromptSet,
    params: RunParams,
    plan: Plan,
    make_client: Callable[[Deployment], RunClient],
    *,
    prices: PriceBook,
    catalog: Catalog,
) -> dict[str, Lane]:
    """A lane per deployment: its queue (what the plan says is left), its quota pool (shared by name), its price."""
    pools: dict[str, QuotaPool] = {}
    largest = max(  # the largest single reservation: a tokens bucket must hold at least one request
        (counts[item.id] + max_tokens_for(item, params.max_tokens) * params.choices for counts in plan.prompt_tokens.values() for item in prompts),
        default=DEFAULT_MAX_TOKENS,
    )
    lanes: dict[str, Lane] = {}
    for d in deployments:
        pool_name = d.quota_pool or d.name
        if pool_name not in pools:
            q = d.effective_quota(catalog)
            pools[pool_name] = QuotaPool(pool_name, q.rpm if q else None, q.tpm if q else None, q.concurrency if q else None, largest)
        queue = deque((item, repeat) for repeat in range(params.repeats) for item in prompts if row_key(d.name, item.id, repeat) not in plan.done)
        client = make_client(d)
        counter = counter_for(client.model.family if client.model else None)
        lanes[d.name] = Lane(
            d, client, pools[pool_name], price_for(prices, d.model, d.kind), queue, plan.prompt_tokens[counter.kind], counter, total=len(queue)
        )
    return lanes
