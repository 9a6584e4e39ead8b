"""Where llama-eval finds its bundled files, and where a notebook finds the user's.

The catalog, price tables, bundled prompt sets (with their images) and the notebooks ship inside the
package as ``llama_eval.data`` and ``llama_eval.notebooks`` (the repository's top-level ``data/`` and
``notebooks/`` folders, mapped into the wheel by ``pyproject.toml``), so an installed llama-eval
works from any folder and nothing reads paths relative to a checkout. ``LLAMA_EVAL_DATA`` points
the data elsewhere, e.g. at a copy holding a team's own price overrides.

``resolve_path`` lets a notebook name ``runs/demo`` or ``data/prompts/quickstart.jsonl`` and find it
the same from the repository root, from ``notebooks/`` and from a folder made by
``llama-eval notebooks DIR``; ``resolve_output`` places a new ``runs/NAME`` by the same rule, and
``check_run_dir`` / ``check_run_succeeded`` say plainly when a run directory is missing or holds no
successful request.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

from .errors import LlamaEvalError, PathNotFoundError, RunDirNotFoundError
from .records import ANSWERED

DATA_ENV = "LLAMA_EVAL_DATA"
# how far up from the working folder resolve_path looks: notebooks/ -> repository root, DIR/ -> project
SEARCH_LEVELS = 2


def _package_dir(package: str) -> Path:
    return Path(str(resources.files(package)))


def data_dir() -> Path:
    """The folder holding models.yaml, prices.csv, compute_prices.csv, the deployments examples and prompts/."""
    override = os.environ.get(DATA_ENV)
    return Path(override) if override else _package_dir("llama_eval.data")


def notebooks_dir() -> Path:
    """The bundled notebooks (00_quickstart ... 50_summary), as shipped in the package."""
    return _package_dir("llama_eval.notebooks")


def bundled_notebooks() -> list[Path]:
    return sorted(notebooks_dir().glob("*.ipynb"))


def copy_notebooks(destination: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Copy the bundled notebooks into ``destination`` (created if missing), for JupyterLab; returns the copies.

    Refuses, naming them, to replace notebooks already there unless ``overwrite``: they may hold a user's edits.
    """
    destination = Path(destination)
    if destination.exists() and not destination.is_dir():
        raise LlamaEvalError(f"{destination} exists and is not a folder; name a folder for the notebooks")
    sources = bundled_notebooks()
    clashes = [destination / s.name for s in sources if (destination / s.name).exists()]
    if clashes and not overwrite:
        raise LlamaEvalError(f"{', '.join(str(c) for c in clashes)} already exist(s); pass --force to replace them (your edits would be lost)")
    destination.mkdir(parents=True, exist_ok=True)
    copies = []
    for source in sources:
        target = destination / source.name
        shutil.copyfile(source, target)
        copies.append(target)
    return copies


def resolve_path(path: str | Path, *, what: str = "file", base: str | Path | None = None) -> Path:
    """Find ``path`` as a user means it, wherever the notebook runs; raise PathNotFoundError if nowhere.

    Looked for, in order: as given (absolute, or relative to ``base``, default the working folder);
    relative to each of the ``SEARCH_LEVELS`` folders above (so ``runs/demo`` is found from
    ``notebooks/`` and from a ``llama-eval notebooks DIR`` folder inside the project); and for a path
    starting with ``data/``, in the bundled data (so ``data/prompts/quickstart.jsonl`` works from an
    installed package too). Returns an absolute path.
    """
    given = Path(path).expanduser()
    start = Path(base).resolve() if base is not None else Path.cwd()
    if given.is_absolute():
        if given.exists():
            return given
        raise PathNotFoundError(f"{what} not found: {given}")
    tried = [start / given]
    tried += [parent / given for parent in list(start.parents)[:SEARCH_LEVELS]]
    if given.parts and given.parts[0] == "data":
        tried.append(data_dir().joinpath(*given.parts[1:]))
    for candidate in tried:
        if candidate.exists():
            return candidate.resolve()
    looked = ", ".join(str(t) for t in tried)
    raise PathNotFoundError(f"{what} not found: {path} (looked in {looked})")


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


def resolve_output(path: str | Path, *, base: str | Path | None = None) -> Path:
    """Where a folder to be written (``runs/notebook``) goes, by the rule ``resolve_path`` reads with.

    An existing one is found as ``resolve_path`` finds it (so ``resume`` works from anywhere). A new one
    goes beside the first existing folder of its first component (``runs/``) in the working folder or
    the ``SEARCH_LEVELS`` above it; else under the working folder. Returns an absolute path.
    """
    given = Path(path).expanduser()
    if given.is_absolute():
        return given
    try:
        return resolve_path(given, base=base)
    except PathNotFoundError:
        pass
    start = Path(base).resolve() if base is not None else Path.cwd()
    if len(given.parts) > 1:
        for folder in [start, *list(start.parents)[:SEARCH_LEVELS]]:
            if (folder / given.parts[0]).is_dir():
                return folder / given
    return start / given


SUCCEEDED = ANSWERED  # the endpoint answered (a length stop is an answer cut at max_tokens; an incomplete one is not)


def check_run_succeeded(run_dir: str | Path) -> int:
    """The number of requests that got an answer; NoSuccessfulRequestsError, with the reasons, if none did.

    A scheduled notebook must fail loudly (papermill exits non-zero) when every request failed, say
    because the endpoint was not reachable, instead of leaving a report of nothing.
    """
    from collections import Counter

    from .errors import NoSuccessfulRequestsError
    from .results import read_manifest, read_rows

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
