"""``start_emulator()`` with its default models warns of each retired serverless offer it serves as serverless (issue 29).

The defaults (``config.DEFAULT_MODELS``) include Meta-Llama-3.1-8B and 3.1-405B, both retired on serverless on
2026-06-13: the emulator still serves them as serverless (the Azure docs' walkthrough), and says so in the loader's
words (``lifecycle_note``), as ``load_deployments`` does for a deployments file.
"""

from __future__ import annotations

import pytest

from llama_eval import clock
from llama_eval.catalog.models import load_catalog
from llama_eval.deployments.loader import lifecycle_note
from llama_eval.emulator import start_emulator
from llama_eval.emulator.config import DEFAULT_MODELS
from llama_eval.errors import LifecycleWarning


def test_start_emulator_with_default_models_warns_of_each_retired_serverless_offer():
    with pytest.warns(LifecycleWarning) as caught:
        emu = start_emulator(time_scale=0)
    with emu:
        served = set(emu.emulator.deployments)
    assert served == set(DEFAULT_MODELS)
    messages = [str(w.message) for w in caught if issubclass(w.category, LifecycleWarning)]
    catalog = load_catalog()
    for model_id in ("Meta-Llama-3.1-8B-Instruct", "Meta-Llama-3.1-405B-Instruct"):
        note = lifecycle_note(catalog.get(model_id), "serverless", catalog, clock.today())
        assert sum(note in m and f"'{model_id}'" in m for m in messages) == 1, (model_id, messages)
    assert not any("Llama-3.3-70B-Instruct'" in m for m in messages), "a live serverless offer says nothing"
