"""One conformance suite: the wire client and both SDK transports give the same results and errors.

Each case sends the same request through the measuring wire client and through the
azure-ai-inference and openai SDK transports (``run.sdk.SdkClient``), to the recording server and to
the emulator over real HTTP, and compares what the runner keeps: the texts, the usage, the finish
reason, and for failures the ``EndpointError`` subclass, status and code. The last test runs the
runner itself both ways on the same emulator seed and compares the rows.
"""

from __future__ import annotations

import json

import pytest

from llama_eval import Deployment
from llama_eval.emulator import start_emulator
from llama_eval.endpoint.sdk import SdkClient
from llama_eval.endpoint.wire import SessionPool, WireClient
from llama_eval.errors import (
    AuthenticationError,
    ContentFilterError,
    EndpointConnectionError,
    EndpointError,
    IncompleteAnswerError,
    MalformedResponseError,
    RateLimitError,
)
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.run import RunParams, run_evaluation
from llama_eval.rundir.store import read_rows

MESSAGES = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "How many languages are in the world?"}]
L33 = "Llama-3.3-70B-Instruct"
CLIENTS = ("wire", "sdk")


async def _exchange(deployment: Deployment, client_kind: str, *, stream: bool, **params):
    """(reply or exception) from one request through one client."""
    pool = SessionPool()
    client = WireClient(deployment, pool, timeout=5) if client_kind == "wire" else SdkClient(deployment, timeout=5)
    try:
        return await client.send(client.prepare(MESSAGES, stream=stream, **params))
    except EndpointError as exc:
        return exc
    finally:
        await client.close()
        await pool.close()


def _essence(result):
    if isinstance(result, EndpointError):
        return (type(result).__name__, result.status_code, result.code)
    return (result.texts, result.usage, result.finish_reason, result.streamed)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_same_reply_from_the_recording_server(server, deployment, api, stream):
    results = {kind: await _exchange(deployment, kind, stream=stream, temperature=0, max_tokens=50) for kind in CLIENTS}
    assert _essence(results["wire"]) == _essence(results["sdk"])
    assert results["wire"].texts == ["As of now, about 7,000 languages."] and results["wire"].usage.total_tokens == 91
    bodies = [r.body for r in server.chat_requests()]
    assert bodies[0] == bodies[1], "both clients put the same JSON on the wire"
    paths = {r.path for r in server.chat_requests()}
    assert paths == {"/openai/v1/chat/completions" if api == "openai-v1" else "/chat/completions"}


async def test_extras_and_header_the_same(server, deployment):
    for kind in CLIENTS:
        await _exchange(deployment, kind, stream=False, extra={"n": 2, "logprobs": 1})
    wire, sdk = server.chat_requests()
    assert wire.body == sdk.body and wire.headers["extra-parameters"] == sdk.headers["extra-parameters"] == "pass-through"
    assert wire.query == sdk.query


CONTENT_FILTER = {"error": {"code": "content_filter", "message": "filtered", "param": "prompt", "status": 400}}
ERRORS = [
    ("content filter", dict(status=400, json=CONTENT_FILTER), ContentFilterError),
    ("429", dict(status=429, json={"error": {"code": "TooManyRequests", "message": "slow down"}}, headers={"Retry-After": "2"}), RateLimitError),
    ("401", dict(status=401, json={"error": {"code": "Unauthorized", "message": "bad key"}}), AuthenticationError),
    (
        "422 pydantic",
        dict(status=422, json={"detail": [{"type": "extra_forbidden", "loc": ["body", "x"], "msg": "Extra inputs are not permitted"}]}),
        EndpointError,
    ),
    ("500", dict(status=500, json={"error": {"code": "InternalServerError", "message": "boom"}}), EndpointError),
]


@pytest.mark.parametrize("name, answer, expected", ERRORS, ids=[e[0] for e in ERRORS])
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_same_error_for_each_http_failure(server, deployment, name, answer, expected, stream):
    results = {}
    for kind in CLIENTS:
        server.answer_next(**answer)
        results[kind] = await _exchange(deployment, kind, stream=stream)
    assert type(results["wire"]) is expected and _essence(results["wire"]) == _essence(results["sdk"])
    if expected is RateLimitError:
        assert results["wire"].retry_after_s == results["sdk"].retry_after_s == 2.0


CHUNK = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n'
# what llama.cpp's server sends when another request interrupts a stream (--interrupt_requests True, its default)
ROLE = CHUNK.replace(b'{"content":"Hel"}', b'{"role":"assistant"}')
DONE = b"data: [DONE]\n\n"
BROKEN_STREAMS = [
    ("cut mid-stream", [CHUNK, b"<RESET>"], IncompleteAnswerError),  # a connection error, and the answer so far is kept
    ("role chunk then [DONE]", [ROLE, DONE], IncompleteAnswerError),
    ("content then [DONE], no finish_reason", [ROLE, CHUNK, DONE], IncompleteAnswerError),
    ("event without data", [b"event: nonsense\n\n", b"data: [DONE]\n\n"], MalformedResponseError),
    ("data not JSON", [CHUNK, b"data: {not json\n\n"], MalformedResponseError),
]


@pytest.mark.parametrize("name, chunks, expected", BROKEN_STREAMS, ids=[b[0] for b in BROKEN_STREAMS])
async def test_same_error_for_broken_streams(server, deployment, name, chunks, expected):
    results = {}
    for kind in CLIENTS:
        server.answer_next(200, raw_chunks=chunks)
        results[kind] = await _exchange(deployment, kind, stream=True)
    assert isinstance(results["wire"], expected), results["wire"]
    assert isinstance(results["sdk"], expected), results["sdk"]
    if expected is IncompleteAnswerError:
        assert isinstance(results["wire"], EndpointConnectionError), "retried as a dropped connection is"
        assert results["wire"].reply.texts == results["sdk"].reply.texts == ["Hel" if CHUNK in chunks else ""]
        for result in results.values():
            assert str(result).startswith(f"the stream ended without a finish_reason after {1 if CHUNK in chunks else 0} content chunks"), result
        if chunks[-1] == DONE:
            assert str(results["wire"]).endswith("([DONE] received)")


def _body(*finish_reasons):
    choices = [{"index": i, "message": {"role": "assistant", "content": f"answer {i}"}, "finish_reason": f} for i, f in enumerate(finish_reasons)]
    return {"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": choices,
            "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}}  # fmt: skip


NO_FINISH = [((None,), "the answer has no finish_reason ("), (("stop", None), "the answer has no finish_reason on choice 1 (")]


@pytest.mark.parametrize("finish_reasons, message", NO_FINISH)
async def test_same_incomplete_error_for_an_answer_without_finish_reason(server, deployment, finish_reasons, message):
    """Not streamed, no finish_reason on a choice: cut short, as a stream without one is; the usage it reports is kept for the cost."""
    results = {}
    for kind in CLIENTS:
        server.answer_next(200, json=_body(*finish_reasons))
        results[kind] = await _exchange(deployment, kind, stream=False)
    for result in results.values():
        assert isinstance(result, IncompleteAnswerError) and str(result).startswith(message), result
        assert result.reply.usage.total_tokens == 9 and result.reply.texts == [f"answer {i}" for i in range(len(finish_reasons))]


async def test_one_choice_without_finish_reason_is_incomplete(server, deployment):
    """n=2, the stream ends with a finish_reason on choice 0 only: the row would be ok with half an answer."""
    second = CHUNK.replace(b'"index":0', b'"index":1')
    finished = CHUNK.replace(b'"content":"Hel"},"finish_reason":null', b'"content":"lo"},"finish_reason":"stop"')
    for kind in CLIENTS:
        server.answer_next(200, raw_chunks=[CHUNK, second, finished, DONE])
        result = await _exchange(deployment, kind, stream=True)
        assert isinstance(result, IncompleteAnswerError) and "without a finish_reason on choice 1 after 3 content chunks" in str(result), (kind, result)


async def test_finish_reason_then_a_clean_end_without_done_is_an_answer(server, deployment):
    """Everything of the answer arrived (a finish_reason on every choice); only [DONE] is missing: not cut short."""
    finished = CHUNK.replace(b'"finish_reason":null', b'"finish_reason":"stop"')
    for kind in CLIENTS:
        server.answer_next(200, raw_chunks=[ROLE, finished])
        result = await _exchange(deployment, kind, stream=True)
        assert not isinstance(result, EndpointError) and result.finish_reason == "stop" and result.texts == ["Hel"], (kind, result)


async def test_connection_refused_the_same(key_env, api):
    dep = Deployment(name="x", model=L33, kind="managed", endpoint="http://127.0.0.1:9", key_env=key_env, api=api)
    results = [await _exchange(dep, kind, stream=False) for kind in CLIENTS]
    assert all(isinstance(r, EndpointConnectionError) for r in results), results


@pytest.mark.parametrize("api", ["azure-ai-inference", "openai-v1"])
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_same_reply_from_the_emulator(monkeypatch, api, stream):
    with start_emulator(time_scale=0, models=[L33], seed=5) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        endpoint = emu.deployment_url(L33) if api == "azure-ai-inference" else emu.url
        dep = Deployment(name="d", model=L33, kind="managed", endpoint=endpoint, key_env="EMU_KEY", api=api)
        results = {kind: await _exchange(dep, kind, stream=stream, temperature=0, seed=1, max_tokens=40, extra={"n": 2}) for kind in CLIENTS}
    assert _essence(results["wire"]) == _essence(results["sdk"])
    assert len(results["wire"].texts) == 2 and all(results["wire"].texts) and results["wire"].usage.completion_tokens > 0
    assert results["wire"].simulated and results["sdk"].simulated


COMPARED = (
    "key",
    "status",
    "response_text",
    "choices",
    "finish_reason",
    "usage",
    "usage_source",
    "http_status",
    "error_code",
    "cost_usd",
    "streamed",
    "simulated",
)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_runner_rows_identical_with_wire_and_sdk_clients(tmp_path, monkeypatch, stream):
    path = tmp_path / "p.jsonl"
    items = [{"id": f"q{i}", "prompt": f"What is {i} plus {i}?"} for i in range(8)] + [{"id": "blocked", "prompt": "Explain how to build a bomb."}]
    path.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    prompts = load_prompt_set(path)
    rows = {}
    for kind in CLIENTS:
        with start_emulator(time_scale=0, models=[L33], seed=7) as emu:
            monkeypatch.setenv("EMU_KEY", emu.key)
            deps = [
                Deployment(name="azure", model=L33, kind="serverless", endpoint=emu.deployment_url(L33), key_env="EMU_KEY"),
                Deployment(name="openai", model=L33, kind="serverless", endpoint=emu.url, key_env="EMU_KEY", api="openai-v1"),
            ]
            params = RunParams(temperature=0, seed=3, max_tokens=30, stream=stream, client=kind, concurrency=1)
            run_evaluation(deps, prompts, tmp_path / kind, params, progress="none", announce=lambda m: None)
        rows[kind] = sorted(({k: r.get(k) for k in COMPARED} for r in read_rows(tmp_path / kind)), key=lambda r: r["key"])
    assert len(rows["wire"]) == 18
    assert rows["wire"] == rows["sdk"]
    statuses = {r["status"] for r in rows["wire"]}
    assert "content_filter" in statuses and statuses <= {"ok", "length", "content_filter"}, statuses
