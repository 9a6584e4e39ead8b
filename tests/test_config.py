"""Deployments files and the environment shortcut: good input loads, bad input names file, line, field."""

from __future__ import annotations

import textwrap
import warnings
from datetime import date

import pytest

from conftest import FAKE_KEY
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
        ("    model: Llama-3.3-70B-Instruct\n    compute: {sku: Standard_NC24ads_A100_v4}\n", r"'compute' applies to kind: managed only"),
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
