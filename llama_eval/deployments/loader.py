"""Reading a deployments YAML file (or the AZURE_INFERENCE_* shortcut) into checked ``Deployment`` records.

Every error names the file, the line and the field, and says what to do; nothing is sent before the
whole file has been read.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Mapping
from dataclasses import fields
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from llama_eval import clock
from llama_eval.catalog.models import DEPRECATED, LEGACY, RETIRED, Catalog, CatalogModel, Quota, load_catalog
from llama_eval.errors import CatalogError, ConfigError, LifecycleWarning

from .model import _SECRET_FIELDS, CREDENTIAL_ENV, ENDPOINT_ENV, MODEL_ENV, Compute, Deployment, DeploymentsConfig, check_ptu


class _Located(dict):
    """A YAML mapping that remembers its line and the line of each key (for error messages)."""

    line: int = 0
    key_lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_located(loader: _LineLoader, node: yaml.MappingNode) -> _Located:
    loader.flatten_mapping(node)
    result = _Located(loader.construct_mapping(node, deep=True))
    result.line = node.start_mark.line + 1
    result.key_lines = {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_located)


_DEPLOYMENT_FIELDS = tuple(f.name for f in fields(Deployment) if f.name not in ("source", "key"))


def _line_of(raw: Any, key: str | None = None) -> int:
    if isinstance(raw, _Located):
        return raw.key_lines.get(key, raw.line) if key else raw.line
    return 0


def _quota(raw: Any, where: str) -> Quota | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: quota must be a mapping like {{tpm: 200000, rpm: 1000}}")
    unknown = set(raw) - {"tpm", "rpm", "concurrency"}
    if unknown:
        raise ConfigError(f"{where}: unknown quota field(s) {sorted(unknown)}; use tpm, rpm, concurrency")
    for k, v in raw.items():
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"{where}: quota {k} must be a positive whole number, got {v!r}")
    return Quota(tpm=raw.get("tpm"), rpm=raw.get("rpm"), concurrency=raw.get("concurrency"), source="deployments file")


def _positive_int(raw: Any, name: str, where: str) -> int:
    value = raw.get(name, 1)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{where}: compute {name} must be a whole number >= 1, got {value!r}")
    return value


def _compute(raw: Any, where: str) -> Compute | None:
    if raw is None:
        return None
    shape = "{sku: Standard_NC24ads_A100_v4, instances: 1} or {gpu: H100, count: 1, usd_per_hour: 4.0}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: compute must be a mapping like {shape}")
    known = ("sku", "instances", "region", "hours_per_day", "gpu", "count", "usd_per_hour")
    unknown = sorted(set(raw) - set(known))
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; use {', '.join(known)}"
        raise ConfigError(f"{where}: unknown compute field(s) {unknown}{hint}")
    if ("sku" in raw) == ("usd_per_hour" in raw):
        raise ConfigError(f"{where}: compute needs either 'sku' (a VM SKU priced in compute_prices.csv) or 'usd_per_hour' (your GPU-hour rate); e.g. {shape}")
    if "sku" in raw and not isinstance(raw["sku"], str):
        raise ConfigError(f"{where}: compute sku must be text such as Standard_NC24ads_A100_v4, got {raw['sku']!r}")
    if "sku" in raw and ("gpu" in raw or "count" in raw):
        raise ConfigError(f"{where}: compute 'gpu' and 'count' go with 'usd_per_hour'; a VM SKU already says its GPUs")
    rate = None
    if "usd_per_hour" in raw:
        value = raw["usd_per_hour"]
        try:
            rate = Decimal(str(value)) if isinstance(value, (int, float, str, Decimal)) and not isinstance(value, bool) else None
        except InvalidOperation:
            rate = None
        if rate is None or not rate.is_finite() or rate < 0:
            raise ConfigError(f"{where}: compute usd_per_hour must be a number >= 0 (USD per GPU-hour), got {value!r}")
    gpu = raw.get("gpu")
    if gpu is not None and not isinstance(gpu, str):
        raise ConfigError(f"{where}: compute gpu must be text such as H100, got {gpu!r}")
    hours = raw.get("hours_per_day", 24.0)
    if not isinstance(hours, (int, float)) or isinstance(hours, bool) or not 0 < hours <= 24:
        raise ConfigError(f"{where}: compute hours_per_day must be in (0, 24], got {hours!r}")
    return Compute(
        sku=raw.get("sku"),
        instances=_positive_int(raw, "instances", where),
        region=str(raw.get("region", "eastus")),
        hours_per_day=float(hours),
        gpu=gpu,
        count=_positive_int(raw, "count", where),
        usd_per_hour=rate,
    )


def _deployment(raw: Any, path: Path, catalog: Catalog, today: date) -> Deployment:
    line = _line_of(raw)
    here = f"{path} line {line}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{here}: each deployment must be a mapping (name:, model:, kind:, ...)")
    for key in raw:
        where = f"{path} line {_line_of(raw, key)}"
        if str(key).lower() in _SECRET_FIELDS:
            raise ConfigError(
                f"{where}: field {key!r} would put a secret in the file; store the key in an environment variable and name it instead, e.g. key_env: LLAMA_KEY"
            )
        if key not in _DEPLOYMENT_FIELDS and key != "emulator":  # emulator: the emulator's test knobs (accuracy, slowdown), read by it alone
            close = difflib.get_close_matches(str(key), _DEPLOYMENT_FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known fields: {', '.join(_DEPLOYMENT_FIELDS)}"
            raise ConfigError(f"{where}: unknown field {key!r}{hint}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{here}: every deployment needs a 'name' (the label used in reports)")
    model_id = raw.get("model")
    if not isinstance(model_id, str):
        raise ConfigError(f"{here}: deployment {name!r} needs 'model': a catalog model id (see `llama-eval models`)")
    try:
        model = catalog.get(model_id)
    except CatalogError:
        raise ConfigError(f"{path} line {_line_of(raw, 'model')}: deployment {name!r}: unknown model {model_id!r}{catalog.suggest(model_id)}") from None
    for key in ("kind", "auth", "api", "endpoint", "endpoint_env", "key_env", "deployment_name", "api_version", "credential_scope", "quota_pool"):
        if key in raw and raw[key] is not None and not isinstance(raw[key], str):
            raise ConfigError(f"{path} line {_line_of(raw, key)}: deployment {name!r}: {key} must be text, got {raw[key]!r}")
    headers = raw.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"{path} line {_line_of(raw, 'headers')}: deployment {name!r}: headers must map names to text")
    if any(h.lower() in ("api-key", "authorization") for h in headers):
        raise ConfigError(f"{path} line {_line_of(raw, 'headers')}: deployment {name!r}: auth headers would put a secret in the file; use key_env")
    try:
        deployment = Deployment(
            name=name,
            model=model.id,
            kind=raw.get("kind", "serverless"),
            endpoint=raw.get("endpoint"),
            endpoint_env=raw.get("endpoint_env"),
            auth=raw.get("auth", "key"),
            key_env=raw.get("key_env"),
            api=raw.get("api"),
            deployment_name=raw.get("deployment_name"),
            api_version=raw.get("api_version"),
            credential_scope=raw.get("credential_scope"),
            quota=_quota(raw.get("quota"), f"{path} line {_line_of(raw, 'quota')}: deployment {name!r}"),
            quota_pool=raw.get("quota_pool"),
            compute=_compute(raw.get("compute"), f"{path} line {_line_of(raw, 'compute')}: deployment {name!r}"),
            ptu=_ptu(raw.get("ptu"), f"{path} line {_line_of(raw, 'ptu')}: deployment {name!r}"),
            headers=dict(headers),
            source=f"{path} line {line}",
        )
    except ConfigError:
        raise
    if deployment.self_hosted:
        return deployment  # open weights on your own GPUs: no Azure offer, no lifecycle
    offer = model.offer(deployment.kind)
    if offer is None:
        raise ConfigError(
            f"{path} line {_line_of(raw, 'kind')}: deployment {name!r}: {model.id} is not offered as {deployment.kind} (offers: {', '.join(model.offers)})"
        )
    if deployment.ptu is not None:
        check_ptu(deployment.ptu, model, f"{path} line {_line_of(raw, 'ptu')}")
    _warn_lifecycle(deployment, model, catalog, today)
    return deployment


def _ptu(raw: Any, where: str) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, int) or isinstance(raw, bool) or raw <= 0:
        raise ConfigError(f"{where}: ptu must be a whole number of provisioned throughput units, e.g. ptu: 100; got {raw!r}")
    return raw


def lifecycle_note(model: CatalogModel, kind: str, catalog: Catalog, today: date) -> str | None:
    """What the catalog says of ``model`` on ``kind`` when that offer is retired, deprecated or legacy on ``today`` (else None).

    One sentence with the dates, the suggested replacement and the source, as the deployments file's
    ``LifecycleWarning`` gives it (the emulator reuses it for the retired offers it serves).
    """
    offer = model.offer(kind)
    status = offer.status(today) if offer else None
    if status not in (RETIRED, DEPRECATED, LEGACY):
        return None
    replacement = catalog.available_replacement(model.id, kind, today)
    instead = f"; suggested replacement: {replacement}" if replacement else ""
    if status == RETIRED:
        what = f"was retired on {offer.retired}: new {kind} deployments are not possible and existing ones stopped serving"
    elif status == DEPRECATED:
        what = f"is deprecated and retires on {offer.retired}" if offer.retired else "is deprecated"
    else:  # legacy: still deployable, but the end is published
        later = [f"{stage} on {day}" for stage, day in (("deprecated (no new deployments)", offer.deprecated), ("retired", offer.retired)) if day]
        what = f"is legacy since {offer.legacy}" + (f": {', '.join(later)}" if later else "")
    return f"{model.id} on {kind} {what}{instead} (source: {offer.source})"


def _warn_lifecycle(deployment: Deployment, model: CatalogModel, catalog: Catalog, today: date) -> None:
    note = lifecycle_note(model, deployment.kind, catalog, today)
    if note is not None:
        warnings.warn(LifecycleWarning(f"{deployment.source}: deployment {deployment.name!r}: {note}"), stacklevel=4)


_IN_MEMORY_KEY = "(a key given in memory)"  # stands in for a key the manifest could not record; never sent


def comparable_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A deployment as a manifest records it, read back through the typed loader and recorded again.

    ``--resume`` compares the deployments a run started with (JSON in manifest.json: a Decimal became
    the text '4.0') with those of the resumed command (Python values: Decimal('4.0')). Comparing the
    two as they are refuses a resume where nothing changed. Both sides are therefore passed through
    ``Compute`` / ``Quota`` / ``Deployment`` first, so they compare by value: '4.0' and 4 and
    Decimal('4.0') are one GPU-hour rate, key order does not matter, and a field an older manifest
    did not record takes its default as a fresh load would. A quota is compared by its limits (where
    it came from is not a setting). A record the loader refuses (written by another version) is
    returned as JSON values, so it differs from any valid deployment and the difference is shown.
    """
    raw = {k: v for k, v in record.items() if k not in ("header_names", "headers", "source", "key")}
    known = {f.name for f in fields(Deployment)} - {"source", "key", "headers"}
    where = f"manifest.json: deployment {raw.get('name')!r}"
    typed = {k: v for k, v in raw.items() if k in known}
    try:
        compute = typed.get("compute")
        if isinstance(compute, Mapping):
            typed["compute"] = _compute({k: v for k, v in compute.items() if v is not None}, where)
        quota = typed.get("quota")
        if isinstance(quota, Mapping):
            typed["quota"] = _quota({k: quota[k] for k in ("tpm", "rpm", "concurrency") if quota.get(k) is not None}, where)
        elif isinstance(quota, Quota):
            typed["quota"] = Quota(tpm=quota.tpm, rpm=quota.rpm, concurrency=quota.concurrency, source="deployments file")
        in_memory = typed.get("auth", "key") == "key" and not typed.get("key_env")
        deployment = Deployment(**typed, source="manifest.json", key=_IN_MEMORY_KEY if in_memory else None)
    except (ConfigError, TypeError):
        import json

        return json.loads(json.dumps(dict(record), default=str))
    out: dict[str, Any] = {f.name: getattr(deployment, f.name) for f in fields(Deployment) if f.name in known}
    for name in ("compute", "quota"):
        value = out[name]
        out[name] = None if value is None else {f.name: getattr(value, f.name) for f in fields(value) if f.name not in ("source", "as_of", "provenance")}
    out["header_names"] = sorted(record.get("header_names") or record.get("headers") or [])
    out.update({k: v for k, v in raw.items() if k not in known})  # a field this version does not know: compared as recorded
    return out


def load_deployments(path: str | Path | None = None, *, catalog: Catalog | None = None, today: date | None = None) -> DeploymentsConfig:
    """Read a deployments YAML file; with no path, use the AZURE_INFERENCE_* environment shortcut."""
    catalog = catalog or load_catalog()
    today = today or clock.today()
    if path is None:
        return DeploymentsConfig((deployment_from_env(catalog=catalog),), None)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"deployments file not found: {path}") from None
    try:
        raw = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:  # e.g. ReaderError: a control character in the file
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping) or "deployments" not in raw:
        raise ConfigError(f"{path}: expected a top-level 'deployments:' list (see data/deployments.example.yaml)")
    unknown = set(raw) - {"deployments"}
    if unknown:
        raise ConfigError(f"{path} line {_line_of(raw, sorted(unknown)[0])}: unknown top-level field(s) {sorted(unknown)}; only 'deployments' is read")
    items = raw["deployments"]
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path} line {_line_of(raw, 'deployments')}: 'deployments' must be a non-empty list")
    deployments = [_deployment(item, path, catalog, today) for item in items]
    seen: dict[str, Deployment] = {}
    for d in deployments:
        if d.name in seen:
            raise ConfigError(f"{d.source}: deployment name {d.name!r} is used twice (also at {seen[d.name].source}); names label reports and must be unique")
        seen[d.name] = d
    return DeploymentsConfig(tuple(deployments), path)


def deployment_from_env(*, catalog: Catalog | None = None, name: str = "default") -> Deployment:
    """The single deployment of the Azure docs' shortcut: AZURE_INFERENCE_ENDPOINT (+ _CREDENTIAL).

    With ``AZURE_INFERENCE_CREDENTIAL`` set, key auth; without it, Microsoft Entra ID
    (``DefaultAzureCredential``), which only managed compute accepts. ``LLAMA_EVAL_MODEL`` may name the
    catalog model so that model-specific checks (context window, images) apply.
    """
    endpoint = os.environ.get(ENDPOINT_ENV)
    if not endpoint:
        raise ConfigError(
            f"no deployments file given and {ENDPOINT_ENV} is not set; either export {ENDPOINT_ENV} and "
            f"{CREDENTIAL_ENV}, pass a deployments YAML file (see data/deployments.example.yaml), "
            "or run `llama-eval emulator` for a local endpoint"
        )
    model_id = os.environ.get(MODEL_ENV)
    if model_id:
        try:
            model_id = (catalog or load_catalog()).get(model_id).id
        except CatalogError as exc:
            raise ConfigError(f"{MODEL_ENV}: {exc}") from None
    host = (urlsplit(endpoint).hostname or "").lower()
    kind = "managed" if host.endswith(".inference.ml.azure.com") else "serverless"
    with_key = bool(os.environ.get(CREDENTIAL_ENV))
    if not with_key and kind == "serverless":
        raise ConfigError(
            f"{CREDENTIAL_ENV} is not set: serverless endpoints need a key (Entra ID is for managed compute only); export {CREDENTIAL_ENV}=<the endpoint's key>"
        )
    return Deployment(
        name=name,
        model=model_id,
        kind=kind,
        endpoint_env=ENDPOINT_ENV,
        auth="key" if with_key else "entra",
        key_env=CREDENTIAL_ENV if with_key else None,
        source="environment",
    )
