"""A small recording HTTP server on 127.0.0.1 for the client tests.

It answers the routes both transports use (``/info``, ``/chat/completions``, ``/openai/v1/models``,
``/openai/v1/chat/completions``) with canned, API-shaped answers, records every request it gets
(method, path, query, headers, JSON body), and can be told to answer the next chat request with
anything (an error status, a content-filter body, a broken stream) — the things a real endpoint
does that tests must provoke on purpose. The emulator (``llama-eval emulator``) is the faithful
one; this one exists to see exactly what went over the wire.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

COMPLETION_TEXT = ["As of now, ", "about 7,000 ", "languages."]
USAGE = {"prompt_tokens": 19, "completion_tokens": 72, "total_tokens": 91}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Scripted:
    """One scripted answer: a status with a JSON body, or raw bytes streamed as they are."""

    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw_chunks: list[bytes] | None = None
    times: int = 1


class RecordingServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: deque[Scripted] = deque()
        self.model_name = "Meta-Llama-3.1-405B-Instruct"
        self.info_headers: dict[str, str] = {}  # sent with /info and /openai/v1/models (e.g. x-llama-eval-time-scale)
        self.info_status = 200  # 404: a server without these routes
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---------------------------------------------------------------- control from tests
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer_next(
        self, status: int = 200, json: Any = None, headers: dict[str, str] | None = None, raw_chunks: list[bytes] | None = None, times: int = 1
    ) -> None:
        self.script.append(Scripted(status, json, headers or {}, raw_chunks, times))

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def reset(self) -> None:
        self.requests.clear()
        self.script.clear()
        self.info_headers = {}
        self.info_status = 200

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def _stop() -> None:
            if self._runner:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # ---------------------------------------------------------------- answers
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append(Recorded(request.method, request.path, dict(request.query), {k.lower(): v for k, v in request.headers.items()}, body))
        path = request.path
        if path.endswith(("/openai/v1/models", "/info")) and self.info_status != 200:
            return web.json_response({"error": {"code": "NotFound", "message": "no such route", "status": 404}}, status=self.info_status)
        if path.endswith("/openai/v1/models"):
            models = {"object": "list", "data": [{"id": self.model_name, "object": "model", "created": 1718726686, "owned_by": "Meta"}]}
            return web.json_response(models, headers=self.info_headers)
        if path.endswith("/info"):
            info = {"model_name": self.model_name, "model_type": "chat-completions", "model_provider_name": "Meta"}
            return web.json_response(info, headers=self.info_headers)
        if not path.endswith("/chat/completions"):
            return web.json_response({"error": {"code": "NotFound", "message": f"no route {path}", "status": 404}}, status=404)
        if self.script:
            scripted = self.script[0]
            scripted.times -= 1
            if scripted.times <= 0:
                self.script.popleft()
            if scripted.raw_chunks is not None:
                return await self._raw(request, scripted)
            return web.json_response(scripted.json, status=scripted.status, headers=scripted.headers)
        if isinstance(body, dict) and body.get("stream"):
            return await self._stream(request, body, openai_style=path.startswith("/openai/"))
        return web.json_response(self._completion(body))

    def _completion(self, body: Any) -> dict[str, Any]:
        n = body.get("n", 1) if isinstance(body, dict) else 1
        return {
            "id": "cmpl-test",
            "object": "chat.completion",
            "created": 1718726686,
            "model": self.model_name,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": "".join(COMPLETION_TEXT), "tool_calls": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
                for i in range(n)
            ],
            "usage": USAGE,
        }

    async def _raw(self, request: web.Request, scripted: Scripted) -> web.StreamResponse:
        response = web.StreamResponse(status=scripted.status, headers={"Content-Type": "text/event-stream", **scripted.headers})
        await response.prepare(request)
        for chunk in scripted.raw_chunks or []:
            if chunk == b"<RESET>":
                request.transport.abort()  # cut the connection mid-stream
                return response
            await response.write(chunk)
        await response.write_eof()
        return response

    async def _stream(self, request: web.Request, body: dict[str, Any], *, openai_style: bool) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {"id": "cmpl-test", "object": "chat.completion.chunk", "created": 1718726686, "model": self.model_name}

        async def send(obj: dict[str, Any]) -> None:
            await response.write(b"data: " + json.dumps(obj).encode() + b"\n\n")

        await send({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        for piece in COMPLETION_TEXT:
            await send({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        if openai_style:  # OpenAI: finish chunk, then (if asked) a usage chunk with no choices
            await send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            if include_usage:
                await send({**base, "choices": [], "usage": USAGE})
        else:  # Azure AI Model Inference (Llama serverless): usage rides on the last chunk
            await send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": USAGE})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
