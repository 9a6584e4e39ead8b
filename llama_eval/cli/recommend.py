"""``llama-eval recommend``: the cheapest option non-inferior to the best (within ``--margin`` points) that holds the SLO at peak."""

from __future__ import annotations

import argparse
from datetime import date

from .tables import table

MARGIN_POINTS = 2.0  # llama_eval.decide.MARGIN_POINTS, written out so the parser does not import decide at start-up (a test holds them equal)


def command(args: argparse.Namespace) -> int:
    """``llama-eval recommend``. Exit status 0 when the data decide, 3 when they cannot (the reason is printed)."""
    from llama_eval.catalog.prices import load_prices  # imported on use: start-up time
    from llama_eval.decide import recommend  # imported on use: start-up time

    # no --prices: the tables the run recorded, as the report prices it (recommend's default)
    result = recommend(args.run_dir, sweeps=args.sweep or (), peak_rps=args.peak_rps, requests_per_day=args.requests_per_day, slo=args.slo,
                       prices=load_prices(args.prices, ptu_overrides=args.ptu_prices) if args.prices or args.ptu_prices else None, on=args.on,
                       margin=args.margin)  # fmt: skip
    frame = result.frame()
    if args.json:
        print(frame.to_json(orient="records", indent=2, default_handler=str))
    else:
        rows = []
        for r in frame.to_dict("records"):
            monthly = "-" if r["monthly_usd"] is None or r["monthly_usd"] != r["monthly_usd"] else f"${r['monthly_usd']:,}"
            instances = "-" if r["instances"] is None or r["instances"] != r["instances"] else str(int(r["instances"]))
            quality = "-" if r["quality"] is None or r["quality"] != r["quality"] else f"{r['quality']:.3f}"
            rows.append([r["option"], r["kind"], quality, r["quality_verdict"] or "-", instances, monthly, r["verdict"]])
        print(table(["option", "kind", "quality", f"against the best (margin {args.margin:g} points)", "instances", "monthly", "verdict"], rows))
        if result.sweeps:
            print("Capacity from: " + ", ".join(f"{name} ({path})" for name, path in sorted(result.sweeps.items())))
    print(result.summary())
    return 0 if result.decided else 3


def add_parser(sub: argparse._SubParsersAction) -> None:
    rec = sub.add_parser("recommend", help="cheapest option non-inferior to the best that holds the SLO at peak, and why every other lost")
    rec.add_argument("run_dir", help="a run directory (scored with `llama-eval score`, or scored here)")
    rec.add_argument("--sweep", action="append",
                     help="a sweep directory (or a directory of them) of the run's deployments, repeatable; added to RUN_DIR/sweeps, "
                          "and replaces a stored sweep of the same deployment")  # fmt: skip
    rec.add_argument("--peak-rps", type=float, required=True, help="requests/s at the busiest moment")
    rec.add_argument("--requests-per-day", type=float, required=True, help="production volume for the monthly cost")
    rec.add_argument("--slo", required=True, help='latency objective, e.g. "ttft_p90<=1.0" (the sweeps are judged under it)')
    rec.add_argument("--margin", type=float, default=MARGIN_POINTS,
                     help=f"quality loss against the best-scoring option that is accepted, in points (2 = 0.02 on a 0-1 score; default {MARGIN_POINTS:g}): "
                          "an option is chosen only if the one-sided 95%% lower bound of its difference is above -margin")  # fmt: skip
    rec.add_argument("--prices", help="a price override CSV")
    rec.add_argument("--ptu-prices", help="a PTU (provisioned throughput) price override CSV (e.g. from `llama-eval prices update`)")
    rec.add_argument("--on", type=date.fromisoformat, default=None, help="lifecycle as of this day (YYYY-MM-DD; default today)")
    rec.add_argument("--json", action="store_true", help="machine-readable table")
    rec.set_defaults(func=command)
