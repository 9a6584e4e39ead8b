"""Where the run store lives: a local folder or an fsspec URL, and the rule that picks it.

The rule, first match wins:

1. the ``store`` argument (``--store PATH_OR_URL`` on the command line);
2. the ``LLAMA_EVAL_STORE`` environment variable;
3. ``.store`` in the folder that holds the run directory (``runs/2026-09-01-nightly`` -> ``runs/.store``);
   for ``history``, which names no run, ``runs/.store`` under the current directory.

``off`` (or ``none``) in 1 or 2 turns the store off: a run then writes only its run directory.
A URL (``abfs://container/path``, ``az://...``, ``s3://...``, ``file:///...``) goes through fsspec;
Azure Blob Storage and ADLS Gen2 need the ``[azure-store]`` extra (adlfs) and take their
credentials as adlfs does: ``storage_options`` here, or the ``AZURE_STORAGE_CONNECTION_STRING`` /
``AZURE_STORAGE_ACCOUNT_NAME`` environment variables. Nothing here logs or returns a secret:
``StoreLocation.display`` is the URL without its user info or query string.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llama_eval.errors import StoreError

ENV = "LLAMA_EVAL_STORE"
DEFAULT_NAME = ".store"
OFF = ("off", "none")

__all__ = ["DEFAULT_NAME", "ENV", "StoreLocation", "resolve_store"]

# the package an fsspec protocol needs, and the extra that installs it
_PROTOCOL_PACKAGES = {"abfs": ("adlfs", "azure-store"), "abfss": ("adlfs", "azure-store"), "az": ("adlfs", "azure-store"), "s3": ("s3fs", None),
                      "gs": ("gcsfs", None), "gcs": ("gcsfs", None)}  # fmt: skip


@dataclass(frozen=True)
class StoreLocation:
    """A resolved store: ``root`` on the filesystem ``fs`` (an fsspec filesystem); ``local`` for a folder on this machine."""

    root: str
    fs: Any = field(repr=False)
    local: bool
    display: str
    source: str  # "argument", "LLAMA_EVAL_STORE" or "beside the runs"

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])


def _redact(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _filesystem(url: str, storage_options: dict[str, Any] | None) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise StoreError(f"the run store {_redact(url)} is a URL, which needs fsspec: pip install fsspec") from None
    protocol = urlsplit(url).scheme
    package, extra = _PROTOCOL_PACKAGES.get(protocol, (None, None))
    try:
        fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    except (ImportError, ValueError) as exc:
        how = f"pip install 'llama-eval[{extra}]'" if extra else f"pip install {package}" if package else "a protocol fsspec knows"
        raise StoreError(f"cannot open the run store {_redact(url)}: {exc.__class__.__name__}: {str(exc)[:200]}; it needs {how}") from None
    return fs, root


def resolve_store(store: str | os.PathLike[str] | None = None, *, beside: str | Path | None = None,
                  storage_options: dict[str, Any] | None = None) -> StoreLocation | None:  # fmt: skip
    """The store by the rule of the module docstring; None when it is turned off.

    ``beside``: the run directory whose parent holds the default store (None: ``./runs``).
    """
    source = "argument"
    if store is None or str(store) == "":
        store, source = os.environ.get(ENV) or None, ENV
    if store is None:
        base = Path(beside).resolve().parent if beside is not None else Path("runs").resolve()
        store, source = base / DEFAULT_NAME, "beside the runs"
    text = str(store)
    if text.strip().lower() in OFF:
        return None
    if "://" in text and not text.startswith("file://"):
        fs, root = _filesystem(text, storage_options)
        return StoreLocation(root=root, fs=fs, local=False, display=_redact(text), source=source)
    from fsspec.implementations.local import LocalFileSystem

    path = Path(text.removeprefix("file://")).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise StoreError(f"the run store {path} is a file, not a folder; give a folder (--store or {ENV})")
    return StoreLocation(root=str(path), fs=LocalFileSystem(), local=True, display=str(path), source=source)
