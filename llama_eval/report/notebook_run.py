"""What the ``10_evaluate`` notebook needs beyond the runner: deployments to evaluate, and errors in notebook words.

``notebook_deployments(deployments_file)`` loads a deployments file found by ``llama_eval.paths.resolve_path``'s
rule; with none (the notebook's default) it starts a local emulator of its own serving ``EMULATED_MODELS`` as
serverless deployments and says so in one line (simulated text, not real model output), so the notebook runs
out of the box with no key to set. The emulator's throwaway key goes into ``KEY_ENV`` of this process only,
never into an output. ``check_run_dir_free`` refuses, before any request, to start a new run in a folder that
holds one, naming the parameter to change (``resume = True``) rather than a command-line flag.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_eval.deployments.loader import load_deployments
from llama_eval.deployments.model import Deployment
from llama_eval.errors import RunError
from llama_eval.paths import resolve_path
from llama_eval.rundir.store import read_manifest

KEY_ENV = "LLAMA_EVAL_EMULATOR_KEY"  # where the emulated deployments read the emulator's key (as in data/deployments.emulator.yaml)
EMULATED_MODELS = ("Llama-3.3-70B-Instruct", "Llama-4-Maverick-17B-128E-Instruct-FP8")  # both still offered serverless


@dataclass
class NotebookDeployments:
    """The deployments a notebook evaluates; ``emulator`` is the one it started (None: a deployments file), to ``stop()``."""

    deployments: list[Deployment]
    emulator: Any
    said: str

    def stop(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()


def notebook_deployments(deployments_file: str | Path | None, *, time_scale: float = 1.0) -> NotebookDeployments:
    """The deployments of ``deployments_file``; None or "": a local emulator started here, at ``time_scale`` (1: the service's speed)."""
    if deployments_file:
        path = resolve_path(deployments_file, what="deployments file")
        config = load_deployments(path)
        return NotebookDeployments(list(config), None, f"Deployments from {path}: {', '.join(d.name for d in config)}")
    from llama_eval.emulator import start_emulator  # only when no deployments are configured

    emulator = start_emulator(time_scale=time_scale, models=list(EMULATED_MODELS))
    os.environ[KEY_ENV] = emulator.key  # the emulator's throwaway key, for this kernel only, never printed
    deployments = [Deployment(name=m, model=m, kind="serverless", endpoint=emulator.deployment_url(m), key_env=KEY_ENV) for m in EMULATED_MODELS]
    speed = "the service's speed" if time_scale == 1 else f"time scale {time_scale:g}"
    said = (f"No deployments_file set: started a local emulator at {emulator.url} serving {', '.join(EMULATED_MODELS)} "
            f"({speed}; SIMULATED text, not real model output). Set deployments_file in the parameters cell to evaluate your own deployments.")  # fmt: skip
    return NotebookDeployments(deployments, emulator, said)


def check_run_dir_free(run_dir: str | Path, resume: bool) -> None:
    """RunError, in notebook words, when ``run_dir`` already holds a run and ``resume`` is False (before any request)."""
    run_dir = Path(run_dir)
    if resume or not run_dir.exists():
        return
    if read_manifest(run_dir) is not None or (run_dir / "results.jsonl").exists():
        raise RunError(f"{run_dir} already holds a run: set resume = True in the parameters cell to continue it "
                       f"(only what is missing runs), or set run_dir to a new folder")  # fmt: skip
