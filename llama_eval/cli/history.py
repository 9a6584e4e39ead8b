"""``llama-eval history`` (runs over time, from the run store) and ``llama-eval store add`` (put run directories in it)."""

from __future__ import annotations

import argparse
import sys

STORE_HELP = "the run store: a folder or an fsspec URL (abfs://container/path needs llama-eval[azure-store]); default: $LLAMA_EVAL_STORE, else runs/.store"
TABLE_COLUMNS = ["date", "deployment", "model", "prompt_set", "version", "requests", "error_rate", "score", "ttft_p50_s", "ttft_p90_s", "e2e_p90_s",
                 "cost_per_1k_usd"]  # fmt: skip


def _add(runs: list[str], store: str | None) -> None:
    from llama_eval.rundir.locate import check_run_dir
    from llama_eval.store.location import resolve_store
    from llama_eval.store.write import add_run

    dirs = [check_run_dir(r) for r in runs]  # every name checked before anything is written
    for run_dir in dirs:
        location = resolve_store(store, beside=run_dir)
        stored = add_run(run_dir, location) if location is not None else None
        if stored is None:
            from llama_eval.errors import StoreError

            raise StoreError("the run store is turned off (LLAMA_EVAL_STORE=off); give one with --store")
        print(f"llama-eval: {stored.describe()}", file=sys.stderr)


def history_command(args: argparse.Namespace) -> int:
    if args.ingest:
        _add(args.ingest, args.store)
    from llama_eval.store.history import load_history

    frame = load_history(args.store, deployment=args.deployment, model=args.model, prompt_set=args.prompt_set, since=args.since, until=args.until,
                         kind=None if args.kind == "all" else args.kind)  # fmt: skip
    if args.json:
        import json

        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        print(json.dumps(records, default=str, indent=2))
    elif args.csv:
        frame.to_csv(sys.stdout, index=False)
    elif frame.empty:
        print("no runs in the store match these filters", file=sys.stderr)
    else:
        from .tables import frame_table

        shown = frame.assign(version=frame["prompt_set_sha256"].str[:8], cost_per_1k_usd=frame["cost_per_1k_usd"].astype(str),
                             error_rate=frame["error_rate"].map(lambda v: f"{v:.1%}"))  # fmt: skip
        print(frame_table(shown, TABLE_COLUMNS + (["level"] if args.kind != "run" else [])))
        notes = ["latencies in seconds of the service's time, percentiles of each run's raw rows (answered, not warm-up); cost: USD the run spent per 1,000 "
                 "requests sent, at the prices it recorded (failed requests cost nothing: spend, not the per-token figure `cost` projects); "
                 "version: the prompt set's sha256"]  # fmt: skip
        if frame["emulated"].any():
            notes.append("emulated: some rows came from the llama-eval emulator (simulated answers; times rescaled to the emulated service)")
        if not frame["cost_complete"].all():
            notes.append("some rows had no token price: their cost is not in the figure (a lower bound)")
        print("\n".join(f"note: {n}" for n in notes), file=sys.stderr)
    return 0


def store_command(args: argparse.Namespace) -> int:
    _add(args.runs, args.store)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    his = sub.add_parser("history", help="runs over time from the run store: score, TTFT/e2e percentiles, cost per 1,000 requests, error rate")
    his.add_argument("--store", help=STORE_HELP)
    his.add_argument("--deployment", action="append", help="only this deployment (repeat for several)")
    his.add_argument("--model", action="append", help="only this model (repeat for several)")
    his.add_argument("--prompt-set", action="append", help="only this prompt set: its name, or the start of its sha256 (one version)")
    his.add_argument("--since", help="from this date on, YYYY-MM-DD (inclusive)")
    his.add_argument("--until", help="up to this date, YYYY-MM-DD (inclusive)")
    his.add_argument("--kind", choices=["run", "sweep", "all"], default="run", help="runs (default), sweeps (one row per level) or both")
    his.add_argument("--ingest", nargs="+", metavar="RUN_DIR", help="add these run directories to the store first (as `llama-eval store add`)")
    out = his.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="JSON records on stdout")
    out.add_argument("--csv", action="store_true", help="CSV on stdout")
    his.set_defaults(func=history_command)

    sto = sub.add_parser("store", help="the run store: add run directories to it (runs are added when they finish; this backfills)")
    verbs = sto.add_subparsers(dest="store_command", required=True)
    add = verbs.add_parser("add", help="write run directories to the run store (again: their files are replaced, never duplicated)")
    add.add_argument("runs", nargs="+", metavar="RUN_DIR")
    add.add_argument("--store", help=STORE_HELP)
    add.set_defaults(func=store_command)
