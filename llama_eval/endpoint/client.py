"""A client for one Llama deployment, in two lines, with the rules checked before anything is sent.

    from llama_eval import make_client
    client = make_client()                      # AZURE_INFERENCE_ENDPOINT / _CREDENTIAL, as in the Azure docs
    response = client.complete([{"role": "user", "content": "How many languages are in the world?"}])
    print(response.choices[0].message.content, response.usage.prompt_tokens)

``make_client(deployment)`` takes a ``config.Deployment`` (from a deployments file) and picks the
transport its ``api`` field names: ``azure-ai-inference`` (default) or ``openai-v1``. Both return the
azure-ai-inference result types. ``make_async_client`` is the same on asyncio.

Key auth reads the key from the deployment's ``key_env`` when the client is made and hands it to
the SDK; llama-eval keeps no copy. Entra ID uses ``DefaultAzureCredential`` with the token scope that
fits the endpoint.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import AsyncIterator, Awaitable, Generator, Iterator
from types import TracebackType
from typing import Any

from azure.ai.inference.models import ChatCompletions, ModelInfo, StreamingChatCompletionsUpdate
from azure.core.credentials import AzureKeyCredential

from llama_eval.catalog.models import Catalog, CatalogModel
from llama_eval.deployments.loader import deployment_from_env
from llama_eval.deployments.model import Deployment
from llama_eval.errors import ConfigError, RequestValidationError

from .request import ChatRequest, build_request
from .responses import LlamaChatCompletions, LlamaStreamingUpdate, completions, update
from .transports import AsyncAzureInferenceTransport, AsyncOpenAITransport, AzureInferenceTransport, OpenAITransport

DEFAULT_TIMEOUT_S = 120.0


class ChatStream:
    """The updates of one streamed completion; use it in a ``with`` block so the connection closes."""

    def __init__(self, updates: Iterator[StreamingChatCompletionsUpdate]):
        self._updates = updates

    def __iter__(self) -> Iterator[StreamingChatCompletionsUpdate]:
        return self

    def __next__(self) -> LlamaStreamingUpdate:
        return update(next(self._updates))

    def close(self) -> None:
        close = getattr(self._updates, "close", None)
        if close:
            close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncChatStream:
    """Async twin of ChatStream: ``async with`` / ``async for``."""

    def __init__(self, updates: AsyncIterator[StreamingChatCompletionsUpdate]):
        self._updates = updates

    def __aiter__(self) -> AsyncIterator[StreamingChatCompletionsUpdate]:
        return self

    async def __anext__(self) -> LlamaStreamingUpdate:
        return update(await self._updates.__anext__())

    async def aclose(self) -> None:
        aclose = getattr(self._updates, "aclose", None)
        if aclose:
            await aclose()

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _StreamCall:
    """What ``AsyncLlamaClient.stream`` returns: ``async with client.stream(...) as s`` or ``s = await client.stream(...)``."""

    def __init__(self, start: Awaitable[AsyncChatStream]):
        self._start = start
        self._stream: AsyncChatStream | None = None

    def __await__(self) -> Generator[Any, None, AsyncChatStream]:
        return self._start.__await__()

    async def __aenter__(self) -> AsyncChatStream:
        self._stream = await self._start
        return self._stream

    async def __aexit__(self, *exc: object) -> None:
        if self._stream is not None:
            await self._stream.aclose()


# The keyword arguments complete/stream/prepare accept: build_request's, less what the client fills in.
PARAMETERS = tuple(name for name in inspect.signature(build_request).parameters if name not in ("messages", "model", "stream", "request_model_name"))


def check_parameters(params: dict[str, Any]) -> None:
    """Unknown keyword arguments are named with the closest known one, before anything is sent."""
    for name in params:
        if name not in PARAMETERS:
            close = difflib.get_close_matches(name, PARAMETERS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(PARAMETERS)}"
            raise RequestValidationError("unknown_parameter", f"unknown parameter {name!r}{hint} (Llama extra parameters go in extra=...)")


class _ClientBase:
    def __init__(self, deployment: Deployment, model: CatalogModel | None, transport: Any):
        self.deployment = deployment
        self.model = model
        self._transport = transport

    @property
    def api(self) -> str:
        return self._transport.name

    def prepare(self, messages: Any, *, stream: bool = False, **params: Any) -> ChatRequest:
        """Check a request against every rule and build its body, without sending it.

        ``params``: temperature, top_p, max_tokens, stop, presence_penalty, frequency_penalty, seed,
        response_format, extra (``ExtraParameters`` or a dict). Messages are dicts or SDK messages.
        """
        check_parameters(params)
        d = self.deployment
        return build_request(messages, model=self.model, stream=stream, request_model_name=d.request_model_name(), kind=d.kind, **params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(deployment={self.deployment.name!r}, model={self.deployment.model!r}, api={self.api!r})"


class LlamaClient(_ClientBase):
    """Synchronous client for one deployment."""

    def model_info(self) -> ModelInfo:
        """What the endpoint says it serves (``/info``, or ``/openai/v1/models`` on openai-v1)."""
        return self._transport.model_info(self.deployment.request_model_name())

    def complete(self, messages: Any, **params: Any) -> LlamaChatCompletions:
        """One chat completion; see ``prepare`` for the parameters. ``choices[i].logprobs`` when asked for."""
        return completions(self._transport.complete(self.prepare(messages, **params)))

    def stream(self, messages: Any, **params: Any) -> ChatStream:
        """A streamed chat completion: iterate the updates; the last one carries ``usage``."""
        return ChatStream(self._transport.stream(self.prepare(messages, stream=True, **params)))

    def send(self, request: ChatRequest) -> ChatCompletions | ChatStream:
        """Send a request made by ``prepare`` (the runner checks first, then times the send)."""
        if request.stream:
            return ChatStream(self._transport.stream(request))
        return self._transport.complete(request)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> LlamaClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class AsyncLlamaClient(_ClientBase):
    """asyncio client for one deployment (``azure.ai.inference.aio`` or ``openai.AsyncOpenAI``)."""

    async def model_info(self) -> ModelInfo:
        return await self._transport.model_info(self.deployment.request_model_name())

    async def complete(self, messages: Any, **params: Any) -> LlamaChatCompletions:
        return completions(await self._transport.complete(self.prepare(messages, **params)))

    def stream(self, messages: Any, **params: Any) -> _StreamCall:
        """Send the request and return its updates: ``async with client.stream(...) as s: async for u in s``.

        ``await client.stream(...)`` gives the stream too (close it with ``aclose``); the request is
        checked at once, so a bad parameter raises here, before anything is sent.
        """
        request = self.prepare(messages, stream=True, **params)

        async def start() -> AsyncChatStream:
            return AsyncChatStream(await self._transport.stream(request))

        return _StreamCall(start())

    async def send(self, request: ChatRequest) -> ChatCompletions | AsyncChatStream:
        if request.stream:
            return AsyncChatStream(await self._transport.stream(request))
        return await self._transport.complete(request)

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> AsyncLlamaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


NO_KEY = "no-key"  # what a keyless self-hosted server is sent (vLLM's docs use "EMPTY"; any value works)


def _resolve(deployment: Deployment | None, catalog: Catalog | None) -> tuple[Deployment, CatalogModel | None, str]:
    deployment = deployment or deployment_from_env(catalog=catalog)
    if not isinstance(deployment, Deployment):
        raise ConfigError(f"make_client takes a Deployment (from load_deployments), got {type(deployment).__name__}")
    if deployment.api == "openai-v1" and not deployment.request_model_name():
        raise ConfigError(f"{deployment.source}: deployment {deployment.name!r}: openai-v1 needs 'deployment_name' (or 'model') to send as model")
    return deployment, deployment.catalog_model(catalog), deployment.resolve_endpoint()


def _key_credential(deployment: Deployment, credential: Any) -> Any:
    if credential is not None:
        return credential
    if deployment.auth == "key":
        return AzureKeyCredential(deployment.resolve_key())
    if deployment.auth == "none":  # a self-hosted server without keys; the SDKs insist on sending one
        return AzureKeyCredential(NO_KEY)
    return None


def _transport(deployment: Deployment, endpoint: str, *, sdk_retries: bool, timeout: float, credential: Any, aio: bool) -> Any:
    """The transport the deployment's ``api`` names, with its credential (sync or asyncio)."""
    cred = _key_credential(deployment, credential)
    if cred is None:
        if aio:
            from azure.identity.aio import DefaultAzureCredential as AsyncDefault

            cred = AsyncDefault()
        else:
            from azure.identity import DefaultAzureCredential

            cred = DefaultAzureCredential()
    if deployment.api == "openai-v1":
        if isinstance(cred, AzureKeyCredential):
            api_key: Any = cred.key
        elif aio:
            from azure.identity.aio import get_bearer_token_provider as async_provider

            api_key = async_provider(cred, deployment.token_scope())
        else:
            from azure.identity import get_bearer_token_provider

            api_key = get_bearer_token_provider(cred, deployment.token_scope())
        cls: Any = AsyncOpenAITransport if aio else OpenAITransport
        return cls(endpoint, api_key, sdk_retries=sdk_retries, timeout=timeout, headers=deployment.headers)
    cls = AsyncAzureInferenceTransport if aio else AzureInferenceTransport
    return cls(
        endpoint, cred, scope=deployment.token_scope(), sdk_retries=sdk_retries, timeout=timeout, api_version=deployment.api_version, headers=deployment.headers
    )


def make_client(
    deployment: Deployment | None = None,
    *,
    sdk_retries: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    credential: Any = None,
    catalog: Catalog | None = None,
) -> LlamaClient:
    """A sync client for ``deployment`` (default: the AZURE_INFERENCE_* environment shortcut).

    sdk_retries: let the SDK retry on its own (off by default: hidden retries distort latency and hide 429s).
    timeout: seconds to connect, and to wait for each read (each streamed chunk).
    credential: an ``AzureKeyCredential`` or ``TokenCredential`` to use instead of the deployment's auth.
    """
    deployment, model, endpoint = _resolve(deployment, catalog)
    return LlamaClient(deployment, model, _transport(deployment, endpoint, sdk_retries=sdk_retries, timeout=timeout, credential=credential, aio=False))


def make_async_client(
    deployment: Deployment | None = None,
    *,
    sdk_retries: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    credential: Any = None,
    catalog: Catalog | None = None,
) -> AsyncLlamaClient:
    """The asyncio twin of ``make_client``; ``credential`` may be an ``AsyncTokenCredential``."""
    deployment, model, endpoint = _resolve(deployment, catalog)
    return AsyncLlamaClient(deployment, model, _transport(deployment, endpoint, sdk_retries=sdk_retries, timeout=timeout, credential=credential, aio=True))
