"""What a run is asked to do (``RunParams``) and what it did (``RunSummary``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.endpoint.request import ExtraParameters
from llama_eval.errors import RunError
from llama_eval.records import LoopLag

CLIENTS = ("wire", "sdk")


@dataclass(frozen=True)
class SendSchedule:
    """Send offsets (seconds from the start), one per request in run order; ``recipe`` says how they were made."""

    offsets: tuple[float, ...]
    recipe: Mapping[str, Any] = field(default_factory=dict)

    def check(self, requests: int) -> None:
        """A RunError unless there is one offset per request and they never go backwards."""
        if len(self.offsets) != requests:
            raise RunError(
                f"the arrival schedule has {len(self.offsets)} send times for {requests} requests (prompts x repeats); "
                "make the schedule with count= the number of requests"
            )
        if any(b < a for a, b in zip(self.offsets, self.offsets[1:], strict=False)) or (self.offsets and self.offsets[0] < 0):
            raise RunError("the arrival schedule's offsets must start at >= 0 and never decrease")

    def to_json(self) -> dict[str, Any]:
        """What the manifest records: the recipe and the schedule's size and span, not every offset."""
        return dict(self.recipe) | {"requests": len(self.offsets), "span_s": round(self.offsets[-1], 6) if self.offsets else 0.0}


@dataclass(frozen=True)
class RunParams:
    """How to run. ``max_tokens``: a prompt item's own value wins; this is the default (512 if None).

    client: ``"wire"`` (the measuring aiohttp client, default) or ``"sdk"`` (the azure-ai-inference /
    openai SDK transports, as ``make_client`` uses). warmup: the first N requests of each deployment
    are marked ``warmup`` and left out of latency statistics (cold connections, cold caches).
    """

    repeats: int = 1
    concurrency: int = 8
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stream: bool = True
    budget_usd: Decimal | None = None
    budget_preflight: bool = True  # refuse to start when the worst case exceeds the budget (else: start, stop at it)
    max_attempts: int = 5
    timeout_s: float = 120.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    extra: ExtraParameters | None = None
    grace_s: float = 30.0
    ramp_s: float | None = None  # spread the first wave of requests over this long; None: 10 ms per worker, at most 2 s
    client: str = "wire"
    warmup: int = 1
    probe: bool = True  # one cheap request per deployment before any paid one
    schedule: SendSchedule | None = None  # open loop: send each request at its offset (``arrivals_driver``); None: closed loop

    def fingerprint(self) -> dict[str, Any]:
        """What must match for a resumed run to continue this one (not budget, concurrency, client or timeouts)."""
        return {
            "repeats": self.repeats,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stream": self.stream,
            "extra": self.extra.to_dict() if self.extra else None,
        }

    @property
    def choices(self) -> int:
        """Completions billed per request (``n``, or ``best_of`` candidates)."""
        extra = self.extra or ExtraParameters()
        return max(extra.n or 1, extra.best_of or 0)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["budget_usd"] = str(self.budget_usd) if self.budget_usd is not None else None
        data["schedule"] = self.schedule.to_json() if self.schedule is not None else None
        return data


@dataclass
class RunSummary:
    """What one session of a run did; ``str()`` is the line the CLI prints."""

    run_dir: Path
    status: str
    by_status: Counter = field(default_factory=Counter)
    rows_written: int = 0
    skipped_done: int = 0
    not_run: int = 0
    cost_usd: Decimal = Decimal(0)
    retries: int = 0
    duration_s: float = 0.0
    loop_lag: dict[str, LoopLag] = field(default_factory=dict)
    stopped: dict[str, str] = field(default_factory=dict)  # deployment -> why it was stopped

    def __str__(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.by_status.items())) or "nothing run"
        return (
            f"{self.run_dir}: {self.status}; {self.rows_written} rows this session ({counts}); "
            f"{self.skipped_done} already done; {self.not_run} not run; {self.retries} retries; "
            f"${self.cost_usd:.6f} spent; {self.duration_s:.1f} s"
        )
