"""``llama-eval demo``: the whole product offline — emulator, five Llama deployments, bundled prompts, report.

The deployments of ``data/deployments.emulator.yaml``: Meta-Llama-3.1-8B and 405B (the Azure docs'
examples, now on managed compute), Llama-3.3-70B and Llama-4-Maverick (serverless today), and
Llama-3.1-8B on a self-hosted vLLM-style server (``kind: self-hosted``, 1x H100). Works from any
folder: it reads the package's bundled data and writes runs/ and reports/ under the current one. The
text prompt sets in data/prompts are merged into one run; the emulator knows their references, so
quality differs between models as their published benchmark scores do. No key, no network.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llama_eval.deployments.loader import load_deployments
from llama_eval.deployments.model import Deployment
from llama_eval.emulator.process import spawn_emulator
from llama_eval.emulator.teach import teach_emulator
from llama_eval.load.sweep import sweep
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.quality.scoring import score_run
from llama_eval.report.pipeline import build_report

from .paths import data_dir
from .records import FIXED_KINDS
from .run import RunParams, run_evaluation

TEXT_SETS = ("quickstart.jsonl", "json_extraction.jsonl", "instructions.jsonl", "summaries.jsonl")
KEY_ENV = "LLAMA_EVAL_EMULATOR_KEY"


def run_demo(output: str | Path = "reports/demo", *, repeats: int = 2, time_scale: float = 0.02, sweeps: bool = True) -> Path:
    output = Path(output)
    run_dir = Path("runs") / output.name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    prompts_path = run_dir / "prompts.jsonl"
    with prompts_path.open("w", encoding="utf-8") as merged:
        for name in TEXT_SETS:
            for line in (data_dir() / "prompts" / name).read_text(encoding="utf-8").splitlines():
                if line.strip() and not line.lstrip().startswith("//"):
                    merged.write(line + "\n")
    prompts = load_prompt_set(prompts_path)
    config = load_deployments(data_dir() / "deployments.emulator.yaml")
    # the emulator in its own process: in this one, its CPU would be counted as the deployments' latency
    models = ",".join(d.model for d in config)
    with spawn_emulator("--time-scale", str(time_scale), "--models", models, "--prompts", str(prompts_path)) as emu, _key_of(emu):
        deployments = [_served_by(d, emu) for d in config]
        run_evaluation(deployments, prompts, run_dir, RunParams(repeats=repeats, temperature=0.7, concurrency=16), progress="log",
                       on_emulator=teach_emulator)  # fmt: skip
    score_run(run_dir)
    if sweeps:
        sweep_deployments(run_dir, prompts)
    return build_report(run_dir, output)


# --------------------------------------------------------------------------- a short load sweep (issue 14)

DEMO_SLO = "ttft_p90<=1.0"


def sweep_deployments(run_dir: Path, prompts, *, deployments_file: str | Path | None = None, only: tuple[str, ...] | None = None,
                      levels=(1, 2, 4, 8), requests_per_level: int = 8, batch: int = 4, slo: str = DEMO_SLO,
                      fixed_time_scale: float = 0.25) -> list[Path]:  # fmt: skip
    """A short closed-loop sweep of each deployment into ``run_dir/sweeps/<name>``, for ``llama-eval recommend``.

    The deployments are those of ``deployments_file`` (default: the demo's, ``data/deployments.emulator.yaml``;
    ``only``: some of them by name), served by emulators of their own with the capacity model:
    managed and self-hosted deployments decode ``batch`` requests at once and queue the rest (a small
    batch, so four levels show a knee), at ``fixed_time_scale`` (a quarter of real time: the sweep
    divides what it measures by the scale and says so); serverless ones keep their quota and flat
    latency, in real time, because their quota counts real minutes (sped up, a level would be
    stopped for exceeding it). The first half second of each level is warm-up (cold connections, the
    emulator loading a tokenizer). Every figure it yields is emulated.
    """
    deployments_file = Path(deployments_file) if deployments_file is not None else data_dir() / "deployments.emulator.yaml"
    config = [d for d in load_deployments(deployments_file) if only is None or d.name in only]
    root = run_dir / "sweeps"
    root.mkdir(parents=True, exist_ok=True)
    groups = [([d for d in config if d.kind in FIXED_KINDS], fixed_time_scale), ([d for d in config if d.kind not in FIXED_KINDS], 1.0)]
    for group, time_scale in groups:
        if not group:
            continue
        emulator = ("--deployments", str(deployments_file), "--batch-size", str(batch), "--prompts", str(prompts.path), "--time-scale", str(time_scale))
        with spawn_emulator(*emulator) as emu, _key_of(emu):
            for d in group:
                sweep([_served_by(d, emu)], prompts, root / d.name, concurrency=list(levels), requests_per_level=requests_per_level, warmup_s=0.5,
                      slo=slo, params=RunParams(max_tokens=16), progress="none", announce=lambda message: print(message, flush=True))  # fmt: skip
    return [root / d.name for d in config]


@contextmanager
def _key_of(emu: Any) -> Iterator[None]:
    """The emulator's throwaway key in ``KEY_ENV`` (where the demo deployments read it), for this process and this block only."""
    previous = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = emu.key
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = previous


def _served_by(deployment: Deployment, emu: Any) -> Deployment:
    """A demo deployment pointed at the emulator actually running (the file names port 8000)."""
    return Deployment(**{**deployment.__dict__, "endpoint": deployment.endpoint.replace("http://127.0.0.1:8000", emu.url), "headers": dict(deployment.headers)})
