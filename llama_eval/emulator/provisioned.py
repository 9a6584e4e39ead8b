"""A provisioned (PTU) deployment's utilization, as Azure meters it: a leaky bucket of normalized tokens.

Microsoft's provisioned throughput (``data/models.yaml``, provisioned offer): one PTU serves
``input_tpm_per_ptu`` input tokens a minute and an output token counts as ``output_token_weight``
input tokens. The service keeps a utilization bucket that drains at the deployment's throughput
(PTUs × input tokens a minute per PTU). A request adds its expected cost when it is admitted —
prompt tokens + weight × ``max_tokens`` — settled to what it really used when it is answered. While
the bucket is above 100% of one window's throughput, every request is refused *at once* with 429 and
``retry-after-ms`` (the time until utilization is back under 100%); there is no queue. Under 100%
nothing waits, so latency stays that of the model's profile (no batching slow-down is applied).

``window_s`` is the emulator's ``quota_window_s``: 60 s is the service's minute; a shorter window
makes the same throughput a smaller bucket, so tests can overfill it in a moment. Like the quotas, the
bucket drains in the emulated service's seconds (``quota.emulated_clock``): sped up 20x, it drains
20x faster in real time, as the deployment it emulates would per its own second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from llama_eval.catalog.models import CatalogModel

from .quota import QuotaExceeded


@dataclass
class _Reserved:
    amount: int  # the raw tokens reserved (prompt + max_tokens), as ``Admission.tokens`` holds them


class PtuAdmission:
    """One admitted request's share of the bucket; ``settle`` replaces the estimate by what it used."""

    def __init__(self, bucket: PtuBucket, prompt_tokens: int, reserve_tokens: int, cost: float):
        self.bucket = bucket
        self.prompt_tokens = prompt_tokens
        self.tokens = _Reserved(reserve_tokens)
        self.cost = cost
        self.done = False

    def settle(self, actual_tokens: int) -> None:
        """``actual_tokens``: prompt + completion tokens used; the output part is weighted as the service weighs it."""
        if self.done:
            return
        self.done = True
        actual = self.bucket.normalized(self.prompt_tokens, max(0, actual_tokens - self.prompt_tokens))
        self.bucket.add(actual - self.cost)


class PtuBucket:
    """Utilization of ``ptu`` provisioned throughput units: admit or refuse at once, never queue."""

    def __init__(self, ptu: int, input_tpm_per_ptu: int, output_token_weight: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        if ptu <= 0 or input_tpm_per_ptu <= 0 or window_s <= 0:
            raise ValueError(f"a PTU bucket needs PTUs, throughput and a window > 0, got {ptu}, {input_tpm_per_ptu}, {window_s}")
        self.ptu = ptu
        self.weight = output_token_weight
        self.capacity = ptu * input_tpm_per_ptu * window_s / 60.0  # normalized tokens that are 100% utilization
        self.rate = self.capacity / window_s  # normalized tokens drained a second: the deployment's throughput
        self._clock = clock
        self._level = 0.0
        self._at = clock()

    def normalized(self, input_tokens: int, output_tokens: int) -> float:
        return input_tokens + self.weight * output_tokens

    def _drain(self) -> None:
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._at) * self.rate)
        self._at = now

    def add(self, amount: float) -> None:
        self._drain()
        self._level = max(0.0, self._level + amount)

    @property
    def utilization(self) -> float:
        """The bucket's level as a share of 100% (1.0 = full)."""
        self._drain()
        return self._level / self.capacity

    def admit(self, reserve_tokens: int, prompt_tokens: int | None = None) -> PtuAdmission:
        """Admit a request (its prompt + ``max_tokens`` = ``reserve_tokens``), or raise ``QuotaExceeded`` at once above 100%."""
        self._drain()
        if self._level > self.capacity:
            wait = (self._level - self.capacity) / self.rate
            raise QuotaExceeded(wait, 0, 0, f"provisioned throughput utilization ({self._level / self.capacity:.0%} of {self.ptu} PTU, over 100%)")
        prompt = reserve_tokens if prompt_tokens is None else prompt_tokens
        cost = self.normalized(prompt, max(0, reserve_tokens - prompt))
        self._level += cost
        return PtuAdmission(self, prompt, reserve_tokens, cost)

    def remaining(self) -> tuple[int, int]:
        """(requests, normalized tokens) left under 100%: no request limit, so the first is as an unlimited quota says it."""
        self._drain()
        return 10**9, int(max(0.0, self.capacity - self._level))


def ptu_bucket(model: CatalogModel, ptu: int | None, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> PtuBucket:
    """The bucket of ``ptu`` PTUs (None: the offer's minimum) on the model's provisioned offer; ValueError if it has none."""
    offer = model.offer("provisioned")
    terms = offer.provisioned if offer is not None else None
    if terms is None:
        raise ValueError(f"{model.id} is not sold as provisioned throughput (offers: {', '.join(model.offers)}); the emulator cannot serve it as provisioned")
    return PtuBucket(ptu or terms.min_ptu, terms.input_tpm_per_ptu, terms.output_token_weight, window_s, clock)


__all__ = ["PtuAdmission", "PtuBucket", "ptu_bucket"]
