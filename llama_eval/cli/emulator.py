"""``llama-eval emulator``: serve simulated Llama endpoints locally (no key, no network)."""

from __future__ import annotations

import argparse
import sys


def command(args: argparse.Namespace) -> int:
    from llama_eval.emulator import EmulatorConfig, fixed_profile, serve_forever  # start-up time: imported on use (~650 ms)
    from llama_eval.emulator.deployments_file import read_deployments_file, write_deployments_file  # start-up time: imported on use (~650 ms)

    specs = read_deployments_file(args.deployments) if args.deployments else None
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    profile = fixed_profile(args.ttft, args.tps, args.jitter) if args.ttft is not None or args.tps is not None else None
    if profile is not None and (args.ttft is None or args.tps is None):
        raise SystemExit("llama-eval emulator: give --ttft and --tps together")
    capacity = _emulator_capacity(args)  # issue 14: managed deployments batch, then queue
    config = EmulatorConfig(
        **({"models": models} if models else {}),
        deployments=specs,
        key=args.key,
        time_scale=args.time_scale,
        tpm=args.tpm,
        rpm=args.rpm,
        concurrency=args.concurrency,
        quota_window_s=args.quota_window,
        fault_rate=args.fault_rate,
        **({"fault_kinds": tuple(k.strip() for k in args.fault_kinds.split(","))} if args.fault_kinds else {}),
        stall_s=args.stall,
        seed=args.seed,
        prompt_sets=args.prompts or (),
        profile=profile,
        capacity=capacity,
    )

    def announce(emulator, url: str) -> None:
        if not args.deployments:  # a deployments file's retired offers were warned of by load_deployments (file and line): once is enough
            for note in emulator.retired_serverless():
                print(f"llama-eval emulator: warning: {note}", file=sys.stderr, flush=True)
        # the file first: whoever waits for the 'listening' line can read it at once
        written = write_deployments_file(emulator, url, args.write_deployments, source=args.deployments) if args.write_deployments else None
        print("llama-eval emulator: SIMULATED Llama endpoints (faithful wire behaviour; the text is not real model output)")
        print(f"listening {url}", flush=True)
        print(f"key {emulator.key}")
        print(f"time scale {float(emulator.config.time_scale):g} (header x-llama-eval-time-scale; latencies ÷ scale = modelled service time)")
        for name, dep in emulator.deployments.items():
            quota = dep.quota
            rpm = round(quota.requests.limit * 60 / quota.requests.window_s) if quota.requests else None
            tpm = round(quota.tokens.limit * 60 / quota.tokens.window_s) if quota.tokens else None
            if dep.kind == "self-hosted" or dep.openai_v1:
                where = f"{url}/{'v1' if dep.kind == 'self-hosted' else 'openai/v1'} (model {dep.served_name})"
            else:
                where = f"{url}/{dep.path}"
            limits = f"{tpm} tokens/min, {rpm} requests/min" if tpm or rpm else "no quota"
            print(f"  {where}    ({name}: {dep.model.id}, {dep.kind}; {limits})")
            batch = emulator.capacity.models.get(name)
            if batch is not None:
                print(f"    capacity model: batch {batch.batch} x {batch.instances} instance(s); beyond, a queue ({batch.source})")
        if written:
            print(f"\nwrote {written}: the deployments above at {url}")
            print(f"  export LLAMA_EVAL_EMULATOR_KEY={emulator.key}")
            print(f"  llama-eval run -d {written} -p data/prompts/quickstart.jsonl -o runs/try-it", flush=True)
            return
        first = next(iter(emulator.deployments.values()))
        print("\nTry it (the Azure docs' shortcut):")
        print(f"  export AZURE_INFERENCE_ENDPOINT={url}/{first.path}")
        print(f"  export AZURE_INFERENCE_CREDENTIAL={emulator.key}", flush=True)

    serve_forever(config, args.host, args.port, announce)
    return 0


def _emulator_capacity(args: argparse.Namespace) -> dict:
    """The emulator's capacity model for the managed deployments of ``--deployments`` (emulator/capacity.py)."""
    if not args.deployments:
        if args.batch_size is not None:
            raise SystemExit("llama-eval emulator: --batch-size applies to the managed deployments of a --deployments file")
        return {}
    from llama_eval.deployments.loader import load_deployments  # start-up time: imported on use (~40 ms)
    from llama_eval.emulator.batching import managed_capacity  # start-up time: imported on use (~650 ms)

    return managed_capacity(load_deployments(args.deployments), batch=args.batch_size)


def add_parser(sub: argparse._SubParsersAction) -> None:
    emu = sub.add_parser("emulator", help="serve simulated Llama endpoints locally (no key, no network)")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed as 'listening URL')")
    emu.add_argument("--models", help="comma-separated catalog ids, one deployment each (default: a handful across the family)")
    emu.add_argument("--deployments", help="a deployments YAML file: serve exactly the paths its endpoints name (host and port come from here)")
    emu.add_argument("--write-deployments", metavar="FILE", help="write a deployments YAML for the port actually bound (with --port 0, say)")
    emu.add_argument("--key", help="the API key clients must send (default: random, printed)")
    emu.add_argument("--time-scale", type=float, default=1.0, help="multiply every simulated delay (0.01: a hundred times faster)")
    emu.add_argument("--tpm", type=int, help="tokens per minute for every deployment (default: catalog quota)")
    emu.add_argument("--rpm", type=int, help="requests per minute for every deployment (default: catalog quota)")
    emu.add_argument("--concurrency", type=int, help="concurrent requests per deployment (default: catalog quota)")
    emu.add_argument("--quota-window", type=float, default=60.0,
                     help="sliding-window length in the emulated service's seconds (limits scale with it; at --time-scale 0.05, 60 s last 3 real s)")
    emu.add_argument("--fault-rate", type=float, default=0.0, help="fraction of requests that fail on purpose (seeded)")
    emu.add_argument("--fault-kinds", help="comma-separated: 500,503,reset,stall,malformed,cut (default: 500,503,reset,stall)")
    emu.add_argument("--stall", type=float, default=600.0, help="seconds a 'stall' fault waits")
    emu.add_argument("--seed", type=int, default=0)
    emu.add_argument("--prompts", action="append", help="a prompt set whose references the emulated models know (repeatable)")
    emu.add_argument("--ttft", type=float, help="fixed time to first token, seconds (with --tps: one profile for all)")
    emu.add_argument("--tps", type=float, help="fixed output tokens per second")
    emu.add_argument("--jitter", type=float, default=0.0, help="lognormal sigma for the fixed profile")
    emu.add_argument("--batch-size", type=int, help="with --deployments: requests each managed instance decodes at once (default: from its model and VM)")
    emu.set_defaults(func=command)
