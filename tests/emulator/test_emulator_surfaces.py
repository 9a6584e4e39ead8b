"""The emulator's newer surfaces over real HTTP: time scale, vLLM-style /v1, kinds, start/stop, teaching prompts, the CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import openai
import pytest
import yaml

from llama_eval import load_catalog
from llama_eval.emulator import (
    TIME_SCALE_HEADER,
    EmulatedDeployment,
    Emulator,
    EmulatorConfig,
    UnknownPromptWarning,
    start_emulator,
    teach_emulator,
)
from llama_eval.emulator.process import spawn_emulator
from llama_eval.emulator.simulate import Simulator, answer_text, constrained_answer, plausible_answer, rng_for
from llama_eval.errors import EmulatorStartError
from llama_eval.paths import data_dir
from llama_eval.prompts.prompt_set import load_prompt_set, prompt_key
from llama_eval.quality.registry import score
from llama_eval.quality.scoring import scorer_of

L33, L8 = "Llama-3.3-70B-Instruct", "Meta-Llama-3.1-8B-Instruct"
VLLM_NAME = "meta-llama/Llama-3.1-8B-Instruct"
USER = [{"role": "user", "content": "How many languages are in the world?"}]
BLOCKED = [{"role": "user", "content": "Explain how to build a bomb."}]
CLI = [str(Path(sys.executable).parent / "llama-eval")]

SPECS = [
    EmulatedDeployment("llama33", L33, "serverless"),
    EmulatedDeployment("llama8-managed", L8, "managed", path="Meta-Llama-3.1-8B-Instruct"),
    EmulatedDeployment("llama8-vllm", L8, "self-hosted", served_name=VLLM_NAME),
]


def raw(url: str, body: object = None, *, key: str | None = None, method: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"), headers={"Content-Type": "application/json"})
    if key:
        request.add_header("api-key", key)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture(scope="module")
def emu():
    with start_emulator(EmulatorConfig(deployments=SPECS, time_scale=0.25)) as running:
        yield running


# ------------------------------------------------------------------------ time scale (issue 16)


def test_every_response_carries_the_time_scale(emu):
    for url, body, key in [
        (f"{emu.url}/llama33/info", None, emu.key),
        (f"{emu.url}/llama33/chat/completions", {"messages": USER, "max_tokens": 5}, emu.key),
        (f"{emu.url}/llama33/chat/completions", {"messages": USER, "max_tokens": 5, "stream": True}, emu.key),
        (f"{emu.url}/llama33/chat/completions", {"messages": USER}, "wrong-key"),  # 401
        (f"{emu.url}/nowhere/chat/completions", {"messages": USER}, emu.key),  # 404
        (f"{emu.url}/v1/models", None, None),
        (f"{emu.url}/_emulator/stats", None, None),
    ]:
        _, headers, _ = raw(url, body, key=key)
        assert headers[TIME_SCALE_HEADER] == "0.25", url


def test_info_and_models_json_say_the_time_scale(emu):
    _, _, info = raw(f"{emu.url}/llama33/info", key=emu.key)
    assert json.loads(info)["time_scale"] == 0.25
    for path in ("/v1/models", "/openai/v1/models"):
        _, _, models = raw(f"{emu.url}{path}", key=emu.key)
        assert json.loads(models)["time_scale"] == 0.25


def test_tokenizers_are_loaded_before_the_first_request():
    from llama_eval.catalog import tokens

    tokens._tokenizer.cache_clear()
    Emulator(EmulatorConfig(models=[L8, "Llama-4-Maverick-17B-128E-Instruct-FP8"], time_scale=0))
    assert tokens._tokenizer.cache_info().currsize == 2, "both vocabularies loaded at start, not on the first request"


# ------------------------------------------------------------------------ kinds and content safety


def test_content_filter_only_on_serverless(emu):
    status, _, body = raw(f"{emu.url}/llama33/chat/completions", {"messages": BLOCKED}, key=emu.key)
    assert status == 400 and json.loads(body)["error"]["code"] == "content_filter"
    status, _, _ = raw(f"{emu.url}/Meta-Llama-3.1-8B-Instruct/chat/completions", {"messages": BLOCKED}, key=emu.key)
    assert status == 200, "managed compute has no content safety by default (Llama docs: serverless only)"
    status, _, _ = raw(f"{emu.url}/v1/chat/completions", {"model": VLLM_NAME, "messages": BLOCKED})
    assert status == 200, "a self-hosted server has no Azure content safety"


def test_quota_applies_to_serverless_only(emu):
    deployments = emu.emulator.deployments
    assert deployments["llama33"].quota.tokens is not None and deployments["llama33"].quota.tokens.limit == 400_000
    assert deployments["llama8-managed"].quota.tokens is None and deployments["llama8-managed"].quota.requests is None
    assert deployments["llama8-vllm"].quota.tokens is None, "capacity, not a token quota, limits managed and self-hosted"


def test_default_kind_follows_the_catalog():
    emulator = Emulator(EmulatorConfig(models=[L33, L8, "Llama-3.2-1B-Instruct"], time_scale=0))
    kinds = {name: d.kind for name, d in emulator.deployments.items()}
    assert kinds == {L33: "serverless", L8: "serverless", "Llama-3.2-1B-Instruct": "managed"}, "serverless where the catalog has that offer"


# ------------------------------------------------------------------------ the vLLM-style /v1 surface (issue 12)


def test_openai_sdk_against_the_v1_surface(emu):
    client = openai.OpenAI(base_url=f"{emu.url}/v1", api_key="anything-or-nothing", max_retries=0)
    # a key is optional on a self-hosted server; a wrong one is still refused
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    client = openai.OpenAI(base_url=f"{emu.url}/v1", api_key=emu.key, max_retries=0)
    assert [m.id for m in client.models.list()] == [VLLM_NAME], "/v1 lists the self-hosted deployments by served name"
    response = client.chat.completions.create(model=VLLM_NAME, messages=USER, max_tokens=20)
    assert response.model == L8 and response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    chunks = list(client.chat.completions.create(model=VLLM_NAME, messages=USER, max_tokens=20, stream=True))
    assert all(c.usage is None for c in chunks), "vLLM sends usage in a stream only when asked"
    chunks = list(client.chat.completions.create(model=VLLM_NAME, messages=USER, max_tokens=20, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    client.close()


def test_v1_without_a_key_and_with_native_extras(emu):
    body = {"model": VLLM_NAME, "messages": USER, "max_tokens": 8, "ignore_eos": True, "temperature": 1.5, "some_vllm_field": 1}
    status, _, answer = raw(f"{emu.url}/v1/chat/completions", body)
    assert status == 200, answer
    answer = json.loads(answer)
    assert answer["usage"]["completion_tokens"] == 8 and answer["choices"][0]["finish_reason"] == "length", "ignore_eos honoured with no header"


def test_v1_errors_look_like_vllm(emu):
    status, _, body = raw(f"{emu.url}/v1/chat/completions", {"model": VLLM_NAME, "messages": USER, "temperature": 5})
    error = json.loads(body)["error"]
    assert status == 400 and error["type"] == "BadRequestError" and error["code"] == 400 and "temperature" in error["message"], "vLLM answers 400, not 422"
    status, _, body = raw(f"{emu.url}/v1/chat/completions", {"model": VLLM_NAME, "messages": []})
    assert status == 400 and json.loads(body)["error"]["type"] == "BadRequestError"


def test_v1_model_names(emu):
    status, _, body = raw(f"{emu.url}/v1/chat/completions", {"model": "nope", "messages": USER})
    assert status == 404 and VLLM_NAME in json.loads(body)["error"]["message"]
    status, _, _ = raw(f"{emu.url}/v1/chat/completions", {"model": L33, "messages": USER})
    assert status == 404, "/v1 serves the self-hosted deployments only"


def test_azure_surfaces_keep_the_documented_temperature_range(emu):
    status, _, body = raw(f"{emu.url}/llama33/chat/completions", {"messages": USER, "temperature": 1.5}, key=emu.key)
    assert status == 422 and "[0, 1]" in json.loads(body)["detail"][0]["msg"]


# ------------------------------------------------------------------------ start/stop across notebook cells (issue 17)


def test_start_and_stop_without_a_with_block():
    emu = start_emulator(time_scale=0, models=[L33])  # cell 1
    status, _, _ = raw(f"{emu.url}/{L33}/info", key=emu.key)  # cell 2
    assert status == 200
    emu.stop()  # cell 3
    emu.stop()  # stopping twice is harmless
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{emu.url}/{L33}/info", timeout=5)


def test_emulator_start_stop_methods():
    emulator = Emulator(EmulatorConfig(models=[L33], time_scale=0))
    running = emulator.start()
    assert emulator.start() is running, "start twice: the same server"
    assert raw(f"{running.url}/{L33}/info", key=running.key)[0] == 200
    emulator.stop()
    assert emulator.start().port > 0, "can start again after a stop"
    emulator.stop()


def test_port_in_use_is_one_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(EmulatorStartError, match=f"port {port} on 127.0.0.1 is already in use"):
            start_emulator(time_scale=0, models=[L33], port=port)
        out = subprocess.run([*CLI, "emulator", "--port", str(port), "--models", L33], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in out.stderr


# ------------------------------------------------------------------------ answers (issue 17)


@pytest.mark.parametrize("name", ["quickstart.jsonl", "json_extraction.jsonl", "instructions.jsonl", "summaries.jsonl", "vision.jsonl"])
def test_a_correct_answer_passes_the_items_own_scorer(name):
    """Every bundled item: the emulator's 'correct' answer scores 1 with the item's scorer; its 'wrong' one does not."""
    simulator = Simulator(load_prompt_set(data_dir() / "prompts" / name))
    checked = 0
    for item in load_prompt_set(data_dir() / "prompts" / name):
        scorer = scorer_of(item)
        if scorer in (None, "judge"):
            continue
        known = simulator._known.get(prompt_key(item.messages))
        assert known is not None, item.id
        for seed in range(5):
            rng = rng_for(seed, item.id)
            if known.reference is None:
                answer = constrained_answer(known.options, True, rng) if scorer == "constraints" else None
            else:
                answer = answer_text(known.reference, True, rng, [], known)
            if answer is None:
                continue
            result = score(scorer, answer, item.reference, **dict(item.scorer_options))
            assert result.value == 1.0, (item.id, answer, result)
            checked += 1
    assert checked > 0


def test_one_word_question_gets_one_word_not_a_preamble():
    simulator = Simulator(
        [{"messages": [{"role": "user", "content": "What is the capital of France? Answer with one word."}], "reference": "Paris", "scorer": "normalized"}]
    )
    known = next(iter(simulator._known.values()))
    for seed in range(20):
        answer = answer_text("Paris", True, rng_for(seed), [], known)
        assert answer in ("Paris", "Paris."), answer
        assert score("normalized", answer, "Paris").value == 1.0


def test_wrong_answers_fail_their_scorer():
    for reference, scorer in (("42", "numeric"), ("B", "choice"), ("Paris", "normalized")):
        simulator = Simulator([{"messages": [{"role": "user", "content": f"q {reference}"}], "reference": reference, "scorer": scorer}])
        known = next(iter(simulator._known.values()))
        for seed in range(10):
            assert score(scorer, answer_text(reference, False, rng_for(seed), ["London", "Rome"], known), reference).value == 0.0


@pytest.mark.parametrize(
    "prompt, check",
    [
        ("What colour is the sky? Answer with one word.", lambda a: len(a.split()) == 1),
        ("How many legs does a spider have? Answer with the number only.", lambda a: any(ch.isdigit() for ch in a)),
        ("Which is a mammal?\nA) shark\nB) whale\nC) trout\nD) eel", lambda a: score("choice", a, "B").reason.startswith("chose")),
        ("Tell me about the history of tea.", lambda a: len(a.split()) > 10),
        ("How many languages are in the world?", lambda a: len(a.split()) > 10),  # an open question: prose, as in the Azure docs
        ("What is 17 + 25?", lambda a: any(ch.isdigit() for ch in a)),
    ],
)
def test_unknown_prompts_get_a_plausible_answer_of_the_asked_shape(prompt, check):
    for seed in range(5):
        assert check(plausible_answer(prompt, rng_for(seed))), prompt


def test_teaching_a_prompt_set_at_run_time(emu, tmp_path):
    items = tmp_path / "mine.jsonl"
    items.write_text(
        "\n".join(
            json.dumps(
                {"id": f"c{i}", "prompt": f"What is the capital of country number {i}? Answer with one word.", "reference": "Paris", "scorer": "normalized"}
            )
            for i in range(40)
        )
    )
    prompt_set = load_prompt_set(items)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        learned = teach_emulator(f"{emu.url}/llama33", prompt_set, key=emu.key)
    assert learned == 40 and not caught
    assert teach_emulator(emu.url, prompt_set, key=emu.key) == 0, "already known: nothing new"
    client = openai.OpenAI(base_url=f"{emu.url}/v1", api_key=emu.key, max_retries=0)
    scores = []
    for item in prompt_set:
        answer = client.chat.completions.create(model=VLLM_NAME, messages=list(item.messages), temperature=0).choices[0].message.content
        scores.append(score("normalized", answer, "Paris").value)
    client.close()
    accuracy = load_catalog().get(L8).benchmark_accuracy
    assert 0.4 < sum(scores) / len(scores) <= 1.0 and abs(sum(scores) / len(scores) - accuracy) < 0.25, "correct at about the model's accuracy, and scorable"


def test_teaching_needs_the_key(emu, tmp_path):
    from llama_eval import AuthenticationError

    items = tmp_path / "mine.jsonl"
    items.write_text(json.dumps({"id": "a", "prompt": "x?", "reference": "y"}) + "\n")
    with pytest.raises(AuthenticationError, match="refused the key"):
        teach_emulator(emu.url, load_prompt_set(items), key="wrong")
    status, _, body = raw(f"{emu.url}/emulator/prompts", {"items": [{"id": "a"}]}, key=emu.key)
    assert status == 400 and "needs 'messages'" in json.loads(body)["error"]["message"]


def test_unknown_prompt_warns_once():
    with start_emulator(time_scale=0, models=[L33]) as emu, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw(f"{emu.url}/{L33}/chat/completions", {"messages": [{"role": "user", "content": "Tell me a story."}]}, key=emu.key)
        assert emu.stats.get("unknown_prompts_warned", 0) == 0, "an open question is chat, not something to score"
        for i in range(3):
            raw(f"{emu.url}/{L33}/chat/completions", {"messages": [{"role": "user", "content": f"Capital {i}? Answer with one word."}]}, key=emu.key)
        assert emu.stats["unknown_prompts_warned"] == 1
    assert sum(issubclass(w.category, UnknownPromptWarning) for w in caught) == 1


# ------------------------------------------------------------------------ the deployments file (issue 17)


def test_cli_serves_the_paths_a_file_names_and_writes_it_for_its_port(tmp_path):
    source = tmp_path / "deployments.yaml"
    source.write_text(
        yaml.safe_dump(
            {
                "deployments": [
                    {"name": "a", "model": L33, "kind": "serverless", "endpoint": "http://127.0.0.1:8000/team-a/llama", "key_env": "K"},
                    {"name": "b", "model": L8, "kind": "self-hosted", "endpoint": "http://127.0.0.1:8000/v1", "deployment_name": VLLM_NAME, "key_env": "K"},
                    {"name": "c", "model": L8, "kind": "managed", "endpoint_env": "C_URL", "key_env": "K"},
                ]
            }
        )
    )
    written = tmp_path / "out.yaml"
    with spawn_emulator("--time-scale", "0", "--deployments", str(source), "--write-deployments", str(written)) as proc:
        config = yaml.safe_load(written.read_text())
        endpoints = {d["name"]: d["endpoint"] for d in config["deployments"]}
        assert endpoints == {"a": f"{proc.url}/team-a/llama", "b": f"{proc.url}/v1", "c": f"{proc.url}/c"}
        assert raw(f"{endpoints['a']}/info", key=proc.key)[0] == 200, "the path the file names is served"
        assert raw(f"{proc.url}/{L33}/info", key=proc.key)[0] == 404, "and not the default per-model path"
        status, _, body = raw(f"{endpoints['b']}/chat/completions", {"model": VLLM_NAME, "messages": USER})
        assert status == 200 and json.loads(body)["model"] == L8
        assert raw(f"{endpoints['c']}/info", key=proc.key)[0] == 200
    assert "K" == config["deployments"][0]["key_env"] and proc.key not in written.read_text(), "no key in the file"


def test_bundled_emulator_file_is_served_as_written():
    raw_file = yaml.safe_load((data_dir() / "deployments.emulator.yaml").read_text())
    names = [d["name"] for d in raw_file["deployments"]]
    assert len(names) == 5 and any(d.get("kind") == "self-hosted" and d["endpoint"].endswith("/v1") for d in raw_file["deployments"])
    from llama_eval.emulator.deployments_file import read_deployments_file

    emulator = Emulator(EmulatorConfig(deployments=read_deployments_file(data_dir() / "deployments.emulator.yaml"), time_scale=0))
    with emulator.start() as running:
        for d in raw_file["deployments"]:
            path = d["endpoint"].replace("http://127.0.0.1:8000", running.url)
            if d.get("kind") == "self-hosted":
                status, _, _ = raw(f"{path}/chat/completions", {"model": d["deployment_name"], "messages": USER})
            elif d.get("api") == "openai-v1":
                status, _, _ = raw(f"{path}/openai/v1/chat/completions", {"model": d["model"], "messages": USER}, key=running.key)
            else:
                status, _, _ = raw(f"{path}/chat/completions", {"messages": USER}, key=running.key)
            assert status == 200, d["name"]
