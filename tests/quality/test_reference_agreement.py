"""Overlap scorers against the field's reference implementations, on real data nobody here wrote
(where the workspace has it: tests/_support/shared_data.py) and, always, on tests/data's samples in its format.

* rouge_l vs Google's rouge-score (``RougeScorer(["rougeL"])``, ``score_multi``) on SciTLDR: model-like
  extractive summaries (each abstract sentence) and one reference TL;DR against the others.
* f1 vs the official SQuAD v1.1 evaluation script's ``normalize_answer`` and ``f1_score`` (copied
  below verbatim, the reference) on pairs of TruthfulQA answers.
"""

from __future__ import annotations

import csv
import json
import re
import string
import unicodedata
from collections import Counter

import pytest

from _support import shared_data
from llama_eval.quality import score
from llama_eval.quality.scorers import ROUGE_STEMMER


def _scitldr_pairs(source, papers: int = 150) -> list[tuple[str, list[str]]]:
    """The first ``papers`` papers (rouge-score's stemmer is slow: ~3 ms a pair): ~1,500 pairs of the real set."""
    pairs = []
    for line in source.read_text(encoding="utf-8").splitlines()[:papers]:
        row = json.loads(line)
        targets = [t for t in row["target"] if t.strip()]
        pairs += [(sentence, targets) for sentence in row["source"]]
        if len(targets) > 1:
            pairs.append((targets[0], targets[1:]))
    return pairs


@pytest.mark.parametrize("which", shared_data.SOURCES)
@pytest.mark.parametrize("stemmer", [True, False], ids=["stemmer", "no-stemmer"])
def test_rouge_l_is_exactly_rouge_score_on_scitldr(stemmer, which):
    from rouge_score import rouge_scorer

    reference = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stemmer)
    pairs = _scitldr_pairs(shared_data.source(which, "scitldr_a_test.jsonl"))
    assert len(pairs) > (1200 if which == "real" else 10)
    differ = 0
    for prediction, targets in pairs:
        ours = score("rouge_l", prediction, targets, stemmer=stemmer)
        theirs = reference.score_multi(targets, prediction)["rougeL"].fmeasure
        differ += ours.value != theirs
        assert ours.rule == ("stemmer" if stemmer else "no-stemmer")
    assert differ == 0, f"{differ} of {len(pairs)} pairs differ from rouge-score"


def test_rouge_default_is_the_stated_setting():
    assert ROUGE_STEMMER is True
    assert score("rouge_l", "models running", "model runs").value == 1.0  # Porter stemming on by default
    assert score("rouge_l", "models running", "model runs", stemmer=False).value == 0.0


# ----- official SQuAD v1.1 evaluation script (evaluate-v1.1.py), normalize_answer and f1_score, verbatim


def squad_normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def squad_f1_score(prediction, ground_truth):
    prediction_tokens = squad_normalize_answer(prediction).split()
    ground_truth_tokens = squad_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


@pytest.mark.parametrize("which", shared_data.SOURCES)
def test_f1_is_squad_v1_1_token_f1_on_truthfulqa_answers(which):
    pairs = []
    with shared_data.source(which, "truthfulqa.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            answers = [a.strip() for a in (row["Correct Answers"] + ";" + row["Incorrect Answers"]).split(";") if a.strip()]
            pairs += [(row["Best Answer"], a) for a in answers] + [(row["Best Incorrect Answer"], a) for a in answers]
    assert len(pairs) > (10_000 if which == "real" else 100)
    compared = differ = 0
    beyond_squad = []
    for prediction, reference in pairs:
        # where ours deliberately differs: NFKC and curly quotes (SQuAD keeps "don’t" and "dont" apart), and a
        # reference made only of articles (SQuAD empties it); everything else must agree exactly
        plain = all(unicodedata.normalize("NFKC", t) == t and not set(t) & set("“”‘’«»…") for t in (prediction, reference))
        if not plain or not squad_normalize_answer(reference):
            beyond_squad.append((prediction, reference))
            continue
        compared += 1
        differ += score("f1", prediction, reference).value != squad_f1_score(prediction, reference)
    assert differ == 0 and compared > 0.95 * len(pairs), (differ, compared, len(pairs))
    assert beyond_squad, "curly quotes and article-only references are in the data: the exceptions are exercised"
    assert score("f1", "", "").value == 0.0 and squad_f1_score("", "") == 0  # empty vs empty: 0, as in SQuAD v1.1


def test_one_letter_and_article_references():
    """A reference that is only an article keeps it; an empty answer scores 0 everywhere."""
    assert score("contains", "", "A").value == 0.0
    assert score("contains", "The", "A").value == 0.0
    assert score("contains", "The answer is A", "A").value == 1.0
    assert score("normalized", "a", "A").value == 1.0 and score("normalized", "", "A").value == 0.0
    assert score("f1", "", "A").value == 0.0 and score("f1", "A", "A").value == 1.0
    assert score("exact", "", "").value == 0.0
    assert score("contains", "The cat sat", "the cat").value == 1.0  # ordinary references still drop articles
