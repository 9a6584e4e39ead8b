"""The ``llama-eval`` command line. Each subcommand is a thin shell over a package function."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from datetime import date

from .errors import LlamaEvalError


def _models(args: argparse.Namespace) -> int:
    from .overview import model_overview

    rows = model_overview(args.on)
    if args.available:
        rows = [r for r in rows if r["serverless"] == "GA" or r["serverless"].startswith("deprecated")]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    columns = [
        ("model", "model"),
        ("params_b", "params (B)"),
        ("context", "context"),
        ("max_output", "max out"),
        ("modality", "modality"),
        ("serverless", f"serverless ({args.on or date.today()})"),
        ("managed", "managed"),
        ("input_usd_per_1m", "in $/1M"),
        ("output_usd_per_1m", "out $/1M"),
        ("replacement", "use instead"),
    ]
    cells = [[str(h) for _, h in columns]]
    for r in rows:
        # "no price" only where a serverless offer exists and its price is unknown; managed-only models show "-"
        unpriced = "no price" if r["serverless"] != "-" else "-"
        cells.append([(unpriced if k.endswith("per_1m") else "-") if r[k] is None else str(r[k]) for k, _ in columns])
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print("\nPrices: serverless pay-as-you-go, USD per 1M tokens (data/prices.csv). Managed compute is billed per VM-hour.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llama-eval", description="Evaluate Meta Llama deployments on Azure AI Foundry: quality, latency, cost.")
    sub = parser.add_subparsers(dest="command", required=True)

    models = sub.add_parser("models", help="list the Llama catalog: limits, lifecycle per offer, prices")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.add_argument("--available", action="store_true", help="only models deployable serverless on that day")
    models.add_argument("--on", type=date.fromisoformat, default=None, help="lifecycle as of this day (YYYY-MM-DD; default today)")
    models.set_defaults(func=_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.simplefilter("default")
    try:
        return args.func(args)
    except LlamaEvalError as exc:
        print(f"llama-eval: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
