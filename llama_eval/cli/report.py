"""``llama-eval report``: the report notebooks run on a run directory, exported as one HTML page."""

from __future__ import annotations

import argparse


def command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llama_eval.report.pipeline import build_report  # start-up time: papermill and plotly only when the command runs

    out = args.output or str(Path("reports") / Path(args.run_dir).name)
    index = build_report(args.run_dir, out, requests_per_day=args.requests_per_day, peak_rps=args.peak_rps, ttft_p90_slo_s=args.ttft_p90_slo_s)
    print(f"report: {index}")
    if args.csv:
        from llama_eval.rundir.store import export_csv  # start-up time, as above

        print(f"csv: {export_csv(args.run_dir, args.csv)}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser("report", help="run the report notebooks on a run directory and export one HTML page")
    rep.add_argument("run_dir")
    rep.add_argument("-o", "--output", help="report directory (default: reports/<run name>)")
    rep.add_argument("--requests-per-day", type=int, default=10_000, help="production volume for the cost projection (shown in the report; default 10,000)")
    rep.add_argument("--peak-rps", type=float, help="requests/s at the busiest moment: sizes machines and the decision (default: the day's average)")
    rep.add_argument("--ttft-p90-slo-s", type=float, default=1.0, help="latency objective at peak: p90 time to first token in seconds (default 1.0)")
    rep.add_argument("--csv", help="also export the run's rows as CSV here (formulas neutralised for spreadsheets)")
    rep.set_defaults(func=command)
