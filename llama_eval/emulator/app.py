"""The emulator's HTTP server: Azure AI Model Inference, OpenAI-v1 and vLLM-style chat endpoints on aiohttp.

Routes, per emulated deployment ``<d>`` (served at its ``path``: its name, the catalog model id, or
the path its deployments-file endpoint names):

* ``GET /<d>/info``, ``POST /<d>/chat/completions``: one endpoint URL per deployment, as serverless has;
* ``POST /chat/completions`` and ``POST /models/chat/completions``: the unified form, deployment
  chosen by the body's ``model``; ``GET /info`` and ``GET /models/info`` answer for the default one;
* ``POST /openai/v1/chat/completions`` and ``GET /openai/v1/models``: the Azure OpenAI-v1 surface;
* ``POST /v1/chat/completions`` and ``GET /v1/models``: a plain OpenAI-compatible server as vLLM
  serves it (self-hosted): ``model`` names the served model, Llama extras are native body fields,
  usage in a stream only with ``stream_options.include_usage``, no content filter, no quota;
* ``POST /emulator/prompts``: teach the emulator a prompt set's references at run time (key needed);
* ``GET /_emulator/stats``: what was served (for tests and benchmarks; no auth).

Wire behaviour follows the service (shared/reference/azure-facts.md); text is simulated. Every
response carries ``x-llama-eval-emulator: simulated`` and ``x-llama-eval-time-scale: <float>`` (how
much faster than the modelled service it runs), and ``/info`` says ``Meta (emulated)``. Content
safety filters serverless deployments only: the Llama docs say it "is only available for models
deployed as serverless API endpoints" (managed compute and self-hosted servers have none by default).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import secrets
import threading
import time
import uuid
import warnings
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from llama_eval.catalog.models import Catalog, CatalogModel, load_catalog
from llama_eval.catalog.tokens import TokenCounter, counter_for
from llama_eval.errors import EmulatorStartError, UnknownPromptWarning
from llama_eval.prompts.prompt_set import PromptItem, load_prompt_set

from .batching import BatchModel, CapacityGates
from .latency import LatencyProfile, profile_for
from .protocol import ApiError, ChatCall, azure_error, content_filter_error, parse_chat, parse_json_body
from .quota import Admission, QuotaExceeded, QuotaLimiter, retry_after_header
from .simulate import Generation, Simulator, asks_for_checkable_answer, is_judge_request, teachable

DEFAULT_MODELS = (
    "Meta-Llama-3.1-8B-Instruct",
    "Meta-Llama-3.1-405B-Instruct",
    "Llama-3.3-70B-Instruct",
    "Llama-4-Scout-17B-16E-Instruct",
    "Llama-4-Maverick-17B-128E-Instruct-FP8",
)
DEFAULT_BLOCKLIST = ("build a bomb", "make a bomb", "nerve agent", "LLAMA_EVAL_BLOCKED")
DEFAULT_QUOTA = (200_000, 1_000)  # tokens/min, requests/min of a serverless deployment whose model has no catalog quota
# "cut": the answer ends without a finish_reason, as llama.cpp's server (default --interrupt_requests True) ends a
# running stream when another request arrives: the role chunk, perhaps some content, then `data: [DONE]` (no finish
# reason, no usage); a non-streamed answer comes back with its text so far and finish_reason null.
FAULT_KINDS = ("500", "503", "reset", "stall", "malformed", "cut")
MARKER_HEADER = "x-llama-eval-emulator"
TIME_SCALE_HEADER = "x-llama-eval-time-scale"
PROVIDER = "Meta (emulated)"
KINDS = ("serverless", "managed", "self-hosted")
SELF_HOSTED_OWNER = "vllm (emulated)"


FINGERPRINT = "llama-eval-emulator"  # in every response body and stream chunk: reports say "simulated"


@dataclass(frozen=True)
class EmulatedDeployment:
    """One deployment the emulator serves: what it is (model, kind) and where (path, served name).

    ``path``: the URL path of its own endpoint (``/<path>/chat/completions``; default: its name).
    ``served_name``: what ``model`` says on ``/v1`` and ``/openai/v1`` (default: its name).
    ``kind``: serverless (content filter on, catalog quota), managed (no filter, catalog quota) or
    self-hosted (no filter, no quota: a vLLM server of your own).
    """

    name: str
    model: str
    kind: str = "serverless"
    path: str | None = None
    served_name: str | None = None
    openai_v1: bool = False  # reached as an Azure openai-v1 deployment (base URL + /openai/v1, `model` = served name)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"deployment {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")


def default_kind(model: CatalogModel) -> str:
    """For ``models=[...]``: serverless where the catalog has a serverless offer (even a retired one, so the
    Azure docs' walkthrough of a 3.1 serverless endpoint still runs), else managed. A deployments file says
    the kind of each deployment explicitly (``specs_from_deployments``)."""
    return "serverless" if model.offer("serverless") else "managed"


def specs_from_deployments(deployments: Iterable[Any]) -> list[EmulatedDeployment]:
    """Emulated deployments for the entries of a deployments file (``config.Deployment`` or mappings).

    Each is served at the path its endpoint names (``http://host:port/PATH``); an endpoint ending in
    ``/v1`` (self-hosted) or ``/openai/v1`` / no path (openai-v1) is reached through those surfaces
    by its ``deployment_name`` (default: the catalog model id).
    """
    specs = []
    for d in deployments:
        get = d.get if isinstance(d, Mapping) else (lambda key, default=None, _d=d: getattr(_d, key, default))
        name, model = get("name"), get("model")
        if not model:
            raise ValueError(f"deployment {name!r} names no catalog model; the emulator needs one to simulate")
        endpoint = get("endpoint") or ""
        path = urlsplit(endpoint).path.strip("/") if endpoint else ""
        kind = str(get("kind") or "serverless")
        surface = path in ("v1", "openai/v1") or (get("api") == "openai-v1" and path in ("", "openai/v1"))
        specs.append(
            EmulatedDeployment(
                name=name,
                model=model,
                kind=kind if kind in KINDS else "serverless",
                path=None if surface else (path or None),
                served_name=get("deployment_name") or (model if surface else None),
                openai_v1=surface and kind != "self-hosted" and path != "v1",
            )
        )
    return specs


@dataclass
class EmulatorConfig:
    """What to emulate. Everything has a default: ``EmulatorConfig()`` serves a handful of models."""

    models: Sequence[str] = DEFAULT_MODELS
    deployments: Mapping[str, str] | Sequence[EmulatedDeployment] | None = None  # name -> model id, or full specs
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
    kind: str = "serverless"
    path: str | None = None
    served_name: str | None = None
    openai_v1: bool = False

    @property
    def content_filter(self) -> bool:
        return self.kind == "serverless"


def _norm_name(name: str) -> str:
    """'meta-llama/Llama-3.1-8B-Instruct' and 'Meta-Llama-3.1-8B-Instruct' both -> 'llama318binstruct'."""
    return re.sub(r"^metallama", "llama", re.sub(r"[^a-z0-9]", "", name.rsplit("/", 1)[-1].lower()))


def _specs(config: EmulatorConfig, catalog: Catalog) -> list[EmulatedDeployment]:
    if config.deployments is None:
        return [EmulatedDeployment(m, m, default_kind(catalog.get(m))) for m in dict.fromkeys(config.models)]
    if isinstance(config.deployments, Mapping):
        return [EmulatedDeployment(name, model_id, default_kind(catalog.get(model_id))) for name, model_id in config.deployments.items()]
    return list(config.deployments)


def vllm_error(err: ApiError) -> ApiError:
    """An error as vLLM's OpenAI server answers it: 400 for a bad request (no 422), ``{"error": {message, type, param, code}}``."""
    status = 400 if err.status == 422 else err.status
    body = err.body if isinstance(err.body, Mapping) else {}
    inner = body.get("error") if isinstance(body.get("error"), Mapping) else body
    detail = inner.get("detail") if isinstance(inner, Mapping) else None
    if isinstance(detail, list) and detail and isinstance(detail[0], Mapping):
        message = f"{detail[0].get('msg')} (field {'.'.join(str(x) for x in detail[0].get('loc', [])[1:])})"
    else:
        message = str(inner.get("message") or detail or body) if isinstance(inner, Mapping) else str(body)
    kind = {400: "BadRequestError", 401: "AuthenticationError", 404: "NotFoundError", 429: "RateLimitError"}.get(status, "InternalServerError")
    param = inner.get("param") if isinstance(inner, Mapping) else None
    return ApiError(
        status, {"error": {"message": message, "type": kind, "param": param, "code": status}}, {k: v for k, v in err.headers.items() if k != "x-ms-error-code"}
    )


class Emulator:
    """The aiohttp application and its state (deployments, quotas, counters).

    ``start()`` serves it on 127.0.0.1 in a background thread and ``stop()`` ends it, so a notebook
    can start it in one cell and stop it in another; ``start_emulator`` wraps both.
    """

    def __init__(self, config: EmulatorConfig | None = None, catalog: Catalog | None = None):
        self.config = config or EmulatorConfig()
        self.catalog = catalog or load_catalog()
        self.key = self.config.key or secrets.token_hex(16)
        self.deployments: dict[str, _Deployment] = {}
        for spec in _specs(self.config, self.catalog):
            model = self.catalog.get(spec.model)
            quota = model.quota
            if spec.kind != "serverless":
                # Token and request quotas are a serverless thing; managed compute and your own server are
                # limited by their capacity (the runner paces them by concurrency only). Only explicit overrides apply.
                tpm, rpm, concurrency = self.config.tpm, self.config.rpm, self.config.concurrency
            else:
                tpm = self.config.tpm or (quota.tpm if quota else None) or DEFAULT_QUOTA[0]
                rpm = self.config.rpm or (quota.rpm if quota else None) or DEFAULT_QUOTA[1]
                concurrency = self.config.concurrency or (quota.concurrency if quota else None)
            if spec.name in self.deployments:
                raise ValueError(f"deployment name {spec.name!r} is used twice")
            self.deployments[spec.name] = _Deployment(
                name=spec.name,
                model=model,
                counter=counter_for(model.family),
                profile=self.config.profiles.get(spec.name) or self.config.profile or profile_for(model),
                quota=QuotaLimiter(rpm, tpm, concurrency, self.config.quota_window_s),
                kind=spec.kind,
                path=(spec.path or spec.name).strip("/"),
                served_name=spec.served_name or spec.name,
                openai_v1=spec.openai_v1,
            )
        self.default = next(iter(self.deployments))
        self._by_path = {d.path: d for d in self.deployments.values()}
        self._by_served = {d.served_name: d for d in self.deployments.values()}
        items = [item for path in self.config.prompt_sets for item in load_prompt_set(path)]
        self.simulator = Simulator(items, seed=self.config.seed)
        self._preload()
        self.stats: Counter[str] = Counter()
        # How late the first streamed token left, against its schedule (seconds): the emulator's own
        # timing error, reported in /_emulator/stats so a latency test can tell server from client.
        self.first_token_lateness: deque[float] = deque(maxlen=10_000)
        self._fault_rng = random.Random(self.config.seed)
        self.capacity = CapacityGates(self.config.capacity)
        self._request_no = 0
        self._unscorable_warned = False
        self._running: RunningEmulator | None = None
        self._thread_state: dict[str, Any] = {}
        self.app = self._make_app()

    def _preload(self) -> None:
        """Load every tokenizer (and warm its caches) now, so the first request is not a cold start.

        Loading Meta's tiktoken vocabularies takes 0.2-0.3 s each on an idle machine (more under load):
        paid on the first request, it would show up as that request's time to first token.
        """
        sample = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Warm up: 1 + 1 = 2."}]
        for dep in self.deployments.values():
            ids = dep.counter.encode("Warm up the tokenizer: é, 123.")
            dep.counter.count_chat(sample)
            for token_id in ids:
                dep.counter.decode_piece(token_id)

    # ------------------------------------------------------------------ serving in a thread
    def start(self, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
        """Serve in a background thread until ``stop()``; port 0 picks a free port. Raises EmulatorStartError if it cannot listen."""
        if self._running is not None:
            return self._running
        if self.app.frozen:  # served before: an aiohttp app belongs to one event loop, so build a fresh one
            self.app = self._make_app()
        loop = asyncio.new_event_loop()
        started = threading.Event()
        state: dict[str, Any] = {"loop": loop}

        async def start() -> None:
            runner = web.AppRunner(self.app, access_log=None)
            await runner.setup()
            state["runner"] = runner
            site = web.TCPSite(runner, host, port)
            await site.start()
            state["port"] = site._server.sockets[0].getsockname()[1]

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(start())
            except BaseException as exc:  # noqa: BLE001 - report start-up failures to the caller
                state["error"] = exc
                if "runner" in state:
                    loop.run_until_complete(state["runner"].cleanup())
                started.set()
                return
            started.set()
            loop.run_forever()

        thread = threading.Thread(target=run, name="llama-eval-emulator", daemon=True)
        state["thread"] = thread
        thread.start()
        if not started.wait(30):
            raise EmulatorStartError(f"the emulator did not start listening on {host}:{port} within 30 s")
        if "error" in state:
            thread.join(5)
            loop.close()
            raise _bind_error(state["error"], host, port) from None
        self._thread_state = state
        self._running = RunningEmulator(self, host, state["port"])
        return self._running

    def stop(self) -> None:
        """Stop serving (idempotent): close connections, end the thread."""
        state, self._thread_state, self._running = self._thread_state, {}, None
        if not state:
            return
        loop = state["loop"]
        asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        state["thread"].join(30)
        loop.close()

    # ------------------------------------------------------------------ teaching prompts
    def learn(self, items: Iterable[PromptItem | Mapping[str, Any]]) -> int:
        """Learn the references and scorers of prompt items (answers to them become scorable); how many were new."""
        return self.simulator.learn(items)

    # ------------------------------------------------------------------ routing
    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._errors_as_json])
        r = app.router
        r.add_get("/_emulator/stats", self._stats)
        r.add_post("/emulator/prompts", self._learn_prompts)
        r.add_get("/openai/v1/models", self._openai_models)
        r.add_post("/openai/v1/chat/completions", self._chat_openai)
        r.add_get("/v1/models", self._vllm_models)
        r.add_post("/v1/chat/completions", self._chat_vllm)
        r.add_get("/info", self._info_default)
        r.add_get("/models/info", self._info_default)
        r.add_post("/chat/completions", self._chat_unified)
        r.add_post("/models/chat/completions", self._chat_unified)
        r.add_get("/{deployment:.+}/info", self._info)
        r.add_post("/{deployment:.+}/chat/completions", self._chat_routed)
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
            response.headers[TIME_SCALE_HEADER] = self._scale_text
        return response

    @property
    def _scale_text(self) -> str:
        return repr(float(self.config.time_scale))

    def _error(self, err: ApiError) -> web.Response:
        self.stats[f"status_{err.status}"] += 1
        headers = {**err.headers, MARKER_HEADER: "simulated", TIME_SCALE_HEADER: self._scale_text}
        return web.json_response(err.body, status=err.status, headers=headers)

    def _warn_if_unscorable(self, call: ChatCall) -> None:
        """Once: a prompt the emulator has no reference for gets a plausible answer that no scorer can grade fairly.

        Only for prompts that ask for a checkable answer (one word, a number, a letter, JSON) or when the
        emulator already knows some prompts (scoring is clearly intended): an open question is just chat.
        """
        if self._unscorable_warned or is_judge_request(call) or self.simulator.knows(call.messages):
            return
        if not (self.simulator.known_prompts or asks_for_checkable_answer(call.prompt_text())):
            return
        self._unscorable_warned = True
        self.stats["unknown_prompts_warned"] += 1
        warnings.warn(
            "the emulator does not know the reference of a prompt it was sent, so its simulated answer is plausible but not "
            "scorable: pass the prompt set to the emulator (--prompts FILE, prompt_sets=[...]) or teach it at run time "
            "(teach_emulator(endpoint, prompt_set) / POST /emulator/prompts)",
            UnknownPromptWarning,
            stacklevel=2,
        )

    def _check_auth(self, request: web.Request, *, optional: bool = False) -> None:
        """The key in ``api-key`` or ``Authorization: Bearer``; on /v1 (a vLLM server) a key is optional, but a wrong one is refused."""
        key = request.headers.get("api-key")
        auth = request.headers.get("Authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        if optional and key is None and bearer is None:
            return
        if not (secrets.compare_digest(key or "", self.key) or secrets.compare_digest(bearer or "", self.key)):
            what = "missing" if key is None and bearer is None else "invalid"
            raise azure_error(
                401, "Unauthorized", f"Access denied due to {what} key. Provide a valid key in the 'api-key' header or as 'Authorization: Bearer <key>'."
            )

    def _deployment(self, name: str | None, *, pool: Iterable[_Deployment] | None = None) -> _Deployment:
        """The deployment ``model`` names: its name, served name, or (unambiguously) its model under another spelling."""
        candidates = list(pool) if pool is not None else list(self.deployments.values())
        served = ", ".join(d.served_name or d.name for d in candidates)
        if not candidates:
            raise azure_error(404, "DeploymentNotFound", "no deployment is served on this surface")
        if name is None:
            if len(candidates) == 1:
                return candidates[0]
            raise azure_error(400, "BadRequest", f"'model' is required to choose a deployment on this endpoint; served: {served}")
        for d in candidates:
            if name in (d.name, d.served_name):
                return d
        matches = [d for d in candidates if _norm_name(name) in (_norm_name(d.model.id), _norm_name(d.served_name or ""))]
        if len(matches) == 1:
            return matches[0]
        raise azure_error(404, "DeploymentNotFound", f"The API deployment {name!r} does not exist. Deployments served: {served}")

    def _by_route(self, path: str) -> _Deployment:
        found = self._by_path.get(path.strip("/")) or self.deployments.get(path.strip("/"))
        if found is None:
            served = ", ".join(f"/{d.path}" for d in self.deployments.values())
            raise azure_error(404, "DeploymentNotFound", f"No deployment is served at /{path}. Served: {served}")
        return found

    def _surface(self, self_hosted: bool) -> list[_Deployment]:
        """Deployments reached through /v1 (self-hosted ones) or the Azure surfaces (all the others).

        An emulator configured with no self-hosted deployment (``models=[...]``) answers on /v1 for all
        of them, so a deployments file with a ``/v1`` endpoint works against it too.
        """
        chosen = [d for d in self.deployments.values() if (d.kind == "self-hosted") == self_hosted]
        return chosen or (list(self.deployments.values()) if self_hosted else [])

    # ------------------------------------------------------------------ small routes
    async def _stats(self, request: web.Request) -> web.Response:
        late = sorted(self.first_token_lateness)
        lateness = {"count": len(late), "p50_ms": 1000 * late[len(late) // 2], "max_ms": 1000 * late[-1]} if late else {"count": 0}
        body = {
            "stats": dict(self.stats),
            "first_token_lateness": lateness,
            "deployments": list(self.deployments),
            "simulated": True,
            "time_scale": float(self.config.time_scale),
            "known_prompts": self.simulator.known_prompts,
        }
        return web.json_response(body)

    async def _learn_prompts(self, request: web.Request) -> web.Response:
        """``POST /emulator/prompts`` with a JSON list of prompt items (or ``{"items": [...]}``): learn their references."""
        self._check_auth(request)
        body = parse_json_body(await request.read())
        raw_items = body.get("items") if isinstance(body, dict) else body
        if not isinstance(raw_items, list):
            raise azure_error(400, "BadRequest", 'send a JSON list of prompt items (id, messages or prompt, reference, scorer), or {"items": [...]}')
        try:
            items = [teachable(raw) for raw in raw_items]
        except ValueError as exc:
            raise azure_error(400, "BadRequest", f"not a valid prompt item: {exc}") from None
        added = self.learn(items)
        return web.json_response({"learned": added, "known_prompts": self.simulator.known_prompts})

    async def _info_default(self, request: web.Request) -> web.Response:
        self._check_auth(request)
        return self._info_response(self.deployments[self.default])

    async def _info(self, request: web.Request) -> web.Response:  # noqa: F811 - replaces the name-only lookup
        self._check_auth(request)
        return self._info_response(self._by_route(request.match_info["deployment"]))

    def _info_response(self, dep: _Deployment) -> web.Response:
        body = {
            "model_name": dep.model.id,
            "model_type": "chat-completions",
            "model_provider_name": PROVIDER,
            "time_scale": float(self.config.time_scale),
            "deployment_kind": dep.kind,
        }
        return web.json_response(body)

    def _models_list(self, deployments: Iterable[_Deployment], owner: str) -> web.Response:
        created = 1718726686
        data = [{"id": d.served_name or d.name, "object": "model", "created": created, "owned_by": owner, "root": d.model.id} for d in deployments]
        return web.json_response({"object": "list", "data": data, "time_scale": float(self.config.time_scale)})

    async def _openai_models(self, request: web.Request) -> web.Response:
        self._check_auth(request)
        return self._models_list(self._surface(self_hosted=False), PROVIDER)

    async def _vllm_models(self, request: web.Request) -> web.Response:
        self._check_auth(request, optional=True)
        return self._models_list(self._surface(self_hosted=True), SELF_HOSTED_OWNER)

    # ------------------------------------------------------------------ chat
    async def _chat_routed(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        dep = self._by_route(request.match_info["deployment"])
        return await self._chat(request, dep, surface="azure")

    async def _chat_unified(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        return await self._chat(request, None, surface="azure")

    async def _chat_openai(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request)
        return await self._chat(request, None, surface="openai")

    async def _chat_vllm(self, request: web.Request) -> web.StreamResponse:
        self._check_auth(request, optional=True)
        try:
            return await self._chat(request, None, surface="vllm")
        except ApiError as err:
            raise vllm_error(err) from None

    async def _chat(self, request: web.Request, dep: _Deployment | None, *, surface: str) -> web.StreamResponse:
        arrival = asyncio.get_running_loop().time()  # the latency profile counts from here, not from when we got to it
        body = parse_json_body(await request.read())
        if dep is None:
            model_field = body.get("model") if isinstance(body, dict) else None
            pool = self._surface(self_hosted=True) if surface == "vllm" else self._surface(self_hosted=False)
            dep = self._deployment(model_field if isinstance(model_field, str) else None, pool=pool)
        call = parse_chat(body, request.headers.get("extra-parameters"), dep.model, openai_surface=surface != "azure", self_hosted=surface == "vllm")
        text = call.prompt_text().lower()
        if dep.content_filter and any(term.lower() in text for term in self.config.blocklist):
            raise content_filter_error()
        self._warn_if_unscorable(call)
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
            TIME_SCALE_HEADER: self._scale_text,
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
        # a cut answer keeps the first `kept` token steps of every choice: half the time none (the role chunk alone, as llama.cpp's
        # server sends when the next request arrives before the first token), else up to one step before the shortest choice ends
        kept = None
        if fault == "cut":
            kept = 0 if rng.random() < 0.5 else rng.randint(0, max(0, min(len(g.pieces) for g in chosen) - 1))
        if call.stream:
            return await self._stream(request, dep, call, chosen, usage, headers, arrival, ttft, interval, response_id, created, fault, kept)
        longest = max((len(g.pieces) for g in chosen), default=0) if kept is None else kept
        await asyncio.sleep(max(0.0, arrival + ttft + interval * max(0, longest - 1) - loop.time()))
        if fault == "reset":
            self.stats["fault_reset"] += 1
            request.transport.abort() if request.transport else None
            return web.Response(status=500)
        body = self._completion_body(dep, chosen, usage, response_id, created)
        if kept is not None:
            self.stats["fault_cut"] += 1
            for choice, g in zip(body["choices"], chosen, strict=True):
                choice.update(message={**choice["message"], "content": "".join(g.pieces[:kept])}, finish_reason=None, logprobs=None)
            written = kept * len(chosen)
            body["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": written, "total_tokens": prompt_tokens + written}
        return web.json_response(body, headers=headers)

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
        kept: int | None = None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **headers})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        start = arrival
        base = {"id": response_id, "object": "chat.completion.chunk", "created": created, "model": dep.model.id, "system_fingerprint": FINGERPRINT}
        events = self._stream_events(call, chosen, usage, base)
        cut_at = len(events) // 2 if fault in ("reset", "malformed") else None
        if fault == "cut":  # the role chunks, then `kept` steps of every choice: before any finish_reason (_stream_events' order)
            cut_at = len(chosen) * (1 + (kept or 0))
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
                elif fault == "cut":  # as llama.cpp's server ends an interrupted stream: [DONE], no finish_reason, no usage
                    await response.write(b"data: [DONE]\n\n")
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
    """An emulator serving on 127.0.0.1 in a background thread.

    Usable across notebook cells (``emu = start_emulator(); ...; emu.stop()``) and as a context
    manager (``with start_emulator() as emu:``), which stops it at the end of the block.
    """

    emulator: Emulator
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def key(self) -> str:
        return self.emulator.key

    @property
    def time_scale(self) -> float:
        return float(self.emulator.config.time_scale)

    def deployment_url(self, name: str) -> str:
        """The endpoint of a deployment, as a deployments file names it (per-deployment path, or the /v1 base)."""
        dep = self.emulator.deployments.get(name)
        if dep is None:
            raise KeyError(f"{name!r} is not served; served: {', '.join(self.emulator.deployments)}")
        if dep.kind == "self-hosted":
            return f"{self.url}/v1"
        return self.url if dep.openai_v1 else f"{self.url}/{dep.path}"

    @property
    def stats(self) -> dict[str, int]:
        return dict(self.emulator.stats)

    def learn(self, prompt_set: Iterable[PromptItem]) -> int:
        """Teach the running emulator a prompt set's references (same process; over HTTP: ``teach_emulator``)."""
        return self.emulator.learn(prompt_set)

    def stop(self) -> None:
        self.emulator.stop()

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _bind_error(exc: BaseException, host: str, port: int) -> EmulatorStartError:
    """One line for the user instead of an OSError traceback."""
    errno = getattr(exc, "errno", None)
    if errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
        err = EmulatorStartError(f"port {port} on {host} is already in use: stop what runs there, or pick another port (--port 0 picks a free one)")
    else:
        err = EmulatorStartError(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}")
    err.errno = errno
    return err


def start_emulator(config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> RunningEmulator:
    """Start an emulator in a background thread and return it running; port 0 picks a free port.

    Across notebook cells:  ``emu = start_emulator(time_scale=0.01)`` ... ``emu.stop()``
    Or for a block:         ``with start_emulator(time_scale=0.01) as emu: ...``
    """
    return Emulator(config or EmulatorConfig(**options)).start(host, port)


def serve_forever(config: EmulatorConfig, host: str, port: int, announce: Any = print) -> None:
    """Run the emulator in the foreground until interrupted (``llama-eval emulator``); EmulatorStartError if it cannot listen."""
    emulator = Emulator(config)

    async def main() -> None:
        runner = web.AppRunner(emulator.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise _bind_error(exc, host, port) from None
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
