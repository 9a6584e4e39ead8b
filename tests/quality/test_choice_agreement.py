"""The choice scorer on 42 answer styles a person reads without doubt x the 790 real TruthfulQA items.

Items come from the truthfulqa importer (two options, order by a seeded hash, option texts kept on
the item); each style states the intended letter X (or no choice at all) and may mention the other
option Y or quote the option texts. Scored both with the option texts (as imported) and with the
letter alone (no texts, letters A-D possible, as for a hand-written prompt set). Target: >= 97%.

The real CSV is read where the workspace has it (tests/_support/shared_data.py); the same checks run on
tests/data's hand-written TruthfulQA-shaped sample always, and the tests that need no data set
always run.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from _support import shared_data
from llama_eval.prompts.importers import import_set
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.quality import score
from llama_eval.quality.scorers import extract_choice

# style -> (template, intended): X the intended letter, Y the other one, TX/TY their option texts; intended None = no choice
STYLES = {
    "bare-letter": ("{X}", "X"),
    "lower-case-letter": ("{x}", "X"),
    "bracketed": ("({X})", "X"),
    "letter-period": ("{X}.", "X"),
    "bold-letter": ("**{X}**", "X"),
    "the-answer-is": ("The answer is {X}.", "X"),
    "answer-is-colon": ("The answer is: {X}", "X"),
    "answer-is-definitely": ("The answer is definitely {X}", "X"),
    "answer-is-with-text": ("The answer is ({X}) {TX}", "X"),
    "final-answer-bold": ("Let me think about this.\n\nFinal answer: **{X}**", "X"),
    "correct-option-is": ("The correct option is {X}.", "X"),
    "correct-answer-is-bracket": ("The correct answer is ({X}).", "X"),
    "i-think": ("I think {X}", "X"),
    "id-go-with": ("I'd go with {X}.", "X"),
    "tricky-then-go-with": ("The answer is a bit tricky, but I'd go with {X}.", "X"),
    "letter-then-explanation": ("{X}\n\nExplanation: ({Y}) is a popular belief, but {TX}", "X"),
    "letter-paren-text": ("{X}) {TX}", "X"),
    "both-plausible": ("Both (A) and (B) sound plausible, but ({X}) is correct.", "X"),
    "misconception-then-correct": ("({Y}) is a common misconception. ({X}) is the correct answer.", "X"),
    "answer-colon-lower": ("Answer: {x}", "X"),
    "option-text-only": ("{TX}", "X"),
    "quoted-option-text": ('I believe the true statement is "{TX}"', "X"),
    "option-is-correct": ("Option {X} is correct because {TX}", "X"),
    "wrong-then-right": ("{Y} is wrong. {X} is right.", "X"),
    "between-i-choose": ("Between A and B, I choose {X}.", "X"),
    "my-answer": ("My answer: {X}", "X"),
    "letter-dash-text": ("{X} — {TX}", "X"),
    "bold-letter-and-text": ("**({X}) {TX}**", "X"),
    "correct-choice-bold": ("The correct choice is **{X}**.", "X"),
    "answer-colon-bracket": ("Answer: ({X})", "X"),
    "hedged-probably": ("I'm not completely sure, but probably {X}.", "X"),
    "best-answer": ("{X} is the best answer here.", "X"),
    "markdown-heading": ("### Answer\n{X}", "X"),
    "boxed": ("$\\boxed{{{X}}}$", "X"),
    "answer-not-other": ("The answer is {X}, not {Y}.", "X"),
    "other-incorrect-so": ("{Y} is incorrect, so the answer is {X}.", "X"),
    "its-letter": ("It's {X}.", "X"),
    "self-correction": ("The answer is {Y}. Wait, actually {X}.", "X"),
    "negated-other": ("Not ({Y}), I would say. {X} it is.", "X"),
    "refusal": ("I'm sorry, but I can't help with that question.", None),
    "neither": ("Neither option is fully accurate; it depends on the context.", None),
    "pronoun-and-article": ("I am not sure a single answer exists here.", None),
}
NEEDS_TEXTS = {"option-text-only", "quoted-option-text"}


@pytest.fixture(scope="module", params=shared_data.SOURCES)
def items(request, tmp_path_factory):
    """The imported items of tests/data's sample, then of the real CSV (skipped where it is absent)."""
    out = tmp_path_factory.mktemp("tqa") / "tqa.jsonl"
    import_set("truthfulqa", shared_data.source(request.param, "truthfulqa.csv"), out)
    return list(load_prompt_set(out))


def _answers(items, with_texts: bool):
    for item in items:
        choices = dict(item.scorer_options["choices"])
        x = item.reference
        y = "B" if x == "A" else "A"
        for style, (template, intended) in STYLES.items():
            if style in NEEDS_TEXTS and not with_texts:
                continue
            text = template.format(X=x, x=x.lower(), Y=y, TX=choices[x], TY=choices[y])
            yield style, text, (x if intended else None), item.reference, (choices if with_texts else None)


@pytest.mark.parametrize("with_texts", [True, False], ids=["with-option-texts", "letters-only"])
def test_choice_scorer_reads_the_intended_option_in_97_percent_of_answer_styles(items, with_texts):
    right, total, wrong_examples = Counter(), Counter(), {}
    for style, text, intended, reference, choices in _answers(items, with_texts):
        total[style] += 1
        options = {"choices": choices} if choices else {}
        result = score("choice", text, reference, **options)
        if intended is None:
            ok = result.value == 0.0 and result.reason == "no choice found"
        else:
            ok = result.value == 1.0
        right[style] += ok
        if not ok:
            wrong_examples.setdefault(style, (text[:120], result.reason))
    overall = sum(right.values()) / sum(total.values())
    per_style = {s: round(right[s] / total[s], 4) for s in total}
    print(json.dumps({"overall": overall, "styles": len(total), "per_style": per_style, "wrong_examples": wrong_examples}, indent=1, ensure_ascii=False))
    assert len(total) >= 25
    assert overall >= 0.97, (overall, wrong_examples)
    assert min(per_style.values()) >= 0.9, (per_style, wrong_examples)


def test_no_bias_towards_a_from_the_article_or_towards_i_from_the_pronoun():
    letters = "ABCDEFGHIJ"
    for text in ["The answer is a bit tricky.", "I am sure it depends.", "A lot of people believe it, but I would not."]:
        assert extract_choice(text, letters) == (None, None), text
    assert extract_choice("The answer is a bit tricky, but I'd go with B.", letters)[0] == "B"


# Styles the README lists as not handled: each is read wrongly (or not at all), so the list stays true.
NOT_HANDLED = {
    "lower-case letter in a sentence": ("i'd pick b", "B"),
    "ordinal words": ("The second option is right.", "B"),
    "negation only (two options)": ("The answer is not A.", "B"),
    "a paraphrase of an option without its letter": ("Nothing bad happens to you.", "A"),
}


@pytest.mark.parametrize("style", NOT_HANDLED)
def test_styles_not_handled_are_as_the_readme_says(style):
    answer, reference = NOT_HANDLED[style]
    choices = {"A": "Nothing happens", "B": "You grow watermelons in your stomach"}
    assert score("choice", answer, reference, choices=choices).value == 0.0, f"{style!r} is handled now: take it off the README's list"
