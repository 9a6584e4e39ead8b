"""``llama-eval score``: scores.jsonl, means with 95% intervals and paired verdicts."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .tables import table

if TYPE_CHECKING:
    from llama_eval.quality.summary import QualitySummary


def command(args: argparse.Namespace) -> int:
    # start-up time: the library (and its SDKs) is imported only when the command runs, so `llama-eval --help` answers at once
    from llama_eval.quality.scoring import make_judge, score_files, score_run
    from llama_eval.rundir.health import assess_run
    from llama_eval.rundir.run import load_run

    judge = None
    if args.judge:
        from llama_eval.deployments.loader import load_deployments  # start-up time, as above

        if not args.deployments:
            raise SystemExit("llama-eval score: --judge needs -d deployments.yaml, the file that defines the judge deployment")
        judge = make_judge(args.run_dir, load_deployments(args.deployments)[args.judge])
    scorer = None
    if args.scorer:  # a name, or a JSON object {"name": ..., options} as in a prompt set
        try:
            scorer = json.loads(args.scorer) if args.scorer.lstrip().startswith("{") else args.scorer
        except ValueError as exc:
            raise SystemExit(f"llama-eval score: --scorer is not valid JSON: {exc}") from None
    run = load_run(args.run_dir)
    summary = score_run(run, args.prompts, judge=judge, seed=args.seed, scorer=scorer)
    print(format_summary(summary, cut_short=assess_run(run).cut_short()))
    scores_name, summary_name = score_files(scorer)
    if scorer is None and run.manifest.status == "completed":  # the store's score column follows the prompts' own scorers
        import sys

        from llama_eval.run import store_run

        store_run(run.path, args.store, lambda message: print(f"llama-eval score: {message}", file=sys.stderr))
    print(f"\nScores: {args.run_dir}/{scores_name} (failed requests score 0 and are counted as failed rows)")
    if scorer is not None:  # an override never replaces the scores report and recommend read
        print(f"Scored with --scorer {args.scorer}: written to {scores_name} and {summary_name}; "
              f"scores.jsonl and scores_summary.json (the prompts' own scorers, which report and recommend read) are unchanged")  # fmt: skip
    return 0


def format_summary(summary: QualitySummary, *, cut_short: Sequence[str] = ()) -> str:
    """The summary as the terminal shows it: scores, answers cut short, exclusions, tags, numeric accuracy, verdicts, hint, judge."""
    out: list[str] = []
    rows = []
    for name, d in sorted(summary.deployments.items(), key=lambda kv: (-kv[1].mean, kv[0])):
        consistency = "-" if d.consistency is None else f"{d.consistency:.0%}"
        rows.append([name, str(d.prompts), f"{100 * d.mean:.1f}", f"[{100 * d.ci_low:.1f}, {100 * d.ci_high:.1f}]", str(d.failed_rows),
                     str(d.incomplete_rows), str(d.unscorable_rows), consistency])  # fmt: skip
    out.append(table(["deployment", "prompts", "score", "95% CI", "failed rows", "incomplete", "unscorable", "repeats agree"], rows))
    if cut_short:  # failed requests the server answered with 200: say so, or a lower score reads as the model's doing
        out.append("\nAnswers cut short (status incomplete, counted in 'failed rows' like the other failed requests, never scored as answers):")
        out += [f"  {text}" for text in cut_short]
    if summary.excluded:
        out.append("\nNot scored and left out of the comparisons (no answers to judge):")
        out += [f"  {e.sentence}" for e in summary.excluded.values()]
    if summary.tags:
        tag_rows = [[t.deployment, t.tag, str(t.prompts), f"{100 * t.mean:.1f}", f"[{100 * t.ci_low:.1f}, {100 * t.ci_high:.1f}]"]
                    for t in summary.tags.values()]  # fmt: skip
        out.append("\n" + table(["deployment", "tag", "prompts", "score", "95% CI"], sorted(tag_rows)))
    if summary.numeric:  # numeric sets: both accuracies, as lm-evaluation-harness reports GSM8K
        numeric_rows = [[n, str(a.rows), f"{100 * a.strict:.1f}", f"{100 * a.flexible:.1f}", f"{a.marked:.0%}"] for n, a in sorted(summary.numeric.items())]
        out.append("\n" + table(["deployment", "numeric rows", "strict", "flexible", "answers with a marker"], numeric_rows))
    out += [f"  {c.verdict}" for c in summary.comparisons]
    hint = summary.sample_size_hint
    if hint:
        out.append(f"\nTo detect a {hint.difference_points}-point difference with 80% power: about {hint.prompts_needed} prompts ({hint.based_on}).")
    j = summary.judge
    if j is not None:
        out.append(f"\nJudge {j.deployment}: {j.judged_rows} rows judged ({j.from_cache} from cache), {j.unscorable_rows} unscorable, "
                   f"{j.requests_sent} requests, {j.tokens} tokens, ${j.cost_usd} (kept apart from the evaluated models' cost)")  # fmt: skip
    return "\n".join(out)


def add_parser(sub: argparse._SubParsersAction) -> None:
    sc = sub.add_parser("score", help="score a run: scores.jsonl, means with 95%% CIs, paired verdicts")
    sc.add_argument("run_dir")
    sc.add_argument("--prompts", help="the prompt set (default: the one the run's manifest names)")
    sc.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    sc.add_argument(
        "--judge",
        help="deployment name (in -d) that grades items whose scorer is 'judge' or an AI-assisted azure:* one "
        "(when no item's scorer is, the output says it was not used)",
    )
    sc.add_argument(
        "--scorer",
        help='score every item with this scorer: a name (azure:f1) or JSON ({"name": "azure:rouge", "rouge_type": "rouge1"}); '
        "writes scores.<scorer>.jsonl and scores_summary.<scorer>.json, leaving scores.jsonl (what report and recommend read) unchanged",
    )
    sc.add_argument("-d", "--deployments", help="deployments YAML holding the judge deployment")
    sc.add_argument("--store", help="the run store whose copy of a completed run gets the scores (default: $LLAMA_EVAL_STORE, else .store beside it; 'off')")
    sc.set_defaults(func=command)
