"""Deployments files and the environment shortcut: good input loads, bad input names file, line, field."""

from __future__ import annotations

import textwrap
import warnings
from datetime import date

import pytest

from _support.constants import FAKE_KEY
from llama_eval import ConfigError, LifecycleWarning, load_deployments, make_client


def write(tmp_path, text: str):
    path = tmp_path / "deployments.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


GOOD = """
deployments:
  - name: llama33
    model: Llama-3.3-70B-Instruct
    kind: serverless
    endpoint_env: LLAMA33_ENDPOINT
    auth: key
    key_env: LLAMA33_KEY
    quota: {tpm: 100000, rpm: 500}
  - name: llama8-managed
    model: meta-llama-3.1-8b-instruct
    kind: managed
    endpoint: https://my-endpoint.eastus2.inference.ml.azure.com
    auth: entra
    compute: {sku: Standard_NC24ads_A100_v4, instances: 2}
"""


def test_good_file_loads(tmp_path):
    config = load_deployments(write(tmp_path, GOOD))
    assert config.names == ["llama33", "llama8-managed"]
    llama33 = config["llama33"]
    assert llama33.quota.tpm == 100000 and llama33.quota.rpm == 500
    managed = config["llama8-managed"]
    assert managed.model == "Meta-Llama-3.1-8B-Instruct"  # case-insensitive id, stored canonical
    assert managed.compute.instances == 2
    assert managed.source.endswith("line 9")


def test_example_file_loads():
    from llama_eval.paths import data_dir

    config = load_deployments(data_dir() / "deployments.example.yaml")
    assert len(config) == 3
    assert {d.api for d in config} == {"azure-ai-inference", "openai-v1"}


def test_quota_defaults_from_catalog(tmp_path):
    config = load_deployments(write(tmp_path, GOOD.replace("    quota: {tpm: 100000, rpm: 500}\n", "")))
    quota = config["llama33"].effective_quota()
    assert (quota.tpm, quota.rpm, quota.concurrency) == (400000, 1000, 300)
    assert "quotas-limits" in quota.source
    assert config["llama8-managed"].effective_quota() is None  # managed compute: no token quota


@pytest.mark.parametrize(
    "snippet, message",
    [
        ("    model: Llama-3.3-70B-Instrct\n", r"line 3: deployment 'x': unknown model 'Llama-3.3-70B-Instrct'; did you mean 'Llama-3.3-70B-Instruct'"),
        ("    model: Llama-3.3-70B-Instruct\n    key: abc123\n", r"line 4: field 'key' would put a secret in the file.*key_env"),
        ("    model: Llama-3.3-70B-Instruct\n    api_key: abc123\n", r"line 4: field 'api_key' would put a secret"),
        ("    model: Llama-3.3-70B-Instruct\n    endpont: https://x\n", r"line 4: unknown field 'endpont'; did you mean 'endpoint'"),
        ("    model: Llama-3.3-70B-Instruct\n    auth: entra\n", r"serverless API endpoints accept key authentication only"),
        ("    model: Llama-3.3-70B-Instruct\n    kind: dedicated\n", r"kind must be one of serverless, managed"),
        ("    model: Llama-3.3-70B-Instruct\n    api: rest\n", r"api must be one of azure-ai-inference, openai-v1"),
        ("    model: Llama-3.3-70B-Instruct\n    quota: {tpm: -5}\n", r"line 4: deployment 'x': quota tpm must be a positive whole number"),
        ("    model: Llama-3.3-70B-Instruct\n    compute: {sku: Standard_NC24ads_A100_v4}\n", r"'compute' applies to kind: managed or self-hosted"),
        ("    model: Llama-3.2-1B-Instruct\n", r"Llama-3.2-1B-Instruct is not offered as serverless \(offers: managed\)"),
        ("    model: Llama-3.3-70B-Instruct\n    headers: {api-key: abc}\n", r"auth headers would put a secret in the file"),
    ],
)
def test_bad_deployment_is_named(tmp_path, snippet, message):
    text = "deployments:\n  - name: x\n" + snippet + "    endpoint: https://x.eastus2.models.ai.azure.com\n    key_env: K\n"
    if "endpont" in snippet:
        text = text.replace("    endpoint: https://x.eastus2.models.ai.azure.com\n", "")
    path = tmp_path / "d.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_deployments(path)
    assert str(path) in str(caught.value)


def test_key_pasted_into_key_env_is_refused_without_echoing_it(tmp_path):
    path = write(
        tmp_path,
        f"""
    deployments:
      - name: x
        model: Llama-3.3-70B-Instruct
        endpoint: https://x.eastus2.models.ai.azure.com
        key_env: "{FAKE_KEY}-with-dashes"
    """,
    )
    with pytest.raises(ConfigError, match="key_env must be the \\*name\\* of an environment variable") as caught:
        load_deployments(path)
    assert FAKE_KEY not in str(caught.value)


@pytest.mark.parametrize(
    "endpoint, message",
    [
        ("https://user:secret@x.models.ai.azure.com", "must not contain a user name or password"),
        ("https://x.models.ai.azure.com/?api-key=abc", "must not carry a key in its query string"),
        ("https://ep.eastus2.inference.ml.azure.com/score", "drop the '/score' suffix"),
        ("ftp://x", "must be an http\\(s\\) URL"),
    ],
)
def test_bad_endpoint_urls(tmp_path, endpoint, message):
    path = write(
        tmp_path,
        f"""
    deployments:
      - name: x
        model: Llama-3.3-70B-Instruct
        endpoint: "{endpoint}"
        key_env: K
    """,
    )
    with pytest.raises(ConfigError, match=message):
        load_deployments(path)


def test_malformed_yaml_names_the_line(tmp_path):
    path = write(
        tmp_path,
        """
    deployments:
      - name: x
        model: [unclosed
        kind: serverless
    """,
    )
    with pytest.raises(ConfigError, match=r"d.*\.yaml line \d+: not valid YAML"):
        load_deployments(path)


def test_duplicate_names_refused(tmp_path):
    path = write(
        tmp_path,
        """
    deployments:
      - {name: a, model: Llama-3.3-70B-Instruct, endpoint: "https://a.x.models.ai.azure.com", key_env: K}
      - {name: a, model: Llama-3.3-70B-Instruct, endpoint: "https://b.x.models.ai.azure.com", key_env: K}
    """,
    )
    with pytest.raises(ConfigError, match="line 3: deployment name 'a' is used twice"):
        load_deployments(path)


def test_missing_endpoint_env_var_is_named(tmp_path, clean_env):
    clean_env.delenv("LLAMA33_ENDPOINT", raising=False)
    config = load_deployments(write(tmp_path, GOOD))
    problems = config.check_environment()
    assert any("LLAMA33_ENDPOINT is not set" in p for p in problems)
    assert any("LLAMA33_KEY is not set" in p for p in problems)
    with pytest.raises(ConfigError, match="LLAMA33_ENDPOINT is not set"):
        make_client(config["llama33"])


def test_unknown_deployment_name_suggests(tmp_path):
    config = load_deployments(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="did you mean 'llama33'"):
        config["llama-33"]


def test_retired_serverless_offer_warns_with_date_and_replacement(tmp_path):
    path = write(
        tmp_path,
        """
    deployments:
      - name: old405
        model: Meta-Llama-3.1-405B-Instruct
        endpoint: https://x.eastus2.models.ai.azure.com
        key_env: K
    """,
    )
    with pytest.warns(LifecycleWarning, match=r"retired on 2026-06-13.*suggested replacement: Llama-4-Maverick-17B-128E-Instruct-FP8"):
        load_deployments(path, today=date(2026, 11, 26))


def test_deprecated_offer_warns_before_retirement(tmp_path):
    path = write(
        tmp_path,
        """
    deployments:
      - name: old405
        model: Meta-Llama-3.1-405B-Instruct
        endpoint: https://x.eastus2.models.ai.azure.com
        key_env: K
    """,
    )
    with pytest.warns(LifecycleWarning, match="is deprecated and retires on 2026-06-13"):
        load_deployments(path, today=date(2026, 5, 1))


@pytest.mark.parametrize("day, warned", [(date(2026, 2, 12), False), (date(2026, 2, 13), True), (date(2026, 3, 12), True)])
def test_legacy_offer_warns_with_its_dates_on_one_line(tmp_path, day, warned):
    # 3.1-405B serverless: legacy 2026-02-13, deprecated 2026-03-13, retired 2026-06-13 (data/models.yaml)
    path = write(
        tmp_path,
        """
    deployments:
      - name: old405
        model: Meta-Llama-3.1-405B-Instruct
        endpoint: https://x.eastus2.models.ai.azure.com
        key_env: K
    """,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_deployments(path, today=day)
    lifecycle = [w for w in caught if issubclass(w.category, LifecycleWarning)]
    if not warned:
        assert lifecycle == [], "before the legacy date the offer is plain GA"
        return
    assert len(lifecycle) == 1
    message = str(lifecycle[0].message)
    assert "\n" not in message and message.startswith(f"{path} line 2: deployment 'old405': Meta-Llama-3.1-405B-Instruct on serverless ")
    assert "is legacy since 2026-02-13: deprecated (no new deployments) on 2026-03-13, retired on 2026-06-13" in message
    assert "suggested replacement: Llama-4-Maverick-17B-128E-Instruct-FP8" in message


def test_replacement_chain_skips_retired_models(tmp_path):
    # Llama-2-7b-chat's named replacement (3.1-8B) retired too; the chain continues to one still serving.
    path = write(
        tmp_path,
        """
    deployments:
      - name: l2
        model: Llama-2-7b-chat
        endpoint: https://x.eastus2.models.ai.azure.com
        key_env: K
    """,
    )
    with pytest.warns(LifecycleWarning, match="suggested replacement: Llama-4-Scout-17B-16E-Instruct"):
        load_deployments(path, today=date(2026, 11, 26))


def test_ga_and_managed_deployments_do_not_warn(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", LifecycleWarning)
        load_deployments(write(tmp_path, GOOD), today=date(2026, 11, 26))


# ------------------------------------------------------------------------------------ env shortcut


def test_env_shortcut_with_key(clean_env, server):
    clean_env.setenv("AZURE_INFERENCE_ENDPOINT", server.url)
    clean_env.setenv("AZURE_INFERENCE_CREDENTIAL", FAKE_KEY)
    config = load_deployments()
    [dep] = list(config)
    assert (dep.auth, dep.key_env, dep.kind) == ("key", "AZURE_INFERENCE_CREDENTIAL", "serverless")
    with make_client() as client:
        response = client.complete([{"role": "user", "content": "hi"}])
    assert response.usage.total_tokens == 91
    assert server.chat_requests()[0].headers["api-key"] == FAKE_KEY


def test_env_shortcut_without_key_is_entra_for_managed(clean_env):
    clean_env.setenv("AZURE_INFERENCE_ENDPOINT", "https://ep.eastus2.inference.ml.azure.com")
    [dep] = list(load_deployments())
    assert (dep.auth, dep.kind) == ("entra", "managed")


def test_env_shortcut_without_key_on_serverless_explains(clean_env):
    clean_env.setenv("AZURE_INFERENCE_ENDPOINT", "https://x.eastus2.models.ai.azure.com")
    with pytest.raises(ConfigError, match="AZURE_INFERENCE_CREDENTIAL is not set: serverless endpoints need a key"):
        load_deployments()


def test_env_shortcut_missing_says_what_to_do(clean_env):
    with pytest.raises(ConfigError, match="AZURE_INFERENCE_ENDPOINT is not set.*llama-eval emulator"):
        load_deployments()


def test_env_shortcut_model_is_checked(clean_env):
    clean_env.setenv("AZURE_INFERENCE_ENDPOINT", "https://x.eastus2.models.ai.azure.com")
    clean_env.setenv("AZURE_INFERENCE_CREDENTIAL", FAKE_KEY)
    clean_env.setenv("LLAMA_EVAL_MODEL", "Llama-3.3-70B")
    with pytest.raises(ConfigError, match="did you mean 'Llama-3.3-70B-Instruct'"):
        load_deployments()


def test_control_character_is_a_config_error(tmp_path):
    # found by fuzzing: PyYAML's ReaderError is not a MarkedYAMLError and escaped as a raw traceback
    path = tmp_path / "d.yaml"
    path.write_text("\x1f")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_deployments(path)


# ------------------------------------------------------------------ self-hosted servers, keys in memory

SELF_HOSTED = """
deployments:
  - name: vllm-70b
    model: Llama-3.3-70B-Instruct
    kind: self-hosted
    endpoint: http://gpu-box.internal:8000/v1
    deployment_name: meta-llama/Llama-3.3-70B-Instruct
    compute: {gpu: H100, count: 2, usd_per_hour: 4.0}
  - name: llamacpp-8b
    model: Meta-Llama-3.1-8B-Instruct
    kind: self-hosted
    endpoint: http://127.0.0.1:8080/v1/
    key_env: LLAMACPP_KEY
    compute: {sku: Standard_NC24ads_A100_v4, hours_per_day: 8}
"""


def test_self_hosted_loads_with_gpu_hours_and_no_key(tmp_path):
    from decimal import Decimal

    config = load_deployments(write(tmp_path, SELF_HOSTED))
    vllm, cpp = config["vllm-70b"], config["llamacpp-8b"]
    assert vllm.api == "openai-v1" and vllm.auth == "none" and vllm.key_env is None
    assert vllm.resolve_key() == ""  # nothing to send; no env var needed
    assert vllm.check_environment() == []
    assert vllm.request_model_name() == "meta-llama/Llama-3.3-70B-Instruct"
    assert vllm.openai_base_url == "http://gpu-box.internal:8000/v1"
    assert vllm.effective_quota() is None  # no Azure quota on your own GPUs
    assert vllm.compute.hourly_usd() == Decimal("8.0") and vllm.compute.label == "2x H100 at $4.0/GPU-hour"
    assert cpp.auth == "key" and cpp.openai_base_url == "http://127.0.0.1:8080/v1"
    assert cpp.request_model_name() == "Meta-Llama-3.1-8B-Instruct"
    assert cpp.compute.sku == "Standard_NC24ads_A100_v4" and cpp.compute.hours_per_day == 8


def test_self_hosted_skips_azure_lifecycle(tmp_path):
    # Llama 3.1 8B is retired on serverless; on your own GPUs that does not matter
    text = SELF_HOSTED.replace("    compute: {sku: Standard_NC24ads_A100_v4, hours_per_day: 8}\n", "")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_deployments(write(tmp_path, text), today=date(2026, 11, 26))


@pytest.mark.parametrize(
    ("endpoint", "base"),
    [
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"),
        ("https://res.services.ai.azure.com/openai/v1", "https://res.services.ai.azure.com/openai/v1"),
        ("https://res.services.ai.azure.com/models", "https://res.services.ai.azure.com/openai/v1"),
        ("https://x.eastus2.models.ai.azure.com", "https://x.eastus2.models.ai.azure.com/openai/v1"),
    ],
)
def test_openai_base_url_rule(endpoint, base):
    from llama_eval.deployments.model import openai_base_url

    assert openai_base_url(endpoint) == base


@pytest.mark.parametrize(
    ("compute", "message"),
    [
        ("{gpu: H100, count: 1}", "either 'sku'"),
        ("{sku: Standard_NC24ads_A100_v4, usd_per_hour: 3}", "either 'sku'"),
        ("{gpu: H100, usd_per_hour: -1}", "usd_per_hour must be a number >= 0"),
        ("{gpu: H100, usd_per_hour: cheap}", "usd_per_hour must be a number >= 0"),
        ("{gpu: H100, count: 0, usd_per_hour: 4}", "count must be a whole number >= 1"),
        ("{gpu: H100, cuont: 2, usd_per_hour: 4}", "did you mean 'count'"),
        ("{sku: Standard_NC24ads_A100_v4, gpu: A100}", "'gpu' and 'count' go with 'usd_per_hour'"),
    ],
)
def test_bad_compute_is_named(tmp_path, compute, message):
    text = f"""
    deployments:
      - name: mine
        model: Llama-3.3-70B-Instruct
        kind: self-hosted
        endpoint: http://127.0.0.1:8080/v1
        compute: {compute}
    """
    with pytest.raises(ConfigError, match=message) as info:
        load_deployments(write(tmp_path, text))
    assert "line 6" in str(info.value)  # the compute: line


def test_auth_none_is_for_self_hosted_only(tmp_path):
    text = GOOD.replace("    auth: key\n    key_env: LLAMA33_KEY\n", "    auth: none\n")
    with pytest.raises(ConfigError, match="auth: none is for kind: self-hosted only"):
        load_deployments(write(tmp_path, text))


def test_key_in_memory_is_never_shown():
    import copy
    import dataclasses
    import json
    import pickle

    from llama_eval import Deployment

    d = Deployment(name="mine", model="Llama-3.3-70B-Instruct", kind="self-hosted", endpoint="http://127.0.0.1:8080/v1", key=FAKE_KEY)
    assert d.resolve_key() == FAKE_KEY and d.auth == "key"
    assert dataclasses.replace(d, name="other").resolve_key() == FAKE_KEY  # a copy keeps it
    shown = [repr(d), str(d), json.dumps(dataclasses.asdict(d), default=str), repr(copy.deepcopy(d)), f"{d}"]
    assert not any(FAKE_KEY in s for s in shown)
    assert '"key": "***"' in shown[2]
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(d)
    azure = Deployment(name="az", model="Llama-3.3-70B-Instruct", endpoint="https://x.eastus2.models.ai.azure.com", key=FAKE_KEY)
    assert azure.check_environment() == [] and azure.resolve_key() == FAKE_KEY
    with pytest.raises(ConfigError, match="key must be the key as text"):
        Deployment(name="az", model="Llama-3.3-70B-Instruct", endpoint="https://x.eastus2.models.ai.azure.com", key=123)


def test_key_field_is_refused_in_a_file(tmp_path):
    text = SELF_HOSTED.replace("    key_env: LLAMACPP_KEY\n", "    key: sk-abc\n")
    with pytest.raises(ConfigError, match="would put a secret in the file"):
        load_deployments(write(tmp_path, text))


def test_lifecycle_warning_is_one_readable_line(tmp_path):
    import warnings as w

    from llama_eval.errors import LifecycleWarning

    text = w.formatwarning(LifecycleWarning("deployment 'x': retired"), LifecycleWarning, "/some/where/config.py", 12, "warnings.warn(...)")
    assert text == "LifecycleWarning: deployment 'x': retired\n"


def test_key_in_memory_authenticates_a_run_and_is_written_nowhere(tmp_path, monkeypatch):
    from llama_eval import Deployment
    from llama_eval.emulator import start_emulator
    from llama_eval.prompts.prompt_set import load_prompt_set
    from llama_eval.run import RunParams, run_evaluation

    monkeypatch.delenv("LLAMA_TEST_KEY", raising=False)
    (tmp_path / "p.jsonl").write_text('{"id": "a", "prompt": "Capital of Peru?", "reference": "Lima"}\n')
    with start_emulator(time_scale=0, models=["Llama-3.3-70B-Instruct"], key=FAKE_KEY) as emu:
        d = Deployment(name="mem", model="Llama-3.3-70B-Instruct", endpoint=emu.deployment_url("Llama-3.3-70B-Instruct"), key=FAKE_KEY)
        summary = run_evaluation([d], load_prompt_set(tmp_path / "p.jsonl"), tmp_path / "run", RunParams(), progress="none")
    assert summary.status == "completed"
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert files and not any(FAKE_KEY.encode() in p.read_bytes() for p in files)
    assert '"status":"ok"' in (tmp_path / "run" / "results.jsonl").read_text().replace(" ", "")


PROVISIONED = """
deployments:
  - name: llama33-ptu
    model: Llama-3.3-70B-Instruct
    kind: provisioned
    endpoint: https://my-resource.services.ai.azure.com/models
    key_env: LLAMA33_KEY
    deployment_name: llama33-ptu
    ptu: {ptu}
"""


def test_a_provisioned_deployment_loads_with_its_ptus(tmp_path):
    (d,) = load_deployments(write(tmp_path, PROVISIONED.format(ptu=200)))
    assert (d.kind, d.ptu, d.compute, d.effective_quota()) == ("provisioned", 200, None, None), "a PTU deployment has no token quota"


@pytest.mark.parametrize(
    "ptu, message",
    [
        (150, "line 8: 'ptu: 150' — Llama-3.3-70B-Instruct is sold in steps of 100 PTU from 100; use 100 or 200"),
        (50, "line 8: 'ptu: 50' — Llama-3.3-70B-Instruct is sold in steps of 100 PTU from 100; use 100"),
        ("lots", "line 8: deployment 'llama33-ptu': ptu must be a whole number of provisioned throughput units, e.g. ptu: 100"),
        (0, "line 8: deployment 'llama33-ptu': ptu must be a whole number of provisioned throughput units"),
    ],
)
def test_a_ptu_count_azure_does_not_sell_names_the_line_and_the_sizes_to_use(tmp_path, ptu, message):
    with pytest.raises(ConfigError) as err:
        load_deployments(write(tmp_path, PROVISIONED.format(ptu=ptu)))
    assert "deployments.yaml " + message in str(err.value)


def test_provisioned_needs_ptu_and_ptu_needs_provisioned(tmp_path):
    without = PROVISIONED.replace("    ptu: {ptu}\n", "")
    with pytest.raises(ConfigError, match="kind: provisioned needs 'ptu: N'"):
        load_deployments(write(tmp_path, without))
    serverless = PROVISIONED.format(ptu=100).replace("kind: provisioned", "kind: serverless")
    with pytest.raises(ConfigError, match="'ptu' applies to kind: provisioned only"):
        load_deployments(write(tmp_path, serverless))
    other_model = PROVISIONED.format(ptu=100).replace("Llama-3.3-70B-Instruct", "Meta-Llama-3.1-8B-Instruct")
    with pytest.raises(ConfigError, match="line 4: deployment .llama33-ptu.: Meta-Llama-3.1-8B-Instruct is not offered as provisioned"):
        load_deployments(write(tmp_path, other_model))
    with_compute = PROVISIONED.format(ptu=100) + "    compute: {sku: Standard_NC24ads_A100_v4}\n"
    with pytest.raises(ConfigError, match="billed per PTU-hour"):
        load_deployments(write(tmp_path, with_compute))
