"""Importers on the real public data sets in shared/datasets (skipped where that folder is absent)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import SHARED
from llama_eval.importers import import_set
from llama_eval.prompts import PromptSetError, load_prompt_set
from llama_eval.scoring import score

DATA = SHARED / "datasets"
needs_data = pytest.mark.skipif(not DATA.exists(), reason="shared/datasets not present (only in the project's workspace)")


@needs_data
def test_gsm8k_all_1319_with_numeric_references(tmp_path):
    out = tmp_path / "gsm8k.jsonl"
    assert import_set("gsm8k", DATA / "gsm8k_test.jsonl", out) == 1319
    prompts = load_prompt_set(out)
    first = json.loads((DATA / "gsm8k_test.jsonl").read_text().splitlines()[0])
    assert prompts.items[0].reference == first["answer"].rsplit("####", 1)[1].strip().replace(",", "")
    assert all(float(i.reference) == float(i.reference) for i in prompts)  # every reference parses as a number
    assert all(i.messages[0]["content"].endswith('as "The answer is N", where N is a number.') for i in prompts)
    # the worked solutions, scored against their own references, all pass: the extraction is right
    solutions = [json.loads(line)["answer"] for line in (DATA / "gsm8k_test.jsonl").read_text().splitlines()]
    assert all(score("numeric", s, i.reference).value == 1.0 for s, i in zip(solutions, prompts, strict=True))


@needs_data
def test_truthfulqa_binary_choice_is_balanced_and_seeded(tmp_path):
    out = tmp_path / "tqa.jsonl"
    assert import_set("truthfulqa", DATA / "truthfulqa.csv", out) == 790
    prompts = load_prompt_set(out)
    letters = Counter(i.reference for i in prompts)
    assert 0.4 < letters["A"] / 790 < 0.6, letters  # the order is a hash, not always A
    again = tmp_path / "tqa2.jsonl"
    import_set("truthfulqa", DATA / "truthfulqa.csv", again)
    assert out.read_text() == again.read_text(), "same seed, same order"
    assert all(i.scorer == "choice" and "(A)" in i.messages[0]["content"] for i in prompts)
    # the option texts stay on the item, so an answer quoting one is understood
    first = prompts.items[0]
    choices = first.scorer_options["choices"]
    assert set(choices) == {"A", "B"} and f"(A) {choices['A']}\n(B) {choices['B']}" in first.messages[0]["content"]
    assert score("choice", choices[first.reference], first.reference, **first.scorer_options).value == 1.0


@needs_data
def test_scitldr_summaries_with_references(tmp_path):
    out = tmp_path / "tldr.jsonl"
    assert import_set("scitldr", DATA / "scitldr_a_test.jsonl", out, limit=50) == 50
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
