"""``llama-eval import``: a public data set turned into a prompt set (JSONL)."""

from __future__ import annotations

import argparse


def command(args: argparse.Namespace) -> int:
    from llama_eval.prompts.importers import import_set  # start-up time: imported on use (~45 ms)
    from llama_eval.prompts.prompt_set import load_prompt_set  # start-up time: imported on use (~40 ms)

    count = import_set(args.kind, args.source, args.output, limit=args.limit)
    load_prompt_set(args.output)  # what was written must load as a prompt set
    print(f"wrote {count} prompts to {args.output}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser("import", help="convert a public data set into a prompt set (JSONL)")
    imp.add_argument("kind", choices=["gsm8k", "truthfulqa", "mmlu", "csv", "scitldr", "sharegpt"])
    imp.add_argument("source")
    imp.add_argument("-o", "--output", required=True)
    imp.add_argument("--limit", type=int, help="keep the first N items")
    imp.set_defaults(func=command)
