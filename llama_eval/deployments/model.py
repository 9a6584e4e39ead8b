"""Deployments: which Llama endpoints to evaluate, how to reach them and how to authenticate.

A YAML file lists deployments (see ``data/deployments.example.yaml``). Secrets are never written in
it: a deployment names the *environment variable* that holds its key (``key_env``); in Python a key
can also be handed over in memory (``Deployment(..., key=...)``), which is never written anywhere.
With no file at all, the Azure docs' shortcut works: ``AZURE_INFERENCE_ENDPOINT`` and
``AZURE_INFERENCE_CREDENTIAL``.

Four kinds: ``serverless``, ``managed`` and ``provisioned`` (Azure AI Foundry), and ``self-hosted``
for any OpenAI-compatible server on your own GPUs (vLLM, llama.cpp's server, Ollama, TGI, Foundry
Local): its endpoint is the OpenAI base URL ending in ``/v1``, a key is optional, and its cost is
GPU-hours. A ``provisioned`` deployment reserves model throughput in PTUs (``ptu: N``, a size the
catalog's provisioned offer sells: ``check_ptu``) and is billed per PTU-hour, busy or idle.

Every error says which file, line and field is wrong and what to write instead. Nothing here sends a
request; the key is read from the environment only when a client is made.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from llama_eval.catalog.models import Catalog, CatalogModel, Quota, load_catalog
from llama_eval.catalog.prices import PriceBook, load_prices
from llama_eval.errors import ConfigError
from llama_eval.records import KINDS, MACHINE_KINDS, PROVISIONED, SELF_HOSTED

AUTHS = ("key", "entra", "none")
APIS = ("azure-ai-inference", "openai-v1")

ENDPOINT_ENV = "AZURE_INFERENCE_ENDPOINT"
CREDENTIAL_ENV = "AZURE_INFERENCE_CREDENTIAL"
MODEL_ENV = "LLAMA_EVAL_MODEL"

# Entra ID token audiences. The SDK's default (ml.azure.com) is right for serverless and managed
# online endpoints; Foundry / AI Services resources and Azure OpenAI want cognitiveservices
# (Azure/azure-sdk-for-python#39352).
ML_SCOPE = "https://ml.azure.com/.default"
COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default"
_COGNITIVE_HOSTS = (".services.ai.azure.com", ".openai.azure.com", ".cognitiveservices.azure.com")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_FIELDS = ("key", "api_key", "api-key", "apikey", "credential", "secret", "token", "password")
_SECRET_QUERY = ("api-key", "api_key", "key", "code", "sig", "token", "access_token")


@dataclass(frozen=True)
class Compute:
    """Capacity billed by the hour (managed compute or your own GPUs).

    Either a VM SKU priced from ``data/compute_prices.csv`` (``sku``, ``instances``, ``region``), or GPUs
    at your own rate (``gpu``, ``count``, ``usd_per_hour`` per GPU) — the usual way to price a
    self-hosted server. ``hours_per_day`` is how long it runs (billed whether busy or not).
    """

    sku: str | None = None
    instances: int = 1
    region: str = "eastus"
    hours_per_day: float = 24.0
    gpu: str | None = None
    count: int = 1
    usd_per_hour: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.sku is None) == (self.usd_per_hour is None):
            raise ConfigError("compute needs exactly one of 'sku' (a VM SKU from the price table) or 'usd_per_hour' (your own GPU-hour rate)")
        if self.usd_per_hour is not None and not isinstance(self.usd_per_hour, Decimal):
            object.__setattr__(self, "usd_per_hour", Decimal(str(self.usd_per_hour)))

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | Compute | None) -> Compute | None:
        """A compute as a run's manifest records it (``asdict``: every field, money as text), or written by hand.

        None when there is none, or when it names neither a VM ``sku`` nor a ``usd_per_hour``: nothing to price.
        When a merged record carries both, the rate wins, as the owner's own price (and the SKU is dropped).
        Read a dict-shaped compute through this once, then pass the ``Compute`` on.
        """
        if data is None or isinstance(data, Compute):
            return data
        rate, sku = data.get("usd_per_hour"), data.get("sku")
        if rate is None and not sku:
            return None

        def value(name: str, default: Any) -> Any:
            got = data.get(name)
            return default if got is None else got

        return cls(
            sku=None if rate is not None else str(sku),
            instances=int(value("instances", 1)),
            region=str(value("region", "eastus")),
            hours_per_day=float(value("hours_per_day", 24.0)),
            gpu=data.get("gpu"),
            count=int(value("count", 1)),
            usd_per_hour=Decimal(str(rate)) if rate is not None else None,
        )

    @property
    def label(self) -> str:
        """``2x Standard_NC24ads_A100_v4``, ``2x H100 at $4/GPU-hour`` or ``3 machines of 2x H100 at $4/GPU-hour``, for tables and reports."""
        if self.usd_per_hour is not None:
            machines = f"{self.instances} machines of " if self.instances != 1 else ""
            return f"{machines}{self.count}x {self.gpu or 'GPU'} at ${self.usd_per_hour}/GPU-hour"
        return f"{self.instances}x {self.sku}"

    def hourly_usd(self, prices: PriceBook | None = None, *, instances: int | None = None) -> Decimal:
        """USD an hour while ``instances`` of its machines run (default: all it has) — the package's one hourly price.

        The own rate x GPUs per machine, or the VM SKU's list price in its region (from ``prices``; default the
        bundled tables). ``instances=1`` is one machine's price, on which a capacity is measured.
        Raises ``PriceTableError`` for a SKU the price table does not have.
        """
        machines = self.instances if instances is None else instances
        if self.usd_per_hour is not None:
            return self.usd_per_hour * self.count * machines
        assert self.sku is not None
        return (prices or load_prices()).compute_price(self.sku, self.region).usd_per_hour * machines


class _Secret:
    """A key held in memory: shows as '***' in repr, str, JSON (default=str) and deep copies of records."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    def __str__(self) -> str:
        return "***"

    def __deepcopy__(self, memo: Any) -> _Secret:
        return self

    def __reduce__(self) -> Any:
        raise TypeError("a key given in memory cannot be pickled or copied out of the process")


@dataclass(frozen=True)
class Deployment:
    """One endpoint to evaluate. ``key_env`` is the *name* of a variable, not a secret.

    ``deployment_name`` is what the service calls the deployment, sent as ``model`` in the request
    body: Foundry ``/models`` and ``/openai/v1`` endpoints need it, and so do vLLM and Ollama (the
    served model name). It defaults to the catalog model id on openai-v1 and is omitted on
    azure-ai-inference (serverless and managed endpoints serve one model).

    ``key`` hands a key over in memory instead of ``key_env``: it is kept out of ``repr``, equality,
    manifests (``asdict`` gives '***') and logs, and never written anywhere.
    """

    name: str
    model: str | None = None
    kind: str = "serverless"
    endpoint: str | None = None
    endpoint_env: str | None = None
    auth: str = "key"
    key_env: str | None = None
    api: str | None = None  # default: openai-v1 for self-hosted, else azure-ai-inference
    deployment_name: str | None = None
    api_version: str | None = None
    credential_scope: str | None = None
    quota: Quota | None = None
    quota_pool: str | None = None
    compute: Compute | None = None
    ptu: int | None = None  # provisioned throughput units of a kind: provisioned deployment
    headers: Mapping[str, str] = field(default_factory=dict)
    source: str = "<python>"
    key: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"{self.source}: deployment {self.name!r}"
        if not self.name or not isinstance(self.name, str):
            raise ConfigError(f"{self.source}: every deployment needs a 'name' (the label used in reports)")
        if self.key is not None and not isinstance(self.key, _Secret):
            if not isinstance(self.key, str) or not self.key:
                raise ConfigError(f"{where}: key must be the key as text (or leave it out and name an env var with key_env)")
            object.__setattr__(self, "key", _Secret(self.key))
        if self.kind not in KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.api is None:
            object.__setattr__(self, "api", "openai-v1" if self.kind == SELF_HOSTED else "azure-ai-inference")
        if self.auth not in AUTHS:
            raise ConfigError(f"{where}: auth must be one of {', '.join(AUTHS)}, got {self.auth!r}")
        if self.api not in APIS:
            raise ConfigError(f"{where}: api must be one of {', '.join(APIS)}, got {self.api!r}")
        if self.auth == "entra" and self.kind == "serverless":
            raise ConfigError(
                f"{where}: serverless API endpoints accept key authentication only, not Microsoft Entra ID "
                "(Azure docs: 'serverless API endpoints do not support using Microsoft Entra ID'); "
                "use auth: key with key_env: NAME_OF_THE_ENV_VAR"
            )
        if (self.endpoint is None) == (self.endpoint_env is None):
            raise ConfigError(f"{where}: give exactly one of 'endpoint' (the URL) or 'endpoint_env' (the env var holding it)")
        if self.endpoint is not None:
            check_endpoint_url(self.endpoint, where)
        for label, value in (("endpoint_env", self.endpoint_env), ("key_env", self.key_env)):
            if value is not None and not _ENV_NAME.match(value):
                raise ConfigError(
                    f"{where}: {label} must be the *name* of an environment variable (letters, digits, _), "
                    "not its value; if you pasted a key or URL here, move it into an env var"
                )
        if self.auth == "none" and self.kind != SELF_HOSTED:
            raise ConfigError(f"{where}: auth: none is for kind: self-hosted only; Azure endpoints need key_env (or auth: entra on managed compute)")
        if self.auth == "key" and not self.key_env and self.key is None:
            if self.kind == SELF_HOSTED:
                object.__setattr__(self, "auth", "none")  # a server on your own GPUs may take no key at all
            else:
                raise ConfigError(f"{where}: auth: key needs key_env: the name of the env var that holds the key")
        if self.compute is not None and self.kind not in MACHINE_KINDS:
            billed = "per token" if self.kind == "serverless" else "per PTU-hour: size it with 'ptu: N'"
            raise ConfigError(f"{where}: 'compute' applies to kind: managed or self-hosted ({self.kind} is billed {billed})")
        if self.kind == PROVISIONED and self.ptu is None:
            raise ConfigError(f"{where}: kind: provisioned needs 'ptu: N', the provisioned throughput units deployed (e.g. ptu: 100)")
        if self.ptu is not None and self.kind != PROVISIONED:
            raise ConfigError(f"{where}: 'ptu' applies to kind: provisioned only; remove it or set kind: provisioned")
        if self.ptu is not None and (not isinstance(self.ptu, int) or isinstance(self.ptu, bool) or self.ptu <= 0):
            raise ConfigError(f"{where}: ptu must be a whole number of provisioned throughput units > 0, got {self.ptu!r}")

    @property
    def offer(self) -> str:
        return self.kind

    @property
    def self_hosted(self) -> bool:
        return self.kind == SELF_HOSTED

    @property
    def openai_base_url(self) -> str:
        """The OpenAI base URL for ``api: openai-v1`` (see ``openai_base_url``); reads ``endpoint_env`` if set."""
        return openai_base_url(self.resolve_endpoint())

    def resolve_endpoint(self) -> str:
        """The endpoint URL, read from ``endpoint_env`` if that is how it is given."""
        if self.endpoint is not None:
            return self.endpoint
        value = os.environ.get(self.endpoint_env or "")
        if not value:
            raise ConfigError(
                f"{self.source}: deployment {self.name!r}: environment variable {self.endpoint_env} is not set; "
                f"export {self.endpoint_env}=https://<your-endpoint> (the deployment's target URI)"
            )
        check_endpoint_url(value, f"{self.source}: deployment {self.name!r} ({self.endpoint_env})")
        return value

    def resolve_key(self) -> str:
        """The API key: the one given in memory, else ``key_env``'s. Call only when making a client; never store the result.

        ``auth: none`` (a self-hosted server without keys) gives an empty string: send no key.
        """
        if self.key is not None:
            return self.key.reveal()
        if self.auth == "none":
            return ""
        value = os.environ.get(self.key_env or "")
        if not value:
            raise ConfigError(
                f"{self.source}: deployment {self.name!r}: environment variable {self.key_env} is not set; "
                f"export {self.key_env}=<the endpoint's key> (Azure AI Foundry > deployment > Keys)"
            )
        return value

    def token_scope(self) -> str:
        """The Entra ID scope that fits this endpoint (``credential_scope`` overrides)."""
        if self.credential_scope:
            return self.credential_scope
        try:
            host = (urlsplit(self.resolve_endpoint()).hostname or "").lower()
        except ConfigError:
            host = ""
        if self.api == "openai-v1" or host.endswith(_COGNITIVE_HOSTS):
            return COGNITIVE_SCOPE
        return ML_SCOPE

    def request_model_name(self) -> str | None:
        """The ``model`` value to send in the body, or None to omit it."""
        if self.deployment_name:
            return self.deployment_name
        return self.model if self.api == "openai-v1" else None

    def catalog_model(self, catalog: Catalog | None = None) -> CatalogModel | None:
        if self.model is None:
            return None
        return (catalog or load_catalog()).get(self.model)

    def effective_quota(self, catalog: Catalog | None = None) -> Quota | None:
        """The quota override, else the catalog's default for serverless, else None (no limit known)."""
        if self.quota is not None:
            return self.quota
        model = self.catalog_model(catalog)
        return model.quota if model is not None and self.kind == "serverless" else None

    def check_environment(self) -> list[str]:
        """Problems that would stop a client from being made (missing env vars), as messages."""
        problems = []
        for resolve in (self.resolve_endpoint, self.resolve_key if self.auth == "key" else None):
            if resolve is None:
                continue
            try:
                resolve()
            except ConfigError as exc:
                problems.append(str(exc))
        return problems


def check_ptu(ptu: int, model: CatalogModel, where: str) -> None:
    """Raise ``ConfigError`` unless ``ptu`` is a size the model's provisioned offer sells (its minimum, then steps).

    ``where`` names the place for the message (``"deployments.yaml line 7"``); the message names the
    sizes to use instead.
    """
    offer = model.offer(PROVISIONED)
    terms = offer.provisioned if offer is not None else None
    if terms is None:
        sold = [m for m in model.offers if m != PROVISIONED]
        raise ConfigError(f"{where}: {model.id} is not sold as provisioned throughput (offers: {', '.join(sold)}); use another kind or model")
    if not terms.allowed(ptu):
        sizes = " or ".join(str(n) for n in terms.nearest(ptu))
        raise ConfigError(f"{where}: 'ptu: {ptu}' — {model.id} is sold in steps of {terms.step_ptu} PTU from {terms.min_ptu}; use {sizes}")


def openai_base_url(endpoint: str) -> str:
    """The OpenAI SDK's ``base_url`` for an endpoint.

    An endpoint that already ends in ``/v1`` (a self-hosted server such as vLLM or llama.cpp:
    ``http://host:8000/v1``; or Azure's ``.../openai/v1``) is used as given. Otherwise it is an Azure
    endpoint root (``https://host`` or ``https://host/models``) and ``/openai/v1`` is appended.
    """
    base = endpoint.rstrip("/")
    if base.endswith("/v1"):
        return base
    if base.endswith("/models"):
        base = base[: -len("/models")]
    return base + "/openai/v1"


def check_endpoint_url(url: str, where: str) -> None:
    """Refuse URLs that are not http(s), or that carry a credential (user:pass@ or a key in the query)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: endpoint must be an http(s) URL such as https://<name>.<region>.models.ai.azure.com")
    if parts.username or parts.password:
        raise ConfigError(f"{where}: endpoint URL must not contain a user name or password; use key_env")
    if any(k.lower() in _SECRET_QUERY for k, _ in parse_qsl(parts.query)):
        raise ConfigError(f"{where}: endpoint URL must not carry a key in its query string; use key_env")
    if parts.path.rstrip("/").endswith("/score"):
        raise ConfigError(
            f"{where}: drop the '/score' suffix: the Azure AI Model Inference API lives at the endpoint root "
            "(with /score managed endpoints answer 424 Failed Dependency)"
        )


@dataclass(frozen=True)
class DeploymentsConfig:
    """The deployments of one file (or of the environment shortcut), by name."""

    deployments: tuple[Deployment, ...]
    path: Path | None = None

    def __iter__(self) -> Iterator[Deployment]:
        return iter(self.deployments)

    def __len__(self) -> int:
        return len(self.deployments)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.deployments]

    def __getitem__(self, name: str) -> Deployment:
        for d in self.deployments:
            if d.name == name:
                return d
        close = difflib.get_close_matches(name, self.names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; deployments: {', '.join(self.names)}"
        raise ConfigError(f"{self.path or 'environment'}: no deployment named {name!r}{hint}")

    def check_environment(self) -> list[str]:
        return [p for d in self.deployments for p in d.check_environment()]


# --------------------------------------------------------------------------- YAML with line numbers


