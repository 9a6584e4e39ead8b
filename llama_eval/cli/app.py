"""The ``llama-eval`` command line. Each subcommand is a thin shell over a package function."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings

from llama_eval.errors import LlamaEvalError

from . import compare, cost, demo, emulator, estimate, export, history, import_set, models, notebooks, prices, recommend, report, run, score, sweep, synth
from .log import LOG_ENV, setup_logging
from .run import exit_interrupted

# every command, in the order `llama-eval --help` lists them: each module adds its parser and its handler
COMMANDS = (models, prices, emulator, run, estimate, cost, score, import_set, synth, report, export, demo, sweep, recommend, compare, notebooks, history)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llama-eval", description="Evaluate Meta Llama deployments on Azure AI Foundry: quality, latency, cost.")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help=f"-v: the HTTP libraries' info logs too; -vv: debug (keys redacted); or set {LOG_ENV}=debug"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)


    for command in sub.choices.values():  # `llama-eval run -v ...` as well as `llama-eval -v run ...`
        command.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help="as llama-eval -v / -vv")
    return parser


def _check_run_dirs(args: argparse.Namespace) -> None:
    """Every command that reads a run fails first, with exit 2, on a run directory that is missing or empty."""
    from llama_eval.rundir.locate import check_run_dir  # start-up time: records and dataclasses (~18 ms) only once a command runs, not for --help

    if getattr(args, "run_dir", None) is not None:
        check_run_dir(args.run_dir)
    if getattr(args, "from_run", None) is not None:
        check_run_dir(args.from_run)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.simplefilter("default")
    setup_logging(args.verbose)
    try:
        _check_run_dirs(args)
        return args.func(args)
    except LlamaEvalError as exc:
        print(f"llama-eval: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback (run has its own message and keeps its directory resumable)
        exit_interrupted(f"llama-eval {args.command}: interrupted")
        raise  # not reached
    finally:
        # The command is done. A Ctrl-C from here on has nothing to stop, but CPython puts SIGINT back to its
        # default while the interpreter shuts down (a few hundred ms with pandas and pyarrow loaded), so one
        # arriving then would end the process as killed by the signal instead of with the status returned.
        # Only for the process's own command line (argv None): a caller of main([...]) keeps its Ctrl-C.
        if argv is None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)

