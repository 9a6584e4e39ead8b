"""The emulator's chat completions: the four chat routes, the request rules, quota and batching, the timed answer.

``ChatHandlers`` is a part of ``Emulator`` (app.py) kept apart by its job: the hot path of every
request, from the body to the last streamed byte. It uses the emulator's state (config, deployments,
quota, capacity gates, simulator, fault dice, stats) and its lookups (``_check_auth``, ``_by_route``,
``_deployment``, ``_surface``).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from llama_eval.records import INTENDED_HEADER, IntendedTiming

from .batching import CapacityGates
from .config import FINGERPRINT, MARKER_HEADER, TIME_SCALE_HEADER, EmulatorConfig, ServedDeployment
from .faults import FaultDice, cut_steps, server_error
from .prefix_cache import PrefixCaches
from .protocol import ApiError, ChatCall, azure_error, content_filter_error, parse_chat, parse_json_body
from .quota import Admission, QuotaExceeded, real_seconds, retry_after_header
from .simulate import Generation, Simulator


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


def too_many_requests(exc: QuotaExceeded, time_scale: float = 1.0) -> ApiError:
    """The 429 the service answers when a quota is exceeded, with its Retry-After and remaining-quota headers.

    The limiter's wait is in emulated seconds; the headers carry real seconds (what the client sleeps):
    at time scale 0.05 an emulated 20 s wait is ``retry-after-ms: 1001``.
    """
    wait = real_seconds(exc.retry_after_s, time_scale)
    return ApiError(
        429,
        {
            "error": {
                "code": "TooManyRequests",
                "message": f"Rate limit of {exc.what} is exceeded. Try again in {retry_after_header(wait)} seconds.",
                "status": 429,
            }
        },
        {
            "retry-after": retry_after_header(wait),
            "retry-after-ms": str(int(wait * 1000) + 1),
            "x-ratelimit-remaining-requests": str(exc.remaining_requests),
            "x-ratelimit-remaining-tokens": str(exc.remaining_tokens),
            "x-ms-error-code": "TooManyRequests",
        },
    )


class ChatHandlers:
    """The chat routes of ``Emulator``; its state is set by ``Emulator.__init__``."""

    config: EmulatorConfig
    capacity: CapacityGates
    prefix_caches: PrefixCaches
    simulator: Simulator
    faults: FaultDice
    stats: Counter[str]
    first_token_lateness: deque[float]

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

    async def _chat(self, request: web.Request, dep: ServedDeployment | None, *, surface: str) -> web.StreamResponse:
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
            admission = dep.quota.admit(prompt_tokens + max_tokens * candidates, prompt_tokens=prompt_tokens)
        except QuotaExceeded as exc:
            raise too_many_requests(exc, self.config.time_scale) from None
        batched = False
        received = arrival
        try:
            if dep.name in self.capacity.models:  # managed: wait (FIFO) for a place in the batch; TTFT counts from there (capacity.py)
                await self.capacity.acquire(dep.name, prompt_tokens + max_tokens)  # a place in the batch, and its KV cache
                batched, arrival = True, max(arrival, asyncio.get_running_loop().time())
            cached = self.prefix_caches.cached_tokens(dep, call.messages, prompt_tokens)  # None: no cache (serverless, PTU)
            return await self._serve(request, dep, call, prompt_tokens, max_tokens, admission, arrival, queued=arrival - received, cached_tokens=cached)
        finally:
            if batched:
                self.capacity.release(dep.name, prompt_tokens + max_tokens)
            admission.settle(admission.tokens.amount if admission.tokens else 0)  # no-op if already settled

    async def _serve(
        self,
        request: web.Request,
        dep: ServedDeployment,
        call: ChatCall,
        prompt_tokens: int,
        max_tokens: int,
        admission: Admission,
        arrival: float,
        *,
        queued: float = 0.0,
        cached_tokens: int | None = None,
    ) -> web.StreamResponse:
        """The answer, timed from ``arrival`` (``queued``: seconds it waited for a place in a batch before that)."""
        number, fault = self.faults.next_request()
        rng = random.Random(f"{self.config.seed}:{number}")
        nonce = uuid.uuid4().hex
        # the text varies per request, reproducibly: counted per deployment and route (a managed and a /v1 client of one model
        # are two callers, each with its own count), seeded, not by uuid
        sample = self.simulator.sample_number(f"{dep.name} {request.path}", call)
        candidates = [self.simulator.generate(dep.model, call, dep.counter, i, sample, max_tokens) for i in range(max(call.n, call.best_of or 0))]
        if call.best_of:
            chosen = sorted(candidates, key=lambda g: g.mean_logprob, reverse=True)[: call.n]
        else:
            chosen = candidates[: call.n]
        completion_tokens = sum(g.completion_tokens for g in candidates)  # best_of candidates are generated, so counted
        usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
        if cached_tokens is not None:  # a deployment with a prefix cache reports it as vLLM does
            usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
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
        ttft_service = dep.profile.ttft(prompt_tokens - (cached_tokens or 0), rng)  # the emulated service's own time (uncached prefill) ...
        interval_service = dep.profile.token_interval(rng) * self.capacity.interval_factor(dep.name)
        ttft, interval = ttft_service * scale, interval_service * scale  # ... and this machine's
        queued_service = queued / scale if scale > 0 else 0.0

        def intended(steps: int) -> IntendedTiming:
            """What this answer is meant to take, in service time: the truth a measurement is checked against (records.IntendedTiming)."""
            first = queued_service + ttft_service
            return IntendedTiming(round(first, 6), round(interval_service, 6), round(first + interval_service * max(0, steps - 1), 6), steps)

        loop = asyncio.get_running_loop()
        if fault in ("500", "503"):
            await asyncio.sleep(max(0.0, arrival + ttft - loop.time()))
            self.stats[f"fault_{fault}"] += 1
            raise server_error(fault, scale)
        if fault == "stall":
            self.stats["fault_stall"] += 1
            await asyncio.sleep(self.config.stall_s)
        response_id = f"chatcmpl-{nonce[:24]}"
        created = int(time.time())
        self.stats[f"ok_{dep.name}"] += 1
        self.stats["completion_tokens"] += completion_tokens
        kept = cut_steps(rng, min(len(g.pieces) for g in chosen)) if fault == "cut" else None  # a cut answer keeps `kept` steps of each choice
        longest = max((len(g.pieces) for g in chosen), default=0) if kept is None else kept
        # decided before the first byte, so a header, streamed or not: an SSE comment would break azure-ai-inference,
        # whose stream parser raises on any line but `data:` (1.0.0b9); every SDK ignores a header it does not know
        headers[INTENDED_HEADER] = intended(longest).to_text()
        if call.stream:
            return await self._stream(request, dep, call, chosen, usage, headers, arrival, ttft, interval, response_id, created, fault, kept)
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

    def _completion_body(self, dep: ServedDeployment, chosen: list[Generation], usage: dict[str, int], response_id: str, created: int) -> dict[str, Any]:
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
        dep: ServedDeployment,
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
