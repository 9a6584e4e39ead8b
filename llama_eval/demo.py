"""``llama-eval demo``: the whole product offline — emulator, five Llama deployments, bundled prompts, report.

The deployments of ``data/deployments.emulator.yaml``: Meta-Llama-3.1-8B and 405B (the Azure docs'
examples, now on managed compute), Llama-3.3-70B and Llama-4-Maverick (serverless today), and
Llama-3.1-8B on a self-hosted vLLM-style server (``kind: self-hosted``, 1x H100). Works from any
folder: it reads the package's bundled data and writes runs/ and reports/ under the current one. The
text prompt sets in data/prompts are merged into one run; the emulator knows their references, so
quality differs between models as their published benchmark scores do. No key, no network.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from llama_eval.deployments.loader import load_deployments
from llama_eval.deployments.model import Deployment
from llama_eval.emulator.latency import profile_for
from llama_eval.emulator.process import spawn_emulator
from llama_eval.emulator.teach import teach_emulator
from llama_eval.load.sweep import sweep
from llama_eval.prompts.prompt_set import PromptSet, load_prompt_set
from llama_eval.quality.scoring import score_run
from llama_eval.report.pipeline import build_report

from .paths import data_dir
from .records import FIXED_KINDS
from .run import RunParams, run_evaluation

TEXT_SETS = ("quickstart.jsonl", "json_extraction.jsonl", "instructions.jsonl", "summaries.jsonl")
KEY_ENV = "LLAMA_EVAL_EMULATOR_KEY"


# The emulator sends the timing it meant with every answer, and the report checks the measured times, rescaled, against
# it (rundir.health.intended_check: medians within 5%, p90s within 10%). Every delay that is not the emulated service's
# (client, loopback, the emulator's loop, this machine) is divided by the time scale too: on a shared 2-core machine,
# with five deployments of eight requests in flight, those are 2-8 ms. So each deployment runs at the faster of
# RUN_SCALES that keeps its first token MIN_REAL_TTFT_RUN_S away in real time: a quarter of the service's speed for the
# fast ones (Llama 3.1 8B: ~70 ms to first token, ~5 ms between tokens; Llama 4 Maverick ~100 ms), real time for
# 3.3-70B and 3.1-405B. At time scale 0.02 (the demo until issue 24) those delays were fifty times larger than the 8B's
# whole time to first token, and its tokens, 0.1 ms apart, arrived together: no inter-token latency was measured.
RUN_SCALES = (1.0, 4.0)  # one emulator process per scale used
MIN_REAL_TTFT_RUN_S = 0.2
DEMO_CONCURRENCY = 8  # requests in flight per deployment in the demo's run


def run_demo(output: str | Path = "reports/demo", *, repeats: int = 2, time_scale: float | None = None, sweeps: bool = True) -> Path:
    """The demo; ``time_scale``: one for every deployment (default: each its own, ``run_time_scale``)."""
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
    groups: dict[float, list[Deployment]] = {}
    for d in config:
        groups.setdefault(time_scale or run_time_scale(d), []).append(d)
    # the emulators in processes of their own (in this one, their CPU would be counted as the deployments' latency),
    # one per time scale, all with one key: the deployments file names a single key variable
    key = secrets.token_hex(16)
    with ExitStack() as stack:
        served = {}
        for scale, group in groups.items():
            models = ",".join(d.model for d in group)
            emu = stack.enter_context(spawn_emulator("--time-scale", str(scale), "--models", models, "--prompts", str(prompts_path), "--key", key))
            served.update({d.name: _served_by(d, emu) for d in group})
        stack.enter_context(_key_of(emu))
        deployments = [served[d.name] for d in config]
        run_evaluation(deployments, prompts, run_dir, RunParams(repeats=repeats, temperature=0.7, concurrency=DEMO_CONCURRENCY), progress="log",
                       on_emulator=teach_emulator)  # fmt: skip
    score_run(run_dir)
    if sweeps:
        sweep_deployments(run_dir, sweep_prompts(run_dir))
    return build_report(run_dir, output)


# --------------------------------------------------------------------------- a short load sweep (issue 14)

DEMO_SLO = "ttft_p90<=1.0"
SWEEP_SET = "instructions.jsonl"  # every answer of it is longer than SWEEP_TOKENS on every demo model
SWEEP_TOKENS = 16
SWEEP_SCALES = (0.25, 0.5, 1.0, 2.0)  # the time scales a fixed deployment's sweep may run at (the fastest that keeps times true)
MIN_REAL_TTFT_S = 0.1  # at its sweep's scale, a deployment's first token is at least this far away in real time ...
MIN_REAL_GAP_S = 0.004  # ... and its tokens this far apart: what the intended-timing check needs on a 2-core machine


def sweep_prompts(run_dir: Path, *, tokens: int = SWEEP_TOKENS) -> PromptSet:
    """The demo's sweep requests: the instruction prompts, each answer cut at ``tokens`` (their own max_tokens dropped).

    Alike requests, so that one level differs from the next by its load only: with the whole demo set,
    each level got another slice of it (answers of 1 to 136 tokens) and the curves zigzagged.
    """
    path = run_dir / "sweep-prompts.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for line in (data_dir() / "prompts" / SWEEP_SET).read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("//"):
                item = json.loads(line)
                item.pop("max_tokens", None)
                out.write(json.dumps(item) + "\n")
    return load_prompt_set(path)


def time_scale_for(deployment: Deployment, scales: tuple[float, ...], min_ttft_s: float, min_gap_s: float = MIN_REAL_GAP_S) -> float:
    """The fastest of ``scales`` (ascending) at which the emulated deployment's first token is ``min_ttft_s`` and its tokens
    ``min_gap_s`` apart in real time, so that this machine's own delays (divided by the scale) stay inside the
    intended-timing tolerance; the slowest when none is enough."""
    model = deployment.catalog_model()
    if model is None:
        return 1.0
    profile = profile_for(model)
    ttft, gap = profile.base_ttft_s, 1.0 / profile.tps
    return next((s for s in scales if ttft * s >= min_ttft_s and gap * s >= min_gap_s), scales[-1])


def run_time_scale(deployment: Deployment) -> float:
    """The demo run's time scale for a deployment: 4 (a quarter of the service's speed) for 3.1-8B and Maverick, 1 for 3.3-70B and 3.1-405B."""
    return time_scale_for(deployment, RUN_SCALES, MIN_REAL_TTFT_RUN_S)


def sweep_time_scale(deployment: Deployment) -> float:
    """A fixed deployment's sweep time scale: ¼ for 3.1-405B, 2 for 3.1-8B (one deployment swept at a time: less load than the run)."""
    return time_scale_for(deployment, SWEEP_SCALES, MIN_REAL_TTFT_S)


def sweep_deployments(run_dir: Path, prompts, *, deployments_file: str | Path | None = None, only: tuple[str, ...] | None = None,
                      levels=(1, 2, 4, 8), requests_per_level: int = 16, batch: int = 4, slo: str = DEMO_SLO,
                      fixed_time_scale: float | None = None, max_tokens: int = SWEEP_TOKENS) -> list[Path]:  # fmt: skip
    """A short closed-loop sweep of each deployment into ``run_dir/sweeps/<name>``, for ``llama-eval recommend``.

    The deployments are those of ``deployments_file`` (default: the demo's, ``data/deployments.emulator.yaml``;
    ``only``: some of them by name), served by emulators of their own with the capacity model:
    managed and self-hosted deployments decode ``batch`` requests at once and queue the rest (a small
    batch, so four levels show a knee), each at ``fixed_time_scale`` or else ``sweep_time_scale`` (as
    fast as its times stay true: a quarter of real time for 3.1-405B, half speed for 3.1-8B; the sweep
    divides what it measures by the scale and says so); serverless ones keep their quota and flat
    latency, in real time, because their quota counts real minutes (sped up, a level would be
    stopped for exceeding it). The first half second of each level is warm-up (cold connections, the
    emulator loading a tokenizer). Every figure it yields is emulated.
    """
    deployments_file = Path(deployments_file) if deployments_file is not None else data_dir() / "deployments.emulator.yaml"
    config = [d for d in load_deployments(deployments_file) if only is None or d.name in only]
    root = run_dir / "sweeps"
    root.mkdir(parents=True, exist_ok=True)
    groups: dict[float, list[Deployment]] = {}
    for d in config:
        scale = (fixed_time_scale or sweep_time_scale(d)) if d.kind in FIXED_KINDS else 1.0
        groups.setdefault(scale, []).append(d)
    for time_scale, group in groups.items():
        emulator = ("--deployments", str(deployments_file), "--batch-size", str(batch), "--prompts", str(prompts.path), "--time-scale", str(time_scale))
        with spawn_emulator(*emulator) as emu, _key_of(emu):
            for d in group:
                sweep([_served_by(d, emu)], prompts, root / d.name, concurrency=list(levels), requests_per_level=requests_per_level, warmup_s=0.5,
                      slo=slo, params=RunParams(max_tokens=max_tokens), progress="none", announce=lambda message: print(message, flush=True))  # fmt: skip
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
