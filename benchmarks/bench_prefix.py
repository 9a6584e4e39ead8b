"""A shared prefix raises a self-hosted deployment's capacity: the same lengths swept with and without one.

    python benchmarks/bench_prefix.py

Issue 30's figure: ``llama-eval synth`` sets of the same input/output lengths (fixed 1,400 in,
50 out), one with a shared 1,000-token prefix for 80% of requests and one without, each swept open
loop against the emulator's self-hosted deployment (batch 4, a stated profile: TTFT = 0.1 s +
uncached tokens / 5,000 tokens/s, 50 tokens/s decode, time scale 0.2). With the prefix cached, a
request holds its batch place for less prefill, so more requests/s fit under the same TTFT SLO.
Printed: each sweep's capacity (requests/s at the SLO), the cached-token share, and the ratio.
The profile is stated, not Azure's: the figure shows the mechanism, not a service's number.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from llama_eval.catalog.tokens import counter_for
from llama_eval.deployments.model import Deployment
from llama_eval.emulator import EmulatorConfig, start_emulator
from llama_eval.emulator.batching import BatchModel
from llama_eval.emulator.config import EmulatedDeployment
from llama_eval.emulator.latency import LatencyProfile
from llama_eval.load.sweep import sweep
from llama_eval.prompts.synth import LengthDistribution, SynthRecipe, write_synth_set
from llama_eval.run import RunParams
from llama_eval.rundir.store import read_rows

L33 = "Llama-3.3-70B-Instruct"
QUIET = {"progress": "none", "announce": lambda message: None}
SLO = "ttft_p90<=1.5"
RATES = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]


def main() -> None:
    counter = counter_for(None)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        sets = {}
        for name, prefix in (("prefix", 1000), ("none", 0)):
            recipe = SynthRecipe(80, LengthDistribution.parse("fixed:1400"), LengthDistribution.parse("fixed:50"), prefix_tokens=prefix,
                                 prefix_share=0.8 if prefix else 0.0, seed=1)  # fmt: skip
            write_synth_set(recipe, counter, tmp_path / f"{name}.jsonl")
            sets[name] = tmp_path / f"{name}.jsonl"
        profile = LatencyProfile(base_ttft_s=0.1, prefill_tps=5000.0, tps=50.0, jitter=0.05, source="bench: stated")
        results = {}
        for name, path in sets.items():
            config = EmulatorConfig(deployments=[EmulatedDeployment("sh", L33, "self-hosted", served_name="llama33")], profile=profile,
                                    capacity={"sh": BatchModel(batch=4)}, time_scale=0.2)  # fmt: skip
            with start_emulator(config) as emu:
                os.environ["EMU_KEY"] = emu.key
                dep = Deployment(name="sh", model=L33, kind="self-hosted", endpoint=f"{emu.url}/v1", deployment_name="llama33", key_env="EMU_KEY")
                result = sweep([dep], path, tmp_path / f"sweep-{name}", rate=RATES, requests_per_level=60, warmup_s=2, slo=SLO,
                               params=RunParams(seed=1), **QUIET)  # fmt: skip
            rows = [r for r in read_rows(tmp_path / f"sweep-{name}") if r.get("usage")]
            share = sum(r["usage"].get("cached_tokens") or 0 for r in rows) / sum(r["usage"]["prompt_tokens"] for r in rows)
            capacity = result.capacity.level.rate_rps if result.capacity and result.capacity.level else None
            results[name] = capacity
            print(f"{name:>6}: capacity at {SLO}: {capacity} requests/s ({result.capacity.reason if result.capacity else 'none'}); cached share {share:.2f}")
        if results["prefix"] and results["none"]:
            print(f"shared prefix / none: {results['prefix'] / results['none']:.2f}x the capacity")


if __name__ == "__main__":
    main()
