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
import math
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llama_eval.deployments.loader import load_deployments
from llama_eval.deployments.model import Deployment
from llama_eval.emulator.batching import ITL_GROWTH, BatchModel, managed_capacity
from llama_eval.emulator.latency import LatencyProfile, profile_for
from llama_eval.emulator.process import spawn_emulator
from llama_eval.emulator.teach import teach_emulator
from llama_eval.load.sweep import sweep
from llama_eval.prompts.prompt_set import PromptSet, load_prompt_set
from llama_eval.quality.scoring import score_run
from llama_eval.report.pipeline import build_report
from llama_eval.rundir.store import read_manifest, write_manifest

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


DEMO_SEED = 0


def run_demo(output: str | Path = "reports/demo", *, repeats: int = 2, time_scale: float | None = None, sweeps: bool = True, seed: int = DEMO_SEED) -> Path:
    """The demo; ``time_scale``: one for every deployment (default: each its own, ``run_time_scale``).

    ``seed`` seeds every emulator it starts: the same invocation gives the same answers, so the same scores, tokens,
    recommended option and monthly cost (latencies vary within timing noise). What the emulators assumed (seed,
    time scales, latency profiles, batch sizes and their basis) is written into the run's manifest as
    ``manifest["emulator"]`` (a ``DemoEmulation``), and into each sweep's ``sweep.json`` for its deployment.
    """
    output = Path(output)
    run_dir = Path("runs") / output.name
    evaluate_demo(run_dir, repeats=repeats, time_scale=time_scale, seed=seed, sweeps=sweeps)
    score_run(run_dir)
    if sweeps:
        sweep_deployments(run_dir, sweep_prompts(run_dir), seed=seed)
    return build_report(run_dir, output)


def evaluate_demo(run_dir: Path, *, repeats: int = 2, time_scale: float | None = None, seed: int = DEMO_SEED, sweeps: bool = True,
                  only: tuple[str, ...] | None = None, sets: tuple[str, ...] = TEXT_SETS) -> DemoEmulation:  # fmt: skip
    """The demo's run (no scoring, no sweeps): ``sets`` of data/prompts merged into ``run_dir/prompts.jsonl``, sent to the
    demo's deployments (``only``: some of them by name) on seeded emulators; returns (and writes as ``manifest["emulator"]``)
    what the emulators assumed. ``run_dir`` is emptied first."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    prompts_path = run_dir / "prompts.jsonl"
    with prompts_path.open("w", encoding="utf-8") as merged:
        for name in sets:
            for line in (data_dir() / "prompts" / name).read_text(encoding="utf-8").splitlines():
                if line.strip() and not line.lstrip().startswith("//"):
                    merged.write(line + "\n")
    prompts = load_prompt_set(prompts_path)
    config = [d for d in load_deployments(data_dir() / "deployments.emulator.yaml") if only is None or d.name in only]
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
            emu = stack.enter_context(
                spawn_emulator("--time-scale", str(scale), "--models", models, "--prompts", str(prompts_path), "--key", key, "--seed", str(seed))
            )
            served.update({d.name: _served_by(d, emu) for d in group})
        stack.enter_context(_key_of(emu))
        deployments = [served[d.name] for d in config]
        run_evaluation(deployments, prompts, run_dir, RunParams(repeats=repeats, temperature=0.7, concurrency=DEMO_CONCURRENCY), progress="log",
                       on_emulator=teach_emulator)  # fmt: skip
    emulation = demo_emulation(config, seed=seed, run_scales={d.name: time_scale or run_time_scale(d) for d in config}, sweeps=sweeps)
    record = read_manifest(run_dir) or {}
    record["emulator"] = emulation.to_json()
    write_manifest(run_dir, record)
    return emulation


# --------------------------------------------------------------------------- what the demo's emulators assume (issue 29)

CAPACITY_BASIS = (
    "Managed and self-hosted deployments decode up to a batch of sequences per instance and queue the rest "
    "(llama_eval/emulator/batching.py). The batch is vLLM's rule with its defaults (gpu_memory_utilization 0.9, "
    "max_num_seqs 256): sequences fit while their KV cache fits in the GPU memory the weights leave, at 2,048 tokens "
    "per sequence; 3.1-405B in FP8 on 8x H100 80 GB (Standard_ND96isr_H100_v5) holds 161, 3.1-8B in bf16 on 1x A100 "
    f"80 GB holds 208. Each token comes at most {1 + ITL_GROWTH:g}x slower at a full batch (an assumption, not a measurement "
    "of Azure or vLLM; /work/shared/reference has no served-throughput figures to check it against). Latency profiles: "
    "Azure's measured 3.1-405B (29.4 tokens/s, 2.01 s to first token at 10k input; Artificial Analysis), other models "
    "scaled from it by a stated rule. Serverless deployments have the catalog quota and no capacity model."
)


@dataclass(frozen=True)
class DemoEmulation:
    """What the demo's emulators assumed, per deployment: the record the report and README state.

    ``run_time_scales``/``sweep_time_scales``: the time scale each deployment ran or was swept at (1 = real
    time; 4 = a quarter of the service's speed). ``profiles``: its latency profile. ``capacity``: its batch
    model (managed and self-hosted only). ``sweep_levels``: the concurrencies its sweep measured. ``basis``:
    why these settings, in words. Written as ``manifest["emulator"]`` of the demo run (``to_json``).
    """

    seed: int
    run_time_scales: dict[str, float]
    sweep_time_scales: dict[str, float] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    capacity: dict[str, dict[str, Any]] = field(default_factory=dict)
    sweep_levels: dict[str, list[int]] = field(default_factory=dict)
    sweep_max_tokens: int = 0
    basis: str = CAPACITY_BASIS

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _profile_json(profile: LatencyProfile) -> dict[str, Any]:
    return {"base_ttft_s": round(profile.base_ttft_s, 4), "prefill_tps": round(profile.prefill_tps, 1), "tps": round(profile.tps, 2),
            "jitter": profile.jitter, "source": profile.source}  # fmt: skip


def _batch_json(batch: BatchModel) -> dict[str, Any]:
    return {"batch": batch.batch, "instances": batch.instances, "itl_growth": batch.itl_growth, "source": batch.source}


def demo_emulation(config: list[Deployment], *, seed: int, run_scales: dict[str, float], sweeps: bool = True,
                   capacity: dict[str, BatchModel] | None = None, max_tokens: int | None = None) -> DemoEmulation:  # fmt: skip
    """The ``DemoEmulation`` of the demo's deployments (``config``) as ``run_demo`` and ``sweep_deployments`` set them up."""
    capacity = managed_capacity(config) if capacity is None else capacity
    tokens = max_tokens or SWEEP_TOKENS
    profiles = {d.name: _profile_json(profile_for(model)) for d in config if (model := d.catalog_model()) is not None}
    plans = {d.name: sweep_plan(d, capacity.get(d.name), tokens) for d in config} if sweeps else {}
    return DemoEmulation(
        seed=seed,
        run_time_scales=dict(run_scales),
        sweep_time_scales={name: plan.time_scale for name, plan in plans.items()},
        profiles=profiles,
        capacity={name: _batch_json(batch) for name, batch in capacity.items()},
        sweep_levels={name: list(plan.levels) for name, plan in plans.items()},
        sweep_max_tokens=tokens if sweeps else 0,
    )


# --------------------------------------------------------------------------- a short load sweep (issue 14)

DEMO_SLO = "ttft_p90<=1.0"
SWEEP_SET = "instructions.jsonl"  # every answer of it is longer than SWEEP_TOKENS on every demo model
SWEEP_TOKENS = 16
SWEEP_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # the time scales a fixed deployment's sweep may run at (the fastest that keeps times true)
MIN_REAL_TTFT_S = 0.1  # at its sweep's scale, a deployment's first token is at least this far away in real time ...
MIN_REAL_GAP_S = 0.004  # ... and its tokens this far apart: what the intended-timing check needs on a 2-core machine
MAX_REAL_TOKENS_S = 4000  # ... and a full batch streams at most this many tokens a real second (one Python client on 2 shared cores)
SERVERLESS_LEVELS = (1, 2, 4, 8)  # serverless: flat latency up to the quota (1,000 rpm = 16.7 req/s), nothing to find below it


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


def time_scale_for(deployment: Deployment, scales: tuple[float, ...], min_ttft_s: float, min_gap_s: float = MIN_REAL_GAP_S, *,
                   streams: int = 1) -> float:  # fmt: skip
    """The fastest of ``scales`` (ascending) at which the emulated deployment's first token is ``min_ttft_s`` and its tokens
    ``min_gap_s`` apart in real time, so that this machine's own delays (divided by the scale) stay inside the
    intended-timing tolerance, and ``streams`` answers at once (a full batch, each token up to 1.5x slower) send at most
    ``MAX_REAL_TOKENS_S`` tokens a real second; the slowest when none is enough."""
    model = deployment.catalog_model()
    if model is None:
        return 1.0
    profile = profile_for(model)
    ttft, gap = profile.base_ttft_s, 1.0 / profile.tps
    load = streams * profile.tps / (1 + ITL_GROWTH) if streams > 1 else 0.0
    return next((s for s in scales if ttft * s >= min_ttft_s and gap * s >= min_gap_s and load / s <= MAX_REAL_TOKENS_S), scales[-1])


def run_time_scale(deployment: Deployment) -> float:
    """The demo run's time scale for a deployment: 4 (a quarter of the service's speed) for 3.1-8B and Maverick, 1 for 3.3-70B and 3.1-405B."""
    return time_scale_for(deployment, RUN_SCALES, MIN_REAL_TTFT_RUN_S)


def sweep_time_scale(deployment: Deployment, batch: int = 1) -> float:
    """A fixed deployment's sweep time scale: 1 for 3.1-405B (a batch of 161), 8 for 3.1-8B (208 streams of ~140 tokens/s)."""
    return time_scale_for(deployment, SWEEP_SCALES, MIN_REAL_TTFT_S, streams=batch)


@dataclass(frozen=True)
class SweepPlan:
    """One demo deployment's sweep: its concurrencies, time scale, and each level's warm-up and length (emulated seconds)."""

    levels: tuple[int, ...]
    time_scale: float
    warmup_s: float
    duration_s: float | None  # None: ``requests_per_level`` requests a level

    def sweep_arguments(self, levels: Any = None, requests_per_level: int = 16) -> dict[str, Any]:
        """The level arguments of ``load.sweep.sweep`` for this plan (``levels``: listed levels of ``requests_per_level`` instead)."""
        if levels is not None:
            return {"concurrency": list(levels), "requests_per_level": requests_per_level, "warmup_s": 0.5}
        if self.duration_s is None:
            return {"concurrency": list(self.levels), "requests_per_level": requests_per_level, "warmup_s": self.warmup_s}
        return {"concurrency": list(self.levels), "duration_s": self.duration_s, "warmup_s": self.warmup_s}


def sweep_plan(deployment: Deployment, batch: BatchModel | None, max_tokens: int = SWEEP_TOKENS) -> SweepPlan:
    """Where the demo looks for a deployment's knee: around the batch its emulator was given, in windows of three service times.

    A fixed deployment is swept at 1, half its batch, its batch and 1.5x its batch (every instance's batch: the
    emulator's slots), so the knee the capacity model puts there is measured, as a normal sweep or ``--search``
    of the same deployment finds it; each level lasts three service times at a full batch (at least 0.4 s), after
    a warm-up of one. Serverless deployments (no batch) get ``SERVERLESS_LEVELS`` of 16 requests, in real time.
    """
    model = deployment.catalog_model()
    if batch is None or model is None:
        return SweepPlan(SERVERLESS_LEVELS, 1.0, 0.5, None)
    slots = batch.slots
    profile = profile_for(model)
    service = profile.base_ttft_s + max_tokens * (1 + batch.itl_growth) / profile.tps  # one answer at a full batch
    levels = tuple(sorted({1, max(2, slots // 2), slots, math.ceil(slots * 1.5)}))
    return SweepPlan(levels, sweep_time_scale(deployment, slots), round(min(0.5, service), 3), round(max(0.4, 3 * service), 3))


def sweep_deployments(run_dir: Path, prompts, *, deployments_file: str | Path | None = None, only: tuple[str, ...] | None = None,
                      levels=None, requests_per_level: int = 16, batch: int | None = None, slo: str = DEMO_SLO,
                      fixed_time_scale: float | None = None, max_tokens: int = SWEEP_TOKENS, seed: int = DEMO_SEED) -> list[Path]:  # fmt: skip
    """A short closed-loop sweep of each deployment into ``run_dir/sweeps/<name>``, for ``llama-eval recommend``.

    The deployments are those of ``deployments_file`` (default: the demo's, ``data/deployments.emulator.yaml``;
    ``only``: some of them by name), served by emulators of their own (seeded with ``seed``) with the capacity
    model: managed and self-hosted deployments decode a batch of requests at once and queue the rest — the
    batch vLLM's rule gives for the model and VM (``batching.batch_size_for``; ``batch`` overrides it) — and
    each is swept where its knee is (``sweep_plan``), at ``fixed_time_scale`` or else as fast as this machine keeps
    its times true (``sweep_time_scale``; the sweep divides what it measures by the scale and says so).
    ``levels`` (with ``requests_per_level``) replaces the plan's levels for every deployment. Serverless ones keep
    their quota and flat latency. Every figure it yields is emulated; each ``sweep.json`` carries ``emulator``,
    what its emulator assumed (``DemoEmulation`` for that deployment).
    """
    deployments_file = Path(deployments_file) if deployments_file is not None else data_dir() / "deployments.emulator.yaml"
    config = [d for d in load_deployments(deployments_file) if only is None or d.name in only]
    capacity = managed_capacity(config, batch=batch)
    root = run_dir / "sweeps"
    root.mkdir(parents=True, exist_ok=True)
    plans = {d.name: sweep_plan(d, capacity.get(d.name) if d.kind in FIXED_KINDS else None, max_tokens) for d in config}
    groups: dict[float, list[Deployment]] = {}
    for d in config:
        groups.setdefault(fixed_time_scale or plans[d.name].time_scale, []).append(d)
    for time_scale, group in groups.items():
        emulator = ("--deployments", str(deployments_file), "--prompts", str(prompts.path), "--time-scale", str(time_scale), "--seed", str(seed))
        if batch is not None:
            emulator += ("--batch-size", str(batch))
        with spawn_emulator(*emulator) as emu, _key_of(emu):
            for d in group:
                plan = plans[d.name]
                shape = plan.sweep_arguments(levels, requests_per_level)
                sweep([_served_by(d, emu)], prompts, root / d.name, slo=slo, params=RunParams(max_tokens=max_tokens), progress="none",
                      announce=lambda message: print(message, flush=True), **shape)  # fmt: skip
                emulation = demo_emulation([d], seed=seed, run_scales={}, capacity={k: v for k, v in capacity.items() if k == d.name}, max_tokens=max_tokens)
                emulation = DemoEmulation(**{**asdict(emulation), "sweep_time_scales": {d.name: time_scale}, "sweep_levels": {d.name: shape["concurrency"]}})
                _stamp_sweep(root / d.name, emulation)
    return [root / d.name for d in config]


def _stamp_sweep(sweep_dir: Path, emulation: DemoEmulation) -> None:
    """Add what the emulator assumed to a finished sweep's ``sweep.json`` (key ``emulator``), so the report can say it."""
    path = sweep_dir / "sweep.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["emulator"] = emulation.to_json()
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


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
