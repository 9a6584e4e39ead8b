"""llama-eval: quality, latency and cost of Meta Llama deployments on Azure AI Foundry."""

from .catalog import Catalog, CatalogModel, Offer, Quota, load_catalog
from .client import AsyncLlamaClient, LlamaClient, make_async_client, make_client
from .config import Compute, Deployment, DeploymentsConfig, LifecycleWarning, load_deployments
from .errors import (
    AuthenticationError,
    CatalogError,
    ConfigError,
    ContentFilterError,
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    LlamaEvalError,
    MalformedResponseError,
    PriceTableError,
    RateLimitError,
    RequestValidationError,
)
from .overview import model_overview, model_overview_frame
from .prices import PriceBook, load_prices
from .request import ExtraParameters

__version__ = "0.1.0"

__all__ = [
    "AsyncLlamaClient",
    "AuthenticationError",
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
    "Quota",
    "RateLimitError",
    "RequestValidationError",
    "load_catalog",
    "load_deployments",
    "load_prices",
    "make_async_client",
    "make_client",
    "model_overview",
    "model_overview_frame",
]
