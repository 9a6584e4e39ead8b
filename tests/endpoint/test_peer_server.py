"""llama-eval against a server nobody here wrote: llama.cpp's OpenAI-compatible server (llama-cpp-python).

Opt-in (`make test-peer`, or LLAMA_EVAL_PEER=1 with llama-cpp-python[server] and gguf installed in
the Python named by LLAMA_EVAL_PEER_PYTHON, default this one): building llama-cpp-python from
source takes minutes, so `make test` does not. The model is a tiny Llama-architecture GGUF the test
writes itself (tests/_support/peer_model.py: random weights, ~330 KB, no download).

One server with a key and one without, reached at ``http://127.0.0.1:PORT/v1`` three ways: as
``api: openai-v1`` on a managed-kind deployment, as ``kind: self-hosted`` with a key, and as
``kind: self-hosted`` with no key at all. Every row must be ok with counted tokens, and the key
must appear in no file the run wrote and not on the console.

Those servers queue concurrent requests (``--interrupt_requests False``). A third one keeps the
server's default, which ends a running stream when another request arrives (role chunk, then
``[DONE]``, no finish_reason): against it no row may be ``ok`` without a finish reason.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from _support.constants import FAKE_KEY

PEER_PYTHON = os.environ.get("LLAMA_EVAL_PEER_PYTHON", sys.executable)
HERE = Path(__file__).resolve().parent

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(os.environ.get("LLAMA_EVAL_PEER") != "1", reason="opt-in: make test-peer (builds llama-cpp-python)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(model: Path, log: Path, key: str | None, *, interrupt: bool = False) -> tuple[subprocess.Popen, str]:
    """A llama.cpp server on a free port; ``interrupt``: keep its default ``--interrupt_requests True``."""
    port = _free_port()
    command = [PEER_PYTHON, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--model_alias", "tiny-llama", "--chat_format", "llama-2", "--n_ctx", "2048"]
    if not interrupt:
        command += ["--interrupt_requests", "False"]  # its default cuts a stream short when another request arrives: queue them, as a service does
    if key:
        command += ["--api_key", key]
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)  # noqa: SIM115 - closed with the process
    url = f"http://127.0.0.1:{port}/v1"
    request = urllib.request.Request(f"{url}/models", headers={"Authorization": f"Bearer {key}"} if key else {})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama.cpp server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - loopback
                if json.load(response)["data"][0]["id"] == "tiny-llama":
                    return process, url
        except OSError:
            time.sleep(0.25)
    process.terminate()
    pytest.fail(f"llama.cpp server did not answer on {url}: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("peer")
    has = subprocess.run([PEER_PYTHON, "-c", "import llama_cpp.server, gguf"], capture_output=True, text=True)
    if has.returncode != 0:
        pytest.fail(f"{PEER_PYTHON} lacks llama-cpp-python[server] or gguf (make test-peer installs them): {has.stderr.strip()[-300:]}")
    model = folder / "tiny-llama.gguf"
    subprocess.run([PEER_PYTHON, str(HERE.parent / "_support" / "peer_model.py"), str(model)], check=True, timeout=120)
    keyed, keyed_url = _start_server(model, folder / "keyed.log", FAKE_KEY)
    open_, open_url = _start_server(model, folder / "open.log", None)
    interrupting, interrupting_url = _start_server(model, folder / "interrupting.log", None, interrupt=True)
    yield {"keyed": keyed_url, "open": open_url, "interrupting": interrupting_url, "model_bytes": model.stat().st_size}
    for process in (keyed, open_, interrupting):
        process.terminate()
        process.wait(timeout=30)


def test_llama_cpp_server_three_ways(servers, tmp_path):
    (tmp_path / "deployments.yaml").write_text(
        f"""deployments:
  - name: cpp-openai-v1
    model: Meta-Llama-3.1-8B-Instruct
    kind: managed
    api: openai-v1
    endpoint: {servers["keyed"]}
    deployment_name: tiny-llama
    key_env: PEER_KEY
  - name: cpp-self-hosted
    model: Meta-Llama-3.1-8B-Instruct
    kind: self-hosted
    endpoint: {servers["keyed"]}
    deployment_name: tiny-llama
    key_env: PEER_KEY
    compute: {{gpu: H100, count: 1, usd_per_hour: 4.0}}
  - name: cpp-no-key
    model: Meta-Llama-3.1-8B-Instruct
    kind: self-hosted
    endpoint: {servers["open"]}/
""",
        encoding="utf-8",
    )
    questions = ["Capital of Peru?", "What is 17 * 3?", "Name a colour.", "Explain TCP in one sentence.", "Translate 'hello' into French."]
    (tmp_path / "prompts.jsonl").write_text(
        "".join(json.dumps({"id": f"q{i}", "prompt": q, "reference": "x", "max_tokens": 256}) + "\n" for i, q in enumerate(questions)), encoding="utf-8"
    )
    env = {**os.environ, "PEER_KEY": FAKE_KEY}
    env.pop("LLAMA_EVAL_LOG", None)
    command = [sys.executable, "-m", "llama_eval.cli", "run", "-d", "deployments.yaml", "-p", "prompts.jsonl", "-o", "runs/peer"]
    command += ["--repeats", "2", "--temperature", "1.0", "--seed", "7", "--concurrency", "2", "--progress", "none"]
    started = time.monotonic()
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [json.loads(line) for line in (tmp_path / "runs" / "peer" / "results.jsonl").read_text().splitlines()]
    by_deployment: dict[str, list[dict]] = {}
    for row in rows:
        by_deployment.setdefault(row["deployment"], []).append(row)
    assert sorted(by_deployment) == ["cpp-no-key", "cpp-openai-v1", "cpp-self-hosted"]
    figures = {}
    for name, group in by_deployment.items():
        assert len(group) == len(questions) * 2
        assert {r["status"] for r in group} == {"ok"}, [(r["status"], r.get("error")) for r in group]
        usage = [r["usage"] for r in group]
        assert all(u["prompt_tokens"] > 0 for u in usage), usage
        figures[name] = (sum(u["prompt_tokens"] for u in usage), sum(u["completion_tokens"] for u in usage))
    assert sum(c for _, c in figures.values()) > 0, "the tiny model writes a few words before it stops"
    # llama.cpp's server sends no usage on a stream: the runner counts with the Llama tokenizer and says so
    assert {r["usage_source"] for r in rows if r["streamed"]} == {"estimated"}
    # quiet by default: no HTTP-library lines on the console
    assert "HTTP Request" not in done.stderr and "Request URL" not in done.stderr, done.stderr[-2000:]
    for path in [*(tmp_path / "runs").rglob("*"), tmp_path / "deployments.yaml"]:
        if path.is_file():
            assert FAKE_KEY not in path.read_text(errors="replace"), f"key leaked into {path}"
    assert FAKE_KEY not in done.stdout + done.stderr
    print(f"\npeer server: model {servers['model_bytes']} bytes; {len(rows)} rows in {elapsed:.1f} s; prompt/completion tokens per deployment: {figures}")


def test_a_sweep_finds_the_serial_server_s_knee(prefill, tmp_path):
    """llama-cpp-python's server decodes one request at a time: more concurrency adds only queueing.

    Nobody here decides its speed, so the assertions are about shape: throughput stays flat past
    one stream, time to first token grows with the queue, and under an SLO taken from the
    one-stream level the capacity is one stream. On the larger test model (``prefill``) with prompts of
    300 tokens, so that a request's prefill (~0.07 s), not HTTP, is what the queue waits for.
    """
    from llama_eval.deployments.model import Deployment
    from llama_eval.load.slo import read_sweep
    from llama_eval.load.sweep import sweep
    from llama_eval.run import RunParams

    target = Deployment(name="cpp", model="Meta-Llama-3.1-8B-Instruct", kind="self-hosted", endpoint=prefill["url"], deployment_name="tiny-llama")
    result = sweep([target], prefill["knee"], tmp_path / "sweep", concurrency=[1, 2, 4], requests_per_level=12, warmup_s=0.5, params=RunParams(max_tokens=8),
                   progress="none", announce=lambda message: None)  # fmt: skip
    levels = result.frame().to_dict("records")
    assert [level["errors"] for level in levels] == [0, 0, 0], levels
    one, four = levels[0], levels[2]
    # HTTP work overlaps the decoding of another request, so four streams gain something, but far from 4x
    assert four["throughput_rps"] < 2.5 * one["throughput_rps"], "a serial server cannot go much faster with more streams"
    assert four["ttft_p50_s"] > 2 * one["ttft_p50_s"], "the extra streams wait in its queue"
    judged = read_sweep(tmp_path / "sweep", slo=f"ttft_p90<={1.3 * one['ttft_p90_s']:.4f}")
    assert judged.capacity.level is not None and judged.capacity.level.concurrency == 1, judged.capacity
    print(f"\npeer sweep: throughput {[round(level['throughput_rps'], 2) for level in levels]} req/s, TTFT p50 {[level['ttft_p50_s'] for level in levels]} s")


@pytest.mark.parametrize("client", ["wire", "sdk"])
@pytest.mark.parametrize("interrupt", [True, False], ids=["default-interruption", "interrupt_requests-False"])
def test_no_row_is_ok_without_a_finish_reason(servers, tmp_path, interrupt, client):
    """10 prompts through two deployments at once, as in issue 28 (where 19 of 20 rows were ``ok`` with empty text).

    With the server's default interruption most streams are cut (role chunk, ``[DONE]``): such rows must be
    ``incomplete`` after their retries, never ``ok``; an ``ok`` row must carry a finish reason. With
    ``--interrupt_requests False`` the server queues them and every row is ok with counted tokens.
    """
    url = servers["interrupting" if interrupt else "open"]
    (tmp_path / "deployments.yaml").write_text(
        f"""deployments:
  - name: cpp-a
    model: Meta-Llama-3.1-8B-Instruct
    kind: self-hosted
    endpoint: {url}
    deployment_name: tiny-llama
  - name: cpp-b
    model: Meta-Llama-3.1-8B-Instruct
    kind: self-hosted
    endpoint: {url}/
""",
        encoding="utf-8",
    )
    questions = [f"Tell me about the number {i}." for i in range(10)]
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps({"id": f"q{i}", "prompt": q, "max_tokens": 64}) + "\n" for i, q in enumerate(questions)))
    command = [sys.executable, "-m", "llama_eval.cli", "run", "-d", "deployments.yaml", "-p", "prompts.jsonl", "-o", "runs/peer"]
    command += ["--concurrency", "2", "--max-attempts", "2", "--progress", "none", "--client", client]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [json.loads(line) for line in (tmp_path / "runs" / "peer" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 20 and {r["deployment"] for r in rows} == {"cpp-a", "cpp-b"}
    answered = [r for r in rows if r["status"] in ("ok", "length")]
    assert all(r.get("finish_reason") in ("stop", "length") for r in answered), [r for r in answered if not r.get("finish_reason")]
    assert all(r["usage"]["prompt_tokens"] > 0 for r in rows), "every row's tokens are counted, cut or not"
    cut = [r for r in rows if r["status"] == "incomplete"]
    retried = sum(r["attempts"] > 1 for r in rows)
    print(f"\npeer interruption={interrupt}, {client} client: {len(answered)} answered, {len(cut)} incomplete, {retried} retried of {len(rows)}")
    if interrupt:
        assert cut or retried, "the server's default interruption cut nothing: this test would prove nothing"
        assert {r["status"] for r in rows} <= {"ok", "length", "incomplete"}, {r["status"] for r in rows}
        for r in cut:
            assert r["error_message"].startswith("the stream ended without a finish_reason after "), r["error_message"]
            assert r["attempts"] == 2 and r["http_status"] == 200
    else:
        assert len(answered) == 20 and not cut and not retried
        assert all(r["usage_source"] == "estimated" for r in rows)  # llama.cpp sends no usage on a stream: counted here
        assert sum(r["usage"]["completion_tokens"] for r in rows) > 0


@pytest.fixture(scope="module")
def prefill(tmp_path_factory):
    """A server of the larger test model (4 layers of width 256) whose vocabulary holds the words of three ``llama-eval synth`` sets:
    ``set`` (24 requests of 1,500 tokens, 60% behind one 1,400-token prefix), ``knee`` (4 of 300 tokens) and ``warm``
    (2 of 1,500 tokens, no prefix: sent here first, since the first long prompts after start take seconds)."""
    import re

    has = subprocess.run([PEER_PYTHON, "-c", "import llama_cpp.server, gguf"], capture_output=True, text=True)
    if has.returncode != 0:
        pytest.fail(f"{PEER_PYTHON} lacks llama-cpp-python[server] or gguf (make test-peer installs them): {has.stderr.strip()[-300:]}")
    folder = tmp_path_factory.mktemp("prefill")
    synth = [sys.executable, "-m", "llama_eval.cli", "synth", "--output-tokens", "fixed:4"]
    sets = {"set": ["--count", "24", "--input", "fixed:1500", "--prefix-tokens", "1400", "--prefix-share", "0.6", "--seed", "1"],
            "warm": ["--count", "2", "--input", "fixed:1500", "--seed", "6"], "knee": ["--count", "4", "--input", "fixed:300", "--seed", "7"]}  # fmt: skip
    for name, args in sets.items():
        subprocess.run([*synth, *args, "-o", f"{name}.jsonl"], cwd=folder, check=True, capture_output=True, timeout=120)
    items = {name: [json.loads(line) for line in (folder / f"{name}.jsonl").read_text().splitlines() if not line.startswith("//")] for name in sets}
    words = {w for lines in items.values() for item in lines for m in item["messages"] for w in re.findall(r"[A-Za-z]+", m["content"])}
    (folder / "words.txt").write_text("\n".join(sorted(words)), encoding="utf-8")
    model = folder / "prefill.gguf"
    subprocess.run([PEER_PYTHON, str(HERE.parent / "_support" / "peer_model.py"), str(model), "--prefill", str(folder / "words.txt")], check=True,
                   timeout=120)  # fmt: skip
    log = folder / "server.log"
    server, url = _start_server(model, log, None)
    try:
        for item in items["warm"]:
            body = json.dumps({"model": "tiny-llama", "messages": item["messages"], "max_tokens": 2}).encode()
            request = urllib.request.Request(f"{url}/chat/completions", data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback
                assert response.status == 200
        yield {"url": url, "log": log, "folder": folder, "set": folder / "set.jsonl", "items": items["set"], "knee": folder / "knee.jsonl"}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_shared_prefix_is_cached_and_starts_faster(prefill, tmp_path):
    """A ``llama-eval synth`` set (24 requests of 1,500 prompt tokens, 60% of them behind one 1,400-token shared
    prefix) against llama-cpp-python's server at one stream: a request whose predecessor carried the same
    prefix finds it in the server's KV cache and starts sooner than a request of the same length that does not.

    llama-cpp-python's server keeps one KV cache and reuses its longest common prefix with the next prompt
    (``Llama.generate: N prefix-match hit, remaining M prompt tokens to eval`` on its log). It reports no
    cached tokens to the client (no ``prompt_tokens_details``, no ``timings``, and no usage on a stream), so
    the rows carry no ``cached_tokens`` (the report says "not reported"); the server's log is its own account.
    The model is the tiny one made larger (4 layers of width 256) so that 1,500 tokens take a prefill of
    tenths of a second: the assertion is a ratio with a wide margin (measured: cached 0.033-0.041 s, uncached 0.39-0.42 s).
    """
    import re
    import statistics

    items, log = prefill["items"], prefill["log"]
    (tmp_path / "deployments.yaml").write_text(
        f"deployments:\n  - name: cpp\n    model: Meta-Llama-3.1-8B-Instruct\n    kind: self-hosted\n"
        f"    endpoint: {prefill['url']}\n    deployment_name: tiny-llama\n",
        encoding="utf-8",
    )
    before = len(log.read_text(errors="replace").splitlines())
    run = [sys.executable, "-m", "llama_eval.cli", "run", "-d", "deployments.yaml", "--concurrency", "1", "--progress", "none"]
    done = subprocess.run([*run, "-p", str(prefill["set"]), "-o", "runs/prefix"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = sorted((json.loads(line) for line in (tmp_path / "runs" / "prefix" / "results.jsonl").read_text().splitlines()), key=lambda r: r["started_at"])
    assert [r["prompt_id"] for r in rows] == [item["id"] for item in items], "one stream sends the set in its order"
    assert {r["status"] for r in rows} == {"length"} and all(r["ttft_s"] for r in rows), [(r["status"], r.get("ttft_s")) for r in rows]
    assert {r["usage"]["prompt_tokens"] for r in rows} == {1500}, "every request is the same length"
    assert all("cached_tokens" not in r["usage"] for r in rows), "llama.cpp reported no cached tokens: the rows must not invent them"
    # the server's own account, one line per request in the order it served them
    served = "\n".join(log.read_text(errors="replace").splitlines()[before:])
    reused = [int(m.group(1)) for m in re.finditer(r"Llama\.generate: (\d+) prefix-match hit", served)]
    assert len(reused) == len(rows), f"expected one prefix-match line per request: {reused}"
    groups = [item["metadata"]["prefix_group"] for item in items]
    follows_its_prefix = [i > 0 and g is not None and groups[i - 1] == g for i, g in enumerate(groups)]
    assert [n >= 1400 for n in reused] == follows_its_prefix, f"the cache hits the server reported {reused} are not where the shared prefix repeats"
    cached = [r["ttft_s"] for r, hit in zip(rows, follows_its_prefix, strict=True) if hit]
    uncached = [r["ttft_s"] for r, hit in zip(rows, follows_its_prefix, strict=True) if not hit]
    assert len(cached) >= 5 and len(uncached) >= 5, (len(cached), len(uncached))
    assert max(reused[i] for i, hit in enumerate(follows_its_prefix) if not hit) < 100, "an uncached request reused only the chat template's start"
    assert statistics.median(cached) < 0.5 * statistics.median(uncached), (cached, uncached)
    print(f"\npeer prefix cache: {len(cached)} cached requests (server reused {min(n for n in reused if n >= 1400)}-{max(reused)} tokens) "
          f"TTFT median {statistics.median(cached):.3f} s, {len(uncached)} uncached of the same length {statistics.median(uncached):.3f} s "
          f"(ratio {statistics.median(cached) / statistics.median(uncached):.2f})")  # fmt: skip
