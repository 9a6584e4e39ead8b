"""A run directory read once: ``load_run(run_dir) -> Run``, the typed record analysis works on.

``Run`` holds the run's final rows as ``ResultRow`` records (the latest row per key, budget-skipped
rows left out, as ``store.final_rows`` defines them) and its manifest as a ``RunManifest``. Health,
scoring and every report section take a ``Run``, so a report reads ``results.jsonl`` and
``manifest.json`` once, not once per table. ``Run.frame()`` is the flat pandas view (the columns of
``store.COLUMNS``, ``param_<name>`` per request parameter) that ``load_run`` returned before it
returned a ``Run``.

``store.read_rows`` stays the low-level reader of ``results.jsonl`` (the runner's ``--resume`` and
the torn-line repair use it); this module reads through it and never writes.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from llama_eval.records import ANSWERED, ResultRow

from .store import COLUMNS, final_rows, flatten_row, read_manifest, read_rows

if TYPE_CHECKING:  # pandas is imported when a frame is asked for: the runner and the CLI start without it
    import pandas as pd

__all__ = ["PromptSetRecord", "Run", "RunManifest", "as_run", "load_run", "manifest_deployments", "rows_frame"]


def manifest_deployments(manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per deployment: the config record of the fingerprint, overlaid with the runner's per-deployment facts."""
    out: dict[str, dict[str, Any]] = {}
    for record in (manifest.get("fingerprint") or {}).get("deployments") or []:
        if isinstance(record, dict) and record.get("name"):
            out[record["name"]] = dict(record)
    facts = manifest.get("deployments")
    if isinstance(facts, dict):
        for name, record in facts.items():
            if isinstance(record, dict):
                out.setdefault(name, {"name": name}).update(record)
    elif isinstance(facts, list):
        for record in facts:
            if isinstance(record, dict) and record.get("name"):
                out.setdefault(record["name"], {}).update(record)
    return out


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class PromptSetRecord:
    """The prompt set a run was made with, as its manifest records it (None: not recorded)."""

    path: str | None = None
    sha256: str | None = None
    items: int | None = None


@dataclass(frozen=True)
class RunManifest:
    """The fields of ``manifest.json`` that analysis reads, typed; ``raw`` is the whole parsed file.

    A run without a manifest reads as ``status == "no manifest"`` with every other field empty, so
    callers need no ``None`` check. ``deployments`` is ``manifest_deployments``: per deployment
    name, its config record from the fingerprint overlaid with what the runner recorded for it
    (``time_scale``, ``probe``, ``loop_lag``, ...). The mappings are the parsed JSON: read, do not mutate.
    """

    status: str = "no manifest"
    run_id: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    prompt_set: PromptSetRecord = field(default_factory=PromptSetRecord)
    price_tables: tuple[str, ...] = ()
    price_digest: str | None = None
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> RunManifest:
        """The record of a parsed manifest (None or {}: a run without one); fields of older runs may be missing."""
        if not data:
            return cls()
        prompt_set = _dict(data.get("prompt_set"))
        prices = _dict(data.get("prices"))
        items = prompt_set.get("items")
        return cls(
            status=str(data.get("status") or "no manifest"),
            run_id=data.get("run_id"),
            created_at=data.get("created_at"),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            prompt_set=PromptSetRecord(prompt_set.get("path"), prompt_set.get("sha256"), int(items) if items is not None else None),
            price_tables=tuple(str(t) for t in prices.get("tables") or ()),
            price_digest=prices.get("digest"),
            deployments=manifest_deployments(data),
            fingerprint=_dict(data.get("fingerprint")),
            params=_dict(data.get("params")),
            summary=_dict(data.get("summary")),
            versions=_dict(data.get("versions")),
            raw=dict(data),
        )

    @property
    def recorded(self) -> bool:
        """The run directory has a manifest.json."""
        return bool(self.raw)

    @property
    def repeats(self) -> int | None:
        """Repeats per prompt the run planned (None: not recorded)."""
        value = self.params.get("repeats") or (self.fingerprint.get("params") or {}).get("repeats")
        return int(value) if value else None

    @property
    def stopped_deployments(self) -> dict[str, str]:
        """Deployments the runner stopped, with the reason it recorded."""
        return {str(k): str(v) for k, v in (self.summary.get("stopped_deployments") or {}).items()}


def rows_frame(rows: tuple[ResultRow, ...] | list[ResultRow]) -> pd.DataFrame:
    """Rows as the flat DataFrame of ``Run.frame()`` (see there)."""
    import pandas as pd

    frame = pd.DataFrame([flatten_row(r.to_json()) for r in rows], columns=list(COLUMNS))
    frame["cost_usd"] = pd.to_numeric(frame["cost_usd"], errors="coerce")
    nullable = {"int64": "Int64", "bool": "boolean", "float64": "Float64"}  # missing values stay missing, types stay exact
    frame = frame.astype({name: nullable[kind] for name, kind in COLUMNS.items() if kind in nullable})
    for name in ("started_at", "finished_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True, errors="coerce", format="ISO8601")
    params = pd.DataFrame([r.params for r in rows], index=frame.index)
    params.columns = [f"param_{c}" for c in params.columns]
    return pd.concat([frame.drop(columns=["params"]), params], axis=1)


T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Run:
    """One run directory, read once: its path, its manifest and its final rows (see the module docstring).

    ``rows`` are in the order their keys first appear in ``results.jsonl``, one per (deployment,
    prompt, repeat), each the latest row written for its key; budget-skipped rows are not final and
    are left out. Two ``Run`` objects are equal only if they are the same object (a run is read, not compared).
    """

    path: Path
    manifest: RunManifest
    rows: tuple[ResultRow, ...]

    @property
    def name(self) -> str:
        return self.path.name

    def derived(self, compute: Callable[[Run], T]) -> T:
        """``compute(self)``, worked out once per ``Run`` and handed back to every later caller: a run's rows never change, so
        what is derived from them (its health, cost sums, token sums; a report asks in every section) is derived once."""
        cache = self.__dict__.setdefault("_derived", {})
        if compute not in cache:
            cache[compute] = compute(self)
        return cache[compute]

    @cached_property
    def answered(self) -> tuple[ResultRow, ...]:
        """The rows the endpoint answered (``records.ANSWERED``: ok, length); worked out once per ``Run`` (rows do not change)."""
        return tuple(r for r in self.rows if r.status in ANSWERED)

    @cached_property
    def simulated(self) -> bool:
        """Some answer came from the llama-eval emulator."""
        return any(r.simulated for r in self.rows)

    @cached_property
    def _by_deployment(self) -> dict[str, tuple[ResultRow, ...]]:
        out: dict[str, list[ResultRow]] = {name: [] for name in self.manifest.deployments}
        for row in self.rows:
            out.setdefault(row.deployment, []).append(row)
        return {name: tuple(rows) for name, rows in out.items()}

    def by_deployment(self) -> dict[str, list[ResultRow]]:
        """Rows per deployment: the manifest's deployments first (also those without a row), then any others the rows name.

        Grouped once per ``Run``; each call returns new lists, yours to change."""
        return {name: list(rows) for name, rows in self._by_deployment.items()}

    @cached_property
    def _frame(self) -> pd.DataFrame:
        return rows_frame(self.rows)

    def frame(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame, one per (deployment, prompt, repeat); a copy, yours to change.

        Columns are flat snake_case (those of ``store.COLUMNS``, ``usage_prompt_tokens`` ...), with
        ``started_at``/``finished_at`` as UTC timestamps, ``cost_usd`` as a number, pandas' nullable
        types (``Int64``, ``Float64``, ``boolean``) so a missing value stays missing, and the request
        parameters as ``param_<name>`` columns instead of one ``params`` field. Old runs load the same way.
        """
        return self._frame.copy()


def load_run(run_dir: str | Path) -> Run:
    """Read ``run_dir`` (``results.jsonl`` and ``manifest.json``) once, into a ``Run``.

    A directory without results gives a ``Run`` without rows (``rundir.locate.check_run_dir`` says
    loudly that it is not a run); a torn last line is reported (``TornLineWarning``) and left out; a
    row that is not a ``ResultRow`` (an unknown status, a missing key) is a ValueError naming it.
    """
    path = Path(run_dir)
    with _no_cyclic_gc():
        rows = tuple(_typed(path, r) for r in final_rows(read_rows(path)).values())
    return Run(path=path, manifest=RunManifest.from_json(read_manifest(path)), rows=rows)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cycle collector paused while a run's rows are built: millions of new objects, none in a cycle, would otherwise set off
    collection after collection of the growing heap (a quarter of a 500,000-row read). Reference counting still frees as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _typed(path: Path, row: dict[str, Any]) -> ResultRow:
    try:
        return ResultRow.from_json(row)
    except (KeyError, ValueError, TypeError) as exc:  # an edited file, or one from a newer llama-eval: say which row
        raise ValueError(f"{path / 'results.jsonl'}: the row {row.get('key')!r} cannot be read ({type(exc).__name__}: {exc})") from None


def as_run(run: Run | str | Path) -> Run:
    """``run`` itself when it is a ``Run``; else the run directory it names, read (``load_run``)."""
    return run if isinstance(run, Run) else load_run(run)
