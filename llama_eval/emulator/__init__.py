"""A local emulator of Azure AI Foundry Llama endpoints: faithful wire behaviour, simulated text.

In the tradition of Azurite and LocalStack: code that works against it works against Azure, and
nothing needs a key or a network. ``start_emulator()`` runs one in-process for tests and notebooks;
``llama-eval emulator`` runs one from the shell.
"""

from .latency import LatencyProfile, fixed_profile, profile_for
from .server import DEFAULT_MODELS, FINGERPRINT, MARKER_HEADER, PROVIDER, Emulator, EmulatorConfig, RunningEmulator, serve_forever, start_emulator

__all__ = [
    "DEFAULT_MODELS",
    "FINGERPRINT",
    "MARKER_HEADER",
    "PROVIDER",
    "Emulator",
    "EmulatorConfig",
    "LatencyProfile",
    "RunningEmulator",
    "fixed_profile",
    "profile_for",
    "serve_forever",
    "start_emulator",
]
