"""``llama-eval report``: the report notebooks run on a run directory, exported as one HTML page.

Volume, peak and latency objective default to ``llama_eval.defaults`` (as ``cost`` and ``recommend`` and the
notebooks assume them) and are stated in the report; ``--slo`` takes the syntax of ``sweep`` and ``recommend``.
``--ttft-p90-slo-s N`` is a hidden, deprecated alias of ``--slo "ttft_p90<=N"``: it still works, with a warning.
"""

from __future__ import annotations

import argparse
import sys

from llama_eval.defaults import DEFAULT_PEAK_RPS, DEFAULT_REQUESTS_PER_DAY, DEFAULT_SLO


def command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llama_eval.report.pipeline import build_report, slo_from_ttft  # start-up time: papermill and plotly only when the command runs

    slo = args.slo
    if args.ttft_p90_slo_s is not None:
        if args.slo is not None:
            raise SystemExit("llama-eval report: give the latency objective once: --slo (--ttft-p90-slo-s is its deprecated form)")
        slo = slo_from_ttft(args.ttft_p90_slo_s)
        print(f'llama-eval report: --ttft-p90-slo-s is deprecated; use --slo "{slo}" (the syntax of sweep and recommend)', file=sys.stderr)
    out = args.output or str(Path("reports") / Path(args.run_dir).name)
    index = build_report(args.run_dir, out, requests_per_day=args.requests_per_day, peak_rps=args.peak_rps, slo=slo or DEFAULT_SLO,
                         baseline=args.baseline)
    print(f"report: {index}")
    if args.csv:
        from llama_eval.rundir.store import export_csv  # start-up time, as above

        print(f"csv: {export_csv(args.run_dir, args.csv)}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser("report", help="run the report notebooks on a run directory and export one HTML page")
    rep.add_argument("run_dir")
    rep.add_argument("-o", "--output", help="report directory (default: reports/<run name>)")
    rep.add_argument("--baseline", metavar="RUN_A", help="an earlier run to compare with: the summary adds `llama-eval compare RUN_A RUN_DIR`'s tables")
    rep.add_argument("--requests-per-day", type=int, default=DEFAULT_REQUESTS_PER_DAY,
                     help=f"production volume for the cost projection and decision (shown in the report; default {DEFAULT_REQUESTS_PER_DAY:,})")  # fmt: skip
    peak = "the day's average" if DEFAULT_PEAK_RPS is None else f"{DEFAULT_PEAK_RPS:g}"
    rep.add_argument("--peak-rps", type=float, default=DEFAULT_PEAK_RPS,
                     help=f"requests/s at the busiest moment: sizes machines and the decision (default: {peak})")  # fmt: skip
    rep.add_argument("--slo", help=f'latency objective at peak, in the syntax of sweep and recommend, e.g. "ttft_p90<=2" (default "{DEFAULT_SLO}")')
    rep.add_argument("--ttft-p90-slo-s", type=float, help=argparse.SUPPRESS)  # deprecated: --slo "ttft_p90<=N"
    rep.add_argument("--csv", help="also export the run's rows as CSV here (formulas neutralised for spreadsheets)")
    rep.set_defaults(func=command)
