"""Before a run: what it will cost at worst and as expected, and how long the quota makes it.

Prompt tokens are counted with the Llama tokenizer; output at ``max_tokens`` (the worst case) and,
when a previous run of the same prompts exists, at what each model really wrote (expected).

A conversation is as many requests as it has turns, and turn k resends the history: the system
message, turns 1..k-1 with their answers, and its own message (``turn_prompt_tokens``). Its prompt
tokens are counted with every earlier answer at ``max_tokens`` for the worst case, and at what the
previous run's answers to those turns were for the expected case (``expected_prompt_tokens``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.catalog.models import Catalog, load_catalog
from llama_eval.catalog.prices import PriceBook, price_for
from llama_eval.catalog.tokens import TokenCounter, counter_for
from llama_eval.deployments.model import Deployment
from llama_eval.prompts.prompt_set import PromptItem, PromptSet, turn_id
from llama_eval.records import ANSWERED, FIXED_KINDS, MANAGED, SELF_HOSTED, SERVERLESS
from llama_eval.rundir.store import final_rows, read_rows

DEFAULT_MAX_TOKENS = 512


def max_tokens_for(item: PromptItem, default: int | None) -> int:
    """An item's own max_tokens wins over the run's default (512 when neither is given)."""
    return item.max_tokens or default or DEFAULT_MAX_TOKENS


def count_prompts(prompts: PromptSet, kind: str) -> dict[str, int]:
    """Prompt tokens (chat template included) of every item, by item id, for one tokenizer kind."""
    counter = TokenCounter(kind)
    return {item.id: counter.count_chat(item.messages) for item in prompts}


def turn_prompt_tokens(item: PromptItem, counter: TokenCounter, answer_tokens: Callable[[int], float]) -> list[int]:
    """Prompt tokens of each turn of a conversation (turn k: the history resent with answers 1..k-1, then turn k's message).

    ``answer_tokens(j)``: the length assumed for the answer to turn j (``max_tokens`` for the worst case). The
    template and the messages are counted exactly, with each earlier answer empty; the answers' lengths are added.
    """
    history: list[dict[str, Any]] = [dict(m) for m in item.messages[:-1]]  # the system message, if any
    out, answers = [], 0.0
    for k, text in enumerate(item.turns, start=1):
        history.append({"role": "user", "content": text})
        out.append(counter.count_chat(history) + round(answers))
        history.append({"role": "assistant", "content": ""})
        answers += answer_tokens(k)
    return out


def previous_outputs(run_dir: str | Path | None) -> dict[tuple[str | None, str], float]:
    """Mean completion tokens per (model, prompt id) in a previous run: the 'expected' output length."""
    if run_dir is None:
        return {}
    sums: dict[tuple[str | None, str], list[int]] = {}
    for row in final_rows(read_rows(run_dir)).values():
        usage = row.get("usage")
        if usage and row["status"] in ANSWERED:
            sums.setdefault((row.get("model"), row["prompt_id"]), []).append(usage["completion_tokens"])
    return {key: sum(v) / len(v) for key, v in sums.items()}


@dataclass(frozen=True, slots=True)
class RunEstimate:
    """What a run will send one deployment, cost and take, worked out before any request.

    The worst case prices every answer at ``max_tokens``; the expected case, when a previous run of
    the same prompts exists, at what that model wrote then. ``worst_case_usd`` is None when tokens
    are not billed (managed compute, self-hosted: ``billed_by_hour``) or no price is known
    (``price_note`` says which). The manifest stores ``to_json()``; ``from_json`` reads it back,
    also from runs written before this record existed.
    """

    model: str | None
    kind: str
    requests: int
    prompt_tokens: int
    prompt_tokens_exact: bool  # False: counted with a stand-in tokenizer (Llama 2)
    max_output_tokens: int
    expected_output_tokens: int | None
    worst_case_usd: Decimal | None
    expected_usd: Decimal | None
    price_note: str
    price_effective: str | None
    quota_minutes: float | None  # how long the deployment's quota makes the run take at the least
    quota_binding: str | None  # "requests/min" or "tokens/min": the limit that sets quota_minutes
    expected_prompt_tokens: int | None = None  # conversations: the history with the previous run's answers (None: as prompt_tokens)

    @property
    def billed_by_hour(self) -> bool:
        return self.kind in FIXED_KINDS

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in data.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunEstimate:
        note = data.get("price_note") or ""
        kind = data.get("kind") or (MANAGED if note.startswith("managed") else SELF_HOSTED if note.startswith("self-hosted") else SERVERLESS)
        return cls(
            model=data.get("model"),
            kind=kind,
            requests=int(data.get("requests") or 0),
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            prompt_tokens_exact=bool(data.get("prompt_tokens_exact", True)),
            max_output_tokens=int(data.get("max_output_tokens") or 0),
            expected_output_tokens=data.get("expected_output_tokens"),
            worst_case_usd=_decimal(data.get("worst_case_usd")),
            expected_usd=_decimal(data.get("expected_usd")),
            price_note=note,
            price_effective=data.get("price_effective"),
            quota_minutes=data.get("quota_minutes"),
            quota_binding=data.get("quota_binding"),
            expected_prompt_tokens=data.get("expected_prompt_tokens"),
        )


def estimate_run(
    deployments: Sequence[Deployment],
    prompts: PromptSet,
    prices: PriceBook,
    *,
    repeats: int = 1,
    max_tokens: int | None = None,
    choices: int = 1,
    catalog: Catalog | None = None,
    previous_run: str | Path | None = None,
    counts: dict[str, dict[str, int]] | None = None,
) -> dict[str, RunEstimate]:
    """A ``RunEstimate`` per deployment name: requests, prompt tokens, expected and worst-case output and cost, quota time.

    ``counts`` (tokenizer kind -> item id -> prompt tokens) is filled as a side effect, so a caller
    that goes on to run the prompts does not count them twice.
    """
    catalog = catalog or load_catalog()
    counts = counts if counts is not None else {}
    previous = previous_outputs(previous_run)
    out = {}
    for d in deployments:
        model = d.catalog_model(catalog)
        counter = counter_for(model.family if model else None)
        if counter.kind not in counts:
            counts[counter.kind] = count_prompts(prompts, counter.kind)
        per_item = counts[counter.kind]
        price = price_for(prices, d.model, d.kind)
        requests, worst_prompt, worst_output, expected_prompt, expected = _per_set(prompts, counter, per_item, previous, d.model, max_tokens)
        prompt_tokens = worst_prompt * repeats
        worst_output *= repeats * choices
        expected_output = round(expected * repeats * choices) if expected is not None else None
        expected_prompt_tokens = expected_prompt * repeats if expected is not None else None
        requests *= repeats
        quota = d.effective_quota(catalog)
        minutes_by_rpm = requests / quota.rpm if quota and quota.rpm else None
        minutes_by_tpm = (prompt_tokens + worst_output) / quota.tpm if quota and quota.tpm else None
        binding = None
        if minutes_by_rpm is not None or minutes_by_tpm is not None:
            binding = "tokens/min" if (minutes_by_tpm or 0) > (minutes_by_rpm or 0) else "requests/min"
        out[d.name] = RunEstimate(
            model=d.model,
            kind=d.kind,
            requests=requests,
            prompt_tokens=prompt_tokens,
            prompt_tokens_exact=counter.exact,
            max_output_tokens=worst_output,
            expected_output_tokens=expected_output,
            worst_case_usd=price.cost(prompt_tokens, worst_output),
            expected_usd=price.cost(expected_prompt_tokens or prompt_tokens, expected_output) if expected_output is not None else None,
            price_note=price.reason,
            price_effective=str(price.price.effective_date) if price.price else None,
            quota_minutes=max(m for m in (minutes_by_rpm, minutes_by_tpm) if m is not None) if binding else None,
            quota_binding=binding,
            expected_prompt_tokens=expected_prompt_tokens if expected_prompt_tokens != prompt_tokens else None,
        )
    return out


def _per_set(prompts: PromptSet, counter: TokenCounter, per_item: Mapping[str, int], previous: Mapping[tuple[str | None, str], float],
             model: str | None, max_tokens: int | None) -> tuple[int, int, int, int, float | None]:  # fmt: skip
    """One pass of the set: (requests, worst prompt tokens, worst output tokens, expected prompt tokens, expected output or None)."""
    worst_prompt = expected_prompt = worst_output = 0
    expected: float | None = 0.0 if previous else None
    requests = 0
    for item in prompts:
        cap = max_tokens_for(item, max_tokens)
        if item.turns:  # every turn is a request, its history grown by the earlier answers
            requests += len(item.turns)
            worst_prompt += sum(turn_prompt_tokens(item, counter, lambda k, cap=cap: cap))
            worst_output += cap * len(item.turns)
            seen = [previous.get((model, turn_id(item.id, k))) for k in range(1, len(item.turns) + 1)]
            if expected is not None and all(v is not None for v in seen):
                said = [min(float(v), cap) for v in seen]  # type: ignore[arg-type]
                expected += sum(said)
                expected_prompt += sum(turn_prompt_tokens(item, counter, lambda k, said=said: said[k - 1]))
            else:
                expected = None
            continue
        requests += 1
        worst_prompt += per_item[item.id]
        expected_prompt += per_item[item.id]
        worst_output += cap
        seen_one = previous.get((model, item.id))
        expected = expected + min(seen_one, cap) if expected is not None and seen_one is not None else None
    return requests, worst_prompt, worst_output, expected_prompt, expected


def _decimal(value: Any) -> Decimal | None:
    return Decimal(value) if value not in (None, "") else None
