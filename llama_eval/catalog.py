"""The Meta Llama model catalog: what each model is, where it can be deployed, and until when.

Loaded from ``data/models.yaml`` (every fact there carries its source). Lifecycle *status* is not
stored: it is computed from the dates for the day you ask about, so the catalog does not rot.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from .errors import CatalogError
from .paths import data_dir

OFFER_KINDS = ("serverless", "managed")
MODALITIES = ("text", "image+text")
LLAMA_EXTRAS = ("n", "best_of", "logprobs", "ignore_eos", "use_beam_search", "stop_token_ids", "skip_special_tokens")

GA, DEPRECATED, RETIRED = "ga", "deprecated", "retired"


@dataclass(frozen=True)
class Quota:
    """A rate limit: tokens per minute, requests per minute, concurrent requests (None: no limit)."""

    tpm: int | None = None
    rpm: int | None = None
    concurrency: int | None = None
    source: str | None = None
    as_of: date | None = None


@dataclass(frozen=True)
class Offer:
    """One way to deploy a model (serverless pay-as-you-go or managed compute) and its lifecycle."""

    kind: str
    source: str
    deprecated: date | None = None
    retired: date | None = None
    replacement: str | None = None
    recommended_sku: str | None = None

    def status(self, on: date | None = None) -> str:
        """``"ga"``, ``"deprecated"`` (a retirement is announced) or ``"retired"`` on day ``on``."""
        on = on or date.today()
        if self.retired and on >= self.retired:
            return RETIRED
        if self.retired or (self.deprecated and on >= self.deprecated):
            return DEPRECATED
        return GA


@dataclass(frozen=True)
class CatalogModel:
    """Facts about one Llama model on Azure AI Foundry."""

    id: str
    family: str
    parameters_b: float
    context_tokens: int
    max_output_tokens: int | None
    modality: str
    json_object: bool
    extra_parameters: tuple[str, ...]
    offers: Mapping[str, Offer]
    quota: Quota | None = None
    active_parameters_b: float | None = None
    benchmark_accuracy: float | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def accepts_images(self) -> bool:
        return self.modality == "image+text"

    def offer(self, kind: str) -> Offer | None:
        return self.offers.get(kind)

    def status(self, kind: str, on: date | None = None) -> str | None:
        """Lifecycle status of this model's ``kind`` offer on day ``on``; None if not offered that way."""
        offer = self.offers.get(kind)
        return offer.status(on) if offer else None


class Catalog:
    """All catalog models, looked up by Azure model id."""

    def __init__(self, models: list[CatalogModel], *, as_of: date | None = None, path: Path | None = None):
        self._by_id = {m.id: m for m in models}
        self._by_lower = {m.id.lower(): m for m in models}
        self.as_of = as_of
        self.path = path

    def __iter__(self) -> Iterator[CatalogModel]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and model_id.lower() in self._by_lower

    @property
    def ids(self) -> list[str]:
        return list(self._by_id)

    def get(self, model_id: str) -> CatalogModel:
        """The model with this id (case-insensitive); CatalogError naming the closest ids if unknown."""
        model = self._by_lower.get(str(model_id).lower())
        if model is None:
            raise CatalogError(f"unknown model {model_id!r}{self.suggest(model_id)}")
        return model

    def suggest(self, model_id: str) -> str:
        """A '; did you mean ...?' hint for a mistyped id ('' when nothing is close)."""
        lowered = {m.lower(): m for m in self._by_id}
        close = difflib.get_close_matches(str(model_id).lower(), list(lowered), n=3, cutoff=0.5)
        if not close:
            return f"; known models: {', '.join(self._by_id)}"
        return "; did you mean " + " or ".join(repr(lowered[c]) for c in close) + "?"

    def available_replacement(self, model_id: str, kind: str = "serverless", on: date | None = None) -> str | None:
        """Follow the replacement chain from ``model_id`` to a model whose ``kind`` offer is not retired."""
        seen: set[str] = set()
        current = self.get(model_id)
        while True:
            offer = current.offer(kind)
            if offer is None or offer.replacement is None or offer.replacement in seen:
                return None
            seen.add(offer.replacement)
            current = self.get(offer.replacement)
            if current.status(kind, on) in (GA, DEPRECATED):
                return current.id


def _require(raw: Mapping[str, Any], key: str, kinds: type | tuple[type, ...], where: str, *, optional: bool = False):
    value = raw.get(key)
    if value is None:
        if optional:
            return None
        raise CatalogError(f"{where}: missing field {key!r}")
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise CatalogError(f"{where}: field {key!r} must be {kinds}, got {value!r}")
    if not isinstance(value, kinds):
        raise CatalogError(f"{where}: field {key!r} must be {kinds}, got {value!r}")
    return value


def _parse_quota(raw: Any, where: str) -> Quota | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: 'quota' must be a mapping")
    return Quota(
        tpm=_require(raw, "tpm", int, where, optional=True),
        rpm=_require(raw, "rpm", int, where, optional=True),
        concurrency=_require(raw, "concurrency", int, where, optional=True),
        source=raw.get("source"),
        as_of=raw.get("as_of"),
    )


def _parse_model(raw: Any, index: int, path: Path) -> CatalogModel:
    where = f"{path}: models[{index}]"
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: each model must be a mapping")
    model_id = _require(raw, "id", str, where)
    where = f"{path}: model {model_id!r}"
    modality = _require(raw, "modality", str, where)
    if modality not in MODALITIES:
        raise CatalogError(f"{where}: modality must be one of {MODALITIES}, got {modality!r}")
    extras = tuple(_require(raw, "extra_parameters", list, where))
    unknown = set(extras) - set(LLAMA_EXTRAS)
    if unknown:
        raise CatalogError(f"{where}: unknown extra parameters {sorted(unknown)}; known: {LLAMA_EXTRAS}")
    offers_raw = _require(raw, "offers", Mapping, where)
    offers = {}
    for kind, offer in offers_raw.items():
        if kind not in OFFER_KINDS:
            raise CatalogError(f"{where}: offer {kind!r} must be one of {OFFER_KINDS}")
        if not isinstance(offer, Mapping):
            raise CatalogError(f"{where}: offer {kind!r} must be a mapping")
        offers[kind] = Offer(
            kind=kind,
            source=_require(offer, "source", str, f"{where} offer {kind}"),
            deprecated=_require(offer, "deprecated", date, f"{where} offer {kind}", optional=True),
            retired=_require(offer, "retired", date, f"{where} offer {kind}", optional=True),
            replacement=_require(offer, "replacement", str, f"{where} offer {kind}", optional=True),
            recommended_sku=_require(offer, "recommended_sku", str, f"{where} offer {kind}", optional=True),
        )
    accuracy = raw.get("benchmark_accuracy")
    return CatalogModel(
        id=model_id,
        family=_require(raw, "family", str, where),
        parameters_b=float(_require(raw, "parameters_b", (int, float), where)),
        active_parameters_b=_require(raw, "active_parameters_b", (int, float), where, optional=True),
        context_tokens=_require(raw, "context_tokens", int, where),
        max_output_tokens=_require(raw, "max_output_tokens", int, where, optional=True),
        modality=modality,
        json_object=_require(raw, "json_object", bool, where),
        extra_parameters=extras,
        offers=offers,
        quota=_parse_quota(raw.get("quota"), where),
        benchmark_accuracy=float(accuracy["value"]) if isinstance(accuracy, Mapping) else None,
        sources=dict(raw.get("sources") or {}),
    )


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and check a catalog file (default: data/models.yaml). Cached per path."""
    return _load_catalog(Path(path) if path else data_dir() / "models.yaml")


@functools.lru_cache(maxsize=8)
def _load_catalog(path: Path) -> Catalog:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"catalog file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("models"), list):
        raise CatalogError(f"{path}: expected a mapping with a 'models' list")
    models = [_parse_model(m, i, path) for i, m in enumerate(raw["models"])]
    ids = [m.id for m in models]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CatalogError(f"{path}: duplicate model ids {duplicates}")
    catalog = Catalog(models, as_of=raw.get("as_of"), path=path)
    for m in models:
        for offer in m.offers.values():
            if offer.replacement and offer.replacement not in catalog:
                raise CatalogError(f"{path}: model {m.id!r}: replacement {offer.replacement!r} is not in the catalog")
    return catalog
