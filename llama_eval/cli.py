"""The ``llama-eval`` command line. Each subcommand is a thin shell over a package function."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
import warnings
from datetime import date

from . import clock
from .errors import LlamaEvalError


def _models(args: argparse.Namespace) -> int:
    from .overview import model_overview
    from .prices import load_prices

    prices = load_prices(args.prices, args.compute_prices)
    rows = model_overview(args.on, prices=prices)
    if args.available:
        rows = [r for r in rows if r["serverless"] == "GA" or r["serverless"].startswith(("deprecated", "legacy"))]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    columns = [
        ("model", "model"),
        ("params_b", "params (B)"),
        ("context", "context"),
        ("max_output", "max out"),
        ("modality", "modality"),
        ("serverless", f"serverless ({args.on or clock.today()})"),
        ("managed", "managed"),
        ("input_usd_per_1m", "in $/1M"),
        ("output_usd_per_1m", "out $/1M"),
        ("managed_sku", "managed VM SKU"),
        ("replacement", "use instead"),
    ]
    # "est.": the value rests on an assumption, not a source (data/models.yaml says why); "suggested": our pick, not Microsoft's
    marks = {"max_output": "max_output_estimated", "managed_sku": "managed_sku_estimated", "replacement": "replacement_is_suggestion"}
    cells = []
    for r in rows:
        # "no price" only where a serverless offer exists and its price is unknown; managed-only models show "-"
        unpriced = "no price" if r["serverless"] != "-" else "-"
        row = []
        for k, _ in columns:
            text = (unpriced if k.endswith("per_1m") else "-") if r[k] is None else str(r[k]).removeprefix("Standard_")
            if r[k] is not None and r.get(marks.get(k, "")):
                text += " (suggested)" if k == "replacement" else " est."
            row.append(text)
        cells.append(row)
    print(_table([h for _, h in columns], cells))
    freshness = prices.freshness(args.on)
    print("\nPrices: serverless pay-as-you-go, USD per 1M tokens. Managed compute is billed per VM-hour (VM SKU: our sizing, est.).")
    print(f"Price tables: {', '.join(str(p) for p in prices.sources)}; {freshness.text}.")
    print("est. = an assumption, not a sourced fact; (suggested) = our replacement, not Microsoft's. Details: data/models.yaml.")
    if freshness.warning:
        print(f"warning: {freshness.warning}")
    return 0


def _prices_update(args: argparse.Namespace) -> int:
    from .prices import load_prices
    from .retail_prices import update_prices, write_overrides

    book = load_prices(args.prices, args.compute_prices)
    result = update_prices(book, region=args.region, api_url=args.api_url, timeout_s=args.timeout)
    files = write_overrides(result, args.out, args.region)
    print(f"Azure Retail Prices API: {result.pages} page(s); {len(result.compute)} VM price(s), {len(result.tokens)} Llama token price(s) for {args.region}")
    if result.skipped_meters:
        print(f"skipped {result.skipped_meters} meter(s): Windows, Spot, Low Priority, batch/provisioned or not a Llama model")
    for change in result.changes:
        print(f"  changed  {change}")
    if not result.changes:
        print("  no price changed")
    for missing in result.missing:
        print(f"  not listed by the API: {missing}")
    for path in files:
        flag = "--compute-prices" if path.name.startswith("compute_prices") else "--prices"
        print(f"wrote {path}   (use it: {flag} {path})")
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from .emulator import EmulatorConfig, fixed_profile, serve_forever
    from .emulator.deployments_file import read_deployments_file, write_deployments_file

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


EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


def _exit_interrupted(message: str) -> None:
    """One line, then exit 130 at once. A KeyboardInterrupt that passed through an embedded interpreter
    call (some imports do) makes CPython end the process with SIGINT even after it was caught; exiting
    here keeps the status the documented 130. Cleanup has run by now (finally blocks, the run lock)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # this is the answer to it; a second one must not become a traceback
    print(message, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


def _run(args: argparse.Namespace) -> int:
    """``llama-eval run``. Exit status: 0 completed, 3 incomplete (a deployment stopped), 130 interrupted (Ctrl-C)."""
    try:
        return _run_session(args)
    except KeyboardInterrupt:  # Ctrl-C outside the graceful window (planning, start-up): nothing was lost
        _exit_interrupted(f"llama-eval run: interrupted; {args.output} holds whatever finished — continue it with --resume")
        raise  # not reached


def _run_session(args: argparse.Namespace) -> int:
    import logging
    from decimal import Decimal, InvalidOperation

    from .config import load_deployments
    from .prices import load_prices
    from .prompts import load_prompt_set
    from .request import ExtraParameters
    from .run import RunParams, run_evaluation

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # a stream cut off mid-way is retried and recorded by the runner; azure-core's own warning is noise here
    logging.getLogger("azure.core.pipeline.transport").setLevel(logging.ERROR)
    try:
        budget = Decimal(args.budget_usd) if args.budget_usd is not None else None
    except InvalidOperation:
        raise SystemExit(f"llama-eval run: --budget-usd {args.budget_usd!r} is not a number") from None
    config = load_deployments(args.deployments)
    if args.only:
        config = type(config)(tuple(config[name] for name in args.only.split(",")), config.path)
    prompts = load_prompt_set(args.prompts)
    extra = ExtraParameters(n=args.n, best_of=args.best_of, logprobs=args.logprobs) if (args.n or args.best_of or args.logprobs is not None) else None
    params = RunParams(
        repeats=args.repeats,
        concurrency=args.concurrency,
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
    summary = run_evaluation(
        config, prompts, args.output, params, resume=args.resume, prices=load_prices(args.prices, args.compute_prices), progress=args.progress
    )
    print(summary)
    if args.report and summary.status == "completed":
        from pathlib import Path

        from .pipeline import build_report

        print(f"report: {build_report(args.output, Path('reports') / Path(args.output).name)}")
    return {"completed": 0, "interrupted": EXIT_INTERRUPTED}.get(summary.status, 3)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    cells = [headers, *rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _duration(minutes: float) -> str:
    return f"{minutes * 60:.0f} s" if minutes < 1 else f"{minutes:.1f} min"


def _estimate(args: argparse.Namespace) -> int:
    from .config import load_deployments
    from .cost import estimate_run, usd
    from .prices import load_prices
    from .prompts import load_prompt_set

    config = load_deployments(args.deployments)
    prices = load_prices(args.prices, args.compute_prices)
    estimates = estimate_run(list(config), load_prompt_set(args.prompts), prices, repeats=args.repeats, max_tokens=args.max_tokens, previous_run=args.from_run)
    rows = []
    for name, e in estimates.items():
        minutes = "-" if e.quota_minutes is None else f"{_duration(e.quota_minutes)} ({e.quota_binding})"
        tokens = f"{e.prompt_tokens}" + ("" if e.prompt_tokens_exact else " (est.)")
        worst = "VM-hours" if e.billed_by_hour else usd(e.worst_case_usd, 4)
        expected = "VM-hours" if e.billed_by_hour else (usd(e.expected_usd, 4) if e.expected_usd is not None else "-")
        rows.append([name, str(e.requests), tokens, str(e.max_output_tokens), expected, worst, minutes, e.price_note])
    print(_table(["deployment", "requests", "prompt tokens", "max output", "expected", "worst case", "quota time", "note"], rows))
    print(f"\nPrices: {', '.join(str(p) for p in prices.sources)} (digest {prices.digest}). Worst case: every answer at max_tokens.")
    if not args.from_run:
        print("Expected cost needs a previous run of the same prompts: --from-run runs/NAME")
    return 0


def _cost(args: argparse.Namespace) -> int:
    from .cost import break_even_figure, project_run, run_costs
    from .prices import load_prices
    from .reports import break_even_table, cost_frame, options_table, retired_table, sweep_dirs

    # the projection's inputs are checked, and the projection made, before anything is printed
    if args.requests_per_day is not None and args.requests_per_day <= 0:
        raise SystemExit(f"llama-eval cost: --requests-per-day must be > 0, got {args.requests_per_day:g}")
    if args.peak_rps is not None and args.peak_rps <= 0:
        raise SystemExit(f"llama-eval cost: --peak-rps must be > 0 requests/s, got {args.peak_rps:g}; leave it out to use the day's average")
    if args.requests_per_day is None and (args.peak_rps is not None or args.sweep or args.slo):
        raise SystemExit("llama-eval cost: --peak-rps, --sweep and --slo size the production projection: give --requests-per-day N too")
    result = None
    if args.requests_per_day is not None:  # a missing sweep or an unreadable SLO fails here, not after half the output
        compute = {"sku": args.sku, "instances": args.instances, "region": args.region, "hours_per_day": args.hours_per_day}
        prices = load_prices(args.prices, args.compute_prices) if args.prices or args.compute_prices else None  # None: the tables the run used
        sweeps = args.sweep if args.sweep else sweep_dirs(args.run_dir)
        result = project_run(args.run_dir, args.requests_per_day, prices=prices, compute=compute, sweeps=sweeps, slo=args.slo, peak_rps=args.peak_rps)

    actual = run_costs(args.run_dir)
    frame = cost_frame(args.run_dir).drop(columns=["model"])
    frame["expected vs actual"] = [
        f"{float(actual['deployments'][n]['estimate_error']):+.1%}" if actual["deployments"][n]["estimate_error"] is not None else "-" for n in frame.index
    ]
    print(_table(["deployment", *frame.columns], [[str(n), *(str(v) for v in row)] for n, row in zip(frame.index, frame.itertuples(index=False), strict=True)]))
    print(f"\nTotal ${actual['total_usd']}; price tables {actual['prices'].get('tables')} (digest {actual['prices'].get('digest')})")
    if result is None:
        return 0
    print(f"\nProjected traffic: {result.profile.describe()} (token means from the run)")
    for title, frame in (("", options_table(result)), ("Retired offers (not options):", retired_table(result)), ("Break-even:", break_even_table(result))):
        if frame.empty:
            continue
        frame = frame.reset_index() if frame.index.name else frame
        print(f"\n{title}" if title else "")
        print(_table([str(c) for c in frame.columns], [[str(v) for v in row] for row in frame.itertuples(index=False)]))
    if args.figure:
        break_even_figure(result).write_html(args.figure, include_plotlyjs=True)
        print(f"figure: {args.figure}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from .scoring.run import make_judge, score_run

    judge = None
    if args.judge:
        from .config import load_deployments

        if not args.deployments:
            raise SystemExit("llama-eval score: --judge needs -d deployments.yaml, the file that defines the judge deployment")
        judge = make_judge(args.run_dir, load_deployments(args.deployments)[args.judge])
    scorer = None
    if args.scorer:  # a name, or a JSON object {"name": ..., options} as in a prompt set
        try:
            scorer = json.loads(args.scorer) if args.scorer.lstrip().startswith("{") else args.scorer
        except ValueError as exc:
            raise SystemExit(f"llama-eval score: --scorer is not valid JSON: {exc}") from None
    summary = score_run(args.run_dir, args.prompts, judge=judge, seed=args.seed, scorer=scorer)
    rows = []
    for name, d in sorted(summary["deployments"].items(), key=lambda kv: -kv[1]["mean"]):
        consistency = "-" if d["consistency"] is None else f"{d['consistency']:.0%}"
        rows.append(
            [
                name,
                str(d["prompts"]),
                f"{100 * d['mean']:.1f}",
                f"[{100 * d['ci_low']:.1f}, {100 * d['ci_high']:.1f}]",
                str(d["failed_rows"]),
                str(d.get("incomplete_rows", 0)),
                str(d["unscorable_rows"]),
                consistency,
            ]
        )
    print(_table(["deployment", "prompts", "score", "95% CI", "failed rows", "incomplete", "unscorable", "repeats agree"], rows))
    from .health import assess_run

    cut_short = assess_run(args.run_dir).cut_short()
    if cut_short:  # failed requests the server answered with 200: say so, or a lower score reads as the model's doing
        print("\nAnswers cut short (status incomplete, counted in 'failed rows' like the other failed requests, never scored as answers):")
        for text in cut_short:
            print(f"  {text}")
    if summary.get("excluded"):
        print("\nNot scored and left out of the comparisons (no answers to judge):")
        for excluded in summary["excluded"].values():
            print(f"  {excluded['sentence']}")
    if summary["tags"]:
        print()
        tag_rows = [
            [t["deployment"], t["tag"], str(t["prompts"]), f"{100 * t['mean']:.1f}", f"[{100 * t['ci_low']:.1f}, {100 * t['ci_high']:.1f}]"]
            for t in summary["tags"].values()
        ]
        print(_table(["deployment", "tag", "prompts", "score", "95% CI"], sorted(tag_rows)))
    if summary.get("numeric"):  # numeric sets: both accuracies, as lm-evaluation-harness reports GSM8K
        print()
        numeric = sorted(summary["numeric"].items())
        numeric_rows = [[n, str(a["rows"]), f"{100 * a['strict']:.1f}", f"{100 * a['flexible']:.1f}", f"{a['marked']:.0%}"] for n, a in numeric]
        print(_table(["deployment", "numeric rows", "strict", "flexible", "answers with a marker"], numeric_rows))
    for c in summary["comparisons"]:
        print("  " + c["verdict"])
    hint = summary["sample_size_hint"]
    if hint:
        print(f"\nTo detect a {hint['difference_points']}-point difference with 80% power: about {hint['prompts_needed']} prompts ({hint['based_on']}).")
    if "judge" in summary:
        j = summary["judge"]
        print(f"\nJudge {j['deployment']}: {j['judged_rows']} rows judged ({j['from_cache']} from cache), {j['unscorable_rows']} unscorable, "
              f"{j['requests_sent']} requests, {j['tokens']} tokens, ${j['cost_usd']} (kept apart from the evaluated models' cost)")  # fmt: skip
    print(f"\nScores: {args.run_dir}/scores.jsonl (failed requests score 0 and are counted as failed rows)")
    return 0


def _import(args: argparse.Namespace) -> int:
    from .importers import import_set
    from .prompts import load_prompt_set

    count = import_set(args.kind, args.source, args.output, limit=args.limit)
    load_prompt_set(args.output)  # what was written must load as a prompt set
    print(f"wrote {count} prompts to {args.output}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .pipeline import build_report

    out = args.output or str(Path("reports") / Path(args.run_dir).name)
    index = build_report(args.run_dir, out, requests_per_day=args.requests_per_day, peak_rps=args.peak_rps, ttft_p90_slo_s=args.ttft_p90_slo_s)
    print(f"report: {index}")
    if args.csv:
        from .results import export_csv

        print(f"csv: {export_csv(args.run_dir, args.csv)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .export import export_run

    summary = export_run(args.run_dir, args.output, args.format, prompts=args.prompts, include_failed=args.include_failed)
    print(f"llama-eval export: {summary.describe()}", file=sys.stderr)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    index = run_demo(args.output, repeats=args.repeats)
    print(f"report: {index}")
    return 0


# --------------------------------------------------------------------------- load sweeps and recommend (issue 14)


def _sweep(args: argparse.Namespace) -> int:
    """``llama-eval sweep``. Exit status 0 when every level ran, 3 when the sweep stopped early (the reason is printed)."""
    import logging
    from decimal import Decimal, InvalidOperation

    from .config import load_deployments
    from .prices import load_prices
    from .run import RunParams
    from .sweeper import sweep

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        budget = Decimal(args.budget_usd) if args.budget_usd is not None else None
    except InvalidOperation:
        raise SystemExit(f"llama-eval sweep: --budget-usd {args.budget_usd!r} is not a number") from None
    params = RunParams(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed, stream=not args.no_stream,
                       max_attempts=args.max_attempts, timeout_s=args.timeout)  # fmt: skip
    try:
        frame = sweep(
            load_deployments(args.deployments),
            args.prompts,
            args.output,
            deployment=args.deployment,
            concurrency=args.concurrency,
            rate=args.rate,
            duration_s=args.duration_s,
            requests_per_level=args.requests_per_level,
            slo=args.slo,
            warmup_s=args.warmup_s,
            params=params,
            budget_usd=budget,
            respect_quota=not args.ignore_quota,
            seed=args.seed or 0,
            prices=load_prices(args.prices),
            progress=args.progress,
            resume=args.resume,
        )
    except KeyboardInterrupt:
        print(f"llama-eval sweep: interrupted; {args.output} holds the rows sent so far (and sweep.json for the levels that finished); "
              "the same command with --resume continues it", file=sys.stderr)  # fmt: skip
        return EXIT_INTERRUPTED
    print(_frame_table(frame, ["level", "concurrency" if args.concurrency else "rate_rps", "requests", "errors", "throughput_rps",
                               "ttft_p50_s", "ttft_p90_s", "e2e_p90_s", "slo_met"]))  # fmt: skip
    return _sweep_report(args, frame)


def _sweep_report(args: argparse.Namespace, frame) -> int:
    capacity = frame.attrs.get("capacity")
    if capacity:
        load = f"concurrency {capacity['concurrency']}" if capacity.get("concurrency") is not None else f"rate {capacity['rate_rps']:g} rps"
        bound = " (every level met the SLO: at least this)" if capacity.get("lower_bound") else ""
        print(f"capacity at the SLO: {load}, {capacity['throughput_rps']:.3f} requests/s measured{bound}")
        estimate = frame.attrs.get("capacity_estimate")
        if estimate:
            print(f"  interpolated estimate (not measured): {estimate['throughput_rps']:.3f} requests/s where {estimate['metric']} reaches its limit")
    else:
        print(f"capacity: none — {frame.attrs.get('capacity_reason')}")
    if frame.attrs.get("stopped"):
        print(f"stopped early: {frame.attrs['stopped']}")
        if frame.attrs.get("resumable"):
            print(f"  to continue where it stopped: the same command with --resume (-o {args.output})")
    print(f"written: {args.output}/sweep.csv, {args.output}/sweep.json, {args.output}/results.jsonl")
    return 3 if frame.attrs.get("stopped") and "wide margin" not in frame.attrs["stopped"] else 0


def _frame_table(frame, columns: list[str]) -> str:
    def cell(v) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return "-"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return _table(columns, [[cell(row[c]) for c in columns] for row in frame.to_dict("records")])


def _emulator_capacity(args: argparse.Namespace) -> dict:
    """The emulator's capacity model for the managed deployments of ``--deployments`` (emulator/capacity.py)."""
    if not args.deployments:
        if args.batch_size is not None:
            raise SystemExit("llama-eval emulator: --batch-size applies to the managed deployments of a --deployments file")
        return {}
    from .config import load_deployments
    from .emulator.capacity import managed_capacity

    return managed_capacity(load_deployments(args.deployments), batch=args.batch_size)


def _recommend(args: argparse.Namespace) -> int:
    """``llama-eval recommend``. Exit status 0 when the data decide, 3 when they cannot (the reason is printed)."""
    from .decision import recommend
    from .prices import load_prices

    # no --prices: the tables the run recorded, as the report prices it (recommend's default)
    result = recommend(args.run_dir, sweeps=args.sweep or (), peak_rps=args.peak_rps, requests_per_day=args.requests_per_day, slo=args.slo,
                       prices=load_prices(args.prices) if args.prices else None, on=args.on)  # fmt: skip
    frame = result.frame()
    if args.json:
        print(frame.to_json(orient="records", indent=2, default_handler=str))
    else:
        rows = []
        for r in frame.to_dict("records"):
            monthly = "-" if r["monthly_usd"] is None or r["monthly_usd"] != r["monthly_usd"] else f"${r['monthly_usd']:,}"
            instances = "-" if r["instances"] is None or r["instances"] != r["instances"] else str(int(r["instances"]))
            quality = "-" if r["quality"] is None or r["quality"] != r["quality"] else f"{r['quality']:.3f}"
            rows.append([r["option"], r["kind"], quality, instances, monthly, r["verdict"]])
        print(_table(["option", "kind", "quality", "instances", "monthly", "verdict"], rows))
        if result.sweeps:
            print("Capacity from: " + ", ".join(f"{name} ({path})" for name, path in sorted(result.sweeps.items())))
    print(result.summary())
    return 0 if result.decided else 3


def _add_sweep_parsers(sub) -> None:
    sw = sub.add_parser("sweep", help="load sweep of one deployment: latency against load, capacity at a latency SLO")
    sw.add_argument("-d", "--deployments", required=True, help="deployments YAML file")
    sw.add_argument("-p", "--prompts", required=True, help="prompt set (JSONL); requests cycle through it")
    sw.add_argument("-o", "--output", required=True, help="sweep directory (runs/NAME): results.jsonl, sweep.csv, sweep.json")
    sw.add_argument("--deployment", help="the deployment to load (required when the file has several)")
    levels = sw.add_mutually_exclusive_group(required=True)
    levels.add_argument("--concurrency", help="closed loop: requests in flight per level, e.g. 1,2,4,8,16,32,64")
    levels.add_argument("--rate", help="open loop: Poisson arrivals, requests/s per level, e.g. 0.5,1,2,4,8")
    length = sw.add_mutually_exclusive_group(required=True)
    length.add_argument("--duration-s", type=float, help="seconds measured per level (after the warm-up)")
    length.add_argument("--requests-per-level", type=int, help="measured requests per level (after the warm-up)")
    sw.add_argument("--slo", help='latency objective, e.g. "ttft_p90<=1.0,e2e_p90<=10" (seconds; errors must stay <= 1%% unless error_rate is given)')
    sw.add_argument("--warmup-s", type=float, default=5.0, help="seconds at the start of each level left out of its statistics")
    sw.add_argument("--ignore-quota", action="store_true", help="run levels beyond the deployment's quota (to see its 429s)")
    sw.add_argument("--budget-usd", help="stop the sweep before spending more than this")
    sw.add_argument("--max-tokens", type=int, help="default max_tokens (an item's own wins; default 512)")
    sw.add_argument("--temperature", type=float)
    sw.add_argument("--seed", type=int, help="request seed; also seeds the open-loop arrival times")
    sw.add_argument("--no-stream", action="store_true", help="do not stream (only end-to-end latency is measured)")
    sw.add_argument("--max-attempts", type=int, default=1, help="attempts per request (1: a 429 or timeout under load is a measurement)")
    sw.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for a connection or a chunk")
    sw.add_argument("--prices", help="a price override CSV")
    sw.add_argument("--progress", choices=["auto", "none"], default="auto", help="a progress bar per level")
    sw.add_argument("--resume", action="store_true", help="continue the sweep in -o (interrupted, or stopped by errors or the budget); more levels extend it")
    sw.set_defaults(func=_sweep)

    rec = sub.add_parser("recommend", help="cheapest option as good as the best that holds the SLO at peak, and why every other lost")
    rec.add_argument("run_dir", help="a run directory (scored with `llama-eval score`, or scored here)")
    rec.add_argument("--sweep", action="append",
                     help="a sweep directory (or a directory of them) of the run's deployments, repeatable; added to RUN_DIR/sweeps, "
                          "and replaces a stored sweep of the same deployment")  # fmt: skip
    rec.add_argument("--peak-rps", type=float, required=True, help="requests/s at the busiest moment")
    rec.add_argument("--requests-per-day", type=float, required=True, help="production volume for the monthly cost")
    rec.add_argument("--slo", required=True, help='latency objective, e.g. "ttft_p90<=1.0" (the sweeps are judged under it)')
    rec.add_argument("--prices", help="a price override CSV")
    rec.add_argument("--on", type=date.fromisoformat, default=None, help="lifecycle as of this day (YYYY-MM-DD; default today)")
    rec.add_argument("--json", action="store_true", help="machine-readable table")
    rec.set_defaults(func=_recommend)


# --------------------------------------------------------------------------- end of load sweeps and recommend


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llama-eval", description="Evaluate Meta Llama deployments on Azure AI Foundry: quality, latency, cost.")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help=f"-v: the HTTP libraries' info logs too; -vv: debug (keys redacted); or set {LOG_ENV}=debug"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    models = sub.add_parser("models", help="list the Llama catalog: limits, lifecycle per offer, prices")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.add_argument("--available", action="store_true", help="only models deployable serverless on that day")
    models.add_argument("--on", type=date.fromisoformat, default=None, help="lifecycle as of this day (YYYY-MM-DD; default today)")
    models.add_argument("--prices", help="a token price override CSV (e.g. from `llama-eval prices update`)")
    models.add_argument("--compute-prices", help="a VM price override CSV (e.g. from `llama-eval prices update`)")
    models.set_defaults(func=_models)

    # ---- prices (facts team): refresh the price tables from the Azure Retail Prices API
    prices_cmd = sub.add_parser("prices", help="price tables: refresh them from the public Azure Retail Prices API")
    prices_sub = prices_cmd.add_subparsers(dest="prices_command", required=True)
    upd = prices_sub.add_parser("update", help="fetch VM (and listed Llama token) prices; write override CSVs; print old -> new")
    upd.add_argument("--region", default="eastus", help="Azure region (armRegionName), default eastus")
    upd.add_argument("--out", default="prices", help="directory for the override files (default: ./prices)")
    upd.add_argument("--api-url", default="https://prices.azure.com/api/retail/prices", help="the Retail Prices API URL (a local fake in tests)")
    upd.add_argument("--prices", help="compare with this token price override instead of the bundled table")
    upd.add_argument("--compute-prices", help="compare with this VM price override instead of the bundled table")
    upd.add_argument("--timeout", type=float, default=30.0, help="seconds per page request")
    upd.set_defaults(func=_prices_update)

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
    emu.add_argument("--quota-window", type=float, default=60.0, help="sliding-window length in seconds (limits scale with it)")
    emu.add_argument("--fault-rate", type=float, default=0.0, help="fraction of requests that fail on purpose (seeded)")
    emu.add_argument("--fault-kinds", help="comma-separated: 500,503,reset,stall,malformed,cut (default: 500,503,reset,stall)")
    emu.add_argument("--stall", type=float, default=600.0, help="seconds a 'stall' fault waits")
    emu.add_argument("--seed", type=int, default=0)
    emu.add_argument("--prompts", action="append", help="a prompt set whose references the emulated models know (repeatable)")
    emu.add_argument("--ttft", type=float, help="fixed time to first token, seconds (with --tps: one profile for all)")
    emu.add_argument("--tps", type=float, help="fixed output tokens per second")
    emu.add_argument("--jitter", type=float, default=0.0, help="lognormal sigma for the fixed profile")
    emu.add_argument("--batch-size", type=int, help="with --deployments: requests each managed instance decodes at once (default: from its model and VM)")
    emu.set_defaults(func=_emulator)

    run = sub.add_parser(
        "run",
        help="run a prompt set through deployments; results in a run directory",
        epilog="Exit status: 0 completed; 3 incomplete (a deployment was stopped, or a budget skipped requests); 130 interrupted by Ctrl-C "
        "(the run directory stays resumable: run again with --resume); 2 bad input.",
    )
    run.add_argument("-d", "--deployments", required=True, help="deployments YAML file")
    run.add_argument("-p", "--prompts", required=True, help="prompt set (JSONL)")
    run.add_argument("-o", "--output", required=True, help="run directory (runs/NAME)")
    run.add_argument("--only", help="comma-separated deployment names to run (default: all in the file)")
    run.add_argument("--repeats", type=int, default=1)
    run.add_argument("--concurrency", type=int, default=8, help="requests in flight per deployment")
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
    run.add_argument("--no-stream", action="store_true", help="do not stream (only end-to-end latency is measured)")
    run.add_argument("--max-attempts", type=int, default=5)
    run.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for a connection or a chunk")
    run.add_argument("--progress", choices=["auto", "bar", "log", "none"], default="auto")
    run.add_argument("--report", action="store_true", help="build the HTML report when the run completes (reports/<run name>)")
    run.add_argument("--client", choices=["wire", "sdk"], default="wire", help="wire: the measuring aiohttp client (default); sdk: the SDK transports")
    run.add_argument("--warmup", type=int, default=1, help="first N requests per deployment are marked warm-up, left out of latency statistics")
    run.add_argument("--no-probe", action="store_true", help="skip the one cheap request per deployment sent before any paid one")
    run.set_defaults(func=_run)

    est = sub.add_parser("estimate", help="cost and quota time of a run before running it")
    est.add_argument("-d", "--deployments", required=True)
    est.add_argument("-p", "--prompts", required=True)
    est.add_argument("--repeats", type=int, default=1)
    est.add_argument("--max-tokens", type=int, help="default max_tokens (an item's own wins; default 512)")
    est.add_argument("--from-run", help="a previous run of the same prompts: expected output lengths")
    est.add_argument("--prices", help="a price override CSV")
    est.add_argument("--compute-prices", help="a VM price override CSV (e.g. from `llama-eval prices update`)")
    est.set_defaults(func=_estimate)

    cost = sub.add_parser("cost", help="actual cost of a run; with --requests-per-day, the monthly projection and break-even")
    cost.add_argument("run_dir")
    cost.add_argument("--requests-per-day", type=float, help="production volume to project (token means from the run)")
    cost.add_argument("--sku", help="managed-compute VM SKU (default: the catalog's recommended SKU per model)")
    cost.add_argument("--instances", type=int, help="managed-compute instances (default: the run's, else 1)")
    cost.add_argument("--hours-per-day", type=float, help="hours a day the managed compute runs (default 24)")
    cost.add_argument("--region", help="region of the VM price (default: the run's, else eastus)")
    cost.add_argument("--prices", help="a price override CSV")
    cost.add_argument("--compute-prices", help="a VM price override CSV (e.g. from `llama-eval prices update`)")
    cost.add_argument("--figure", help="write the break-even figure as standalone HTML here")
    cost.add_argument("--peak-rps", type=float, help="requests/s at the busiest moment: sizes the machines (default: the day's average)")
    cost.add_argument("--sweep", action="append", help="a sweep directory (or a directory of them) measuring capacity; repeatable (default: RUN_DIR/sweeps)")
    cost.add_argument("--slo", help='judge the sweeps under this latency objective, e.g. "ttft_p90<=1.0" (default: each sweep\'s own)')
    cost.set_defaults(func=_cost)

    sc = sub.add_parser("score", help="score a run: scores.jsonl, means with 95%% CIs, paired verdicts")
    sc.add_argument("run_dir")
    sc.add_argument("--prompts", help="the prompt set (default: the one the run's manifest names)")
    sc.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    sc.add_argument("--judge", help="deployment name (in -d) that grades items whose scorer is 'judge' or an AI-assisted azure:* one")
    sc.add_argument("--scorer", help='score every item with this scorer: a name (azure:f1) or JSON ({"name": "azure:rouge", "rouge_type": "rouge1"})')
    sc.add_argument("-d", "--deployments", help="deployments YAML holding the judge deployment")
    sc.set_defaults(func=_score)

    imp = sub.add_parser("import", help="convert a public data set into a prompt set (JSONL)")
    imp.add_argument("kind", choices=["gsm8k", "truthfulqa", "mmlu", "csv", "scitldr"])
    imp.add_argument("source")
    imp.add_argument("-o", "--output", required=True)
    imp.add_argument("--limit", type=int, help="keep the first N items")
    imp.set_defaults(func=_import)

    rep = sub.add_parser("report", help="run the report notebooks on a run directory and export one HTML page")
    rep.add_argument("run_dir")
    rep.add_argument("-o", "--output", help="report directory (default: reports/<run name>)")
    rep.add_argument("--requests-per-day", type=int, default=10_000, help="production volume for the cost projection (shown in the report; default 10,000)")
    rep.add_argument("--peak-rps", type=float, help="requests/s at the busiest moment: sizes machines and the decision (default: the day's average)")
    rep.add_argument("--ttft-p90-slo-s", type=float, default=1.0, help="latency objective at peak: p90 time to first token in seconds (default 1.0)")
    rep.add_argument("--csv", help="also export the run's rows as CSV here (formulas neutralised for spreadsheets)")
    rep.set_defaults(func=_report)

    exp = sub.add_parser("export", help="write a run's rows for other tools: azure-ai-evaluation JSONL, CSV or Parquet")
    exp.add_argument("run_dir")
    exp.add_argument("--format", default="azure-ai-evaluation", choices=["azure-ai-evaluation", "csv", "parquet"])
    exp.add_argument("-o", "--output", required=True, help="file to write")
    exp.add_argument("--prompts", help="the prompt set (default: the one the run's manifest names)")
    exp.add_argument("--include-failed", action="store_true", help="csv/parquet: keep failed rows (their status says why)")
    exp.set_defaults(func=_export)

    demo = sub.add_parser("demo", help="offline end to end: emulator, five Llama deployments (one self-hosted), bundled prompt sets, HTML report")
    demo.add_argument("-o", "--output", default="reports/demo", help="report folder, under the current one (the run goes to runs/<its name>)")
    demo.add_argument("--repeats", type=int, default=2)
    demo.set_defaults(func=_demo)
    _add_sweep_parsers(sub)

    nb = sub.add_parser("notebooks", help="copy the bundled notebooks into a working folder for JupyterLab")
    nb.add_argument("folder", help="where to put them (created if missing)")
    nb.add_argument("--force", action="store_true", help="replace notebooks already there (your edits in them are lost)")
    nb.set_defaults(func=_notebooks)

    for command in sub.choices.values():  # `llama-eval run -v ...` as well as `llama-eval -v run ...`
        command.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help="as llama-eval -v / -vv")
    return parser


# --------------------------------------------------------------------------- logging, run directories

LOG_ENV = "LLAMA_EVAL_LOG"
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_SECRET_IN_LOG = re.compile(r"""(?i)((?:authorization|api[-_]?key|ocp-apim-subscription-key|x-api-key)["']?\s*[:=]\s*["']?(?:bearer\s+)?)[^\s"',}\]]+""")


class _RedactSecrets(logging.Filter):
    """Replace the value of any key-bearing header or field in a log line with REDACTED (also at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_IN_LOG.sub(r"\1REDACTED", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _setup_logging(verbose: int) -> None:
    """Quiet by default: llama-eval's own INFO lines only; ``-v`` (or LLAMA_EVAL_LOG=debug) adds the HTTP libraries'.

    azure-core logs ~17 lines of headers per request at INFO and httpx one line; a user asked for neither.
    """
    env = os.environ.get(LOG_ENV, "").strip().lower()
    if env and env not in LOG_LEVELS:
        raise SystemExit(f"llama-eval: {LOG_ENV}={env!r}: use one of {', '.join(LOG_LEVELS)}")
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else LOG_LEVELS.get(env, logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if level > logging.DEBUG else "%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactSecrets())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("llama_eval").setLevel(min(level, logging.INFO))  # progress and warnings of our own stay visible


def _check_run_dirs(args: argparse.Namespace) -> None:
    """Every command that reads a run fails first, with exit 2, on a run directory that is missing or empty."""
    from .paths import check_run_dir

    if getattr(args, "run_dir", None) is not None:
        check_run_dir(args.run_dir)
    if getattr(args, "from_run", None) is not None:
        check_run_dir(args.from_run)


def _notebooks(args: argparse.Namespace) -> int:
    from .paths import copy_notebooks

    copies = copy_notebooks(args.folder, overwrite=args.force)
    for path in copies:
        print(f"wrote {path}")
    print(f"\nOpen them with: jupyter lab {args.folder}  (paths such as runs/demo resolve from there, from its parent and from the package's data)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.simplefilter("default")
    _setup_logging(args.verbose)
    try:
        _check_run_dirs(args)
        return args.func(args)
    except LlamaEvalError as exc:
        print(f"llama-eval: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback (run has its own message and keeps its directory resumable)
        _exit_interrupted(f"llama-eval {args.command}: interrupted")
        raise  # not reached
    finally:
        # The command is done. A Ctrl-C from here on has nothing to stop, but CPython puts SIGINT back to its
        # default while the interpreter shuts down (a few hundred ms with pandas and pyarrow loaded), so one
        # arriving then would end the process as killed by the signal instead of with the status returned.
        # Only for the process's own command line (argv None): a caller of main([...]) keeps its Ctrl-C.
        if argv is None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
