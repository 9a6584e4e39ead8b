"""``llama-eval models``: the Llama catalog with limits, lifecycle per offer and prices."""

from __future__ import annotations

import argparse
import json
from datetime import date

from llama_eval import clock

from .tables import table


def command(args: argparse.Namespace) -> int:
    from llama_eval.catalog.overview import model_overview  # start-up time: imported on use (~50 ms)
    from llama_eval.catalog.prices import load_prices  # start-up time: imported on use (~50 ms)

    prices = load_prices(args.prices, args.compute_prices)
    rows = model_overview(args.on, prices=prices)
    if args.available:
        rows = [r for r in rows if r["serverless"] == "GA" or r["serverless"].startswith(("deprecated", "legacy"))]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    columns = [
        ("model", "model"),
        ("params_b", "params (B)"),
        ("context", "context"),
        ("max_output", "max out"),
        ("modality", "modality"),
        ("serverless", f"serverless ({args.on or clock.today()})"),
        ("managed", "managed"),
        ("input_usd_per_1m", "in $/1M"),
        ("output_usd_per_1m", "out $/1M"),
        ("managed_sku", "managed VM SKU"),
        ("replacement", "use instead"),
    ]
    # "est.": the value rests on an assumption, not a source (data/models.yaml says why); "suggested": our pick, not Microsoft's
    marks = {"max_output": "max_output_estimated", "managed_sku": "managed_sku_estimated", "replacement": "replacement_is_suggestion"}
    cells = []
    for r in rows:
        # "no price" only where a serverless offer exists and its price is unknown; managed-only models show "-"
        unpriced = "no price" if r["serverless"] != "-" else "-"
        row = []
        for k, _ in columns:
            text = (unpriced if k.endswith("per_1m") else "-") if r[k] is None else str(r[k]).removeprefix("Standard_")
            if r[k] is not None and r.get(marks.get(k, "")):
                text += " (suggested)" if k == "replacement" else " est."
            row.append(text)
        cells.append(row)
    print(table([h for _, h in columns], cells))
    freshness = prices.freshness(args.on)
    print("\nPrices: serverless pay-as-you-go, USD per 1M tokens. Managed compute is billed per VM-hour (VM SKU: our sizing, est.).")
    print(f"Price tables: {', '.join(str(p) for p in prices.sources)}; {freshness.text}.")
    print("est. = an assumption, not a sourced fact; (suggested) = our replacement, not Microsoft's. Details: data/models.yaml.")
    if freshness.warning:
        print(f"warning: {freshness.warning}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="list the Llama catalog: limits, lifecycle per offer, prices")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.add_argument("--available", action="store_true", help="only models deployable serverless on that day")
    models.add_argument("--on", type=date.fromisoformat, default=None, help="lifecycle as of this day (YYYY-MM-DD; default today)")
    models.add_argument("--prices", help="a token price override CSV (e.g. from `llama-eval prices update`)")
    models.add_argument("--compute-prices", help="a VM price override CSV (e.g. from `llama-eval prices update`)")
    models.set_defaults(func=command)
