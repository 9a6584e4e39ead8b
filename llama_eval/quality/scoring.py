"""Scoring a run: ``scores.jsonl`` beside ``results.jsonl``, and a ``QualitySummary`` with verdicts.

``score_run(run)`` returns the summary as a record (``quality.summary``) and writes it as
``scores_summary.json``; ``read_quality_summary`` reads that file back as the record. Each
scores.jsonl row names the scorer's ``rule`` (numeric: strict/flexible, see scorers.py). The
summary holds, for reports: ``numeric`` (strict and flexible accuracy per deployment), ``rouge`` (the
rouge-score version and stemmer setting), ``statistics`` (which test at which sample size) and, per
comparison, ``method``, ``ci_level``, ``p_adjusted``, ``significant`` and ``too_few_prompts``.

Every final row gets a score. Rows that failed (content filter, errors, budget) score 0 and are
counted in their own column, so a model that refuses or errors a lot cannot look good by being
scored only on what it answered. An answer cut short (status ``incomplete``: no ``finish_reason``)
is one of those failed rows, never passed to a scorer as if the model had answered with its empty
or partial text; ``incomplete_rows`` counts them per deployment. An item with a reference and no scorer is scored with
``contains``; an item with neither is left unscored. A scorer that cannot score an answer (``None``)
is reported as unscorable, never as 0.

A scorer override (``score_run(..., scorer="azure:f1")``, ``llama-eval score --scorer``) writes its
own pair of files, ``scores.<scorer>.jsonl`` and ``scores_summary.<scorer>.json`` (``score_files``),
and leaves ``scores.jsonl`` and ``scores_summary.json`` (the prompts' own scorers, which ``report``,
``recommend`` and ``load_scores`` read) as they were. A judge that no prompt's scorer uses is said to
be unused (``judge_not_used``), never ignored silently.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from llama_eval.catalog.prices import load_prices, price_for
from llama_eval.errors import PathNotFoundError, ScoresNotFoundError
from llama_eval.paths import resolve_recorded
from llama_eval.prompts.prompt_set import PromptItem, PromptSet, load_prompt_set
from llama_eval.quality import stats
from llama_eval.records import ANSWERED, ResultRow, Status
from llama_eval.rundir.export import query_text
from llama_eval.rundir.health import assess_run
from llama_eval.rundir.locate import check_run_dir
from llama_eval.rundir.run import Run, as_run

from .azure import check_extra, context_of, is_judged, judged_row
from .judge import DEFAULT_RUBRIC, Judge
from .registry import check_scorer, score
from .scorers import ROUGE_STEMMER, ScorerError
from .stats import bootstrap_ci, compare, per_prompt, sample_size
from .summary import (
    DeploymentScore,
    Exclusion,
    JudgeUsage,
    NumericAccuracy,
    PairedComparison,
    QualitySummary,
    RougeSettings,
    SampleSizeHint,
    StatisticsMethod,
    TagScore,
)

DEFAULT_SCORER = "contains"
SCORES = "scores.jsonl"
SUMMARY = "scores_summary.json"
# the fields every scores.jsonl row has (score_rows); judged rows add judge, judge_grade, judge_tokens, ...
SCORE_COLUMNS = ("key", "deployment", "model", "prompt_id", "repeat", "tags", "status", "scorer", "score", "reason", "failed", "rule")


def scorer_of(item: PromptItem) -> str | None:
    return item.scorer or (DEFAULT_SCORER if item.reference is not None else None)


def scorer_tag(spec: str | dict[str, Any]) -> str:
    """A scorer override as a file-name part: ``azure:f1`` -> ``azure-f1``; options follow the name, sorted by key."""
    name = spec.get("name") if isinstance(spec, dict) else spec
    options = sorted((k, v) for k, v in spec.items() if k != "name") if isinstance(spec, dict) else []
    text = "-".join([str(name), *(f"{k}-{v}" for k, v in options)])
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "override"


def score_files(scorer: str | dict[str, Any] | None = None) -> tuple[str, str]:
    """The scores file and summary file scoring writes in the run directory, for the prompts' own scorers (None) or an override.

    ``(SCORES, SUMMARY)`` for the prompts' own scorers; ``scores.<tag>.jsonl`` and
    ``scores_summary.<tag>.json`` for an override (``scorer_tag``), so scoring with another scorer
    never replaces the scores ``report`` and ``recommend`` read.
    """
    if scorer is None:
        return SCORES, SUMMARY
    tag = scorer_tag(scorer)
    return f"scores.{tag}.jsonl", f"scores_summary.{tag}.json"


def uses_judge(name: str | None) -> bool:
    """True for the scorers that need a judge deployment: ``judge`` and the AI-assisted azure:* ones."""
    return name == "judge" or is_judged(name)


def judge_not_used(prompts: PromptSet, judge_name: str) -> str | None:
    """One line saying why a judge given for ``prompts`` is not used, or None when some item's scorer uses it."""
    names = [scorer_of(item) for item in prompts]
    if any(uses_judge(n) for n in names):
        return None
    used = ", ".join(sorted({n for n in names if n})) or "none"
    return (f"judge {judge_name!r} not used: no prompt's scorer is 'judge' or an AI-assisted azure:* one "
            f"(the scorers here: {used})")  # fmt: skip


def check_prompt_scorers(prompts: PromptSet) -> None:
    """Every item's scorer exists, takes its options and has the reference it needs (before any request)."""
    for item in prompts.scorable_items():  # a conversation's turns, each with its own reference
        name = scorer_of(item)
        if name is None:
            continue
        try:
            check_scorer(name, dict(item.scorer_options), item.reference is not None)
            check_extra(name, item)  # azure:* without azure-ai-evaluation, or without the context it reads: before any request
        except ScorerError as exc:
            raise ScorerError(f"{item.source}: prompt {item.id!r}: {exc}") from None


def _prompts_for(run: Run, prompts: PromptSet | str | Path | None) -> PromptSet:
    if isinstance(prompts, PromptSet):
        return prompts
    if prompts:
        path = Path(prompts)
        if not path.is_file():
            raise ScorerError(f"{run.path}: the prompt set {str(path)!r} is not found; pass it with --prompts")
    else:
        recorded = run.manifest.prompt_set.path
        if not recorded:
            raise ScorerError(f"{run.path}: its manifest records no prompt set (is it a run directory?); pass the prompt set with --prompts")
        try:  # recorded relative to where the run was started: found from the run directory, not the reader's folder
            path = resolve_recorded(recorded, run.path, what="prompt set")
        except PathNotFoundError as exc:
            raise ScorerError(f"{run.path}: the prompt set the run recorded is not found ({exc}); pass it with --prompts") from None
    loaded = load_prompt_set(path)
    expected = run.manifest.prompt_set.sha256
    if expected and loaded.sha256 != expected:
        raise ScorerError(f"{path} changed since {run.path} was run (sha256 differs); score with the prompt set the run used")
    return loaded


def _question(item: PromptItem) -> str:
    """The conversation a judge sees: each message's text, with its role."""
    parts = []
    for m in item.messages:
        content = m.get("content")
        text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict)) + " [image]"
        parts.append(f"{m.get('role')}: {text}")
    return "\n".join(parts)


def score_rows(rows: Sequence[ResultRow], prompts: PromptSet, judge: Judge | None = None) -> list[dict[str, Any]]:
    """One scores.jsonl row per result row (see the module docstring: failed requests score 0, unscorable answers None).

    A scorer is a function of the answer, the reference and its options: the same answer to the same prompt (repeats at
    temperature 0, a model that always says the same) is scored once and its ``Score`` reused. Judges are asked per row.
    """
    items = prompts.by_id()  # conversations' turns too (``<id>#<k>``)
    scored: dict[tuple[str, str], Any] = {}  # (prompt id, answer) -> Score of the prompt's own scorer
    out = []
    for row in rows:
        item = items.get(row.prompt_id)
        name = scorer_of(item) if item else None
        base = {"key": row.key, "deployment": row.deployment, "model": row.model, "prompt_id": row.prompt_id, "repeat": row.repeat,
                "tags": list(row.tags), "status": row.status.value}  # fmt: skip
        answer = row.response_text or ""
        if name is None:
            out.append({**base, "scorer": None, "score": None, "reason": "no scorer and no reference", "failed": False})
        elif row.status not in ANSWERED:
            out.append({**base, "scorer": name, "score": 0.0, "reason": f"request failed: {row.status}", "failed": True})
        elif is_judged(name):  # azure:relevance etc.: azure-ai-evaluation graded by the judge deployment
            if judge is None:
                raise ScorerError(f"{item.source}: prompt {item.id!r} uses the {name!r} scorer; pass a judge deployment (--judge NAME)")
            out.append({**base, **judged_row(judge, name, query_text(item.messages), answer, item.reference, context_of(item))})
        elif name == "judge":
            if judge is None:
                raise ScorerError(f"{item.source}: prompt {item.id!r} uses the 'judge' scorer; pass a judge deployment (--judge NAME)")
            rubric = item.scorer_options.get("rubric") or DEFAULT_RUBRIC
            j = judge.judge(_question(item), answer, item.reference, rubric)
            out.append(
                {
                    **base,
                    "scorer": name,
                    "score": j.score.value,
                    "reason": j.reason,
                    "failed": False,
                    "judge": judge.name,
                    "judge_grade": j.grade,
                    "judge_tokens": j.prompt_tokens + j.completion_tokens,
                    "judge_cost_usd": str(j.cost_usd) if j.cost_usd is not None else None,
                    "judge_cached": j.cached,
                }
            )
        else:
            result = scored.get((row.prompt_id, answer))
            if result is None:
                result = scored[(row.prompt_id, answer)] = score(name, answer, item.reference, **dict(item.scorer_options))
            out.append({**base, "scorer": name, "score": result.value, "reason": result.reason, "failed": False, "rule": result.rule})
    return out


def numeric_accuracy(scores: list[dict[str, Any]]) -> dict[str, NumericAccuracy]:
    """Per deployment: strict and flexible accuracy on the rows scored by ``numeric`` (none: not in the result)."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in scores:
        if s.get("scorer") == "numeric" and s.get("score") is not None:
            rows[s["deployment"]].append(s)
    out = {}
    for name, rs in rows.items():
        answered = [r for r in rs if not r["failed"]]
        out[name] = NumericAccuracy(
            rows=len(rs),
            strict=sum(r["score"] == 1.0 and r.get("rule") == "strict" for r in rs) / len(rs),
            flexible=sum(r["score"] for r in rs) / len(rs),
            marked=sum(r.get("rule") == "strict" for r in answered) / len(answered) if answered else 0.0,
        )
    return out


def rouge_settings(scores: list[dict[str, Any]]) -> RougeSettings | None:
    """How ROUGE-L was computed in these scores (package, version, stemmer), or None when nothing used it."""
    rules = {s.get("rule") for s in scores if s.get("scorer") == "rouge_l" and not s.get("failed")}
    if not any(s.get("scorer") == "rouge_l" for s in scores):
        return None
    stemmer = sorted(r == "stemmer" for r in rules if r) or [ROUGE_STEMMER]
    return RougeSettings(package=f"rouge-score {version('rouge-score')}", measure="ROUGE-L F-measure", use_stemmer=stemmer[0] if len(stemmer) == 1 else "mixed")


def statistics_method() -> StatisticsMethod:
    """Which test is used at which sample size, for reports to print beside the verdicts."""
    return StatisticsMethod(
        alpha=stats.ALPHA,
        min_prompts_for_verdict=stats.MIN_PROMPTS,
        binary_scores="exact McNemar test (any number of prompts)",
        other_scores=f"exact sign-flip permutation test up to {stats.EXACT_MAX} prompts, "
        f"sign-flip with {stats.FLIPS:,} random patterns below {stats.BOOTSTRAP_MIN}, paired bootstrap from {stats.BOOTSTRAP_MIN}",
        adjustment="Bonferroni over the comparisons with a verdict: intervals at 1 - 0.05/m, p x m",
        verdict_basis="'better' exactly when the adjusted interval excludes 0 (equivalently adjusted p < 0.05); the interval inverts the same test",
    )


def _stored(c: stats.Comparison) -> PairedComparison:
    return PairedComparison(a=c.a, b=c.b, prompts=c.n, diff=c.diff, ci_low=c.low, ci_high=c.high, ci_level=c.level, p=c.p, p_adjusted=c.p_adjusted,
                            p_holm=c.p_holm, p_text=c.p_text, method=c.method, method_text=c.method_text, significant=c.significant,
                            too_few_prompts=c.too_few, verdict=c.verdict())  # fmt: skip


def summarize(scores: list[dict[str, Any]], *, seed: int = 0) -> QualitySummary:
    """Per deployment and per tag: mean with 95% CI over prompts, failures, consistency; pairwise verdicts (nothing excluded)."""
    by_deployment: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_tag: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    failures: dict[str, int] = defaultdict(int)
    incomplete: dict[str, int] = defaultdict(int)
    unscorable: dict[str, int] = defaultdict(int)
    for s in scores:
        if s["scorer"] is None:
            continue
        if s["score"] is None:
            unscorable[s["deployment"]] += 1
            continue
        by_deployment[s["deployment"]][s["prompt_id"]].append(s["score"])
        for tag in s.get("tags") or ["(untagged)"]:
            by_tag[(s["deployment"], tag)][s["prompt_id"]].append(s["score"])
        failures[s["deployment"]] += s["failed"]
        incomplete[s["deployment"]] += s.get("status") == Status.INCOMPLETE
    per_deployment_means = {}
    deployments = {}
    for name, prompt_scores in by_deployment.items():
        means, consistency = per_prompt(prompt_scores)
        per_deployment_means[name] = means
        est = bootstrap_ci(list(means.values()), seed=seed)
        deployments[name] = DeploymentScore(
            prompts=est.n,
            mean=est.mean,
            ci_low=est.low,
            ci_high=est.high,
            failed_rows=failures[name],
            incomplete_rows=incomplete[name],  # of the failed rows: answers cut short (no finish_reason)
            unscorable_rows=unscorable[name],
            consistency=consistency,
            few_prompts=est.n < stats.MIN_PROMPTS,  # a bootstrap interval over so few prompts is too narrow: label it
        )
    tags = {}
    for (name, tag), prompt_scores in by_tag.items():
        means, _ = per_prompt(prompt_scores)
        est = bootstrap_ci(list(means.values()), seed=seed)
        tags[f"{name}|{tag}"] = TagScore(
            deployment=name, tag=tag, prompts=est.n, mean=est.mean, ci_low=est.low, ci_high=est.high, few_prompts=est.n < stats.MIN_PROMPTS
        )
    comparisons = compare(per_deployment_means, seed=seed)
    hint = None
    if comparisons:
        c = comparisons[0]
        shared = sorted(set(per_deployment_means[c.a]) & set(per_deployment_means[c.b]))
        diffs = np.array([per_deployment_means[c.a][p] - per_deployment_means[c.b][p] for p in shared])
        sd = float(diffs.std(ddof=1)) if len(diffs) > 1 and diffs.std() > 0 else None
        hint = SampleSizeHint(difference_points=5, prompts_needed=sample_size(0.05, sd), based_on=f"{c.a} vs {c.b}" if sd else "worst case (no spread seen)")
    return QualitySummary(
        deployments=deployments,
        tags=tags,
        comparisons=tuple(_stored(c) for c in comparisons),
        statistics=statistics_method(),
        numeric=numeric_accuracy(scores),
        rouge=rouge_settings(scores),
        sample_size_hint=hint,
    )


def make_judge(run_dir: str | Path, deployment: Any, *, prices: Any = None) -> Judge:
    """A Judge on ``deployment`` (a config.Deployment), caching in the run directory, priced from the price table."""
    from llama_eval.endpoint.client import make_client  # start-up time: the SDK client takes ~0.6 s to import, only a judge needs it

    prices = prices or load_prices()
    return Judge(make_client(deployment), price=price_for(prices, deployment.model, deployment.kind), cache_path=Path(run_dir) / "judgments.jsonl")


def with_scorer(prompts: PromptSet, spec: str | dict[str, Any]) -> PromptSet:
    """Every item scored by ``spec`` (a scorer name, or ``{"name": ..., options}`` as in a prompt set)."""
    options = {k: v for k, v in spec.items() if k != "name"} if isinstance(spec, dict) else {}
    name = spec.get("name") if isinstance(spec, dict) else spec
    if not isinstance(name, str) or not name:
        raise ScorerError(f'a scorer override must be a scorer name or {{"name": ..., options}}, got {spec!r}')
    return dataclasses.replace(prompts, items=tuple(dataclasses.replace(i, scorer=name, scorer_options=options) for i in prompts))


def score_run(
    run: Run | str | Path,
    prompts: PromptSet | str | Path | None = None,
    *,
    judge: Judge | None = None,
    seed: int = 0,
    scorer: str | dict[str, Any] | None = None,
    announce: Callable[[str], None] | None = print,
) -> QualitySummary:
    """Score a finished (or partial) run: writes scores.jsonl and scores_summary.json; returns the summary as a record.

    ``run``: a ``Run`` (``load_run``) or its directory. ``prompts``: the prompt set (default: the one
    the run's manifest names, refused if it changed since). ``scorer`` overrides every item's scorer
    (``llama-eval score --scorer``) and writes its own files instead (``score_files(scorer)``), so the
    default scores stay what ``report`` reads. ``announce`` is told, in one line, when ``judge`` is
    given but no item's scorer uses it (None: say nothing). Deployments that were stopped or mostly failed are scored in
    scores.jsonl but left out of the summary's scores and comparisons (``QualitySummary.excluded``).
    """
    run = as_run(run)
    prompt_set = _prompts_for(run, prompts)
    if scorer is not None:
        prompt_set = with_scorer(prompt_set, scorer)
    check_prompt_scorers(prompt_set)
    if judge is not None and announce is not None and (unused := judge_not_used(prompt_set, judge.name)):
        announce(unused)
    scores_name, summary_name = score_files(scorer)
    scores = score_rows(run.rows, prompt_set, judge)
    tmp = run.path / f"{scores_name}.tmp"
    with tmp.open("wb") as f:  # orjson: compact UTF-8 JSON lines, as json.dumps(ensure_ascii=False) wrote them less the spaces
        f.writelines(orjson.dumps(s, option=orjson.OPT_APPEND_NEWLINE) for s in scores)
    os.replace(tmp, run.path / scores_name)
    if scorer is None:
        _WRITTEN[run] = (_file_stamp(run.path / scores_name), scores)
    # a stopped deployment, or one whose rows are mostly errors, has no answers to judge: its zeros are not a verdict
    excluded = {d.name: Exclusion(state=str(d.state), error=d.error, check=d.check, sentence=d.sentence()) for d in assess_run(run).excluded}
    summary = dataclasses.replace(summarize([s for s in scores if s["deployment"] not in excluded], seed=seed), excluded=excluded)
    judged = [s for s in scores if s.get("judge")]
    if judged:
        usage = JudgeUsage(
            deployment=judged[0]["judge"],
            judged_rows=len(judged),
            unscorable_rows=sum(s["score"] is None for s in judged),
            requests_sent=judge.requests_sent if judge else 0,
            from_cache=sum(bool(s["judge_cached"]) for s in judged),
            tokens=sum(s["judge_tokens"] for s in judged if not s["judge_cached"]),
            cost_usd=str(sum((Decimal(s["judge_cost_usd"]) for s in judged if s["judge_cost_usd"] and not s["judge_cached"]), Decimal(0))),
        )
        summary = dataclasses.replace(summary, judge=usage)
    (run.path / summary_name).write_text(json.dumps(summary.to_json(), indent=2), encoding="utf-8")
    return summary


_WRITTEN: weakref.WeakKeyDictionary[Run, tuple[tuple[int, int], list[dict[str, Any]]]] = weakref.WeakKeyDictionary()


def _file_stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def written_scores(run: Run) -> list[dict[str, Any]] | None:
    """The rows ``score_run`` wrote to this ``Run``'s ``scores.jsonl`` in this process, while the file is still the one it
    wrote (same size and modification time); else None (read the file). Saves reading a big run's scores back."""
    entry = _WRITTEN.get(run)
    if entry is None:
        return None
    try:
        return entry[1] if _file_stamp(run.path / SCORES) == entry[0] else None
    except FileNotFoundError:
        return None


def _run_dir(run: Run | str | Path) -> Path:
    return run.path if isinstance(run, Run) else Path(run)


def read_quality_summary(run: Run | str | Path, *, scorer: str | dict[str, Any] | None = None) -> QualitySummary:
    """The run's ``scores_summary.json`` read back as a ``QualitySummary`` (with ``scorer``: that override's summary file).

    Raises RunDirNotFoundError when ``run`` is not a run directory, ScoresNotFoundError (a
    FileNotFoundError) when it has not been scored: the message says which command scores it.
    """
    run_dir = check_run_dir(_run_dir(run))
    name = score_files(scorer)[1]
    path = run_dir / name
    if not path.is_file():
        raise ScoresNotFoundError(f"{run_dir} has no {name}; run `{_score_command(run_dir, scorer)}` first (or score_run({str(run_dir)!r}) in Python)")
    return QualitySummary.from_json(json.loads(path.read_text(encoding="utf-8")))


def current_quality_summary(run: Run | str | Path) -> QualitySummary | None:
    """``scores_summary.json`` as the record when it is up to date, else None (score the run again).

    Up to date: written after the last change to ``results.jsonl``, by a llama-eval that records the
    deployments left out (``excluded``) and the answers cut short (``incomplete_rows``).
    """
    run_dir = _run_dir(run)
    path, results = run_dir / SUMMARY, run_dir / "results.jsonl"
    if not path.exists() or not results.exists() or path.stat().st_mtime < results.stat().st_mtime:
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if "excluded" not in data or not all("incomplete_rows" in d for d in (data.get("deployments") or {}).values()):
        return None  # scored by an older llama-eval
    return QualitySummary.from_json(data)


def _score_command(run_dir: Path, scorer: str | dict[str, Any] | None) -> str:
    if scorer is None:
        return f"llama-eval score {run_dir}"
    spec = json.dumps(scorer) if isinstance(scorer, dict) else scorer
    return f"llama-eval score {run_dir} --scorer '{spec}'"


def load_scores(run_dir: str | Path, *, scorer: str | dict[str, Any] | None = None):
    """The run's ``scores.jsonl`` as a pandas DataFrame: one row per scored result row, as ``load_run`` gives the results.

    ``scorer``: read the file a scorer override wrote instead (``score_files(scorer)``, e.g.
    ``scores.azure-f1.jsonl``); by default, ``scores.jsonl`` (the prompts' own scorers).

    The columns of SCORE_COLUMNS are always there, in that order (``rule`` is empty for scorers
    without one), so code written against one run works on another; judged runs add ``judge``,
    ``judge_grade``, ``judge_tokens``, ``judge_cost_usd`` (a number) and ``judge_cached`` after them.
    ``score`` is a number where missing means *not scored* (no scorer, or the scorer could not
    read the answer), never 0; ``failed`` marks the rows whose request failed (scored 0); ``tags``
    holds lists. Types are pandas' nullable ones (``Int64``, ``Float64``, ``boolean``), as in
    ``load_run``, so a missing value never turns a column into floats or objects.

    Raises RunDirNotFoundError when ``run_dir`` is not a run, ScoresNotFoundError (a
    FileNotFoundError) when it has not been scored: the message says which command scores it.
    """
    import pandas as pd

    run_dir = check_run_dir(run_dir)
    name = score_files(scorer)[0]
    path = run_dir / name
    if not path.is_file():
        raise ScoresNotFoundError(f"{run_dir} has no {name}; run `{_score_command(run_dir, scorer)}` first (or score_run({str(run_dir)!r}) in Python)")
    rows = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise ValueError(f"{path}: line {number} is not valid JSON; score the run again (`{_score_command(run_dir, scorer)}`)") from None
    extra = [name for name in dict.fromkeys(k for r in rows for k in r) if name not in SCORE_COLUMNS]
    frame = pd.DataFrame(rows, columns=[*SCORE_COLUMNS, *extra])
    if "judge_cost_usd" in frame:
        frame["judge_cost_usd"] = pd.to_numeric(frame["judge_cost_usd"], errors="coerce")
    kinds = {"repeat": "Int64", "score": "Float64", "failed": "boolean", "judge_grade": "Int64", "judge_tokens": "Int64",
             "judge_cost_usd": "Float64", "judge_cached": "boolean"}  # fmt: skip
    frame = frame.astype({name: kind for name, kind in kinds.items() if name in frame})
    text = [name for name in ("key", "deployment", "model", "prompt_id", "status", "scorer", "reason", "rule", "judge") if name in frame]
    frame[text] = frame[text].astype(object).where(frame[text].notna(), None)
    return frame
