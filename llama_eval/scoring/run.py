"""Scoring a run directory: ``scores.jsonl`` beside ``results.jsonl`` and a summary with verdicts.

Every final row gets a score. Rows that failed (content filter, errors, budget) score 0 and are
counted in their own column, so a model that refuses or errors a lot cannot look good by being
scored only on what it answered. An item with a reference and no scorer is scored with
``contains``; an item with neither is left unscored. A scorer that cannot score an answer (``None``)
is reported as unscorable, never as 0.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..prompts import PromptItem, PromptSet, load_prompt_set
from ..results import final_rows, read_manifest, read_rows
from .judge import DEFAULT_RUBRIC, Judge
from .scorers import ScorerError, check_scorer, score
from .stats import bootstrap_ci, compare, per_prompt, sample_size

DEFAULT_SCORER = "contains"
ANSWERED = ("ok", "length")


def scorer_of(item: PromptItem) -> str | None:
    return item.scorer or (DEFAULT_SCORER if item.reference is not None else None)


def check_prompt_scorers(prompts: PromptSet) -> None:
    """Every item's scorer exists, takes its options and has the reference it needs (before any request)."""
    for item in prompts:
        name = scorer_of(item)
        if name is None:
            continue
        try:
            check_scorer(name, dict(item.scorer_options), item.reference is not None)
        except ScorerError as exc:
            raise ScorerError(f"{item.source}: prompt {item.id!r}: {exc}") from None


def _prompts_for(run_dir: Path, prompts: PromptSet | str | Path | None) -> PromptSet:
    if isinstance(prompts, PromptSet):
        return prompts
    manifest = read_manifest(run_dir) or {}
    path = Path(prompts) if prompts else Path(manifest.get("prompt_set", {}).get("path", ""))
    if not path or not path.is_file():
        raise ScorerError(f"{run_dir}: the prompt set {str(path)!r} is not found; pass it with --prompts")
    loaded = load_prompt_set(path)
    expected = manifest.get("prompt_set", {}).get("sha256")
    if expected and loaded.sha256 != expected:
        raise ScorerError(f"{path} changed since {run_dir} was run (sha256 differs); score with the prompt set the run used")
    return loaded


def _question(item: PromptItem) -> str:
    """The conversation a judge sees: each message's text, with its role."""
    parts = []
    for m in item.messages:
        content = m.get("content")
        text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict)) + " [image]"
        parts.append(f"{m.get('role')}: {text}")
    return "\n".join(parts)


def score_rows(rows: list[dict[str, Any]], prompts: PromptSet, judge: Judge | None = None) -> list[dict[str, Any]]:
    items = {item.id: item for item in prompts}
    out = []
    for row in rows:
        item = items.get(row["prompt_id"])
        name = scorer_of(item) if item else None
        base = {k: row.get(k) for k in ("key", "deployment", "model", "prompt_id", "repeat", "tags", "status")}
        if name is None:
            out.append({**base, "scorer": None, "score": None, "reason": "no scorer and no reference", "failed": False})
        elif row["status"] not in ANSWERED:
            out.append({**base, "scorer": name, "score": 0.0, "reason": f"request failed: {row['status']}", "failed": True})
        elif name == "judge":
            if judge is None:
                raise ScorerError(f"{item.source}: prompt {item.id!r} uses the 'judge' scorer; pass a judge deployment (--judge NAME)")
            rubric = item.scorer_options.get("rubric") or DEFAULT_RUBRIC
            j = judge.judge(_question(item), row.get("response_text") or "", item.reference, rubric)
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
            result = score(name, row.get("response_text") or "", item.reference, **dict(item.scorer_options))
            out.append({**base, "scorer": name, "score": result.value, "reason": result.reason, "failed": False})
    return out


def summarize(scores: list[dict[str, Any]], *, seed: int = 0) -> dict[str, Any]:
    """Per deployment and per tag: mean with 95% CI over prompts, failures, consistency; pairwise verdicts."""
    by_deployment: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_tag: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    failures: dict[str, int] = defaultdict(int)
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
    per_deployment_means = {}
    deployments = {}
    for name, prompt_scores in by_deployment.items():
        means, consistency = per_prompt(prompt_scores)
        per_deployment_means[name] = means
        est = bootstrap_ci(list(means.values()), seed=seed)
        deployments[name] = {
            "prompts": est.n,
            "mean": est.mean,
            "ci_low": est.low,
            "ci_high": est.high,
            "failed_rows": failures[name],
            "unscorable_rows": unscorable[name],
            "consistency": consistency,
        }
    tags = {}
    for (name, tag), prompt_scores in by_tag.items():
        means, _ = per_prompt(prompt_scores)
        est = bootstrap_ci(list(means.values()), seed=seed)
        tags[f"{name}|{tag}"] = {"deployment": name, "tag": tag, "prompts": est.n, "mean": est.mean, "ci_low": est.low, "ci_high": est.high}
    comparisons = compare(per_deployment_means, seed=seed)
    hint = None
    if comparisons:
        import numpy as np

        c = comparisons[0]
        shared = sorted(set(per_deployment_means[c.a]) & set(per_deployment_means[c.b]))
        diffs = np.array([per_deployment_means[c.a][p] - per_deployment_means[c.b][p] for p in shared])
        sd = float(diffs.std(ddof=1)) if len(diffs) > 1 and diffs.std() > 0 else None
        hint = {"difference_points": 5, "prompts_needed": sample_size(0.05, sd), "based_on": f"{c.a} vs {c.b}" if sd else "worst case (no spread seen)"}
    return {
        "deployments": deployments,
        "tags": tags,
        "comparisons": [
            {"a": c.a, "b": c.b, "prompts": c.n, "diff": c.diff, "ci_low": c.low, "ci_high": c.high, "p": c.p, "p_holm": c.p_holm, "verdict": c.verdict()}
            for c in comparisons
        ],
        "sample_size_hint": hint,
    }


def make_judge(run_dir: str | Path, deployment: Any, *, prices: Any = None) -> Judge:
    """A Judge on ``deployment`` (a config.Deployment), caching in the run directory, priced from the price table."""
    from ..client import make_client
    from ..cost import price_for
    from ..prices import load_prices

    prices = prices or load_prices()
    return Judge(make_client(deployment), price=price_for(prices, deployment.model, deployment.kind), cache_path=Path(run_dir) / "judgments.jsonl")


def score_run(run_dir: str | Path, prompts: PromptSet | str | Path | None = None, *, judge: Judge | None = None, seed: int = 0) -> dict[str, Any]:
    """Score a finished (or partial) run: writes scores.jsonl and scores_summary.json; returns the summary."""
    run_dir = Path(run_dir)
    prompt_set = _prompts_for(run_dir, prompts)
    check_prompt_scorers(prompt_set)
    rows = list(final_rows(read_rows(run_dir)).values())
    scores = score_rows(rows, prompt_set, judge)
    tmp = run_dir / "scores.jsonl.tmp"
    with tmp.open("w", encoding="utf-8") as f:
        for s in scores:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    os.replace(tmp, run_dir / "scores.jsonl")
    # a stopped deployment, or one whose rows are mostly errors, has no answers to judge: its zeros are not a verdict
    from ..health import assess_run

    excluded = {d.name: {"state": str(d.state), "error": d.error, "check": d.check, "sentence": d.sentence()} for d in assess_run(run_dir).excluded}
    summary = summarize([s for s in scores if s["deployment"] not in excluded], seed=seed)
    summary["excluded"] = excluded
    judged = [s for s in scores if s.get("judge")]
    if judged:
        summary["judge"] = {
            "deployment": judged[0]["judge"],
            "judged_rows": len(judged),
            "unscorable_rows": sum(s["score"] is None for s in judged),
            "requests_sent": judge.requests_sent if judge else 0,
            "from_cache": sum(bool(s["judge_cached"]) for s in judged),
            "tokens": sum(s["judge_tokens"] for s in judged if not s["judge_cached"]),
            "cost_usd": str(sum((Decimal(s["judge_cost_usd"]) for s in judged if s["judge_cost_usd"] and not s["judge_cached"]), Decimal(0))),
        }
    (run_dir / "scores_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
