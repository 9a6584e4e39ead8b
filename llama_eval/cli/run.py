"""``llama-eval run``: a prompt set through deployments, into a resumable run directory."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from llama_eval.errors import WorkloadError

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


def exit_interrupted(message: str) -> None:
    """One line, then exit 130 at once. A KeyboardInterrupt that passed through an embedded interpreter
    call (some imports do) makes CPython end the process with SIGINT even after it was caught; exiting
    here keeps the status the documented 130. Cleanup has run by now (finally blocks, the run lock)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # this is the answer to it; a second one must not become a traceback
    print(message, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


def command(args: argparse.Namespace) -> int:
    """``llama-eval run``. Exit status: 0 completed, 3 incomplete (a deployment stopped), 130 interrupted (Ctrl-C)."""
    try:
        return run_session(args)
    except KeyboardInterrupt:  # Ctrl-C outside the graceful window (planning, start-up): nothing was lost
        exit_interrupted(f"llama-eval run: interrupted; {args.output} holds whatever finished — continue it with --resume")
        raise  # not reached


def run_session(args: argparse.Namespace) -> int:
    from llama_eval.catalog.prices import load_prices  # start-up time: imported on use (~50 ms)
    from llama_eval.deployments.loader import load_deployments  # start-up time: imported on use (~40 ms)
    from llama_eval.endpoint.request import ExtraParameters  # start-up time: imported on use (~35 ms)
    from llama_eval.prompts.prompt_set import load_prompt_set  # start-up time: imported on use (~40 ms)
    from llama_eval.run import RunParams, run_evaluation  # start-up time: imported on use (~650 ms)

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # a stream cut off mid-way is retried and recorded by the runner; azure-core's own warning is noise here
    logging.getLogger("azure.core.pipeline.transport").setLevel(logging.ERROR)
    try:
        budget = Decimal(args.budget_usd) if args.budget_usd is not None else None
    except InvalidOperation:
        raise SystemExit(f"llama-eval run: --budget-usd {args.budget_usd!r} is not a number") from None
    check_arrival_flags(args)
    config = load_deployments(args.deployments)
    if args.only:
        config = type(config)(tuple(config[name] for name in args.only.split(",")), config.path)
    pool = load_prompt_set(args.prompts) if args.prompts else None
    prompts, schedule = workload(args, list(config), pool)
    extra = ExtraParameters(n=args.n, best_of=args.best_of, logprobs=args.logprobs) if (args.n or args.best_of or args.logprobs is not None) else None
    params = RunParams(
        schedule=schedule,
        repeats=args.repeats,
        concurrency=args.concurrency if args.concurrency is not None else 8,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        seed=args.seed,
        stream=not args.no_stream,
        budget_usd=budget,
        budget_preflight=not args.budget_stop_only,
        max_attempts=args.max_attempts,
        timeout_s=args.timeout,
        extra=extra,
        client=args.client,
        warmup=args.warmup,
        probe=not args.no_probe,
    )
    executor = ray_executor(args, "run")
    if executor is not None:  # the requests dealt over Ray clients (llama_eval.distributed.run)
        import asyncio

        from llama_eval.catalog.models import load_catalog
        from llama_eval.distributed.run import arun_on_ray
        from llama_eval.run.progress import announce

        catalog = load_catalog()
        summary = asyncio.run(arun_on_ray(list(config), prompts, Path(args.output), params, executor, resume=args.resume, catalog=catalog,
                                          prices=load_prices(args.prices, args.compute_prices), announce=announce, store=args.store))  # fmt: skip
    else:
        summary = run_evaluation(config, prompts, args.output, params, resume=args.resume, prices=load_prices(args.prices, args.compute_prices),
                                 progress=args.progress, on_emulator=_teach_emulator, store=args.store)  # fmt: skip
    print(summary)
    if args.report and summary.status == "completed":
        from llama_eval.report.pipeline import build_report  # start-up time: imported on use (~330 ms)

        print(f"report: {build_report(args.output, Path('reports') / Path(args.output).name)}")
    return {"completed": 0, "interrupted": EXIT_INTERRUPTED}.get(summary.status, 3)


def check_arrival_flags(args: argparse.Namespace) -> None:
    """The arrival flags agree with each other, or a WorkloadError (exit 2) saying what to write instead (before anything is read or sent)."""
    chosen = [flag for flag, value in (("--rate", args.rate), ("--ramp", args.ramp), ("--trace", args.trace)) if value is not None]
    if len(chosen) > 1:
        raise WorkloadError(f"{' and '.join(chosen)} are different arrival patterns; give one")
    if args.burstiness is not None and args.rate is None:
        raise WorkloadError("--burstiness shapes the gaps of --rate arrivals; add --rate R (requests/s)")
    if args.speedup is not None and args.trace is None:
        raise WorkloadError("--speedup compresses a replayed --trace; add --trace FILE.csv")
    if chosen and args.concurrency is not None:
        raise WorkloadError(f"--concurrency is the closed loop; with {chosen[0]} each request is sent at its own instant (open loop)")
    if args.prompts is None and args.trace is None:
        raise WorkloadError("give a prompt set (-p FILE.jsonl), or --trace FILE.csv to replay traffic with synthesized prompts")
    if args.trace is not None and args.repeats != 1:
        raise WorkloadError("--repeats goes with a prompt set; a --trace is replayed once (replay it again into another run)")


def workload(args: argparse.Namespace, deployments: list[Any], pool: Any) -> tuple[Any, Any]:
    """The prompt set and the open-loop send schedule (None: closed loop).

    With ``--trace`` the prompt set is made here, one line per trace row of its input length (synthesized
    with the first deployment's tokenizer, or the nearest-length prompt of ``-p``) asking for its output
    length (``ignore_eos``, so the answer runs to it), and written into the run directory (``workload.jsonl``) so the run describes itself and resumes.
    """
    from llama_eval.load import arrivals  # start-up time: only a run with arrivals pays for it
    from llama_eval.run.params import SendSchedule

    seed = args.seed if args.seed is not None else 0
    if args.trace is None:
        if args.rate is None and args.ramp is None:
            return pool, None
        count = len(pool) * args.repeats
        if args.ramp is not None:
            made = arrivals.ramp(*arrivals.parse_ramp(args.ramp), count, seed=seed)
        else:
            made = arrivals.gamma(args.rate, args.burstiness if args.burstiness is not None else 1.0, count, seed=seed)
        return pool, SendSchedule(made.offsets, made.recipe)
    from llama_eval.catalog.models import load_catalog
    from llama_eval.catalog.tokens import counter_for
    from llama_eval.prompts.prompt_set import load_prompt_set
    from llama_eval.prompts.synth import items_for_lengths, write_items

    trace = arrivals.read_trace(args.trace, speedup=args.speedup if args.speedup is not None else 1.0)
    catalog = load_catalog()
    families = [getattr(d.catalog_model(catalog), "family", None) for d in deployments]
    counter = counter_for(families[0] if families else None)
    if len({counter_for(f).kind for f in families}) > 1:
        print(f"llama-eval run: the deployments use different tokenizers; the trace's input lengths are exact for {counter.kind} only", file=sys.stderr)
    labels = [{"trace": a.source} | ({"conversation_id": a.conversation_id} if a.conversation_id else {}) for a in trace.items]
    lines = items_for_lengths(((a.input_tokens, a.output_tokens) for a in trace.items), counter, seed=seed,
                              drawn_from=pool, labels=labels)  # fmt: skip
    path = Path(args.output) / "workload.jsonl"
    if path.exists():  # a run directory already made from a trace: never overwrite its prompt set with another one
        fresh = Path(args.output) / ".workload.jsonl.check"
        write_items(lines, fresh)
        same = fresh.read_bytes() == path.read_bytes()
        fresh.unlink()
        if not same:
            raise WorkloadError(f"{path} was made from another trace, --seed or -p; replay into a new run directory (-o)")
    else:
        write_items(lines, path)
    recipe = dict(trace.recipe) | {"prompts": "drawn from " + str(args.prompts) if pool is not None else f"synthesized ({counter.kind} tokenizer)"}
    return load_prompt_set(path), SendSchedule(trace.offsets, recipe)


def _teach_emulator(endpoint: str, prompt_set: Any, *, key: str | None, timeout_s: float) -> int:
    """The run's ``on_emulator`` hook: ``teach_emulator``, imported only by a run that met the emulator."""
    from llama_eval.emulator.teach import teach_emulator  # start-up time: the emulator package (aiohttp.web) costs ~55 ms

    return teach_emulator(endpoint, prompt_set, key=key, timeout_s=timeout_s)


def ray_executor(args: argparse.Namespace, command: str) -> object | None:
    """The executor ``--executor`` asks for (None: this process), after checking the flags that go with it."""
    if args.executor == "local":
        if args.clients is not None or args.ray_address is not None:
            flag = "--clients" if args.clients is not None else "--ray-address"
            raise SystemExit(f"llama-eval {command}: {flag} splits the load over Ray clients; add --executor ray")
        return None
    if args.clients is not None and args.clients < 1:
        raise SystemExit(f"llama-eval {command}: --clients must be >= 1, got {args.clients}")
    from llama_eval.distributed.executor import RayExecutor  # imports Ray only when a level runs

    return RayExecutor(clients=args.clients or 2, address=args.ray_address)


def add_executor_flags(parser: argparse.ArgumentParser) -> None:
    """``--executor``, ``--clients``, ``--ray-address`` (sweep and run)."""
    group = parser.add_argument_group("several clients (docs/guides/ray.md)")
    group.add_argument("--executor", choices=["local", "ray"], default="local",
                       help="local: this process sends every request (default); ray: the load is split over --clients Ray actors "
                            "(needs pip install 'llama-eval[ray]')")  # fmt: skip
    group.add_argument("--clients", type=int, help="with --executor ray: client processes (Ray actors) the load is split over (default 2)")
    group.add_argument("--ray-address", help="with --executor ray: an existing Ray cluster (auto, or ray://HEAD:10001); "
                                             "default $RAY_ADDRESS, else a local cluster of --clients worker processes")  # fmt: skip


def add_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run",
        help="run a prompt set through deployments; results in a run directory",
        epilog="Exit status: 0 completed; 3 incomplete (a deployment was stopped, or a budget skipped requests); 130 interrupted by Ctrl-C "
        "(the run directory stays resumable: run again with --resume); 2 bad input.",
    )
    run.add_argument("-d", "--deployments", required=True, help="deployments YAML file")
    run.add_argument("-p", "--prompts", help="prompt set (JSONL); with --trace, optional: prompts are drawn from it by length")
    run.add_argument("-o", "--output", required=True, help="run directory (runs/NAME)")
    run.add_argument("--only", help="comma-separated deployment names to run (default: all in the file)")
    run.add_argument("--repeats", type=int, default=1)
    run.add_argument("--concurrency", type=int, help="closed loop: requests in flight per deployment (default 8)")
    arrivals = run.add_argument_group("open-loop arrivals (instead of --concurrency): each request is sent at its instant")
    arrivals.add_argument("--rate", type=float, help="Poisson arrivals at R requests/s per deployment")
    arrivals.add_argument("--burstiness", type=float, help="with --rate: gamma gaps of shape B (vLLM's --burstiness): 1 Poisson, < 1 burstier")
    arrivals.add_argument("--ramp", help="R0:R1:SECONDS: Poisson arrivals whose rate goes from R0 to R1 requests/s over SECONDS, then stays")
    arrivals.add_argument("--trace", help="replay a CSV (timestamp or offset_s, input_tokens, output_tokens[, conversation_id]); no -p needed")
    arrivals.add_argument("--speedup", type=float, help="with --trace: compress its time K times (10: ten times faster)")
    run.add_argument("--max-tokens", type=int, help="default max_tokens (an item's own wins; default 512)")
    run.add_argument("--temperature", type=float)
    run.add_argument("--seed", type=int)
    run.add_argument("--n", type=int, help="Llama extra parameter n")
    run.add_argument("--best-of", type=int, help="Llama extra parameter best_of (no streaming)")
    run.add_argument("--logprobs", type=int, help="Llama extra parameter logprobs")
    run.add_argument("--budget-usd", help="refuse to start above this worst case; stop scheduling before passing it")
    run.add_argument("--budget-stop-only", action="store_true", help="start even if the worst case exceeds the budget; stop scheduling at it")
    run.add_argument("--prices", help="a price override CSV (negotiated rates)")
    run.add_argument("--compute-prices", help="a VM price override CSV (e.g. from `llama-eval prices update`)")
    run.add_argument("--resume", action="store_true", help="continue a run directory: only what is missing runs")
    run.add_argument("--store", help="the run store a completed run is also written to: a folder, an fsspec URL or 'off' "
                                     "(default: $LLAMA_EVAL_STORE, else .store beside the run directory)")  # fmt: skip
    run.add_argument("--no-stream", action="store_true", help="do not stream (only end-to-end latency is measured)")
    run.add_argument("--max-attempts", type=int, default=5)
    run.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for a connection or a chunk")
    run.add_argument("--progress", choices=["auto", "bar", "log", "none"], default="auto")
    run.add_argument("--report", action="store_true", help="build the HTML report when the run completes (reports/<run name>)")
    run.add_argument("--client", choices=["wire", "sdk"], default="wire", help="wire: the measuring aiohttp client (default); sdk: the SDK transports")
    run.add_argument("--warmup", type=int, default=1, help="first N requests per deployment are marked warm-up, left out of latency statistics")
    run.add_argument("--no-probe", action="store_true", help="skip the one cheap request per deployment sent before any paid one")
    add_executor_flags(run)
    run.set_defaults(func=command)
