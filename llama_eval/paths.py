"""Where llama-eval finds its bundled files, and where a notebook finds the user's.

The catalog, price tables, bundled prompt sets (with their images) and the notebooks ship inside the
package as ``llama_eval.data`` and ``llama_eval.notebooks`` (the repository's top-level ``data/`` and
``notebooks/`` folders, mapped into the wheel by ``pyproject.toml``), so an installed llama-eval
works from any folder and nothing reads paths relative to a checkout. ``LLAMA_EVAL_DATA`` points
the data elsewhere, e.g. at a copy holding a team's own price overrides.

The one rule for a relative path a user names (``resolve_path``): looked for in the working folder,
then in each folder above it up to the project root (the first holding ``pyproject.toml`` or ``.git``;
``SEARCH_LEVELS`` folders up when there is none), then, for ``data/...``, in the bundled data; found
nowhere, an error naming every place looked. So a notebook names ``runs/demo`` or
``data/prompts/quickstart.jsonl`` and finds it the same from the repository root, from ``notebooks/``
and from a folder made by ``llama-eval notebooks DIR``; ``resolve_output`` places a new ``runs/NAME``
by the same rule. A path a run *recorded* (its manifest's prompt set, relative to wherever
``llama-eval run`` was started) is resolved by ``resolve_recorded``: first from the run directory and
the folders above it, then by the rule above, never by the reader's working folder alone.
``rundir.locate.check_run_dir`` / ``check_run_succeeded`` say plainly when a run directory is missing
or holds no successful request.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

from .errors import LlamaEvalError, PathNotFoundError

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


PROJECT_MARKERS = ("pyproject.toml", ".git")  # a folder holding one of these is a project root: the search stops there


def search_folders(start: str | Path) -> list[Path]:
    """``start``, then each folder above it up to the project root (the first holding one of ``PROJECT_MARKERS``);
    without a project root above, ``SEARCH_LEVELS`` folders up. The home folder and the filesystem root end the walk."""
    start = Path(start).resolve()
    folders = [start]
    if any((start / m).exists() for m in PROJECT_MARKERS):
        return folders
    home = Path.home().resolve()
    for parent in start.parents:
        folders.append(parent)
        if any((parent / m).exists() for m in PROJECT_MARKERS):
            return folders
        if parent == home:
            break
    return folders[: SEARCH_LEVELS + 1]


def resolve_path(path: str | Path, *, what: str = "file", base: str | Path | None = None, near: str | Path | None = None) -> Path:
    """Find ``path`` as a user means it, wherever the notebook runs; raise PathNotFoundError if nowhere.

    Looked for, in order: from ``near`` and the folders above it (``search_folders``; for a path a run
    recorded, ``near`` is the run directory); as given (absolute, or relative to ``base``, default the
    working folder) and from the folders above it up to the project root (so ``runs/demo`` is found from
    ``notebooks/`` and from a ``llama-eval notebooks DIR`` folder inside the project); and for a path
    starting with ``data/``, in the bundled data (so ``data/prompts/quickstart.jsonl`` works from an
    installed package too). Returns an absolute path. The error lists every place looked, in that order.
    """
    given = Path(path).expanduser()
    if not str(path).strip():
        raise PathNotFoundError(f"{what} not given (an empty path)")
    start = Path(base).resolve() if base is not None else Path.cwd()
    if given.is_absolute():
        if given.exists():
            return given
        raise PathNotFoundError(f"{what} not found: {given}")
    tried = [folder / given for folder in search_folders(near)] if near is not None else []
    tried += [folder / given for folder in search_folders(start)]
    if given.parts and given.parts[0] == "data":
        tried.append(data_dir().joinpath(*given.parts[1:]))
    tried = list(dict.fromkeys(tried))
    for candidate in tried:
        if candidate.exists():
            return candidate.resolve()
    looked = ", ".join(str(t) for t in tried)
    raise PathNotFoundError(f"{what} not found: {path} (looked in {looked})")


def resolve_recorded(path: str | Path, run_dir: str | Path, *, what: str = "file") -> Path:
    """A path a run recorded in its manifest (relative to the folder ``llama-eval run`` was started in), found from
    the run directory ``run_dir`` up to its project root, then as ``resolve_path`` finds it. An absolute path that is
    gone (a run copied from another machine) is looked for by its name in the run directory."""
    given = Path(path).expanduser()
    if given.is_absolute():
        if given.exists():
            return given
        beside = Path(run_dir) / given.name
        if beside.exists():
            return beside.resolve()
        raise PathNotFoundError(f"{what} not found: {given} (nor {beside})")
    return resolve_path(given, what=what, near=run_dir)


def resolve_output(path: str | Path, *, base: str | Path | None = None) -> Path:
    """Where a folder to be written (``runs/notebook``) goes, by the rule ``resolve_path`` reads with.

    An existing one is found as ``resolve_path`` finds it (so ``resume`` works from anywhere). A new one
    goes beside the first existing folder of its first component (``runs/``) in the working folder or
    a folder above it up to the project root (``search_folders``); else under the working folder. Returns an absolute path.
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
        for folder in search_folders(start):
            if (folder / given.parts[0]).is_dir():
                return folder / given
    return start / given


