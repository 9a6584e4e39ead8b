"""The Meta Llama model catalog: what each model is, where it can be deployed, and until when.

Loaded from ``data/models.yaml``. Every fact there carries its provenance: a source from the file's
registry (with the day it was checked) or an explicit assumption with its basis; ``Catalog.unsourced``
lists any that do not, and ``CatalogModel.is_estimate`` tells a report to print "est." beside a value.
Lifecycle *status* is not stored: it is computed from the dates for the day you ask about, so the
catalog does not rot.
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

from llama_eval import clock
from llama_eval.errors import CatalogError
from llama_eval.paths import data_dir

OFFER_KINDS = ("serverless", "managed", "provisioned")
# Facts a provisioned (PTU) offer must state, each backed by a source or an assumption ("provisioned.<fact>").
PROVISIONED_FACTS = ("deployment_type", "min_ptu", "step_ptu", "input_tpm_per_ptu", "output_token_weight", "latency_target")
MODALITIES = ("text", "image+text")
LLAMA_EXTRAS = ("n", "best_of", "logprobs", "ignore_eos", "use_beam_search", "stop_token_ids", "skip_special_tokens")

GA, LEGACY, DEPRECATED, RETIRED = "ga", "legacy", "deprecated", "retired"
# Facts every model must back with a source or an assumption (offer facts are checked per offer).
MODEL_FACTS = ("parameters_b", "context_tokens", "max_output_tokens", "modality", "json_object", "extra_parameters")


@dataclass(frozen=True)
class Source:
    """One entry of the catalog's source registry: what was read, where, and when."""

    id: str
    cite: str
    checked: date
    url: str | None = None
    assumption: bool = False  # our own reasoning or an unverified recollection


@dataclass(frozen=True)
class Provenance:
    """Where one fact comes from: a registry source, an explicit assumption, or both (a weak source)."""

    source: Source | None = None
    assumption: bool = False
    basis: str = ""
    note: str = ""
    assumed_on: date | None = None  # when an inline assumption was written down (default: the catalog's as_of)

    @property
    def is_estimate(self) -> bool:
        """True when the value rests on an assumption (reports print "est." beside it)."""
        return self.assumption or (self.source is not None and self.source.assumption)

    @property
    def checked(self) -> date | None:
        return self.source.checked if self.source else self.assumed_on

    def describe(self) -> str:
        parts = [self.source.cite] if self.source else []
        parts += [p for p in (self.note, f"assumption: {self.basis}" if self.basis else "") if p]
        return "; ".join(parts)


@dataclass(frozen=True)
class Quota:
    """A rate limit: tokens per minute, requests per minute, concurrent requests (None: no limit)."""

    tpm: int | None = None
    rpm: int | None = None
    concurrency: int | None = None
    source: str | None = None
    as_of: date | None = None
    provenance: Provenance | None = None

    @property
    def is_estimate(self) -> bool:
        return self.provenance is None or self.provenance.is_estimate


@dataclass(frozen=True)
class ProvisionedTerms:
    """How a model is sold as provisioned throughput (PTU), from Microsoft's sizing page.

    ``input_tpm_per_ptu``: input tokens a minute one PTU serves; an output token counts as
    ``output_token_weight`` input tokens toward utilization. A deployment has at least ``min_ptu``
    PTUs, in steps of ``step_ptu``. ``latency_target`` is Microsoft's words for the latency it aims
    at (a share of requests above a speed), not a measurement.
    """

    deployment_type: str  # "Global Provisioned"
    min_ptu: int
    step_ptu: int
    input_tpm_per_ptu: int
    output_token_weight: int
    latency_target: str

    def __post_init__(self) -> None:
        if min(self.min_ptu, self.step_ptu, self.input_tpm_per_ptu, self.output_token_weight) <= 0:
            raise CatalogError(f"provisioned terms must be positive numbers, got {self}")

    def allowed(self, ptu: int) -> bool:
        """Whether ``ptu`` is a size Azure sells: at least the minimum, a whole number of steps above it."""
        return ptu >= self.min_ptu and (ptu - self.min_ptu) % self.step_ptu == 0

    def nearest(self, ptu: int) -> tuple[int, ...]:
        """The sellable sizes around ``ptu`` (one or two), for an error message."""
        if ptu <= self.min_ptu:
            return (self.min_ptu,)
        below = self.min_ptu + (ptu - self.min_ptu) // self.step_ptu * self.step_ptu
        return (below,) if below == ptu else (below, below + self.step_ptu)


@dataclass(frozen=True)
class Offer:
    """One way to deploy a model (serverless pay-as-you-go or managed compute) and its lifecycle.

    Azure's stages: *legacy* (still deployable, retirement planned), *deprecated* (no new deployments),
    *retired* (endpoints stop). Each has a date where Microsoft published one.
    """

    kind: str
    source: str
    deprecated: date | None = None
    retired: date | None = None
    replacement: str | None = None
    recommended_sku: str | None = None
    legacy: date | None = None
    source_id: str | None = None
    provisioned: ProvisionedTerms | None = None  # the PTU terms of a provisioned offer

    def status(self, on: date | None = None) -> str:
        """``"ga"``, ``"legacy"``, ``"deprecated"`` or ``"retired"`` on day ``on``, from the published dates only."""
        on = on or clock.today()
        if self.retired and on >= self.retired:
            return RETIRED
        if self.deprecated and on >= self.deprecated:
            return DEPRECATED
        if self.legacy and on >= self.legacy:
            return LEGACY
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
    sources: Mapping[str, str] = field(default_factory=dict)  # fact -> citation text (for display)
    provenance: Mapping[str, Provenance] = field(default_factory=dict)  # fact -> where it comes from
    unverified_extras: tuple[str, ...] = ()  # extras accepted here without a source that the service takes them
    benchmark_metric: str | None = None
    benchmark_provenance: Provenance | None = None

    @property
    def accepts_images(self) -> bool:
        return self.modality == "image+text"

    def is_estimate(self, fact: str) -> bool:
        """True when ``fact`` (e.g. "max_output_tokens", "managed.recommended_sku") rests on an assumption."""
        if fact == "quota":
            return self.quota is not None and self.quota.is_estimate
        if fact == "benchmark_accuracy":
            return self.benchmark_provenance is None or self.benchmark_provenance.is_estimate
        found = self.provenance.get(fact)
        return found is None or found.is_estimate

    def unsourced(self) -> list[str]:
        """Facts of this model with neither a source nor an explicit assumption (should be none)."""
        missing = [f for f in MODEL_FACTS if f not in self.provenance]
        for kind, offer in self.offers.items():
            if not offer.source:
                missing.append(f"{kind}.lifecycle")
            for fact, value in (("replacement", offer.replacement), ("recommended_sku", offer.recommended_sku)):
                if value is not None and f"{kind}.{fact}" not in self.provenance:
                    missing.append(f"{kind}.{fact}")
            if offer.provisioned is not None:
                missing += [f"{kind}.{fact}" for fact in PROVISIONED_FACTS if f"{kind}.{fact}" not in self.provenance]
        if self.quota is not None and self.quota.provenance is None:
            missing.append("quota")
        if self.benchmark_accuracy is not None and self.benchmark_provenance is None:
            missing.append("benchmark_accuracy")
        return missing

    def offer(self, kind: str) -> Offer | None:
        return self.offers.get(kind)

    def status(self, kind: str, on: date | None = None) -> str | None:
        """Lifecycle status of this model's ``kind`` offer on day ``on``; None if not offered that way."""
        offer = self.offers.get(kind)
        return offer.status(on) if offer else None


class Catalog:
    """All catalog models, looked up by Azure model id."""

    def __init__(self, models: list[CatalogModel], *, as_of: date | None = None, path: Path | None = None, sources: Mapping[str, Source] | None = None):
        self._by_id = {m.id: m for m in models}
        self._by_lower = {m.id.lower(): m for m in models}
        self.as_of = as_of
        self.path = path
        self.sources = dict(sources or {})

    def unsourced(self) -> list[str]:
        """Every "model: fact" that has neither a source nor an explicit assumption."""
        return [f"{m.id}: {fact}" for m in self for fact in m.unsourced()]

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
        found = self._replacement_chain(model_id, kind, on)
        return found[0] if found else None

    def replacement_is_suggestion(self, model_id: str, kind: str = "serverless", on: date | None = None) -> bool:
        """True when some hop of the chain to ``available_replacement`` is our suggestion, not Microsoft's."""
        found = self._replacement_chain(model_id, kind, on)
        return bool(found and found[1])

    def _replacement_chain(self, model_id: str, kind: str, on: date | None) -> tuple[str, bool] | None:
        seen: set[str] = set()
        current = self.get(model_id)
        suggested = False
        while True:
            offer = current.offer(kind)
            if offer is None or offer.replacement is None or offer.replacement in seen:
                return None
            suggested = suggested or current.is_estimate(f"{kind}.replacement")
            seen.add(offer.replacement)
            current = self.get(offer.replacement)
            if current.status(kind, on) in (GA, LEGACY, DEPRECATED):
                return current.id, suggested


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


def _parse_sources(raw: Any, path: Path) -> dict[str, Source]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{path}: 'sources' must be a mapping of id -> {{cite, checked, url, assumption}}")
    out = {}
    for source_id, entry in raw.items():
        where = f"{path}: source {source_id!r}"
        if not isinstance(entry, Mapping):
            raise CatalogError(f"{where}: must be a mapping with 'cite' and 'checked'")
        assumption = entry.get("assumption", False)
        if not isinstance(assumption, bool):
            raise CatalogError(f"{where}: 'assumption' must be true or false")
        out[str(source_id)] = Source(
            id=str(source_id),
            cite=_require(entry, "cite", str, where),
            checked=_require(entry, "checked", date, where),
            url=_require(entry, "url", str, where, optional=True),
            assumption=assumption,
        )
    return out


def _provenance(raw: Any, sources: Mapping[str, Source], where: str, as_of: date | None = None) -> Provenance:
    """A fact's provenance: a source id, {source, note}, or {assumption: true, basis} (both may be given)."""
    if isinstance(raw, str):
        raw = {"source": raw}
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: provenance must be a source id or a mapping with 'source' or 'assumption: true' and 'basis'")
    source = None
    if raw.get("source") is not None:
        source = sources.get(str(raw["source"]))
        if source is None:
            raise CatalogError(f"{where}: unknown source {raw['source']!r}; the 'sources' registry has: {', '.join(sources)}")
    assumption = raw.get("assumption", False)
    if not isinstance(assumption, bool):
        raise CatalogError(f"{where}: 'assumption' must be true or false")
    basis = str(raw.get("basis") or "")
    if assumption and not basis:
        raise CatalogError(f"{where}: an assumption needs a 'basis' saying why the value is believed")
    if source is None and not assumption:
        raise CatalogError(f"{where}: give a 'source' (an id of the sources registry) or 'assumption: true' with a 'basis'")
    checked = raw.get("checked", as_of)
    if checked is not None and not isinstance(checked, date):
        raise CatalogError(f"{where}: 'checked' must be a date (YYYY-MM-DD)")
    return Provenance(source=source, assumption=assumption, basis=basis, note=str(raw.get("note") or ""), assumed_on=checked)


def _parse_quota(raw: Any, where: str, sources: Mapping[str, Source], as_of: date | None = None) -> Quota | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: 'quota' must be a mapping")
    provenance = None
    if raw.get("source") is not None or raw.get("assumption"):
        provenance = _provenance({k: raw[k] for k in ("source", "assumption", "basis", "note") if k in raw}, sources, f"{where} quota", as_of)
    return Quota(
        tpm=_require(raw, "tpm", int, where, optional=True),
        rpm=_require(raw, "rpm", int, where, optional=True),
        concurrency=_require(raw, "concurrency", int, where, optional=True),
        source=provenance.describe() if provenance else raw.get("source"),
        as_of=(provenance.checked if provenance else None) or raw.get("as_of"),
        provenance=provenance,
    )


def _provisioned_terms(raw: Mapping[str, Any], where: str) -> ProvisionedTerms:
    """The PTU terms of a provisioned offer: every field is required (a PTU offer without them cannot be sized)."""
    return ProvisionedTerms(
        deployment_type=_require(raw, "deployment_type", str, where),
        min_ptu=_require(raw, "min_ptu", int, where),
        step_ptu=_require(raw, "step_ptu", int, where),
        input_tpm_per_ptu=_require(raw, "input_tpm_per_ptu", int, where),
        output_token_weight=_require(raw, "output_token_weight", int, where),
        latency_target=_require(raw, "latency_target", str, where),
    )


def _parse_model(raw: Any, index: int, path: Path, sources: Mapping[str, Source] | None = None, as_of: date | None = None) -> CatalogModel:
    sources = sources or {}
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
        source_id = _require(offer, "source", str, f"{where} offer {kind}")
        if sources and source_id not in sources:
            raise CatalogError(f"{where} offer {kind}: unknown source {source_id!r}; the 'sources' registry has: {', '.join(sources)}")
        offers[kind] = Offer(
            kind=kind,
            source=sources[source_id].cite if source_id in sources else source_id,
            source_id=source_id,
            legacy=_require(offer, "legacy", date, f"{where} offer {kind}", optional=True),
            deprecated=_require(offer, "deprecated", date, f"{where} offer {kind}", optional=True),
            retired=_require(offer, "retired", date, f"{where} offer {kind}", optional=True),
            replacement=_require(offer, "replacement", str, f"{where} offer {kind}", optional=True),
            recommended_sku=_require(offer, "recommended_sku", str, f"{where} offer {kind}", optional=True),
            provisioned=_provisioned_terms(offer, f"{where} offer {kind}") if kind == "provisioned" else None,
        )
    accuracy = raw.get("benchmark_accuracy")
    if accuracy is not None and not isinstance(accuracy, Mapping):
        raise CatalogError(f"{where}: benchmark_accuracy must be a mapping {{value, metric, source}} or null")
    benchmark = None
    if isinstance(accuracy, Mapping) and (accuracy.get("source") is not None or accuracy.get("assumption")):
        benchmark = _provenance(
            {k: accuracy[k] for k in ("source", "assumption", "basis", "note") if k in accuracy}, sources, f"{where} benchmark_accuracy", as_of
        )
    facts_raw = raw.get("facts") or {}
    if not isinstance(facts_raw, Mapping):
        raise CatalogError(f"{where}: 'facts' must be a mapping of fact -> provenance")
    provenance = {str(k): _provenance(v, sources, f"{where} facts.{k}", as_of) for k, v in facts_raw.items()}
    unverified = tuple(raw.get("unverified_extra_parameters") or ())
    if set(unverified) - set(extras):
        raise CatalogError(f"{where}: unverified_extra_parameters must be a subset of extra_parameters, got {sorted(set(unverified) - set(extras))}")
    legacy_sources = dict(raw.get("sources") or {})
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
        quota=_parse_quota(raw.get("quota"), where, sources, as_of),
        benchmark_accuracy=float(accuracy["value"]) if isinstance(accuracy, Mapping) else None,
        sources={**legacy_sources, **{k: p.describe() for k, p in provenance.items()}},
        provenance=provenance,
        unverified_extras=unverified,
        benchmark_metric=str(accuracy.get("metric")) if isinstance(accuracy, Mapping) and accuracy.get("metric") else None,
        benchmark_provenance=benchmark,
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
    sources = _parse_sources(raw.get("sources"), path)
    as_of = raw.get("as_of") if isinstance(raw.get("as_of"), date) else None
    models = [_parse_model(m, i, path, sources, as_of) for i, m in enumerate(raw["models"])]
    ids = [m.id for m in models]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CatalogError(f"{path}: duplicate model ids {duplicates}")
    catalog = Catalog(models, as_of=raw.get("as_of"), path=path, sources=sources)
    for m in models:
        for offer in m.offers.values():
            if offer.replacement and offer.replacement not in catalog:
                raise CatalogError(f"{path}: model {m.id!r}: replacement {offer.replacement!r} is not in the catalog")
    return catalog
