from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakeserver import RecordingServer
from llama_eval.config import Deployment

FAKE_KEY = "LLAMAEVAL-FAKE-KEY-0123456789abcdef"  # recognisable, so leak tests can grep for it
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def recording_server():
    server = RecordingServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(recording_server):
    recording_server.reset()
    yield recording_server
    recording_server.reset()


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("LLAMA_TEST_KEY", FAKE_KEY)
    return "LLAMA_TEST_KEY"


@pytest.fixture(params=["azure-ai-inference", "openai-v1"])
def api(request):
    """Run a test once per transport: both must behave the same."""
    return request.param


@pytest.fixture
def deployment(server, key_env, api):
    return Deployment(
        name="llama405",
        model="Meta-Llama-3.1-405B-Instruct",
        kind="managed",  # managed: no lifecycle warning for a serverless offer that has retired
        endpoint=server.url,
        auth="key",
        key_env=key_env,
        api=api,
    )


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("AZURE_INFERENCE_", "LLAMA_EVAL_MODEL")):
            monkeypatch.delenv(name)
    return monkeypatch


# Whole modules that are slow by nature (papermill + headless Chromium, emulator fuzzing); their
# owners' files stay untouched. Single slow tests carry @pytest.mark.slow where they are defined.
SLOW_MODULES = ("test_report.py", "test_emulator_fuzz.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_MODULES or item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
