"""``llama-eval prices update``: refresh the price tables from the public Azure Retail Prices API."""

from __future__ import annotations

import argparse
import os

API_URL_ENV = "LLAMA_EVAL_RETAIL_PRICES_URL"
DEFAULT_API_URL = "https://prices.azure.com/api/retail/prices"  # catalog.retail's own; repeated so `--help` needs no import


def command(args: argparse.Namespace) -> int:
    from llama_eval.catalog.prices import load_prices  # start-up time: imported on use (~50 ms)
    from llama_eval.catalog.retail import update_prices, write_overrides  # start-up time: imported on use (~75 ms)

    book = load_prices(args.prices, args.compute_prices, ptu_overrides=args.ptu_prices)
    result = update_prices(book, region=args.region, api_url=args.api_url, timeout_s=args.timeout)
    files = write_overrides(result, args.out, args.region)
    print(f"Azure Retail Prices API: {result.pages} page(s); {len(result.compute)} VM price(s), {len(result.tokens)} Llama token price(s), "
          f"{len(result.ptu)} Llama PTU price(s) for {args.region}")  # fmt: skip
    if result.skipped_meters:
        print(f"skipped {result.skipped_meters} meter(s) as token prices: Windows, Spot, Low Priority, batch/provisioned or not a Llama model")
    for note in result.ptu_notes:
        print(f"  provisioned  {note}")
    for change in result.changes:
        print(f"  changed  {change}")
    if not result.changes:
        print("  no price changed")
    for missing in result.missing:
        print(f"  not listed by the API: {missing}")
    for path in files:
        flag = "--compute-prices" if path.name.startswith("compute_prices") else "--ptu-prices" if path.name.startswith("ptu_prices") else "--prices"
        print(f"wrote {path}   (use it: {flag} {path})")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    # ---- prices (facts team): refresh the price tables from the Azure Retail Prices API
    prices_cmd = sub.add_parser("prices", help="price tables: refresh them from the public Azure Retail Prices API")
    prices_sub = prices_cmd.add_subparsers(dest="prices_command", required=True)
    upd = prices_sub.add_parser("update", help="fetch VM (and listed Llama token) prices; write override CSVs; print old -> new")
    upd.add_argument("--region", default="eastus", help="Azure region (armRegionName), default eastus")
    upd.add_argument("--out", default="prices", help="directory for the override files (default: ./prices)")
    upd.add_argument("--api-url", default=os.environ.get(API_URL_ENV) or DEFAULT_API_URL,
                     help=f"the Retail Prices API URL (default: ${API_URL_ENV}, else the public API): a mirror, a proxy, or a local fake in tests")
    upd.add_argument("--prices", help="compare with this token price override instead of the bundled table")
    upd.add_argument("--compute-prices", help="compare with this VM price override instead of the bundled table")
    upd.add_argument("--ptu-prices", help="compare with this PTU price override instead of the bundled table")
    upd.add_argument("--timeout", type=float, default=30.0, help="seconds per page request")
    upd.set_defaults(func=command)
