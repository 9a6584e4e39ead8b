"""The wire protocol the emulator speaks: parsing a chat request and shaping error answers.

A pure module (no I/O) so it can be fuzzed on its own: ``parse_chat(...)`` either returns a
``ChatCall`` or raises ``ApiError`` carrying the status, body and headers the real service sends for
that mistake (shapes from ``shared/reference/azure-facts.md`` §1.4 and §1.8). Nothing else escapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llama_eval.catalog.models import LLAMA_EXTRAS, CatalogModel

EXTRA_PARAMETER_MODES = ("error", "drop", "pass-through")

# Body fields of the Azure AI Model Inference chat API (spec main.tsp / routes.tsp).
STANDARD_FIELDS = {
    "messages",
    "model",
    "frequency_penalty",
    "presence_penalty",
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "stream",
    "seed",
    "response_format",
    "tools",
    "tool_choice",
    "stream_options",
}
# The /openai/v1 surface knows a few more natively (OpenAI chat completions).
OPENAI_FIELDS = STANDARD_FIELDS | {"n", "logprobs", "top_logprobs", "user", "max_completion_tokens"}
# Azure AI Model Inference API reference and SDK docstrings: temperature and top_p "Supported range is [0, 1]"
# (shared/reference/azure-facts.md §0.5, §2.1). A vLLM server takes OpenAI's temperature range [0, 2] and top_p in (0, 1].
AZURE_TEMPERATURE = (0, 1)
OPENAI_TEMPERATURE = (0, 2)

ROLES = ("system", "user", "assistant", "tool", "developer")


class ApiError(Exception):
    """An HTTP error answer: status, JSON body and extra headers."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def azure_error(status: int, code: str, message: str, **extra: Any) -> ApiError:
    """The nested ``{"error": {...}}`` shape the Llama endpoints use, with ``x-ms-error-code``."""
    return ApiError(status, {"error": {"code": code, "message": message, "status": status, **extra}}, {"x-ms-error-code": code})


def validation_error(loc: list[Any], kind: str, msg: str, value: Any = None) -> ApiError:
    """The pydantic-style 422 the serverless front end answers for a bad or unknown field."""
    item = {"type": kind, "loc": ["body", *loc], "msg": msg}
    if value is not None:
        item["input"] = value if isinstance(value, (str, int, float, bool)) else str(value)[:200]
    return ApiError(422, {"detail": [item]})


def content_filter_error() -> ApiError:
    """HTTP 400 content_filter, as in the Llama docs' REST example."""
    return ApiError(
        400,
        {
            "error": {
                "message": "The response was filtered due to the prompt triggering Microsoft's content management policy. Please modify your prompt and retry.",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
            }
        },
        {"x-ms-error-code": "content_filter"},
    )


@dataclass
class ChatCall:
    """A parsed, valid chat request."""

    messages: list[dict[str, Any]]
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    include_usage: bool = False
    n: int = 1
    best_of: int | None = None
    logprobs: int | None = None  # None: not asked; 0: sampled token only; k: plus k alternatives
    ignore_eos: bool = False
    use_beam_search: bool = False
    stop_token_ids: list[int] = field(default_factory=list)
    model_field: str | None = None
    openai_surface: bool = False

    def prompt_text(self) -> str:
        """All message text joined, for block-list checks and prompt matching."""
        parts = []
        for m in self.messages:
            content = m.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(p.get("text", "") for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
        return "\n".join(parts)


def parse_json_body(raw: bytes) -> Any:
    """The request body as JSON, or a 400 carrying the parser's message."""
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise azure_error(400, "BadRequest", f"request body is not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise azure_error(400, "BadRequest", f"request body is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})") from None


def extra_parameters_mode(header: str | None) -> str:
    if header is None or header == "":
        return "error"
    if header not in EXTRA_PARAMETER_MODES:
        raise ApiError(400, {"detail": f"Unexpected EXTRA_PARAMETERS option {header}, expected options are {list(EXTRA_PARAMETER_MODES)}"})
    return header


def _number(body: Mapping[str, Any], name: str, low: float, high: float, *, integer: bool = False, low_open: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise validation_error([name], "int_type" if integer else "float_type", f"Input should be a valid {'integer' if integer else 'number'}", value)
    if value > high or value < low or (low_open and value == low):
        raise validation_error([name], "value_error", f"Input should be in [{low}, {high}]", value)
    return value


def _messages(value: Any, model: CatalogModel) -> list[dict[str, Any]]:
    if value is None:
        raise validation_error(["messages"], "missing", "Field required")
    if not isinstance(value, list) or not value:
        raise validation_error(["messages"], "list_type", "Input should be a non-empty list", value)
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise validation_error(["messages", i], "dict_type", "Input should be an object", message)
        if message.get("role") not in ROLES:
            raise validation_error(["messages", i, "role"], "enum", f"Input should be one of {', '.join(ROLES)}", message.get("role"))
        content = message.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                if not isinstance(part, dict) or part.get("type") not in ("text", "image_url"):
                    raise validation_error(["messages", i, "content", j], "union_tag_invalid", "Content part type should be 'text' or 'image_url'", part)
                if part["type"] == "text" and not isinstance(part.get("text"), str):
                    raise validation_error(["messages", i, "content", j, "text"], "string_type", "Input should be a valid string", part.get("text"))
                if part["type"] == "image_url":
                    image = part.get("image_url")
                    if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                        raise validation_error(["messages", i, "content", j, "image_url"], "missing", "image_url.url is required", image)
                    if not model.accepts_images:
                        raise azure_error(400, "BadRequest", f"Modality not supported by the model: {model.id} accepts text only")
        elif not isinstance(content, str) and not (content is None and message.get("role") == "assistant"):
            raise validation_error(["messages", i, "content"], "string_type", "Input should be a valid string or a list of content parts", content)
        out.append(message)
    return out


def _int_list(body: Mapping[str, Any], name: str) -> list[int]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise validation_error([name], "list_type", "Input should be a list of non-negative integers", value)
    return value


def _bool(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise validation_error([name], "bool_type", "Input should be a valid boolean", value)
    return value


def parse_chat(body: Any, extra_header: str | None, model: CatalogModel, *, openai_surface: bool = False, self_hosted: bool = False) -> ChatCall:
    """Check a chat completions body as the service does and return what to generate.

    ``self_hosted``: a vLLM server's /v1 — Llama extras are native body fields, the
    ``extra-parameters`` header means nothing, and unknown fields are ignored (vLLM logs and drops them).
    """
    if not isinstance(body, dict):
        raise validation_error([], "model_attributes_type", "Input should be a valid dictionary or object", body)
    openai_surface = openai_surface or self_hosted
    mode = "drop" if self_hosted else extra_parameters_mode(extra_header)
    known = OPENAI_FIELDS if openai_surface else STANDARD_FIELDS
    unknown = [k for k in body if k not in known]
    if unknown and mode == "error":
        raise validation_error([unknown[0]], "extra_forbidden", "Extra inputs are not permitted", body[unknown[0]])
    extras = {k: body[k] for k in unknown if (mode == "pass-through" or self_hosted) and k in LLAMA_EXTRAS}
    native = {k: body[k] for k in ("n", "logprobs", "top_logprobs") if openai_surface and k in body}

    response_format = body.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else response_format
        if kind in ("json_object", "json_schema"):
            raise ApiError(
                422,
                {
                    "status": 422,
                    "code": "parameter_not_supported",
                    "detail": {"loc": ["body", "response_format"], "input": kind},
                    "message": "One of the parameters contain invalid values.",
                },
            )
        if kind != "text":
            raise validation_error(
                ["response_format"], "union_tag_invalid", "response_format type should be 'text', 'json_object' or 'json_schema'", response_format
            )
    if body.get("tools") not in (None, []):
        raise azure_error(400, "BadRequest", "Tool calling is not supported by this model deployment")

    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and (not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)):
        raise validation_error(["stop"], "list_type", "Input should be a list of strings", stop)
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise validation_error(["stream_options"], "dict_type", "Input should be an object", stream_options)
    model_field = body.get("model")
    if model_field is not None and not isinstance(model_field, str):
        raise validation_error(["model"], "string_type", "Input should be a valid string", model_field)

    call = ChatCall(
        messages=_messages(body.get("messages"), model),
        stream=_bool(body, "stream"),
        temperature=_number(body, "temperature", *(OPENAI_TEMPERATURE if self_hosted else AZURE_TEMPERATURE)),
        top_p=_number(body, "top_p", 0, 1, low_open=self_hosted),
        max_tokens=_number(body, "max_tokens", 1, 10**7, integer=True) or _number(body, "max_completion_tokens", 1, 10**7, integer=True),
        stop=stop or [],
        seed=_number(body, "seed", -(2**63), 2**63 - 1, integer=True),
        include_usage=bool((stream_options or {}).get("include_usage")),
        model_field=model_field,
        openai_surface=openai_surface,
    )
    _number(body, "frequency_penalty", -2, 2)
    _number(body, "presence_penalty", -2, 2)
    _apply_extras(call, {**native, **extras}, model)
    return call


def _apply_extras(call: ChatCall, extras: Mapping[str, Any], model: CatalogModel) -> None:
    """The Llama extra parameters and the service's rules for them (400 when broken, as vLLM answers)."""
    if not extras:
        return
    unsupported = [k for k in extras if k in LLAMA_EXTRAS and k not in model.extra_parameters]
    if unsupported:
        raise azure_error(400, "BadRequest", f"{model.id} does not support parameter(s) {unsupported}")
    n = _number(extras, "n", 1, 128, integer=True)
    best_of = _number(extras, "best_of", 1, 128, integer=True)
    call.n = n or 1
    if best_of is not None:
        if best_of <= call.n:
            raise azure_error(400, "BadRequest", f"best_of must be greater than n, got n={call.n} and best_of={best_of}")
        if call.stream:
            raise azure_error(400, "BadRequest", "best_of is not supported in streaming mode")
        call.best_of = best_of
    logprobs = extras.get("logprobs")
    if logprobs is not None:
        if isinstance(logprobs, bool):
            top = _number(extras, "top_logprobs", 0, 20, integer=True) if call.openai_surface else None
            call.logprobs = (top or 0) if logprobs else None
        elif isinstance(logprobs, int) and 0 <= logprobs <= 20:
            call.logprobs = logprobs
        else:
            raise validation_error(["logprobs"], "value_error", "logprobs should be an integer in [0, 20] or a boolean", logprobs)
    call.ignore_eos = _bool(extras, "ignore_eos")
    call.use_beam_search = _bool(extras, "use_beam_search")
    _bool(extras, "skip_special_tokens")
    call.stop_token_ids = _int_list(extras, "stop_token_ids")
    if call.use_beam_search:
        if (call.best_of or 1) <= 1:
            raise azure_error(400, "BadRequest", "use_beam_search requires best_of > 1")
        if call.temperature not in (0, 0.0):
            raise azure_error(400, "BadRequest", "use_beam_search requires temperature 0")
