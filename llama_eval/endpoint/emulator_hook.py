"""What a run does when its probe meets the llama-eval emulator, without the runner importing the emulator.

The runner (``llama_eval.run``) and the emulator (``llama_eval.emulator``) never import each other
(.importlinter). A run whose probe saw the emulator's marker header (``wire.EMULATOR_HEADER``) calls
its ``on_emulator`` hook once per emulator origin; ``llama_eval.emulator.teach_emulator`` is the hook
that teaches it the run's prompts, so its answers to them can be scored. Callers that may meet the
emulator pass it (``llama-eval run``, ``llama-eval demo``); as a default, the emulator package
registers it here when it is imported, so a process that started one (``start_emulator``,
``spawn_emulator``) teaches it without saying so, as before. A real service never sends the header.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class EmulatorHook(Protocol):
    """Called with the emulator's origin (``http://host:port``) and the run's prompts; returns how many prompts it learned.

    ``key`` is the deployment's key (None for Entra ID auth); an ``EndpointError`` it raises is announced by the run, not raised.
    """

    def __call__(self, endpoint: str, prompt_set: Iterable[Any], *, key: str | None, timeout_s: float) -> int: ...


_registered: EmulatorHook | None = None


def register_emulator_hook(hook: EmulatorHook | None) -> None:
    """Make ``hook`` the default ``on_emulator`` of every run in this process (``llama_eval.emulator`` registers ``teach_emulator``)."""
    global _registered
    _registered = hook


def emulator_hook() -> EmulatorHook | None:
    """The hook registered in this process, or None when nothing imported the emulator."""
    return _registered
