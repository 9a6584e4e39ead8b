"""llama-eval: quality, latency and cost of Meta Llama deployments on Azure AI Foundry.

Everything a notebook needs is importable from here. Only the errors are imported with the
package; every other name is imported on first use (PEP 562), so ``import llama_eval`` and the
``llama-eval`` command start at once (the SDKs alone take a second to import) and a Ctrl-C during
start-up is handled like any other.
"""

from importlib import import_module
from typing import Any

from .errors import (
    AuthenticationError,
    BudgetError,
    CatalogError,
    ConfigError,
    ContentFilterError,
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    GateError,
    IncompleteAnswerError,
    LifecycleWarning,
    LlamaEvalError,
    MalformedResponseError,
    PriceTableError,
    PromptSetError,
    RateLimitError,
    ReportError,
    RequestValidationError,
    RunError,
    ScorerError,
    SloError,
    StoreError,
    SweepError,
    TornLineWarning,
)

__version__ = "0.1.0"

# name -> the module that defines it, imported when the name is first asked for
_LAZY = {
    **dict.fromkeys(("Catalog", "CatalogModel", "Offer", "Quota", "load_catalog"), ".catalog.models"),
    **dict.fromkeys(("AsyncLlamaClient", "LlamaClient", "make_async_client", "make_client"), ".endpoint.client"),
    **dict.fromkeys(("Compute", "Deployment", "DeploymentsConfig", "load_deployments"), ".deployments"),
    **dict.fromkeys(("model_overview", "model_overview_frame"), ".catalog.overview"),
    **dict.fromkeys(("PriceBook", "load_prices"), ".catalog.prices"),
    **dict.fromkeys(("ExtraParameters",), ".endpoint.request"),
    **dict.fromkeys(("ResultRow", "Status"), ".records"),
    **dict.fromkeys(("RunParams", "RunSummary", "run_evaluation", "arun_evaluation"), ".run"),
    **dict.fromkeys(("load_prompt_set", "PromptSet", "PromptItem"), ".prompts.prompt_set"),
    **dict.fromkeys(("load_scores", "read_quality_summary", "score_run"), ".quality.scoring"),
    **dict.fromkeys(("QualitySummary",), ".quality.summary"),
    **dict.fromkeys(("build_report",), ".report.pipeline"),
    **dict.fromkeys(("Run", "load_run"), ".rundir.run"),
    **dict.fromkeys(("read_manifest",), ".rundir.store"),
    **dict.fromkeys(("RunEstimate", "estimate_run"), ".run.estimate"),
    **dict.fromkeys(("project_run",), ".cost.projection"),
    **dict.fromkeys(("sweep",), ".load.sweep"),
    **dict.fromkeys(("SweepResult", "read_sweep"), ".load.slo"),
    **dict.fromkeys(("recommend",), ".decide"),
    **dict.fromkeys(("add_run", "load_history"), ".store"),
    **dict.fromkeys(("RunComparison", "compare_runs"), ".compare"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'llama_eval' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AsyncLlamaClient",
    "AuthenticationError",
    "BudgetError",
    "Catalog",
    "CatalogError",
    "CatalogModel",
    "Compute",
    "ConfigError",
    "ContentFilterError",
    "Deployment",
    "DeploymentsConfig",
    "EndpointConnectionError",
    "EndpointError",
    "EndpointTimeout",
    "ExtraParameters",
    "GateError",
    "IncompleteAnswerError",
    "LifecycleWarning",
    "LlamaClient",
    "LlamaEvalError",
    "MalformedResponseError",
    "Offer",
    "PriceBook",
    "PriceTableError",
    "PromptItem",
    "PromptSet",
    "PromptSetError",
    "QualitySummary",
    "Quota",
    "RateLimitError",
    "ReportError",
    "RequestValidationError",
    "ResultRow",
    "Run",
    "RunComparison",
    "RunError",
    "RunEstimate",
    "RunParams",
    "RunSummary",
    "ScorerError",
    "SloError",
    "Status",
    "StoreError",
    "SweepError",
    "SweepResult",
    "TornLineWarning",
    "add_run",
    "arun_evaluation",
    "build_report",
    "compare_runs",
    "estimate_run",
    "load_catalog",
    "load_deployments",
    "load_history",
    "load_prices",
    "load_prompt_set",
    "load_run",
    "load_scores",
    "make_async_client",
    "make_client",
    "model_overview",
    "model_overview_frame",
    "project_run",
    "read_manifest",
    "read_quality_summary",
    "read_sweep",
    "recommend",
    "run_evaluation",
    "score_run",
    "sweep",
]
