"""The two ways llama-eval talks to an endpoint, behind one shape.

* ``azure-ai-inference``: the SDK the Azure docs use (``ChatCompletionsClient``), on the Azure AI
  Model Inference API. Microsoft retired both on 2026-08-26; existing endpoints and docs still use it.
* ``openai-v1``: the ``openai`` SDK on an endpoint's ``/openai/v1`` path, Microsoft's replacement.

Both send the body ``request.build_request`` made, and both return the azure-ai-inference model types
(``ChatCompletions``, ``StreamingChatCompletionsUpdate``, ``ModelInfo``), so notebook code written
from the Azure docs works on either. Every failure comes out as an ``errors.EndpointError``.
The SDKs' own retries are off unless asked for: they retry behind the caller's back (azure-core
retries a POST on 500/503/504 or any response with Retry-After), which hides throttling and
distorts latency measurements.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx2
from azure.ai.inference import ChatCompletionsClient
from azure.ai.inference.aio import ChatCompletionsClient as AsyncChatCompletionsClient
from azure.ai.inference.models import ChatCompletions, ModelInfo, StreamingChatCompletionsUpdate
from azure.core.exceptions import AzureError, HttpResponseError, ServiceRequestTimeoutError, ServiceResponseTimeoutError

from llama_eval.deployments.model import openai_base_url
from llama_eval.errors import (
    AuthenticationError,
    ContentFilterError,
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    MalformedResponseError,
    RateLimitError,
)

from .request import ChatRequest

USER_AGENT = "llama-eval/0.1"
PASS_THROUGH = {"extra-parameters": "pass-through"}


# --------------------------------------------------------------------------- error mapping


def _code_and_message(body: Any) -> tuple[str | None, str | None]:
    """Pull (code, message) out of the error bodies Azure uses (nested, flat, pydantic 422, legacy)."""
    if not isinstance(body, Mapping):
        return None, (str(body)[:500] if body else None)
    inner = body.get("error") if isinstance(body.get("error"), Mapping) else body
    code = inner.get("code")
    message = inner.get("message")
    detail = body.get("detail", inner.get("detail"))
    if isinstance(detail, list):  # pydantic: [{"loc": ["body", "user"], "msg": "Extra inputs are not permitted"}]
        parts = [f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail if isinstance(d, Mapping)]
        message = "; ".join(parts) or message
        code = code or next((d.get("type") for d in detail if isinstance(d, Mapping) and d.get("type")), None)
    elif isinstance(detail, str) and not message:
        message = detail
    if not message and isinstance(body.get("status"), str):  # legacy serverless 401: {"status": "Invalid auth token"}
        message = body["status"]
    return (str(code) if code is not None else None), (str(message) if message else None)


def endpoint_error(status: int, body: Any, headers: Mapping[str, str] | None, fallback: str) -> EndpointError:
    """The EndpointError subclass that fits an HTTP error answer."""
    code, message = _code_and_message(body)
    code = code or (headers or {}).get("x-ms-error-code")
    if status == 400 and code == "content_filter":
        cls: type[EndpointError] = ContentFilterError
    elif status in (401, 403):
        cls = AuthenticationError
    elif status == 429:
        cls = RateLimitError
    else:
        cls = EndpointError
    return cls(message or fallback, status_code=status, code=code, body=body, headers=headers)


def _json_or_text(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception:  # noqa: BLE001 - an unreadable error body must not hide the error itself
        return None


def _http_answer(exc: BaseException) -> tuple[int, Any, Mapping[str, str], str] | None:
    """(status, body, headers, reason) when the exception carries an HTTP error answer."""
    if isinstance(exc, HttpResponseError) and exc.response is not None and exc.status_code:
        body = _json_or_text(exc.response.json)
        return exc.status_code, body if body is not None else _json_or_text(exc.response.text), dict(exc.response.headers), exc.reason or "error"
    if isinstance(exc, _openai_errors("APIStatusError")):
        body = _json_or_text(exc.response.json)
        return exc.status_code, body if body is not None else exc.body, dict(exc.response.headers), exc.message
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status, None, dict(exc.headers or {}), exc.message
    return None


def _openai() -> Any:
    """The openai SDK, imported on first use: importing it takes ~0.9 s of CPU, and a run, which measures through
    ``endpoint.wire``, never needs it (every ``llama-eval`` command paid it before)."""
    import openai

    return openai


def _openai_errors(*names: str) -> tuple[type[BaseException], ...]:
    """These exception classes of the openai SDK when it is loaded; none when it is not, for then nothing raised them."""
    module = sys.modules.get("openai")
    return tuple(getattr(module, name) for name in names) if module is not None else ()


_TIMEOUTS = (ServiceRequestTimeoutError, ServiceResponseTimeoutError, httpx2.TimeoutException, asyncio.TimeoutError)
_MALFORMED = (ValueError,)  # json.JSONDecodeError is a ValueError


def to_endpoint_error(exc: BaseException) -> EndpointError:
    """The one mapping from whatever an SDK or aiohttp raised to llama-eval's EndpointError types.

    An HTTP error answer becomes the subclass its status and code call for (``endpoint_error``); a
    timeout ``EndpointTimeout``; an answer that is not the API's shape ``MalformedResponseError``;
    anything else on the way (refused, reset, cut mid-stream) ``EndpointConnectionError``.
    """
    if isinstance(exc, EndpointError):
        return exc
    answer = _http_answer(exc)
    if answer is not None:
        return endpoint_error(*answer)
    if isinstance(exc, _TIMEOUTS + _openai_errors("APITimeoutError")):
        return EndpointTimeout(f"timed out: {exc or type(exc).__name__}")
    if isinstance(exc, _MALFORMED + _openai_errors("APIResponseValidationError")):
        return MalformedResponseError(f"malformed response: {exc}")
    return EndpointConnectionError(f"{type(exc).__name__}: {exc}")


# What means "the endpoint or the network failed", for every client here. Anything else is a bug and propagates.
ENDPOINT_FAILURES = (AzureError, httpx2.TransportError, aiohttp.ClientError, ValueError, OSError, asyncio.TimeoutError)


def endpoint_failures() -> tuple[type[BaseException], ...]:
    """``ENDPOINT_FAILURES`` and, once the openai SDK is loaded, its ``APIError``."""
    return ENDPOINT_FAILURES + _openai_errors("APIError")


@contextmanager
def endpoint_errors() -> Iterator[None]:
    """Re-raise endpoint and network failures inside the block as EndpointErrors (works around ``await`` too)."""
    try:
        yield
    except EndpointError:
        raise
    except endpoint_failures() as exc:
        raise to_endpoint_error(exc) from exc


def _azure_kwargs(request: ChatRequest, stream: bool) -> dict[str, Any]:
    kwargs = dict(request.body)
    if "response_format" in kwargs:  # the SDK takes "text" and builds {"type": "text"} itself
        kwargs["response_format"] = "text"
    return {**kwargs, "model_extras": request.extras or None, "stream": True if stream else None}


def _openai_kwargs(request: ChatRequest, stream: bool) -> dict[str, Any]:
    kwargs = dict(request.body)
    if stream:
        kwargs.update(stream=True, stream_options={"include_usage": True})
    if request.extras:
        kwargs.update(extra_body=request.extras, extra_headers=PASS_THROUGH)
    return kwargs


def _openai_update(chunk: Any) -> StreamingChatCompletionsUpdate | None:
    data = chunk.model_dump()
    if not data.get("choices") and not data.get("usage"):
        return None  # azure-ai-inference drops these too
    return StreamingChatCompletionsUpdate(data)


def _model_info_from_list(models: list[Any], name: str | None, base_url: str) -> ModelInfo:
    ids = [m.id for m in models]
    match = next((m for m in models if m.id == name), None)
    if match is None:
        raise EndpointError(
            f"deployment {name!r} is not listed at {base_url}/models (listed: {', '.join(ids) or 'none'}); set deployment_name",
            status_code=404,
            code="DeploymentNotFound",
        )
    return ModelInfo({"model_name": match.id, "model_type": "chat-completions", "model_provider_name": getattr(match, "owned_by", None) or "unknown"})


# --------------------------------------------------------------------------- azure-ai-inference


def _azure_client_kwargs(scope: str, sdk_retries: bool, timeout: float, api_version: str | None, headers: Mapping[str, str]) -> dict[str, Any]:
    """Constructor options shared by the sync and async ChatCompletionsClient."""
    kwargs: dict[str, Any] = {"credential_scopes": [scope], "connection_timeout": timeout, "read_timeout": timeout, "user_agent": USER_AGENT}
    if not sdk_retries:
        kwargs["retry_total"] = 0  # azure-core's RetryPolicy reads this; 0 means one attempt
    if api_version:
        kwargs["api_version"] = api_version
    if headers:
        kwargs["headers"] = dict(headers)
    return kwargs


class AzureInferenceTransport:
    """Sync transport on ``azure.ai.inference.ChatCompletionsClient``."""

    name = "azure-ai-inference"

    def __init__(self, endpoint: str, credential: Any, *, scope: str, sdk_retries: bool, timeout: float, api_version: str | None, headers: Mapping[str, str]):
        self._client = ChatCompletionsClient(
            endpoint=endpoint, credential=credential, **_azure_client_kwargs(scope, sdk_retries, timeout, api_version, headers)
        )

    def model_info(self, name: str | None) -> ModelInfo:
        with endpoint_errors():
            return self._client.get_model_info()

    def complete(self, request: ChatRequest) -> ChatCompletions:
        with endpoint_errors():
            return self._client.complete(**_azure_kwargs(request, stream=False))

    def stream(self, request: ChatRequest) -> Iterator[StreamingChatCompletionsUpdate]:
        with endpoint_errors():
            response = self._client.complete(**_azure_kwargs(request, stream=True))
        return _azure_updates(response)

    def close(self) -> None:
        self._client.close()


def _azure_updates(response: Any) -> Iterator[StreamingChatCompletionsUpdate]:
    try:
        with endpoint_errors():
            yield from response
    finally:
        response.close()


class AsyncAzureInferenceTransport:
    """Async transport on ``azure.ai.inference.aio.ChatCompletionsClient``."""

    name = "azure-ai-inference"

    def __init__(self, endpoint: str, credential: Any, *, scope: str, sdk_retries: bool, timeout: float, api_version: str | None, headers: Mapping[str, str]):
        self._client = AsyncChatCompletionsClient(
            endpoint=endpoint, credential=credential, **_azure_client_kwargs(scope, sdk_retries, timeout, api_version, headers)
        )

    async def model_info(self, name: str | None) -> ModelInfo:
        with endpoint_errors():
            return await self._client.get_model_info()

    async def complete(self, request: ChatRequest) -> ChatCompletions:
        with endpoint_errors():
            return await self._client.complete(**_azure_kwargs(request, stream=False))

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamingChatCompletionsUpdate]:
        with endpoint_errors():
            response = await self._client.complete(**_azure_kwargs(request, stream=True))
        return _async_azure_updates(response)

    async def close(self) -> None:
        await self._client.close()


async def _async_azure_updates(response: Any) -> AsyncIterator[StreamingChatCompletionsUpdate]:
    try:
        with endpoint_errors():
            async for update in response:
                yield update
    finally:
        await response.aclose()


# --------------------------------------------------------------------------- openai-v1


class OpenAITransport:
    """Sync transport on ``openai.OpenAI`` pointed at ``<endpoint>/openai/v1``."""

    name = "openai-v1"

    def __init__(self, endpoint: str, api_key: str | Callable[[], str], *, sdk_retries: bool, timeout: float, headers: Mapping[str, str]):
        self.base_url = openai_base_url(endpoint)
        self._client = _openai().OpenAI(
            base_url=self.base_url,
            api_key=api_key,
            max_retries=2 if sdk_retries else 0,
            timeout=timeout,
            default_headers={"User-Agent": USER_AGENT, **headers},
        )

    def model_info(self, name: str | None) -> ModelInfo:
        with endpoint_errors():
            models = list(self._client.models.list())
        return _model_info_from_list(models, name, self.base_url)

    def complete(self, request: ChatRequest) -> ChatCompletions:
        with endpoint_errors():
            response = self._client.chat.completions.create(**_openai_kwargs(request, stream=False))
        return ChatCompletions(response.model_dump())

    def stream(self, request: ChatRequest) -> Iterator[StreamingChatCompletionsUpdate]:
        with endpoint_errors():
            response = self._client.chat.completions.create(**_openai_kwargs(request, stream=True))
        return _openai_updates(response)

    def close(self) -> None:
        self._client.close()


def _openai_updates(response: Any) -> Iterator[StreamingChatCompletionsUpdate]:
    try:
        with endpoint_errors():
            for chunk in response:
                update = _openai_update(chunk)
                if update is not None:
                    yield update
    finally:
        response.close()


class AsyncOpenAITransport:
    """Async transport on ``openai.AsyncOpenAI`` pointed at ``<endpoint>/openai/v1``."""

    name = "openai-v1"

    def __init__(self, endpoint: str, api_key: Any, *, sdk_retries: bool, timeout: float, headers: Mapping[str, str]):
        self.base_url = openai_base_url(endpoint)
        self._client = _openai().AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key,
            max_retries=2 if sdk_retries else 0,
            timeout=timeout,
            default_headers={"User-Agent": USER_AGENT, **headers},
        )

    async def model_info(self, name: str | None) -> ModelInfo:
        with endpoint_errors():
            models = [m async for m in self._client.models.list()]
        return _model_info_from_list(models, name, self.base_url)

    async def complete(self, request: ChatRequest) -> ChatCompletions:
        with endpoint_errors():
            response = await self._client.chat.completions.create(**_openai_kwargs(request, stream=False))
        return ChatCompletions(response.model_dump())

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamingChatCompletionsUpdate]:
        with endpoint_errors():
            response = await self._client.chat.completions.create(**_openai_kwargs(request, stream=True))
        return _async_openai_updates(response)

    async def close(self) -> None:
        await self._client.close()


async def _async_openai_updates(response: Any) -> AsyncIterator[StreamingChatCompletionsUpdate]:
    try:
        with endpoint_errors():
            async for chunk in response:
                update = _openai_update(chunk)
                if update is not None:
                    yield update
    finally:
        await response.close()
