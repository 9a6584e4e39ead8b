"""What the emulator serves: its configuration, the deployments it emulates, and the names on the wire.

``EmulatorConfig`` says what to emulate (every field has a default); ``EmulatedDeployment`` is one
deployment as a caller names it (model, kind, path, served name), ``specs_from_deployments`` makes
them from a deployments file, and ``ServedDeployment`` is one as the running emulator holds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from llama_eval.catalog.models import Catalog, CatalogModel
from llama_eval.catalog.tokens import TokenCounter

from .batching import BatchModel
from .faults import FAULT_KINDS
from .latency import LatencyProfile
from .provisioned import PtuBucket
from .quota import QuotaLimiter

DEFAULT_MODELS = (
    "Meta-Llama-3.1-8B-Instruct",
    "Meta-Llama-3.1-405B-Instruct",
    "Llama-3.3-70B-Instruct",
    "Llama-4-Scout-17B-16E-Instruct",
    "Llama-4-Maverick-17B-128E-Instruct-FP8",
)
DEFAULT_BLOCKLIST = ("build a bomb", "make a bomb", "nerve agent", "LLAMA_EVAL_BLOCKED")
DEFAULT_QUOTA = (200_000, 1_000)  # tokens/min, requests/min of a serverless deployment whose model has no catalog quota
MARKER_HEADER = "x-llama-eval-emulator"
TIME_SCALE_HEADER = "x-llama-eval-time-scale"
PROVIDER = "Meta (emulated)"
KINDS = ("serverless", "managed", "self-hosted", "provisioned")
SELF_HOSTED_OWNER = "vllm (emulated)"


FINGERPRINT = "llama-eval-emulator"  # in every response body and stream chunk: reports say "simulated"


@dataclass(frozen=True)
class EmulatedDeployment:
    """One deployment the emulator serves: what it is (model, kind) and where (path, served name).

    ``path``: the URL path of its own endpoint (``/<path>/chat/completions``; default: its name).
    ``served_name``: what ``model`` says on ``/v1`` and ``/openai/v1`` (default: its name).
    ``kind``: serverless (content filter on, catalog quota), managed (no filter, catalog quota),
    self-hosted (no filter, no quota: a vLLM server of your own) or provisioned (content filter on,
    ``ptu`` provisioned throughput units metered as a utilization bucket: ``provisioned.PtuBucket``;
    default the catalog's minimum).
    """

    name: str
    model: str
    kind: str = "serverless"
    path: str | None = None
    served_name: str | None = None
    openai_v1: bool = False  # reached as an Azure openai-v1 deployment (base URL + /openai/v1, `model` = served name)
    ptu: int | None = None  # provisioned: PTUs deployed (None: the catalog's minimum)
    accuracy: float | None = None  # test knob (`emulator: {accuracy: 0.8}` in a deployments file): replaces the catalog's benchmark_accuracy
    slowdown: float = 1.0  # test knob (`emulator: {slowdown: 1.3}`): every simulated delay of this deployment x this factor

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"deployment {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.ptu is not None and self.kind != "provisioned":
            raise ValueError(f"deployment {self.name!r}: ptu applies to kind provisioned only")


def default_kind(model: CatalogModel) -> str:
    """For ``models=[...]``: serverless where the catalog has a serverless offer (even a retired one, so the
    Azure docs' walkthrough of a 3.1 serverless endpoint still runs), else managed. A deployments file says
    the kind of each deployment explicitly (``specs_from_deployments``)."""
    return "serverless" if model.offer("serverless") else "managed"


def specs_from_deployments(deployments: Iterable[Any]) -> list[EmulatedDeployment]:
    """Emulated deployments for the entries of a deployments file (``config.Deployment`` or mappings).

    Each is served at the path its endpoint names (``http://host:port/PATH``); an endpoint ending in
    ``/v1`` (self-hosted) or ``/openai/v1`` / no path (openai-v1) is reached through those surfaces
    by its ``deployment_name`` (default: the catalog model id).
    """
    specs = []
    for d in deployments:
        get = d.get if isinstance(d, Mapping) else (lambda key, default=None, _d=d: getattr(_d, key, default))
        name, model = get("name"), get("model")
        if not model:
            raise ValueError(f"deployment {name!r} names no catalog model; the emulator needs one to simulate")
        endpoint = get("endpoint") or ""
        path = urlsplit(endpoint).path.strip("/") if endpoint else ""
        kind = str(get("kind") or "serverless")
        surface = path in ("v1", "openai/v1") or (get("api") == "openai-v1" and path in ("", "openai/v1"))
        specs.append(
            EmulatedDeployment(
                name=name,
                model=model,
                kind=kind if kind in KINDS else "serverless",
                path=None if surface else (path or None),
                served_name=get("deployment_name") or (model if surface else None),
                openai_v1=surface and kind != "self-hosted" and path != "v1",
                ptu=get("ptu") if kind == "provisioned" else None,
                **_knobs(name, get("emulator")),
            )
        )
    return specs


def _knobs(name: Any, raw: Any) -> dict[str, float]:
    """The ``emulator: {accuracy, slowdown}`` test knobs of a deployments-file entry, checked."""
    knobs = dict(raw or {}) if isinstance(raw, Mapping) or raw is None else None
    if knobs is None or set(knobs) - {"accuracy", "slowdown"}:
        raise ValueError(f"deployment {name!r}: 'emulator' takes a mapping of accuracy (0-1) and slowdown (> 0), got {raw!r}")
    if not 0 <= float(knobs.get("accuracy", 0)) <= 1 or float(knobs.get("slowdown", 1)) <= 0:
        raise ValueError(f"deployment {name!r}: emulator accuracy must be in [0, 1] and slowdown > 0, got {raw!r}")
    return {k: float(v) for k, v in knobs.items()}


@dataclass
class EmulatorConfig:
    """What to emulate. Everything has a default: ``EmulatorConfig()`` serves a handful of models."""

    models: Sequence[str] = DEFAULT_MODELS
    deployments: Mapping[str, str] | Sequence[EmulatedDeployment] | None = None  # name -> model id, or full specs
    key: str | None = None  # None: a random key, printed at start
    time_scale: float = 1.0  # multiplies every simulated delay; 0 for no delay at all
    tpm: int | None = None  # override every deployment's tokens/min (default: catalog quota)
    rpm: int | None = None
    concurrency: int | None = None
    quota_window_s: float = 60.0  # in the emulated service's seconds (quota.emulated_clock): time_scale x this in real ones
    fault_rate: float = 0.0
    fault_kinds: Sequence[str] = ("500", "503", "reset", "stall")
    stall_s: float = 600.0  # a "stall" fault waits this long (real seconds) before answering
    seed: int = 0
    prompt_sets: Sequence[str | Path] = ()
    blocklist: Sequence[str] = DEFAULT_BLOCKLIST
    profile: LatencyProfile | None = None  # one profile for every deployment (timing tests)
    profiles: Mapping[str, LatencyProfile] = field(default_factory=dict)  # per deployment name
    default_max_tokens: int = 1024  # reserved and allowed when a request gives no max_tokens
    capacity: Mapping[str, BatchModel] = field(default_factory=dict)  # deployment name -> batch model (managed: batch, then queue)

    def __post_init__(self) -> None:
        unknown = set(self.fault_kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; choose from {FAULT_KINDS}")
        if not 0 <= self.fault_rate <= 1:
            raise ValueError(f"fault_rate must be in [0, 1], got {self.fault_rate}")
        if self.time_scale < 0:
            raise ValueError("time_scale must be >= 0")


@dataclass
class ServedDeployment:
    """A deployment as the emulator serves it: its catalog model, tokenizer, latency profile and quota."""

    name: str
    model: CatalogModel
    counter: TokenCounter
    profile: LatencyProfile
    quota: QuotaLimiter | PtuBucket  # provisioned: the PTU utilization bucket
    kind: str = "serverless"
    path: str | None = None
    served_name: str | None = None
    openai_v1: bool = False

    @property
    def content_filter(self) -> bool:
        return self.kind in ("serverless", "provisioned")  # Azure's own deployments; managed and self-hosted have none


def norm_name(name: str) -> str:
    """'meta-llama/Llama-3.1-8B-Instruct' and 'Meta-Llama-3.1-8B-Instruct' both -> 'llama318binstruct'."""
    return re.sub(r"^metallama", "llama", re.sub(r"[^a-z0-9]", "", name.rsplit("/", 1)[-1].lower()))


def config_specs(config: EmulatorConfig, catalog: Catalog) -> list[EmulatedDeployment]:
    if config.deployments is None:
        return [EmulatedDeployment(m, m, default_kind(catalog.get(m))) for m in dict.fromkeys(config.models)]
    if isinstance(config.deployments, Mapping):
        return [EmulatedDeployment(name, model_id, default_kind(catalog.get(model_id))) for name, model_id in config.deployments.items()]
    return list(config.deployments)
