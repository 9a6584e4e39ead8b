"""What scoring concludes, as records: ``QualitySummary`` and its parts, and ``scores_summary.json``.

``score_run`` returns a ``QualitySummary``; ``QualitySummary.to_json()`` is exactly what
``scores_summary.json`` holds (the file format other tools and ``decide`` read is unchanged), and
``QualitySummary.from_json`` reads such a file back, also one written by an older llama-eval:
fields it did not write take their defaults (no incomplete rows, no statistics recorded, ...).

Scores are shares in [0, 1]; ``ci_low``/``ci_high`` are 95% bootstrap intervals over prompts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

__all__ = ["DeploymentScore", "Exclusion", "JudgeUsage", "NumericAccuracy", "PairedComparison", "QualitySummary", "RougeSettings", "SampleSizeHint",
           "StatisticsMethod", "TagScore"]  # fmt: skip

T = TypeVar("T")


def _record(cls: type[T], data: Mapping[str, Any]) -> T:
    """``cls`` from the keys of ``data`` that are its fields (a missing field takes its default; a required one is a KeyError)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def _json(record: Any) -> dict[str, Any]:
    """A flat record's fields, in declaration order (the order scores_summary.json has always had)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


@dataclass(frozen=True)
class DeploymentScore:
    """One judged deployment: its mean score over prompts (each prompt's repeats averaged first) with a 95% CI.

    ``failed_rows``: requests that failed, scored 0 (``incomplete_rows`` of them were answers cut
    short); ``unscorable_rows``: answers the scorer could not read, left out (never 0);
    ``consistency``: share of prompts whose repeats agree (None with one repeat per prompt);
    ``few_prompts``: fewer prompts than a verdict needs, so the interval is too narrow to trust.
    """

    prompts: int
    mean: float
    ci_low: float
    ci_high: float
    failed_rows: int = 0
    incomplete_rows: int = 0
    unscorable_rows: int = 0
    consistency: float | None = None
    few_prompts: bool = False


@dataclass(frozen=True)
class TagScore:
    """One deployment on the prompts of one tag (``(untagged)`` for prompts without tags)."""

    deployment: str
    tag: str
    prompts: int
    mean: float
    ci_low: float
    ci_high: float
    few_prompts: bool = False


@dataclass(frozen=True)
class PairedComparison:
    """Deployment ``a`` against ``b`` on their shared prompts, as stored (``stats.Comparison`` computes it).

    ``diff`` is mean(a − b); ``ci_low``/``ci_high`` the interval at ``ci_level`` (Bonferroni-adjusted);
    ``significant`` exactly when that interval excludes 0; ``too_few_prompts``: no verdict was made.
    ``verdict`` is the sentence reports print.
    """

    a: str
    b: str
    prompts: int
    diff: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    ci_level: float = 0.95
    p: float = math.nan
    p_adjusted: float = math.nan
    p_holm: float = math.nan
    p_text: str = ""
    method: str = ""
    method_text: str = ""
    significant: bool = False
    too_few_prompts: bool = False
    verdict: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PairedComparison:
        """A stored comparison; one written before ``significant`` was stored is significant when its Holm-adjusted p < 0.05."""
        values = dict(data)
        if "significant" not in values:
            values["significant"] = float(values.get("p_holm", 1.0)) < 0.05
        return _record(cls, values)

    def involves(self, name: str) -> bool:
        return name in (self.a, self.b)

    def other(self, name: str) -> str:
        """The deployment compared with ``name``."""
        return self.b if self.a == name else self.a


@dataclass(frozen=True)
class NumericAccuracy:
    """One deployment on numeric-scored rows, as lm-evaluation-harness reports GSM8K.

    ``strict``: share of rows right with an explicit final-answer marker ("The answer is", "####",
    \\boxed{}, bold); ``flexible``: share right by the scorer's full rule (a marker, else the last
    number) — the score used everywhere else. ``marked``: share of answered rows that had a marker.
    Failed requests count as wrong in both.
    """

    rows: int
    strict: float
    flexible: float
    marked: float


@dataclass(frozen=True)
class RougeSettings:
    """How ROUGE-L was computed: the package and version, the measure, the stemmer (True, False or "mixed")."""

    package: str
    measure: str
    use_stemmer: bool | str


@dataclass(frozen=True)
class StatisticsMethod:
    """Which test stands behind the verdicts at which sample size, in words for reports."""

    alpha: float
    min_prompts_for_verdict: int
    binary_scores: str
    other_scores: str
    adjustment: str
    verdict_basis: str


@dataclass(frozen=True)
class SampleSizeHint:
    """About how many prompts would detect a ``difference_points`` difference with 80% power."""

    difference_points: int
    prompts_needed: int
    based_on: str = ""


@dataclass(frozen=True)
class Exclusion:
    """A deployment left out of scoring (stopped, or mostly errors): its state, error, what to check, one sentence."""

    state: str
    error: str = ""
    check: str = ""
    sentence: str = ""


@dataclass(frozen=True)
class JudgeUsage:
    """What the judge deployment did: rows judged, requests sent, tokens and USD (``cost_usd`` as Decimal text)."""

    deployment: str
    judged_rows: int
    unscorable_rows: int
    requests_sent: int
    from_cache: int
    tokens: int
    cost_usd: str


@dataclass(frozen=True)
class QualitySummary:
    """A scored run: per deployment and tag scores, paired verdicts, what was left out and how it was computed.

    ``deployments`` holds the judged deployments only; ``excluded`` those left out with why.
    ``comparisons`` are the pairs of judged deployments, in ``stats.compare``'s order.
    ``statistics`` and ``rouge`` are None in files from a llama-eval that did not record them
    (``rouge`` is also None when no prompt used ROUGE); ``judge`` is None when nothing was judged.
    """

    deployments: dict[str, DeploymentScore] = field(default_factory=dict)
    tags: dict[str, TagScore] = field(default_factory=dict)  # key "<deployment>|<tag>"
    comparisons: tuple[PairedComparison, ...] = ()
    statistics: StatisticsMethod | None = None
    numeric: dict[str, NumericAccuracy] = field(default_factory=dict)
    rouge: RougeSettings | None = None
    sample_size_hint: SampleSizeHint | None = None
    excluded: dict[str, Exclusion] = field(default_factory=dict)
    judge: JudgeUsage | None = None

    def to_json(self) -> dict[str, Any]:
        """The summary as ``scores_summary.json`` holds it (keys and their order as they have always been)."""
        out: dict[str, Any] = {
            "deployments": {name: _json(d) for name, d in self.deployments.items()},
            "tags": {key: _json(t) for key, t in self.tags.items()},
            "comparisons": [_json(c) for c in self.comparisons],
            "statistics": _json(self.statistics) if self.statistics else None,
            "numeric": {name: _json(a) for name, a in self.numeric.items()},
            "rouge": _json(self.rouge) if self.rouge else None,
            "sample_size_hint": _json(self.sample_size_hint) if self.sample_size_hint else None,
            "excluded": {name: _json(e) for name, e in self.excluded.items()},
        }
        if self.judge is not None:
            out["judge"] = _json(self.judge)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QualitySummary:
        """A summary read back from ``scores_summary.json`` (also one written by an older llama-eval)."""
        statistics, rouge, hint, judge = (data.get(k) for k in ("statistics", "rouge", "sample_size_hint", "judge"))
        return cls(
            deployments={name: _record(DeploymentScore, d) for name, d in (data.get("deployments") or {}).items()},
            tags={key: _record(TagScore, t) for key, t in (data.get("tags") or {}).items()},
            comparisons=tuple(PairedComparison.from_json(c) for c in data.get("comparisons") or ()),
            statistics=_record(StatisticsMethod, statistics) if statistics else None,
            numeric={name: _record(NumericAccuracy, a) for name, a in (data.get("numeric") or {}).items()},
            rouge=_record(RougeSettings, rouge) if rouge else None,
            sample_size_hint=_record(SampleSizeHint, hint) if hint else None,
            excluded={name: _record(Exclusion, e) for name, e in (data.get("excluded") or {}).items()},
            judge=_record(JudgeUsage, judge) if judge else None,
        )

    def comparisons_with(self, name: str) -> list[PairedComparison]:
        """The comparisons that involve deployment ``name``."""
        return [c for c in self.comparisons if c.involves(name)]
