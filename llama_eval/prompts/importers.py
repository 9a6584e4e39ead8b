"""Importers: public evaluation formats turned into llama-eval prompt sets (JSONL).

* ``gsm8k``     JSONL of ``question`` / ``answer`` (worked solution ending ``#### <number>``) -> numeric scorer
* ``truthfulqa`` CSV with ``Question``, ``Best Answer``, ``Best Incorrect Answer`` -> two options, A/B
                 order fixed by a seeded hash of the question (a model's position bias cannot pass for
                 knowledge), choice scorer with the option texts (an answer quoting one counts)
* ``mmlu``      CSV rows without a header: question, four options, answer letter -> choice scorer with
                 the option texts
* ``csv``       any CSV with ``prompt`` and ``reference`` columns (optional ``id``, ``tags``, ``scorer``,
                 ``system``, ``max_tokens``); Excel's UTF-8 with BOM, any header case, ``,`` ``;`` or tab
* ``scitldr``   JSONL of ``source`` (abstract sentences) / ``target`` (reference summaries) -> rouge_l
* ``sharegpt``  ShareGPT-style conversations (JSON array or JSONL) -> conversation items (``turns``)

Every error names the file and line. ``llama-eval import KIND SOURCE -o set.jsonl``.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llama_eval.errors import PromptImportWarning

from .prompt_set import PromptSetError
from .synth import write_items


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


CSV_COLUMNS = ("prompt", "reference")
CSV_OPTIONAL = ("id", "tags", "scorer", "system", "max_tokens")
CSV_DELIMITERS = ",;\t"


def _header_name(name: str | None) -> str:
    """``' Prompt '``, ``'PROMPT'``, ``'max tokens'`` -> ``'prompt'``, ``'prompt'``, ``'max_tokens'``."""
    return "_".join((name or "").strip().lower().split())


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    """The file's delimiter (comma, semicolon or tab, as Excel writes them by locale), sniffed from its start."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS)
    except csv.Error:
        return csv.excel  # one column, or nothing to tell by: the header check below says what is wrong


def plain_csv(path: Path) -> Iterator[dict[str, Any]]:
    """Any spreadsheet saved as CSV: columns ``prompt`` and ``reference``; optional ``id``, ``tags`` (split on ``;`` or ``|``), ``scorer``,
    ``system``, ``max_tokens``.

    Reads UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8"), header names in any case and
    spacing, delimiter comma, semicolon or tab. A row without a reference is imported (scorers that
    need none, or a judge, can score it) with a warning naming its line.
    """
    with path.open(encoding="utf-8-sig", newline="") as f:
        try:
            sample = f.read(64 * 1024)
        except UnicodeDecodeError as exc:
            raise PromptSetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as 'CSV UTF-8' in Excel") from None
        f.seek(0)
        reader = csv.reader(f, _dialect(sample))
        header = next(reader, None)
        if header is None:
            raise PromptSetError(f"{path}: empty file; a CSV prompt set needs a header row with {', '.join(CSV_COLUMNS)}")
        names = [_header_name(h) for h in header]
        missing = [c for c in CSV_COLUMNS if c not in names]
        if missing:
            found = ", ".join(repr(h) for h in header) or "none"
            raise PromptSetError(
                f"{path} line 1: missing column(s) {missing}; found {found}. A CSV prompt set needs 'prompt' and 'reference' "
                f"(optional: {', '.join(CSV_OPTIONAL)}); header names may be in any case"
            )
        duplicated = sorted({n for n in names if n and names.count(n) > 1})
        if duplicated:
            raise PromptSetError(f"{path} line 1: column(s) {duplicated} appear more than once")
        for n, cells in enumerate(reader, start=1):
            where = f"{path} line {reader.line_num}"
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(names):
                raise PromptSetError(f"{where}: {len(cells)} cells but the header has {len(names)} columns (a delimiter inside a cell needs quotes)")
            row = dict(zip(names, (c.strip() for c in cells), strict=False))
            if not row.get("prompt"):
                raise PromptSetError(f"{where}: missing field 'prompt' (the cell is empty)")
            reference = row.get("reference") or None
            if reference is None:
                message = f"{where}: no reference; the row is imported, but only scorers that need none (or a judge) can score it"
                warnings.warn(message, PromptImportWarning, stacklevel=2)
            item: dict[str, Any] = {"id": row.get("id") or f"row-{n}", "prompt": row["prompt"], "reference": reference}
            if row.get("system"):
                item["system"] = row["system"]
            if row.get("tags"):
                item["tags"] = [t.strip() for t in re.split(r"[;|]", row["tags"]) if t.strip()]
            if row.get("scorer"):
                item["scorer"] = row["scorer"]
            if row.get("max_tokens"):
                if not row["max_tokens"].isdigit() or int(row["max_tokens"]) < 1:
                    raise PromptSetError(f"{where}: max_tokens must be a whole number >= 1, got {row['max_tokens']!r}")
                item["max_tokens"] = int(row["max_tokens"])
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


_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bard": "assistant",
                   "bing": "assistant", "model": "assistant", "system": "system"}  # fmt: skip


def _sharegpt_records(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, record) from a JSON array (ShareGPT's own files) or JSONL (one conversation a line)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PromptSetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PromptSetError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
        for index, record in enumerate(records):
            yield f"{path} conversation {index + 1}", record
        return
    for line_no, record in _jsonl(path):
        yield f"{path} line {line_no}", record


def sharegpt(path: Path) -> Iterator[dict[str, Any]]:
    """ShareGPT-style conversations as conversation prompt sets: the user's messages become ``turns``, the
    recorded answers ``references`` (one per turn; null when a turn has none).

    Each record holds ``conversations`` (``[{"from": "human"|"gpt"|"system", "value": ...}]``) or
    ``messages`` (``[{"role", "content"}]``), and optionally ``id``. A system message at the start
    becomes ``system``. The runner sends the model's *own* answers as history; the recorded ones are
    only references. A record without a user message is skipped with a warning naming it.
    """
    for index, (where, record) in enumerate(_sharegpt_records(path)):
        if not isinstance(record, dict):
            raise PromptSetError(f"{where}: each conversation must be an object with 'conversations' or 'messages'")
        messages = record.get("conversations", record.get("messages"))
        if not isinstance(messages, list):
            raise PromptSetError(f"{where}: missing field 'conversations' (a list of {{\"from\", \"value\"}}) or 'messages'")
        system, turns, references = None, [], []
        for i, m in enumerate(messages):
            speaker = str(m.get("from", m.get("role", ""))).lower() if isinstance(m, dict) else ""
            value = m.get("value", m.get("content")) if isinstance(m, dict) else None
            role = _SHAREGPT_ROLES.get(speaker)
            if role is None or not isinstance(value, str):
                raise PromptSetError(f"{where}: message {i + 1}: 'from' must be one of {', '.join(sorted(_SHAREGPT_ROLES))} and 'value' text")
            if role == "system" and not turns and system is None:
                system = value
            elif role == "user" and value.strip():
                turns.append(value)
                references.append(None)
            elif role == "assistant" and turns and references[-1] is None:
                references[-1] = value
        if not turns:
            warnings.warn(f"{where}: no user message; skipped", PromptImportWarning, stacklevel=2)
            continue
        item: dict[str, Any] = {"id": str(record.get("id", f"sharegpt-{index + 1}")).replace("#", "-"), "turns": turns, "tags": ["sharegpt"]}
        if system is not None:
            item["system"] = system
        if any(r is not None for r in references):
            item["references"] = references
        yield item


IMPORTERS = {"gsm8k": gsm8k, "truthfulqa": truthfulqa, "mmlu": mmlu, "csv": plain_csv, "scitldr": scitldr, "sharegpt": sharegpt}


def import_set(kind: str, source: str | Path, output: str | Path, *, limit: int | None = None) -> int:
    """Convert ``source`` to a prompt-set JSONL at ``output``; returns the number of items written."""
    if kind not in IMPORTERS:
        raise PromptSetError(f"unknown format {kind!r}; formats: {', '.join(IMPORTERS)}")
    source = Path(source)
    if not source.is_file():
        raise PromptSetError(f"not found: {source}")
    rows = itertools.islice(IMPORTERS[kind](source), limit)  # limit None: all
    return write_items(rows, output, empty_error=PromptSetError(f"{source}: no rows to import"))
