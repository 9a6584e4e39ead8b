"""``compare_runs(a, b)``: run B against baseline run A, as one ``RunComparison``; ``check_run(run)``: one run's own figures.

Each run is read once (``rundir.run.load_run``) and assessed (``rundir.health.assess_run``); the
parts are computed by this package's modules: ``quality`` (paired differences on matched prompts),
``latency`` (percentile shifts in service time), ``cost`` (per 1,000 requests and its split),
``changes`` (what else differs). ``gates.judge`` then says whether a ``--fail-if`` condition fails.
"""

from __future__ import annotations

from pathlib import Path

from llama_eval.errors import PriceTableError
from llama_eval.quality.stats import bootstrap_ci
from llama_eval.records import ANSWERED
from llama_eval.rundir.health import REFUSED, RunHealth, assess_run
from llama_eval.rundir.locate import check_run_dir
from llama_eval.rundir.run import Run, load_run

from .changes import what_changed
from .cost import cost_shifts
from .latency import conditions, latency_shifts, service_times
from .quality import match_prompts, prompt_scores, quality_shifts, score_targets
from .result import PromptMatch, RunComparison, Target


def error_targets(run: Run, health: RunHealth) -> list[Target]:
    """Each deployment's share of failed requests (refusals by the content filter not counted) with its 95% bootstrap interval."""
    out = []
    for name, rows in run.by_deployment().items():
        flags = [float(r.status not in ANSWERED and r.status not in REFUSED) for r in rows]
        if flags:
            est = bootstrap_ci(flags)
            out.append(Target(name, "error_rate", est.mean, est.low, est.high, est.n))
    return out


def _read(run: str | Path | Run) -> tuple[Run, RunHealth]:
    if not isinstance(run, Run):
        run = load_run(check_run_dir(run))
    return run, assess_run(run)


def check_run(run: str | Path | Run) -> RunComparison:
    """One run's own figures (score and error rate per deployment) for absolute gates; no comparison."""
    run, health = _read(run)
    scores, _ = prompt_scores(run, health)
    ids = {r.prompt_id for r in run.rows}
    return RunComparison(None, run.path, PromptMatch(tuple(sorted(ids))), targets=(*score_targets(scores), *error_targets(run, health)),
                         simulated=run.simulated)  # fmt: skip


def compare_runs(run_a: str | Path | Run, run_b: str | Path | Run) -> RunComparison:
    """Run B (the candidate) against run A (the baseline): quality, latency, cost, what else changed (see ``RunComparison``).

    Both runs must be scorable: a ``scores.jsonl`` of exactly their rows, or the prompt set the
    manifest names, unchanged. Raises RunDirNotFoundError for a directory that is not a run.
    """
    a, health_a = _read(run_a)
    b, health_b = _read(run_b)
    scores_a, tags_a = prompt_scores(a, health_a)
    scores_b, tags_b = prompt_scores(b, health_b)
    match = match_prompts(a, b, {r.prompt_id for r in a.rows}, {r.prompt_id for r in b.rows})
    tags = {**tags_a, **tags_b}
    quality = quality_shifts(scores_a, scores_b, tags, match)
    paired = {}
    for name in [n for n in scores_a if n in scores_b]:
        pids = sorted(set(match.shared) & set(scores_a[name]) & set(scores_b[name]))
        paired[name] = (tuple(scores_b[name][p] for p in pids), tuple(scores_a[name][p] for p in pids))
    latency = latency_shifts(service_times(a, health_a), service_times(b, health_b))
    notes = []
    try:
        cost, prices_a, prices_b = cost_shifts(a, b)
    except PriceTableError as exc:  # a price override the run recorded is gone: say so, compare the rest
        cost, prices_a, prices_b = [], None, None
        notes.append(f"cost not compared: {exc}")
    warnings = conditions(a, health_a, b, health_b)
    for label, h in (("A", health_a), ("B", health_b)):
        if (banner := h.run_banner()) is not None:
            warnings.append(f"run {label}: {banner}")
        warnings += [f"run {label}: {d.sentence()}" for d in h.excluded]
    if match.changed:
        notes.append(f"{len(match.changed)} prompts have the same id and other content in the two runs: listed apart, not paired")
    return RunComparison(
        run_a=a.path,
        run_b=b.path,
        prompts=match,
        quality=tuple(quality),
        latency=tuple(latency),
        cost=tuple(cost),
        changes=tuple(what_changed(a, b, match, prices_a, prices_b)),
        warnings=tuple(warnings),
        targets=(*score_targets(scores_b), *error_targets(b, health_b)),
        simulated=a.simulated or b.simulated,
        notes=tuple(notes),
        paired=paired,
    )


__all__ = ["check_run", "compare_runs", "error_targets"]
