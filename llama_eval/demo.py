"""``llama-eval demo``: the whole product offline — emulator, four Llama variants, bundled prompts, report.

Four variants as the Azure docs and today's catalogue name them: Meta-Llama-3.1-8B and 405B (the
docs' examples, now on managed compute), Llama-3.3-70B and Llama-4-Maverick (serving today). The
text prompt sets in data/prompts are merged into one run; the emulator knows their references, so
quality differs between models as their published benchmark scores do. No key, no network.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .config import Deployment, load_deployments
from .emulator.process import spawn_emulator
from .paths import data_dir
from .pipeline import build_report
from .prompts import load_prompt_set
from .runner import RunParams, run_evaluation
from .scoring.run import score_run

TEXT_SETS = ("quickstart.jsonl", "json_extraction.jsonl", "instructions.jsonl", "summaries.jsonl")
KEY_ENV = "LLAMA_EVAL_EMULATOR_KEY"


def run_demo(output: str | Path = "reports/demo", *, repeats: int = 2, time_scale: float = 0.02) -> Path:
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
    with spawn_emulator("--time-scale", str(time_scale), "--models", models, "--prompts", str(prompts_path)) as emu:
        previous = os.environ.get(KEY_ENV)
        os.environ[KEY_ENV] = emu.key  # the emulator's throwaway key, for this process only
        try:
            deployments = [
                Deployment(**{**d.__dict__, "endpoint": d.endpoint.replace("http://127.0.0.1:8000", emu.url), "headers": dict(d.headers)}) for d in config
            ]
            run_evaluation(deployments, prompts, run_dir, RunParams(repeats=repeats, temperature=0.7, concurrency=16), progress="log")
        finally:
            if previous is None:
                os.environ.pop(KEY_ENV, None)
            else:
                os.environ[KEY_ENV] = previous
    score_run(run_dir)
    return build_report(run_dir, output)
