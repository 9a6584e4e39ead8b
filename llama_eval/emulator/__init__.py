"""A local emulator of Azure AI Foundry Llama endpoints: faithful wire behaviour, simulated text.

In the tradition of Azurite and LocalStack: code that works against it works against Azure, and
nothing needs a key or a network. ``start_emulator()`` runs one in-process for tests and notebooks
(``emu.stop()`` ends it, or use it as a ``with`` block); ``llama-eval emulator`` runs one from the
shell; ``teach_emulator(endpoint, prompt_set)`` teaches a running one the references of your prompts.
"""

from llama_eval.endpoint.emulator_hook import register_emulator_hook
from llama_eval.errors import UnknownPromptWarning

from .app import Emulator, RunningEmulator, serve_forever, start_emulator
from .config import (
    DEFAULT_MODELS,
    FINGERPRINT,
    KINDS,
    MARKER_HEADER,
    PROVIDER,
    TIME_SCALE_HEADER,
    EmulatedDeployment,
    EmulatorConfig,
    specs_from_deployments,
)
from .latency import LatencyProfile, fixed_profile, profile_for
from .teach import teach_emulator

# the default on_emulator hook of every run in this process: a run that meets an emulator teaches it its prompts
register_emulator_hook(teach_emulator)

__all__ = [
    "DEFAULT_MODELS",
    "FINGERPRINT",
    "KINDS",
    "MARKER_HEADER",
    "PROVIDER",
    "TIME_SCALE_HEADER",
    "EmulatedDeployment",
    "Emulator",
    "EmulatorConfig",
    "LatencyProfile",
    "RunningEmulator",
    "UnknownPromptWarning",
    "fixed_profile",
    "profile_for",
    "serve_forever",
    "specs_from_deployments",
    "start_emulator",
    "teach_emulator",
]
