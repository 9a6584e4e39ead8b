"""An HTTP server whose capacity is known: it serves at most K chat requests at once, FIFO beyond.

Each admitted request waits ``ttft_s``, then streams ``tokens`` content chunks ``interval_s``
apart (Azure AI Model Inference SSE shape, usage on the last chunk). A request that arrives while K
are being served waits in a first-come-first-served queue, so its time to first token grows by
the wait. A closed-loop sweep against it has a known answer: up to K workers see a flat TTFT and a
throughput of c / service time; more than K queue. Used by tests/load/test_sweep.py (in a thread) and
benchmarks/bench_sweep.py (``python tests/_support/capacityserver.py K`` in its own process; prints the port).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading

from aiohttp import web

from llama_eval.emulator.batching import FifoSlots  # the emulator's queue: K places, strictly first come first served


class CapacityApp:
    def __init__(self, k: int, ttft_s: float = 0.05, tokens: int = 10, interval_s: float = 0.01, time_scale: float | None = None):
        self.k, self.ttft_s, self.tokens, self.interval_s = k, ttft_s, tokens, interval_s
        # announce an emulator-style time scale (x-llama-eval-time-scale) without changing the timing itself
        self.headers = {"x-llama-eval-time-scale": str(time_scale)} if time_scale is not None else {}
        self.service_s = ttft_s + (tokens - 1) * interval_s  # first token at ttft, the last one (tokens-1) intervals later
        self.in_service = 0
        self.max_in_service = 0
        self.served = 0
        self._slots: FifoSlots | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/info", self._info)
        app.router.add_post("/chat/completions", self._chat)
        return app

    async def _info(self, request: web.Request) -> web.Response:
        info = {"model_name": "Llama-3.3-70B-Instruct", "model_type": "chat-completions", "model_provider_name": "Meta"}
        return web.json_response(info, headers=self.headers)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if self._slots is None:
            self._slots = FifoSlots(self.k)
        await self._slots.acquire()
        self.in_service += 1
        self.max_in_service = max(self.max_in_service, self.in_service)
        try:
            loop = asyncio.get_running_loop()
            start = loop.time()
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **self.headers})
            await response.prepare(request)
            base = {"id": "cmpl-k", "object": "chat.completion.chunk", "created": 1718726686, "model": "Llama-3.3-70B-Instruct"}
            for i in range(self.tokens):
                await asyncio.sleep(max(0.0, start + self.ttft_s + i * self.interval_s - loop.time()))  # on a fixed timetable: no drift
                chunk = base | {"choices": [{"index": 0, "delta": {"content": f"t{i} "}, "finish_reason": None}]}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            done = base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 10, "completion_tokens": self.tokens, "total_tokens": 10 + self.tokens}}  # fmt: skip
            await response.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
            await response.write_eof()
            self.served += 1
            return response
        finally:
            self.in_service -= 1
            self._slots.release()
            del body


class CapacityServer:
    """``with CapacityServer(k=4) as server:`` — the app on 127.0.0.1 in a thread of its own."""

    def __init__(self, k: int, **options: float):
        self.state = CapacityApp(k, **options)
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CapacityServer:
        ready = threading.Event()

        async def start() -> None:
            self._runner = web.AppRunner(self.state.app(), access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("capacity server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self._runner:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def main() -> None:
    """``python tests/_support/capacityserver.py K [TTFT_S TOKENS INTERVAL_S]``: serve until killed; the first stdout line is the port."""
    k = int(sys.argv[1])
    options = {}
    if len(sys.argv) > 4:
        options = {"ttft_s": float(sys.argv[2]), "tokens": int(sys.argv[3]), "interval_s": float(sys.argv[4])}

    async def serve() -> None:
        runner = web.AppRunner(CapacityApp(k, **options).app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
