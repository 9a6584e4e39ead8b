"""Synthetic prompts of exact token lengths, counted with the model's own tokenizer.

``filler(counter, n, rng)`` is text of exactly ``n`` tokens: common English words that each encode
to one token, alone and after a space, so that joining them never merges two into one (checked:
the text is counted again and corrected). ``chat_of_tokens(counter, n, rng)`` is a one-message chat whose
*prompt tokens* (chat template included, what the endpoint bills) are exactly ``n``, optionally
after a ``prefix`` shared with other requests (a system prompt or RAG preamble). ``write_items``
writes prompt-set lines atomically. Seeded: the same seed gives the same text.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from llama_eval.catalog.tokens import TokenCounter
from llama_eval.errors import WorkloadError

# common words; ``_single_token_words`` keeps those that are one token (with a leading space) for a tokenizer
_VOCABULARY = (
    "the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she "
    "there one all we their can has more when will would so no if out up them what some into time only about than other then its "
    "over also new two may these any first like now very after just way most people many such where well back much before through "
    "year water long day down little work good world life house part place case point group number hand small large state city "
    "river stone light music field table paper market garden window story letter teacher doctor family money plant road station "
    "morning evening summer winter travel village mountain island forest animal bird horse green blue red white black open close "
    "early late quick slow simple clear strong bright quiet north south east west bridge castle harbor valley ocean desert"
).split()


def _single_token_words(counter: TokenCounter) -> tuple[str, ...]:
    words = tuple(w for w in _VOCABULARY if len(counter.encode(" " + w)) == 1 and len(counter.encode(w)) == 1)
    if len(words) < 20:
        raise WorkloadError(f"the {counter.kind} tokenizer splits the synthetic vocabulary; cannot make prompts of exact lengths")
    return words


_WORDS: dict[str, tuple[str, ...]] = {}


def _words(counter: TokenCounter) -> tuple[str, ...]:
    if counter.kind not in _WORDS:
        _WORDS[counter.kind] = _single_token_words(counter)
    return _WORDS[counter.kind]


def filler(counter: TokenCounter, tokens: int, rng: random.Random) -> str:
    """Text of exactly ``tokens`` tokens (``counter.count``) of random common words; "" for 0."""
    if tokens <= 0:
        return ""
    words = _words(counter)
    if not counter.exact:  # an estimated count (Llama 2: ceil(ids / 0.85)): aim the ids at the estimate, which is all there is to hit
        return " ".join(rng.choice(words) for _ in range(max(1, math.floor(tokens * 0.85))))
    text = " ".join(rng.choice(words) for _ in range(tokens))
    # each word is one token, alone or after a space. Verify, trimming or padding if a merge happened anyway
    for _ in range(8):
        have = counter.count(text)
        if have == tokens:
            return text
        if have > tokens:
            ids = counter.encode(text)[:tokens]
            text = b"".join(counter.decode_piece(i) for i in ids).decode("utf-8", errors="ignore")
        else:
            text += " " + " ".join(rng.choice(words) for _ in range(tokens - have))
    raise WorkloadError(f"could not make text of exactly {tokens} tokens with the {counter.kind} tokenizer")


def chat_overhead(counter: TokenCounter, system: str | None = None) -> int:
    """Prompt tokens of a chat whose user message is empty: the template's share (and the system prompt's)."""
    return counter.count_chat(_messages("", system))


def _messages(user: str, system: str | None) -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system is not None else []) + [{"role": "user", "content": user}]


def chat_of_tokens(counter: TokenCounter, prompt_tokens: int, rng: random.Random, *, prefix: str | None = None) -> list[dict[str, str]]:
    """A chat of exactly ``prompt_tokens`` prompt tokens (template included), the shared ``prefix`` as its system message.

    Raises WorkloadError when ``prompt_tokens`` is smaller than the template (and prefix) alone.
    """
    overhead = chat_overhead(counter, prefix)
    body = prompt_tokens - overhead
    if body < 1:
        raise WorkloadError(
            f"{prompt_tokens} prompt tokens is too short: the chat template{' and the shared prefix' if prefix else ''} alone take "
            f"{overhead} with the {counter.kind} tokenizer; ask for at least {overhead + 1}"
        )
    messages = _messages(filler(counter, body, rng), prefix)
    have = counter.count_chat(messages)
    if have != prompt_tokens and counter.exact:
        raise WorkloadError(f"could not make a chat of exactly {prompt_tokens} prompt tokens with the {counter.kind} tokenizer (got {have})")
    return messages


def write_items(items: Iterable[Mapping[str, Any]], output: str | Path) -> int:
    """Prompt-set lines written to ``output`` atomically (a temporary file renamed into place); returns the count."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for item in items:
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp_name, output)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return count


def items_for_lengths(
    lengths: Iterable[tuple[int, int]], counter: TokenCounter, *, seed: int = 0, drawn_from: Iterable[Any] | None = None,
    labels: Iterable[Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Prompt-set lines, one per (input tokens, output tokens): each asks for exactly its output length as ``max_tokens``.

    Without ``drawn_from`` the messages are synthesized to exactly the input length (``chat_of_tokens``);
    with it (the items of a prompt set), each line takes the item whose prompt-token count is nearest
    its input length (the first such item), and records that item's id and true length in ``metadata``.
    ``labels``: per line, extra ``metadata`` (a trace's line and conversation id).
    """
    rng = random.Random(f"synth:{seed}")
    pool = None
    if drawn_from is not None:
        pool = sorted(((counter.count_chat(item.messages), item) for item in drawn_from), key=lambda pair: pair[0])
        if not pool:
            raise WorkloadError("the prompt set to draw from is empty")
    extra = iter(labels) if labels is not None else None
    lines = []
    for index, (inputs, outputs) in enumerate(lengths):
        meta: dict[str, Any] = dict(next(extra)) if extra is not None else {}
        if pool is None:
            messages = chat_of_tokens(counter, inputs, rng)
        else:
            tokens, item = min(pool, key=lambda pair: abs(pair[0] - inputs))
            messages = [dict(m) for m in item.messages]
            meta |= {"drawn_from": item.id, "drawn_prompt_tokens": tokens}
        lines.append({"id": f"r{index:06d}", "messages": messages, "max_tokens": outputs, "metadata": meta | {"input_tokens": inputs}})
    return lines
