"""Simulated model text: deterministic, plausible, and honest about being simulated.

Same (model, seed, prompt, choice) -> same text. Temperature 0 or a fixed ``seed`` make answers
repeatable; any other temperature without a seed varies them per request, as sampling does.

When the prompt is an item of a loaded prompt set that has a ``reference``, the emulated model
answers correctly with probability ``benchmark_accuracy`` of its catalog entry (a published
benchmark score) and plausibly wrong otherwise — so quality reports built on the emulator show
realistic differences between models without any model running. Other prompts get fluent filler.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import math
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..catalog import CatalogModel
from ..prompts import PromptItem, prompt_key
from ..scoring.judge import JUDGE_MARKER
from ..tokens import LLAMA2_FACTOR, TokenCounter
from .protocol import ChatCall

DEFAULT_ACCURACY = 0.6

_SENTENCES = (
    "There are several ways to look at this question, and the right one depends on what you need.",
    "The short answer is that it varies with the context in which it is asked.",
    "A careful reading of the question suggests starting from the most common case.",
    "In practice, most teams begin with a small experiment and measure the result.",
    "It helps to state the assumptions first, because they change the conclusion.",
    "Historically, estimates have ranged widely as better data became available.",
    "The main trade-off is between speed and accuracy, and both matter here.",
    "If you share more details, I can give a more specific recommendation.",
    "One useful rule of thumb is to compare the options on the same inputs.",
    "Experts generally agree on the broad picture, although the details are debated.",
    "The numbers change over time, so it is worth checking a recent source.",
    "A simple example makes the idea clearer than an abstract definition.",
    "Keep in mind that averages can hide large differences between cases.",
    "To summarise, the answer depends on scale, cost and the quality you need.",
    "Each step builds on the previous one, so the order matters.",
    "This is a common question, and the explanation is fairly straightforward.",
)
_OPENERS = ("Sure.", "Here is a short answer.", "Good question.", "Let me think about this.", "In short:")
_NUMBER = re.compile(r"^-?\d[\d,]*(\.\d+)?$")
_LETTER = re.compile(r"^\(?([A-Ea-e])\)?$")


def rng_for(*parts: Any) -> random.Random:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass
class Generation:
    """One choice: text, its token ids and streamed pieces, why it stopped, and optional logprobs."""

    text: str
    token_ids: list[int]
    pieces: list[str]
    finish_reason: str
    logprobs: list[dict[str, Any]] | None = None
    mean_logprob: float = 0.0
    completion_tokens: int = 0


def _reference_text(reference: Any) -> str | None:
    if reference is None:
        return None
    if isinstance(reference, list):
        return _reference_text(reference[0]) if reference else None
    if isinstance(reference, (dict, list)):
        return json.dumps(reference)
    return str(reference)


def _wrong_number(ref: str, rng: random.Random) -> str:
    value = float(ref.replace(",", ""))
    delta = rng.choice([1, 2, 3, 5, 10]) * rng.choice([-1, 1])
    wrong = value + delta if value.is_integer() else round(value * rng.choice([0.5, 1.5, 2.0]), 2)
    return str(int(wrong)) if float(wrong).is_integer() else str(wrong)


def answer_text(reference: str, correct: bool, rng: random.Random, distractors: list[str]) -> str:
    """A sentence that answers with the reference (correct) or with a plausible wrong answer."""
    if _NUMBER.match(reference.strip()):
        answer = reference.strip() if correct else _wrong_number(reference.strip(), rng)
        return f"{rng.choice(_OPENERS)} Working through the numbers step by step, the result is {answer}."
    letter = _LETTER.match(reference.strip())
    if letter:
        options = [c for c in "ABCD" if c != letter.group(1).upper()]
        answer = letter.group(1).upper() if correct else rng.choice(options)
        return f"The answer is ({answer})."
    if reference.strip().startswith(("{", "[")):
        if correct:
            return reference.strip()
        return reference.strip()[: max(1, len(reference.strip()) // 2)]  # cut off: invalid JSON
    if correct:
        return f"{rng.choice(_OPENERS)} {reference.strip()}"
    others = [d for d in distractors if d != reference]
    wrong = rng.choice(others) if others else "I am not sure; it depends on details the question does not give."
    return f"{rng.choice(_OPENERS)} {wrong}"


def _judge_reply(call: ChatCall) -> str | None:
    """Asked in llama-eval's judge format, the emulated model grades: 5 if the answer holds the reference, else 2.

    A simulated judge, deterministic, so the judge path can be exercised end to end with no model.
    """
    system = next((m.get("content") for m in call.messages if m.get("role") == "system"), None)
    if not isinstance(system, str) or JUDGE_MARKER not in system:
        return None
    user = next((m.get("content") for m in call.messages if m.get("role") == "user"), "")
    if not isinstance(user, str) or "\nReference:\n" not in user or "\nAnswer:\n" not in user:
        return "Score: 1\nReason: the request did not follow the judge format."
    reference = user.split("\nReference:\n", 1)[1].split("\n\nAnswer:\n", 1)[0].strip().lower()
    answer = user.split("\nAnswer:\n", 1)[1].strip().lower()
    if reference and reference != "(none)" and reference.split("\n")[0] in answer:
        return "Score: 5\nReason: the answer agrees with the reference."
    return "Score: 2\nReason: the answer does not match the reference."


# Inputs as the AI-assisted evaluators of Microsoft's azure-ai-evaluation SDK lay them out in their prompts.
_SDK_FIELDS = {
    "similarity": re.compile(r"question: (?P<query>.*?)\ncorrect answer:(?P<ground_truth>.*?)\npredicted answer: (?P<response>.*?)\n\nYour output", re.DOTALL),
    "relevance": re.compile(r"CONVERSATION_HISTORY: (?P<query>.*?)\nRESPONSE: (?P<response>.*?)\n\nCONVERSATION_HISTORY is", re.DOTALL),
    "coherence": re.compile(r"# Data\nQUERY: (?P<query>.*?)\nRESPONSE: (?P<response>.*?)\n+# Tasks", re.DOTALL),
    "fluency": re.compile(r"# Data\nRESPONSE: (?P<response>.*?)\n+# Tasks", re.DOTALL),
    "groundedness": re.compile(r"# Data\nCONTEXT: (?P<context>.*?)\n(?:QUERY: .*?\n)?RESPONSE: (?P<response>.*?)\n+# Tasks", re.DOTALL),
}


def _azure_eval_judge_reply(call: ChatCall) -> str | None:
    """Asked by an azure-ai-evaluation evaluator, the emulated judge answers its JSON format.

    Similarity grades like llama-eval's judge (5 if the answer holds the reference, else 2);
    groundedness 5 if most of the response's words are in the context, else 2; relevance,
    coherence and fluency give 4 to any non-empty response. An empty one is "skipped",
    as the SDK's prompts ask. Simulated, deterministic: it exercises the wiring, not a model's taste.
    """
    user = next((m.get("content") for m in reversed(call.messages) if m.get("role") == "user"), None)
    if not isinstance(user, str) or '"completed"' not in user or "score" not in user:
        return None
    for metric, pattern in _SDK_FIELDS.items():
        text = user[user.rfind("question: ") :] if metric == "similarity" else user  # the examples come first
        found = pattern.search(text)
        if not found:
            continue
        fields = {k: v.strip() for k, v in found.groupdict().items()}
        if not fields["response"]:
            return json.dumps({"reason": "The response is empty.", "score": None, "status": "skipped"})
        if metric == "similarity":
            truth = fields["ground_truth"].lower().split("\n")[0]
            grade = 5 if truth and truth in fields["response"].lower() else 2
        elif metric == "groundedness":  # most of the response's words appear in the context
            words = re.findall(r"\w{4,}", fields["response"].lower())
            grade = 5 if words and sum(w in fields["context"].lower() for w in words) * 2 >= len(words) else 2
        else:
            grade = 4
        return json.dumps({"reason": f"Let's think step by step: simulated {metric} judgment.", "score": grade, "status": "completed"})
    return None


def filler(rng: random.Random, sentences: int) -> str:
    """Fluent, content-free prose: a few sentences drawn without repetition."""
    return " ".join(rng.sample(_SENTENCES, k=min(sentences, len(_SENTENCES))))


class Simulator:
    """Generates the text of emulated completions, knowing the references of loaded prompt sets."""

    def __init__(self, items: Iterable[PromptItem] = (), seed: int = 0):
        self.seed = seed
        self._references: dict[str, str] = {}
        for item in items:
            ref = _reference_text(item.reference)
            if ref is not None:
                self._references[prompt_key(item.messages)] = ref
        self._distractors = sorted(set(self._references.values()))

    def _rng(self, model: CatalogModel, call: ChatCall, choice: int, nonce: str, purpose: str) -> random.Random:
        """Randomness that repeats exactly when the request asks for repeatable output."""
        greedy = call.temperature == 0  # greedy decoding: every choice is the same text
        variation = nonce if (call.seed is None and not greedy) else f"seed={call.seed}"
        return rng_for(self.seed, model.id, prompt_key(call.messages), variation, 0 if greedy else choice, purpose)

    def draft(self, model: CatalogModel, call: ChatCall, choice: int, nonce: str) -> str:
        """The text the model 'wants' to say, before max_tokens and stop sequences cut it."""
        rng = self._rng(model, call, choice, nonce, "text")
        judged = _judge_reply(call) or _azure_eval_judge_reply(call)
        if judged is not None:
            return judged
        reference = self._references.get(prompt_key(call.messages))
        if reference is not None:
            accuracy = model.benchmark_accuracy if model.benchmark_accuracy is not None else DEFAULT_ACCURACY
            return answer_text(reference, rng.random() < accuracy, rng, self._distractors)
        return filler(rng, rng.randint(2, 6))

    def generate(self, model: CatalogModel, call: ChatCall, counter: TokenCounter, choice: int, nonce: str, max_tokens: int) -> Generation:
        rng = self._rng(model, call, choice, nonce, "tokens")
        text = self.draft(model, call, choice, nonce)
        finish = "stop"
        if call.ignore_eos:
            while len(counter.encode(text)) < max_tokens:
                text += " " + filler(rng, 4)
        cut = min((text.find(s) for s in call.stop if s and s in text), default=-1)
        if cut >= 0:
            text = text[:cut]
        ids = counter.encode(text)
        if len(ids) > max_tokens or (call.ignore_eos and len(ids) >= max_tokens):
            ids = ids[:max_tokens]
            finish = "length"
        pieces = _pieces(ids, counter)
        text = "".join(pieces)
        generation = Generation(text=text, token_ids=ids, pieces=pieces, finish_reason=finish, completion_tokens=_billed(len(ids), counter))
        if call.logprobs is not None or call.best_of:
            generation.logprobs = _logprobs(pieces, call.logprobs or 0, rng, counter)
            generation.mean_logprob = sum(t["logprob"] for t in generation.logprobs) / max(1, len(generation.logprobs))
        return generation


def _billed(n_ids: int, counter: TokenCounter) -> int:
    """Completion tokens as the service would count them (Llama 2: estimated from the Llama 3 split)."""
    return n_ids if counter.exact else math.ceil(n_ids * LLAMA2_FACTOR)


def _pieces(ids: list[int], counter: TokenCounter) -> list[str]:
    """Decode token by token; a multi-byte character split across tokens lands on its last token."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pieces = [decoder.decode(counter.decode_piece(i)) for i in ids]
    tail = decoder.decode(b"", final=True)
    if tail and pieces:
        pieces[-1] += tail
    return pieces


def _logprobs(pieces: list[str], top: int, rng: random.Random, counter: TokenCounter) -> list[dict[str, Any]]:
    """OpenAI-style per-token logprobs: the sampled token, plus ``top`` alternatives when asked."""
    alternatives = [
        " the",
        " a",
        " and",
        ".",
        ",",
        " of",
        " to",
        " is",
        " it",
        " that",
        " in",
        " for",
        " answer",
        " result",
        " so",
        " we",
        " this",
        " on",
        " be",
        " as",
    ]
    out = []
    for piece in pieces:
        chosen = -abs(rng.gauss(0.0, 0.6))
        entry: dict[str, Any] = {"token": piece, "logprob": round(chosen, 4), "bytes": list(piece.encode()), "top_logprobs": []}
        if top:
            alts = [a for a in rng.sample(alternatives, k=min(len(alternatives), top + 1)) if a != piece][: top - 1]
            entry["top_logprobs"] = [{"token": piece, "logprob": entry["logprob"], "bytes": entry["bytes"]}] + [
                {"token": a, "logprob": round(chosen - abs(rng.gauss(1.5, 0.8)) - 0.01, 4), "bytes": list(a.encode())} for a in alts
            ]
        out.append(entry)
    return out
