"""Counting tokens the way Llama does, offline.

Llama 3.x and Llama Guard 3 share one tokenizer (128,256 ids); Llama 4 has its own (202,048 ids).
Both ship inside Meta's ``llama-models`` wheel from PyPI, so counts are exact and need no network.
A chat prompt is counted with its chat template (begin-of-text, a header per message, end-of-turn,
and the assistant header that asks for the reply), which is what the endpoint bills as prompt tokens.

No wheel on PyPI bundles the Llama 2 SentencePiece vocabulary, so Llama 2 counts are an estimate:
the Llama 3 count divided by 0.85 (Meta: Llama 3's tokenizer yields "up to 15% fewer tokens" than
Llama 2's), plus the ``[INST]`` template overhead. Such counts say ``exact=False``.

Special-token strings inside user text (``"<|eot_id|>"`` typed by a user) are counted as ordinary
text, as the service does for message content.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LLAMA2_FACTOR = 1 / 0.85
IMAGE_PLACEHOLDER_TOKENS = 1  # an image part counts as its <|image|> token; the tiles it expands to are not known here


@functools.lru_cache(maxsize=2)
def _tokenizer(kind: str) -> Any:
    if kind == "llama4":
        from llama_models.llama4.tokenizer import Tokenizer
    else:
        from llama_models.llama3.tokenizer import Tokenizer
    return Tokenizer.get_instance()


def _encoding(kind: str) -> Any:
    """The tiktoken Encoding behind Meta's tokenizer (Llama 3 ids for the llama2 estimator)."""
    return _tokenizer("llama4" if kind == "llama4" else "llama3").model


@functools.lru_cache(maxsize=4096)
def _short_count(kind: str, text: str) -> int:
    """Counts of short strings (role names, template pieces) recur on every request: cache them."""
    return len(_encoding(kind).encode_ordinary(text))


@functools.lru_cache(maxsize=65536)
def _piece(kind: str, token_id: int) -> bytes:
    return _encoding(kind).decode_single_token_bytes(token_id)


def tokenizer_kind(family: str | None) -> str:
    """``llama3``, ``llama4`` or ``llama2`` (estimated) for a catalog family name."""
    if family == "llama-4":
        return "llama4"
    if family == "llama-2":
        return "llama2"
    return "llama3"


def _text_of(content: Any) -> tuple[list[str], int]:
    """Text pieces and image count of a message's content (a string or a list of parts)."""
    if content is None:
        return [], 0
    if isinstance(content, str):
        return [content], 0
    texts, images = [], 0
    for part in content if isinstance(content, list) else []:
        if isinstance(part, Mapping):
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "image_url":
                images += 1
    return texts, images


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens for one tokenizer kind: ``count(text)`` and ``count_chat(messages)``."""

    kind: str

    @property
    def exact(self) -> bool:
        return self.kind != "llama2"

    def encode(self, text: str) -> list[int]:
        """Token ids of plain text (Llama 3 ids for the llama2 estimator); special-token strings are ordinary text.

        Calls tiktoken directly: Meta's wrapper re-splits the text in Python first (a guard for
        pathological 400k-character runs) and gives the same ids at several times the cost.
        """
        return _encoding(self.kind).encode_ordinary(text)

    def decode_piece(self, token_id: int) -> bytes:
        return _piece(self.kind, token_id)

    def count(self, text: str) -> int:
        n = len(self.encode(text)) if len(text) > 16 else _short_count(self.kind, text)
        return math.ceil(n * LLAMA2_FACTOR) if self.kind == "llama2" else n

    def count_chat(self, messages: Iterable[Mapping[str, Any]]) -> int:
        """Prompt tokens of a chat request, template included, ending with the assistant header."""
        if self.kind == "llama2":
            return self._count_llama2_chat(messages)
        header_newlines = self.count("\n\n")
        total = 1  # <|begin_of_text|>
        for message in messages:
            role = str(message.get("role", "user"))
            role = "ipython" if (role == "tool" and self.kind == "llama3") else role
            texts, images = _text_of(message.get("content"))
            total += 1 + self.count(role) + 1 + header_newlines  # <|start_header_id|>role<|end_header_id|>\n\n
            total += sum(self.count(t) for t in texts) + images * IMAGE_PLACEHOLDER_TOKENS
            total += 1  # <|eot_id|> / <|eot|>
        total += 1 + self.count("assistant") + 1 + header_newlines
        return total

    def _count_llama2_chat(self, messages: Iterable[Mapping[str, Any]]) -> int:
        # <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] ...
        total = 0
        for message in messages:
            texts, images = _text_of(message.get("content"))
            body = self.count(" ".join(texts)) + images * IMAGE_PLACEHOLDER_TOKENS
            role = message.get("role")
            if role == "system":
                total += body + self.count("<<SYS>>\n\n<</SYS>>\n\n")
            elif role == "assistant":
                total += body + 2  # </s><s>
            else:
                total += body + 1 + self.count("[INST]  [/INST]")  # <s> + markers
        return total


def counter_for(family: str | None) -> TokenCounter:
    """The token counter for a catalog family (``CatalogModel.family``); None means Llama 3."""
    return TokenCounter(tokenizer_kind(family))
