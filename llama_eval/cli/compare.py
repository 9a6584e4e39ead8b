"""``llama-eval compare``: run B against baseline run A (quality, latency, cost, what changed), and the ``--fail-if`` gate.

Exit status: 0 (no gate, or no condition failed), 1 (a condition holds and is statistically
supported), 2 (usage: a condition that cannot be read, a directory that is not a run). With one
run, ``--fail-if`` checks it against absolute targets (``score<0.8``, ``error_rate>1%``).
"""

from __future__ import annotations

import argparse
import json
import sys

from .tables import table

EXIT_GATE_FAILED = 1


def command(args: argparse.Namespace) -> int:
    from llama_eval.compare import check_run, compare_runs, judge, parse_conditions  # imported on use: start-up time
    from llama_eval.compare.html import write_page
    from llama_eval.compare.render import markdown, notes, sections, title

    conditions = parse_conditions(args.fail_if, two_runs=args.run_b is not None) if args.fail_if else []  # before any run is read
    comparison = compare_runs(args.run_a, args.run_b) if args.run_b is not None else check_run(args.run_a)
    gates = judge(conditions, comparison) if conditions else []
    if args.html:
        print(f"html: {write_page(comparison, args.html, gates)}")
    if args.json:
        print(json.dumps(comparison.to_json() | {"gates": [{"condition": g.condition.text, "failed": g.failed, "evaluated": g.evaluated, "reason": g.reason}
                                                            for g in gates]}, indent=2))  # fmt: skip
    elif args.markdown:
        print(markdown(comparison, gates))
    else:
        print(title(comparison))
        for line in notes(comparison):
            print(line)
        for heading, headers, rows in sections(comparison):
            print(f"\n{heading}")
            print(table(headers, rows) if rows else "(none)")
        if gates:
            print()
            for g in gates:
                print(g.line())
    failed = [g for g in gates if g.failed]
    if gates:
        print(f"gate: {'FAILED' if failed else 'passed'} ({len(failed)} of {len(gates)} conditions failed)", file=sys.stderr)
    return EXIT_GATE_FAILED if failed else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    cmp = sub.add_parser("compare", help="run B against baseline run A: quality, latency, cost, what changed; --fail-if gates CI",
                         description="Run B against baseline run A: quality, latency, cost, what else changed; --fail-if gates a pipeline.")  # fmt: skip
    cmp.add_argument("run_a", help="the baseline run directory (A); alone, the run checked against absolute --fail-if targets")
    cmp.add_argument("run_b", nargs="?", help="the run to judge (B), compared with A")
    cmp.add_argument(
        "--fail-if",
        metavar="CONDITIONS",
        help=(
            'exit 1 when a condition holds and is statistically supported, e.g. "quality_drop>2,ttft_p90_increase>20%%,cost_per_1k_increase>10%%" '
            "(quality_drop in points; ttft/itl/e2e _p50/_p90_increase and cost_per_1k_increase in %%); "
            'on one run: "score<0.8,error_rate>1%%"'
        ),
    )
    out = cmp.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="the comparison and the gate's results as JSON")
    out.add_argument("--markdown", action="store_true", help="GitHub-flavoured Markdown (for $GITHUB_STEP_SUMMARY)")
    cmp.add_argument("--html", metavar="FILE", help="also write the comparison as an HTML page in the report's style")
    cmp.set_defaults(func=command)
