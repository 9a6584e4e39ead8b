"""Synthetic prompts of exact token lengths, counted with the model's own tokenizer.

``filler(counter, n, rng)`` is text of exactly ``n`` tokens: common English words that each encode
to one token, alone and after a space, so that joining them never merges two into one (checked:
the text is counted again and corrected). ``chat_of_tokens(counter, n, rng)`` is a one-message chat whose
*prompt tokens* (chat template included, what the endpoint bills) are exactly ``n``, optionally
after a ``prefix`` shared with other requests (a system prompt or RAG preamble). ``write_items``
writes prompt-set lines atomically. Seeded: the same seed gives the same text.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_eval.catalog.tokens import TokenCounter
from llama_eval.errors import WorkloadError

from .prompt_set import RECIPE_MARK  # the set's first line: load_prompt_set reads it back as PromptSet.recipe

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


def write_items(items: Iterable[Mapping[str, Any]], output: str | Path, *, header: str | None = None, empty_error: Exception | None = None) -> int:
    """Prompt-set lines written to ``output`` atomically (a temporary file renamed into place); returns the count.

    ``header``: a first line starting ``//`` (a comment to ``load_prompt_set``), e.g. the synth recipe.
    ``empty_error``: raised when there were no items, before anything replaces ``output``. On any error
    nothing (not half a file) is left.
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            if header is not None:
                out.write(header + "\n")
            for item in items:
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
                count += 1
        if count == 0 and empty_error is not None:
            raise empty_error
        os.replace(tmp_name, output)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return count


def items_for_lengths(
    lengths: Iterable[tuple[int, int]], counter: TokenCounter, *, seed: int = 0, drawn_from: Iterable[Any] | None = None,
    labels: Iterable[Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Prompt-set lines, one per (input tokens, output tokens): each asks for its output length as ``max_tokens``,
    with ``metadata.ignore_eos`` so that the answer runs to it (``run.plan.request_params``).

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
        meta |= {"input_tokens": inputs, "output_tokens": outputs, "ignore_eos": True}
        lines.append({"id": f"r{index:06d}", "messages": messages, "max_tokens": outputs, "metadata": meta})
    return lines


# --------------------------------------------------------------------------- length distributions and synthetic sets

DISTRIBUTIONS = ("fixed", "uniform", "normal", "lognormal", "hist")


@dataclass(frozen=True)
class LengthDistribution:
    """A distribution of token lengths, from text as ``--input``/``--output`` take it.

    ``fixed:N`` (or just ``N``), ``uniform:LO:HI`` (whole numbers, both ends included),
    ``normal:MEAN:STD``, ``lognormal:MEDIAN:SIGMA`` (SIGMA of the log), or an empirical histogram:
    ``hist:100=5,200=3,400-800=2`` (a value or a range LO-HI, then its weight; a range is drawn
    uniformly) or ``hist:FILE.csv`` (columns ``tokens`` — a value or LO-HI — and ``weight`` or
    ``count``). Draws are whole numbers >= ``minimum``; a normal or lognormal draw below it is drawn
    again (truncation), so the shape above the minimum is the one asked for.
    """

    kind: str
    params: tuple[float, ...] = ()
    bins: tuple[tuple[int, int, float], ...] = ()  # hist: (lo, hi, weight)
    text: str = ""

    @classmethod
    def parse(cls, text: str, *, flag: str = "--input") -> LengthDistribution:
        raw = str(text).strip()
        kind, _, rest = raw.partition(":") if ":" in raw else ("fixed", "", raw)
        kind = kind.lower()
        example = {"fixed": "fixed:200", "uniform": "uniform:100:400", "normal": "normal:300:50", "lognormal": "lognormal:300:0.6",
                   "hist": "hist:100=5,200=3,400-800=2"}  # fmt: skip
        if kind not in DISTRIBUTIONS:
            raise WorkloadError(f"{flag} {raw!r}: unknown distribution {kind!r}; write one of {', '.join(example.values())} or hist:FILE.csv")
        if kind == "hist":
            return cls(kind, (), _hist_bins(rest, flag, raw), raw)
        try:
            numbers = tuple(float(p) for p in rest.split(":"))
        except ValueError:
            raise WorkloadError(f"{flag} {raw!r}: the parameters must be numbers, e.g. {example[kind]}") from None
        arity = {"fixed": 1, "uniform": 2, "normal": 2, "lognormal": 2}[kind]
        if len(numbers) != arity:
            raise WorkloadError(f"{flag} {raw!r}: {kind} takes {arity} number{'s' if arity > 1 else ''}, e.g. {example[kind]}")
        if any(not math.isfinite(n) or n <= 0 for n in numbers) or (kind == "uniform" and numbers[1] < numbers[0]):
            raise WorkloadError(f"{flag} {raw!r}: the parameters must be > 0{' and LO <= HI' if kind == 'uniform' else ''}, e.g. {example[kind]}")
        if kind in ("fixed", "uniform") and not all(n.is_integer() for n in numbers):
            raise WorkloadError(f"{flag} {raw!r}: token counts are whole numbers, e.g. {example[kind]}")
        return cls(kind, numbers, (), raw)

    def draw(self, rng: random.Random, minimum: int = 1) -> int:
        """One whole-number length >= ``minimum`` (truncated: out-of-range draws are drawn again)."""
        for _ in range(10_000):
            value = self._draw(rng)
            if value >= minimum:
                return value
        raise WorkloadError(f"{self.text!r} almost never gives a length >= {minimum} tokens (the least a request can hold); raise it")

    def _draw(self, rng: random.Random) -> int:
        p = self.params
        if self.kind == "fixed":
            return int(p[0])
        if self.kind == "uniform":
            return rng.randint(int(p[0]), int(p[1]))
        if self.kind == "normal":
            return round(rng.gauss(p[0], p[1]))
        if self.kind == "lognormal":
            return round(rng.lognormvariate(math.log(p[0]), p[1]))
        lo, hi, _ = rng.choices(self.bins, weights=[b[2] for b in self.bins])[0]
        return rng.randint(lo, hi)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"distribution": self.kind, "text": self.text}
        if self.params:
            out["params"] = list(self.params)
        if self.bins:
            out["bins"] = [list(b) for b in self.bins]
        return out


def _hist_bins(rest: str, flag: str, raw: str) -> tuple[tuple[int, int, float], ...]:
    entries: list[tuple[str, str, str]] = []  # (tokens, weight, where)
    path = Path(rest)
    if "=" not in rest and rest.lower().endswith(".csv"):
        if not path.is_file():
            raise WorkloadError(f"{flag} {raw!r}: histogram file not found: {path}")
        rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
        header = [h.strip().lower() for h in (rows[0].keys() if rows else [])]
        weight_col = "weight" if "weight" in header else "count" if "count" in header else None
        if "tokens" not in header or weight_col is None:
            raise WorkloadError(f"{path} line 1: a histogram needs columns 'tokens' and 'weight' (or 'count'); it has {', '.join(header) or 'none'}")
        for line_no, row in enumerate(rows, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            entries.append((row["tokens"], row[weight_col], f"{path} line {line_no}"))
    else:
        for i, part in enumerate(p for p in rest.split(",") if p.strip()):
            tokens, _, weight = part.partition("=")
            entries.append((tokens.strip(), weight.strip(), f"{flag} {raw!r} entry {i + 1}"))
    bins = []
    for tokens, weight, where in entries:
        lo_text, _, hi_text = tokens.partition("-")
        try:
            lo, hi, w = int(lo_text), int(hi_text or lo_text), float(weight)
        except ValueError:
            raise WorkloadError(f"{where}: write TOKENS=WEIGHT or LO-HI=WEIGHT with whole token counts, e.g. 400-800=2; got {tokens!r}={weight!r}") from None
        if lo < 1 or hi < lo or not math.isfinite(w) or w < 0:
            raise WorkloadError(f"{where}: token counts must be >= 1 (LO <= HI) and the weight >= 0")
        bins.append((lo, hi, w))
    if not bins or sum(b[2] for b in bins) <= 0:
        raise WorkloadError(f"{flag} {raw!r}: the histogram is empty (no bin with a weight > 0)")
    return tuple(bins)


@dataclass(frozen=True)
class SynthRecipe:
    """What ``synth`` makes: ``count`` requests of input and output lengths drawn from two distributions.

    ``input`` is the whole prompt (chat template and any shared prefix included, what the endpoint
    bills); ``prefix_tokens`` > 0 gives ``prefix_share`` of the requests a shared system prompt of that
    many tokens, one of ``prefix_groups`` distinct prefixes (requests are dealt to the groups evenly).
    """

    count: int
    input: LengthDistribution
    output: LengthDistribution
    prefix_tokens: int = 0
    prefix_share: float = 0.0
    prefix_groups: int = 1
    seed: int = 0
    tokenizer: str = "llama3"

    def check(self) -> None:
        if self.count < 1:
            raise WorkloadError(f"--count must be >= 1, got {self.count}")
        if self.prefix_tokens < 0 or not 0.0 <= self.prefix_share <= 1.0 or self.prefix_groups < 1:
            raise WorkloadError("--prefix-tokens must be >= 0, --prefix-share between 0 and 1, --prefix-groups >= 1")
        if self.prefix_share > 0 and self.prefix_tokens == 0:
            raise WorkloadError("--prefix-share needs --prefix-tokens N (the length of the shared prefix)")

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "input": self.input.to_json(), "output": self.output.to_json(), "prefix_tokens": self.prefix_tokens,
                "prefix_share": self.prefix_share, "prefix_groups": self.prefix_groups, "seed": self.seed, "tokenizer": self.tokenizer}  # fmt: skip


def synth_items(recipe: SynthRecipe, counter: TokenCounter) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The prompt-set lines of ``recipe``, and what happened (``raised``: inputs below the least a request can hold, raised to it).

    Every line's messages count exactly its drawn input length with ``counter`` (the model's tokenizer),
    asks for its drawn output length as ``max_tokens`` and marks ``metadata.ignore_eos`` so the answer
    runs to it; ``metadata`` also holds the drawn lengths and the prefix group (None: no prefix).
    """
    recipe.check()
    rng = random.Random(f"synth-set:{recipe.seed}")
    groups = range(recipe.prefix_groups) if recipe.prefix_tokens else range(0)
    prefixes = [filler(counter, recipe.prefix_tokens, random.Random(f"prefix:{recipe.seed}:{g}")) for g in groups]
    with_prefix = set(rng.sample(range(recipe.count), round(recipe.prefix_share * recipe.count))) if prefixes else set()
    bare_min, prefix_min = chat_overhead(counter) + 1, (chat_overhead(counter, prefixes[0]) + 1 if prefixes else 0)
    lines, raised, dealt = [], 0, 0
    for index in range(recipe.count):
        group = dealt % len(prefixes) if index in with_prefix else None
        if group is not None:
            dealt += 1
        least = prefix_min if group is not None else bare_min
        inputs = recipe.input.draw(rng)
        if inputs < least:
            inputs, raised = least, raised + 1
        outputs = recipe.output.draw(rng)
        messages = chat_of_tokens(counter, inputs, rng, prefix=prefixes[group] if group is not None else None)
        meta = {"input_tokens": inputs, "output_tokens": outputs, "prefix_group": group, "ignore_eos": True}
        lines.append({"id": f"s{index:06d}", "messages": messages, "max_tokens": outputs, "metadata": meta})
    return lines, {"raised_to_minimum": raised, "requests_with_prefix": len(with_prefix)}


def write_synth_set(recipe: SynthRecipe, counter: TokenCounter, output: str | Path) -> dict[str, Any]:
    """Write the set of ``recipe`` to ``output`` (its first line the recipe); returns the recipe as recorded."""
    lines, made = synth_items(recipe, counter)
    recorded = recipe.to_json() | made
    header = RECIPE_MARK + json.dumps(recorded, sort_keys=True)
    write_items(lines, output, header=header)
    return recorded
