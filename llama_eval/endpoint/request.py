"""Building and checking a chat request before anything is sent.

Both transports send the body this module builds, so they cannot drift apart. Each rule the Llama
endpoints enforce (or silently mishandle) is checked here first and fails with a
``RequestValidationError`` whose ``rule`` names it and whose message says what to do.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llama_eval.catalog.models import LLAMA_EXTRAS, CatalogModel
from llama_eval.errors import RequestValidationError, UnverifiedParameterWarning

ROLES = ("system", "user", "assistant", "tool", "developer")
# Azure AI Model Inference API reference and the azure-ai-inference docstrings: "Supported range is [0, 1]"
# for both (shared/reference/azure-facts.md §0.5 and §2.1). OpenAI's own API allows temperature up to 2; Llama on Azure does not.
TEMPERATURE_RANGE = (0.0, 1.0)
TOP_P_RANGE = (0.0, 1.0)
# A self-hosted OpenAI-compatible server (vLLM) takes OpenAI's temperature range [0, 2] and top_p in (0, 1]
# (vLLM SamplingParams refuses top_p 0); the emulator's /v1 surface enforces the same (emulator/protocol.py).
SELF_HOSTED_TEMPERATURE_RANGE = (0.0, 2.0)
_warned_unverified: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class ExtraParameters:
    """The Llama *extra parameters*, sent at the top of the body with ``extra-parameters: pass-through``.

    n: how many completions to return.
    best_of: candidates generated server-side; the best ``n`` are returned. Must exceed ``n``; no streaming.
    logprobs: log probabilities of the sampled token and of the ``logprobs`` most likely ones
        (an integer; ``True`` asks for the sampled token only).
    ignore_eos: keep generating past the end-of-sequence token.
    use_beam_search: beam search instead of sampling; needs ``best_of > 1`` and ``temperature=0``.
    stop_token_ids: token ids that stop generation.
    skip_special_tokens: drop special tokens from the output text.
    """

    n: int | None = None
    best_of: int | None = None
    logprobs: int | bool | None = None
    ignore_eos: bool | None = None
    use_beam_search: bool | None = None
    stop_token_ids: Sequence[int] | None = None
    skip_special_tokens: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, ready for the request body."""
        out = {name: getattr(self, name) for name in LLAMA_EXTRAS if getattr(self, name) is not None}
        if "stop_token_ids" in out:
            out["stop_token_ids"] = list(out["stop_token_ids"])
        return out

    @classmethod
    def coerce(cls, value: ExtraParameters | Mapping[str, Any] | None) -> ExtraParameters:
        """Accept an ExtraParameters, a plain dict of the same names, or None."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise RequestValidationError("extra_type", f"extra parameters must be ExtraParameters or a dict, got {type(value).__name__}")
        unknown = [k for k in value if k not in LLAMA_EXTRAS]
        if unknown:
            close = difflib.get_close_matches(unknown[0], LLAMA_EXTRAS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; Llama takes: {', '.join(LLAMA_EXTRAS)}"
            raise RequestValidationError("extra_unknown", f"unknown extra parameter {unknown[0]!r}{hint}")
        return cls(**value)


@dataclass(frozen=True)
class ChatRequest:
    """A checked request: the JSON body (without extras), the extras, and whether it streams."""

    body: dict[str, Any]
    extras: dict[str, Any]
    stream: bool


def _fail(rule: str, message: str) -> None:
    raise RequestValidationError(rule, message)


def message_to_dict(message: Any, index: int) -> dict[str, Any]:
    """An SDK message (azure ``SystemMessage``..., or any model with ``as_dict``) or a dict, as a dict."""
    if hasattr(message, "as_dict"):
        message = message.as_dict()
    elif hasattr(message, "model_dump"):
        message = message.model_dump(exclude_none=True)
    if not isinstance(message, Mapping):
        _fail("message_type", f"messages[{index}] must be a dict or an SDK message such as UserMessage, got {type(message).__name__}")
    return dict(message)


def _check_messages(messages: Any, model: CatalogModel | None) -> list[dict[str, Any]]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
        _fail("messages_empty", "messages must be a non-empty list, e.g. [{'role': 'user', 'content': 'Hello'}]")
    out = []
    for i, raw in enumerate(messages):
        msg = message_to_dict(raw, i)
        role = msg.get("role")
        if role not in ROLES:
            _fail("message_role", f"messages[{i}]: role must be one of {', '.join(ROLES)}, got {role!r}")
        content = msg.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                kind = part.get("type") if isinstance(part, Mapping) else None
                if kind == "text":
                    if not isinstance(part.get("text"), str):
                        _fail("message_content", f"messages[{i}].content[{j}]: a text part needs 'text'")
                elif kind == "image_url":
                    url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), Mapping) else None
                    if not isinstance(url, str) or not url:
                        _fail("message_content", f"messages[{i}].content[{j}]: an image part needs image_url.url (https:// or data:image/...;base64,...)")
                    if model is not None and not model.accepts_images:
                        _fail(
                            "image_text_only_model",
                            f"messages[{i}] holds an image but {model.id} is text-only; use a vision model "
                            "(Llama-3.2-11B/90B-Vision-Instruct, Llama-4-Scout or Llama-4-Maverick)",
                        )
                else:
                    _fail("message_content", f"messages[{i}].content[{j}]: part type must be 'text' or 'image_url', got {kind!r}")
        elif not isinstance(content, str) and not (role == "assistant" and content is None):
            _fail("message_content", f"messages[{i}]: content must be text or a list of parts, got {type(content).__name__}")
        out.append(msg)
    return out


def _check_number(name: str, value: Any, low: float, high: float, *, low_open: bool = False, why: str = "") -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(f"{name}_range", f"{name} must be a number, got {value!r}")
    if value > high or value < low or (low_open and value == low):
        bracket = "(" if low_open else "["
        source = f" ({why})" if why else ""
        _fail(f"{name}_range", f"{name} must be in {bracket}{low:g}, {high:g}]{source}, got {value}")


def _check_response_format(response_format: Any) -> Any:
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, Mapping) else getattr(response_format, "type", response_format)
    kind = getattr(kind, "value", kind)
    if kind in ("json_object", "json_schema"):
        _fail(
            "json_object_unsupported",
            "Meta Llama models don't support JSON output formatting (response_format "
            f"{kind!r} is answered with 422 parameter_not_supported); ask for JSON in the prompt "
            "instead and check the answer with the 'json' scorer",
        )
    if kind != "text":
        _fail("response_format_unknown", f"response_format must be 'text' (Llama has no JSON mode), got {response_format!r}")
    return {"type": "text"}


def _check_extras(extras: ExtraParameters, model: CatalogModel | None, temperature: Any, stream: bool) -> dict[str, Any]:
    values = extras.to_dict()
    if model is not None:
        unsupported = [k for k in values if k not in model.extra_parameters]
        if unsupported:
            _fail("extra_unsupported", f"{model.id} does not accept extra parameter(s) {unsupported}; it takes {list(model.extra_parameters)}")
        for name in (k for k in values if k in model.unverified_extras and (model.id, k) not in _warned_unverified):
            _warned_unverified.add((model.id, name))
            warnings.warn(
                UnverifiedParameterWarning(
                    f"{name} on {model.id} is unverified: the Llama docs list it for Llama 2/3/3.1 serverless, and vLLM (which serves Llama) "
                    "removed beam search and deprecated best_of; the endpoint may reject or ignore it (data/models.yaml, unverified_extra_parameters)"
                ),
                stacklevel=4,
            )
    n, best_of = extras.n, extras.best_of
    for name, value in (("n", n), ("best_of", best_of)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            _fail(f"{name}_range", f"{name} must be a whole number >= 1, got {value!r}")
    if best_of is not None:
        if best_of <= (n or 1):
            _fail("best_of_gt_n", f"best_of ({best_of}) must be greater than n ({n or 1}): it is the number of candidates the best n are chosen from")
        if stream:
            _fail("best_of_stream", "best_of results can't be streamed; call complete() instead of stream()")
    if extras.use_beam_search:
        if best_of is None or best_of <= 1:
            _fail("beam_search_best_of", "use_beam_search needs best_of > 1 (the beam width)")
        if temperature != 0:
            _fail("beam_search_temperature", f"use_beam_search needs temperature=0, got {temperature!r}")
    if extras.logprobs is not None and not isinstance(extras.logprobs, bool):
        if not isinstance(extras.logprobs, int) or not 0 <= extras.logprobs <= 20:
            _fail("logprobs_range", f"logprobs must be a whole number in [0, 20] (or True), got {extras.logprobs!r}")
    for flag in ("ignore_eos", "use_beam_search", "skip_special_tokens"):
        value = getattr(extras, flag)
        if value is not None and not isinstance(value, bool):
            _fail(f"{flag}_type", f"{flag} must be True or False, got {value!r}")
    if extras.stop_token_ids is not None:
        ids = extras.stop_token_ids
        if isinstance(ids, (str, bytes)) or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in ids):
            _fail("stop_token_ids_type", f"stop_token_ids must be a list of token ids (whole numbers >= 0), got {ids!r}")
    return values


def build_request(
    messages: Any,
    *,
    model: CatalogModel | None = None,
    stream: bool = False,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    stop: Sequence[str] | str | None = None,
    presence_penalty: float | None = None,
    frequency_penalty: float | None = None,
    seed: int | None = None,
    response_format: Any = None,
    extra: ExtraParameters | Mapping[str, Any] | None = None,
    request_model_name: str | None = None,
    kind: str | None = None,
) -> ChatRequest:
    """Check every rule and build the body; raises RequestValidationError before anything is sent.

    ``kind`` is the deployment's kind: ``self-hosted`` (an OpenAI-compatible server such as vLLM) has
    wider sampling ranges than Llama on Azure (serverless, managed; the default).
    """
    checked_messages = _check_messages(messages, model)
    if kind == "self-hosted":
        why = "a self-hosted OpenAI-compatible server such as vLLM"
        _check_number("temperature", temperature, *SELF_HOSTED_TEMPERATURE_RANGE, why=why)
        _check_number("top_p", top_p, *TOP_P_RANGE, low_open=True, why=why)
    else:
        why = "Llama on Azure: the Azure AI Model Inference API reference"
        _check_number("temperature", temperature, *TEMPERATURE_RANGE, why=why)
        _check_number("top_p", top_p, *TOP_P_RANGE, why=why)
    _check_number("presence_penalty", presence_penalty, -2, 2)
    _check_number("frequency_penalty", frequency_penalty, -2, 2)
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            _fail("max_tokens_range", f"max_tokens must be a whole number >= 1, got {max_tokens!r}")
        if model is not None and model.max_output_tokens is not None and max_tokens > model.max_output_tokens:
            _fail("max_tokens_range", f"max_tokens {max_tokens} exceeds {model.id}'s output limit of {model.max_output_tokens} tokens")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and (not isinstance(stop, Sequence) or not all(isinstance(s, str) and s for s in stop)):
        _fail("stop_type", f"stop must be a list of non-empty strings, got {stop!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        _fail("seed_type", f"seed must be a whole number, got {seed!r}")
    fmt = _check_response_format(response_format)
    extras = _check_extras(ExtraParameters.coerce(extra), model, temperature, stream) if extra is not None else {}
    return _assemble(checked_messages, request_model_name, temperature, top_p, max_tokens, stop, presence_penalty, frequency_penalty, seed, fmt, extras, stream)


def _assemble(messages: list[dict[str, Any]], model_name: str | None, temperature: Any, top_p: Any, max_tokens: Any, stop: Sequence[str] | None,
              presence_penalty: Any, frequency_penalty: Any, seed: Any, fmt: Any, extras: dict[str, Any], stream: bool) -> ChatRequest:  # fmt: skip
    body: dict[str, Any] = {
        "messages": messages,
        "model": model_name,
        "temperature": temperature,
        "top_p": top_p,
        "max_tokens": max_tokens,
        "stop": list(stop) if stop is not None else None,
        "presence_penalty": presence_penalty,
        "frequency_penalty": frequency_penalty,
        "seed": seed,
        "response_format": fmt,
    }
    return ChatRequest(body={k: v for k, v in body.items() if v is not None}, extras=extras, stream=stream)


def assemble_checked(
    messages: Sequence[Any],
    *,
    stream: bool = False,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    stop: Sequence[str] | str | None = None,
    presence_penalty: float | None = None,
    frequency_penalty: float | None = None,
    seed: int | None = None,
    response_format: Any = None,
    extra: ExtraParameters | Mapping[str, Any] | None = None,
    request_model_name: str | None = None,
) -> ChatRequest:
    """The body ``build_request`` makes, without checking it again: only for a request ``build_request`` has already passed.

    A run checks every prompt against every deployment while planning, before anything is sent; the
    request it then sends is assembled by this (the same ``_assemble``), at a fraction of the cost.
    """
    listed = [dict(m) if isinstance(m, Mapping) else message_to_dict(m, i) for i, m in enumerate(messages)]
    stop = [stop] if isinstance(stop, str) else stop
    fmt = {"type": "text"} if response_format is not None else None  # checked: 'text' is the only format Llama takes
    extras = ExtraParameters.coerce(extra).to_dict() if extra is not None else {}
    return _assemble(listed, request_model_name, temperature, top_p, max_tokens, stop, presence_penalty, frequency_penalty, seed, fmt, extras, stream)
