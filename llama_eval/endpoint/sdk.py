"""The SDK transports as a runner client (``--client sdk``), giving the same ``Reply`` as the wire client.

This is the reference the wire client is checked against (tests/test_conformance.py) and the way
to measure through exactly what ``make_client`` users run. It times updates as the SDK hands them
over, which under load is later than they arrived.
"""

from __future__ import annotations

import time
from typing import Any

from llama_eval.catalog.models import Catalog
from llama_eval.deployments.model import Deployment
from llama_eval.errors import EndpointConnectionError, EndpointTimeout, MalformedResponseError
from llama_eval.records import Reply, Usage, check_finished, normalise_finish

from .client import AsyncLlamaClient, make_async_client
from .request import ChatRequest


class SdkClient:
    """``AsyncLlamaClient`` behind the runner's client shape: ``prepare``, ``send`` -> ``Reply``, ``probe``, ``close``."""

    def __init__(self, deployment: Deployment, *, timeout: float, catalog: Catalog | None = None, client: AsyncLlamaClient | None = None):
        self._client = client or make_async_client(deployment, timeout=timeout, catalog=catalog)
        self.deployment = deployment
        self.model = self._client.model
        self.api = self._client.api

    def prepare(self, messages: Any, *, stream: bool = False, checked: bool = False, **params: Any) -> ChatRequest:
        """The SDK client's own ``prepare``: it checks every request again (``checked`` is the wire client's shortcut; this is the reference path)."""
        return self._client.prepare(messages, stream=stream, **params)

    async def send(self, request: ChatRequest) -> Reply:
        """Send once through the SDK; an answer that ends without a ``finish_reason`` on every choice raises
        ``IncompleteAnswerError`` holding what arrived, exactly as the wire client does (``records.check_finished``)."""
        started = time.perf_counter()
        if not request.stream:
            response = await self._client.send(request)
            ended = time.perf_counter()
            choices = response.choices or []
            reply = Reply(
                texts=[c.message.content or "" for c in choices],
                finish_reason=normalise_finish(choices[0].finish_reason) if choices else None,
                usage=_usage(response.get("usage")),
                streamed=False,
                started=started,
                ended=ended,
                arrivals=[],
                simulated=response.get("system_fingerprint") == "llama-eval-emulator",
            )
            finished = [i for i, c in enumerate(choices) if c.finish_reason]
            return check_finished(reply, finished, ending=f"not streamed; {len(choices)} choice{'' if len(choices) == 1 else 's'} in the body")
        texts: dict[int, list[str]] = {}
        finish: dict[int, Any] = {}
        arrivals: list[float] = []
        usage = fingerprint = None
        updates = 0
        closed = ""
        stream = await self._client.send(request)
        async with stream:
            try:
                async for update in stream:
                    now = time.perf_counter()
                    updates += 1
                    fingerprint = fingerprint or update.get("system_fingerprint")
                    # raw mapping access: the SDK models deserialise on every attribute access
                    for choice in update.get("choices") or ():
                        content = (choice.get("delta") or {}).get("content")
                        if content:
                            texts.setdefault(choice.get("index", 0), []).append(content)
                            arrivals.append(now)
                        if choice.get("finish_reason"):
                            finish[choice.get("index", 0)] = choice["finish_reason"]
                    if update.get("usage"):
                        usage = update.get("usage")
            except EndpointTimeout:
                raise  # a stream gone quiet is a timeout, whatever arrived before
            except EndpointConnectionError as exc:
                if not updates:
                    raise  # nothing of an answer arrived: a connection error
                closed = f"the connection closed: {exc}"  # the answer so far is judged below, as the wire client does
        ended = time.perf_counter()
        if not updates:
            raise MalformedResponseError("malformed stream: it ended without a single completion chunk")
        count = max([*texts, *finish, 0]) + 1
        reply = Reply(
            texts=["".join(texts.get(i, ())) for i in range(count)],
            finish_reason=normalise_finish(finish.get(0)),
            usage=_usage(usage),
            streamed=True,
            started=started,
            ended=ended,
            arrivals=arrivals,
            simulated=fingerprint == "llama-eval-emulator",
        )
        # the SDKs end the iteration at [DONE] and at a clean end of the body alike: which one it was is not visible here
        return check_finished(reply, finish, ending=closed or "the stream ended")

    async def close(self) -> None:
        await self._client.close()


def _usage(value: Any) -> Usage | None:
    if value is None:
        return None
    return Usage.from_json(dict(value))
