"""What else changed between two runs, from their manifests: prompts, prices, deployments, models, parameters, versions.

Each difference is a ``Change`` (area, what, A's value, B's value). Price tables are compared by
digest and, when the digests differ, row by row for the models the runs used; models by the id a
deployment names, the model the service answered as (the rows' ``model``) and the lifecycle stage
of its offer in the catalog on the day each run started.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from llama_eval.catalog.models import load_catalog
from llama_eval.catalog.prices import PriceBook
from llama_eval.rundir.run import Run

from .cost import price_rows_changed, price_tables
from .result import Change, PromptMatch

IGNORED_DEPLOYMENT_FIELDS = ("endpoint",)  # where it was reached (an emulator's port changes every time), not what it is


def _text(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _diff(area: str, prefix: str, a: Mapping[str, Any], b: Mapping[str, Any], skip: tuple[str, ...] = ()) -> list[Change]:
    return [Change(area, f"{prefix}{k}", _text(a.get(k)), _text(b.get(k))) for k in sorted(set(a) | set(b)) if k not in skip and a.get(k) != b.get(k)]


def _configs(fingerprint: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per deployment name, its configuration as the run's fingerprint recorded it (not the runner's measurement facts)."""
    return {str(r["name"]): dict(r) for r in fingerprint.get("deployments") or [] if isinstance(r, Mapping) and r.get("name")}


def _day(run: Run) -> date | None:
    try:
        return date.fromisoformat(str(run.manifest.started_at or run.manifest.created_at)[:10])
    except ValueError:
        return None


def _answered_as(run: Run, name: str) -> str:
    models = sorted({r.model for r in run.rows if r.deployment == name and r.model})
    return ", ".join(models) or "-"


def _lifecycle(model: str | None, kind: str | None, on: date | None) -> str:
    catalog = load_catalog()
    if not model or model not in catalog or on is None:
        return "-"
    return catalog.get(model).status(kind or "serverless", on) or "not offered"


def what_changed(run_a: Run, run_b: Run, match: PromptMatch, prices_a: PriceBook | None, prices_b: PriceBook | None) -> list[Change]:
    """Every difference between the runs' set-up (not their results), in the order a reader checks them."""
    ma, mb = run_a.manifest, run_b.manifest
    out: list[Change] = []
    if ma.prompt_set.sha256 != mb.prompt_set.sha256:
        out.append(Change("prompts", "prompt set", f"{ma.prompt_set.path} ({ma.prompt_set.items} prompts, {str(ma.prompt_set.sha256)[:12]})",
                          f"{mb.prompt_set.path} ({mb.prompt_set.items} prompts, {str(mb.prompt_set.sha256)[:12]})"))  # fmt: skip
    if match.changed:
        listed = ", ".join(match.changed[:20]) + (" ..." if len(match.changed) > 20 else "")
        out.append(Change("prompts", "prompts changed (same id, other content)", "", listed))
    if match.only_a or match.only_b:
        out.append(Change("prompts", "prompts in one run only", f"{len(match.only_a)} only in A", f"{len(match.only_b)} only in B"))
    if ma.price_digest != mb.price_digest:
        tables_a = price_tables(prices_a) if prices_a else ", ".join(ma.price_tables)
        tables_b = price_tables(prices_b) if prices_b else ", ".join(mb.price_tables)
        out.append(Change("prices", "price tables (digest)", f"{ma.price_digest} ({tables_a})", f"{mb.price_digest} ({tables_b})"))
        if prices_a is not None and prices_b is not None:
            models = {str(d.get("model")) for d in (*ma.deployments.values(), *mb.deployments.values()) if d.get("model")}
            out += [Change("prices", f"price of {row}", a, b) for row, a, b in price_rows_changed(prices_a, prices_b, models)]
    config_a, config_b = _configs(ma.fingerprint), _configs(mb.fingerprint)
    names_a, names_b = set(ma.deployments), set(mb.deployments)
    out += [Change("deployment", f"deployment {n}", "present", "absent") for n in sorted(names_a - names_b)]
    out += [Change("deployment", f"deployment {n}", "absent", "present") for n in sorted(names_b - names_a)]
    day_a, day_b = _day(run_a), _day(run_b)
    for name in sorted(names_a & names_b):
        da, db = ma.deployments[name], mb.deployments[name]
        out += _diff("deployment", f"{name}: ", config_a.get(name, {}), config_b.get(name, {}), skip=("model", *IGNORED_DEPLOYMENT_FIELDS))
        if da.get("model") != db.get("model"):
            out.append(Change("model", f"{name}: model", _text(da.get("model")), _text(db.get("model"))))
        served_a, served_b = _answered_as(run_a, name), _answered_as(run_b, name)
        if served_a != served_b:
            out.append(Change("model", f"{name}: answered as", served_a, served_b))
        life_a, life_b = _lifecycle(da.get("model"), da.get("kind"), day_a), _lifecycle(db.get("model"), db.get("kind"), day_b)
        if life_a != life_b:
            out.append(Change("model", f"{name}: lifecycle of its offer", f"{life_a} on {day_a}", f"{life_b} on {day_b}"))
    out += _diff("parameters", "", ma.params, mb.params)
    out += _diff("versions", "", ma.versions, mb.versions)
    return out
