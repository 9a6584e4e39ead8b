"""A minimal Azure-like streaming server with a fixed profile, for measuring clients, not servers.

    python benchmarks/fixed_server.py PORT [TTFT_S GAP_S]

Every POST .../chat/completions streams 25 content chunks: the first at TTFT_S (0.2) after the
request arrived, then one every GAP_S (0.02), scheduled against the arrival time (a late write does
not shift the ones after it), then usage and ``[DONE]``. It does no tokenizing or text generation,
so it stays closer to schedule than the emulator at high concurrency; how late it still is shows in
the bare aiohttp loop measured beside the runner.
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiohttp import web

TTFT, GAP, TOKENS = 0.2, 0.02, 25


def chunk(body: dict) -> bytes:
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


BASE = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "fixed"}
FIRST = chunk({**BASE, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "tok "}, "finish_reason": None}]})
MIDDLE = chunk({**BASE, "choices": [{"index": 0, "delta": {"content": "tok "}, "finish_reason": None}]})
USAGE = {"prompt_tokens": 10, "completion_tokens": TOKENS, "total_tokens": 10 + TOKENS}
LAST = chunk({**BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": USAGE})


async def info(request: web.Request) -> web.Response:
    return web.json_response({"model_name": "fixed", "model_type": "chat-completions", "model_provider_name": "bench"})


async def chat(request: web.Request) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    arrival = loop.time()
    await request.read()
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for i in range(TOKENS):
        delay = arrival + TTFT + GAP * i - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await response.write(FIRST if i == 0 else MIDDLE)
    await response.write(LAST + b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def main() -> None:
    global TTFT, GAP
    port = int(sys.argv[1])
    TTFT, GAP = (float(sys.argv[2]), float(sys.argv[3])) if len(sys.argv) > 3 else (TTFT, GAP)
    app = web.Application()
    app.router.add_get("/{tail:.*}/info", info)
    app.router.add_post("/{tail:.*}/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=lambda *a: print(f"listening {port}", flush=True))


if __name__ == "__main__":
    main()
