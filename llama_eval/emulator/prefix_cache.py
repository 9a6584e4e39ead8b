"""The emulator's prefix cache: repeated prompt prefixes start faster on managed and self-hosted deployments.

vLLM (automatic prefix caching, on by default in its V1 engine) and llama.cpp's server keep the KV
cache of prompt prefixes they have seen, in fixed-size blocks, and evict the least recently used
block when memory runs out; a new request whose prompt begins with cached blocks skips their
prefill. The emulator plays that:

* a prompt is its chat's token ids (each message: a role marker, then its content's ids, as the
  chat template lays it out), cut into blocks of ``BLOCK_TOKENS``; a block's key chains the keys of
  all blocks before it, so only a true *prefix* hits;
* ``cached`` = the leading blocks already in the cache, whole blocks only and never the whole
  prompt (the last token is always computed, as vLLM does), at most the billed prompt tokens;
* every block of the prompt is then inserted (or refreshed) as most recently used, and the least
  recently used blocks go beyond ``capacity_tokens``;
* time to first token counts the *uncached* tokens only (``LatencyProfile.ttft``), and the usage
  reports ``prompt_tokens_details.cached_tokens`` as vLLM's OpenAI server does.

Only managed and self-hosted deployments get a cache. Serverless and provisioned (PTU) Llama
deployments keep Azure's documented behaviour: prompt caching is documented for Azure OpenAI
models (GPT-4o or newer) only, so no cache effect is assumed for Llama (the project's reference
notes, azure-ptu-and-serving-options.md). The cache size is stated (``source``): by default the
KV-cache token budget of the deployment's batch model (batch x ``CONTEXT_TOKENS``), else a fixed
``DEFAULT_CAPACITY_TOKENS``.
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llama_eval.catalog.tokens import TokenCounter

BLOCK_TOKENS = 16  # vLLM's default block size
DEFAULT_CAPACITY_TOKENS = 262_144  # when no batch model says how much KV memory there is
CACHED_KINDS = ("managed", "self-hosted")
_ROLE_MARK = {"system": -1, "user": -2, "assistant": -3, "tool": -4, "ipython": -4}  # not token ids: they only have to differ


def chat_ids(counter: TokenCounter, messages: Iterable[Mapping[str, Any]]) -> list[int]:
    """The ids a chat's prompt is made of, in template order: per message a role marker, then its text's ids."""
    ids: list[int] = []
    for message in messages:
        ids.append(_ROLE_MARK.get(str(message.get("role")), -5))
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
        ids.extend(counter.encode(str(content or "")))
    return ids


@dataclass
class PrefixCache:
    """An LRU cache of prompt blocks of one deployment, ``capacity_tokens`` big."""

    capacity_tokens: int
    block_tokens: int = BLOCK_TOKENS
    source: str = ""
    blocks: collections.OrderedDict[bytes, None] = field(default_factory=collections.OrderedDict)
    hits_tokens: int = 0
    prompt_tokens: int = 0

    def lookup_insert(self, ids: Sequence[int], billed_prompt_tokens: int | None = None) -> int:
        """Tokens of ``ids`` served from the cache (leading whole blocks, never all of it); then every block is cached."""
        keys, previous = [], b""
        for start in range(0, len(ids) - len(ids) % self.block_tokens, self.block_tokens):
            previous = hashlib.blake2b(previous + repr(ids[start : start + self.block_tokens]).encode(), digest_size=16).digest()
            keys.append(previous)
        hit = 0
        for key in keys:
            if key not in self.blocks:
                break
            hit += 1
        cached = min(hit * self.block_tokens, max(0, len(ids) - 1))
        cached -= cached % self.block_tokens
        for key in keys:
            self.blocks[key] = None
            self.blocks.move_to_end(key)
        while len(self.blocks) * self.block_tokens > self.capacity_tokens:
            self.blocks.popitem(last=False)
        if billed_prompt_tokens is not None:
            cached = min(cached, max(0, billed_prompt_tokens - 1))
        self.hits_tokens += cached
        self.prompt_tokens += billed_prompt_tokens if billed_prompt_tokens is not None else len(ids)
        return cached


class PrefixCaches:
    """One ``PrefixCache`` per managed or self-hosted deployment of an emulator; ``cached_tokens`` is 0 for the others."""

    def __init__(self, deployments: Iterable[Any], capacity: Mapping[str, Any] | None = None, *, context_tokens: int = 2048):
        self.caches: dict[str, PrefixCache] = {}
        for d in deployments:
            if getattr(d, "kind", None) not in CACHED_KINDS:
                continue
            batch = (capacity or {}).get(d.name)
            if batch is not None:
                size = batch.slots * context_tokens
                source = f"the KV-cache budget of its batch model: {batch.slots} sequences x {context_tokens} tokens"
            else:
                size, source = DEFAULT_CAPACITY_TOKENS, f"a fixed {DEFAULT_CAPACITY_TOKENS:,} tokens (no batch model for this deployment)"
            self.caches[d.name] = PrefixCache(size, source=f"LRU over {BLOCK_TOKENS}-token blocks, {size:,} tokens: {source}")

    def cached_tokens(self, dep: Any, messages: Iterable[Mapping[str, Any]], prompt_tokens: int) -> int | None:
        """Prompt tokens served from ``dep``'s cache (None: the deployment has no cache, the usage says nothing)."""
        cache = self.caches.get(dep.name)
        if cache is None:
            return None
        return cache.lookup_insert(chat_ids(dep.counter, messages), prompt_tokens)
