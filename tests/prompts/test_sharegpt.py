"""ShareGPT-style conversations imported as conversation prompt sets (turns, per-turn references)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llama_eval.errors import PromptImportWarning
from llama_eval.prompts.importers import import_set
from llama_eval.prompts.prompt_set import load_prompt_set

SHAREGPT = [
    {"id": "a#1", "conversations": [{"from": "system", "value": "Be kind."}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"},
                                   {"from": "human", "value": "Weather?"}, {"from": "gpt", "value": "Sunny."}, {"from": "human", "value": "Thanks"}]},
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
    {"id": "empty", "conversations": [{"from": "gpt", "value": "Nobody asked."}]},
]  # fmt: skip


def test_sharegpt_json_becomes_conversations_with_references(tmp_path):
    source = tmp_path / "sharegpt.json"
    source.write_text(json.dumps(SHAREGPT))
    with pytest.warns(PromptImportWarning, match="conversation 3: no user message; skipped"):
        count = import_set("sharegpt", source, tmp_path / "chats.jsonl")
    assert count == 2
    prompts = load_prompt_set(tmp_path / "chats.jsonl")
    first, second = prompts.items
    assert first.id == "a-1" and first.turns == ("Hi", "Weather?", "Thanks") and first.references == ("Hello!", "Sunny.", None)
    assert first.messages == ({"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"})
    assert second.id == "sharegpt-2" and second.turns == ("2+2?",) and second.references == ("4",)
    assert prompts.by_id()["a-1#2"].reference == "Sunny."


def test_sharegpt_jsonl_and_bad_records_name_the_line(tmp_path):
    source = tmp_path / "s.jsonl"
    good, bad = {"conversations": [{"from": "human", "value": "Hi"}]}, {"conversations": [{"from": "robot", "value": "x"}]}
    source.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    from llama_eval.errors import PromptSetError

    with pytest.raises(PromptSetError, match=r"s\.jsonl line 2: message 1: 'from' must be one of"):
        import_set("sharegpt", source, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_import_command_knows_sharegpt(tmp_path):
    source = tmp_path / "sharegpt.json"
    source.write_text(json.dumps(SHAREGPT[:2]))
    done = subprocess.run([sys.executable, "-m", "llama_eval.cli", "import", "sharegpt", str(source), "-o", str(tmp_path / "c.jsonl")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote 2 prompts" in done.stdout


@pytest.mark.parametrize(
    "line, message",
    [
        ({"id": "c", "turns": []}, "field 'turns' must be a non-empty list"),
        ({"id": "c", "turns": ["a", "b"], "references": ["x"]}, "one entry per turn"),
        ({"id": "c", "turns": ["a"], "prompt": "b"}, "a conversation \\('turns'\\) takes 'turns' alone, not 'prompt'"),
        ({"id": "c", "turns": ["a"], "reference": "b"}, "takes 'references'"),
        ({"id": "c#2", "turns": ["a"]}, "must not contain '#'"),
        ({"id": "c", "prompt": "a", "references": ["b"]}, "'references' goes with a conversation's 'turns'"),
    ],
)
def test_bad_conversation_items_say_what_to_write(tmp_path, line, message):
    from llama_eval.errors import PromptSetError

    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(PromptSetError, match=rf"p\.jsonl line 1: .*{message}"):
        load_prompt_set(path)
