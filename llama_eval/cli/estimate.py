"""``llama-eval estimate``: what a run will cost and how long its quota makes it, before it is run."""

from __future__ import annotations

import argparse

from .tables import duration, table


def command(args: argparse.Namespace) -> int:
    from llama_eval.catalog.prices import load_prices, usd  # imported on use: start-up time
    from llama_eval.deployments.loader import load_deployments  # imported on use: start-up time
    from llama_eval.prompts.prompt_set import load_prompt_set  # imported on use: start-up time
    from llama_eval.run.estimate import estimate_run  # imported on use: start-up time

    config = load_deployments(args.deployments)
    prices = load_prices(args.prices, args.compute_prices)
    prompts = load_prompt_set(args.prompts)
    estimates = estimate_run(list(config), prompts, prices, repeats=args.repeats, max_tokens=args.max_tokens, previous_run=args.from_run)
    rows = []
    for name, e in estimates.items():
        minutes = "-" if e.quota_minutes is None else f"{duration(e.quota_minutes)} ({e.quota_binding})"
        tokens = f"{e.prompt_tokens}" + ("" if e.prompt_tokens_exact else " (est.)")
        tokens += f" (expected {e.expected_prompt_tokens})" if e.expected_prompt_tokens else ""  # conversations: the history with the answers seen
        worst = "VM-hours" if e.billed_by_hour else usd(e.worst_case_usd, 4)
        expected = "VM-hours" if e.billed_by_hour else (usd(e.expected_usd, 4) if e.expected_usd is not None else "-")
        rows.append([name, str(e.requests), tokens, str(e.max_output_tokens), expected, worst, minutes, e.price_note])
    print(table(["deployment", "requests", "prompt tokens", "max output", "expected", "worst case", "quota time", "note"], rows))
    print(f"\nPrices: {', '.join(str(p) for p in prices.sources)} (digest {prices.digest}). Worst case: every answer at max_tokens.")
    if prompts.has_conversations:
        print("Conversations: every turn is a request, and its prompt resends the history (worst case: each earlier answer at max_tokens).")
    if not args.from_run:
        print("Expected cost needs a previous run of the same prompts: --from-run runs/NAME")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    est = sub.add_parser("estimate", help="cost and quota time of a run before running it")
    est.add_argument("-d", "--deployments", required=True)
    est.add_argument("-p", "--prompts", required=True)
    est.add_argument("--repeats", type=int, default=1)
    est.add_argument("--max-tokens", type=int, help="default max_tokens (an item's own wins; default 512)")
    est.add_argument("--from-run", help="a previous run of the same prompts: expected output lengths")
    est.add_argument("--prices", help="a price override CSV")
    est.add_argument("--compute-prices", help="a VM price override CSV (e.g. from `llama-eval prices update`)")
    est.set_defaults(func=command)
