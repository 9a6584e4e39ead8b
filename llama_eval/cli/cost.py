"""``llama-eval cost``: what a run cost; with a volume, the monthly projection and break-even."""

from __future__ import annotations

import argparse

from .tables import table


def command(args: argparse.Namespace) -> int:
    from llama_eval.catalog.prices import load_prices  # imported on use: start-up time
    from llama_eval.cost.actual import run_costs  # imported on use: start-up time
    from llama_eval.cost.figures import break_even_figure  # imported on use: start-up time
    from llama_eval.cost.projection import project_run  # imported on use: start-up time
    from llama_eval.report.cost import break_even_table, cost_frame, options_table, retired_table  # imported on use: start-up time
    from llama_eval.report.latency import sweep_dirs  # imported on use: start-up time

    # the projection's inputs are checked, and the projection made, before anything is printed
    if args.requests_per_day is not None and args.requests_per_day <= 0:
        raise SystemExit(f"llama-eval cost: --requests-per-day must be > 0, got {args.requests_per_day:g}")
    if args.peak_rps is not None and args.peak_rps <= 0:
        raise SystemExit(f"llama-eval cost: --peak-rps must be > 0 requests/s, got {args.peak_rps:g}; leave it out to use the day's average")
    if args.requests_per_day is None and (args.peak_rps is not None or args.sweep or args.slo):
        raise SystemExit("llama-eval cost: --peak-rps, --sweep and --slo size the production projection: give --requests-per-day N too")
    result = None
    if args.requests_per_day is not None:  # a missing sweep or an unreadable SLO fails here, not after half the output
        compute = {"sku": args.sku, "instances": args.instances, "region": args.region, "hours_per_day": args.hours_per_day}
        given = args.prices or args.compute_prices or args.ptu_prices
        prices = load_prices(args.prices, args.compute_prices, ptu_overrides=args.ptu_prices) if given else None  # None: the tables the run used
        sweeps = args.sweep if args.sweep else sweep_dirs(args.run_dir)
        result = project_run(args.run_dir, args.requests_per_day, prices=prices, compute=compute, sweeps=sweeps, slo=args.slo, peak_rps=args.peak_rps)

    actual = run_costs(args.run_dir)
    frame = cost_frame(args.run_dir).drop(columns=["model"])
    errors = {name: d.estimate_error for name, d in actual.deployments.items()}
    frame["expected vs actual"] = [f"{float(errors[n]):+.1%}" if errors.get(n) is not None else "-" for n in frame.index]
    print(table(["deployment", *frame.columns], [[str(n), *(str(v) for v in row)] for n, row in zip(frame.index, frame.itertuples(index=False), strict=True)]))
    print(f"\nTotal ${actual.total_usd}")
    print(f"Price tables (digest {actual.prices.get('digest')}):")  # one per line: they are paths, not a Python list
    for path in actual.prices.get("tables") or ["(none recorded)"]:
        print(f"  {path}")
    if result is None:
        return 0
    print(f"\nProjected traffic: {result.profile.describe()} (token means from the run)")
    for title, frame in (("", options_table(result)), ("Retired offers (not options):", retired_table(result)), ("Break-even:", break_even_table(result))):
        if frame.empty:
            continue
        frame = frame.reset_index() if frame.index.name else frame
        print(f"\n{title}" if title else "")
        print(table([str(c) for c in frame.columns], [[str(v) for v in row] for row in frame.itertuples(index=False)]))
    if args.figure:
        break_even_figure(result).write_html(args.figure, include_plotlyjs=True)
        print(f"figure: {args.figure}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    cost = sub.add_parser("cost", help="actual cost of a run; with --requests-per-day, the monthly projection and break-even")
    cost.add_argument("run_dir")
    cost.add_argument("--requests-per-day", type=float, help="production volume to project (token means from the run)")
    cost.add_argument("--sku", help="managed-compute VM SKU (default: the catalog's recommended SKU per model)")
    cost.add_argument("--instances", type=int, help="managed-compute instances (default: the run's, else 1)")
    cost.add_argument("--hours-per-day", type=float, help="hours a day the managed compute runs (default 24)")
    cost.add_argument("--region", help="region of the VM price (default: the run's, else eastus)")
    cost.add_argument("--prices", help="a price override CSV")
    cost.add_argument("--compute-prices", help="a VM price override CSV (e.g. from `llama-eval prices update`)")
    cost.add_argument("--ptu-prices", help="a PTU (provisioned throughput) price override CSV (e.g. from `llama-eval prices update`)")
    cost.add_argument("--figure", help="write the break-even figure as standalone HTML here")
    cost.add_argument("--peak-rps", type=float, help="requests/s at the busiest moment: sizes the machines (default: the day's average)")
    cost.add_argument("--sweep", action="append", help="a sweep directory (or a directory of them) measuring capacity; repeatable (default: RUN_DIR/sweeps)")
    cost.add_argument("--slo", help='judge the sweeps under this latency objective, e.g. "ttft_p90<=1.0" (default: each sweep\'s own)')
    cost.set_defaults(func=command)
