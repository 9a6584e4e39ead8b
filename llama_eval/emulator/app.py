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

This module holds the application (routes, auth, deployment lookup, the small routes) and starts and
stops it; ``config`` says what to emulate, ``chat`` answers chat completions (the hot path) and
``faults`` injects failures.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import warnings
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from llama_eval import clock
from llama_eval.catalog.models import RETIRED, Catalog, load_catalog
from llama_eval.catalog.tokens import counter_for
from llama_eval.deployments.loader import lifecycle_note
from llama_eval.errors import EmulatorStartError, LifecycleWarning, UnknownPromptWarning
from llama_eval.prompts.prompt_set import PromptItem, load_prompt_set

from .batching import CapacityGates
from .chat import ChatHandlers
from .config import (
    DEFAULT_QUOTA,
    MARKER_HEADER,
    PROVIDER,
    SELF_HOSTED_OWNER,
    TIME_SCALE_HEADER,
    EmulatorConfig,
    ServedDeployment,
    config_specs,
    norm_name,
)
from .faults import FaultDice
from .latency import profile_for
from .prefix_cache import PrefixCaches
from .protocol import ApiError, ChatCall, azure_error, parse_json_body
from .provisioned import PtuBucket, ptu_bucket
from .quota import QuotaLimiter, emulated_clock
from .simulate import Simulator, asks_for_checkable_answer, is_judge_request, teachable


class Emulator(ChatHandlers):
    """The aiohttp application and its state (deployments, quotas, counters).

    ``start()`` serves it on 127.0.0.1 in a background thread and ``stop()`` ends it, so a notebook
    can start it in one cell and stop it in another; ``start_emulator`` wraps both.
    """

    def __init__(self, config: EmulatorConfig | None = None, catalog: Catalog | None = None):
        self.config = config or EmulatorConfig()
        self.catalog = catalog or load_catalog()
        self.key = self.config.key or secrets.token_hex(16)
        self.deployments: dict[str, ServedDeployment] = {}
        quota_clock = emulated_clock(self.config.time_scale)  # one clock: quota minutes are the emulated service's minutes
        window = self.config.quota_window_s
        for spec in config_specs(self.config, self.catalog):
            model = self.catalog.get(spec.model)
            if spec.accuracy is not None:  # the test knob: answers right with this probability instead of the catalog's
                model = replace(model, benchmark_accuracy=spec.accuracy)
            quota = model.quota
            limiter: QuotaLimiter | PtuBucket
            if spec.kind == "provisioned":  # no token quota: a utilization bucket that drains at the PTU throughput
                limiter = ptu_bucket(model, spec.ptu, window, quota_clock)
            elif spec.kind != "serverless":
                # Token and request quotas are a serverless thing; managed compute and your own server are
                # limited by their capacity (the runner paces them by concurrency only). Only explicit overrides apply.
                limiter = QuotaLimiter(self.config.rpm, self.config.tpm, self.config.concurrency, window, quota_clock)
            else:
                tpm = self.config.tpm or (quota.tpm if quota else None) or DEFAULT_QUOTA[0]
                rpm = self.config.rpm or (quota.rpm if quota else None) or DEFAULT_QUOTA[1]
                concurrency = self.config.concurrency or (quota.concurrency if quota else None)
                limiter = QuotaLimiter(rpm, tpm, concurrency, window, quota_clock)
            if spec.name in self.deployments:
                raise ValueError(f"deployment name {spec.name!r} is used twice")
            self.deployments[spec.name] = ServedDeployment(
                name=spec.name,
                model=model,
                counter=counter_for(model.family),
                profile=(self.config.profiles.get(spec.name) or self.config.profile or profile_for(model)).slowed(spec.slowdown),
                quota=limiter,
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
        self.faults = FaultDice(self.config.fault_rate, self.config.fault_kinds, self.config.seed)
        self.capacity = CapacityGates(self.config.capacity)
        self.prefix_caches = PrefixCaches(self.deployments.values(), self.config.capacity)  # managed and self-hosted only (prefix_cache.py)
        self._unscorable_warned = False
        self._running: RunningEmulator | None = None
        self._thread_state: dict[str, Any] = {}
        self.app = self._make_app()

    def retired_serverless(self) -> list[str]:
        """One sentence per retired serverless offer this emulator serves as serverless (today, by the catalog).

        The emulator serves them anyway (the Azure docs' walkthrough of a 3.1 serverless endpoint
        still runs), but Azure would not: ``start_emulator`` warns with each (``LifecycleWarning``,
        as ``load_deployments`` does for a deployments file) and ``llama-eval emulator`` prints each
        on stderr. The dates and the replacement come from ``lifecycle_note``, the loader's words.
        """
        today = clock.today()
        served: dict[str, list[str]] = {}
        for dep in self.deployments.values():
            offer = dep.model.offer("serverless") if dep.kind == "serverless" else None
            if offer is not None and offer.status(today) == RETIRED:
                served.setdefault(dep.model.id, []).append(dep.name)
        notes = []
        for model_id, names in served.items():
            note = lifecycle_note(self.catalog.get(model_id), "serverless", self.catalog, today)
            label = ", ".join(repr(n) for n in names)
            notes.append(f"emulated deployment{'s' if len(names) > 1 else ''} {label}: {note}; the emulator serves it as serverless anyway "
                         f"(kind: managed in a deployments file emulates what still serves)")  # fmt: skip
        return notes

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

    def _deployment(self, name: str | None, *, pool: Iterable[ServedDeployment] | None = None) -> ServedDeployment:
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
        matches = [d for d in candidates if norm_name(name) in (norm_name(d.model.id), norm_name(d.served_name or ""))]
        if len(matches) == 1:
            return matches[0]
        raise azure_error(404, "DeploymentNotFound", f"The API deployment {name!r} does not exist. Deployments served: {served}")

    def _by_route(self, path: str) -> ServedDeployment:
        found = self._by_path.get(path.strip("/")) or self.deployments.get(path.strip("/"))
        if found is None:
            served = ", ".join(f"/{d.path}" for d in self.deployments.values())
            raise azure_error(404, "DeploymentNotFound", f"No deployment is served at /{path}. Served: {served}")
        return found

    def _surface(self, self_hosted: bool) -> list[ServedDeployment]:
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

    def _info_response(self, dep: ServedDeployment) -> web.Response:
        body = {
            "model_name": dep.model.id,
            "model_type": "chat-completions",
            "model_provider_name": PROVIDER,
            "time_scale": float(self.config.time_scale),
            "deployment_kind": dep.kind,
        }
        return web.json_response(body)

    def _models_list(self, deployments: Iterable[ServedDeployment], owner: str) -> web.Response:
        created = 1718726686
        data = [{"id": d.served_name or d.name, "object": "model", "created": created, "owned_by": owner, "root": d.model.id} for d in deployments]
        return web.json_response({"object": "list", "data": data, "time_scale": float(self.config.time_scale)})

    async def _openai_models(self, request: web.Request) -> web.Response:
        self._check_auth(request)
        return self._models_list(self._surface(self_hosted=False), PROVIDER)

    async def _vllm_models(self, request: web.Request) -> web.Response:
        self._check_auth(request, optional=True)
        return self._models_list(self._surface(self_hosted=True), SELF_HOSTED_OWNER)



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
    emulator = Emulator(config or EmulatorConfig(**options))
    for note in emulator.retired_serverless():  # as load_deployments warns for a deployments file: never a silent retired offer
        warnings.warn(LifecycleWarning(note), stacklevel=2)
    return emulator.start(host, port)


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
