"""Importers: public evaluation formats turned into llama-eval prompt sets (JSONL).

* ``gsm8k``     JSONL of ``question`` / ``answer`` (worked solution ending ``#### <number>``) -> numeric scorer
* ``truthfulqa`` CSV with ``Question``, ``Best Answer``, ``Best Incorrect Answer`` -> two options, A/B
                 order fixed by a seeded hash of the question (a model's position bias cannot pass for
                 knowledge), choice scorer with the option texts (an answer quoting one counts)
* ``mmlu``      CSV rows without a header: question, four options, answer letter -> choice scorer with
                 the option texts
* ``csv``       CSV with a header holding ``prompt`` and ``reference`` (optional ``id``, ``tags``)
* ``scitldr``   JSONL of ``source`` (abstract sentences) / ``target`` (reference summaries) -> rouge_l

Every error names the file and line. ``llama-eval import KIND SOURCE -o set.jsonl``.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .prompts import PromptSetError


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as exc:
                raise PromptSetError(f"{path} line {line_no}: not valid JSON ({exc.msg})") from None


def _need(row: dict[str, Any], field: str, where: str) -> Any:
    value = row.get(field)
    if value in (None, ""):
        raise PromptSetError(f"{where}: missing field {field!r}")
    return value


# The form the numeric scorer's strict rule reads ("The answer is N"); an answer that ignores it is
# still read by the flexible rule (the last number). scores.jsonl records which rule fired.
GSM8K_INSTRUCTION = 'Solve it step by step. Then write the final answer on the last line as "The answer is N", where N is a number.'


def gsm8k(path: Path) -> Iterator[dict[str, Any]]:
    for line_no, row in _jsonl(path):
        where = f"{path} line {line_no}"
        answer = str(_need(row, "answer", where))
        if "####" not in answer:
            raise PromptSetError(f"{where}: the answer has no '#### <number>' final line")
        reference = answer.rsplit("####", 1)[1].strip().replace(",", "")
        yield {
            "id": f"gsm8k-{line_no}",
            "prompt": f"{_need(row, 'question', where)}\n{GSM8K_INSTRUCTION}",
            "reference": reference,
            "scorer": "numeric",
            "tags": ["gsm8k", "arithmetic"],
            "max_tokens": 512,
        }


def _options_order(question: str, seed: int) -> bool:
    """True when the correct option goes first: a seeded hash of the question, stable across runs."""
    return hashlib.sha256(f"{seed}|{question}".encode()).digest()[0] % 2 == 0


def truthfulqa(path: Path, seed: int = 0) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"Question", "Best Answer", "Best Incorrect Answer"} - set(reader.fieldnames or [])
        if missing:
            raise PromptSetError(f"{path} line 1: missing column(s) {sorted(missing)}")
        for n, row in enumerate(reader, start=1):
            where = f"{path} line {n + 1}"
            question = _need(row, "Question", where)
            right, wrong = _need(row, "Best Answer", where), _need(row, "Best Incorrect Answer", where)
            first_is_right = _options_order(question, seed)
            a, b = (right, wrong) if first_is_right else (wrong, right)
            tags = ["truthfulqa"] + [t for t in (row.get("Category"), row.get("Type")) if t]
            yield {
                "id": f"truthfulqa-{n}",
                "prompt": f"{question}\n(A) {a}\n(B) {b}\nWhich answer is true? Reply with the letter A or B.",
                "reference": "A" if first_is_right else "B",
                "scorer": {"name": "choice", "choices": {"A": a, "B": b}},
                "tags": tags,
                "max_tokens": 64,
            }


def mmlu(path: Path) -> Iterator[dict[str, Any]]:
    subject = path.stem.replace("_test", "").replace("_dev", "").replace("_", " ")
    with path.open(encoding="utf-8", newline="") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            where = f"{path} line {line_no}"
            if len(row) != 6:
                raise PromptSetError(f"{where}: expected 6 columns (question, A, B, C, D, answer), got {len(row)}")
            question, *options, answer = row
            if answer.strip().upper() not in ("A", "B", "C", "D"):
                raise PromptSetError(f"{where}: the answer must be A, B, C or D, got {answer!r}")
            listed = "\n".join(f"({letter}) {text}" for letter, text in zip("ABCD", options, strict=True))
            yield {
                "id": f"mmlu-{path.stem}-{line_no}",
                "prompt": f"{question}\n{listed}\nReply with the letter of the correct answer.",
                "reference": answer.strip().upper(),
                "scorer": {"name": "choice", "choices": dict(zip("ABCD", options, strict=True))},
                "tags": ["mmlu", subject],
                "max_tokens": 64,
            }


def plain_csv(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"prompt", "reference"} - set(reader.fieldnames or [])
        if missing:
            raise PromptSetError(f"{path} line 1: missing column(s) {sorted(missing)}; a plain CSV needs 'prompt' and 'reference'")
        for n, row in enumerate(reader, start=1):
            where = f"{path} line {n + 1}"
            item = {"id": row.get("id") or f"row-{n}", "prompt": _need(row, "prompt", where), "reference": row.get("reference") or None}
            if row.get("tags"):
                item["tags"] = [t.strip() for t in row["tags"].split(";") if t.strip()]
            if row.get("scorer"):
                item["scorer"] = row["scorer"]
            yield item


def scitldr(path: Path) -> Iterator[dict[str, Any]]:
    for line_no, row in _jsonl(path):
        where = f"{path} line {line_no}"
        source, target = _need(row, "source", where), _need(row, "target", where)
        abstract = " ".join(source) if isinstance(source, list) else str(source)
        yield {
            "id": f"scitldr-{row.get('paper_id', line_no)}",
            "prompt": f"Summarise this paper abstract in one sentence (a TL;DR).\n\n{abstract}",
            "reference": list(target) if isinstance(target, list) else [str(target)],
            "scorer": "rouge_l",
            "tags": ["scitldr", "summarisation"],
            "max_tokens": 96,
        }


IMPORTERS = {"gsm8k": gsm8k, "truthfulqa": truthfulqa, "mmlu": mmlu, "csv": plain_csv, "scitldr": scitldr}


def import_set(kind: str, source: str | Path, output: str | Path, *, limit: int | None = None) -> int:
    """Convert ``source`` to a prompt-set JSONL at ``output``; returns the number of items written."""
    if kind not in IMPORTERS:
        raise PromptSetError(f"unknown format {kind!r}; formats: {', '.join(IMPORTERS)}")
    source = Path(source)
    if not source.is_file():
        raise PromptSetError(f"not found: {source}")
    count = 0
    with Path(output).open("w", encoding="utf-8") as out:
        for item in IMPORTERS[kind](source):
            if limit is not None and count >= limit:
                break
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
            count += 1
    return count
