"""``llama-eval sweep``: latency against load for one or more deployments, and the capacity at an SLO."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from .run import EXIT_INTERRUPTED
from .tables import frame_table

if TYPE_CHECKING:
    from llama_eval.load.slo import SweepResult


def command(args: argparse.Namespace) -> int:
    """``llama-eval sweep``. Exit status 0 when every level ran, 3 when the sweep stopped early (the reason is printed)."""
    from decimal import Decimal, InvalidOperation

    # start-up time: the library (the runner, pandas) is imported only when the command runs, so `llama-eval --help` answers at once
    from llama_eval.catalog.prices import load_prices
    from llama_eval.deployments.loader import load_deployments
    from llama_eval.load.sweep import sweep
    from llama_eval.run import RunParams

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        budget = Decimal(args.budget_usd) if args.budget_usd is not None else None
    except InvalidOperation:
        raise SystemExit(f"llama-eval sweep: --budget-usd {args.budget_usd!r} is not a number") from None
    params = RunParams(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed, stream=not args.no_stream,
                       max_attempts=args.max_attempts, timeout_s=args.timeout)  # fmt: skip
    try:
        result = sweep(
            load_deployments(args.deployments),
            args.prompts,
            args.output,
            deployment=args.deployment,
            concurrency=args.concurrency,
            rate=args.rate,
            duration_s=args.duration_s,
            requests_per_level=args.requests_per_level,
            slo=args.slo,
            warmup_s=args.warmup_s,
            params=params,
            budget_usd=budget,
            respect_quota=not args.ignore_quota,
            seed=args.seed or 0,
            prices=load_prices(args.prices),
            progress=args.progress,
            resume=args.resume,
        )
    except KeyboardInterrupt:
        print(f"llama-eval sweep: interrupted; {args.output} holds the rows sent so far (and sweep.json for the levels that finished); "
              "the same command with --resume continues it", file=sys.stderr)  # fmt: skip
        return EXIT_INTERRUPTED
    print(frame_table(result.frame(), ["level", "concurrency" if args.concurrency else "rate_rps", "requests", "errors", "throughput_rps",
                                        "ttft_p50_s", "ttft_p90_s", "e2e_p90_s", "slo_met"]))  # fmt: skip
    return _sweep_report(args, result)


def _sweep_report(args: argparse.Namespace, result: SweepResult) -> int:
    """The capacity, why the sweep stopped and what it wrote; the exit status (3: stopped early, other than by breaking its SLO)."""
    capacity = result.capacity
    if capacity.level is not None:
        measured = capacity.level.throughput_rps
        bound = " (every level met the SLO: at least this)" if capacity.lower_bound else ""
        shown = f"{measured:.3f} requests/s measured" if measured is not None else "throughput not measured"
        print(f"capacity at the SLO: {capacity.level.load}, {shown}{bound}")
        estimate = capacity.estimate
        if estimate:
            print(f"  interpolated estimate (not measured): {estimate.throughput_rps:.3f} requests/s where {estimate.metric} reaches its limit")
    else:
        print(f"capacity: none — {capacity.reason}")
    if result.stopped:
        print(f"stopped early: {result.stopped}")
        if result.resumable:
            print(f"  to continue where it stopped: the same command with --resume (-o {args.output})")
    print(f"written: {args.output}/sweep.csv, {args.output}/sweep.json, {args.output}/results.jsonl")
    return 3 if result.stopped and "wide margin" not in result.stopped else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    sw = sub.add_parser("sweep", help="load sweep of one deployment: latency against load, capacity at a latency SLO")
    sw.add_argument("-d", "--deployments", required=True, help="deployments YAML file")
    sw.add_argument("-p", "--prompts", required=True, help="prompt set (JSONL); requests cycle through it")
    sw.add_argument("-o", "--output", required=True, help="sweep directory (runs/NAME): results.jsonl, sweep.csv, sweep.json")
    sw.add_argument("--deployment", help="the deployment to load (required when the file has several)")
    levels = sw.add_mutually_exclusive_group(required=True)
    levels.add_argument("--concurrency", help="closed loop: requests in flight per level, e.g. 1,2,4,8,16,32,64")
    levels.add_argument("--rate", help="open loop: Poisson arrivals, requests/s per level, e.g. 0.5,1,2,4,8")
    length = sw.add_mutually_exclusive_group(required=True)
    length.add_argument("--duration-s", type=float, help="seconds measured per level (after the warm-up)")
    length.add_argument("--requests-per-level", type=int, help="measured requests per level (after the warm-up)")
    sw.add_argument("--slo", help='latency objective, e.g. "ttft_p90<=1.0,e2e_p90<=10" (seconds; errors must stay <= 1%% unless error_rate is given)')
    sw.add_argument("--warmup-s", type=float, default=5.0, help="seconds at the start of each level left out of its statistics")
    sw.add_argument("--ignore-quota", action="store_true", help="run levels beyond the deployment's quota (to see its 429s)")
    sw.add_argument("--budget-usd", help="stop the sweep before spending more than this")
    sw.add_argument("--max-tokens", type=int, help="default max_tokens (an item's own wins; default 512)")
    sw.add_argument("--temperature", type=float)
    sw.add_argument("--seed", type=int, help="request seed; also seeds the open-loop arrival times")
    sw.add_argument("--no-stream", action="store_true", help="do not stream (only end-to-end latency is measured)")
    sw.add_argument("--max-attempts", type=int, default=1, help="attempts per request (1: a 429 or timeout under load is a measurement)")
    sw.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for a connection or a chunk")
    sw.add_argument("--prices", help="a price override CSV")
    sw.add_argument("--progress", choices=["auto", "none"], default="auto", help="a progress bar per level")
    sw.add_argument("--resume", action="store_true", help="continue the sweep in -o (interrupted, or stopped by errors or the budget); more levels extend it")
    sw.set_defaults(func=command)
