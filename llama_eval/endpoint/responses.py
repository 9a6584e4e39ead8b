"""The result types: azure-ai-inference's models, plus the Llama field the SDK does not declare.

The Llama endpoints return ``logprobs`` on each choice (the OpenAI chat layout: ``content`` is a
list of tokens with ``token``, ``logprob``, ``bytes`` and ``top_logprobs``), but the SDK's
``ChatChoice`` has no such field, so ``choices[0].logprobs`` raised AttributeError and only
``choices[0]["logprobs"]`` worked. These subclasses add it; they are still ``ChatCompletions`` /
``StreamingChatCompletionsUpdate`` (isinstance holds), so code from the Azure docs is unaffected.
"""

from __future__ import annotations

from typing import Any

from azure.ai.inference.models import ChatChoice, ChatCompletions, StreamingChatChoiceUpdate, StreamingChatCompletionsUpdate

# azure's Model works out each field's type on a class's first instantiation, resolving string
# annotations ("_models.CompletionsUsage") in the module of the class being instantiated; the fields
# are shared with subclasses, so the SDK classes must be worked out first, in their own module.
for _base in (ChatCompletions, ChatChoice, StreamingChatCompletionsUpdate, StreamingChatChoiceUpdate):
    _base({})


class Fields(dict):
    """A JSON object whose keys are also attributes (``lp.content[0].top_logprobs``), nested all the way down."""

    def __getattr__(self, name: str) -> Any:
        try:
            return _wrap(self[name])
        except KeyError:
            raise AttributeError(f"no field {name!r}; fields: {', '.join(self)}") from None

    def __getitem__(self, name: str) -> Any:
        return _wrap(super().__getitem__(name))


def _wrap(value: Any) -> Any:
    if isinstance(value, dict) and not isinstance(value, Fields):
        return Fields(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class _Logprobs:
    @property
    def logprobs(self) -> Fields | None:
        """Log probabilities of this choice's tokens (None unless asked for with ``extra=ExtraParameters(logprobs=...)``)."""
        return _wrap(self.get("logprobs"))  # type: ignore[attr-defined]


class LlamaChatChoice(_Logprobs, ChatChoice):
    pass


class LlamaStreamingChoiceUpdate(_Logprobs, StreamingChatChoiceUpdate):
    pass


class LlamaChatCompletions(ChatCompletions):
    """``ChatCompletions`` whose choices expose ``logprobs`` as an attribute."""

    @property
    def choices(self) -> list[LlamaChatChoice]:  # type: ignore[override]
        return [LlamaChatChoice(c) for c in self.get("choices") or []]


class LlamaStreamingUpdate(StreamingChatCompletionsUpdate):
    """``StreamingChatCompletionsUpdate`` whose choices expose ``logprobs`` as an attribute."""

    @property
    def choices(self) -> list[LlamaStreamingChoiceUpdate]:  # type: ignore[override]
        return [LlamaStreamingChoiceUpdate(c) for c in self.get("choices") or []]


def completions(data: Any) -> LlamaChatCompletions:
    """A completion (an SDK model or its JSON) as ``LlamaChatCompletions``."""
    return LlamaChatCompletions(data.as_dict() if hasattr(data, "as_dict") else data)


def update(data: Any) -> LlamaStreamingUpdate:
    """A streamed update (an SDK model or its JSON) as ``LlamaStreamingUpdate``."""
    return LlamaStreamingUpdate(data.as_dict() if hasattr(data, "as_dict") else data)
