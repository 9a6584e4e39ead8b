"""Resuming a sweep: what an earlier, stopped sweep in the same folder already measured, and whether it may go on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llama_eval.errors import SweepError

from .objectives import SweepLevel
from .params import _SAME_ON_RESUME, STOP_ALL_FAILED, STOP_BUDGET, STOP_DEPLOYMENT, STOP_INTERRUPTED, STOP_QUOTA, STOP_SLO, SweepParams
from .search import next_load
from .slo import SWEEP_JSON


@dataclass(frozen=True)
class Resumed:
    """What earlier sessions of a sweep left: the levels they finished and how many rows they wrote."""

    levels: tuple[SweepLevel, ...]
    rows: int
    finished: str | None = None  # why there is nothing left to do (the sweep ended at its SLO or quota, or ran every level)


def _legacy_stop_kind(stopped: str | None) -> str | None:
    """sweep.json files written before ``stop_kind`` existed: the kind from the sentence."""
    if not stopped:
        return None
    starts = {"interrupted": STOP_INTERRUPTED, "deployment stopped": STOP_DEPLOYMENT, "the budget": STOP_BUDGET, "every request": STOP_ALL_FAILED}
    for start, kind in starts.items():
        if stopped.startswith(start):
            return kind
    return STOP_SLO if "breaks the SLO" in stopped else STOP_QUOTA


def load_resume(run_dir: Path, params: SweepParams) -> Resumed | None:
    """The earlier sessions of the sweep in ``run_dir`` (None: nothing there yet), after checking it is the same sweep.

    The deployment, prompt set and request parameters were checked by the plan (``run.rundir.done_keys``).
    """
    from llama_eval.rundir.store import read_manifest, read_rows

    from .slo import read_sweep

    record = read_manifest(run_dir)
    if record is None:
        return None
    if "sweep" not in record:
        raise SweepError(f"{run_dir} holds a `llama-eval run`, not a sweep; choose another -o")
    before, now = record["sweep"], params.to_json()
    changed = [k for k in _SAME_ON_RESUME if before.get(k) != now.get(k)]
    if changed:
        diffs = "; ".join(f"{k}: {before.get(k)!r} then, {now.get(k)!r} now" for k in changed)
        raise SweepError(f"{run_dir} was swept with other settings ({diffs}); resume with the same ones, or choose another -o")
    rows = len(read_rows(run_dir))
    if not (run_dir / SWEEP_JSON).exists():  # killed before it could write: its rows stay, its levels run again
        return Resumed((), rows)
    done = read_sweep(run_dir)
    kind = done.stop_kind or _legacy_stop_kind(done.stopped)
    levels = done.levels[:-1] if kind in (STOP_DEPLOYMENT, STOP_BUDGET, STOP_ALL_FAILED) and done.levels else done.levels
    loads = [level.concurrency if level.concurrency is not None else level.rate_rps for level in levels]
    if params.search is not None:  # a search chooses its levels from what was measured: it goes on from there
        if kind in (STOP_SLO, STOP_QUOTA):
            return Resumed(tuple(levels), rows, f"the sweep in {run_dir} is finished: {done.stopped}")
        done_searching = next_load(params.search, [(level.load_value, bool(level.slo_met)) for level in levels]) is None
        return Resumed(tuple(levels), rows, f"the search in {run_dir} has found its capacity; nothing left to measure" if done_searching else None)
    if list(params.levels[: len(loads)]) != loads:
        raise SweepError(f"{run_dir} measured levels {', '.join(f'{v:g}' for v in loads)}; the levels given must start with them "
                         f"(got {', '.join(f'{v:g}' for v in params.levels)})")  # fmt: skip
    finished = None
    if kind in (STOP_SLO, STOP_QUOTA):
        finished = f"the sweep in {run_dir} is finished: {done.stopped}"
    elif len(loads) == len(params.levels):
        finished = f"the sweep in {run_dir} ran every level given; add higher levels to extend it"
    return Resumed(tuple(levels), rows, finished)
