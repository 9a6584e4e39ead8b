"""llama-eval: quality, latency and cost of Meta Llama deployments on Azure AI Foundry.

Everything a notebook needs is importable from here. The verbs that pull in heavy dependencies
(the runner, scoring, cost, reports) are imported on first use, so ``import llama_eval`` stays quick.
"""

from importlib import import_module
from typing import Any

from .catalog import Catalog, CatalogModel, Offer, Quota, load_catalog
from .client import AsyncLlamaClient, LlamaClient, make_async_client, make_client
from .config import Compute, Deployment, DeploymentsConfig, LifecycleWarning, load_deployments
from .errors import (
    AuthenticationError,
    BudgetError,
    CatalogError,
    ConfigError,
    ContentFilterError,
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    LlamaEvalError,
    MalformedResponseError,
    PriceTableError,
    PromptSetError,
    RateLimitError,
    ReportError,
    RequestValidationError,
    RunError,
    SaturationWarning,
    ScorerError,
    TornLineWarning,
)
from .overview import model_overview, model_overview_frame
from .prices import PriceBook, load_prices
from .records import ResultRow, Status
from .request import ExtraParameters

# name -> module, imported when first asked for (PEP 562)
_LAZY = {
    "RunParams": ".run",
    "RunSummary": ".run",
    "run_evaluation": ".run",
    "arun_evaluation": ".run",
    "load_prompt_set": ".prompts",
    "PromptSet": ".prompts",
    "PromptItem": ".prompts",
    "score_run": ".scoring.run",
    "build_report": ".pipeline",
    "load_run": ".results",
    "read_manifest": ".results",
    "estimate_run": ".cost",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'llama_eval' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

__version__ = "0.1.0"

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
    "Quota",
    "RateLimitError",
    "ReportError",
    "RequestValidationError",
    "ResultRow",
    "RunError",
    "RunParams",
    "RunSummary",
    "SaturationWarning",
    "ScorerError",
    "Status",
    "TornLineWarning",
    "arun_evaluation",
    "build_report",
    "estimate_run",
    "load_catalog",
    "load_deployments",
    "load_prices",
    "load_prompt_set",
    "load_run",
    "make_async_client",
    "make_client",
    "model_overview",
    "model_overview_frame",
    "read_manifest",
    "run_evaluation",
    "score_run",
]
