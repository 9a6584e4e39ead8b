"""docs/guides/cost.md's worked example ("One number per option") prints what the page says it prints, and its defaults table is the code's."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from llama_eval.defaults import DEFAULT_REQUESTS_PER_DAY, DEFAULT_SLO, as_sentences, assumed_traffic

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "cost.md"


def _section(title: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_worked_example_prints_the_numbers_on_the_page():
    section = _section("One number per option")
    code = re.search(r"```python\n(.*?)```", section, re.S)
    shown = re.search(r"```text\n(.*?)```", section, re.S)
    assert code and shown, "the worked example has a Python block and the text it prints"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), f"{GUIDE.name} worked example", "exec"), {"__name__": "guide"})  # noqa: S102 - the guide's own code
    assert out.getvalue() == shown.group(1)
    own = re.search(r"own: \$(\S+) a month, \$(\S+) per 1,000", shown.group(1))
    assert own is not None
    assert f"${own.group(2)} per\n1,000 requests" in section or f"${own.group(2)} per 1,000 requests" in section.replace("\n", " ")
    assert f"= ${own.group(1)} a month" in section.replace("\n", " "), "the by-hand sum ends on the printed monthly cost"


def test_the_defaults_on_the_page_are_the_codes():
    section = _section("Defaults: what is assumed when you say nothing")
    assert f"| volume | {DEFAULT_REQUESTS_PER_DAY:,} requests a day |" in section
    assert f"| latency objective | `{DEFAULT_SLO}` |" in section
    printed = re.search(r"```text\n(.*?)```", section, re.S)
    assert printed is not None
    assert printed.group(1).splitlines() == as_sentences(assumed_traffic(None, None, None))
