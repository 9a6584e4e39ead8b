"""Cost of run B against run A: per deployment, cost per 1,000 requests and what moved it (tokens, prices, capacity).

The figures are the cost package's own: ``cost.projection.deployment_costs`` prices each run with
the tables it recorded (``catalog.prices.load_prices_for_run``) and, for deployments billed by the
hour, the capacity of the sweeps stored with it (``load.slo.stored_sweeps``) under the default SLO.
For per-token deployments the change splits exactly in two: B's tokens a request at A's prices
(``from_tokens``), then B's prices on B's tokens (``from_prices``), each priced by
``catalog.prices.price_for``. The mean recorded cost a request also gets a bootstrap interval over
requests, which the ``cost_per_1k_increase`` gate reads.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from llama_eval.catalog.prices import THOUSAND, PriceBook, load_prices_for_run, price_for
from llama_eval.cost.actual import run_costs
from llama_eval.cost.option import CostOption
from llama_eval.cost.projection import deployment_costs
from llama_eval.defaults import DEFAULT_SLO
from llama_eval.load.slo import stored_sweeps
from llama_eval.records import ANSWERED
from llama_eval.rundir.run import Run

from .latency import bootstrap_change
from .result import CostShift, Shift


def _options(run: Run, prices: PriceBook) -> dict[str, CostOption]:
    return {o.label: o for o in deployment_costs(run.path, stored_sweeps(run.path), slo=DEFAULT_SLO, prices=prices)}


def _per_1k(prices: PriceBook, model: str | None, kind: str, tokens: tuple[int, int], requests: int) -> Decimal | None:
    cost = price_for(prices, model, kind).cost(*tokens)
    return cost / requests * THOUSAND if cost is not None and requests else None


def _request_costs(run: Run, name: str) -> list[float]:
    return [float(r.cost_usd) for r in run.rows if r.deployment == name and r.status in ANSWERED and r.cost_usd is not None]


def cost_shifts(run_a: Run, run_b: Run) -> tuple[list[CostShift], PriceBook, PriceBook]:
    """Per deployment in both runs: A's and B's cost per 1,000 requests and the split of the change; and both price books."""
    prices_a, prices_b = load_prices_for_run(run_a.path), load_prices_for_run(run_b.path)
    options_a, options_b = _options(run_a, prices_a), _options(run_b, prices_b)
    actual_a, actual_b = run_costs(run_a.path).deployments, run_costs(run_b.path).deployments
    out = []
    for name in [n for n in options_a if n in options_b]:
        oa, ob = options_a[name], options_b[name]
        shift = None
        tokens_a = tokens_b = None
        from_tokens = from_prices = None
        ca, cb = actual_a.get(name), actual_b.get(name)
        if not oa.fixed and ca is not None and cb is not None and ca.requests and cb.requests:
            tokens_a = (ca.prompt_tokens / ca.requests, ca.completion_tokens / ca.requests)
            tokens_b = (cb.prompt_tokens / cb.requests, cb.completion_tokens / cb.requests)
            at_a = _per_1k(prices_a, oa.model, oa.kind, (ca.prompt_tokens, ca.completion_tokens), ca.requests)
            b_at_a = _per_1k(prices_a, ob.model, ob.kind, (cb.prompt_tokens, cb.completion_tokens), cb.requests)
            at_b = _per_1k(prices_b, ob.model, ob.kind, (cb.prompt_tokens, cb.completion_tokens), cb.requests)
            if at_a is not None and b_at_a is not None and at_b is not None:
                from_tokens, from_prices = b_at_a - at_a, at_b - b_at_a
            costs_a, costs_b = _request_costs(run_a, name), _request_costs(run_b, name)
            if costs_a and costs_b:
                change, low, high = bootstrap_change(costs_a, costs_b, lambda m: m.mean(axis=1))
                shift = Shift(name, "cost", "mean", sum(costs_a) / len(costs_a), sum(costs_b) / len(costs_b), change, low, high, len(costs_a), len(costs_b))
        basis = oa.basis if oa.basis == ob.basis else f"A: {oa.basis}; B: {ob.basis}"
        out.append(CostShift(name, ob.model, ob.kind, oa.usd_per_1k_requests, ob.usd_per_1k_requests, tokens_a, tokens_b, from_tokens, from_prices,
                             float(oa.capacity_rps) if oa.fixed and oa.capacity_rps is not None else None,
                             float(ob.capacity_rps) if ob.fixed and ob.capacity_rps is not None else None, basis, shift))  # fmt: skip
    return out, prices_a, prices_b


def price_rows_changed(prices_a: PriceBook, prices_b: PriceBook, models: set[str]) -> list[tuple[str, str, str]]:
    """(row, A's price, B's price) of the token price rows that differ, for the runs' models (the other rows: not used)."""
    out = []
    for key in sorted(set(prices_a.token_prices) | set(prices_b.token_prices)):
        if key[0] not in models:
            continue
        pa, pb = prices_a.token_prices.get(key), prices_b.token_prices.get(key)
        text_a = f"${pa.input_per_1k} in / ${pa.output_per_1k} out per 1k tokens ({pa.effective_date})" if pa else "no row"
        text_b = f"${pb.input_per_1k} in / ${pb.output_per_1k} out per 1k tokens ({pb.effective_date})" if pb else "no row"
        if (pa and (pa.input_per_1k, pa.output_per_1k, pa.effective_date)) != (pb and (pb.input_per_1k, pb.output_per_1k, pb.effective_date)):
            out.append((f"{key[0]} ({key[1]})", text_a, text_b))
    return out


def price_tables(prices: PriceBook) -> str:
    return ", ".join(Path(p).name for p in prices.sources)
