"""A sweep's levels on disk: the per-level summary, the progress line, sweep.json and sweep.csv."""

from __future__ import annotations

import csv
import json
import statistics
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.catalog.prices import PriceBook
from llama_eval.deployments.model import Deployment
from llama_eval.errors import PriceTableError
from llama_eval.records import SERVERLESS, Status, percentile
from llama_eval.run.attempt import now_iso
from llama_eval.rundir.store import read_rows

from .objectives import ATTAINMENT_COLUMNS, CSV_COLUMNS, SweepLevel
from .params import RESUMABLE, RequestSample, SweepParams
from .slo import SWEEP_CSV, SWEEP_JSON, SweepCost, capacity_record, find_capacity
from .workload import SweepWorkload


def _bar(mode: str, total: int | None, desc: str) -> Any:
    if mode == "none":
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="req", leave=True, file=sys.stderr)


def _p(values: list[float], q: float, scale: float) -> float | None:
    return round(percentile(values, q) / scale, 6) if values else None


def summarise_level(index: int, load: float, closed: bool, samples: list[RequestSample], window: tuple[float, float] | None, scale: float,
                    lag_p99_ms: float | None, saturated: bool) -> SweepLevel:  # fmt: skip
    """One level's statistics from its measured (not warm-up) requests, in the service's time."""
    measured = [s for s in samples if not s.row.warmup]
    answered = [s for s in measured if s.row.status.answered]
    errors = [s for s in measured if not s.row.status.answered and s.row.status is not Status.BUDGET_SKIPPED]
    sent = [s for s in measured if s.row.status is not Status.BUDGET_SKIPPED]
    timings = [s.row.timing for s in answered if s.row.timing is not None]
    ttft = [t.ttft_s for t in timings if t.ttft_s is not None]
    itl = [t.itl_p50_s for t in timings if t.itl_p50_s is not None]
    e2e = [t.e2e_s for t in timings]
    throughput = output_tps = measured_s = None
    if answered:
        span = max(s.ended for s in answered) - min(s.sent for s in sent)
        if span > 0:
            measured_s = round(span / scale, 6)
            throughput = round(len(answered) / span * scale, 4)
            tokens = sum(s.row.usage.completion_tokens for s in answered if s.row.usage is not None)
            output_tps = round(tokens / span * scale, 3)
    send_rate = late50 = late99 = None
    lateness = [s.lateness_s for s in sent if s.lateness_s is not None]
    if window is not None and sent:  # requests sent ÷ the measured window, stretched if this process sent its last ones late
        span = max(window[1], max(s.sent for s in sent)) - window[0]
        if span > 0:
            send_rate = round(len(sent) / span * scale, 4)
    if lateness:
        late50, late99 = round(1000 * percentile(lateness, 0.5), 3), round(1000 * percentile(lateness, 0.99), 3)
    return SweepLevel(
        level=index,
        concurrency=int(load) if closed else None,
        rate_rps=None if closed else load,
        requests=len(sent),
        errors=len(errors),
        throughput_rps=throughput,
        output_tps=output_tps,
        ttft_p50_s=_p(ttft, 0.5, scale),
        ttft_p90_s=_p(ttft, 0.9, scale),
        ttft_p99_s=_p(ttft, 0.99, scale),
        itl_p50_s=round(statistics.median(itl) / scale, 6) if itl else None,
        e2e_p50_s=_p(e2e, 0.5, scale),
        e2e_p90_s=_p(e2e, 0.9, scale),
        warmup_requests=len(samples) - len(measured),
        send_rate_rps=send_rate,
        sender_lateness_p50_ms=late50,
        sender_lateness_p99_ms=late99,
        loop_lag_p99_ms=lag_p99_ms,
        saturated=saturated,
        error_kinds=dict(Counter(s.row.status.value for s in errors)),
        measured_s=measured_s,
    )


def _level_line(deployment: str, level: SweepLevel) -> str:
    """One progress line per finished level, led by the deployment's name: sweeps of several deployments
    (``make demo``, a script) print one after another, and ``level 1 (concurrency 1)`` alone cannot say whose it is."""

    def s(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    thr = "-" if level.throughput_rps is None else f"{level.throughput_rps:.2f}"
    line = (f"{deployment} level {level.level} ({level.load}): {level.requests} requests, {level.errors} errors, {thr} req/s, "
            f"TTFT p50 {s(level.ttft_p50_s)} s p90 {s(level.ttft_p90_s)} s, e2e p90 {s(level.e2e_p90_s)} s")  # fmt: skip
    if level.attainment is not None:
        goodput = "-" if level.goodput_rps is None else f"{level.goodput_rps:.2f}"
        line += (f", attainment {level.attainment:.1%} [{level.attainment_low:.1%}, {level.attainment_high:.1%}] "
                 f"({level.good_requests}/{level.requests} good), goodput {goodput} req/s")  # fmt: skip
    if level.slo_met is not None:
        line += ", meets the SLO" if level.slo_met else ", misses the SLO"
    return line


def sweep_cost(run_dir: Path, deployment: Deployment, prices: PriceBook, service_s: float) -> SweepCost:
    """What the sweep in ``run_dir`` used over every session (``SweepCost``): its rows' requests, tokens and USD at the run's
    token prices, and, for a deployment billed by the hour, ``service_s`` of its compute."""
    rows = [r for r in read_rows(run_dir) if r.get("status") != Status.BUDGET_SKIPPED.value]
    usage = [r.get("usage") or {} for r in rows]
    priced = [Decimal(str(r["cost_usd"])) for r in rows if r.get("cost_usd") is not None]
    hourly = deployment.kind != SERVERLESS
    instance_hours = instance_usd = None
    basis = "tokens at the run's per-token prices" if priced else "no per-token price applies to this deployment's requests"
    if hourly:
        compute = deployment.compute
        instances = compute.instances if compute is not None else 1
        instance_hours = round(service_s / 3600 * instances, 6)
        if compute is not None:
            try:
                instance_usd = str(round(compute.hourly_usd(prices) * Decimal(str(service_s)) / 3600, 6))
                basis = f"{instance_hours:.3g} hours of {compute.label} while the levels ran"
            except PriceTableError as e:
                basis = f"{instance_hours:.3g} instance-hours; no hourly price: {e}"
        else:
            basis = f"{instance_hours:.3g} instance-hours (one instance assumed); no 'compute' in the deployment, so no hourly price"
    return SweepCost(
        requests=len(rows),
        prompt_tokens=sum(int(u.get("prompt_tokens") or 0) for u in usage),
        completion_tokens=sum(int(u.get("completion_tokens") or 0) for u in usage),
        token_usd=str(sum(priced, Decimal(0))) if priced else None,
        service_s=round(service_s, 3),
        instance_hours=instance_hours,
        instance_usd=instance_usd,
        basis=basis,
    )


def write_sweep(run_dir: Path, deployment: Deployment, params: SweepParams, levels: list[SweepLevel], *, stopped: str | None, time_scale: float,
                simulated: bool, model_id: str | None, stop_kind: str | None = None, sessions: int = 1,
                cost: SweepCost | None = None, workload: SweepWorkload | None = None) -> dict[str, Any]:  # fmt: skip
    """``sweep.csv`` (``CSV_COLUMNS``, then ``ATTAINMENT_COLUMNS`` under a per-request SLO) and ``sweep.json`` (levels in the
    order measured, SLO, capacity, the search, the sweep's own cost); returns the JSON."""
    columns = [*CSV_COLUMNS, *(ATTAINMENT_COLUMNS if params.slo is not None and params.slo.by_attainment else ())]
    with (run_dir / SWEEP_CSV).open("w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=columns)
        out.writeheader()
        for level in levels:
            out.writerow({k: ("" if getattr(level, k) is None else getattr(level, k)) for k in columns})
    capacity = find_capacity(levels, params.slo)
    data: dict[str, Any] = {
        "deployment": deployment.name,
        "model": model_id,
        "kind": deployment.kind,
        "mode": params.mode,
        "workload": workload.to_json() if workload is not None else None,  # the prompt set and arrivals the capacity holds for
        "slo": str(params.slo) if params.slo else None,
        "params": params.to_json(),
        "levels": [level.to_json() for level in levels],
        **capacity_record(capacity),
        "stopped": stopped,
        "stop_kind": stop_kind,
        "resumable": stop_kind in RESUMABLE,
        "sessions": sessions,
        "search": params.search.to_json() | {"levels_measured": len(levels)} if params.search is not None else None,
        "cost": cost.to_json() if cost is not None else None,
        "time_scale": time_scale,
        "simulated": simulated,
        "units": (
            "seconds and requests/s of the service"
            if time_scale == 1
            else f"emulated service time: measured values ÷ the emulator's time scale {time_scale:g} (sender lateness and loop lag stay in real ms)"
        ),
        "throughput_definition": "answered requests ÷ (end of the last answer − start of the first measured request), warm-up excluded",
        "capacity_rule": "the highest level of the unbroken run of levels meeting the SLO from the lowest load up; a measured level, never interpolated",
        "attainment_definition": (
            "requests meeting every per-request limit ÷ requests sent at the level (errors and cut streams are misses), "
            "with a Wilson 95% interval; a level meets the SLO when the point estimate reaches the target"
            if params.slo is not None and params.slo.by_attainment
            else None
        ),
        "goodput_definition": "requests meeting every per-request limit ÷ the same span as throughput (vLLM's request_goodput)"
        if params.slo is not None and params.slo.by_attainment
        else None,
        "created_at": now_iso(),
    }
    (run_dir / SWEEP_JSON).write_text(json.dumps(data, indent=2) + "\n")
    return data
