"""``--resume`` after a failed first attempt, for each deployment kind, against the emulator over real HTTP (issue 28).

A run with a wrong key stops every deployment at its probe (exit 3, "left for --resume"); with
the key fixed, ``--resume`` must continue it. It used to be refused for any file with a
self-hosted ``compute:`` entry: the manifest holds JSON ('usd_per_hour': '4.0'), the resumed
command Python values (Decimal('4.0')), and the two were compared as they were. Resume now
compares the deployments by value, through the typed loader: the GPU-hour rate spelt 4 or 4.0,
keys in another order, defaults written out or left out, and a manifest that lacks a field an
older version did not record are all "nothing changed"; a real change is still refused, named.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from llama_eval.cli import main
from llama_eval.deployments.loader import comparable_record
from llama_eval.emulator import Emulator, EmulatorConfig
from llama_eval.emulator.deployments_file import read_deployments_file
from llama_eval.paths import data_dir
from llama_eval.run.output import deployment_record, deployments_changed
from llama_eval.rundir.store import final_rows, read_manifest, read_rows

KEY_ENV = "LLAMA_EVAL_EMULATOR_KEY"
PROMPTS = data_dir() / "prompts" / "quickstart.jsonl"

# One deployment of each kind, served by the emulator at the paths of data/deployments.emulator.yaml;
# each with the typed part that the manifest turns into JSON: a quota, a VM SKU, a GPU-hour rate.
# (what the first attempt's file says, an equivalent spelling for the resume, a real change)
KINDS = {
    "serverless": (
        "  - name: llama33-70b\n    model: Llama-3.3-70B-Instruct\n    kind: serverless\n    endpoint: {url}/Llama-3.3-70B-Instruct\n"
        "    key_env: LLAMA_EVAL_EMULATOR_KEY\n    quota: {{tpm: 2000000, rpm: 2000}}\n",
        "  - kind: serverless\n    name: llama33-70b\n    key_env: LLAMA_EVAL_EMULATOR_KEY\n    endpoint: {url}/Llama-3.3-70B-Instruct\n"
        "    model: Llama-3.3-70B-Instruct\n    api: azure-ai-inference\n    auth: key\n    quota: {{rpm: 2000, tpm: 2000000}}\n",
        ("rpm: 2000", "rpm: 1000"),
    ),
    "managed": (
        "  - name: llama31-8b\n    model: Meta-Llama-3.1-8B-Instruct\n    kind: managed\n    endpoint: {url}/Meta-Llama-3.1-8B-Instruct\n"
        "    key_env: LLAMA_EVAL_EMULATOR_KEY\n    compute: {{sku: Standard_NC24ads_A100_v4, instances: 2}}\n",
        "  - name: llama31-8b\n    model: Meta-Llama-3.1-8B-Instruct\n    kind: managed\n    endpoint: {url}/Meta-Llama-3.1-8B-Instruct\n"
        "    key_env: LLAMA_EVAL_EMULATOR_KEY\n    compute: {{instances: 2, region: eastus, hours_per_day: 24, sku: Standard_NC24ads_A100_v4}}\n",
        ("instances: 2", "instances: 3"),
    ),
    "self-hosted": (
        "  - name: llama31-8b-vllm\n    model: Meta-Llama-3.1-8B-Instruct\n    kind: self-hosted\n    endpoint: {url}/v1\n"
        "    deployment_name: meta-llama/Llama-3.1-8B-Instruct\n    key_env: LLAMA_EVAL_EMULATOR_KEY\n"
        "    compute: {{gpu: H100, count: 1, usd_per_hour: 4.0}}\n",
        "  - name: llama31-8b-vllm\n    model: Meta-Llama-3.1-8B-Instruct\n    kind: self-hosted\n    endpoint: {url}/v1\n"
        "    deployment_name: meta-llama/Llama-3.1-8B-Instruct\n    key_env: LLAMA_EVAL_EMULATOR_KEY\n"
        "    compute: {{usd_per_hour: 4, count: 1, gpu: H100, instances: 1}}\n",
        ("usd_per_hour: 4,", "usd_per_hour: 4.5,"),
    ),
}


@pytest.fixture(scope="module")
def emulator():
    """The walkthrough's emulator: the deployments of data/deployments.emulator.yaml, no delays."""
    with Emulator(EmulatorConfig(deployments=read_deployments_file(data_dir() / "deployments.emulator.yaml"), time_scale=0)).start() as running:
        yield running


def _write(path, entry: str, url: str):
    path.write_text("deployments:\n" + entry.format(url=url))
    return path


@pytest.mark.parametrize("kind", list(KINDS))
def test_resume_after_a_wrong_key_continues_each_kind(kind, emulator, tmp_path, monkeypatch, capsys):
    first, equivalent, (same, changed) = KINDS[kind]
    config = _write(tmp_path / "deployments.yaml", first, emulator.url)
    run_dir = tmp_path / "r"
    command = ["run", "-d", str(config), "-p", str(PROMPTS), "-o", str(run_dir), "--progress", "none"]

    monkeypatch.setenv(KEY_ENV, "not-the-key")
    assert main(command) == 3
    assert "left for --resume" in capsys.readouterr().err
    assert final_rows(read_rows(run_dir)) == {} and read_manifest(run_dir)["status"] == "incomplete"
    recorded = read_manifest(run_dir)["fingerprint"]["deployments"]
    assert kind != "self-hosted" or recorded[0]["compute"]["usd_per_hour"] == "4.0", "the manifest holds JSON: the rate as text"

    # the key fixed, the file written another way that means the same: resumed, and completed
    monkeypatch.setenv(KEY_ENV, emulator.key)
    _write(config, equivalent, emulator.url)
    assert main([*command, "--resume"]) == 0, capsys.readouterr().err
    rows = final_rows(read_rows(run_dir))
    assert len(rows) == 10 and {r["status"] for r in rows.values()} == {"ok"}
    assert read_manifest(run_dir)["sessions"] == 2
    capsys.readouterr()

    # a real change is still refused, and named
    assert equivalent.count(same) == 1
    _write(config, equivalent.replace(same, changed), emulator.url)
    assert main([*command, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "the deployments changed" in err and changed.split(":")[0] in err, err


def test_an_older_manifest_without_a_field_resumes_with_its_default(emulator, tmp_path, monkeypatch, capsys):
    """A field this version records and an older one did not (left out of the manifest) takes its default, as a fresh load would."""
    first, _, _ = KINDS["self-hosted"]
    config = _write(tmp_path / "deployments.yaml", first, emulator.url)
    run_dir = tmp_path / "r"
    command = ["run", "-d", str(config), "-p", str(PROMPTS), "-o", str(run_dir), "--progress", "none"]
    monkeypatch.setenv(KEY_ENV, "not-the-key")
    assert main(command) == 3
    manifest = json.loads((run_dir / "manifest.json").read_text())
    record = manifest["fingerprint"]["deployments"][0]
    for name in ("api_version", "credential_scope", "quota_pool"):
        assert record.pop(name) is None
    del record["compute"]["hours_per_day"], record["compute"]["region"]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv(KEY_ENV, emulator.key)
    assert main([*command, "--resume"]) == 0, capsys.readouterr().err
    assert len(final_rows(read_rows(run_dir))) == 10


def test_records_compare_by_value():
    from llama_eval.catalog.models import Quota
    from llama_eval.deployments.model import Compute, Deployment

    d = Deployment(name="gpu", model="Meta-Llama-3.1-8B-Instruct", kind="self-hosted", endpoint="http://127.0.0.1:9/v1",
                   compute=Compute(gpu="H100", usd_per_hour=Decimal("4.0")), quota=Quota(rpm=60, source="catalog"))  # fmt: skip
    live = deployment_record(d)
    stored = json.loads(json.dumps(live, default=str))  # as manifest.json holds it
    assert stored != live, "the bug: JSON text against Decimal"
    assert comparable_record(stored) == comparable_record(live)
    assert deployments_changed([stored], [live]) == ""
    dearer = json.loads(json.dumps(deployment_record(Deployment(**{**d.__dict__, "compute": Compute(gpu="H100", usd_per_hour=Decimal("4.01"))})), default=str))
    assert "usd_per_hour" in deployments_changed([stored], [dearer])
    other = json.loads(json.dumps(deployment_record(Deployment(**{**d.__dict__, "name": "other"})), default=str))
    assert deployments_changed([stored], [stored, other]) == "deployment 'other' added"
    assert deployments_changed([stored, other], [other, stored]) == "", "the order of the file does not matter"
