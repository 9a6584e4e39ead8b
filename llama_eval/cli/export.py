"""``llama-eval export``: a run's rows for other tools (azure-ai-evaluation JSONL, CSV, Parquet)."""

from __future__ import annotations

import argparse
import sys


def command(args: argparse.Namespace) -> int:
    from llama_eval.rundir.export import export_run  # start-up time: the library only when the command runs, so `--help` answers at once

    summary = export_run(args.run_dir, args.output, args.format, prompts=args.prompts, include_failed=args.include_failed)
    print(f"llama-eval export: {summary.describe()}", file=sys.stderr)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    exp = sub.add_parser("export", help="write a run's rows for other tools: azure-ai-evaluation JSONL, CSV or Parquet")
    exp.add_argument("run_dir")
    exp.add_argument("--format", default="azure-ai-evaluation", choices=["azure-ai-evaluation", "csv", "parquet"])
    exp.add_argument("-o", "--output", required=True, help="file to write")
    exp.add_argument("--prompts", help="the prompt set (default: the one the run's manifest names)")
    exp.add_argument("--include-failed", action="store_true", help="csv/parquet: keep failed rows (their status says why)")
    exp.set_defaults(func=command)
