"""Finding a run directory a user names, and saying plainly when it is missing or holds no successful request."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from llama_eval.errors import NoSuccessfulRequestsError, PathNotFoundError, RunDirNotFoundError
from llama_eval.paths import resolve_path
from llama_eval.records import ANSWERED

from .store import read_manifest, read_rows


def check_run_dir(run_dir: str | Path, *, resolve: bool = False) -> Path:
    """``run_dir`` if it holds a run's results; else RunDirNotFoundError ("run directory not found: ...").

    Every command and notebook that reads a run calls this first, so a mistyped name fails loudly
    instead of printing an empty table. ``resolve`` also looks where ``resolve_path`` looks.
    """
    try:
        path = resolve_path(run_dir, what="run directory") if resolve else Path(run_dir)
    except PathNotFoundError as exc:
        raise RunDirNotFoundError(str(exc)) from None
    if not path.is_dir():
        raise RunDirNotFoundError(f"run directory not found: {run_dir}")
    if not (path / "results.jsonl").is_file():
        raise RunDirNotFoundError(f"run directory not found: {run_dir} holds no results.jsonl (is it the folder `llama-eval run -o` wrote?)")
    return path


SUCCEEDED = ANSWERED  # the endpoint answered (a length stop is an answer cut at max_tokens; an incomplete one is not)


def check_run_succeeded(run_dir: str | Path) -> int:
    """The number of requests that got an answer; NoSuccessfulRequestsError, with the reasons, if none did.

    A scheduled notebook must fail loudly (papermill exits non-zero) when every request failed, say
    because the endpoint was not reachable, instead of leaving a report of nothing.
    """
    path = check_run_dir(run_dir)
    rows = read_rows(path)
    succeeded = sum(1 for r in rows if r.get("status") in SUCCEEDED)
    if succeeded:
        return succeeded
    reasons = Counter((r.get("deployment"), r.get("status"), (r.get("error_message") or "")[:200]) for r in rows)
    listed = [f"{d}: {n} x {status}{f' ({message})' if message else ''}" for (d, status, message), n in reasons.most_common(5)]
    stopped = ((read_manifest(path) or {}).get("summary") or {}).get("stopped_deployments") or {}
    listed += [f"{name} stopped: {why}" for name, why in stopped.items()]
    said = " ".join(listed).lower()
    hint = ""
    if any(status in ("connection_error", "timeout") for _, status, _ in reasons) or "connect" in said or "unreachable" in said:
        hint = " Is the endpoint reachable? For the emulator: start `llama-eval emulator` first, with the port and key the deployments file names."
    elif any(status == "auth_error" for _, status, _ in reasons) or "401" in said or "403" in said:
        hint = " The key was refused: check the env var named by key_env."
    elif any(status == "incomplete" for _, status, _ in reasons):
        hint = (" The server ended the answers without a finish_reason (status incomplete): llama.cpp's server does so to a running "
                "stream when another request arrives, unless started with --interrupt_requests False.")  # fmt: skip
    raise NoSuccessfulRequestsError(f"no request succeeded in {run_dir}: {'; '.join(listed) or 'no rows'}.{hint}")
