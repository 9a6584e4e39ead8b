"""``llama-eval run --executor ray``: a closed-loop evaluation run's requests dealt over Ray actors, merged into one run directory.

The coordinator plans the run as ``run_evaluation`` does (``run.plan.make_plan``: the prompts against every
deployment, the budget, what a resumed run still lacks), then deals the requests left to do round-robin
over N clients. Each client (``RunShard``) runs the runner itself (``run.scheduler.Scheduler``: the probe,
the lanes, the measuring client, retries, quota pacing) on its share — the plan's ``done`` set is
widened by every key dealt to another client — with its share of the concurrency, of each quota
(TPM, RPM, concurrent requests: the quota is the deployment's, so N clients pace to 1/N of it each)
and of the budget, into a scratch directory on its own node. The coordinator collects each client's
finished rows every ``POLL_S`` and writes them to the run directory's ``results.jsonl`` with
``client`` added. A client that dies is reported (which one, how many rows it had delivered); the
others finish; the run is ``incomplete`` and ``--resume`` runs only the keys still missing.
Open-loop schedules and conversations stay single-process (refused with the reason).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.catalog.models import Catalog, Quota
from llama_eval.catalog.prices import PriceBook
from llama_eval.deployments.model import Deployment
from llama_eval.errors import RunError
from llama_eval.load.params import Shard
from llama_eval.prompts.prompt_set import PromptSet
from llama_eval.run import store_run
from llama_eval.run.attempt import now_iso
from llama_eval.run.output import RunLock, manifest, write_manifest
from llama_eval.run.params import RunParams, RunSummary
from llama_eval.run.plan import Plan, make_plan
from llama_eval.run.progress import announce_estimates
from llama_eval.run.scheduler import Scheduler
from llama_eval.rundir.store import ResultsWriter, read_rows, row_key, write_parquet

from .clock import estimate_offset, uncertainty_s
from .coordinator import POLL_S


def share_quota(quota: Quota | None, shard: Shard) -> Quota | None:
    """A client's part of a deployment's quota (each of TPM, RPM, concurrency dealt like slots; at least 1 of each limit)."""
    if quota is None:
        return None

    def part(limit: int | None) -> int | None:
        return None if limit is None else max(1, shard.share(limit))

    return replace(quota, tpm=part(quota.tpm), rpm=part(quota.rpm), concurrency=part(quota.concurrency))


class RunShard:
    """A run client (the body of a Ray actor): the runner on its share of the keys, rows handed over by ``drain``."""

    def __init__(self, deployments: list[Deployment], prompts: PromptSet, params: RunParams, plan: Plan, catalog: Catalog, prices: PriceBook,
                 env: dict[str, str]):  # fmt: skip
        os.environ.update(env)
        self.deployments, self.prompts, self.params, self.plan, self.catalog, self.prices = deployments, prompts, params, plan, catalog, prices
        self.dir = Path(tempfile.mkdtemp(prefix="llama-eval-client-"))
        self.said: list[str] = []
        self.offset = 0

    def clock(self) -> float:
        return time.time()

    async def run(self) -> dict[str, Any]:
        scheduler = Scheduler(self.deployments, self.prompts, self.dir, self.params, self.plan, prices=self.prices, catalog=self.catalog,
                              progress="none", announce=self.said.append)  # fmt: skip
        s = await scheduler.run()
        return {"status": s.status, "retries": s.retries, "cost_usd": str(s.cost_usd), "stopped": s.stopped, "said": self.said}

    def drain(self) -> list[dict[str, Any]]:
        """The rows finished since the last call (whole lines of the client's results.jsonl)."""
        path = self.dir / "results.jsonl"
        if not path.exists():
            return []
        with path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()]


async def arun_on_ray(deployments: Sequence[Deployment], prompts: PromptSet, run_dir: Path, params: RunParams, executor: Any, *, resume: bool,
                      prices: PriceBook, catalog: Catalog, announce: Callable[[str], None], store: str | Path | None) -> RunSummary:  # fmt: skip
    """Plan, deal, run on ``executor.clients`` actors and merge (see the module docstring); the ``RunSummary`` of the session."""
    if params.schedule is not None or prompts.has_conversations:
        raise RunError("--executor ray runs the closed loop (--concurrency) of single prompts; an open-loop schedule (--rate, --ramp, --trace) "
                       "or conversations run in one process (leave out --executor ray)")  # fmt: skip
    deployments = list(deployments)
    plan = make_plan(deployments, prompts, run_dir, params, resume=resume, prices=prices, catalog=catalog,
                     show_estimates=lambda estimates: announce_estimates(estimates, announce))  # fmt: skip
    todo = [row_key(d.name, item.id, r) for d in deployments for r in range(params.repeats) for item in prompts if row_key(d.name, item.id, r) not in plan.done]
    n = max(1, min(executor.clients, params.concurrency, len(todo) or 1))  # every client holds at least one slot
    if n < executor.clients:
        announce(f"{n} client(s), not {executor.clients}: each needs at least one of --concurrency {params.concurrency} slots and a request")
    summary = RunSummary(run_dir, "running", skipped_done=len(plan.done))
    started = time.monotonic()
    ray = executor.connect()
    cls = ray.remote(RunShard)
    env = {d.key_env: os.environ[d.key_env] for d in deployments if d.key_env and d.key_env in os.environ}
    actors = []
    for k in range(n):
        shard = Shard(k, n)
        mine = replace(plan, done=plan.done | frozenset(key for i, key in enumerate(todo) if not shard.owns(i)))
        budget = params.budget_usd / Decimal(n) if params.budget_usd is not None else None
        shard_params = replace(params, concurrency=shard.share(params.concurrency), budget_usd=budget)
        shard_deployments = [replace(d, quota=share_quota(d.effective_quota(catalog), shard)) for d in deployments]
        actors.append(cls.options(num_cpus=1, scheduling_strategy="SPREAD", max_concurrency=100)
                      .remote(shard_deployments, prompts, shard_params, mine, catalog, prices, env))  # fmt: skip
    offsets = []
    for k, actor in enumerate(actors):
        probes = []
        for _ in range(executor.clock_probes):
            t0 = time.time()
            tc = await asyncio.wrap_future(actor.clock.remote().future())
            probes.append((t0, tc, time.time()))
        offsets.append(estimate_offset(k, probes))
    spread = uncertainty_s(offsets)
    delivered, lost, results = [0] * n, [], {}
    with RunLock(run_dir):
        record = manifest(run_dir, fingerprint=plan.fingerprint, prompts=prompts, prices=prices, catalog=catalog, params=params.to_json(),
                          estimates=plan.estimates_json(), now=now_iso())  # fmt: skip
        clients = executor.describe() | {"count": n, "clients": [o.to_json() for o in offsets], "clock_offset_uncertainty_ms": round(1000 * spread, 3),
                                         "split": "the requests left to do dealt round-robin; concurrency, quota and budget shared evenly"}  # fmt: skip
        record["clients"] = clients
        write_manifest(run_dir, record)
        writer = ResultsWriter(run_dir)
        runs = {k: asyncio.wrap_future(actor.run.remote().future()) for k, actor in enumerate(actors)}
        try:
            live = set(range(n))
            while live:
                await asyncio.wait([runs[k] for k in live], timeout=POLL_S)
                for k in sorted(live):
                    try:
                        rows = await asyncio.wrap_future(actors[k].drain.remote().future())
                    except ray.exceptions.RayActorError as exc:
                        live.discard(k)
                        lost.append({"client": k, "rows_delivered": delivered[k], "error": type(exc).__name__})
                        announce(f"client {k} of {n} was lost ({type(exc).__name__}) after delivering {delivered[k]} rows (all in results.jsonl); "
                                 "the others go on; --resume runs its remaining requests")  # fmt: skip
                        continue
                    for data in rows:
                        writer.write(data | {"client": k})
                        summary.rows_written += 1
                        summary.by_status[data["status"]] += 1
                    delivered[k] += len(rows)
                    if runs[k].done() and not rows:
                        live.discard(k)
                        try:
                            results[k] = runs[k].result()
                        except ray.exceptions.RayActorError as exc:
                            lost.append({"client": k, "rows_delivered": delivered[k], "error": type(exc).__name__})
        finally:
            writer.close()
            for actor in actors:
                ray.kill(actor)
        written = {row["key"] for row in read_rows(run_dir)}
        summary.not_run = sum(1 for key in todo if key not in written)
        summary.retries = sum(r["retries"] for r in results.values())
        summary.cost_usd = sum((Decimal(r["cost_usd"]) for r in results.values()), Decimal(0))
        summary.stopped = {name: why for r in results.values() for name, why in r["stopped"].items()}
        summary.duration_s = time.monotonic() - started
        summary.status = "completed" if summary.not_run == 0 else "incomplete"
        clients["lost"] = lost
        record.update(status=summary.status, finished_at=now_iso(), clients=clients,
                      summary={"rows_written": summary.rows_written, "by_status": dict(summary.by_status), "already_done": summary.skipped_done,
                               "not_run": summary.not_run, "retries": summary.retries, "cost_usd": str(summary.cost_usd),
                               "stopped_deployments": summary.stopped, "client": params.client})  # fmt: skip
        write_manifest(run_dir, record)
        if summary.status == "completed":
            write_parquet(run_dir)
    announce(f"{n} Ray clients; clock offset uncertainty ±{1000 * spread:.1f} ms (send instants across clients; latencies are per client)")
    if summary.status == "completed":
        store_run(run_dir, store, announce)
    return summary
