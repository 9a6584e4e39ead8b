"""Everything decided before the first request, without an event loop: checks, estimates, what is left.

A plan refuses bad input with a specific message before anything is sent: duplicate names, missing
env vars, a prompt that breaks a deployment's rules or names an unknown scorer, a budget the worst
case would pass, an output directory that cannot be written, a resume whose inputs changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.catalog.models import Catalog
from llama_eval.catalog.prices import PriceBook
from llama_eval.deployments.model import Deployment
from llama_eval.endpoint.request import ExtraParameters, build_request
from llama_eval.errors import BudgetError, RequestValidationError, RunError, ScorerError
from llama_eval.prompts.prompt_set import PromptItem, PromptSet
from llama_eval.quality.scoring import check_prompt_scorers

from .estimate import RunEstimate, estimate_run, max_tokens_for
from .output import check_output_dir, deployment_record, done_keys
from .params import CLIENTS, RunParams


@dataclass(frozen=True)
class Plan:
    """What the run will do: the estimates it showed, prompt token counts, and the keys already done."""

    estimates: dict[str, RunEstimate]
    prompt_tokens: dict[str, dict[str, int]]  # tokenizer kind -> item id -> prompt tokens
    done: frozenset[str]
    fingerprint: dict[str, Any]

    def estimates_json(self) -> dict[str, dict[str, Any]]:
        return {name: e.to_json() for name, e in self.estimates.items()}


def request_params(params: RunParams, item: PromptItem) -> dict[str, Any]:
    """The request parameters of one item under the run's parameters (an item's max_tokens wins).

    An item whose ``metadata`` says ``"ignore_eos": true`` (``llama-eval synth`` sets, trace replays)
    adds that Llama extra parameter, so its answer runs to its ``max_tokens``: the length it was made to ask for.
    """
    extra = params.extra
    if item.metadata.get("ignore_eos") is True and not (extra and extra.ignore_eos):
        extra = replace(extra or ExtraParameters(), ignore_eos=True)
    return {
        "stream": params.stream and not (params.extra and params.extra.best_of),
        "temperature": params.temperature,
        "top_p": params.top_p,
        "seed": params.seed,
        "max_tokens": max_tokens_for(item, params.max_tokens),
        "extra": extra,
    }


def fingerprint(deployments: Sequence[Deployment], prompts: PromptSet, params: RunParams) -> dict[str, Any]:
    """What must not change between sessions of one run."""
    return {"deployments": [deployment_record(d) for d in deployments], "prompt_set_sha256": prompts.sha256, "params": params.fingerprint()}


def _check_inputs(deployments: Sequence[Deployment], prompts: PromptSet, params: RunParams, catalog: Catalog) -> None:
    if not deployments:
        raise RunError("no deployments to run")
    names = [d.name for d in deployments]
    if len(set(names)) != len(names):
        raise RunError(f"deployment names must be unique, got {names}")
    if params.repeats < 1 or params.concurrency < 1 or params.max_attempts < 1 or params.warmup < 0:
        raise RunError("repeats, concurrency and max_attempts must be >= 1, and warmup >= 0")
    if params.schedule is not None:
        if prompts.has_conversations:
            raise RunError(
                "open-loop arrivals (--rate, --ramp, --trace) send single prompts; a conversation set runs closed loop (--concurrency N conversations at once)"
            )
        params.schedule.check(len(prompts) * params.repeats)
    if params.client not in CLIENTS:
        raise RunError(f"client must be one of {', '.join(CLIENTS)}, got {params.client!r}")
    for d in deployments:
        problems = d.check_environment()
        if problems:
            raise RunError("; ".join(problems))
    try:
        check_prompt_scorers(prompts)
    except ScorerError as exc:
        raise RunError(str(exc)) from None
    for d in deployments:
        model = d.catalog_model(catalog)
        for item in prompts:
            try:
                build_request(list(item.messages), model=model, kind=d.kind, **request_params(params, item))
            except RequestValidationError as exc:
                raise RunError(f"{item.source}: prompt {item.id!r} cannot go to deployment {d.name!r}: {exc}") from None


def _check_budget(estimates: dict[str, RunEstimate], params: RunParams) -> None:
    if params.budget_usd is None:
        return
    unpriced = [n for n, e in estimates.items() if e.worst_case_usd is None and not e.billed_by_hour]
    if unpriced:
        raise BudgetError(
            f"--budget-usd needs a token price for every serverless deployment; none for {', '.join(unpriced)} "
            f"({estimates[unpriced[0]].price_note}): add a price override file, or drop the budget"
        )
    worst = sum((e.worst_case_usd or Decimal(0) for e in estimates.values()), Decimal(0))
    if worst > params.budget_usd and params.budget_preflight:
        raise BudgetError(
            f"worst-case cost ${worst:.4f} exceeds the budget ${params.budget_usd} (every answer at max_tokens); "
            "lower max_tokens or repeats, drop deployments, or raise --budget-usd"
        )


def make_plan(
    deployments: Sequence[Deployment],
    prompts: PromptSet,
    run_dir: Path,
    params: RunParams,
    *,
    resume: bool,
    prices: PriceBook,
    catalog: Catalog,
    estimate_from: str | Path | None = None,
    show_estimates: Callable[[dict[str, RunEstimate]], None] | None = None,
) -> Plan:
    """Check everything and work out what is left to do; raises RunError/BudgetError before any request."""
    _check_inputs(deployments, prompts, params, catalog)
    counts: dict[str, dict[str, int]] = {}
    estimates = estimate_run(
        list(deployments),
        prompts,
        prices,
        repeats=params.repeats,
        max_tokens=params.max_tokens,
        choices=params.choices,
        catalog=catalog,
        previous_run=estimate_from,
        counts=counts,
    )
    if show_estimates is not None:
        show_estimates(estimates)
    _check_budget(estimates, params)
    check_output_dir(run_dir, len(deployments) * len(prompts) * params.repeats)
    print_ = fingerprint(deployments, prompts, params)
    return Plan(estimates, counts, frozenset(done_keys(run_dir, print_, resume)), print_)
