"""Helpers of the ``llama-eval compare`` tests (tests/compare/): a generated prompt set and the CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = [str(Path(sys.executable).parent / "llama-eval")]
MODEL = "Llama-3.3-70B-Instruct"
PROMPTS = 200


def write_prompts(path: Path, n: int = PROMPTS, *, changed: tuple[int, ...] = ()) -> Path:
    """``n`` arithmetic prompts with numeric references (short answers), tagged even/odd; ``changed``: those ids get other content."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            x = i + 1000 if i in changed else i
            f.write(json.dumps({"id": f"q{i}", "prompt": f"What is {x} plus {x + 3}? Answer with the number only.", "reference": str(2 * x + 3),
                                "tags": ["even" if i % 2 == 0 else "odd"], "max_tokens": 16}) + "\n")  # fmt: skip
    return path


def cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``llama-eval ARGS`` in ``cwd``, output captured."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, env=env or os.environ.copy(), timeout=timeout)


def start_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.Popen:
    """``llama-eval ARGS`` started in ``cwd`` and left running (``communicate()`` waits for it), output captured."""
    return subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env or os.environ.copy())
