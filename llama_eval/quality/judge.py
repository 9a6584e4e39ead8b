"""LLM-as-judge: a deployment (any Llama in your config, e.g. 405B) grades answers 1-5 against a rubric.

The judge runs at temperature 0 and must answer ``Score: <1-5>`` and ``Reason: <one sentence>``
(a JSON object with ``score`` and ``reason`` is accepted too). Output it cannot parse, or a request
that fails, makes the row *unscorable* (None), reported as such and never counted as 0. Scores map
to [0, 1] as (score - 1) / 4. Judgments are cached in the run directory (``judgments.jsonl``), keyed
by judge, rubric, question, answer and reference, so re-scoring costs nothing. The judge's own tokens
and cost are recorded apart from the evaluated model's.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.catalog.prices import RequestPrice
from llama_eval.errors import EndpointError

from .registry import Score

JUDGE_MARKER = "[llama-eval judge v1]"
DEFAULT_RUBRIC = (
    "5: fully correct and complete; 4: correct with minor omissions; 3: partly correct; 2: mostly wrong but related; 1: wrong, irrelevant or a refusal."
)
SYSTEM = (
    f"{JUDGE_MARKER} You are a strict, fair grader. Compare the answer with the reference and the rubric. "
    "Reply in exactly two lines:\nScore: <a whole number from 1 to 5>\nReason: <one short sentence>"
)
_SCORE = re.compile(r"score\s*[:=]\s*\**\s*([1-5])\b", re.IGNORECASE)
_REASON = re.compile(r"reason\s*[:=]\s*(.+)", re.IGNORECASE)


@dataclass(frozen=True)
class Judgment:
    grade: int | None
    reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal | None = None
    cached: bool = False

    @property
    def score(self) -> Score:
        return Score(None if self.grade is None else (self.grade - 1) / 4, self.reason)


def parse_judgment(text: str) -> tuple[int | None, str]:
    """(grade 1-5 or None, reason) from a judge's reply."""
    stripped = text.strip()
    if stripped.startswith("{") or "```" in stripped:
        try:
            from .scorers import extract_json

            value = extract_json(stripped)
            grade = value.get("score") if isinstance(value, dict) else None
            if isinstance(grade, (int, float)) and not isinstance(grade, bool) and float(grade).is_integer() and 1 <= grade <= 5:
                return int(grade), str(value.get("reason", ""))[:300]
        except ValueError:
            pass
    found = _SCORE.search(text)
    if not found:
        return None, f"unparseable judge output: {stripped[:120]!r}"
    reason = _REASON.search(text)
    return int(found.group(1)), (reason.group(1).strip()[:300] if reason else "")


def judge_messages(question: str, answer: str, reference: Any, rubric: str) -> list[dict[str, str]]:
    reference_text = "\n".join(map(str, reference)) if isinstance(reference, list) else ("(none)" if reference is None else str(reference))
    user = f"Rubric:\n{rubric}\n\nQuestion:\n{question}\n\nReference:\n{reference_text}\n\nAnswer:\n{answer}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


class Judge:
    """Grades answers with one deployment's client; caches judgments in ``cache_path`` (JSONL)."""

    def __init__(self, client: Any, *, price: RequestPrice | None = None, cache_path: str | Path | None = None, max_tokens: int = 200):
        self.client = client
        self.name = client.deployment.name
        self.price = price or RequestPrice(None)
        self.max_tokens = max_tokens
        self.cache_path = Path(cache_path) if cache_path else None
        self._cache: dict[str, dict[str, Any]] = {}
        if self.cache_path and self.cache_path.exists():
            for line in self.cache_path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self._cache[entry["key"]] = entry
        self.requests_sent = 0

    def _key(self, question: str, answer: str, reference: Any, rubric: str) -> str:
        material = json.dumps([self.name, self.client.deployment.model, rubric, question, answer, reference], sort_keys=True, default=str)
        return hashlib.sha256(material.encode()).hexdigest()

    def judge(self, question: str, answer: str, reference: Any = None, rubric: str = DEFAULT_RUBRIC) -> Judgment:
        key = self._key(question, answer, reference, rubric)
        if key in self._cache:
            e = self._cache[key]
            return Judgment(e["grade"], e["reason"], e["prompt_tokens"], e["completion_tokens"], Decimal(e["cost_usd"]) if e["cost_usd"] else None, cached=True)
        self.requests_sent += 1
        try:
            response = self.client.complete(judge_messages(question, answer, reference, rubric), temperature=0, max_tokens=self.max_tokens)
        except EndpointError as exc:
            return Judgment(None, f"judge request failed: {exc}")  # not cached: a later re-score tries again
        text = response.choices[0].message.content or ""
        grade, reason = parse_judgment(text)
        usage = response.usage
        cost = self.price.cost(usage.prompt_tokens, usage.completion_tokens) if usage else None
        judgment = Judgment(grade, reason, usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0, cost)
        entry = {
            "key": key,
            "judge": self.name,
            "grade": grade,
            "reason": reason,
            "prompt_tokens": judgment.prompt_tokens,
            "completion_tokens": judgment.completion_tokens,
            "cost_usd": str(cost) if cost is not None else None,
        }
        self._cache[key] = entry
        if self.cache_path:
            with self.cache_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
        return judgment
