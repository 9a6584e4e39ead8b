"""The runner: every prompt through every deployment, as fast as each quota allows, nothing lost.

``run_evaluation`` (and ``llama-eval run``) plans first — the prompt set against every
deployment's rules, the budget against the worst case, the output directory, what a resumed run
still lacks (``plan``) — then probes each deployment once and drives them all from one event loop
(``scheduler``). Every finished request becomes one typed row (``records.ResultRow``) in
``results.jsonl`` the moment it finishes (``rundir``); ``resume=True`` runs only what is missing.
Latency comes from the final attempt alone (``attempt``), measured by the wire client
(``llama_eval.endpoint.wire``) unless ``RunParams(client="sdk")``; retries and waits are recorded beside it
(``policy``). The runner never imports the emulator: a run meets it through the ``on_emulator``
hook (``llama_eval.endpoint.emulator_hook``), which ``teach_emulator`` fills.
Modules: params, plan, estimate, lane, attempt, policy, pacing, progress, output, heap, scheduler.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from llama_eval.catalog.models import Catalog, load_catalog
from llama_eval.catalog.prices import PriceBook, load_prices
from llama_eval.deployments.model import Deployment, DeploymentsConfig
from llama_eval.endpoint.emulator_hook import EmulatorHook, emulator_hook
from llama_eval.errors import BudgetError, RunError
from llama_eval.prompts.prompt_set import PromptSet, load_prompt_set

from .params import RunParams, RunSummary
from .plan import make_plan
from .progress import announce as default_announce
from .progress import announce_estimates
from .scheduler import Scheduler


def _prompt_set(prompts: PromptSet | str | Path) -> PromptSet:
    return prompts if isinstance(prompts, PromptSet) else load_prompt_set(prompts)


async def arun_evaluation(
    deployments: DeploymentsConfig | Sequence[Deployment],
    prompts: PromptSet | str | Path,
    run_dir: str | Path,
    params: RunParams | None = None,
    *,
    resume: bool = False,
    prices: PriceBook | None = None,
    catalog: Catalog | None = None,
    progress: str = "auto",
    announce: Callable[[str], None] | None = None,
    estimate_from: str | Path | None = None,
    on_emulator: EmulatorHook | None = None,
    store: str | Path | None = None,
) -> RunSummary:
    """Run a prompt set (a ``PromptSet`` or the path of one, as the CLI's ``--prompts``) through deployments; ``await`` it in a notebook.

    ``estimate_from``: a previous run of the same prompts, for an expected (not only worst-case) cost.
    ``on_emulator``: called once per emulator the probes meet (``llama_eval.emulator.teach_emulator``
    teaches it the run's prompts, so its answers to prompts it was not started with are scorable). None:
    the hook the emulator package registered when imported (``endpoint.emulator_hook``), if any.
    ``store``: the run store a completed run is also written to (``llama_eval.store``): a path or
    fsspec URL, ``"off"`` for none; None: ``LLAMA_EVAL_STORE``, else ``.store`` beside ``run_dir``. A store
    that cannot be written is announced, never raised: the run directory holds every row.
    """
    catalog = catalog or load_catalog()
    prices = prices or load_prices(catalog=catalog)
    params = params or RunParams()
    say = announce or default_announce  # stdout in a Jupyter kernel (stderr is a red error box there), stderr elsewhere
    deployments = list(deployments)
    prompt_set, run_dir = _prompt_set(prompts), Path(run_dir)
    plan = make_plan(deployments, prompt_set, run_dir, params, resume=resume, prices=prices, catalog=catalog, estimate_from=estimate_from,
                     show_estimates=lambda estimates: announce_estimates(estimates, say))  # fmt: skip
    scheduler = Scheduler(deployments, prompt_set, run_dir, params, plan, prices=prices, catalog=catalog, progress=progress, announce=say,
                          on_emulator=on_emulator or emulator_hook())  # fmt: skip
    summary = await scheduler.run()
    if summary.status == "completed":
        store_run(run_dir, store, say)
    return summary


def store_run(run_dir: Path, store: str | Path | None, say: Callable[[str], None]) -> None:
    """Add a completed run to the run store (unless it is off); a failure is said, not raised (the run directory is the record)."""
    from llama_eval.errors import StoreError
    from llama_eval.store.location import resolve_store
    from llama_eval.store.write import add_run

    try:
        location = resolve_store(store, beside=run_dir)
        if location is not None:
            add_run(run_dir, location)
    except (StoreError, OSError) as exc:
        say(f"the run is complete in {run_dir}, but not in the run store: {exc}")
    except Exception as exc:  # noqa: BLE001 - a store client's own error must not turn a completed run into a failed one
        say(f"the run is complete in {run_dir}, but not in the run store: {type(exc).__name__}: {str(exc)[:300]}")


def run_blocking(afunc: Any, *args: Any, thread_name: str, **kwargs: Any) -> Any:
    """``asyncio.run(afunc(...))``; inside a running event loop (Jupyter) in a thread, whose error is re-raised here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(afunc(*args, **kwargs))
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(afunc(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=thread_name)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def run_evaluation(*args: Any, **kwargs: Any) -> RunSummary:
    """The blocking form of ``arun_evaluation``; inside a running event loop (Jupyter) it uses a thread.

    Ctrl-C while requests are in flight stops scheduling and returns a summary with status
    ``interrupted``; at any other moment (planning, start-up) it raises ``KeyboardInterrupt`` after
    leaving the run directory resumable. The CLI turns both into one line and exit status 130.
    """
    return run_blocking(arun_evaluation, *args, thread_name="llama-eval-run", **kwargs)


__all__ = ["BudgetError", "EmulatorHook", "RunError", "RunParams", "RunSummary", "arun_evaluation", "run_evaluation", "store_run"]
