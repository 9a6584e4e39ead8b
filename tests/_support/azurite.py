"""Azurite, Microsoft's Azure Storage emulator (npm), started on a free port of 127.0.0.1 for the run store's Blob tests and benchmark.

``azurite_binary()`` finds ``azurite-blob``: ``LLAMA_EVAL_AZURITE``, the PATH, or ``make azurite``'s
~/.cache/llama-eval/azurite. ``running_azurite(data_dir)`` starts it and yields the connection
string of Azurite's development account; the account key is Azurite's published development key
(devstoreaccount1), not a secret.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="  # Azurite's well-known dev key
INSTALL_HINT = "`make azurite` (npm install azurite into ~/.cache/llama-eval/azurite) or set LLAMA_EVAL_AZURITE"


def azurite_binary() -> str | None:
    for candidate in (os.environ.get("LLAMA_EVAL_AZURITE"), shutil.which("azurite-blob"),
                      str(Path.home() / ".cache" / "llama-eval" / "azurite" / "node_modules" / ".bin" / "azurite-blob")):  # fmt: skip
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@contextmanager
def running_azurite(data_dir: Path, binary: str | None = None) -> Iterator[str]:
    """Azurite's blob service on a free port, its data in ``data_dir``; yields the connection string; stopped on exit."""
    binary = binary or azurite_binary()
    if binary is None:
        raise FileNotFoundError(f"Azurite is not installed: {INSTALL_HINT}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([binary, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data_dir), "--skipApiVersionCheck", "--silent"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(f"Azurite exited at start: {process.stderr.read().decode()[-500:]}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Azurite did not listen on port {port} within 30 s") from None
                time.sleep(0.1)
        yield (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
               f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=10)
