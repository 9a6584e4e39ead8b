"""CSV import as spreadsheets write it: BOM, any header case, ; or tab, rows without a reference; atomic output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llama_eval.errors import PromptImportWarning
from llama_eval.paths import data_dir
from llama_eval.prompts.importers import import_set
from llama_eval.prompts.prompt_set import PromptSetError, load_prompt_set

CLI = [sys.executable, "-m", "llama_eval.cli"]


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        # Excel "CSV UTF-8": byte-order mark, capitalised header, CRLF
        ("excel-bom.csv", "\ufeffPrompt,Reference\r\nCapital of Peru?,Lima\r\nWhat is 2+2?,4\r\n".encode()),
        # a German/French Excel: semicolons, spaces around header names
        ("semicolon.csv", b" PROMPT ; Reference \nCapital of Peru?;Lima\n\"What is 2+2; exactly?\";4\n"),
        ("tabs.tsv", b"prompt\treference\nCapital of Peru?\tLima\nWhat is 2+2?\t4\n"),
    ],
)
def test_spreadsheet_csv_variants_import(tmp_path, name, raw):
    source = tmp_path / name
    source.write_bytes(raw)
    out = tmp_path / "set.jsonl"
    assert import_set("csv", source, out) == 2
    rows = _rows(out)
    assert rows[0] == {"id": "row-1", "prompt": "Capital of Peru?", "reference": "Lima"}
    assert rows[1]["reference"] == "4" and rows[1]["prompt"].startswith("What is 2+2")
    assert len(load_prompt_set(out)) == 2


def test_optional_columns(tmp_path):
    source = tmp_path / "set.csv"
    source.write_text("ID,Prompt,Reference,Tags,Scorer,System,Max Tokens\nq1,2+2?,4,math;easy,numeric,Answer with a number.,32\n", encoding="utf-8")
    import_set("csv", source, tmp_path / "set.jsonl")
    item = load_prompt_set(tmp_path / "set.jsonl").items[0]
    assert (item.id, item.scorer, item.tags, item.max_tokens) == ("q1", "numeric", ("math", "easy"), 32)
    assert item.messages[0] == {"role": "system", "content": "Answer with a number."}


def test_missing_column_lists_what_was_found(tmp_path):
    source = tmp_path / "set.csv"
    source.write_text("question;answer\nCapital of Peru?;Lima\n", encoding="utf-8")
    with pytest.raises(PromptSetError) as info:
        import_set("csv", source, tmp_path / "set.jsonl")
    message = str(info.value)
    assert "line 1: missing column(s) ['prompt', 'reference']" in message and "found 'question', 'answer'" in message


def test_row_without_reference_warns_with_its_line(tmp_path):
    source = tmp_path / "set.csv"
    source.write_text("prompt,reference\nCapital of Peru?,Lima\n\nExplain TCP.,\n", encoding="utf-8")
    with pytest.warns(PromptImportWarning, match=r"set\.csv line 4: no reference"):
        assert import_set("csv", source, tmp_path / "set.jsonl") == 2
    assert _rows(tmp_path / "set.jsonl")[1]["reference"] is None


def test_error_leaves_no_partial_output(tmp_path):
    source = tmp_path / "set.csv"
    source.write_text("prompt,reference,max_tokens\nok?,yes,10\nbad?,no,many\n", encoding="utf-8")
    out = tmp_path / "set.jsonl"
    out.write_text("earlier content\n")
    with pytest.raises(PromptSetError, match="line 3: max_tokens must be a whole number"):
        import_set("csv", source, out)
    assert out.read_text() == "earlier content\n", "the old file is left as it was"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.csv", "set.jsonl"], "no temporary file is left behind"


def test_cli_import_and_run_with_a_csv(tmp_path):
    source = tmp_path / "mine.csv"
    source.write_text("\ufeffPrompt;Reference\nCapital of Peru?;Lima\nExplain TCP.;\n", encoding="utf-8")
    done = subprocess.run([*CLI, "import", "csv", str(source), "-o", str(tmp_path / "mine.jsonl")], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "wrote 2 prompts" in done.stdout
    warning_lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert warning_lines == [f"PromptImportWarning: {source} line 3: no reference; the row is imported, but only scorers that need none (or a judge) can score it"]  # noqa: E501
    # the CSV itself handed to run: a pointer to the importer, before anything else happens
    deployments = str(data_dir() / "deployments.emulator.yaml")
    done = subprocess.run([*CLI, "run", "-d", deployments, "-p", str(source), "-o", "runs/x"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert not (tmp_path / "runs").exists()
    assert f"this is a CSV, not a JSONL prompt set: run `llama-eval import csv {source} -o {tmp_path / 'mine.jsonl'}` first" in done.stderr


def test_jsonl_with_byte_order_mark_loads(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text('\ufeff{"id": "a", "prompt": "hi"}\n', encoding="utf-8")
    assert load_prompt_set(path).items[0].id == "a"
