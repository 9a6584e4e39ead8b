"""The emulator never crashes on bad input: random bodies and headers get well-formed JSON answers."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llama_eval import load_catalog
from llama_eval.emulator import start_emulator
from llama_eval.emulator.protocol import ApiError, parse_chat

MODEL = "Llama-3.3-70B-Instruct"
FIELDS = ["messages", "model", "temperature", "top_p", "max_tokens", "stop", "stream", "seed", "response_format", "n", "best_of", "logprobs",
          "ignore_eos", "use_beam_search", "stop_token_ids", "skip_special_tokens", "stream_options", "tools", "frequency_penalty"]  # fmt: skip

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=20))
json_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12
)
messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "robot", 3]), "content": st.one_of(st.text(max_size=40), json_values)}),
    max_size=3,
)
bodies = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values, max_size=6),
    st.fixed_dictionaries({"messages": messages}, optional={k: json_values for k in FIELDS if k != "messages"}),
)
header_values = st.sampled_from([None, "pass-through", "drop", "error", "", "allow", "pass-through, drop"])


@pytest.fixture(scope="module")
def emu():
    with start_emulator(time_scale=0, models=[MODEL], rpm=10**7, tpm=10**9) as running:
        yield running


def post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, object]:
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            status = response.status
            content_type = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        raw, status, content_type = err.read(), err.code, err.headers.get("Content-Type", "")
    if content_type.startswith("text/event-stream"):
        lines = [line for line in raw.decode().split("\n\n") if line]
        assert lines[-1] == "data: [DONE]"
        return status, [json.loads(line[6:]) for line in lines[:-1]]
    return status, json.loads(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, extra=header_values, raw_bytes=st.one_of(st.none(), st.binary(max_size=40)), path=st.sampled_from([f"/{MODEL}", "/v1", "/openai/v1"]))
def test_random_requests_get_json_and_never_5xx(emu, body, extra, raw_bytes, path):
    try:
        data = raw_bytes if raw_bytes is not None else json.dumps(body, allow_nan=True).encode()
    except (ValueError, OverflowError):
        data = b"{"
    headers = {"Content-Type": "application/json", "api-key": emu.key}
    if extra is not None:
        headers["extra-parameters"] = extra
    status, answer = post(f"{emu.url}{path}/chat/completions", data, headers)
    assert status == 200 or 400 <= status < 500, (status, answer)
    if status != 200:
        assert isinstance(answer, dict) and ("error" in answer or "detail" in answer or "code" in answer)


@settings(max_examples=int(os.environ.get("LLAMA_EVAL_FUZZ_EXAMPLES", "1000")), deadline=None)
@given(body=bodies, extra=header_values, openai_surface=st.booleans(), self_hosted=st.booleans())
def test_parser_raises_only_api_errors(body, extra, openai_surface, self_hosted):
    model = load_catalog().get(MODEL)
    try:
        call = parse_chat(body, extra, model, openai_surface=openai_surface, self_hosted=self_hosted)
    except ApiError as err:
        assert 400 <= err.status < 500
        json.dumps(err.body)
    else:
        assert call.messages and call.n >= 1
