"""The records a comparison of two runs is made of: ``RunComparison`` and its parts, each with ``to_json``.

Run A is the baseline, run B the candidate; every difference is B against A (a negative quality
difference: B scores lower). Quality differences are in score units (0.02 is 2 points), latency
and cost changes are relative (0.2 is 20% more), their intervals are 95% ones.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["Change", "CostShift", "PromptMatch", "QualityShift", "RunComparison", "Shift", "Target"]


def _plain(value: Any) -> Any:
    """JSON-ready: Decimal as text, NaN as None, paths as text, tuples as lists."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class PromptMatch:
    """Which prompts the two runs share: same id and same content digest; the same id with other content is ``changed``.

    ``basis``: how they were matched ("id and content digest", or "id only" for runs that did not
    record their prompts' digests and whose prompt set file changed since).
    """

    shared: tuple[str, ...]
    changed: tuple[str, ...] = ()
    only_a: tuple[str, ...] = ()
    only_b: tuple[str, ...] = ()
    basis: str = "id and content digest"


@dataclass(frozen=True)
class QualityShift:
    """One deployment's score in B against A on the prompts both ran (``tag`` None: all of them; else those with the tag).

    ``diff``, ``low``, ``high``: mean(B - A) per prompt and its 95% interval, from the quality
    section's paired test (``quality.stats.paired_test``: exact McNemar for 0/1 scores, sign-flip or
    paired bootstrap otherwise); ``verdict`` says it in words.
    """

    deployment: str
    tag: str | None
    prompts: int
    score_a: float
    score_b: float
    diff: float
    low: float
    high: float
    method: str
    verdict: str


@dataclass(frozen=True)
class Shift:
    """A statistic of one deployment in B against A: ``change`` = b / a - 1 with a 95% bootstrap interval over requests.

    Latency (``metric`` TTFT, ITL, e2e; ``statistic`` p50, p90) is in the service's real time, seconds
    (measured ÷ each run's time scale); cost (``metric`` "cost", ``statistic`` "mean") in USD a request.
    """

    deployment: str
    metric: str
    statistic: str
    a: float
    b: float
    change: float
    low: float
    high: float
    requests_a: int
    requests_b: int

    @property
    def name(self) -> str:
        """The gate's name for it: ``ttft_p90``, ``itl_p50``, ``e2e_p90``."""
        return f"{self.metric.lower()}_{self.statistic}"


@dataclass(frozen=True)
class CostShift:
    """Cost per 1,000 requests of one deployment, A and B, and what moved it.

    Per token (serverless): ``from_tokens`` is the change B's tokens a request make at A's prices,
    ``from_prices`` the change B's prices make on B's tokens (they add up to B - A). By the hour
    (managed, self-hosted): the figure is $/hour over the capacity a stored sweep measured
    (``capacity_a``/``capacity_b`` requests/s), None without a sweep. ``shift``: the mean cost a
    request, B against A, with its bootstrap interval (per-token deployments with recorded costs).
    """

    deployment: str
    model: str | None
    kind: str
    per_1k_a: Decimal | None
    per_1k_b: Decimal | None
    tokens_a: tuple[float, float] | None = None  # (in, out) a request
    tokens_b: tuple[float, float] | None = None
    from_tokens: Decimal | None = None
    from_prices: Decimal | None = None
    capacity_a: float | None = None
    capacity_b: float | None = None
    basis: str = ""
    shift: Shift | None = None

    @property
    def change(self) -> float | None:
        """B over A - 1, or None when either has no figure."""
        if self.per_1k_a is None or self.per_1k_b is None or not self.per_1k_a:
            return None
        return float(self.per_1k_b / self.per_1k_a - 1)


@dataclass(frozen=True)
class Change:
    """Something that differs between the runs besides their results: ``area`` (prices, deployment, parameters, versions, model, prompts)."""

    area: str
    what: str
    a: str
    b: str


@dataclass(frozen=True)
class Target:
    """A figure of one run checked against an absolute target (``score``, ``error_rate``), with its 95% bootstrap interval."""

    deployment: str
    metric: str
    value: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class RunComparison:
    """Run B against run A: quality, latency, cost, what else changed, and the warnings about how they were measured.

    ``targets`` are run B's own figures (score, error rate per deployment) for absolute gates.
    ``compare_runs`` makes it; ``to_json`` is what ``llama-eval compare --json`` prints.
    """

    run_a: Path | None  # None: one run checked against absolute targets (``check_run``)
    run_b: Path
    prompts: PromptMatch
    quality: tuple[QualityShift, ...] = ()
    latency: tuple[Shift, ...] = ()
    cost: tuple[CostShift, ...] = ()
    changes: tuple[Change, ...] = ()
    warnings: tuple[str, ...] = ()
    targets: tuple[Target, ...] = ()
    simulated: bool = False
    notes: tuple[str, ...] = ()
    # per deployment: (B's, A's) per-prompt scores on the shared prompts, in the same order: what quality gates test; not in the JSON
    paired: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict, repr=False)

    def overall(self) -> list[QualityShift]:
        """The quality shifts over all shared prompts (one per deployment), without the per-tag ones."""
        return [q for q in self.quality if q.tag is None]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("paired")
        for cost, record in zip(out["cost"], self.cost, strict=True):
            cost["change"] = record.change
        return _plain(out)
