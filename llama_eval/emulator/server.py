"""The emulator's HTTP server: Azure AI Model Inference and OpenAI-v1 chat endpoints on aiohttp.

Routes, per emulated deployment ``<d>`` (named by its catalog model id unless configured otherwise):

* ``GET /<d>/info``, ``POST /<d>/chat/completions``: one endpoint URL per deployment, as serverless has;
* ``POST /chat/completions`` and ``POST /models/chat/completions``: the unified form, deployment
  chosen by the body's ``model``; ``GET /info`` and ``GET /models/info`` answer for the default one;
* ``POST /openai/v1/chat/completions`` and ``GET /openai/v1/models``: the OpenAI-v1 surface;
* ``GET /_emulator/stats``: what was served (for tests and benchmarks; no auth).

Wire behaviour follows the service (shared/reference/azure-facts.md); text is simulated. Every
response carries ``x-llama-eval-emulator: simulated`` and ``/info`` says ``Meta (emulated)``.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from ..catalog import Catalog, CatalogModel, load_catalog
from ..prompts import load_prompt_set
from ..tokens import TokenCounter, counter_for
from .capacity import BatchModel, CapacityGates
from .latency import LatencyProfile, profile_for
from .protocol import ApiError, ChatCall, azure_error, content_filter_error, parse_chat, parse_json_body
from .quota import Admission, QuotaExceeded, QuotaLimiter, retry_after_header
from .simulate import Generation, Simulator

DEFAULT_MODELS = (
    "Meta-Llama-3.1-8B-Instruct",
    "Meta-Llama-3.1-405B-Instruct",
    "Llama-3.3-70B-Instruct",
    "Llama-4-Scout-17B-16E-Instruct",
    "Llama-4-Maverick-17B-128E-Instruct-FP8",
)
DEFAULT_BLOCKLIST = ("build a bomb", "make a bomb", "nerve agent", "LLAMA_EVAL_BLOCKED")
DEFAULT_QUOTA = (200_000, 1_000)  # tokens/min, requests/min when the catalog has none (managed-only models)
FAULT_KINDS = ("500", "503", "reset", "stall", "malformed")
MARKER_HEADER = "x-llama-eval-emulator"
PROVIDER = "Meta (emulated)"
FINGERPRINT = "llama-eval-emulator"  # in every response body and stream chunk: reports say "simulated"


@dataclass
class EmulatorConfig:
    """What to emulate. Everything has a default: ``EmulatorConfig()`` serves a handful of models."""

    models: Sequence[str] = DEFAULT_MODELS
    deployments: Mapping[str, str] | None = None  # deployment name -> catalog model id (default: id -> id)
    key: str | None = None  # None: a random key, printed at start
    time_scale: float = 1.0  # multiplies every simulated delay; 0 for no delay at all
    tpm: int | None = None  # override every deployment's tokens/min (default: catalog quota)
    rpm: int | None = None
    concurrency: int | None = None
    quota_window_s: float = 60.0
    fault_rate: float = 0.0
    fault_kinds: Sequence[str] = ("500", "503", "reset", "stall")
    stall_s: float = 600.0  # a "stall" fault waits this long (real seconds) before answering
    seed: int = 0
    prompt_sets: Sequence[str | Path] = ()
    blocklist: Sequence[str] = DEFAULT_BLOCKLIST
    profile: LatencyProfile | None = None  # one profile for every deployment (timing tests)
    profiles: Mapping[str, LatencyProfile] = field(default_factory=dict)  # per deployment name
    default_max_tokens: int = 1024  # reserved and allowed when a request gives no max_tokens
    capacity: Mapping[str, BatchModel] = field(default_factory=dict)  # deployment name -> batch model (managed: batch, then queue)

    def __post_init__(self) -> None:
        unknown = set(self.fault_kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; choose from {FAULT_KINDS}")
        if not 0 <= self.fault_rate <= 1:
            raise ValueError(f"fault_rate must be in [0, 1], got {self.fault_rate}")
        if self.time_scale < 0:
            raise ValueError("time_scale must be >= 0")


@dataclass
class _Deployment:
    name: str
    model: CatalogModel
    counter: TokenCounter
    profile: LatencyProfile
    quota: QuotaLimiter


class Emulator:
    """The aiohttp application and its state (deployments, quotas, counters)."""

    def __init__(self, config: EmulatorConfig | None = None, catalog: Catalog | None = None):
        self.config = config or EmulatorConfig()
        self.catalog = catalog or load_catalog()
        self.key = self.config.key or secrets.token_hex(16)
        names = self.config.deployments or {m: m for m in self.config.models}
        self.deployments: dict[str, _Deployment] = {}
        for name, model_id in names.items():
            model = self.catalog.get(model_id)
            quota = model.quota
            tpm = self.config.tpm or (quota.tpm if quota else None) or DEFAULT_QUOTA[0]
            rpm = self.config.rpm or (quota.rpm if quota else None) or DEFAULT_QUOTA[1]
            concurrency = self.config.concurrency or (quota.concurrency if quota else None)
            self.deployments[name] = _Deployment(
                name=name,
                model=model,
                counter=counter_for(model.family),
                profile=self.config.profiles.get(name) or self.config.profile or profile_for(model),
                quota=QuotaLimiter(rpm, tpm, concurrency, self.config.quota_window_s),
            )
        self.default = next(iter(self.deployments))
        items = [item for path in self.config.prompt_sets for item in load_prompt_set(path)]
        self.simulator = Simulator(items, seed=self.config.seed)
        self.stats: Counter[str] = Counter()
        # How late the first streamed token left, against its schedule (seconds): the emulator's own
        # timing error, reported in /_emulator/stats so a latency test can tell server from client.
        self.first_token_lateness: deque[float] = deque(maxlen=10_000)
        self._fault_rng = random.Random(self.config.seed)
        self.capacity = CapacityGates(self.config.capacity)
        self._request_no = 0
        self.app = self._make_app()

    # ------------------------------------------------------------------ routing
    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._errors_as_json])
        r = app.router
        r.add_get("/_emulator/stats", self._stats)
        r.add_get("/openai/v1/models", self._openai_models)
        r.add_post("/openai/v1/chat/completions", self._chat_openai)
        r.add_get("/info", self._info_default)
        r.add_get("/models/info", self._info_default)
        r.add_post("/chat/completions", self._chat_unified)
        r.add_post("/models/chat/completions", self._chat_unified)
        r.add_get("/{deployment}/info", self._info)
        r.add_post("/{deployment}/chat/completions", self._chat_routed)
        return app

    @web.middleware
    async def _errors_as_json(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Every answer, even a mistake of ours or an unknown route, is well-formed JSON."""
        try:
            response = await handler(request)
        except ApiError as err:
            response = self._error(err)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}.get(exc.status, "BadRequest")
            response = self._error(azure_error(exc.status, code, exc.reason or "error"))
        except Exception as exc:  # noqa: BLE001 - the emulator must answer, never crash
            self.stats["internal_error"] += 1
            response = self._error(azure_error(500, "InternalServerError", f"emulator error: {type(exc).__name__}"))
        if not response.prepared:
            response.headers[MARKER_HEADER] = "simulated"
        return response

    def _error(self, err: ApiError) -> web.Response:
        self.stats[f"status_{err.status}"] += 1
        return web.json_response(err.body, status=err.status, headers={**err.headers, MARKER_HEADER: "simulated"})

    def _check_auth(self, request: web.Request) -> None:
        key = request.headers.get("api-key")
        auth = request.headers.get("Authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        if not (secrets.compare_digest(key or "", self.key) or secrets.compare_digest(bearer or "", self.key)):
            what = "missing" if key is None and bearer is None else "invalid"
            raise azure_error(
                401, "Unauthorized", f"Access denied due to {what} key. Provide a valid key in the 'api-key' header or as 'Authorization: Bearer <key>'."
            )

    def _deployment(self, name: str | None) -> _Deployment:
        if name is None:
            if len(self.deployments) == 1:
                return self.deployments[self.default]
            raise azure_error(400, "BadRequest", f"'model' is required to choose a deployment on this endpoint; served: {', '.join(self.deployments)}")
        found = self.deployments.get(name)
        if found is None:
            raise azure_error(404, "DeploymentNotFound", f"The API deployment {name!r} does not exist. Deployments served: {', '.join(self.deployments)}")
        return found

    # ------------------------------------------------------------------ small routes
    async def _stats(self, request: web.Request) -> web.Response:
        late = sorted(self.first_token_lateness)
        lateness = {"count": len(late), "p50_ms": 1000 * late[len(late) // 2], "max_ms": 1000 * late[-1]} if late else {"count": 0}
        return web.json_response({"stats": dict(self.stats), "first_token_lateness": lateness, "deployments": list(self.deployments), "simulated": True})

    async def _info_default(self, request: web.Request) -> web.Response:
        self._check_auth(request)
        return self._info_response(self.deployments[self.default])

    async def _info(self, request: web.Request) -> web.Response:
        self._check_auth(request)
        return self._info_response(self._deployment(request.match_info["deployment"]))

    def _info_response(self, dep: _Deployment) -> web.Response:
        return web.json_response({"model_name": dep.model.id, "model_type": "chat-completions", "model_provider_name": PROVIDER})

    async def _openai_models(self, request: web.Request) -> web.Response:
        self._check_auth(request)
        created = 1718726686
        data = [{"id": name, "object": "model", "created": created, "owned_by": PROVIDER} for name in self.deployments]
        return web.json_response({"object": "list", "data": data})

    # ------------------------------------------------------------------ chat
    async def _chat_routed(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        dep = self._deployment(request.match_info["deployment"])
        return await self._chat(request, dep, openai_surface=False)

    async def _chat_unified(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        return await self._chat(request, None, openai_surface=False)

    async def _chat_openai(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        return await self._chat(request, None, openai_surface=True)

    async def _chat(self, request: web.Request, dep: _Deployment | None, *, openai_surface: bool) -> web.StreamResponse:
        arrival = asyncio.get_running_loop().time()  # the latency profile counts from here, not from when we got to it
        body = parse_json_body(await request.read())
        if dep is None:
            model_field = body.get("model") if isinstance(body, dict) else None
            dep = self._deployment(model_field if isinstance(model_field, str) else None)
        call = parse_chat(body, request.headers.get("extra-parameters"), dep.model, openai_surface=openai_surface)
        text = call.prompt_text().lower()
        if any(term.lower() in text for term in self.config.blocklist):
            raise content_filter_error()
        prompt_tokens = dep.counter.count_chat(call.messages)
        limit = dep.model.max_output_tokens or dep.model.context_tokens
        max_tokens = min(call.max_tokens or min(self.config.default_max_tokens, limit), limit)
        if call.max_tokens is not None and call.max_tokens > limit:
            raise azure_error(400, "BadRequest", f"max_tokens {call.max_tokens} exceeds the model's output limit of {limit} tokens", param="max_tokens")
        if prompt_tokens + max_tokens > dep.model.context_tokens:
            raise azure_error(
                400,
                "context_length_exceeded",
                f"This model's maximum context length is {dep.model.context_tokens} tokens. However, you requested "
                f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in the completion). "
                "Please reduce the length of the messages or completion.",
                param="messages",
            )
        candidates = max(call.n, call.best_of or 0)
        try:
            admission = dep.quota.admit(prompt_tokens + max_tokens * candidates)
        except QuotaExceeded as exc:
            raise ApiError(
                429,
                {
                    "error": {
                        "code": "TooManyRequests",
                        "message": f"Rate limit of {exc.what} is exceeded. Try again in {retry_after_header(exc.retry_after_s)} seconds.",
                        "status": 429,
                    }
                },
                {
                    "retry-after": retry_after_header(exc.retry_after_s),
                    "retry-after-ms": str(int(exc.retry_after_s * 1000) + 1),
                    "x-ratelimit-remaining-requests": str(exc.remaining_requests),
                    "x-ratelimit-remaining-tokens": str(exc.remaining_tokens),
                    "x-ms-error-code": "TooManyRequests",
                },
            ) from None
        batched = False
        try:
            if dep.name in self.capacity.models:  # managed: wait (FIFO) for a place in the batch; TTFT counts from there (capacity.py)
                await self.capacity.acquire(dep.name)
                batched, arrival = True, max(arrival, asyncio.get_running_loop().time())
            return await self._serve(request, dep, call, prompt_tokens, max_tokens, admission, arrival)
        finally:
            if batched:
                self.capacity.release(dep.name)
            admission.settle(admission.tokens.amount if admission.tokens else 0)  # no-op if already settled

    def _next_request(self) -> tuple[int, str | None]:
        self._request_no += 1
        fault = None
        if self.config.fault_rate and self._fault_rng.random() < self.config.fault_rate:
            fault = self._fault_rng.choice(list(self.config.fault_kinds))
        return self._request_no, fault

    async def _serve(
        self, request: web.Request, dep: _Deployment, call: ChatCall, prompt_tokens: int, max_tokens: int, admission: Admission, arrival: float
    ) -> web.StreamResponse:
        number, fault = self._next_request()
        rng = random.Random(f"{self.config.seed}:{number}")
        nonce = uuid.uuid4().hex
        candidates = [self.simulator.generate(dep.model, call, dep.counter, i, nonce, max_tokens) for i in range(max(call.n, call.best_of or 0))]
        if call.best_of:
            chosen = sorted(candidates, key=lambda g: g.mean_logprob, reverse=True)[: call.n]
        else:
            chosen = candidates[: call.n]
        completion_tokens = sum(g.completion_tokens for g in candidates)  # best_of candidates are generated, so counted
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
        admission.settle(prompt_tokens + completion_tokens)
        remaining_req, remaining_tok = dep.quota.remaining()
        headers = {
            MARKER_HEADER: "simulated",
            "x-ratelimit-remaining-requests": str(remaining_req),
            "x-ratelimit-remaining-tokens": str(remaining_tok),
            "x-request-id": nonce,
        }
        scale = self.config.time_scale
        ttft = dep.profile.ttft(prompt_tokens, rng) * scale
        interval = dep.profile.token_interval(rng) * scale * self.capacity.interval_factor(dep.name)
        loop = asyncio.get_running_loop()
        if fault in ("500", "503"):
            await asyncio.sleep(max(0.0, arrival + ttft - loop.time()))
            self.stats[f"fault_{fault}"] += 1
            extra = {"retry-after": "1", "retry-after-ms": str(max(1, int(1000 * scale)))} if fault == "503" else {}
            code = "ServiceUnavailable" if fault == "503" else "InternalServerError"
            raise ApiError(
                int(fault),
                {"error": {"code": code, "message": "The server had an error while processing your request (emulated fault).", "status": int(fault)}},
                {**extra, "x-ms-error-code": code},
            )
        if fault == "stall":
            self.stats["fault_stall"] += 1
            await asyncio.sleep(self.config.stall_s)
        response_id = f"chatcmpl-{nonce[:24]}"
        created = int(time.time())
        self.stats[f"ok_{dep.name}"] += 1
        self.stats["completion_tokens"] += completion_tokens
        if call.stream:
            return await self._stream(request, dep, call, chosen, usage, headers, arrival, ttft, interval, response_id, created, fault)
        longest = max((len(g.pieces) for g in chosen), default=0)
        await asyncio.sleep(max(0.0, arrival + ttft + interval * max(0, longest - 1) - loop.time()))
        if fault == "reset":
            self.stats["fault_reset"] += 1
            request.transport.abort() if request.transport else None
            return web.Response(status=500)
        return web.json_response(self._completion_body(dep, chosen, usage, response_id, created), headers=headers)

    def _completion_body(self, dep: _Deployment, chosen: list[Generation], usage: dict[str, int], response_id: str, created: int) -> dict[str, Any]:
        choices = []
        for index, g in enumerate(chosen):
            choices.append(
                {
                    "index": index,
                    "message": {"role": "assistant", "content": g.text, "tool_calls": None},
                    "finish_reason": g.finish_reason,
                    "logprobs": {"content": g.logprobs} if g.logprobs is not None else None,
                }
            )
        return {
            "id": response_id,
            "object": "chat.completion",
            "created": created,
            "model": dep.model.id,
            "system_fingerprint": FINGERPRINT,
            "choices": choices,
            "usage": usage,
        }

    async def _stream(
        self,
        request: web.Request,
        dep: _Deployment,
        call: ChatCall,
        chosen: list[Generation],
        usage: dict[str, int],
        headers: dict[str, str],
        arrival: float,
        ttft: float,
        interval: float,
        response_id: str,
        created: int,
        fault: str | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **headers})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        start = arrival
        base = {"id": response_id, "object": "chat.completion.chunk", "created": created, "model": dep.model.id, "system_fingerprint": FINGERPRINT}
        events = self._stream_events(call, chosen, usage, base)
        cut_at = len(events) // 2 if fault in ("reset", "malformed") else None
        sent = 0
        while sent < len(events):
            due, _ = events[sent]
            target = start + ttft + interval * due
            delay = target - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now_step = (loop.time() - start - ttft) / interval if interval > 0 else float("inf")
            batch = []
            while sent < len(events) and events[sent][0] <= now_step + 1e-9:
                if cut_at is not None and sent == cut_at:
                    break
                batch.append(events[sent][1])
                sent += 1
            if batch:
                if sent == len(batch):  # the first write of this stream
                    self.first_token_lateness.append(loop.time() - (start + ttft))
                await response.write(b"".join(batch))
            if cut_at is not None and sent == cut_at:
                self.stats[f"fault_{fault}"] += 1
                if fault == "malformed":
                    await response.write(b"data: {not json\n\n")
                    await response.write_eof()
                elif request.transport:
                    request.transport.abort()
                return response
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _stream_events(self, call: ChatCall, chosen: list[Generation], usage: dict[str, int], base: dict[str, Any]) -> list[tuple[int, bytes]]:
        """(token step, SSE bytes) in order: the role chunk and first token at step 0, a token per step after.

        Azure AI Model Inference (Llama serverless) puts ``finish_reason`` and ``usage`` on the last
        content chunk; the OpenAI surface sends a finish chunk per choice, then (if asked with
        ``stream_options.include_usage``) a chunk with no choices and the usage.
        """
        chunks: list[tuple[int, dict[str, Any]]] = []
        for index in range(len(chosen)):
            chunks.append((0, {**base, "choices": [{"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None, "logprobs": None}]}))
        steps = max((len(g.pieces) for g in chosen), default=0)
        for step in range(steps):
            for index, g in enumerate(chosen):
                if step >= len(g.pieces):
                    continue
                choice: dict[str, Any] = {"index": index, "delta": {"content": g.pieces[step]}, "finish_reason": None, "logprobs": None}
                if g.logprobs is not None:
                    choice["logprobs"] = {"content": [g.logprobs[step]]}
                if step == len(g.pieces) - 1 and not call.openai_surface:
                    choice["finish_reason"] = g.finish_reason
                chunks.append((step, {**base, "choices": [choice]}))
        final_step = max(0, steps - 1)
        if call.openai_surface:
            for index, g in enumerate(chosen):
                chunks.append((final_step, {**base, "choices": [{"index": index, "delta": {}, "finish_reason": g.finish_reason, "logprobs": None}]}))
            if call.include_usage:
                chunks.append((final_step, {**base, "choices": [], "usage": usage}))
        else:
            for index, g in enumerate(chosen):
                if not g.pieces:  # nothing generated: the choice still needs its finish_reason
                    chunks.append((final_step, {**base, "choices": [{"index": index, "delta": {}, "finish_reason": g.finish_reason, "logprobs": None}]}))
            chunks[-1][1]["usage"] = usage
        return [(step, b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n") for step, chunk in chunks]


# ---------------------------------------------------------------------- running it


@dataclass
class RunningEmulator:
    """An emulator serving on 127.0.0.1 in a background thread (see ``start_emulator``)."""

    emulator: Emulator
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def key(self) -> str:
        return self.emulator.key

    def deployment_url(self, name: str) -> str:
        """The per-deployment endpoint, as a serverless deployment's target URI."""
        if name not in self.emulator.deployments:
            raise KeyError(f"{name!r} is not served; served: {', '.join(self.emulator.deployments)}")
        return f"{self.url}/{name}"

    @property
    def stats(self) -> dict[str, int]:
        return dict(self.emulator.stats)


@contextmanager
def start_emulator(config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> Iterator[RunningEmulator]:
    """Run an emulator in a background thread for the ``with`` block; port 0 picks a free port.

    with start_emulator(time_scale=0.01) as emu:
        client = make_client(Deployment(name="x", model=..., endpoint=emu.deployment_url(...), key_env=...))
    """
    emulator = Emulator(config or EmulatorConfig(**options))
    loop = asyncio.new_event_loop()
    started = threading.Event()
    state: dict[str, Any] = {}

    async def start() -> None:
        runner = web.AppRunner(emulator.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        state["runner"] = runner
        state["port"] = site._server.sockets[0].getsockname()[1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:  # noqa: BLE001 - report start-up failures to the caller
            state["error"] = exc
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="llama-eval-emulator", daemon=True)
    thread.start()
    started.wait(30)
    if "error" in state:
        raise state["error"]
    try:
        yield RunningEmulator(emulator, host, state["port"])
    finally:
        asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def serve_forever(config: EmulatorConfig, host: str, port: int, announce: Any = print) -> None:
    """Run the emulator in the foreground until interrupted (``llama-eval emulator``)."""
    emulator = Emulator(config)

    async def main() -> None:
        runner = web.AppRunner(emulator.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]
        announce(emulator, f"http://{host}:{bound}")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
