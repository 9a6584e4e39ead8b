"""Production traffic, and the tokens per request that price it: ``TrafficProfile`` and ``TokenMeans``.

The one definition of an option's tokens per request (issue 29), used by the projection
(``cost.projection``), the decision (``llama_eval.decide``), ``llama-eval cost``, ``llama-eval
recommend`` and the report alike: the mean prompt and completion tokens of the run's answered rows
(``Run.answered`` with usage) **of that option's own model** — the run's deployments of that model
and kind when it has any (``option_token_means``), else every deployment of that model in the run.
Means are never pooled across models: a verbose model and a terse one cost what each of them says.

``TrafficProfile`` is the traffic itself: requests a day and the peak (None: the day's average). Its
token means are optional: a profile made by hand (``TrafficProfile.of``) carries one mix for every
option; one a projection of a run makes carries none, and each option takes its model's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from llama_eval.rundir.run import Run, as_run

from .fixed import DAYS_PER_MONTH, SECONDS_PER_DAY


@dataclass(frozen=True)
class TokenMeans:
    """Mean tokens in and out of one answered request, and the answers they are the mean of."""

    input_tokens: Decimal
    output_tokens: Decimal
    requests: int = 0  # answered rows with usage behind the means (0: given by hand)
    deployments: tuple[str, ...] = ()  # the run's deployments those rows came from

    def describe(self) -> str:
        """``44 tokens in and 23 out per request (mean of 58 answers of maverick)``."""
        text = f"{self.input_tokens:,.0f} tokens in and {self.output_tokens:,.0f} out per request"
        if self.requests:
            text += f" (mean of {self.requests:,} answers of {', '.join(self.deployments)})"
        return text


def token_means(run: Run | str | Path, deployments: Iterable[str] | None = None) -> TokenMeans:
    """Mean tokens of the run's answered rows with usage, of ``deployments`` (None: every deployment).

    ValueError "no successful rows" when none answered: there is nothing to take means from.
    """
    run = as_run(run)
    wanted = None if deployments is None else set(deployments)
    sums = [(name, t) for name, t in _usage_sums(run).items() if wanted is None or name in wanted]
    count = sum(t[0] for _, t in sums)
    if not count:
        which = f" of {', '.join(sorted(wanted))}" if wanted else ""
        raise ValueError(f"{run.path}: no successful rows{which} to take token means from")
    n = Decimal(count)
    return TokenMeans(Decimal(sum(t[1] for _, t in sums)) / n, Decimal(sum(t[2] for _, t in sums)) / n, count, tuple(name for name, _ in sums))


def _usage_sums(run: Run) -> dict[str, tuple[int, int, int]]:
    """Per deployment (in the order its first answer with usage comes): answers with usage, their prompt and completion tokens.

    Summed once per ``Run`` (``Run.derived``); integer sums, so the means are the exact ones of the rows."""
    return run.derived(_sum_usage)


def _sum_usage(run: Run) -> dict[str, tuple[int, int, int]]:
    sums: dict[str, list[int]] = {}
    for r in run.answered:
        if r.usage is not None:
            t = sums.get(r.deployment)
            if t is None:
                t = sums[r.deployment] = [0, 0, 0]
            t[0] += 1
            t[1] += r.usage.prompt_tokens
            t[2] += r.usage.completion_tokens
    return {name: (t[0], t[1], t[2]) for name, t in sums.items()}


def model_deployments(run: Run, model: str, kind: str | None = None) -> list[str]:
    """The run's deployments of ``model`` (and ``kind``, when given), in manifest order; a run without a manifest: by its rows."""
    records = run.manifest.deployments
    if records:
        return [name for name, r in records.items() if r.get("model") == model and (kind is None or (r.get("kind") or "serverless") == kind)]
    if kind not in (None, "serverless"):  # rows alone do not say how a deployment was served: the loader's default, serverless
        return []
    return list(dict.fromkeys(r.deployment for r in run.rows if r.model == model))


def option_token_means(run: Run | str | Path, model: str, kind: str) -> TokenMeans:
    """The tokens per request of ``model`` served as ``kind``: the definition in the module docstring.

    The run's deployments of this model and kind when it answered on any, else all of this model's.
    """
    run = as_run(run)
    own = model_deployments(run, model, kind)
    if own and any(name in own for name in _usage_sums(run)):
        return token_means(run, own)
    return token_means(run, model_deployments(run, model) or [f"(no deployment of {model})"])


@dataclass(frozen=True)
class TrafficProfile:
    """Production traffic: requests a day and the peak; with one mix of tokens per request, or none (each option its model's own)."""

    requests_per_day: Decimal
    input_tokens: Decimal | None = None  # None: per model (``option_token_means``), set on each option
    output_tokens: Decimal | None = None
    peak_rps: Decimal | None = None  # requests/s at the busiest moment; None: the day's average

    @classmethod
    def of(cls, requests_per_day: float | int | str | Decimal, input_tokens: float | int | str | Decimal | None = None,
           output_tokens: float | int | str | Decimal | None = None, peak_rps: float | int | str | Decimal | None = None) -> TrafficProfile:  # fmt: skip
        per_day = Decimal(str(requests_per_day))
        tokens = [Decimal(str(v)) if v is not None else None for v in (input_tokens, output_tokens)]
        if per_day < 0 or any(v is not None and v < 0 for v in tokens):
            raise ValueError("requests per day and token means must be >= 0")
        if (tokens[0] is None) != (tokens[1] is None):
            raise ValueError("give both token means (in and out) or neither (each option its model's own)")
        peak = Decimal(str(peak_rps)) if peak_rps is not None else None
        if peak is not None and peak <= 0:
            raise ValueError(f"peak requests/s must be > 0, got {peak}; leave it out to use the day's average")
        return cls(per_day, tokens[0], tokens[1], peak)

    @classmethod
    def from_run(cls, run: Run | str | Path, requests_per_day: float | int | str | Decimal, deployment: str | None = None,
                 peak_rps: float | int | str | Decimal | None = None) -> TrafficProfile:  # fmt: skip
        """Mean tokens per request of a run's successful rows (one deployment's, or pooled over all: prefer ``option_token_means``)."""
        means = token_means(run, None if deployment is None else [deployment])
        return cls.of(requests_per_day, means.input_tokens, means.output_tokens, peak_rps)

    @property
    def tokens(self) -> TokenMeans | None:
        """The one mix of this profile (None: each option carries its model's own)."""
        if self.input_tokens is None or self.output_tokens is None:
            return None
        return TokenMeans(self.input_tokens, self.output_tokens)

    @property
    def average_rps(self) -> Decimal:
        return self.requests_per_day / SECONDS_PER_DAY

    @property
    def sizing_rps(self) -> Decimal:
        """The requests/s fixed capacity is sized for: the peak given, else the day's average."""
        return self.peak_rps if self.peak_rps is not None else self.average_rps

    @property
    def peak_factor(self) -> Decimal:
        """Peak ÷ the day's average rate (at least 1): how much more than average the busiest moment carries."""
        if self.peak_rps is None or not self.requests_per_day:
            return Decimal(1)
        return max(Decimal(1), self.peak_rps / self.average_rps)

    @property
    def requests_per_month(self) -> Decimal:
        return self.requests_per_day * DAYS_PER_MONTH

    def describe(self) -> str:
        """The traffic a projection assumes, in one sentence (the same in the report and the CLI)."""
        if self.peak_rps is None:
            peak = f"peak not given, so the day's average {self.average_rps:.3g} requests/s sizes the machines (a real service peaks higher)"
        else:
            peak = f"peak {float(self.peak_rps):g} requests/s ({self.peak_factor:.3g}x the day's average)"
        tokens = self.tokens
        mix = tokens.describe() if tokens is not None else "each model's own mean tokens in and out per request, from its answers in the run"
        return f"{self.requests_per_day:,.0f} requests/day ({self.requests_per_month:,.0f} a month of 730 h), {mix}; {peak}"


__all__ = ["TokenMeans", "TrafficProfile", "model_deployments", "option_token_means", "token_means"]
