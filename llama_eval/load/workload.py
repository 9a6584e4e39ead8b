"""The workload a sweep measured with, as ``sweep.json`` records it and a decision states it.

A capacity is only true for the traffic it was measured with: a 6-turn conversation set or a
long shared prefix moves it, and so do bursty arrivals. ``SweepWorkload.of(prompts, params)`` records
the prompt set (path, items, sha256, a ``llama-eval synth`` recipe) and the arrival
process (closed loop, Poisson or gamma with its burstiness, the seed); ``describe()`` says it in one
phrase (``data/prompts/quickstart.jsonl (10 prompts), closed loop``), and ``workloads_sentence`` says
which workloads a set of capacities was measured with, for ``recommend`` and the report's brief.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SweepWorkload:
    """What a sweep sent: the prompt set and the arrival process (``closed`` | ``poisson`` | ``gamma``)."""

    prompt_set: str  # the path as given to the sweep
    items: int
    sha256: str | None
    arrivals: str
    burstiness: float | None = None
    seed: int | None = None
    recipe: Mapping[str, Any] | None = None  # a `llama-eval synth` set's shape

    @classmethod
    def of(cls, prompts: Any, params: Any) -> SweepWorkload:
        """The workload of a sweep of ``prompts`` (a ``PromptSet``) with ``params`` (its ``SweepParams``; not imported: slo.py reads this module)."""
        return cls(
            prompt_set=str(prompts.path),
            items=len(prompts),
            sha256=prompts.sha256,
            arrivals=params.arrivals,
            burstiness=params.burstiness if params.arrivals == "gamma" else None,
            seed=params.seed if params.mode == "open" else None,
            recipe=dict(prompts.recipe) if prompts.recipe else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt_set": {"path": self.prompt_set, "items": self.items, "sha256": self.sha256, "recipe": self.recipe},
            "arrivals": {"kind": self.arrivals, "burstiness": self.burstiness, "seed": self.seed},
            "description": self.describe(),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SweepWorkload | None:
        """sweep.json's ``workload`` (None: a sweep written before it was kept)."""
        if not data:
            return None
        prompt_set, arrivals = data.get("prompt_set") or {}, data.get("arrivals") or {}
        return cls(
            prompt_set=str(prompt_set.get("path", "?")),
            items=int(prompt_set.get("items") or 0),
            sha256=prompt_set.get("sha256"),
            arrivals=str(arrivals.get("kind", "closed")),
            burstiness=arrivals.get("burstiness"),
            seed=arrivals.get("seed"),
            recipe=prompt_set.get("recipe"),
        )

    def describe_prompts(self) -> str:
        """``data/prompts/quickstart.jsonl (10 prompts)``, with a synthetic set's shape (a sweep sends single prompts only)."""
        count = f"{self.items} prompt{'s' if self.items != 1 else ''}"
        recipe = self.recipe or {}
        if recipe:
            shape = f"synthetic: input {_text(recipe.get('input'))} tokens, output {_text(recipe.get('output'))} tokens"
            if recipe.get("prefix_tokens"):
                shape += f", a shared {recipe['prefix_tokens']}-token prefix on {float(recipe.get('prefix_share') or 1):.0%} of requests"
            count += f"; {shape}"
        return f"{self.prompt_set} ({count})"

    def describe_arrivals(self) -> str:
        if self.arrivals == "closed":
            return "closed loop"
        if self.arrivals == "gamma":
            return f"open loop, gamma arrivals (burstiness {self.burstiness:g})"
        return "open loop, Poisson arrivals"

    def describe(self) -> str:
        return f"{self.describe_prompts()}, {self.describe_arrivals()}"


def _text(distribution: Any) -> str:
    if isinstance(distribution, Mapping):
        return str(distribution.get("text", "?"))
    return str(distribution) if distribution is not None else "?"


def workloads_sentence(workloads: Mapping[str, SweepWorkload | None]) -> str | None:
    """``Capacities measured with W`` (one workload for every sweep) or ``... with: A: W1; B: W2``; None without sweeps.

    A sweep written before workloads were recorded is named as such, never guessed.
    """
    if not workloads:
        return None
    said = {name: (w.describe() if w is not None else "workload not recorded (a sweep.json from before it was kept)") for name, w in workloads.items()}
    if len(set(said.values())) == 1:
        return f"Capacities measured with {next(iter(said.values()))}"
    return "Capacities measured with: " + "; ".join(f"{name}: {text}" for name, text in sorted(said.items()))
