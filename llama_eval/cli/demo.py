"""``llama-eval demo``: the whole product offline."""

from __future__ import annotations

import argparse


def command(args: argparse.Namespace) -> int:
    from llama_eval.demo import run_demo  # start-up time: imported on use (~1100 ms)

    index = run_demo(args.output, repeats=args.repeats, seed=args.seed)
    print(f"report: {index}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="offline end to end: emulator, five Llama deployments (one self-hosted), bundled prompt sets, HTML report")
    demo.add_argument("-o", "--output", default="reports/demo", help="report folder, under the current one (the run goes to runs/<its name>)")
    demo.add_argument("--repeats", type=int, default=2)
    demo.add_argument("--seed", type=int, default=0, help="seeds the emulators: the same seed gives the same answers, scores, tokens and decision")
    demo.set_defaults(func=command)
