"""Every scorer on the inputs that trip scorers up."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llama_eval.quality import SCORERS, ScorerError, check_scorer, score


@pytest.mark.parametrize(
    "answer, reference, expected",
    [
        ("The answer is 1,000.", "1000", 1.0),  # thousands separator
        ("#### 1,234", "1,234", 1.0),  # GSM8K style
        ("She pays $18 in total.", "18", 1.0),  # currency
        ("It is 12.5%.", "12.5", 1.0),  # units
        ("First 3 apples, then 5 more, so 8.", "8", 1.0),  # last number wins
        ("The answer is 8. (I checked 3 times.)", "8", 1.0),  # final-answer marker beats the last number
        ("Roughly 140 people.", "14", 0.0),  # the reference inside a wrong number
        ("−7 degrees", "-7", 1.0),  # Unicode minus
        ("The result is ７２.", "72", 1.0),  # full-width digits (NFKC)
        ("No idea.", "3", 0.0),
        ("3.0", "3", 1.0),
    ],
)
def test_numeric(answer, reference, expected):
    assert score("numeric", answer, reference).value == expected


def test_numeric_tolerance_and_bad_reference():
    assert score("numeric", "about 3.14", "3.14159", abs_tol=0.01).value == 1.0
    assert score("numeric", "about 3.14", "3.14159").value == 0.0
    with pytest.raises(ScorerError, match="is not a number"):
        score("numeric", "3", "three")


@pytest.mark.parametrize(
    "answer, reference, expected",
    [
        ("Paris.", "Paris", 1.0),
        ("The capital is Paris, of course.", "paris", 1.0),
        ("It is 14.", "4", 0.0),  # substring of a different number
        ("Ｃａｎｂｅｒｒａ", "Canberra", 1.0),  # full-width letters
        ("Café", "cafe", 0.0),  # accents matter after NFKC (é is not e)
        ("Lisbon", ["Lisboa", "Lisbon"], 1.0),  # any of several references
    ],
)
def test_contains(answer, reference, expected):
    assert score("contains", answer, reference).value == expected


def test_exact_and_normalized():
    assert score("exact", " Paris ", "Paris").value == 1.0
    assert score("exact", "paris", "Paris").value == 0.0
    assert score("normalized", "The  Eiffel Tower!", "eiffel tower").value == 1.0


@pytest.mark.parametrize(
    "answer, expected_letter",
    [
        ("The answer is (B).", "B"),
        ("B) Paris", "B"),
        ("(C) because of physics", "C"),
        ("After thinking, answer: d", "D"),
        ("A. The first option", "A"),
        ("I think it's (A), no wait, the answer is C", "C"),
    ],
)
def test_choice(answer, expected_letter):
    assert score("choice", answer, expected_letter).value == 1.0
    other = "A" if expected_letter != "A" else "B"
    assert score("choice", answer, other).value == 0.0


def test_choice_without_a_letter():
    result = score("choice", "I am not sure.", "A")
    assert result.value == 0.0 and result.reason == "no choice found"


@pytest.mark.parametrize(
    "answer, options, expected",
    [
        ('```json\n{"name": "Ada", "age": 36}\n```', {"required_keys": ["name", "age"]}, 1.0),  # JSON in a code fence
        ('Sure! Here it is: {"name": "Ada"} Hope that helps.', {"required_keys": ["name"]}, 1.0),
        ('{"name": "Ada"', {}, 0.0),  # cut off
        ('{"name": "Ada"}', {"required_keys": ["age"]}, 0.0),
        ('{"age": "36"}', {"schema": {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}}, 0.0),
        ('{"age": 36}', {"schema": {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}}, 1.0),
    ],
)
def test_json(answer, options, expected):
    assert score("json", answer, None, **options).value == expected


def test_json_against_a_reference_object():
    result = score("json", '{"city": "Paris", "country": "Italy"}', {"city": "Paris", "country": "France"})
    assert result.value == 0.5 and "1/2 fields" in result.reason


def test_overlap_scorers():
    assert score("f1", "the cat sat on the mat", "a cat sat on a mat").value == 1.0  # articles dropped
    assert 0 < score("f1", "cat on mat", "the cat sat on the mat").value < 1
    assert score("rouge_l", "the cat sat on the mat", "the cat sat on the mat").value == 1.0
    assert score("rouge_l", "mat the on sat cat", "cat sat on the mat").value < 0.5
    assert score("rouge_l", "", "cat").value == 0.0


def test_constraints():
    good = score("constraints", "- one\n- two\n- three", None, bullets=3, no_commas=True, lowercase=True, max_words=10)
    assert good.value == 1.0
    bad = score("constraints", "One, Two", None, no_commas=True, lowercase=True)
    assert bad.value == 0.0 and "no_commas" in bad.reason and "lowercase" in bad.reason
    half = score("constraints", "short", None, min_words=3, max_chars=100)
    assert half.value == 0.5


def test_refusal():
    assert score("refusal", "I'm sorry, but I can't help with that.", None).value == 1.0
    assert score("refusal", "Here is how to bake bread: ...", None).value == 0.0
    assert score("refusal", "Here is how to bake bread: ...", None, expect="answer").value == 1.0


def test_load_time_checks_name_options_and_reference():
    with pytest.raises(ScorerError, match="unknown scorer 'numberic'; did you mean 'numeric'"):
        check_scorer("numberic", {}, True)
    with pytest.raises(ScorerError, match="needs a 'reference'"):
        check_scorer("contains", {}, False)
    with pytest.raises(ScorerError, match="has no option"):
        check_scorer("numeric", {"tolerance": 1}, True)
    with pytest.raises(ScorerError, match="needs option"):
        check_scorer("regex", {}, False)
    assert {"exact", "normalized", "contains", "regex", "numeric", "choice", "json", "f1", "rouge_l", "constraints", "refusal"} <= set(SCORERS)


@pytest.mark.parametrize("answer", ["I am not sure.", "A cat is an animal, not an option.", "I think so"])
def test_choice_ignores_pronoun_and_article(answer):
    assert score("choice", answer, "A").reason == "no choice found"


def test_choice_lone_letter():
    assert score("choice", "  B  ", "B").value == 1.0


# --------------------------------------------------------------------------- the cases from issue 15


@pytest.mark.parametrize(
    "answer, reference, rule",
    [
        ("She makes 9 * 2 = $18 every day.\n18", "18", "flexible"),  # '=' is not a final-answer marker
        ("The answer is 18. Check: 18 / 2 = 9", "18", "strict"),  # answer, then a check: the marker wins
        ("#### 5\nOops, the answer is 7", "7", "strict"),  # the last marker wins
        ("The loss is -$5.", "-5", "flexible"),  # the sign before the currency
        ("It changed by $-5.", "-5", "flexible"),
        ("The probability is .5", "0.5", "flexible"),  # leading-dot decimal
        ("The final answer is $\\boxed{1,234}$", "1234", "strict"),
        ("**$18.00**", "18", "strict"),
        ("Final answer: 42 apples.", "42", "strict"),
        ("The answer is: 3.", "3", "strict"),
        ("The answer is: 3 + 4 = 7 apples.", "7", "strict"),  # an expression after the marker: its result
        ("The answer is 18 - 3 = 15", "15", "strict"),
    ],
)
def test_numeric_rules(answer, reference, rule):
    result = score("numeric", answer, reference)
    assert result.value == 1.0 and result.rule == rule, result


def test_gsm8k_instruction_form_is_read_by_the_strict_rule():
    from llama_eval.prompts.importers import GSM8K_INSTRUCTION

    assert '"The answer is N"' in GSM8K_INSTRUCTION
    assert score("numeric", "Step 1: 3 + 4 = 7\nThe answer is 7", "7").rule == "strict"


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("The answer is a bit tricky, but I'd go with B.", "B"),
        ("B\n\nExplanation: (A) is a popular belief, but it is false.", "B"),
        ("Both (A) and (B) sound plausible, but (B) is correct.", "B"),
        ("The answer is: B", "B"),
        ("The answer is definitely B", "B"),
        ("Final answer: **A**", "A"),
        ("**B**", "B"),
        ("b", "B"),
        ("I think A", "A"),
        ("The correct option is B", "B"),
        ("Option A: a common myth.\nOption B: what studies show.\nSo the answer is B.", "B"),
        ("Option B: what studies show.\nOption A: a common myth.", "A"),  # 'Option A:' is a label: the last mention wins
        ("Correct option: (B)", "B"),
    ],
)
def test_choice_cases_from_the_issue(answer, expected):
    assert score("choice", answer, expected).value == 1.0
    assert score("choice", answer, "C" if expected != "C" else "D").value == 0.0


def test_choice_with_option_texts():
    choices = {"A": "Nothing happens", "B": "You grow watermelons in your stomach"}
    assert score("choice", "You grow watermelons in your stomach.", "B", choices=choices).rule == "option-text"
    assert score("choice", "Nothing happens.", "B", choices=choices).value == 0.0
    assert score("choice", "I don't know.", "A", choices=choices).reason == "no choice found"
    with pytest.raises(ScorerError, match="include the reference 'C'"):
        score("choice", "C", "C", choices=choices)
    with pytest.raises(ScorerError, match="not an option letter"):
        score("choice", "A", "maybe")


def test_register_scorer_is_public_and_checked_like_the_built_ins():
    from llama_eval.quality import Score, register_scorer

    register_scorer("test:length", lambda answer, reference, limit=10: Score(float(len(answer) <= limit), "short"), needs_reference=False, options=("limit",))
    try:
        assert score("test:length", "abc", None, limit=2).value == 0.0
        with pytest.raises(ScorerError, match="has no option"):
            check_scorer("test:length", {"max": 1}, False)
    finally:
        del SCORERS["test:length"]


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False), st.sampled_from(["{:,}", "{}", "${:,}", "{} kg"]))
def test_any_number_written_after_a_marker_is_read(value, form):
    text = form.format(abs(value))
    if value < 0:
        text = "-" + text
    result = score("numeric", f"We add things up.\nThe answer is {text}.", str(value))
    assert result.value == 1.0 and result.rule == "strict", (text, result)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_scorers_never_crash_on_arbitrary_text(text):
    for name, reference in (("numeric", "3"), ("choice", "B"), ("contains", "A"), ("f1", "the cat"), ("normalized", "x")):
        result = score(name, text, reference)
        assert result.value in (0.0, 1.0) or 0.0 <= result.value <= 1.0
