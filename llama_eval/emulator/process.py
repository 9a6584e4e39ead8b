"""Run ``llama-eval emulator`` as a separate process, for measurements a same-process server would skew.

A server in a thread of the measuring process competes with it for the GIL; timing tests and
benchmarks start the emulator in its own process instead and read its URL and key from the banner.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class EmulatorProcess:
    url: str
    key: str
    pid: int


@contextmanager
def spawn_emulator(*args: str, timeout_s: float = 60.0) -> Iterator[EmulatorProcess]:
    """Start ``llama-eval emulator --port 0 ARGS`` and stop it (SIGINT, then kill) when the block ends."""
    command = [sys.executable, "-m", "llama_eval.cli", "emulator", "--port", "0", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = key = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("listening "):
                url = line.split()[1]
            elif line.startswith("key "):
                key = line.split()[1]
            if url and key:
                break
        if not (url and key):
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"the emulator did not start: {err[-2000:]}")
        yield EmulatorProcess(url, key, proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
