"""The run directory: its lock, its manifest and fingerprint, what is already done, and where rows go.

A directory holds one run. ``RunLock`` keeps a second process out (a lock left by a killed run is
taken over); the manifest records everything needed to read the results later and to refuse a
``--resume`` whose deployments, prompt set or parameters changed; rows go through
``results.ResultsWriter`` (written and flushed as each request finishes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llama_eval.deployments.loader import comparable_record
from llama_eval.deployments.model import Deployment
from llama_eval.errors import RunError
from llama_eval.rundir.store import final_rows, read_manifest, read_rows, row_key, write_manifest

log = logging.getLogger("llama_eval.run")
LOCK = "run.lock"

__all__ = ["LOCK", "RunLock", "check_output_dir", "deployment_record", "deployments_changed", "done_keys", "manifest", "redact_url", "row_key",
           "write_manifest"]  # fmt: skip


def redact_url(url: str) -> str:
    """An endpoint URL without user info or query string (where keys hide)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "", parts.path, "", ""))


def deployment_record(d: Deployment) -> dict[str, Any]:
    """A deployment as the manifest stores it: everything but secrets (a key's env var *name* is kept)."""
    record = {k: v for k, v in asdict(d).items() if k not in ("source", "headers", "endpoint", "key")}
    record["endpoint"] = redact_url(d.endpoint) if d.endpoint else None
    record["header_names"] = sorted(d.headers)
    return record


def check_output_dir(run_dir: Path, expected_rows: int) -> None:
    """The directory can be written and has room for the results, or a RunError says what to do."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-probe"
        probe.write_bytes(b"x" * 1024)
        probe.unlink()
    except OSError as exc:
        raise RunError(f"cannot write to the output directory {run_dir}: {exc.strerror or exc}; choose another with -o") from None
    need = 4096 * expected_rows + 10 * 2**20  # a row is ~1-4 KB; keep 10 MB spare
    free = shutil.disk_usage(run_dir).free
    if free < need:
        raise RunError(f"only {free / 2**20:.1f} MB free at {run_dir}; this run needs about {need / 2**20:.1f} MB for its results")


class RunLock:
    """``with RunLock(run_dir):`` — one run per directory; the holder's pid is in ``run.lock``."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / LOCK

    def __enter__(self) -> RunLock:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pid = self._holder()
            if pid and pid != os.getpid() and _alive(pid):
                raise RunError(f"{self.path.parent} is in use by another llama-eval run (pid {pid}); wait for it or use another directory") from None
            log.warning("taking over a stale lock in %s (pid %s is gone)", self.path.parent, pid)
            self.path.unlink(missing_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.path.unlink(missing_ok=True)

    def _holder(self) -> int:
        try:
            return int(self.path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _difference(before: Any, now: Any) -> str:
    if isinstance(before, dict) and isinstance(now, dict):
        keys = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        return "; ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in keys[:3])
    if isinstance(before, list) and isinstance(now, list) and len(before) == len(now):
        return "; ".join(_difference(b, n) for b, n in zip(before, now, strict=True) if b != n)
    return f"{str(before)[:120]!r} -> {str(now)[:120]!r}"


def done_keys(run_dir: Path, fingerprint: dict[str, Any], resume: bool) -> set[str]:
    """Row keys already final in ``run_dir``; refuses a new run on an old directory and a changed resume."""
    previous = read_manifest(run_dir)
    has_results = (run_dir / "results.jsonl").exists()
    if not resume:
        if previous is not None or has_results:
            raise RunError(f"{run_dir} already holds a run; pass --resume to continue it, or choose a new directory")
        return set()
    if previous is None:
        if has_results:
            raise RunError(f"{run_dir} has results but no manifest.json; it was not made by llama-eval run")
        return set()
    before = previous.get("fingerprint", {})
    for key in ("prompt_set_sha256", "params"):
        if before.get(key) != fingerprint[key]:
            change = _difference(before.get(key), fingerprint[key])
            raise RunError(f"cannot resume {run_dir}: the {key.replace('_', ' ')} changed since the run started ({change}); start a new run directory")
    change = deployments_changed(before.get("deployments") or [], fingerprint["deployments"])
    if change:
        raise RunError(f"cannot resume {run_dir}: the deployments changed since the run started ({change}); start a new run directory")
    return set(final_rows(read_rows(run_dir, repair=True)))


def deployments_changed(before: list[dict[str, Any]], now: list[dict[str, Any]]) -> str:
    """What differs between the deployments a run started with and those of a resume ("" when nothing does).

    Compared by value, each record read back through the typed loader (``config.comparable_record``):
    the manifest holds JSON, the resumed command Python values, and a GPU-hour rate of '4.0' in one
    is Decimal('4.0') in the other. By name, so the order of the deployments file does not matter
    (a row's key names its deployment).
    """
    old = {r.get("name"): comparable_record(r) for r in before}
    new = {r.get("name"): comparable_record(r) for r in now}
    changes = [f"deployment {name!r} added" for name in new if name not in old]
    changes += [f"deployment {name!r} removed" for name in old if name not in new]
    changes += [f"{name}: {_difference(old[name], new[name])}" for name in new if name in old and old[name] != new[name]]
    return "; ".join(changes)


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def item_digest(item: Any) -> str:
    """A digest of what decides a prompt's answer and score (messages, reference, scorer and its options): same id, other digest = a changed prompt."""
    content = {"messages": item.messages, "reference": item.reference, "scorer": item.scorer, "scorer_options": item.scorer_options}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()[:16]


def item_digests(prompts: Any) -> dict[str, str]:
    """``item_digest`` per prompt id, as the manifest records them (``llama-eval compare`` matches prompts by id and digest)."""
    return {item.id: item_digest(item) for item in prompts}


def manifest(
    run_dir: Path, *, fingerprint: dict[str, Any], prompts: Any, prices: Any, catalog: Any, params: dict[str, Any], estimates: dict[str, Any], now: str
) -> dict[str, Any]:
    """The manifest at the start of a session (a resumed run keeps its id, creation time and session count)."""
    previous = read_manifest(run_dir) or {}
    return {
        "run_id": previous.get("run_id") or run_dir.name,
        "status": "running",
        "created_at": previous.get("created_at") or now,
        "started_at": now,
        "sessions": int(previous.get("sessions", 0)) + 1,
        "fingerprint": fingerprint,
        "prompt_set": {"path": str(prompts.path), "sha256": prompts.sha256, "items": len(prompts), "item_digests": item_digests(prompts)}
        | ({"recipe": prompts.recipe} if getattr(prompts, "recipe", None) else {}),  # a `llama-eval synth` set's shape, for sweeps and reports
        "prices": {"digest": prices.digest, "tables": [str(p) for p in prices.sources]},
        "catalog": {"path": str(catalog.path), "as_of": str(catalog.as_of)},
        "params": params,
        "estimates": estimates,
        "deployments": previous.get("deployments", {}),
        "versions": {
            "llama-eval": _version("llama-eval"),
            "azure-ai-inference": _version("azure-ai-inference"),
            "openai": _version("openai"),
            "aiohttp": _version("aiohttp"),
            "python": platform.python_version(),
        },
    }
