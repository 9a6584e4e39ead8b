"""``llama-eval sweep``: latency against load for one or more deployments, and the capacity at an SLO."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from .run import EXIT_INTERRUPTED, add_executor_flags, ray_executor
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
    executor = ray_executor(args, "sweep")
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
            search=args.search,
            precision=args.precision,
            burstiness=args.burstiness,
            executor=executor,
            store=args.store,
        )
    except KeyboardInterrupt:
        print(f"llama-eval sweep: interrupted; {args.output} holds the rows sent so far (and sweep.json for the levels that finished); "
              "the same command with --resume continues it", file=sys.stderr)  # fmt: skip
        return EXIT_INTERRUPTED
    columns = ["level", "concurrency" if args.concurrency else "rate_rps", "requests", "errors", "throughput_rps", "ttft_p50_s", "ttft_p90_s", "e2e_p90_s"]
    if result.slo is not None and result.slo.by_attainment:  # a per-request SLO: each level's attainment and goodput
        columns += ["attainment", "attainment_low", "attainment_high", "goodput_rps"]
    print(frame_table(result.frame(), [*columns, "slo_met"]))
    return _sweep_report(args, result)


def _sweep_report(args: argparse.Namespace, result: SweepResult) -> int:
    """The capacity, why the sweep stopped and what it wrote; the exit status (3: stopped early, other than by breaking its SLO)."""
    capacity = result.capacity
    if capacity.level is not None:
        measured = capacity.level.throughput_rps
        bound = " (every level met the SLO: at least this)" if capacity.lower_bound else ""
        shown = f"{measured:.3f} requests/s measured" if measured is not None else "throughput not measured"
        if capacity.level.attainment is not None:
            goodput = f", goodput {capacity.level.goodput_rps:.3f} requests/s" if capacity.level.goodput_rps is not None else ""
            shown += (f", attainment {capacity.level.attainment:.1%} [{capacity.level.attainment_low:.1%}, {capacity.level.attainment_high:.1%}] "
                      f"against {result.slo.target * 100:g}%{goodput}")  # fmt: skip
        print(f"capacity at the SLO: {capacity.level.load}, {shown}{bound}")
        if capacity.straddles:
            print(f"  uncertain: {capacity.straddles}")
        estimate = capacity.estimate
        if estimate:
            print(f"  interpolated estimate (not measured): {estimate.throughput_rps:.3f} requests/s where {estimate.metric} reaches its limit")
    else:
        print(f"capacity: none — {capacity.reason}")
    if result.stopped:
        print(f"stopped early: {result.stopped}")
        if result.resumable:
            print(f"  to continue where it stopped: the same command with --resume (-o {args.output})")
    if result.search is not None:
        ladder = result.search.get("doubling_ladder") or []
        lo, hi = result.search["range"]
        measured = ", ".join(level.load.split(" ")[1] for level in result.levels)
        print(f"search: {len(result.levels)} levels measured ({measured}); the doubling ladder alone over {lo:g}:{hi:g} "
              f"has {len(ladder)} ({', '.join(f'{v:g}' for v in ladder)})")  # fmt: skip
    if result.workload is not None:  # the traffic the capacity holds for (sweep.json's workload)
        print(f"measured with: {result.workload.describe()}")
    clients = _clients(result)
    if clients is not None:  # a distributed sweep: how many clients, and what their clocks add
        lost = "; ".join(f"client {x['client']} lost in level {x['level']} after {x['rows_delivered']} rows" for x in clients.get("lost") or ())
        print(f"clients: {clients['count']} Ray clients ({clients['address']}); {clients['uncertainty_note']}" + (f"; {lost}" if lost else ""))
    print(f"written: {args.output}/sweep.csv, {args.output}/sweep.json, {args.output}/results.jsonl")
    if result.cost is not None:
        print(f"the sweep itself used: {result.cost}")
    return 3 if result.stopped and "wide margin" not in result.stopped else 0


def _clients(result: SweepResult) -> dict | None:
    import json

    from llama_eval.load.slo import SWEEP_JSON

    path = result.path / SWEEP_JSON
    return json.loads(path.read_text()).get("clients") if path.exists() else None


def add_parser(sub: argparse._SubParsersAction) -> None:
    sw = sub.add_parser(
        "sweep",
        help="load sweep of one deployment: latency against load, capacity at a latency SLO",
        epilog="Exit status: 0 every level ran, or the sweep stopped because a level broke its SLO by a wide margin (the capacity is known); "
        "3 stopped early for another reason (the quota would be exceeded, every request of a level failed): the levels measured "
        "are written; 130 interrupted by Ctrl-C (resumable with --resume); 2 bad input.",
    )
    sw.add_argument("-d", "--deployments", required=True, help="deployments YAML file")
    sw.add_argument("-p", "--prompts", required=True, help="prompt set (JSONL); requests cycle through it")
    sw.add_argument("-o", "--output", required=True, help="sweep directory (runs/NAME): results.jsonl, sweep.csv, sweep.json")
    sw.add_argument("--deployment", help="the deployment to load (required when the file has several)")
    levels = sw.add_mutually_exclusive_group(required=True)
    levels.add_argument("--concurrency", help="closed loop: requests in flight per level, e.g. 1,2,4,8,16,32,64 (with --search a range, e.g. 1:64)")
    levels.add_argument("--rate", help="open loop: Poisson arrivals, requests/s per level, e.g. 0.5,1,2,4,8 (with --search a range, e.g. 0.5:32)")
    sw.add_argument("--burstiness", type=float,
                    help="with --rate: gamma gaps between arrivals (vLLM's --burstiness): the mean rate stays, the gaps' "
                         "coefficient of variation is 1/sqrt(B); 1 is Poisson, below 1 burstier, above 1 more regular")  # fmt: skip
    length = sw.add_mutually_exclusive_group(required=True)
    length.add_argument("--duration-s", type=float, help="seconds measured per level (after the warm-up)")
    length.add_argument("--requests-per-level", type=int, help="measured requests per level (after the warm-up)")
    sw.add_argument("--slo", help='latency objective: a level\'s percentiles, e.g. "ttft_p90<=1.0,e2e_p90<=10" (seconds; errors must stay <= 1%% '
                                  'unless error_rate is given), or each request\'s limits and the share that must meet them, e.g. '
                                  '"ttft<=0.5,itl<=0.05,e2e<=8@95%%" or "otps>=50@99%%" (errors are misses)')  # fmt: skip
    sw.add_argument("--search", action="store_true", help="search for the capacity: --concurrency/--rate is a range LO:HI; the load doubles from LO "
                                                          "until the SLO breaks, then bisects between the last good and first bad level")  # fmt: skip
    sw.add_argument("--precision", type=float, default=0.1, help="--search with --rate: stop bisecting when the first bad rate is within this "
                                                                  "share of the last good one (default 0.1: 10%%)")  # fmt: skip
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
    sw.add_argument("--store", help="the run store the finished sweep is also written to: a folder, an fsspec URL or 'off' "
                                    "(default: $LLAMA_EVAL_STORE, else .store beside the sweep directory)")  # fmt: skip
    add_executor_flags(sw)
    sw.set_defaults(func=command)
