"""Every request rule fails before anything is sent: the server must see no request at all."""

from __future__ import annotations

import pytest

from llama_eval import ConfigError, ExtraParameters, RequestValidationError, make_async_client, make_client
from llama_eval.deployments.model import Deployment

USER = [{"role": "user", "content": "hi"}]
IMAGE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
        ],
    }
]

# (rule, messages, params, stream)
BROKEN = [
    ("best_of_gt_n", USER, {"extra": ExtraParameters(n=2, best_of=2)}, False),
    ("best_of_gt_n", USER, {"extra": ExtraParameters(best_of=1)}, False),
    ("best_of_stream", USER, {"extra": ExtraParameters(best_of=3)}, True),
    ("beam_search_best_of", USER, {"temperature": 0, "extra": ExtraParameters(use_beam_search=True)}, False),
    ("beam_search_temperature", USER, {"temperature": 0.7, "extra": ExtraParameters(use_beam_search=True, best_of=4)}, False),
    ("beam_search_temperature", USER, {"extra": ExtraParameters(use_beam_search=True, best_of=4)}, False),
    ("json_object_unsupported", USER, {"response_format": "json_object"}, False),
    ("json_object_unsupported", USER, {"response_format": {"type": "json_object"}}, False),
    ("json_object_unsupported", USER, {"response_format": {"type": "json_schema", "json_schema": {}}}, False),
    ("image_text_only_model", IMAGE, {}, False),
    ("extra_unknown", USER, {"extra": {"best-of": 3}}, False),
    ("n_range", USER, {"extra": ExtraParameters(n=0)}, False),
    ("logprobs_range", USER, {"extra": ExtraParameters(logprobs=50)}, False),
    ("stop_token_ids_type", USER, {"extra": ExtraParameters(stop_token_ids=["eot"])}, False),
    ("ignore_eos_type", USER, {"extra": ExtraParameters(ignore_eos="yes")}, False),
    ("temperature_range", USER, {"temperature": 3}, False),
    ("temperature_range", USER, {"temperature": 1.5}, False),  # OpenAI allows up to 2; the Azure API reference says [0, 1]
    ("top_p_range", USER, {"top_p": 1.5}, False),
    ("top_p_range", USER, {"top_p": -0.1}, False),
    ("max_tokens_range", USER, {"max_tokens": 0}, False),
    ("max_tokens_range", USER, {"max_tokens": 9000}, False),  # over 3.1-405B's 8,192 output limit
    ("presence_penalty_range", USER, {"presence_penalty": 5}, False),
    ("stop_type", USER, {"stop": [""]}, False),
    ("seed_type", USER, {"seed": "7"}, False),
    ("messages_empty", [], {}, False),
    ("message_role", [{"role": "robot", "content": "x"}], {}, False),
    ("message_content", [{"role": "user", "content": 42}], {}, False),
    ("message_content", [{"role": "user", "content": [{"type": "input_audio"}]}], {}, False),
]


@pytest.mark.parametrize("rule, messages, params, stream", BROKEN, ids=[f"{b[0]}-{i}" for i, b in enumerate(BROKEN)])
def test_rule_fails_before_sending(server, deployment, rule, messages, params, stream):
    with make_client(deployment) as client, pytest.raises(RequestValidationError) as caught:
        if stream:
            client.stream(messages, **params)
        else:
            client.complete(messages, **params)
    assert caught.value.rule == rule
    assert server.requests == [], "a request that breaks a rule must never reach the server"


async def test_async_rule_fails_before_sending(server, deployment):
    async with make_async_client(deployment) as client:
        with pytest.raises(RequestValidationError) as caught:
            await client.stream(USER, extra=ExtraParameters(best_of=3))
    assert caught.value.rule == "best_of_stream"
    assert server.requests == []


def test_temperature_message_cites_the_azure_range(server, deployment):
    with make_client(deployment) as client:
        with pytest.raises(RequestValidationError, match=r"temperature must be in \[0, 1\] \(Llama on Azure: the Azure AI Model Inference API"):
            client.complete(USER, temperature=1.2)
    assert server.requests == []


def test_unverified_extras_warn_once_per_model(server, key_env, api):
    import warnings

    from llama_eval.endpoint.request import UnverifiedParameterWarning, _warned_unverified

    _warned_unverified.clear()
    dep = Deployment(name="m", model="Llama-4-Maverick-17B-128E-Instruct-FP8", kind="serverless", endpoint=server.url, key_env=key_env, api=api)
    with make_client(dep) as client, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.complete(USER, temperature=0, extra=ExtraParameters(use_beam_search=True, best_of=3))
        client.complete(USER, temperature=0, extra=ExtraParameters(use_beam_search=True, best_of=3))
        client.complete(USER, extra=ExtraParameters(n=2))  # n is documented: no warning
    unverified = [w for w in caught if issubclass(w.category, UnverifiedParameterWarning)]
    assert sorted(str(w.message).split()[0] for w in unverified) == ["best_of", "use_beam_search"], "one warning per parameter, not per request"
    assert len(server.chat_requests()) == 3, "a warning, not a refusal: the request is still sent"


def test_json_object_message_points_to_prompting(server, deployment):
    with make_client(deployment) as client, pytest.raises(RequestValidationError, match="ask for JSON in the prompt"):
        client.complete(USER, response_format="json_object")


def test_images_accepted_by_vision_model(server, key_env, api):
    dep = Deployment(name="v", model="Llama-3.2-90B-Vision-Instruct", kind="managed", endpoint=server.url, key_env=key_env, api=api)
    with make_client(dep) as client:
        client.complete(IMAGE)
    sent = server.chat_requests()[0].body["messages"][0]["content"][1]
    assert sent == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}


def test_valid_beam_search_is_sent(server, deployment):
    with make_client(deployment) as client:
        client.complete(USER, temperature=0, extra=ExtraParameters(use_beam_search=True, best_of=4))
    body = server.chat_requests()[0].body
    assert body["use_beam_search"] is True and body["best_of"] == 4 and body["temperature"] == 0


def test_entra_refused_for_serverless_before_anything_is_sent(server):
    with pytest.raises(ConfigError, match="serverless API endpoints accept key authentication only"):
        Deployment(name="s", model="Llama-3.3-70B-Instruct", kind="serverless", endpoint=server.url, auth="entra")
    assert server.requests == []


def test_missing_key_env_var_is_named(server, clean_env):
    clean_env.delenv("NOT_SET_KEY_VAR", raising=False)
    dep = Deployment(name="s", model="Llama-3.3-70B-Instruct", endpoint=server.url, key_env="NOT_SET_KEY_VAR")
    with pytest.raises(ConfigError, match="NOT_SET_KEY_VAR is not set"):
        make_client(dep)
    assert server.requests == []


def test_sampling_ranges_follow_the_deployment_kind(monkeypatch):
    """vLLM (kind: self-hosted) takes temperature up to 2; Llama on Azure takes [0, 1]. Checked against the emulator's surfaces."""
    from llama_eval.emulator import EmulatedDeployment, start_emulator
    from llama_eval.endpoint.wire import SessionPool, WireClient

    l8, served = "Meta-Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"
    specs = [EmulatedDeployment("vllm", l8, "self-hosted", served_name=served), EmulatedDeployment("azure", l8, "managed", path="llama8")]
    with start_emulator(time_scale=0, deployments=specs) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        vllm = Deployment(name="vllm", model=l8, kind="self-hosted", endpoint=f"{emu.url}/v1", deployment_name=served, key_env="EMU_KEY")
        azure = [Deployment(name=f"az-{api}", model=l8, kind="managed", endpoint=emu.deployment_url("azure"), key_env="EMU_KEY", api=api)
                 for api in ("azure-ai-inference", "openai-v1")]  # fmt: skip
        with make_client(vllm) as client:
            assert client.complete(USER, temperature=1.5, max_tokens=5).choices[0].message.content, "the server takes what the client let through"
            with pytest.raises(RequestValidationError, match=r"temperature must be in \[0, 2\] \(a self-hosted OpenAI-compatible server"):
                client.complete(USER, temperature=2.5)
            with pytest.raises(RequestValidationError, match=r"top_p must be in \(0, 1\]") as caught:
                client.complete(USER, top_p=0)
            assert caught.value.rule == "top_p_range"
        for d in azure:
            with make_client(d) as client, pytest.raises(RequestValidationError, match=r"temperature must be in \[0, 1\] \(Llama on Azure"):
                client.complete(USER, temperature=1.5)
        served_before = emu.stats.get("completion_tokens")
        pool = SessionPool()
        WireClient(vllm, pool, timeout=10).prepare(USER, temperature=1.5)  # the runner's client applies the same rule
        with pytest.raises(RequestValidationError, match=r"\[0, 1\] \(Llama on Azure"):
            WireClient(azure[0], pool, timeout=10).prepare(USER, temperature=1.5)
        assert emu.stats.get("completion_tokens") == served_before, "prepare checks; it sends nothing"


def test_the_runner_s_unchecked_assembly_builds_exactly_what_the_checked_one_does():
    """A run checks every request while planning, then sends ``assemble_checked``'s body: it must be ``build_request``'s, field for field."""
    import warnings

    from hypothesis import HealthCheck, assume, given, settings
    from hypothesis import strategies as st

    from llama_eval.catalog.models import load_catalog
    from llama_eval.endpoint.request import assemble_checked, build_request

    model = load_catalog().get("Llama-3.3-70B-Instruct")
    maybe = lambda strategy: st.none() | strategy  # noqa: E731
    extras = st.fixed_dictionaries(
        {},
        optional={
            "n": st.integers(1, 3),
            "best_of": st.integers(1, 4),
            "logprobs": st.booleans(),
            "ignore_eos": st.booleans(),
            "skip_special_tokens": st.booleans(),
            "stop_token_ids": st.lists(st.integers(0, 128_000), max_size=3),
        },
    )
    params = st.fixed_dictionaries(
        {
            "stream": st.booleans(),
            "temperature": maybe(st.floats(0, 1)),
            "top_p": maybe(st.floats(0, 1)),
            "max_tokens": maybe(st.integers(1, 4096)),
            "stop": maybe(st.text(min_size=1, max_size=5) | st.lists(st.text(min_size=1, max_size=5), max_size=3)),
            "seed": maybe(st.integers(-(2**31), 2**31)),
            "response_format": maybe(st.just({"type": "text"})),
            "extra": maybe(extras),
            "request_model_name": maybe(st.just("llama33")),
        }
    )
    turn = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": st.text(min_size=1, max_size=20)})
    messages = st.lists(turn, min_size=1, max_size=3).map(lambda ms: [{"role": "system", "content": "Be brief."}, *ms[:-1], {**ms[-1], "role": "user"}])

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
    @given(messages, params)
    def same(msgs, kw):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unverified extra parameters warn; not what this compares
            try:
                checked = build_request(msgs, model=model, **kw)
            except RequestValidationError:
                assume(False)
        assert assemble_checked(msgs, **kw) == checked

    same()
