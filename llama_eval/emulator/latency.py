"""How fast each emulated Llama answers: time to first token and decode speed, with jitter.

One published Azure measurement anchors the table (Artificial Analysis, Meta-Llama-3.1-405B-Instruct
on Azure: 29.4 output tokens/s and 2.01 s to first token, on a ~10k-token prompt). Other models are
scaled from it by a rough rule, stated next to each number: decode speed grows with
1/sqrt(active parameters), and fixed first-token overhead with sqrt(active parameters). Replace the
rule with your own measurements (``LatencyProfile`` per model) when you have them: the emulator
makes runner and report behaviour testable, it does not predict Azure's latency.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from llama_eval.catalog.models import CatalogModel

ANCHOR_PARAMS_B = 405.0
ANCHOR_TPS = 29.4  # artificialanalysis.ai/models/llama-3-1-instruct-405b/providers (Azure row)
ANCHOR_TTFT_S = 2.01  # same page; its default workload is 10k input tokens
ANCHOR_PROMPT_TOKENS = 10_000
ANCHOR_BASE_TTFT_S = 0.5  # our split of 2.01 s: fixed overhead 0.5 s + prefill of 10k tokens
ANCHOR_PREFILL_TPS = ANCHOR_PROMPT_TOKENS / (ANCHOR_TTFT_S - ANCHOR_BASE_TTFT_S)  # ≈ 6,620 tokens/s


@dataclass(frozen=True)
class LatencyProfile:
    """Seconds to first token = base_ttft_s + prompt_tokens / prefill_tps; then one token per 1/tps."""

    base_ttft_s: float
    prefill_tps: float
    tps: float
    jitter: float = 0.1  # lognormal sigma applied to TTFT and to the decode speed of each request
    source: str = ""

    def ttft(self, prompt_tokens: int, rng: random.Random) -> float:
        return (self.base_ttft_s + prompt_tokens / self.prefill_tps) * self._noise(rng)

    def token_interval(self, rng: random.Random) -> float:
        return (1.0 / self.tps) * self._noise(rng)

    def slowed(self, factor: float) -> LatencyProfile:
        """This profile with every delay x ``factor`` (1.0: itself): the emulator's ``slowdown`` test knob."""
        if factor == 1:
            return self
        return replace(self, base_ttft_s=self.base_ttft_s * factor, prefill_tps=self.prefill_tps / factor, tps=self.tps / factor,
                       source=f"{self.source}; slowed x{factor:g}")  # fmt: skip

    def _noise(self, rng: random.Random) -> float:
        return math.exp(rng.gauss(0.0, self.jitter)) if self.jitter > 0 else 1.0


def profile_for(model: CatalogModel) -> LatencyProfile:
    """The measured profile for 3.1-405B; the scaled one for every other model."""
    active = model.active_parameters_b or model.parameters_b
    if model.id == "Meta-Llama-3.1-405B-Instruct":
        return LatencyProfile(
            ANCHOR_BASE_TTFT_S, ANCHOR_PREFILL_TPS, ANCHOR_TPS, source="Artificial Analysis, Azure 3.1-405B: 29.4 tok/s, 2.01 s TTFT at 10k input"
        )
    ratio = math.sqrt(ANCHOR_PARAMS_B / active)
    return LatencyProfile(
        base_ttft_s=ANCHOR_BASE_TTFT_S / ratio,
        prefill_tps=ANCHOR_PREFILL_TPS * ANCHOR_PARAMS_B / active,
        tps=ANCHOR_TPS * ratio,
        source=f"scaled from 3.1-405B by sqrt(405/{active:g}) (decode, overhead) and 405/{active:g} (prefill): rough rule",
    )


def fixed_profile(ttft_s: float, tps: float, jitter: float = 0.0) -> LatencyProfile:
    """A profile with a fixed TTFT regardless of prompt length (for timing tests)."""
    return LatencyProfile(base_ttft_s=ttft_s, prefill_tps=float("inf"), tps=tps, jitter=jitter, source="fixed")
