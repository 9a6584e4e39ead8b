"""The wire client's parts: the SSE reader on what real servers send, the URL rules, the probe."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llama_eval import Deployment
from llama_eval.deployments.model import openai_base_url
from llama_eval.emulator import start_emulator
from llama_eval.endpoint.sse import SSEParser
from llama_eval.endpoint.wire import SessionPool, WireClient

L33 = "Llama-3.3-70B-Instruct"


def parse(chunks: list[bytes]) -> list[tuple[str, str]]:
    parser = SSEParser()
    events = [e for chunk in chunks for e in parser.feed(chunk)]
    return events + parser.close()


def test_lf_crlf_and_cr_line_ends_give_the_same_events():
    lf = b'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n'
    expected = [("message", '{"a":1}'), ("message", '{"b":2}'), ("message", "[DONE]")]
    assert parse([lf]) == expected
    assert parse([lf.replace(b"\n", b"\r\n")]) == expected
    assert parse([lf.replace(b"\n", b"\r")]) == expected


def test_comments_fields_multiline_data_and_no_space_after_colon():
    raw = b": keep-alive\n\nevent: delta\nid: 7\nretry: 100\ndata:first\ndata: second\n\n: ping\ndata: x\n\n"
    assert parse([raw]) == [("delta", "first\nsecond"), ("message", "x")]


def test_crlf_split_between_reads_is_one_line_end():
    assert parse([b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]) == [("message", "a"), ("message", "b")]


def test_unfinished_event_at_end_of_stream_is_dropped():
    assert parse([b"data: a\n\ndata: half"]) == [("message", "a")]


SSE_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["", "delta", "error"]),
        st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30), min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=8,
)


def _encode(events, newline: bytes, comments: bool) -> bytes:
    out = b""
    for name, lines in events:
        if comments:
            out += b": comment" + newline
        if name:
            out += b"event: " + name.encode() + newline
        for line in lines:
            out += b"data: " + line.encode() + newline
        out += newline
    return out


@settings(max_examples=300, deadline=None)
@given(events=SSE_EVENTS, newline=st.sampled_from([b"\n", b"\r\n", b"\r"]), comments=st.booleans(), cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_random_splits_of_a_valid_stream_give_the_same_events(events, newline, comments, cuts):
    raw = _encode(events, newline, comments)
    expected = [(name or "message", "\n".join(lines)) for name, lines in events]
    points = sorted({c % (len(raw) + 1) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert parse([raw]) == expected
    assert parse(pieces) == expected
    assert parse([bytes([b]) for b in raw]) == expected  # one byte per read


@pytest.mark.parametrize(
    "endpoint, expected",
    [
        ("https://res.services.ai.azure.com", "https://res.services.ai.azure.com/openai/v1"),
        ("https://res.services.ai.azure.com/models", "https://res.services.ai.azure.com/openai/v1"),
        ("https://res.openai.azure.com/openai/v1/", "https://res.openai.azure.com/openai/v1"),
        ("http://gpu-box:8000/v1", "http://gpu-box:8000/v1"),  # self-hosted vLLM / TGI / llama.cpp: as given
        ("http://gpu-box:8000/v1/", "http://gpu-box:8000/v1"),
    ],
)
def test_openai_base_url_rule(endpoint, expected):
    assert openai_base_url(endpoint) == expected


def test_wire_urls_for_each_surface(monkeypatch):
    monkeypatch.setenv("K", "k")
    pool = SessionPool()
    azure = WireClient(Deployment(name="a", model=L33, endpoint="https://x.models.ai.azure.com", key_env="K"), pool, timeout=1)
    assert azure.chat_url == "https://x.models.ai.azure.com/chat/completions?api-version=2024-05-01-preview"
    pinned = WireClient(Deployment(name="a", model=L33, endpoint="https://x.models.ai.azure.com/", key_env="K", api_version="2024-08-01"), pool, timeout=1)
    assert pinned.chat_url.endswith("/chat/completions?api-version=2024-08-01")
    foundry = WireClient(Deployment(name="f", model=L33, endpoint="https://r.services.ai.azure.com/models", key_env="K", api="openai-v1"), pool, timeout=1)
    assert foundry.chat_url == "https://r.services.ai.azure.com/openai/v1/chat/completions"
    vllm = WireClient(Deployment(name="v", model=L33, kind="managed", endpoint="http://gpu:8000/v1", key_env="K", api="openai-v1"), pool, timeout=1)
    assert vllm.chat_url == "http://gpu:8000/v1/chat/completions"


def test_body_is_serialised_once_with_stream_options_only_on_openai(monkeypatch):
    monkeypatch.setenv("K", "k")
    pool = SessionPool()
    azure = WireClient(Deployment(name="a", model=L33, endpoint="https://x.models.ai.azure.com", key_env="K"), pool, timeout=1)
    openai = WireClient(Deployment(name="o", model=L33, endpoint="https://x.services.ai.azure.com", key_env="K", api="openai-v1"), pool, timeout=1)
    a = azure.prepare([{"role": "user", "content": "hi"}], stream=True, max_tokens=5, extra={"n": 2})
    o = openai.prepare([{"role": "user", "content": "hi"}], stream=True, max_tokens=5)
    assert json.loads(a.body) == {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "n": 2, "stream": True}
    assert a.headers["extra-parameters"] == "pass-through" and "extra-parameters" not in o.headers
    assert json.loads(o.body)["stream_options"] == {"include_usage": True} and json.loads(o.body)["model"] == L33


async def test_probe_passes_and_fails_with_the_reason_before_any_completion(monkeypatch):
    with start_emulator(time_scale=0.25, models=[L33]) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        pool = SessionPool()

        async def probe(**fields):
            return await WireClient(Deployment(name="d", model=L33, kind="managed", key_env="EMU_KEY", **fields), pool, timeout=5).probe()

        good = await probe(endpoint=emu.deployment_url(L33))
        openai = await probe(endpoint=emu.url, api="openai-v1")
        wrong_url = await probe(endpoint=emu.url + "/nope")
        refused = await probe(endpoint="http://127.0.0.1:9")
        session = pool.session_for(emu.url)
        async with session.get(emu.deployment_url(L33) + "/info", headers={"api-key": emu.key}) as response:
            sent_scale = response.headers.get("x-llama-eval-time-scale")
        await pool.close()
        stats = emu.stats
    assert good.ok and openai.ok and "GET" in good.detail
    assert not wrong_url.ok and "404" in wrong_url.detail
    assert not refused.ok and "Connect" in refused.detail
    assert not any(k.startswith("ok_") for k in stats), "a probe is not a paid completion"
    assert good.time_scale == (float(sent_scale) if sent_scale is not None else 1.0)


async def test_probe_reads_the_time_scale_header_and_falls_back_to_one_token(server, key_env):
    pool = SessionPool()
    dep = Deployment(name="d", model=L33, kind="managed", endpoint=server.url, key_env=key_env)
    server.info_headers = {"x-llama-eval-time-scale": "0.01"}
    scaled = await WireClient(dep, pool, timeout=5).probe()
    server.info_headers = {}
    real = await WireClient(dep, pool, timeout=5).probe()
    server.info_status = 404  # a server without /info: one token instead, still no answer-like row
    fallback = await WireClient(dep, pool, timeout=5).probe()
    server.info_status = 200
    await pool.close()
    assert (scaled.ok, scaled.time_scale) == (True, 0.01) and (real.ok, real.time_scale) == (True, 1.0)
    assert fallback.ok and "1-token" in fallback.detail
    assert server.chat_requests()[-1].body["max_tokens"] == 1


class _TokenCredential:
    """A TokenCredential handing out a fixed token, counting how often it is asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object):
        from azure.core.credentials import AccessToken

        self.calls.append(scopes)
        return AccessToken("entra-token-xyz", 4102444800)


async def test_entra_token_is_sent_as_bearer_and_reused(server):
    from llama_eval.deployments.model import ML_SCOPE

    credential = _TokenCredential()
    pool = SessionPool()
    dep = Deployment(name="m", model="Meta-Llama-3.1-8B-Instruct", kind="managed", endpoint=server.url, auth="entra")
    client = WireClient(dep, pool, timeout=5, credential=credential)
    for _ in range(2):
        await client.send(client.prepare([{"role": "user", "content": "hi"}], max_tokens=5))
    await pool.close()
    assert [r.headers["authorization"] for r in server.chat_requests()] == ["Bearer entra-token-xyz"] * 2
    assert "api-key" not in server.chat_requests()[0].headers
    assert credential.calls == [(ML_SCOPE,)], "one token, reused until it nears expiry"


async def test_key_auth_headers_per_surface(server, key_env):
    from _support.constants import FAKE_KEY

    pool = SessionPool()
    for api in ("azure-ai-inference", "openai-v1"):
        dep = Deployment(name="k", model=L33, kind="managed", endpoint=server.url, key_env=key_env, api=api)
        client = WireClient(dep, pool, timeout=5)
        prepared = client.prepare([{"role": "user", "content": "hi"}], max_tokens=5)
        await client.send(prepared)
        assert FAKE_KEY not in repr(client) and FAKE_KEY not in repr(prepared), "the prepared request carries the key but never prints it"
    await pool.close()
    azure, openai = server.chat_requests()
    assert azure.headers["api-key"] == FAKE_KEY and azure.headers["authorization"] == f"Bearer {FAKE_KEY}" and azure.query["api-version"]
    assert openai.headers["authorization"] == f"Bearer {FAKE_KEY}" and "api-key" not in openai.headers and "llama-eval" in openai.headers["user-agent"]


@pytest.mark.parametrize("api", ["azure-ai-inference", "openai-v1"])
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_the_emulators_intended_timing_is_read_from_its_header(monkeypatch, api, stream):
    """The emulator says, with every answer, the timing it simulated (service time: the same at any time scale); the client keeps it."""
    with start_emulator(time_scale=0, models=[L33], seed=3) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        pool = SessionPool()
        endpoint = emu.deployment_url(L33) if api == "azure-ai-inference" else emu.url
        client = WireClient(Deployment(name="d", model=L33, kind="managed", endpoint=endpoint, key_env="EMU_KEY", api=api), pool, timeout=5)
        reply = await client.send(client.prepare([{"role": "user", "content": "Tell me a story."}], stream=stream, max_tokens=20))
        await pool.close()
    intended = reply.intended
    assert intended is not None and intended.tokens == reply.usage.completion_tokens > 1
    assert 0 < intended.ttft_s < intended.e2e_s and intended.e2e_s == pytest.approx(intended.ttft_s + intended.itl_s * (intended.tokens - 1), abs=1e-5)
