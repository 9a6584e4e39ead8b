"""Behind a corporate proxy: the measuring client goes through HTTP(S)_PROXY as the SDK transports do, and NO_PROXY is honoured.

The proxy here is a small forward proxy written for the test (absolute-form request target, one
request per connection). The deployment is addressed by a name that does not resolve (``.invalid``
is reserved for that); the proxy sends it to the emulator. So an answer proves the request went
through the proxy, and a request that skips the proxy fails to connect.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest

from llama_eval import Deployment, EndpointConnectionError
from llama_eval.emulator import start_emulator
from llama_eval.endpoint.sdk import SdkClient
from llama_eval.endpoint.wire import SessionPool, WireClient, env_proxy

L33 = "Llama-3.3-70B-Instruct"
HIDDEN = "llama-eval-behind-proxy.invalid"  # resolvable only by the proxy
PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")


class ForwardProxy:
    """Relays each request it is sent to the origin its absolute-form target names, and records the target."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, target, version = head[0].split(" ")
            fields = [h for h in head[1:] if h and not h.lower().startswith(("connection:", "proxy-", "keep-alive:"))]
            length = next((int(h.split(":", 1)[1]) for h in fields if h.lower().startswith("content-length:")), 0)
            body = await reader.readexactly(length)
            self.targets.append(f"{method} {target}")
            url = urlsplit(target)
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1" if url.hostname == HIDDEN else url.hostname, url.port)
            path = url.path + (f"?{url.query}" if url.query else "")
            lines = "".join(f"{h}\r\n" for h in fields)
            upstream.write(f"{method} {path} {version}\r\n{lines}Connection: close\r\n\r\n".encode("latin-1") + body)
            await upstream.drain()
            while data := await upstream_reader.read(65536):
                writer.write(data)
                await writer.drain()
            upstream.close()
        finally:
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
def clean_proxy_env(monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_env_proxy_follows_the_environment_and_no_proxy(clean_proxy_env):
    assert env_proxy("https://x.services.ai.azure.com/openai/v1") is None
    clean_proxy_env.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    assert env_proxy("https://x.services.ai.azure.com/openai/v1") == "http://proxy.corp:3128"
    assert env_proxy("http://gpu-box:8000/v1") is None, "HTTPS_PROXY is for https URLs only"
    clean_proxy_env.setenv("HTTP_PROXY", "http://proxy.corp:3128")
    assert env_proxy("http://gpu-box:8000/v1") == "http://proxy.corp:3128"
    for local in ("http://127.0.0.1:8000/x", "http://localhost:8000/x", "http://[::1]:8000/x", "http://127.0.0.2:9/x"):
        assert env_proxy(local) is None, f"{local}: this machine's loopback is never proxied"
    clean_proxy_env.setenv("NO_PROXY", ".azure.com")
    assert env_proxy("https://x.services.ai.azure.com/openai/v1") is None


async def test_wire_and_sdk_clients_both_go_through_the_proxy_and_skip_it_for_no_proxy(clean_proxy_env):
    proxy = ForwardProxy()
    proxy_url = await proxy.start()
    try:
        with start_emulator(time_scale=0, models=[L33]) as emu:
            clean_proxy_env.setenv("EMU_KEY", emu.key)
            clean_proxy_env.setenv("HTTP_PROXY", proxy_url)
            endpoint = emu.deployment_url(L33).replace("127.0.0.1", HIDDEN)
            dep = Deployment(name="l33", model=L33, endpoint=endpoint, key_env="EMU_KEY")
            pool = SessionPool()
            wire = WireClient(dep, pool, timeout=10)
            assert (await wire.probe()).ok
            for stream in (False, True):
                reply = await wire.send(wire.prepare([{"role": "user", "content": "Say hi"}], max_tokens=5, stream=stream))
                assert reply.texts[0] and reply.usage is not None
            await pool.close()
            assert [t.split(" ")[0] for t in proxy.targets] == ["GET", "POST", "POST"]
            assert all(t.split(" ")[1].startswith(endpoint) for t in proxy.targets), proxy.targets

            sdk = SdkClient(dep, timeout=10)
            reply = await sdk.send(sdk.prepare([{"role": "user", "content": "Say hi"}], max_tokens=5))
            await sdk.close()
            assert reply.texts[0] and len(proxy.targets) == 4, "the SDK transport went through the same proxy"

            clean_proxy_env.setenv("NO_PROXY", ".invalid")
            pool = SessionPool()
            direct = WireClient(dep, pool, timeout=10)
            with pytest.raises(EndpointConnectionError):
                await direct.send(direct.prepare([{"role": "user", "content": "Say hi"}], max_tokens=5))
            await pool.close()
            assert len(proxy.targets) == 4, "NO_PROXY: sent straight to the (unresolvable) host, not to the proxy"
    finally:
        await proxy.close()


def test_a_run_against_the_local_emulator_ignores_a_proxy_that_cannot_reach_it(clean_proxy_env, tmp_path):
    """HTTP_PROXY set, NO_PROXY not: the emulator on this machine is still probed, taught and run (loopback is never proxied)."""
    from llama_eval import RunParams, load_prompt_set, read_manifest, run_evaluation

    clean_proxy_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there: a request sent to it fails
    with start_emulator(time_scale=0, models=[L33]) as emu:
        clean_proxy_env.setenv("EMU_KEY", emu.key)
        dep = Deployment(name="l33", model=L33, endpoint=emu.deployment_url(L33), key_env="EMU_KEY")
        summary = run_evaluation([dep], load_prompt_set("data/prompts/quickstart.jsonl"), tmp_path / "r", RunParams(max_tokens=8), progress="none")
    manifest = read_manifest(tmp_path / "r")
    assert summary.status == "completed" and manifest["deployments"]["l33"]["emulator_taught"] > 0
