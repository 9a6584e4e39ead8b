"""Prompt sets: JSONL files of the prompts to evaluate, checked line by line before any request.

One JSON object a line::

    {"id": "q1", "messages": [{"role": "user", "content": "2+2?"}], "reference": "4", "scorer": "numeric",
     "tags": ["arithmetic"], "max_tokens": 64}
    {"id": "q2", "prompt": "Capital of France?", "reference": "Paris"}          # shorthand for one user message
    {"id": "q3", "prompt": "What is shown?", "images": ["cat.png"], "reference": "a cat"}  # vision models
    {"id": "c1", "system": "You are a support agent.", "turns": ["My order is late.", "It was #123."],
     "references": [null, "refund"], "scorer": "contains"}                   # a conversation: one row per turn

``id`` is unique in the file; ``messages`` (or ``prompt``, optionally with ``system`` and ``images``)
is required; ``reference``, ``scorer`` (a name, or ``{"name": ..., options}``), ``tags`` and
``max_tokens`` are optional. Local image files become ``data:`` URLs. A *conversation* gives
``turns`` (the user's messages, in order; optional ``system``, ``references`` one per turn, null for
none) instead of ``messages``/``prompt``: the runner sends turn k with the history and the model's
own answers to turns 1..k-1, and writes one row per turn, ``prompt_id`` ``<id>#<k>`` (``turn_id``).
Every error names the file, the line and the field, and says what to write instead.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import mimetypes
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_eval.endpoint.request import ROLES
from llama_eval.errors import PromptSetError

RECIPE_MARK = "// llama-eval synth recipe: "  # the first line of a set ``llama-eval synth`` made (prompts/synth.py writes it)
FIELDS = ("id", "messages", "prompt", "system", "images", "reference", "scorer", "tags", "max_tokens", "metadata", "turns", "references")


@dataclass(frozen=True)
class PromptItem:
    id: str
    messages: tuple[Mapping[str, Any], ...]
    reference: Any = None
    scorer: str | None = None
    scorer_options: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    max_tokens: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    turns: tuple[str, ...] = ()  # a conversation's user messages, in order (``messages`` then holds the system message and turn 1)
    references: tuple[Any, ...] = ()  # a conversation's reference per turn (None: that turn has none)

    @property
    def is_conversation(self) -> bool:
        return bool(self.turns)

    def turn(self, k: int, history: tuple[Mapping[str, Any], ...] | None = None) -> PromptItem:
        """Turn ``k`` (1-based) of a conversation as a single prompt: id ``<id>#<k>``, its reference, and ``history`` as
        its messages (the conversation so far, ending with turn k's user message); without ``history``, the
        system message and turn k alone (what a scorer or a judge is shown as the question)."""
        messages = history if history is not None else (*self.messages[:-1], {"role": "user", "content": self.turns[k - 1]})
        reference = self.references[k - 1] if len(self.references) >= k else None
        # with references, a turn whose reference is null is not scored; without any, the scorer (reference-free) scores every turn
        scorer = self.scorer if reference is not None or not self.references else None
        return PromptItem(turn_id(self.id, k), tuple(messages), reference, scorer, self.scorer_options, self.tags, self.max_tokens,
                          self.metadata, f"{self.source} turn {k}")  # fmt: skip

    @property
    def has_images(self) -> bool:
        return any(isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"]) for m in self.messages)


@dataclass(frozen=True)
class PromptSet:
    path: Path
    items: tuple[PromptItem, ...]
    sha256: str
    recipe: Mapping[str, Any] | None = None  # how ``llama-eval synth`` made the set (its first line), None for other sets

    def __iter__(self) -> Iterator[PromptItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_conversations(self) -> bool:
        return any(item.turns for item in self.items)

    def scorable_items(self) -> tuple[PromptItem, ...]:
        """The items a row can name: single prompts as they are, each conversation as its turns."""
        return tuple(turn for item in self.items for turn in ((item.turn(k) for k in range(1, len(item.turns) + 1)) if item.turns else (item,)))

    def by_id(self) -> dict[str, PromptItem]:
        """Every item by id, and every turn of a conversation by its ``turn_id`` (what a row's ``prompt_id`` names)."""
        out = {item.id: item for item in self.items}
        for item in self.items:
            for k in range(1, len(item.turns) + 1):
                out[turn_id(item.id, k)] = item.turn(k)
        return out

    @property
    def name(self) -> str:
        return self.path.stem


def turn_id(conversation_id: str, k: int) -> str:
    """The ``prompt_id`` of turn ``k`` (1-based) of a conversation: ``<id>#<k>``."""
    return f"{conversation_id}#{k}"


def prompt_key(messages: Any) -> str:
    """A stable key for a conversation's text, used to recognise a prompt (e.g. by the emulator)."""
    parts = []
    for m in messages or []:
        if not isinstance(m, Mapping):
            continue
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
        parts.append(f"{m.get('role')}:{' '.join(str(content or '').split())}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _image_part(ref: Any, base: Path, where: str) -> dict[str, Any]:
    if not isinstance(ref, str) or not ref:
        raise PromptSetError(f"{where}: field 'images': each image must be a file path, an https:// URL or a data: URL")
    if ref.startswith(("https://", "http://", "data:")):
        return {"type": "image_url", "image_url": {"url": ref}}
    path = (base / ref) if not Path(ref).is_absolute() else Path(ref)
    if not path.is_file():
        raise PromptSetError(f"{where}: field 'images': file {ref!r} not found (relative paths start at {base})")
    mime = mimetypes.guess_type(path.name)[0] or ""
    if not mime.startswith("image/"):
        raise PromptSetError(f"{where}: field 'images': {ref!r} is not an image file (png, jpeg, gif, webp)")
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"}}


def _messages(raw: Mapping[str, Any], base: Path, where: str) -> tuple[dict[str, Any], ...]:
    if "messages" in raw and "prompt" in raw:
        raise PromptSetError(f"{where}: give 'messages' or the 'prompt' shorthand, not both")
    if "prompt" in raw:
        if not isinstance(raw["prompt"], str) or not raw["prompt"].strip():
            raise PromptSetError(f"{where}: field 'prompt' must be non-empty text")
        content: Any = raw["prompt"]
        images = raw.get("images") or []
        if not isinstance(images, list):
            raise PromptSetError(f"{where}: field 'images' must be a list of paths or URLs")
        if images:
            content = [{"type": "text", "text": raw["prompt"]}, *(_image_part(i, base, where) for i in images)]
        messages = [{"role": "user", "content": content}]
        if raw.get("system") is not None:
            if not isinstance(raw["system"], str):
                raise PromptSetError(f"{where}: field 'system' must be text")
            messages.insert(0, {"role": "system", "content": raw["system"]})
        return tuple(messages)
    if "messages" not in raw:
        raise PromptSetError(f"{where}: missing field 'messages' (or the 'prompt' shorthand), e.g. \"prompt\": \"What is 2+2?\"")
    if "images" in raw or "system" in raw:
        raise PromptSetError(f"{where}: 'images' and 'system' go with the 'prompt' shorthand; with 'messages', put them in the messages")
    messages = raw["messages"]
    if not isinstance(messages, list) or not messages:
        raise PromptSetError(f'{where}: field \'messages\' must be a non-empty list of {{"role", "content"}} objects')
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise PromptSetError(f"{where}: messages[{i}]: 'role' must be one of {', '.join(ROLES)}")
        content = m.get("content")
        if not isinstance(content, (str, list)):
            raise PromptSetError(f"{where}: messages[{i}]: 'content' must be text or a list of parts")
        if isinstance(content, list):
            for j, part in enumerate(content):
                if not isinstance(part, dict) or part.get("type") not in ("text", "image_url"):
                    raise PromptSetError(f"{where}: messages[{i}].content[{j}]: part 'type' must be 'text' or 'image_url'")
    return tuple(messages)


def _conversation(raw: Mapping[str, Any], where: str) -> tuple[tuple[dict[str, Any], ...], tuple[str, ...], tuple[Any, ...]]:
    """A conversation's first request (system and turn 1), its turns and its per-turn references."""
    for other in ("messages", "prompt", "images", "reference"):
        if other in raw:
            hint = "'references' (a list, one per turn)" if other == "reference" else "'turns' alone"
            raise PromptSetError(f"{where}: a conversation ('turns') takes {hint}, not {other!r}")
    turns = raw["turns"]
    if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
        raise PromptSetError(f'{where}: field \'turns\' must be a non-empty list of the user\'s messages (text), e.g. ["Hi", "And then?"]')
    references = raw.get("references")
    if references is not None and (not isinstance(references, list) or len(references) != len(turns)):
        raise PromptSetError(f"{where}: field 'references' must be a list with one entry per turn ({len(turns)}; null for a turn without one)")
    system = raw.get("system")
    if system is not None and not isinstance(system, str):
        raise PromptSetError(f"{where}: field 'system' must be text")
    first = ([{"role": "system", "content": system}] if system is not None else []) + [{"role": "user", "content": turns[0]}]
    return tuple(first), tuple(turns), tuple(references or ())


def _item(raw: Any, base: Path, where: str) -> PromptItem:
    if not isinstance(raw, dict):
        raise PromptSetError(f"{where}: each line must be a JSON object, got {type(raw).__name__}")
    unknown = [k for k in raw if k not in FIELDS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), FIELDS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"fields: {', '.join(FIELDS)}"
        raise PromptSetError(f"{where}: unknown field {unknown[0]!r}; {hint}")
    item_id = raw.get("id")
    if not isinstance(item_id, (str, int)) or isinstance(item_id, bool) or str(item_id).strip() == "":
        raise PromptSetError(f"{where}: field 'id' is required (text or a number, unique in the file)")
    scorer, options = raw.get("scorer"), {}
    if isinstance(scorer, dict):
        options = {k: v for k, v in scorer.items() if k != "name"}
        scorer = scorer.get("name")
    if scorer is not None and not isinstance(scorer, str):
        raise PromptSetError(f"{where}: field 'scorer' must be a scorer name or {{\"name\": ..., options}}")
    tags = raw.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise PromptSetError(f"{where}: field 'tags' must be a list of text labels")
    max_tokens = raw.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise PromptSetError(f"{where}: field 'max_tokens' must be a whole number >= 1")
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise PromptSetError(f"{where}: field 'metadata' must be an object")
    if "references" in raw and "turns" not in raw:
        raise PromptSetError(f"{where}: 'references' goes with a conversation's 'turns'; a single prompt takes 'reference'")
    if "turns" in raw:
        messages, turns, references = _conversation(raw, where)
        if "#" in str(item_id):
            raise PromptSetError(f"{where}: a conversation's id must not contain '#' (its turns are named <id>#<turn>)")
        return PromptItem(str(item_id), messages, None, scorer, options, tuple(tags), max_tokens, metadata, where, turns, references)
    return PromptItem(
        id=str(item_id),
        messages=_messages(raw, base, where),
        reference=raw.get("reference"),
        scorer=scorer,
        scorer_options=options,
        tags=tuple(tags),
        max_tokens=max_tokens,
        metadata=metadata,
        source=where,
    )


def _looks_like_csv(path: Path, first_line: str) -> bool:
    """A .csv/.tsv file, or a first line that is a header naming a prompt column: the user meant ``import csv``."""
    if path.suffix.lower() in (".csv", ".tsv"):
        return True
    cells = [c.strip().strip('"').lower() for c in first_line.lstrip("\ufeff").replace(";", ",").replace("\t", ",").split(",")]
    return len(cells) > 1 and "prompt" in cells


def load_prompt_set(path: str | Path) -> PromptSet:
    """Read and check a JSONL prompt set; blank lines and lines starting with '//' are skipped."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PromptSetError(f"prompt set not found: {path}") from None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (Notepad, Excel) is not part of the first line
    except UnicodeDecodeError as exc:
        raise PromptSetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8") from None
    items: list[PromptItem] = []
    seen: dict[str, int] = {}
    recipe = None
    for line_no, line in enumerate(text.splitlines(), start=1):
        if line_no == 1 and line.startswith(RECIPE_MARK):
            try:
                recipe = json.loads(line[len(RECIPE_MARK) :])
            except json.JSONDecodeError as exc:
                raise PromptSetError(f"{path} line 1: the synth recipe is not valid JSON ({exc.msg}); make the set again with `llama-eval synth`") from None
            continue
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        where = f"{path} line {line_no}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            if not items and _looks_like_csv(path, line):
                raise PromptSetError(
                    f"{path}: this is a CSV, not a JSONL prompt set: run `llama-eval import csv {path} -o {path.with_suffix('.jsonl')}` first "
                    "(columns prompt, reference; optional id, tags, scorer)"
                ) from None
            raise PromptSetError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); each line must be one JSON object") from None
        item = _item(raw, path.parent, where)
        if item.id in seen:
            raise PromptSetError(f"{where}: id {item.id!r} is already used on line {seen[item.id]}; ids must be unique")
        seen[item.id] = line_no
        items.append(item)
    if not items:
        raise PromptSetError(f"{path}: no prompts (expected one JSON object a line)")
    return PromptSet(path, tuple(items), hashlib.sha256(data).hexdigest(), recipe)
