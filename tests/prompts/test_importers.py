"""Importers on the real public data sets (where the workspace has them: tests/_support/shared_data.py) and,
always, on tests/data's hand-written samples in the same formats, with the same checks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from _support import shared_data
from llama_eval.prompts.importers import import_set
from llama_eval.prompts.prompt_set import PromptSetError, load_prompt_set
from llama_eval.quality import score

SOURCES = shared_data.SOURCES


def _rows(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


@pytest.mark.parametrize("which", SOURCES)
def test_gsm8k_every_row_with_numeric_references(tmp_path, which):
    source, out = shared_data.source(which, "gsm8k_test.jsonl"), tmp_path / "gsm8k.jsonl"
    expected = 1319 if which == "real" else _rows(source)  # the real test split has 1,319 problems
    assert import_set("gsm8k", source, out) == expected
    prompts = load_prompt_set(out)
    first = json.loads(source.read_text().splitlines()[0])
    assert prompts.items[0].reference == first["answer"].rsplit("####", 1)[1].strip().replace(",", "")
    assert all(float(i.reference) == float(i.reference) for i in prompts)  # every reference parses as a number
    assert all("," not in i.reference for i in prompts), "thousands separators are dropped from references"
    assert all(i.messages[0]["content"].endswith('as "The answer is N", where N is a number.') for i in prompts)
    # the worked solutions, scored against their own references, all pass: the extraction is right
    solutions = [json.loads(line)["answer"] for line in source.read_text().splitlines()]
    assert all(score("numeric", s, i.reference).value == 1.0 for s, i in zip(solutions, prompts, strict=True))


@pytest.mark.parametrize("which", SOURCES)
def test_truthfulqa_binary_choice_is_balanced_and_seeded(tmp_path, which):
    source, out = shared_data.source(which, "truthfulqa.csv"), tmp_path / "tqa.jsonl"
    expected = 790 if which == "real" else _rows(source) - 1  # the real CSV has 790 questions; minus the header
    assert import_set("truthfulqa", source, out) == expected
    prompts = load_prompt_set(out)
    letters = Counter(i.reference for i in prompts)
    assert set(letters) == {"A", "B"}, letters  # the order is a hash, not always A
    if which == "real":
        assert 0.4 < letters["A"] / 790 < 0.6, letters
    again = tmp_path / "tqa2.jsonl"
    import_set("truthfulqa", source, again)
    assert out.read_text() == again.read_text(), "same seed, same order"
    assert all(i.scorer == "choice" and "(A)" in i.messages[0]["content"] for i in prompts)
    # the option texts stay on the item, so an answer quoting one is understood
    for item in prompts.items[:3]:
        choices = item.scorer_options["choices"]
        assert set(choices) == {"A", "B"} and f"(A) {choices['A']}\n(B) {choices['B']}" in item.messages[0]["content"]
        assert score("choice", choices[item.reference], item.reference, **item.scorer_options).value == 1.0


@pytest.mark.parametrize("which", SOURCES)
def test_scitldr_summaries_with_references(tmp_path, which):
    source, out = shared_data.source(which, "scitldr_a_test.jsonl"), tmp_path / "tldr.jsonl"
    limit = 50 if which == "real" else _rows(source) - 1  # the limit stops the import: one row is left out
    assert import_set("scitldr", source, out, limit=limit) == limit
    prompts = load_prompt_set(out)
    assert all(isinstance(i.reference, list) and i.reference for i in prompts)
    ref = prompts.items[0].reference[0]
    assert score("rouge_l", ref, prompts.items[0].reference).value == 1.0


def test_mmlu_csv(tmp_path):
    source = tmp_path / "astronomy_test.csv"
    source.write_text('"What is the closest star to Earth?",Sirius,The Sun,Proxima Centauri,Vega,B\n"Largest planet?",Earth,Mars,Jupiter,Venus,C\n')
    out = tmp_path / "mmlu.jsonl"
    assert import_set("mmlu", source, out) == 2
    prompts = load_prompt_set(out)
    assert prompts.items[0].reference == "B" and "astronomy" in prompts.items[0].tags and "(D) Vega" in prompts.items[0].messages[0]["content"]
    assert prompts.items[0].scorer_options["choices"] == {"A": "Sirius", "B": "The Sun", "C": "Proxima Centauri", "D": "Vega"}
    assert score("choice", "The Sun.", "B", **prompts.items[0].scorer_options).value == 1.0
    source.write_text("Question?,A,B,C,D,E\n")
    with pytest.raises(PromptSetError, match="line 1: the answer must be A, B, C or D"):
        import_set("mmlu", source, out)


def test_plain_csv_and_errors(tmp_path):
    source = tmp_path / "mine.csv"
    source.write_text('id,prompt,reference,tags\nq1,"Capital of Peru?",Lima,geo;facts\n,"2+2?",4,\n')
    out = tmp_path / "mine.jsonl"
    assert import_set("csv", source, out) == 2
    prompts = load_prompt_set(out)
    assert prompts.items[0].tags == ("geo", "facts") and prompts.items[1].id == "row-2"
    source.write_text("question,answer\nx,y\n")
    with pytest.raises(PromptSetError, match="line 1: missing column\\(s\\) \\['prompt', 'reference'\\]"):
        import_set("csv", source, out)


def test_cli_import(tmp_path):
    source = tmp_path / "mine.csv"
    source.write_text("prompt,reference\nHi?,Hello\n")
    out = subprocess.run(
        [str(Path(sys.executable).parent / "llama-eval"), "import", "csv", str(source), "-o", str(tmp_path / "o.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "wrote 1 prompts" in out.stdout
