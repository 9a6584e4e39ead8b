"""The emulator's capacity model: a managed deployment is a server with a fixed batch size per instance.

What a managed-compute (or self-hosted) Llama deployment does under load, as the emulator plays it:

* up to ``batch × instances`` requests decode together; each one's inter-token time grows mildly
  with the batch it joined: ``ITL = ITL alone × (1 + ITL_GROWTH × (active − 1) ÷ (batch − 1))``,
  i.e. at most ``1 + ITL_GROWTH`` times slower at a full batch (decoding is memory-bandwidth bound,
  so a bigger batch costs little per token until compute binds; 0.5 is an assumption, not a
  measurement of Azure);
* and only while their **KV cache** fits: each request holds its prompt plus its ``max_tokens``
  (reserved up front, as vLLM's V0 scheduler did; V1 allocates blocks as it goes and preempts, which
  this does not play) out of ``batch × instances × CONTEXT_TOKENS`` tokens — the memory the batch size
  was sized from. Requests of up to ``CONTEXT_TOKENS`` never meet this limit before the sequence limit;
  longer ones (a 6-turn conversation resending its history, a long RAG prompt) do, so fewer of them
  run at once: long prompts lower capacity. A request larger than the whole budget runs alone;
* beyond that, requests wait in a first-come-first-served queue (the head waits for room; nothing
  overtakes it), so time to first token grows with load — the knee a load sweep looks for;
* serverless deployments are not modelled here: they keep their quota (429 beyond it) and a latency
  that does not depend on your load, as the service's shared pool behaves for one customer.

The batch size (``batch_size_for``) follows the rule a vLLM-style server applies: sequences fit
while their KV cache fits in the GPU memory left after the weights. With vLLM's defaults
(``gpu_memory_utilization`` 0.9, ``max_num_seqs`` 256) and an assumed ``CONTEXT_TOKENS`` = 2,048
tokens (prompt + answer) per sequence:

    batch = min(256, floor((0.9 × GPU memory − weights) ÷ KV cache per sequence))
    KV cache per sequence = 2 (K, V) × layers × KV heads × head dim × 2 bytes × CONTEXT_TOKENS
    weights = parameters × 2 bytes (bf16), or × 1 byte when bf16 does not fit or the model is FP8

Layers, KV heads and head dim are the Llama 3 architecture table (``ARCHITECTURES``); GPU memory is
the VM SKU's (``data/compute_prices.csv``). It is a rule of thumb for a believable knee, and it says
so: ``BatchModel.source``. Hooked into ``server.Emulator`` by ``EmulatorConfig.capacity``.
"""

from __future__ import annotations

import asyncio
import collections
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from llama_eval.catalog.models import load_catalog
from llama_eval.catalog.prices import load_prices

ITL_GROWTH = 0.5
CONTEXT_TOKENS = 2048
GPU_MEMORY_UTILIZATION = 0.9  # vLLM default
MAX_NUM_SEQS = 256  # vLLM default
# (layers, KV heads, head dim) by parameter count, from "The Llama 3 Herd of Models" (arXiv:2407.21783), Table 3
ARCHITECTURES: dict[int, tuple[int, int, int]] = {8: (32, 8, 128), 70: (80, 8, 128), 405: (126, 8, 128)}


@dataclass(frozen=True)
class BatchModel:
    """One managed deployment's capacity: ``batch`` sequences per instance decode together."""

    batch: int
    instances: int = 1
    itl_growth: float = ITL_GROWTH
    source: str = "given"

    def __post_init__(self) -> None:
        if self.batch < 1 or self.instances < 1:
            raise ValueError(f"batch and instances must be >= 1, got {self.batch} and {self.instances}")

    @property
    def slots(self) -> int:
        return self.batch * self.instances

    @property
    def kv_tokens(self) -> int:
        """The KV-cache tokens every instance together holds: ``CONTEXT_TOKENS`` for each place in the batch."""
        return self.slots * CONTEXT_TOKENS

    def interval_factor(self, active: int) -> float:
        """How much slower each token comes with ``active`` sequences decoding on one instance."""
        if self.batch <= 1:
            return 1.0
        per_instance = min(self.batch, math.ceil(active / self.instances))
        return 1.0 + self.itl_growth * (per_instance - 1) / (self.batch - 1)


def batch_size_for(parameters_b: float, gpu_memory_gb: float, *, fp8: bool = False) -> tuple[int, str]:
    """The batch size the rule gives (see the module docstring), and the rule in words for ``BatchModel.source``."""
    nearest = min(ARCHITECTURES, key=lambda p: abs(math.log(p / parameters_b)))
    layers, kv_heads, head_dim = ARCHITECTURES[nearest]
    kv_per_sequence = 2 * layers * kv_heads * head_dim * 2 * CONTEXT_TOKENS / 1e9  # GB
    usable = GPU_MEMORY_UTILIZATION * gpu_memory_gb
    bytes_per_weight = 1 if fp8 or parameters_b * 2 > usable else 2
    free = usable - parameters_b * bytes_per_weight
    if free < kv_per_sequence:
        raise ValueError(f"a {parameters_b:g}B model does not fit in {gpu_memory_gb:g} GB of GPU memory with room for one sequence")
    batch = min(MAX_NUM_SEQS, int(free // kv_per_sequence))
    arch = "" if nearest == round(parameters_b) else f" (KV cache sized as Llama 3 {nearest}B)"
    rule = (f"rule of thumb: ({GPU_MEMORY_UTILIZATION:g} x {gpu_memory_gb:g} GB - {parameters_b:g}B x {bytes_per_weight} byte weights) / "
            f"{kv_per_sequence:.2f} GB KV cache per {CONTEXT_TOKENS}-token sequence{arch}, at most {MAX_NUM_SEQS}")  # fmt: skip
    return batch, rule


def managed_capacity(deployments: Iterable[object], *, catalog: object = None, prices: object = None, batch: int | None = None) -> dict[str, BatchModel]:
    """Batch models for the managed deployments of a deployments file (``config.Deployment``), by name.

    ``batch`` overrides the rule for every one of them (e.g. a small batch so a short sweep shows a knee).
    Serverless deployments get none: they keep their quota and flat latency.
    """
    catalog = catalog or load_catalog()
    out: dict[str, BatchModel] = {}
    for d in deployments:
        if getattr(d, "kind", "serverless") == "serverless" or not getattr(d, "model", None):
            continue
        compute = getattr(d, "compute", None)
        instances = int(getattr(compute, "instances", 1) or 1)
        if batch is not None:
            out[d.name] = BatchModel(batch, instances, source=f"batch size {batch} given to the emulator")
            continue
        model = catalog.get(d.model)
        offer = model.offer("managed")
        sku = getattr(compute, "sku", None) or (offer.recommended_sku if offer else None)
        if not sku:
            continue
        prices = prices or load_prices(catalog=catalog)
        gpu = prices.compute_price(sku, getattr(compute, "region", "eastus") or "eastus")
        size, rule = batch_size_for(model.parameters_b, gpu.gpu_memory_gb, fp8="fp8" in model.id.lower())
        out[d.name] = BatchModel(size, instances, source=f"{model.id} on {sku}: {rule}")
    return out


class FifoSlots:
    """``slots`` places handed out strictly in arrival order; ``acquire`` returns when one is free."""

    def __init__(self, slots: int):
        self.free = slots
        self.waiters: collections.deque[asyncio.Future] = collections.deque()

    async def acquire(self) -> None:
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return
        future = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot was handed over as the client went away: pass it on
            else:
                self.waiters.remove(future)
            raise

    def release(self) -> None:
        while self.waiters:
            future = self.waiters.popleft()
            if not future.done():
                future.set_result(None)  # the slot passes straight to the oldest waiter
                return
        self.free += 1


class FifoBudget:
    """``sequences`` places and ``tokens`` of KV cache, handed out strictly in arrival order.

    ``acquire(n)`` returns when a place and ``n`` tokens are free and nobody is waiting ahead (a long
    request at the head holds the queue until room is made: first come, first served); ``n`` over the
    whole budget is charged as the whole budget, so it runs alone rather than never.
    """

    def __init__(self, sequences: int, tokens: int):
        self.free_sequences, self.free_tokens, self.tokens = sequences, tokens, tokens
        self.waiters: collections.deque[tuple[int, asyncio.Future]] = collections.deque()

    def charge(self, tokens: int) -> int:
        return max(0, min(int(tokens), self.tokens))

    def _fits(self, tokens: int) -> bool:
        return self.free_sequences > 0 and self.free_tokens >= tokens

    def _take(self, tokens: int) -> None:
        self.free_sequences -= 1
        self.free_tokens -= tokens

    async def acquire(self, tokens: int) -> None:
        tokens = self.charge(tokens)
        if not self.waiters and self._fits(tokens):
            self._take(tokens)
            return
        future = asyncio.get_running_loop().create_future()
        self.waiters.append((tokens, future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(tokens)  # the place was handed over as the client went away: pass it on
            else:
                self.waiters.remove((tokens, future))
                self._wake()  # a long request that left the head may have been all that held the others back
            raise

    def release(self, tokens: int) -> None:
        self.free_sequences += 1
        self.free_tokens += self.charge(tokens)
        self._wake()

    def _wake(self) -> None:
        while self.waiters:
            tokens, future = self.waiters[0]
            if future.done():  # cancelled while waiting
                self.waiters.popleft()
                continue
            if not self._fits(tokens):
                return
            self.waiters.popleft()
            self._take(tokens)
            future.set_result(None)


class CapacityGates:
    """The emulator's per-deployment slots and batch factors (deployments without a model pass straight through)."""

    def __init__(self, models: Mapping[str, BatchModel]):
        self.models = dict(models)
        self._slots = {name: FifoBudget(m.slots, m.kv_tokens) for name, m in self.models.items()}
        self.active: collections.Counter[str] = collections.Counter()
        self.queued_max: collections.Counter[str] = collections.Counter()
        self.active_max: collections.Counter[str] = collections.Counter()  # the most requests that ran at once

    async def acquire(self, name: str, tokens: int = 0) -> None:
        """Wait (FIFO) for a place in the deployment's batch and ``tokens`` (prompt + max_tokens) of its KV cache."""
        slots = self._slots.get(name)
        if slots is None:
            return
        self.queued_max[name] = max(self.queued_max[name], len(slots.waiters) + (not slots._fits(slots.charge(tokens))))
        await slots.acquire(tokens)
        self.active[name] += 1
        self.active_max[name] = max(self.active_max[name], self.active[name])

    def release(self, name: str, tokens: int = 0) -> None:
        """Give back the place and the ``tokens`` ``acquire`` took."""
        slots = self._slots.get(name)
        if slots is None:
            return
        self.active[name] -= 1
        slots.release(tokens)

    def interval_factor(self, name: str) -> float:
        model = self.models.get(name)
        return model.interval_factor(self.active[name]) if model else 1.0
