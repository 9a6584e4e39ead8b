"""Simulated model text: deterministic, plausible, and honest about being simulated.

Same (model, seed, prompt, choice) -> same text. Temperature 0 or a fixed ``seed`` make answers
repeatable; any other temperature without a seed varies them per request, as sampling does, and
reproducibly: the k-th request of a prompt to a deployment gets the k-th sample
(``Simulator.sample_number``), so the same requests to an emulator started with the same ``seed`` get
the same answers whatever order they arrive in.

When the prompt is an item the emulator knows (a prompt set given at start, or taught at run time
with ``POST /emulator/prompts``), the emulated model answers correctly with probability
``benchmark_accuracy`` of its catalog entry (a published benchmark score) and plausibly wrong
otherwise — so quality reports built on the emulator show realistic differences between models
without any model running. A correct answer is shaped for the item's own scorer and checked with it
(one word for a one-word question, the letter for a choice, the number for a numeric item, bullets
for a bullet rule), so "correct" really scores as correct. Prompts it does not know get a plausible
answer of the shape the question asks for (a number, a letter, one word, prose).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import math
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llama_eval.catalog.models import CatalogModel
from llama_eval.catalog.tokens import LLAMA2_FACTOR, TokenCounter
from llama_eval.prompts.prompt_set import PromptItem, prompt_key
from llama_eval.quality.judge import JUDGE_MARKER
from llama_eval.quality.registry import score
from llama_eval.quality.scorers import ScorerError

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
_OPENERS = ("Sure.", "Here is a short answer.", "Good question.", "In short:")
_NUMBER = re.compile(r"^-?\d[\d,]*(\.\d+)?$")
_LETTER = re.compile(r"^\(?([A-Ea-e])\)?$")
_WORDS = ("blue", "circle", "Paris", "seven", "oxygen", "Tuesday", "copper", "north", "yes", "apple")
_TIPS = ("Keep it short.", "Put the request first.", "Use a clear subject line.", "Proofread before sending.", "End with the next step.")
# Question shapes a reader would recognise, for prompts the emulator has no reference for.
_ASKS_ONE_WORD = re.compile(r"\b(one|single|a) word\b", re.IGNORECASE)
# Only an explicit request for a number (or a sum to work out): "How many languages are there?" gets prose, as a model would answer.
_ASKS_NUMBER = re.compile(
    r"(number only|just the number|with (a|the) number|\bcompute\b|\bcalculate\b|\d+\s*(?:[-+*/×]|plus|minus|times)\s*\d+)", re.IGNORECASE
)
_ASKS_CHOICE = re.compile(r"(^|\n)\s*\(?[A-D][).:]\s", re.MULTILINE)
_NUMBER_ONLY = re.compile(r"(number only|just the number|only the number)", re.IGNORECASE)
_ASKS_JSON = re.compile(r"\bjson\b", re.IGNORECASE)


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


@dataclass(frozen=True)
class Known:
    """What the emulator knows about a prompt: its reference, and the scorer that will grade the answer."""

    reference: str | None
    scorer: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    raw_reference: Any = None


def answer_text(reference: str, correct: bool, rng: random.Random, distractors: list[str], known: Known | None = None) -> str:
    """An answer with the reference (correct) or a plausible wrong one, shaped for the item's scorer.

    A correct answer is checked with the item's own scorer; the first shape that scores 1 is used,
    so a one-word question gets one word and a ``normalized`` scorer is not failed by a preamble.
    """
    known = known or Known(reference)
    if correct:
        for candidate in _correct_candidates(reference, known, rng):
            if _passes(candidate, known):
                return candidate
        return reference.strip()
    return _wrong_answer(reference, rng, distractors, known)


def _passes(answer: str, known: Known) -> bool:
    if known.scorer is None:
        return True
    try:
        result = score(known.scorer, answer, known.raw_reference if known.raw_reference is not None else known.reference, **dict(known.options))
    except (ScorerError, TypeError, ValueError):
        return False
    return result.value is not None and result.value >= 0.999


def _correct_candidates(reference: str, known: Known, rng: random.Random) -> list[str]:
    ref = reference.strip()
    letter = _LETTER.match(ref)
    if known.scorer in ("exact", "normalized", "json", "regex") or ref.startswith(("{", "[")):
        return [ref, f"{ref}."]
    if _NUMBER.match(ref):
        return [f"{rng.choice(_OPENERS)} The answer is {ref}.", ref]
    if letter:
        return [f"The answer is ({letter.group(1).upper()}).", letter.group(1).upper()]
    if len(ref.split()) <= 3:  # a word or a name: say it plainly, as a model asked for one word does
        return [ref, f"{ref}.", f"The answer is {ref}."]
    return [ref, f"{rng.choice(_OPENERS)} {ref}"]


def _wrong_answer(reference: str, rng: random.Random, distractors: list[str], known: Known) -> str:
    ref = reference.strip()
    if _NUMBER.match(ref):
        return f"The answer is {_wrong_number(ref, rng)}."
    letter = _LETTER.match(ref)
    if letter:
        return f"The answer is ({rng.choice([c for c in 'ABCD' if c != letter.group(1).upper()])})."
    if ref.startswith(("{", "[")):
        return ref[: max(1, len(ref) // 2)]  # cut off: invalid JSON
    others = [d for d in distractors if d != reference and not d.strip().startswith(("{", "["))]
    if len(ref.split()) <= 3:
        words = [d for d in others if len(d.split()) <= 3] or [w for w in _WORDS if w.lower() != ref.lower()]
        return rng.choice(words)
    return rng.choice(others) if others else "I am not sure; it depends on details the question does not give."


def constrained_answer(rules: Mapping[str, Any], correct: bool, rng: random.Random) -> str:
    """Prose meeting (correct) or breaking (not correct) ``constraints`` rules: bullets, length, commas, case..."""
    if rules.get("json"):
        text = json.dumps({"answer": "ok", "items": [1, 2, 3]})
    elif rules.get("bullets"):
        text = "\n".join(f"- {t}" for t in rng.sample(_TIPS, k=min(int(rules["bullets"]), len(_TIPS))))
    else:
        words = int(rules.get("max_words") or 40)
        text = " ".join(s.replace(",", "") for s in rng.sample(_SENTENCES, k=len(_SENTENCES)))
        text = " ".join(text.split()[: max(int(rules.get("min_words") or 1), min(words, 30))])
        text = text.rstrip(".") + "."
    if rules.get("starts_with"):
        text = f"{rules['starts_with']} {text}"
    if rules.get("contains_all"):
        text += " " + " ".join(str(w) for w in rules["contains_all"])
    if rules.get("ends_with"):
        text = f"{text.rstrip()} {rules['ends_with']}"
    if rules.get("lowercase"):
        text = text.lower()
    if rules.get("max_chars"):
        text = text[: int(rules["max_chars"])]
    if not correct:
        text = "Sure, here you go, with some extra words, commas, and a preamble nobody asked for. " + filler(rng, 4) + " " + text.upper()
    return text


def asks_for_checkable_answer(prompt: str) -> bool:
    """True when the question asks for an answer a scorer would check (a letter, one word, JSON, a number)."""
    return any(p.search(prompt) for p in (_ASKS_CHOICE, _ASKS_ONE_WORD, _ASKS_JSON, _ASKS_NUMBER))


def plausible_answer(prompt: str, rng: random.Random) -> str:
    """An answer of the shape an unknown question asks for (a number, a letter, one word, JSON or prose): plausible, not known to be right."""
    if _ASKS_CHOICE.search(prompt):
        return f"The answer is ({rng.choice('ABCD')})."
    if _ASKS_ONE_WORD.search(prompt):
        return rng.choice(_WORDS)
    if _ASKS_JSON.search(prompt):
        return json.dumps({"answer": rng.choice(_WORDS).lower()})
    if _ASKS_NUMBER.search(prompt):
        if _NUMBER_ONLY.search(prompt):
            return str(rng.randint(2, 99))
        return f"{filler(rng, 2)} The answer is {rng.randint(2, 99)}."  # working, then the number, as chat models answer
    return filler(rng, rng.randint(2, 6))


def is_judge_request(call: ChatCall) -> bool:
    system = next((m.get("content") for m in call.messages if m.get("role") == "system"), None)
    return (isinstance(system, str) and JUDGE_MARKER in system) or _azure_eval_judge_reply(call) is not None  # llama-eval's or azure-ai-evaluation's


def teachable(raw: Any) -> dict[str, Any]:
    """One item of ``POST /emulator/prompts`` as {messages, reference, scorer, scorer_options}; ValueError says what is wrong."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"each item must be an object, got {type(raw).__name__}")
    messages = raw.get("messages")
    if messages is None and isinstance(raw.get("prompt"), str):
        messages = ([{"role": "system", "content": raw["system"]}] if isinstance(raw.get("system"), str) else []) + [{"role": "user", "content": raw["prompt"]}]
    if not isinstance(messages, list) or not messages or not all(isinstance(m, Mapping) for m in messages):
        raise ValueError(f"item {raw.get('id', '?')!r}: needs 'messages' (a list of {{role, content}}) or 'prompt'")
    return {"messages": messages, "reference": raw.get("reference"), "scorer": raw.get("scorer"), "scorer_options": raw.get("scorer_options") or {}}


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

    def __init__(self, items: Iterable[PromptItem | Mapping[str, Any]] = (), seed: int = 0):
        self.seed = seed
        self._known: dict[str, Known] = {}
        self._distractors: list[str] = []
        self._warm: set[str] = set()  # scorers already run once (see learn)
        self._seen: dict[tuple[str, str], int] = {}  # (deployment, prompt) -> how many sampled answers it was given
        self.learn(items)

    def sample_number(self, deployment: str, call: ChatCall) -> str:
        """Which sample of this prompt this deployment is drawing: its 1st, 2nd, ... request with these messages.

        A sampled answer (temperature > 0, no ``seed``) varies from one request to the next, as sampling
        does, but by this count, not by chance: the same requests to an emulator with the same ``seed``
        get the same answers, in any order of arrival across prompts, so a seeded demo repeats itself.
        """
        key = (deployment, prompt_key(call.messages))
        number = self._seen.get(key, 0)
        self._seen[key] = number + 1
        return f"sample={number}"

    def learn(self, items: Iterable[PromptItem | Mapping[str, Any]]) -> int:
        """Remember each item's reference and scorer (a PromptItem, or a mapping with messages, reference, scorer, scorer_options)."""
        added = 0
        for item in items:
            if isinstance(item, Mapping):
                messages, reference = item.get("messages"), item.get("reference")
                name, options = item.get("scorer"), item.get("scorer_options") or {}
                if isinstance(name, Mapping):
                    name, options = name.get("name"), {k: v for k, v in name.items() if k != "name"}
            else:
                messages, reference, name, options = item.messages, item.reference, item.scorer, item.scorer_options
            if not messages or (reference is None and name is None):
                continue
            key = prompt_key(messages)
            if key not in self._known:
                added += 1
            known = self._known[key] = Known(_reference_text(reference), str(name) if name else None, dict(options or {}), reference)
            if known.scorer and known.scorer not in self._warm:
                # run each scorer once now: some import their library on first use (ROUGE-L loads rouge-score and nltk, 1-3 s),
                # which inside a request would stop the emulator's event loop, and every stream in flight with it
                self._warm.add(known.scorer)
                _passes(known.reference or "", known)
        self._distractors = sorted({k.reference for k in self._known.values() if k.reference is not None})
        return added

    def knows(self, messages: Any) -> bool:
        return prompt_key(messages) in self._known

    @property
    def known_prompts(self) -> int:
        return len(self._known)

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
        known = self._known.get(prompt_key(call.messages))
        if known is None:
            return plausible_answer(call.prompt_text(), rng)
        accuracy = model.benchmark_accuracy if model.benchmark_accuracy is not None else DEFAULT_ACCURACY
        correct = rng.random() < accuracy
        if known.reference is None:
            if known.scorer == "constraints":
                return constrained_answer(known.options, correct, rng)
            if known.scorer == "refusal":
                refuse = (known.options.get("expect", "refuse") == "refuse") == correct
                return "I'm sorry, but I can't help with that." if refuse else filler(rng, 3)
            return plausible_answer(call.prompt_text(), rng)
        return answer_text(known.reference, correct, rng, self._distractors, known)

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
