"""Quality of run B against run A: per deployment in both, the paired difference on the prompts both ran.

Prompts are matched by id and by the digest of their content (messages, reference, scorer) that
the runner records in the manifest (``run.output.item_digests``); a prompt whose id is in both runs
with other content is ``changed`` and listed apart, never paired. Per-prompt scores are the run's
``scores.jsonl`` when it scores exactly the run's rows, else scored here in memory from the prompt set
the manifest names (never written). The statistics are the quality section's own:
``quality.stats.paired_test`` for the interval and ``quality.noninferiority.non_inferiority`` for
the gate's question (is B worse than A by more than the threshold?).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from llama_eval.errors import ScorerError
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.quality.noninferiority import INFERIOR, NonInferiority, non_inferiority
from llama_eval.quality.scoring import score_rows, written_scores
from llama_eval.quality.stats import ALPHA, LEVEL, METHODS, MIN_PROMPTS, bootstrap_ci, paired_test, per_prompt
from llama_eval.run.output import item_digests
from llama_eval.rundir.health import RunHealth
from llama_eval.rundir.run import Run
from llama_eval.rundir.store import parse_line

from .result import PromptMatch, QualityShift, Target

Scores = dict[str, dict[str, float]]  # deployment -> prompt id -> mean score over repeats


def _score_lines(run: Run) -> list[dict[str, Any]]:
    """The run's per-row scores: ``scores.jsonl`` when it scores exactly the run's final rows, else scored now from the manifest's prompt set.

    Up to date is judged by content (the same row keys), not by file times: a run copied as a CI
    artifact gets new modification times in any order.
    """
    written = written_scores(run)  # scored a moment ago in this process (the report's quality section): not read back
    if written is not None:
        return written
    path = run.path / "scores.jsonl"
    if path.is_file():
        with path.open(encoding="utf-8") as f:
            lines = [parse_line(line) for line in f if line.strip()]  # orjson: a big run's scores are read in a fraction of the time
        if {line.get("key") for line in lines} == {r.key for r in run.rows}:
            return lines
    prompts = _prompt_set(run)
    if prompts is None:
        raise ScorerError(
            f"{run.path} has no scores.jsonl and its prompt set {run.manifest.prompt_set.path!r} is not there as it was run; "
            f"score it where it was made (`llama-eval score {run.path}`) or pass the prompt set (`llama-eval score {run.path} --prompts FILE`)"
        )
    return score_rows(run.rows, prompts)


def _prompt_set(run: Run):
    """The prompt set the manifest names, if it is still the file the run used (same sha256); else None."""
    record = run.manifest.prompt_set
    if not record.path or not Path(record.path).is_file():
        return None
    loaded = load_prompt_set(record.path)
    return loaded if not record.sha256 or loaded.sha256 == record.sha256 else None


def digests(run: Run) -> dict[str, str] | None:
    """Prompt id -> content digest of the run: from its manifest, else from its unchanged prompt set, else None."""
    recorded = (run.manifest.raw.get("prompt_set") or {}).get("item_digests")
    if isinstance(recorded, dict) and recorded:
        return {str(k): str(v) for k, v in recorded.items()}
    prompts = _prompt_set(run)
    return item_digests(prompts) if prompts is not None else None


def prompt_scores(run: Run, health: RunHealth) -> tuple[Scores, dict[str, tuple[str, ...]]]:
    """Per judged deployment (not excluded by health), each prompt's mean score over its repeats; and each prompt's tags."""
    raw: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    tags: dict[str, tuple[str, ...]] = {}
    excluded = {d.name for d in health.excluded}
    for line in _score_lines(run):
        if line.get("score") is None or line["deployment"] in excluded:
            continue
        raw[line["deployment"]][str(line["prompt_id"])].append(float(line["score"]))
        tags[str(line["prompt_id"])] = tuple(line.get("tags") or ())
    return {name: per_prompt(scores)[0] for name, scores in raw.items()}, tags


def match_prompts(a: Run, b: Run, ids_a: set[str], ids_b: set[str]) -> PromptMatch:
    """Shared, changed and one-sided prompt ids of the two runs (see ``PromptMatch``)."""
    da, db = digests(a), digests(b)
    both = ids_a & ids_b
    if da is None or db is None:
        return PromptMatch(tuple(sorted(both)), (), tuple(sorted(ids_a - ids_b)), tuple(sorted(ids_b - ids_a)),
                           basis="id only: a run recorded no prompt digests and its prompt set file changed since")  # fmt: skip
    changed = {p for p in both if da.get(p) != db.get(p)}
    return PromptMatch(tuple(sorted(both - changed)), tuple(sorted(changed)), tuple(sorted(ids_a - ids_b)), tuple(sorted(ids_b - ids_a)))


def _verdict(name: str, tag: str | None, n: int, diff: float, low: float, high: float, method: str) -> str:
    where = f"{name}" + (f" on tag {tag}" if tag else "")
    if n < MIN_PROMPTS:
        return f"{where}: too few shared prompts to compare ({n}; a verdict needs {MIN_PROMPTS})"
    about = f"{METHODS.get(method, method)}, {n} prompts"
    points = f"{100 * diff:+.1f} points [{100 * low:+.1f}, {100 * high:+.1f}]"
    if low > 0 or high < 0:
        size, a, b = (diff, low, high) if diff > 0 else (-diff, -high, -low)
        return f"{where}: B {'higher' if diff > 0 else 'lower'} than A by {100 * size:.1f} points [{100 * a:.1f}, {100 * b:.1f}] ({about})"
    return f"{where}: no detectable difference ({points}; {about})"


def _shift(name: str, tag: str | None, pids: list[str], a: dict[str, float], b: dict[str, float]) -> QualityShift:
    xs, ys = [b[p] for p in pids], [a[p] for p in pids]
    if not pids:
        return QualityShift(name, tag, 0, math.nan, math.nan, math.nan, math.nan, math.nan, "", _verdict(name, tag, 0, 0, 0, 0, ""))
    t = paired_test(xs, ys, level=LEVEL)
    return QualityShift(name, tag, len(pids), float(np.mean(ys)), float(np.mean(xs)), t.diff, t.low, t.high, t.method,
                        _verdict(name, tag, len(pids), t.diff, t.low, t.high, t.method))  # fmt: skip


def quality_shifts(scores_a: Scores, scores_b: Scores, tags: dict[str, tuple[str, ...]], match: PromptMatch) -> list[QualityShift]:
    """Per deployment scored in both runs: the shift over the shared prompts, then one per tag."""
    shared = set(match.shared)
    out = []
    for name in [n for n in scores_a if n in scores_b]:
        a, b = scores_a[name], scores_b[name]
        pids = sorted(shared & set(a) & set(b))
        out.append(_shift(name, None, pids, a, b))
        for tag in sorted({t for p in pids for t in tags.get(p, ())}):
            out.append(_shift(name, tag, [p for p in pids if tag in tags.get(p, ())], a, b))
    return out


def drop_beyond(scores_a: Scores, scores_b: Scores, match: PromptMatch, name: str, threshold_points: float) -> NonInferiority:
    """Is B worse than A on ``name`` by more than ``threshold_points``? The non-inferiority test of B against A at that margin.

    Its verdict ``inferior`` (the one-sided 95% upper bound of B - A below -threshold) is the
    statistical support the gate asks for before it fails.
    """
    a, b = scores_a[name], scores_b[name]
    pids = sorted(set(match.shared) & set(a) & set(b))
    return non_inferiority([b[p] for p in pids], [a[p] for p in pids], margin=threshold_points / 100, names=("B", "A"))


def score_targets(scores: Scores) -> list[Target]:
    """Each deployment's mean score over prompts with its 95% bootstrap interval (for ``score<0.8`` gates)."""
    out = []
    for name, per in scores.items():
        est = bootstrap_ci(list(per.values()))
        out.append(Target(name, "score", est.mean, est.low, est.high, est.n))
    return out


__all__ = ["ALPHA", "INFERIOR", "digests", "drop_beyond", "match_prompts", "prompt_scores", "quality_shifts", "score_targets"]
