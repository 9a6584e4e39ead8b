"""Prompt-set files: good lines load, every bad line is named by file, line and field."""

from __future__ import annotations

import base64
import json

import pytest

from llama_eval.prompts.prompt_set import PromptSetError, load_prompt_set, prompt_key

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


def write(tmp_path, *lines: str, name: str = "set.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_good_file_with_every_form(tmp_path):
    (tmp_path / "dot.png").write_bytes(PNG)
    path = write(
        tmp_path,
        "// comments and blank lines are skipped",
        "",
        json.dumps({"id": 1, "prompt": "2+2?", "reference": "4", "scorer": "numeric", "tags": ["math"], "max_tokens": 16}),
        json.dumps({"id": "sys", "prompt": "Hi", "system": "Be brief."}),
        json.dumps({"id": "msgs", "messages": [{"role": "user", "content": "Hello"}], "scorer": {"name": "regex", "pattern": "^H"}}),
        json.dumps({"id": "pic", "prompt": "What colour?", "images": ["dot.png", "https://example.org/a.jpg"]}),
    )
    prompts = load_prompt_set(path)
    assert [i.id for i in prompts] == ["1", "sys", "msgs", "pic"]
    assert prompts.items[0].scorer == "numeric" and prompts.items[0].max_tokens == 16
    assert [m["role"] for m in prompts.items[1].messages] == ["system", "user"]
    assert prompts.items[2].scorer == "regex" and prompts.items[2].scorer_options == {"pattern": "^H"}
    parts = prompts.items[3].messages[0]["content"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,") and parts[2]["image_url"]["url"] == "https://example.org/a.jpg"
    assert prompts.items[3].has_images and not prompts.items[0].has_images
    assert prompts.items[0].source.endswith("set.jsonl line 3")
    assert len(prompts.sha256) == 64


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"id": "a", "prompt": "x"', r"line 1: not valid JSON"),
        ('["a"]', r"line 1: each line must be a JSON object"),
        ('{"prompt": "x"}', r"line 1: field 'id' is required"),
        ('{"id": "a"}', r"line 1: missing field 'messages' \(or the 'prompt' shorthand\)"),
        ('{"id": "a", "prompt": "x", "messages": []}', r"give 'messages' or the 'prompt' shorthand, not both"),
        ('{"id": "a", "messages": [{"role": "bot", "content": "x"}]}', r"messages\[0\]: 'role' must be one of"),
        ('{"id": "a", "prompt": "x", "tags": "math"}', r"field 'tags' must be a list"),
        ('{"id": "a", "prompt": "x", "max_tokens": 0}', r"field 'max_tokens' must be a whole number >= 1"),
        ('{"id": "a", "prompt": "x", "images": ["missing.png"]}', r"field 'images': file 'missing.png' not found"),
        ('{"id": "a", "prompt": "x", "refrence": "y"}', r"unknown field 'refrence'; did you mean 'reference'\?"),
        ('{"id": "a", "prompt": "   "}', r"field 'prompt' must be non-empty text"),
    ],
)
def test_bad_line_is_named(tmp_path, line, message):
    path = write(tmp_path, line)
    with pytest.raises(PromptSetError, match=message) as caught:
        load_prompt_set(path)
    assert str(path) in str(caught.value)


def test_duplicate_id_names_both_lines(tmp_path):
    path = write(tmp_path, '{"id": "a", "prompt": "x"}', '{"id": "b", "prompt": "y"}', '{"id": "a", "prompt": "z"}')
    with pytest.raises(PromptSetError, match="line 3: id 'a' is already used on line 1"):
        load_prompt_set(path)


def test_not_utf8_and_empty_and_missing(tmp_path):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes('{"id": "a", "prompt": "café"}'.encode("latin-1"))
    with pytest.raises(PromptSetError, match="not UTF-8 text"):
        load_prompt_set(bad)
    with pytest.raises(PromptSetError, match="no prompts"):
        load_prompt_set(write(tmp_path, "// only a comment", name="empty.jsonl"))
    with pytest.raises(PromptSetError, match="prompt set not found"):
        load_prompt_set(tmp_path / "nope.jsonl")


def test_prompt_key_ignores_whitespace_differences_only():
    a = [{"role": "user", "content": "What  is\\n2+2?"}]
    assert prompt_key(a) == prompt_key([{"role": "user", "content": "What is\\n2+2?"}])
    assert prompt_key(a) != prompt_key([{"role": "system", "content": "What is\\n2+2?"}])


def test_bundled_prompt_sets_load_and_their_scorers_check():
    from llama_eval.paths import data_dir
    from llama_eval.quality.scoring import check_prompt_scorers

    sets = {p.name: load_prompt_set(p) for p in sorted((data_dir() / "prompts").glob("*.jsonl"))}
    assert set(sets) == {"quickstart.jsonl", "json_extraction.jsonl", "instructions.jsonl", "summaries.jsonl", "vision.jsonl", "open_ended.jsonl"}
    for prompts in sets.values():
        check_prompt_scorers(prompts)
    assert all(item.has_images for item in sets["vision.jsonl"])
    assert all(item.scorer == "rouge_l" and item.reference for item in sets["summaries.jsonl"])
    assert all(item.scorer == "judge" and item.reference for item in sets["open_ended.jsonl"]), "the quality guide's judge example"
