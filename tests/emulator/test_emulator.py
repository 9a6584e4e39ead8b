"""The emulator over real HTTP: the SDKs the Azure docs use, and a raw client for wire details."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest
from azure.ai.inference import ChatCompletionsClient
from azure.ai.inference.aio import ChatCompletionsClient as AsyncChatCompletionsClient
from azure.ai.inference.models import SystemMessage, UserMessage
from azure.core.credentials import AzureKeyCredential

from llama_eval import (
    AuthenticationError,
    ContentFilterError,
    Deployment,
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    ExtraParameters,
    MalformedResponseError,
    RateLimitError,
    make_client,
)
from llama_eval.emulator import MARKER_HEADER, PROVIDER, EmulatorConfig, start_emulator
from llama_eval.errors import LifecycleWarning

MODEL = "Llama-3.3-70B-Instruct"
DOCS_MESSAGES = [SystemMessage(content="You are a helpful assistant."), UserMessage(content="How many languages are in the world?")]
USER = [{"role": "user", "content": "How many languages are in the world?"}]


@pytest.fixture(scope="module")
def emu():
    # 405B, 3.2-90B-Vision and Llama-2-70b-chat are retired on serverless and served as serverless here: the emulator says so (expected, once each)
    with pytest.warns(LifecycleWarning, match="emulated deployment") as retired:
        running = start_emulator(time_scale=0, models=[MODEL, "Meta-Llama-3.1-405B-Instruct", "Llama-3.2-90B-Vision-Instruct", "Llama-2-70b-chat"])
    assert len(retired) == 3, [str(w.message) for w in retired]
    with running:
        yield running


def raw(url: str, body: object = None, *, key: str | None, headers: dict[str, str] | None = None, method: str = "POST", data: bytes | None = None):
    """(status, headers, parsed JSON body) of one raw HTTP request."""
    payload = data if data is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=payload, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    if key:
        request.add_header("api-key", key)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"null")


def chat_url(emu, deployment: str = MODEL) -> str:
    return f"{emu.deployment_url(deployment)}/chat/completions"


def dep(emu, monkeypatch, api: str = "azure-ai-inference", model: str = MODEL) -> Deployment:
    monkeypatch.setenv("EMU_KEY", emu.key)
    endpoint = emu.deployment_url(model) if api == "azure-ai-inference" else emu.url
    return Deployment(name="d", model=model, kind="managed", endpoint=endpoint, key_env="EMU_KEY", api=api)


# ------------------------------------------------------------------------ the Azure docs walkthrough


def test_azure_sdk_sync_walkthrough(emu):
    client = ChatCompletionsClient(endpoint=emu.deployment_url(MODEL), credential=AzureKeyCredential(emu.key))
    info = client.get_model_info()
    assert (info.model_name, info.model_type, info.model_provider_name) == (MODEL, "chat-completions", PROVIDER)
    response = client.complete(messages=DOCS_MESSAGES)
    usage = response.usage
    assert response.model == MODEL and response.choices[0].message.content
    assert usage.prompt_tokens == 29, "Llama 3 chat template: Meta's ChatFormat counts 29 for the docs example"
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    stream = client.complete(messages=DOCS_MESSAGES, temperature=0, top_p=1, max_tokens=2048, stream=True)
    updates = list(stream)
    text = "".join(u.choices[0].delta.content or "" for u in updates if u.choices)
    assert text and updates[-1].usage is not None and updates[-1].usage.completion_tokens > 0
    assert updates[-1].choices[0].finish_reason == "stop"
    client.close()


async def test_azure_sdk_async(emu):
    async with AsyncChatCompletionsClient(endpoint=emu.deployment_url(MODEL), credential=AzureKeyCredential(emu.key)) as client:
        response = await client.complete(messages=DOCS_MESSAGES, max_tokens=20)
        assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
        stream = await client.complete(messages=DOCS_MESSAGES, stream=True, max_tokens=20)
        updates = [u async for u in stream]
        assert updates[-1].usage is not None
        assert (await client.get_model_info()).model_provider_name == PROVIDER


def test_openai_sdk_against_the_same_server(emu):
    client = openai.OpenAI(base_url=f"{emu.url}/openai/v1", api_key=emu.key, max_retries=0)
    assert MODEL in [m.id for m in client.models.list()]
    response = client.chat.completions.create(model=MODEL, messages=USER, max_tokens=30)
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    chunks = list(client.chat.completions.create(model=MODEL, messages=USER, max_tokens=30, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    no_usage = list(client.chat.completions.create(model=MODEL, messages=USER, max_tokens=30, stream=True))
    assert all(c.usage is None for c in no_usage), "usage only when stream_options.include_usage asks for it"
    client.close()


def test_unified_route_picks_deployment_by_model(emu):
    status, _, body = raw(f"{emu.url}/chat/completions", {"model": "Meta-Llama-3.1-405B-Instruct", "messages": USER}, key=emu.key)
    assert status == 200 and body["model"] == "Meta-Llama-3.1-405B-Instruct"
    status, _, body = raw(f"{emu.url}/models/chat/completions?api-version=2024-05-01-preview", {"model": MODEL, "messages": USER}, key=emu.key)
    assert status == 200 and body["model"] == MODEL


def test_every_response_is_marked_simulated(emu):
    status, headers, body = raw(chat_url(emu), {"messages": USER}, key=emu.key)
    assert status == 200 and headers[MARKER_HEADER] == "simulated"
    assert body["system_fingerprint"] == "llama-eval-emulator"
    status, headers, _ = raw(chat_url(emu), {"messages": USER}, key="wrong")
    assert status == 401 and headers[MARKER_HEADER] == "simulated"


# ------------------------------------------------------------------------ auth


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_missing_or_wrong_key_is_401(emu, key):
    status, headers, body = raw(chat_url(emu), {"messages": USER}, key=key)
    assert status == 401 and body["error"]["code"] == "Unauthorized" and headers["x-ms-error-code"] == "Unauthorized"
    assert emu.key not in json.dumps(body)


def test_bearer_key_accepted(emu):
    status, _, _ = raw(chat_url(emu), {"messages": USER}, key=None, headers={"Authorization": f"Bearer {emu.key}"})
    assert status == 200


def test_401_through_the_client(emu, monkeypatch):
    monkeypatch.setenv("EMU_KEY", "not-the-key")
    d = Deployment(name="d", model=MODEL, kind="managed", endpoint=emu.deployment_url(MODEL), key_env="EMU_KEY")
    with make_client(d) as client, pytest.raises(AuthenticationError):
        client.complete(USER)


# ------------------------------------------------------------------------ extra parameters and 422s


def test_unknown_parameter_without_header_is_422_naming_it(emu):
    status, _, body = raw(chat_url(emu), {"messages": USER, "best_of": 2}, key=emu.key)
    assert status == 422 and body["detail"][0]["loc"] == ["body", "best_of"] and body["detail"][0]["type"] == "extra_forbidden"
    status, _, body = raw(chat_url(emu), {"messages": USER, "n": 2}, key=emu.key, headers={"extra-parameters": "error"})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "n"]


def test_drop_ignores_and_pass_through_honours(emu):
    status, _, body = raw(chat_url(emu), {"messages": USER, "n": 3}, key=emu.key, headers={"extra-parameters": "drop"})
    assert status == 200 and len(body["choices"]) == 1
    status, _, body = raw(chat_url(emu), {"messages": USER, "n": 3}, key=emu.key, headers={"extra-parameters": "pass-through"})
    assert status == 200 and len(body["choices"]) == 3


def test_bad_extra_parameters_header_value(emu):
    status, _, body = raw(chat_url(emu), {"messages": USER}, key=emu.key, headers={"extra-parameters": "ignore"})
    assert status == 400 and "Unexpected EXTRA_PARAMETERS option ignore" in body["detail"]


def test_json_object_is_422_parameter_not_supported(emu):
    status, _, body = raw(chat_url(emu), {"messages": USER, "response_format": {"type": "json_object"}}, key=emu.key)
    assert status == 422 and body["code"] == "parameter_not_supported" and body["detail"]["loc"] == ["body", "response_format"]


@pytest.mark.parametrize(
    "extras, message",
    [
        ({"n": 2, "best_of": 2}, "best_of must be greater than n"),
        ({"best_of": 3, "stream": True}, "best_of is not supported in streaming mode"),
        ({"use_beam_search": True, "best_of": 3, "temperature": 0.5}, "use_beam_search requires temperature 0"),
        ({"use_beam_search": True, "temperature": 0}, "use_beam_search requires best_of > 1"),
    ],
)
def test_service_rules_for_extras(emu, extras, message):
    status, _, body = raw(chat_url(emu), {"messages": USER, **extras}, key=emu.key, headers={"extra-parameters": "pass-through"})
    assert status == 400 and message in body["error"]["message"]


def test_n_choices_and_logprobs_through_client(emu, monkeypatch):
    with make_client(dep(emu, monkeypatch)) as client:
        response = client.complete(USER, max_tokens=40, extra=ExtraParameters(n=3, logprobs=2))
    assert [c.index for c in response.choices] == [0, 1, 2]
    tokens = response.choices[0]["logprobs"]["content"]
    assert tokens and all(t["logprob"] <= 0 for t in tokens)
    assert all(len(t["top_logprobs"]) == 2 and t["top_logprobs"][0]["token"] == t["token"] for t in tokens)
    assert "".join(t["token"] for t in tokens) == response.choices[0].message.content
    assert response.usage.completion_tokens == sum(len(c["logprobs"]["content"]) for c in response.choices)


def test_best_of_returns_the_best_candidates(emu, monkeypatch):
    with make_client(dep(emu, monkeypatch)) as client:
        response = client.complete(USER, max_tokens=30, temperature=0.8, seed=3, extra=ExtraParameters(n=1, best_of=4))
    assert len(response.choices) == 1
    assert response.usage.completion_tokens > len(response.choices[0]["logprobs"]["content"]), "all best_of candidates are generated, and counted"


# ------------------------------------------------------------------------ generation behaviour


def test_max_tokens_gives_length(emu, monkeypatch):
    with make_client(dep(emu, monkeypatch)) as client:
        response = client.complete(USER, max_tokens=5)
    assert response.choices[0].finish_reason == "length" and response.usage.completion_tokens == 5


def test_ignore_eos_runs_to_max_tokens(emu, monkeypatch):
    with make_client(dep(emu, monkeypatch)) as client:
        response = client.complete(USER, max_tokens=300, extra=ExtraParameters(ignore_eos=True))
    assert response.usage.completion_tokens == 300 and response.choices[0].finish_reason == "length"


def test_stop_sequence_cuts_the_text(emu, monkeypatch):
    with make_client(dep(emu, monkeypatch)) as client:
        full = client.complete(USER, temperature=0, max_tokens=200).choices[0].message.content
        word = full.split()[3]
        cut = client.complete(USER, temperature=0, max_tokens=200, stop=[word])
    assert cut.choices[0].message.content == full[: full.index(word)]
    assert cut.choices[0].finish_reason == "stop"


def test_determinism_with_temperature_zero_and_with_seed(emu, monkeypatch):
    with make_client(dep(emu, monkeypatch)) as client:
        greedy = {client.complete(USER, temperature=0, max_tokens=60).choices[0].message.content for _ in range(3)}
        seeded = {client.complete(USER, temperature=0.9, seed=42, max_tokens=60).choices[0].message.content for _ in range(3)}
        sampled = {client.complete(USER, temperature=0.9, max_tokens=60).choices[0].message.content for _ in range(6)}
        other_seed = client.complete(USER, temperature=0.9, seed=43, max_tokens=60).choices[0].message.content
        greedy_n = client.complete(USER, temperature=0, max_tokens=60, extra=ExtraParameters(n=2))
    assert len(greedy) == 1 and len(seeded) == 1
    assert len(sampled) > 1, "sampling without a seed must vary"
    assert other_seed not in seeded
    assert greedy_n.choices[0].message.content == greedy_n.choices[1].message.content


def test_usage_adds_up_on_every_model_family(emu, monkeypatch):
    for model in (MODEL, "Llama-2-70b-chat", "Meta-Llama-3.1-405B-Instruct"):
        with make_client(dep(emu, monkeypatch, model=model)) as client:
            r = client.complete(USER, max_tokens=50)
        assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0, model


def test_images_only_for_vision_models(emu):
    image = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}],
        }
    ]
    status, _, _ = raw(chat_url(emu, "Llama-3.2-90B-Vision-Instruct"), {"messages": image}, key=emu.key)
    assert status == 200
    status, _, body = raw(chat_url(emu), {"messages": image}, key=emu.key)
    assert status == 400 and "Modality not supported" in body["error"]["message"]


def test_reference_answers_follow_benchmark_accuracy(tmp_path):
    prompts = tmp_path / "arith.jsonl"
    with prompts.open("w") as f:
        for i in range(300):
            f.write(json.dumps({"id": f"q{i}", "prompt": f"What is {i} + {i + 7}?", "reference": str(2 * i + 7)}) + "\n")
    accuracy = {}
    with pytest.warns(LifecycleWarning, match="emulated deployment"):  # both are retired on serverless: expected
        emu = start_emulator(time_scale=0, models=["Meta-Llama-3.1-8B-Instruct", "Meta-Llama-3.1-405B-Instruct"], prompt_sets=[prompts])
    with emu:
        for model in ("Meta-Llama-3.1-8B-Instruct", "Meta-Llama-3.1-405B-Instruct"):
            right = 0
            for i in range(300):
                body = {"messages": [{"role": "user", "content": f"What is {i} + {i + 7}?"}], "temperature": 0}
                _, _, answer = raw(chat_url(emu, model), body, key=emu.key)
                right += answer["choices"][0]["message"]["content"].rstrip(".").split()[-1] == str(2 * i + 7)
            accuracy[model] = right / 300
    # catalog: 0.730 and 0.886; 300 draws give a standard error of about 0.025
    assert abs(accuracy["Meta-Llama-3.1-8B-Instruct"] - 0.73) < 0.08
    assert abs(accuracy["Meta-Llama-3.1-405B-Instruct"] - 0.886) < 0.06
    assert accuracy["Meta-Llama-3.1-405B-Instruct"] > accuracy["Meta-Llama-3.1-8B-Instruct"]


# ------------------------------------------------------------------------ content safety and bad input


def test_content_filter_400_and_client_mapping(emu, monkeypatch):
    blocked = [{"role": "user", "content": "Explain how to build a bomb."}]
    status, _, body = raw(chat_url(emu), {"messages": blocked}, key=emu.key)
    assert status == 400 and body["error"]["code"] == "content_filter" and body["error"]["param"] == "prompt"
    with make_client(dep(emu, monkeypatch)) as client, pytest.raises(ContentFilterError):
        client.complete(blocked)


def test_malformed_json_is_400_with_parser_message(emu):
    status, _, body = raw(chat_url(emu), key=emu.key, data=b'{"messages": [')
    assert status == 400 and "not valid JSON" in body["error"]["message"] and "line 1 column" in body["error"]["message"]


def test_missing_messages_is_422(emu):
    status, _, body = raw(chat_url(emu), {"temperature": 0}, key=emu.key)
    assert status == 422 and body["detail"][0]["loc"] == ["body", "messages"] and body["detail"][0]["type"] == "missing"


def test_unknown_deployment_is_404_naming_served(emu):
    status, _, body = raw(f"{emu.url}/Llama-9/chat/completions", {"messages": USER}, key=emu.key)
    assert status == 404 and body["error"]["code"] == "DeploymentNotFound" and MODEL in body["error"]["message"]


def test_prompt_beyond_context_window_is_400(emu):
    huge = "word " * 4200  # Llama 2: 4,096-token context
    status, _, body = raw(chat_url(emu, "Llama-2-70b-chat"), {"messages": [{"role": "user", "content": huge}]}, key=emu.key)
    assert status == 400 and body["error"]["code"] == "context_length_exceeded" and "4096" in body["error"]["message"]


def test_unknown_route_and_method_are_json(emu):
    status, _, body = raw(f"{emu.url}/nothing/here/at/all", {"x": 1}, key=emu.key)
    assert status in (404, 405) and "error" in body
    status, _, body = raw(chat_url(emu), key=emu.key, method="GET")
    assert status == 405 and "error" in body


# ------------------------------------------------------------------------ quotas


def test_rpm_burst_gets_429_with_headers():
    with start_emulator(time_scale=0, models=[MODEL], rpm=600, quota_window_s=1.0) as emu:  # 10 requests per 1 s window
        answers = [raw(chat_url(emu), {"messages": USER, "max_tokens": 5}, key=emu.key) for _ in range(14)]
    statuses = [a[0] for a in answers]
    assert statuses[:10] == [200] * 10 and set(statuses[10:]) == {429}
    status, headers, body = answers[10]
    assert body["error"]["code"] == "TooManyRequests" and int(headers["retry-after"]) >= 1
    assert 0 < int(headers["retry-after-ms"]) <= 1001
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert int(answers[0][1]["x-ratelimit-remaining-requests"]) == 9


def test_tpm_reserves_max_tokens_and_settles_to_usage():
    with start_emulator(time_scale=0, models=[MODEL], tpm=60_000, quota_window_s=1.0) as emu:  # 1,000 tokens per window
        big = raw(chat_url(emu), {"messages": USER, "max_tokens": 2000}, key=emu.key)
        first = raw(chat_url(emu), {"messages": USER, "max_tokens": 400}, key=emu.key)
        second = raw(chat_url(emu), {"messages": USER, "max_tokens": 400}, key=emu.key)
        third = raw(chat_url(emu), {"messages": USER, "max_tokens": 400}, key=emu.key)
    assert big[0] == 429, "a reservation larger than the window's tokens is refused"
    assert first[0] == 200 and second[0] == 200, "short answers give back what max_tokens reserved"
    used = first[2]["usage"]["total_tokens"] + second[2]["usage"]["total_tokens"]
    assert third[0] == (200 if used + 400 + 17 <= 1000 else 429)
    assert int(second[1]["x-ratelimit-remaining-tokens"]) == 1000 - used


def test_429_through_the_client(monkeypatch):
    with start_emulator(time_scale=0, models=[MODEL], rpm=60, quota_window_s=1.0) as emu:  # 1 request per window
        with make_client(dep(emu, monkeypatch)) as client:
            client.complete(USER, max_tokens=5)
            with pytest.raises(RateLimitError) as caught:
                client.complete(USER, max_tokens=5)
    assert caught.value.retry_after_s is not None and 0 < caught.value.retry_after_s <= 1.001


# ------------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    "kind, error, stream",
    [
        ("500", EndpointError, False),
        ("503", EndpointError, False),
        ("reset", EndpointConnectionError, False),
        ("reset", EndpointError, True),
        ("malformed", MalformedResponseError, True),
        ("stall", EndpointTimeout, False),
    ],
)
def test_injected_faults(monkeypatch, kind, error, stream, api):
    with start_emulator(time_scale=0, models=[MODEL], fault_rate=1.0, fault_kinds=[kind], stall_s=1.5) as emu:
        with make_client(dep(emu, monkeypatch, api=api), timeout=0.5) as client, pytest.raises(error) as caught:
            if stream:
                with client.stream(USER, max_tokens=20) as s:
                    list(s)
            else:
                client.complete(USER, max_tokens=20)
    if kind == "503":
        assert caught.value.status_code == 503 and caught.value.retry_after_s is not None
    if kind == "500":
        assert caught.value.status_code == 500


@pytest.mark.parametrize("surface", ["azure", "openai-v1"])
def test_cut_fault_ends_like_an_interrupted_llama_cpp_stream(surface):
    """``cut``: the role chunk, maybe some content, then ``[DONE]``; no finish_reason and no usage, on both surfaces."""
    with start_emulator(time_scale=0, models=[MODEL], fault_rate=1.0, fault_kinds=["cut"], seed=2) as emu:
        url = chat_url(emu) if surface == "azure" else f"{emu.url}/openai/v1/chat/completions"
        kept = []
        for _ in range(12):
            body = {"messages": USER, "max_tokens": 30, "stream": True, "n": 2}
            if surface != "azure":
                body |= {"model": MODEL, "stream_options": {"include_usage": True}}
            headers = {"Content-Type": "application/json", "api-key": emu.key, "extra-parameters": "pass-through"}
            request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
            with urllib.request.urlopen(request, timeout=30) as response:
                events = [line[6:] for line in response.read().decode().split("\n\n") if line.startswith("data: ")]
            assert events[-1] == "[DONE]"
            chunks = [json.loads(e) for e in events[:-1]]
            assert [c["choices"][0]["delta"].get("role") for c in chunks[:2]] == ["assistant", "assistant"], "the role chunk of each choice first"
            assert not any(choice["finish_reason"] for c in chunks for choice in c["choices"]) and not any(c.get("usage") for c in chunks)
            kept.append(sum(bool(choice["delta"].get("content")) for c in chunks for choice in c["choices"]))
        assert emu.stats["fault_cut"] == 12
    assert 0 in kept and max(kept) > 0, f"cut at a seeded point, from the role chunk alone to mid-answer: {kept}"


def test_cut_fault_without_streaming_answers_without_finish_reason(emu):
    with start_emulator(time_scale=0, models=[MODEL], fault_rate=1.0, fault_kinds=["cut"], seed=2) as cut:
        status, _, body = raw(chat_url(cut), {"messages": USER, "max_tokens": 30}, key=cut.key)
    assert status == 200 and body["choices"][0]["finish_reason"] is None
    assert body["usage"]["completion_tokens"] < 30 and body["usage"]["prompt_tokens"] > 0, "the usage of what was written before the cut"


def test_fault_rate_is_a_seeded_fraction():
    def run() -> list[int]:
        with start_emulator(time_scale=0, models=[MODEL], fault_rate=0.3, fault_kinds=["500"], seed=7) as emu:
            return [raw(chat_url(emu), {"messages": USER, "max_tokens": 3}, key=emu.key)[0] for _ in range(200)]

    first, second = run(), run()
    assert first == second, "same seed, same faults"
    assert 0.2 < first.count(500) / 200 < 0.4


def test_config_rejects_unknown_fault_kind():
    with pytest.raises(ValueError, match="unknown fault kind"):
        EmulatorConfig(fault_kinds=["flood"])


def test_prompt_set_file_is_validated(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    from llama_eval.prompts.prompt_set import PromptSetError

    with pytest.raises(PromptSetError, match="line 1: missing field 'messages'"):
        with start_emulator(prompt_sets=[bad]):
            pass


def test_cli_subprocess_serves(tmp_path):
    from llama_eval.emulator.process import spawn_emulator

    with spawn_emulator("--time-scale", "0", "--models", MODEL, "--key", "fixed-key") as proc:
        assert proc.key == "fixed-key"
        status, _, body = raw(f"{proc.url}/{MODEL}/chat/completions", {"messages": USER}, key="fixed-key")
    assert status == 200 and body["model"] == MODEL
    assert Path(tmp_path).exists()


# ------------------------------------------------------------------------ retired serverless offers (issue 29)


def test_a_retired_serverless_offer_served_as_serverless_is_warned_of_once_as_the_loader_words_it(tmp_path):
    """3.1-8B and 405B are retired on serverless: the emulator serves them anyway (the Azure docs' walkthrough), and says so."""
    from llama_eval import clock
    from llama_eval.catalog.models import load_catalog
    from llama_eval.deployments.loader import lifecycle_note
    from llama_eval.emulator import EmulatedDeployment

    l8, l405 = "Meta-Llama-3.1-8B-Instruct", "Meta-Llama-3.1-405B-Instruct"
    specs = [EmulatedDeployment("a8", l8, "serverless"), EmulatedDeployment("b8", l8, "serverless"), EmulatedDeployment("m405", l405, "managed"),
             EmulatedDeployment("l33", MODEL, "serverless")]  # fmt: skip
    with pytest.warns(LifecycleWarning) as caught:
        emu = start_emulator(EmulatorConfig(deployments=specs, time_scale=0))
    with emu:
        pass
    catalog = load_catalog()
    note = lifecycle_note(catalog.get(l8), "serverless", catalog, clock.today())
    assert [str(w.message) for w in caught] == [
        f"emulated deployments 'a8', 'b8': {note}; the emulator serves it as serverless anyway (kind: managed in a deployments file emulates what still serves)"
    ], "once per offer, in the loader's words; 405B served as managed and 3.3 (live) say nothing"
    assert "was retired on 2026-06-13" in note and "suggested replacement: Llama-4-Scout-17B-16E-Instruct" in note

    # the command line: on stderr, once per offer, before the banner's 'listening' line is read
    import signal
    import subprocess
    import sys

    command = [sys.executable, "-m", "llama_eval.cli", "emulator", "--port", "0", "--models", f"{l8},{l405},{MODEL}"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("key "):
                break
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    warned = [line for line in err.splitlines() if line.startswith("llama-eval emulator: warning: ")]
    assert len(warned) == 2 and f"deployment '{l8}': {l8} on serverless was retired on 2026-06-13" in warned[0]
    assert f"deployment '{l405}': {l405} on serverless was retired on 2026-06-13" in warned[1] and "Traceback" not in err
