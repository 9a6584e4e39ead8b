"""The measuring client: chat completions over aiohttp, timed where the bytes arrive.

The SDK transports (``transports.py``) are the public client and the reference this one is checked
against; they cost a few milliseconds of CPU per request and more per streamed chunk, which at a
few hundred concurrent streams turns into queueing inside this process and shows up as latency
that the deployment never had. This client does as little as it can per request and per chunk:

* one aiohttp connection pool per endpoint origin (``SessionPool``), shared by a run's deployments,
  with the environment's proxy for that origin (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``, as the
  SDK transports honour them) looked up once, and no cookie jar;
* the request body serialised once (``WireRequest``) and re-sent as bytes on every retry;
* a small SSE reader (``sse.SSEParser``) that accepts what real servers send: LF, CRLF or CR line
  ends, ``:`` comment lines, events split across reads and several events per read, ``[DONE]``;
* JSON read and written with orjson (a third of the stdlib's cost per stream event, a tenth per body);
* a ``perf_counter`` stamp taken when each read returns, so a content event is timed when it came
  off the socket, not when some later layer got round to it.

It speaks the three surfaces a Llama deployment can have: the Azure AI Model Inference API
(``<endpoint>/chat/completions?api-version=...``, extras with ``extra-parameters: pass-through``),
``<resource>/openai/v1``, and any OpenAI-compatible base URL (``kind: self-hosted``; an endpoint
that already ends in ``/v1`` is used as given). Every failure comes out as the same
``EndpointError`` types the SDK transports raise (``transports.to_endpoint_error``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from llama_eval.catalog.models import Catalog, CatalogModel
from llama_eval.deployments.model import Deployment, openai_base_url
from llama_eval.errors import ConfigError, EndpointError, MalformedResponseError
from llama_eval.records import INTENDED_HEADER, IntendedTiming, ProbeResult, Reply, Usage, check_finished, normalise_finish

from .request import ChatRequest, assemble_checked, build_request
from .sse import SSEParser
from .transports import PASS_THROUGH, USER_AGENT, endpoint_error, to_endpoint_error

AZURE_API_VERSION = "2024-05-01-preview"  # what azure-ai-inference 1.0.0b9 sends
TIME_SCALE_HEADER = "x-llama-eval-time-scale"
EMULATOR_HEADER = "x-llama-eval-emulator"  # emulator.config.MARKER_HEADER; only the emulator sends it


# --------------------------------------------------------------------------- connection pools


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY``, minus ``NO_PROXY``), or None.

    What the SDK transports and ``urllib`` honour, so the clients reach a deployment the same way.
    This machine's own loopback (the emulator, a local server) is never proxied: a proxy cannot
    reach it (Go's net/http makes the same exception for localhost). Looked up once per origin:
    aiohttp's own ``trust_env`` would look it up on a worker thread at every request, a thread hop
    inside every measured latency.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host == "localhost" or _is_loopback(host):
        return None
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address
        return False


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class SessionPool:
    """One ``aiohttp.ClientSession`` (one connection pool) per endpoint origin, made on first use, with its proxy."""

    def __init__(self) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._proxies: dict[str, str | None] = {}

    def proxy_for(self, url: str) -> str | None:
        """The environment's proxy for ``url``'s origin (see ``env_proxy``), read once per origin."""
        origin = _origin(url)
        if origin not in self._proxies:
            self._proxies[origin] = env_proxy(url)
        return self._proxies[origin]

    def session_for(self, url: str) -> aiohttp.ClientSession:
        origin = _origin(url)
        session = self._sessions.get(origin)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)  # the runner limits concurrency itself
            # no cookies kept between requests, as azure-core's aiohttp transport does (DummyCookieJar): a measuring
            # client sends every request alike, and skips the jar's work on each request and response
            session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT}, cookie_jar=aiohttp.DummyCookieJar())
            self._sessions[origin] = session
        return session

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()


@dataclass(frozen=True, slots=True)
class WireRequest:
    """A checked request, serialised once: the URL, the headers (with the key, when the client has one) and the body bytes."""

    request: ChatRequest
    url: str
    body: bytes
    headers: Mapping[str, str] = field(repr=False)  # holds the key: never printed

    @property
    def stream(self) -> bool:
        return self.request.stream


def _time_scale(headers: Mapping[str, str]) -> float | None:
    value = headers.get(TIME_SCALE_HEADER)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class _StreamState:
    """What one stream has delivered so far: text per choice, finish reasons, usage, arrival stamps."""

    __slots__ = ("arrivals", "done", "finish", "fingerprint", "texts", "usage", "chunks")

    def __init__(self) -> None:
        self.texts: dict[int, list[str]] = {}
        self.finish: dict[int, str] = {}
        self.arrivals: list[float] = []
        self.usage: Any = None
        self.fingerprint: str | None = None
        self.done = False
        self.chunks = 0

    def add(self, event: str, data: str, now: float) -> None:
        if data == "[DONE]":
            self.done = True
            return
        try:
            chunk = orjson.loads(data)  # a third of json.loads' cost, paid on every event of every stream
        except ValueError:
            raise MalformedResponseError(f"malformed stream: an event's data is not JSON: {data[:200]!r}") from None
        if event == "error" or (isinstance(chunk, dict) and "error" in chunk and "choices" not in chunk):
            raise endpoint_error(500, chunk, None, "error event in the stream")
        if not isinstance(chunk, dict):
            raise MalformedResponseError(f"malformed stream: expected a JSON object, got {data[:200]!r}")
        self.fingerprint = self.fingerprint or chunk.get("system_fingerprint")
        choices = chunk.get("choices") or ()
        if choices or chunk.get("usage"):
            self.chunks += 1
        for choice in choices:
            index = choice.get("index", 0)
            content = (choice.get("delta") or {}).get("content")
            if content:
                self.texts.setdefault(index, []).append(content)
                self.arrivals.append(now)
            if choice.get("finish_reason"):
                self.finish[index] = choice["finish_reason"]
        if chunk.get("usage"):
            self.usage = chunk["usage"]


class WireClient:
    """Chat completions for one deployment over a shared ``SessionPool``; see the module docstring."""

    def __init__(self, deployment: Deployment, pool: SessionPool, *, timeout: float, catalog: Catalog | None = None, credential: Any = None):
        self.deployment = deployment
        self.model: CatalogModel | None = deployment.catalog_model(catalog)
        self._pool = pool
        self._session: aiohttp.ClientSession | None = None
        self._endpoint = deployment.resolve_endpoint().rstrip("/")
        self._proxy = pool.proxy_for(self._endpoint)
        self.openai = deployment.api == "openai-v1" or deployment.kind == "self-hosted"
        self.api = "openai-v1" if self.openai else "azure-ai-inference"
        # A stream may run long but never goes quiet for ``timeout``: a read timeout, re-armed by aiohttp at every
        # read. A whole answer arrives in one go once generated, so its read timeout and a total one are the same
        # limit; the total is armed once per request instead of at every read (~25 us of CPU per request).
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        self._timeout_whole = aiohttp.ClientTimeout(total=timeout, sock_connect=timeout)
        self._credential = credential
        self._key = deployment.resolve_key() if deployment.auth == "key" and credential is None else None
        self._token: tuple[str, float] | None = None
        # a key (or no auth) never changes during a run, so it is merged into the headers once here, without and
        # with the extra-parameters header; an Entra token expires, so those requests get it added at each send
        self._static_auth = deployment.auth == "none" or self._key is not None
        plain = {"Content-Type": "application/json", **deployment.headers, **(self._key_headers() if self._static_auth else {})}
        self._headers = (plain, {**plain, **PASS_THROUGH})
        self._model_name = deployment.request_model_name()
        if self.openai:
            self._base = openai_base_url(self._endpoint)
            self.chat_url = f"{self._base}/chat/completions"
        else:
            self._base = self._endpoint
            self.chat_url = f"{self._endpoint}/chat/completions?api-version={deployment.api_version or AZURE_API_VERSION}"

    def __repr__(self) -> str:
        return f"WireClient(deployment={self.deployment.name!r}, api={self.api!r})"

    # ---------------------------------------------------------------- requests
    def prepare(self, messages: Any, *, stream: bool = False, checked: bool = False, **params: Any) -> WireRequest:
        """Check a request against every rule and serialise it once (retries re-send the same bytes).

        ``checked=True``: the caller already passed these messages and parameters through ``build_request``
        for this deployment (a run's plan does, before any request), so they are assembled without a second check.
        """
        if checked:
            request = assemble_checked(messages, stream=stream, request_model_name=self._model_name, **params)
        else:
            request = build_request(messages, model=self.model, stream=stream, request_model_name=self._model_name, kind=self.deployment.kind, **params)
        body = {**request.body, **request.extras}
        if stream:
            body["stream"] = True
            if self.openai:
                body["stream_options"] = {"include_usage": True}
        return WireRequest(request, self.chat_url, orjson.dumps(body), self._headers[1] if request.extras else self._headers[0])

    def _key_headers(self) -> dict[str, str]:
        if self._key is None:  # a self-hosted server without keys
            return {}
        return {"Authorization": f"Bearer {self._key}"} if self.openai else {"api-key": self._key, "Authorization": f"Bearer {self._key}"}

    async def _auth_headers(self) -> dict[str, str]:
        if self._static_auth:
            return self._key_headers()
        credential = self._credential
        if credential is None:
            from azure.identity.aio import DefaultAzureCredential

            credential = self._credential = DefaultAzureCredential()
        if hasattr(credential, "key"):  # an AzureKeyCredential passed in
            return {"api-key": credential.key, "Authorization": f"Bearer {credential.key}"}
        if self._token is None or self._token[1] - 60 < time.time():
            token = credential.get_token(self.deployment.token_scope())
            token = await token if asyncio.iscoroutine(token) else token
            self._token = (token.token, float(token.expires_on))
        return {"Authorization": f"Bearer {self._token[0]}"}

    async def send(self, prepared: WireRequest) -> Reply:
        """Send once and read the answer; raises an ``EndpointError`` for every kind of failure."""
        session = self._session
        if session is None or session.closed or prepared.url is not self.chat_url:
            session = self._session = self._pool.session_for(prepared.url)  # the same origin: every URL here is under the endpoint
        headers = prepared.headers if self._static_auth else {**prepared.headers, **await self._auth_headers()}
        started = time.perf_counter()
        try:
            timeout = self._timeout if prepared.stream else self._timeout_whole
            async with session.post(prepared.url, data=prepared.body, headers=headers, timeout=timeout, proxy=self._proxy) as response:
                if response.status >= 400:
                    raise await _error_from(response)
                if prepared.stream:
                    return await self._read_stream(response, started)
                raw = await response.read()
                ended = time.perf_counter()
                return _reply_from_body(raw, started, ended, _time_scale(response.headers), IntendedTiming.parse(response.headers.get(INTENDED_HEADER)))
        except EndpointError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            raise to_endpoint_error(exc) from exc

    async def _read_stream(self, response: aiohttp.ClientResponse, started: float) -> Reply:
        """Read a stream to its end; a stream that ends (``[DONE]`` or the connection closing) with a choice
        lacking a ``finish_reason`` raises ``IncompleteAnswerError`` holding what arrived (``records.check_finished``)."""
        parser = SSEParser()
        state = _StreamState()
        perf = time.perf_counter
        ended = None
        closed = ""
        try:
            async for data in response.content.iter_any():
                now = perf()
                for event, payload in parser.feed(data):
                    state.add(event, payload, now)
                if state.done and ended is None:
                    ended = now  # the end of the answer; what follows is the body's end, read so the connection is reused
        except TimeoutError:
            raise  # a stream gone quiet is a timeout, whatever arrived before (aiohttp's read timeouts are ClientErrors too)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, ConnectionError) as exc:
            if not state.chunks:
                raise  # nothing of an answer arrived: a connection error
            closed = f": {type(exc).__name__}: {exc}"  # the answer so far is judged below, like a stream that ended cleanly
        for event, payload in parser.close():
            state.add(event, payload, perf())
        ended = ended or perf()
        if not state.chunks:
            raise MalformedResponseError("malformed stream: it ended without a single completion chunk")
        count = max([*state.texts, *state.finish, 0]) + 1
        texts = ["".join(state.texts.get(i, ())) for i in range(count)]
        reply = Reply(
            texts=texts,
            finish_reason=normalise_finish(state.finish.get(0)),
            usage=Usage.from_json(state.usage),
            streamed=True,
            started=started,
            ended=ended,
            arrivals=state.arrivals,
            simulated=state.fingerprint == "llama-eval-emulator",
            time_scale=_time_scale(response.headers),
            intended=IntendedTiming.parse(response.headers.get(INTENDED_HEADER)),
        )
        return check_finished(reply, state.finish, ending="[DONE] received" if state.done else f"the connection closed before [DONE]{closed}")

    # ---------------------------------------------------------------- the probe
    async def probe(self) -> ProbeResult:
        """One cheap request before any paid one: ``/info`` (Azure), ``/models`` (OpenAI), else a 1-token completion.

        A wrong URL, key or deployment name shows up here, so it costs nothing and leaves no rows.
        """
        path = f"{self._base}/models" if self.openai else f"{self._endpoint}/info"
        session = self._pool.session_for(path)
        try:
            headers = await self._auth_headers()
            params = None if self.openai else {"api-version": self.deployment.api_version or AZURE_API_VERSION}
            async with session.get(path, headers=headers, params=params, timeout=self._timeout, proxy=self._proxy) as response:
                scale = _time_scale(response.headers)
                emulator = response.headers.get(EMULATOR_HEADER) == "simulated"
                if response.status < 400:
                    await response.read()
                    return ProbeResult(True, f"ok (GET {urlsplit(path).path})", scale if scale is not None else 1.0, emulator)
                error = await _error_from(response)
            where = f"GET {urlsplit(path).path}: {error}"
            if error.status_code not in (404, 405):
                return ProbeResult(False, where, emulator=emulator)
            # no info route here: ask for one token instead (a wrong URL fails this too)
            try:
                reply = await self.send(self.prepare([{"role": "user", "content": "Hi"}], max_tokens=1))
            except EndpointError as exc:
                return ProbeResult(False, f"{where}; a 1-token completion: {exc}", emulator=emulator)
            return ProbeResult(True, "ok (1-token completion)", reply.time_scale if reply.time_scale is not None else 1.0, emulator)
        except EndpointError as exc:
            return ProbeResult(False, str(exc))
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError, ConfigError) as exc:
            return ProbeResult(False, str(to_endpoint_error(exc)) if not isinstance(exc, ConfigError) else str(exc))

    async def close(self) -> None:
        """The pool is the run's to close; only an Entra credential made here is closed."""
        if self._credential is not None and self._key is None and hasattr(self._credential, "close"):
            result = self._credential.close()
            if asyncio.iscoroutine(result):
                await result


async def _error_from(response: aiohttp.ClientResponse) -> EndpointError:
    raw = await response.read()
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")[:2000]
    return endpoint_error(response.status, body, response.headers, response.reason or "error")


def _reply_from_body(raw: bytes, started: float, ended: float, time_scale: float | None, intended: IntendedTiming | None = None) -> Reply:
    try:
        data = orjson.loads(raw)
        choices = data["choices"]
        texts = [(c.get("message") or {}).get("content") or "" for c in choices]
        finished = [i for i, c in enumerate(choices) if c.get("finish_reason")]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise MalformedResponseError(f"malformed response: not a chat completion: {raw[:200]!r}") from None
    reply = Reply(
        texts=texts,
        finish_reason=normalise_finish(choices[0].get("finish_reason")) if choices else None,
        usage=Usage.from_json(data.get("usage")),
        streamed=False,
        started=started,
        ended=ended,
        arrivals=[],
        simulated=data.get("system_fingerprint") == "llama-eval-emulator",
        time_scale=time_scale,
        intended=intended,
    )
    return check_finished(reply, finished, ending=f"not streamed; {len(choices)} choice{'' if len(choices) == 1 else 's'} in the body")
