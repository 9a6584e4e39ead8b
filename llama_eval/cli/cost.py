"""``llama-eval cost``: what a run cost, and the monthly projection and break-even at a production volume.

With no volume, peak or objective given it projects at ``llama_eval.defaults`` (the report's and
``recommend``'s defaults) and says so. ``--json`` prints one JSON object: what the run cost, the traffic
assumed, and each option's ``OptionCost`` (``CostOption.cost_at``: the same monthly cost and cost per
1,000 requests as the report and ``recommend``).
"""

from __future__ import annotations

import argparse
import json

from llama_eval.defaults import DEFAULT_REQUESTS_PER_DAY, DEFAULT_SLO, as_sentences, assumed_traffic

from .tables import table


def command(args: argparse.Namespace) -> int:
    from llama_eval.catalog.prices import load_prices  # imported on use: start-up time
    from llama_eval.cost.actual import run_costs  # imported on use: start-up time
    from llama_eval.cost.figures import break_even_figure  # imported on use: start-up time
    from llama_eval.cost.projection import project_run  # imported on use: start-up time
    from llama_eval.report.cost import SENT_PER_1K, break_even_table, cost_frame, options_table, retired_table  # imported on use: start-up time
    from llama_eval.report.latency import sweep_dirs  # imported on use: start-up time
    from llama_eval.rundir.run import load_run  # imported on use: start-up time

    # the projection's inputs are checked, and the projection made, before anything is printed
    if args.requests_per_day is not None and args.requests_per_day <= 0:
        raise SystemExit(f"llama-eval cost: --requests-per-day must be > 0, got {args.requests_per_day:g}")
    if args.peak_rps is not None and args.peak_rps <= 0:
        raise SystemExit(f"llama-eval cost: --peak-rps must be > 0 requests/s, got {args.peak_rps:g}; leave it out to use the day's average")
    assumed = assumed_traffic(args.requests_per_day, args.peak_rps, args.slo)
    volume = args.requests_per_day if args.requests_per_day is not None else DEFAULT_REQUESTS_PER_DAY
    run = load_run(args.run_dir)  # read once: the projection and the actual costs work on it
    compute = {"sku": args.sku, "instances": args.instances, "region": args.region, "hours_per_day": args.hours_per_day}
    given = args.prices or args.compute_prices or args.ptu_prices
    prices = load_prices(args.prices, args.compute_prices, ptu_overrides=args.ptu_prices) if given else None  # None: the tables the run used
    sweeps = args.sweep if args.sweep else sweep_dirs(args.run_dir)
    try:  # a missing sweep or an unreadable SLO fails here, not after half the output
        result = project_run(run, volume, prices=prices, compute=compute, sweeps=sweeps, slo=args.slo or DEFAULT_SLO, peak_rps=args.peak_rps)
    except ValueError as exc:
        if "no successful rows" not in str(exc):
            raise
        result, assumed = None, [*assumed, f"no projection: {exc}"]

    actual = run_costs(args.run_dir)
    if args.json:
        print(json.dumps(_as_json(args.run_dir, actual, result, assumed), indent=2, default=str))
        return 0
    frame = cost_frame(args.run_dir).drop(columns=["model"])
    errors = {name: d.estimate_error for name, d in actual.deployments.items()}
    frame["expected vs actual"] = [f"{float(errors[n]):+.1%}" if errors.get(n) is not None else "-" for n in frame.index]
    headers = ["deployment", *("per 1,000 requests sent (this run)" if c == SENT_PER_1K else str(c) for c in frame.columns)]
    print(table(headers, [[str(n), *(str(v) for v in row)] for n, row in zip(frame.index, frame.itertuples(index=False), strict=True)]))
    print(f"\nTotal ${actual.total_usd}")
    print(f"Price tables (digest {actual.prices.get('digest')}):")  # one per line: they are paths, not a Python list
    for path in actual.prices.get("tables") or ["(none recorded)"]:
        print(f"  {path}")
    if assumed:
        print()
        print("\n".join(as_sentences(assumed)))
    if result is None:
        return 0
    print(f"\nProjected traffic: {result.describe()}")
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


def _as_json(run_dir: str, actual, result, assumed: list[str]) -> dict:  # type: ignore[no-untyped-def]
    """``cost --json``: the actual cost per deployment, the traffic assumed, and each option's ``OptionCost`` (money as exact strings)."""
    out: dict = {
        "run": str(run_dir),
        "actual": {"total_usd": str(actual.total_usd), "deployments": {name: d.to_json() for name, d in actual.deployments.items()}, "prices": actual.prices},
        "assumed": assumed,
        "projection": None,
    }
    if result is not None:
        costs = result.costs()
        out["projection"] = {
            "traffic": result.describe(),
            "requests_per_day": str(result.profile.requests_per_day),
            "peak_rps": str(result.profile.peak_rps) if result.profile.peak_rps is not None else None,
            "options": [
                {
                    "option": o.label,
                    "model": o.model,
                    "kind": o.kind,
                    "deployments": list(o.deployments),
                    "retired": o.retired or None,
                    **costs[o.label].to_json(),
                    "basis": o.basis,
                    "note": o.note,
                }
                for o in result.options + result.retired
            ],  # fmt: skip
            "break_even": [{"a": p.a, "b": p.b, "why": p.why, "verdict": p.verdict()} for p in result.break_even],
        }
    return out


def add_parser(sub: argparse._SubParsersAction) -> None:
    cost = sub.add_parser("cost", help="actual cost of a run, and the monthly projection and break-even at a production volume")
    cost.add_argument("run_dir")
    cost.add_argument(
        "--requests-per-day", type=float, help=f"production volume to project (default {DEFAULT_REQUESTS_PER_DAY:,}, as `report` and `recommend`)"
    )
    cost.add_argument("--sku", help="managed-compute VM SKU (default: the catalog's recommended SKU per model)")
    cost.add_argument("--instances", type=int, help="managed-compute instances (default: the run's, else 1)")
    cost.add_argument("--hours-per-day", type=float, help="hours a day the managed compute runs (default 24)")
    cost.add_argument("--region", help="region of the VM price (default: the run's, else eastus)")
    cost.add_argument("--prices", help="a price override CSV")
    cost.add_argument("--compute-prices", help="a VM price override CSV (e.g. from `llama-eval prices update`)")
    cost.add_argument("--ptu-prices", help="a PTU (provisioned throughput) price override CSV (e.g. from `llama-eval prices update`)")
    cost.add_argument("--figure", help="write the break-even figure as standalone HTML here")
    cost.add_argument("--peak-rps", type=float, help="requests/s at the busiest moment: sizes the machines (default: the day's average, a floor)")
    cost.add_argument("--sweep", action="append", help="a sweep directory (or a directory of them) measuring capacity; repeatable (default: RUN_DIR/sweeps)")
    cost.add_argument("--slo", help=f'judge the sweeps under this latency objective (default "{DEFAULT_SLO}", as `recommend`)')
    cost.add_argument(
        "--json", action="store_true", help="one JSON object: actual cost, traffic assumed, each option's monthly cost and cost per 1,000 requests"
    )
    cost.set_defaults(func=command)
