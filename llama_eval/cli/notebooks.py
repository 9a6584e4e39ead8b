"""``llama-eval notebooks``: copy the bundled notebooks into a working folder for JupyterLab."""

from __future__ import annotations

import argparse


def command(args: argparse.Namespace) -> int:
    from llama_eval.paths import copy_notebooks  # start-up time: imported on use (importlib.resources, shutil: ~5-10 ms)

    copies = copy_notebooks(args.folder, overwrite=args.force)
    for path in copies:
        print(f"wrote {path}")
    print(f"\nOpen them with: jupyter lab {args.folder}  (paths such as runs/demo resolve from there, from its parent and from the package's data)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    nb = sub.add_parser("notebooks", help="copy the bundled notebooks into a working folder for JupyterLab")
    nb.add_argument("folder", help="where to put them (created if missing)")
    nb.add_argument("--force", action="store_true", help="replace notebooks already there (your edits in them are lost)")
    nb.set_defaults(func=command)
