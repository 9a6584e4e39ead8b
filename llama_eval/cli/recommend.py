"""``llama-eval recommend``: the cheapest option non-inferior to the best (within ``--margin`` points) that holds the SLO at peak.

Exit status: 0 when a recommendation is made, 3 when none can be (the reason is printed), 2 on bad
input (before any work). Traffic and objective default to ``llama_eval.defaults``, as ``cost`` and
``report`` do, and the output says what it assumed.
"""

from __future__ import annotations

import argparse
import json
from datetime import date

from llama_eval.defaults import DEFAULT_REQUESTS_PER_DAY, DEFAULT_SLO, as_sentences, assumed_traffic

from .tables import table

MARGIN_POINTS = 2.0  # llama_eval.decide.MARGIN_POINTS, written out so the parser does not import decide at start-up (a test holds them equal)
DECIDED, UNDECIDED = 0, 3  # exit statuses: a recommendation made; none can be made

EPILOG = f"""exit status:
  {DECIDED}  a recommendation is made (the cheapest option that passes every check)
  {UNDECIDED}  no recommendation can be made: the data cannot decide (the reason is printed)
  2  bad input, refused before any work

defaults (the same as `llama-eval cost` and `llama-eval report`; the output says when one is assumed):
  --requests-per-day {DEFAULT_REQUESTS_PER_DAY:,}, --peak-rps the day's average (a floor for fixed capacity), --slo "{DEFAULT_SLO}"
"""


def command(args: argparse.Namespace) -> int:
    """``llama-eval recommend``. Exit status 0 when the data decide, 3 when they cannot (the reason is printed)."""
    from llama_eval.catalog.prices import load_prices  # imported on use: start-up time
    from llama_eval.decide import recommend  # imported on use: start-up time

    assumed = assumed_traffic(args.requests_per_day, args.peak_rps, args.slo)
    # no --prices: the tables the run recorded, as the report prices it (recommend's default)
    result = recommend(args.run_dir, sweeps=args.sweep or (), peak_rps=args.peak_rps,
                       requests_per_day=args.requests_per_day if args.requests_per_day is not None else DEFAULT_REQUESTS_PER_DAY,
                       slo=args.slo if args.slo is not None else DEFAULT_SLO,
                       prices=load_prices(args.prices, ptu_overrides=args.ptu_prices) if args.prices or args.ptu_prices else None, on=args.on,
                       margin=args.margin)  # fmt: skip
    code = DECIDED if result.decided else UNDECIDED
    if args.json:
        print(json.dumps({**result.to_json(), "assumed": assumed, "exit_status": code}, indent=2, default=str))
        return code
    rows = []
    for option, r in zip(result.options, result.frame().to_dict("records"), strict=True):
        costed = option.costed
        monthly = f"${costed.monthly_usd:,}" if costed is not None and costed.monthly_usd is not None else "-"
        per_1k = f"${costed.usd_per_1k_requests:,}" if costed is not None and costed.usd_per_1k_requests is not None else "-"
        instances = "-" if r["instances"] is None or r["instances"] != r["instances"] else str(int(r["instances"]))
        quality = "-" if r["quality"] is None or r["quality"] != r["quality"] else f"{r['quality']:.3f}"
        rows.append([r["option"], r["kind"], quality, r["quality_verdict"] or "-", instances, monthly, per_1k, r["verdict"]])
    print(table(["option", "kind", "quality", f"against the best (margin {args.margin:g} points)", "instances", "monthly", "per 1,000 requests", "verdict"],
                rows))  # fmt: skip
    if result.sweeps:
        print("Capacity from: " + ", ".join(f"{name} ({path})" for name, path in sorted(result.sweeps.items())))
        print(result.workload_sentence)
    for line in as_sentences(assumed):
        print(line)
    print(result.summary())
    return code


def add_parser(sub: argparse._SubParsersAction) -> None:
    rec = sub.add_parser("recommend", help="cheapest option non-inferior to the best that holds the SLO at peak, and why every other lost",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    rec.add_argument("run_dir", help="a run directory (scored with `llama-eval score`, or scored here)")
    rec.add_argument("--sweep", action="append",
                     help="a sweep directory (or a directory of them) of the run's deployments, repeatable; added to RUN_DIR/sweeps, "
                          "and replaces a stored sweep of the same deployment")  # fmt: skip
    rec.add_argument("--peak-rps", type=float, help="requests/s at the busiest moment (default: the day's average, a floor for fixed capacity)")
    rec.add_argument("--requests-per-day", type=float, help=f"production volume for the monthly cost (default {DEFAULT_REQUESTS_PER_DAY:,})")
    rec.add_argument("--slo", help=f'latency objective the sweeps are judged under (default "{DEFAULT_SLO}")')
    rec.add_argument("--margin", type=float, default=MARGIN_POINTS,
                     help=f"quality loss against the best-scoring option that is accepted, in points (2 = 0.02 on a 0-1 score; default {MARGIN_POINTS:g}): "
                          "an option is chosen only if the one-sided 95%% lower bound of its difference is above -margin")  # fmt: skip
    rec.add_argument("--prices", help="a price override CSV")
    rec.add_argument("--ptu-prices", help="a PTU (provisioned throughput) price override CSV (e.g. from `llama-eval prices update`)")
    rec.add_argument("--on", type=date.fromisoformat, default=None, help="lifecycle as of this day (YYYY-MM-DD; default today)")
    rec.add_argument("--json", action="store_true", help="the decision as one JSON object (traffic, choice, summary, options; money as exact strings)")
    rec.set_defaults(func=command)
