"""Refreshing the price tables from the public Azure Retail Prices API (``llama-eval prices update``).

The API (``https://prices.azure.com/api/retail/prices``, no authentication) answers OData ``$filter``
queries a page at a time (``NextPageLink``). We ask for pay-as-you-go (``priceType eq 'Consumption'``)
meters in USD of:

* ``serviceName eq 'Virtual Machines'`` for the GPU SKUs of ``data/compute_prices.csv``, keeping the
  Linux on-demand meter (Windows, Spot and Low Priority meters are skipped);
* ``serviceName eq 'Foundry Models'`` for Llama token meters, where Microsoft lists them (models
  sold directly by Azure; Marketplace models such as Llama-4-Scout have no meter there). A meter is
  matched to a catalog model by its id in the product/meter name, input or output by the meter name.
* provisioned throughput (PTU) meters of the models the catalog sells as provisioned: an hourly
  meter ("Provisioned" + the model's id, per hour, Global preferred) among the same Consumption
  items, and the 1-month and 1-year reservation meters (``priceType eq 'Reservation'``, whose
  ``retailPrice`` is the whole term per PTU). Where the API lists none for a model, ``ptu_notes`` says
  so — and which provisioned meters it did list for other products (Azure OpenAI's) — and the PTU
  price stays as ``ptu_prices.csv`` has it (there: an assumption).

Everything is fetched before anything is written, so an unreachable API leaves no half-written file.
The override files have the columns of the bundled tables, with the meter's effective date, the
query URL as source and today as ``checked``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from llama_eval import clock
from llama_eval.errors import PriceUpdateError

from .models import Catalog, load_catalog
from .prices import CHECKED_COLUMN, COMPUTE_PRICE_COLUMNS, PTU_PRICE_COLUMNS, TOKEN_PRICE_COLUMNS, ComputePrice, PriceBook, PtuPrice, TokenPrice

DEFAULT_API_URL = "https://prices.azure.com/api/retail/prices"
VM_SERVICE = "Virtual Machines"
MODELS_SERVICE = "Foundry Models"
MAX_PAGES = 200  # a runaway NextPageLink chain stops here
SKIPPED_VM_METERS = ("windows", "spot", "low priority")
SKIPPED_TOKEN_METERS = ("batch", "provisioned", "ptu", "cached", "cache", "fine", "training", "hosting", "data zone", "datazone", "regional")


@dataclass(frozen=True)
class PriceChange:
    """One row whose price differs from the table in use (old None: a row the table did not have)."""

    table: str  # "compute" or "token"
    key: str
    old: str | None
    new: str

    def __str__(self) -> str:
        return f"{self.table:7}  {self.key}: {self.old or 'none'} -> {self.new}"


@dataclass
class UpdateResult:
    """What ``update_prices`` fetched: the new rows, what changed, and what it could not find."""

    compute: list[ComputePrice] = field(default_factory=list)
    tokens: list[TokenPrice] = field(default_factory=list)
    changes: list[PriceChange] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    skipped_meters: int = 0
    pages: int = 0
    written: list[Path] = field(default_factory=list)
    ptu: list[PtuPrice] = field(default_factory=list)  # PTU prices learned from provisioned meters
    ptu_notes: list[str] = field(default_factory=list)  # what was, or was not, found for each provisioned model


def query_url(api_url: str, service: str, region: str, skus: Iterable[str] = (), price_type: str = "Consumption") -> str:
    """The API URL with its OData filter (pay-as-you-go meters of one service in one region; or its reservations)."""
    clauses = [f"serviceName eq '{service}'", f"armRegionName eq '{region}'", f"priceType eq '{price_type}'"]
    skus = list(skus)
    if skus:
        clauses.append("(" + " or ".join(f"armSkuName eq '{s}'" for s in skus) + ")")
    # USD is the API's default currency (rows are checked to be USD); `$filter` stays literal, as in Microsoft's examples
    return f"{api_url}?$filter={urllib.parse.quote(' and '.join(clauses))}"


def fetch_all(url: str, *, timeout_s: float = 30.0, opener: Callable[..., Any] = urllib.request.urlopen) -> tuple[list[dict[str, Any]], int]:
    """Every item of a query, following ``NextPageLink``; (items, pages). PriceUpdateError on any failure."""
    items: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        pages += 1
        if urllib.parse.urlsplit(next_url).scheme not in ("http", "https"):
            raise PriceUpdateError(f"refusing to follow {next_url!r}: only http(s) URLs; nothing was written")
        if pages > MAX_PAGES:
            raise PriceUpdateError(f"the Azure Retail Prices API returned more than {MAX_PAGES} pages for {url}; narrow the query; nothing was written")
        try:
            request = urllib.request.Request(next_url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked above
            with opener(request, timeout=timeout_s) as response:
                page = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")[:300].replace("\n", " ")
            raise PriceUpdateError(f"the Azure Retail Prices API answered HTTP {err.code} for {next_url}: {detail}; nothing was written") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise PriceUpdateError(f"cannot reach the Azure Retail Prices API at {next_url}: {reason}; nothing was written") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise PriceUpdateError(f"the Azure Retail Prices API sent something that is not JSON from {next_url}: {err}; nothing was written") from None
        if not isinstance(page, dict) or not isinstance(page.get("Items"), list):
            raise PriceUpdateError(f"unexpected answer from {next_url}: no 'Items' list; nothing was written")
        items.extend(i for i in page["Items"] if isinstance(i, dict))
        next_url = page.get("NextPageLink") or None
    return items, pages


def _text(item: dict[str, Any], *keys: str) -> str:
    return " ".join(str(item.get(k) or "") for k in keys).lower()


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and number >= 0 else None


def _effective(item: dict[str, Any], fallback: date) -> date:
    raw = str(item.get("effectiveStartDate") or "")[:10]
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return fallback


def is_linux_on_demand(item: dict[str, Any]) -> bool:
    """A Linux pay-as-you-go hourly VM meter in USD (not Windows, Spot or Low Priority)."""
    names = _text(item, "productName", "skuName", "meterName")
    return (
        not any(word in names for word in SKIPPED_VM_METERS)
        and str(item.get("type", "Consumption")) == "Consumption"
        and str(item.get("currencyCode", "USD")) == "USD"
        and "hour" in str(item.get("unitOfMeasure", "")).lower()
    )


_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([km]?)", re.IGNORECASE)


def tokens_per_unit(unit: str) -> Decimal | None:
    """Tokens in one billing unit: "1K" -> 1000, "1M" -> 1,000,000, "1000" -> 1000 (None: not a token unit)."""
    match = _UNIT.match(unit or "")
    if not match:
        return None
    scale = {"": 1, "k": 1000, "m": 1_000_000}[match.group(2).lower()]
    return Decimal(match.group(1)) * scale


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _core(model_id: str) -> str:
    """A model id as meter names may spell it: no punctuation, no "Meta-" prefix, no "Instruct" ("llama3370b")."""
    return _norm(model_id).removeprefix("meta").replace("instruct", "")


def _token_direction(item: dict[str, Any]) -> str | None:
    meter = _text(item, "meterName", "skuName")
    if re.search(r"\binp(ut)?\b", meter):
        return "input"
    if re.search(r"\boutp?(ut)?\b", meter):
        return "output"
    return None


def match_token_meters(items: list[dict[str, Any]], catalog: Catalog) -> tuple[dict[tuple[str, str], dict[str, Any]], int]:
    """{(model id, "input"|"output"): meter} for catalog models with a serverless offer; and how many meters were skipped.

    Several meters for one model and direction (global, regional...): the global one wins; if still
    ambiguous the model is left out rather than guessed.
    """
    ids = sorted((m.id for m in catalog if m.offer("serverless")), key=lambda i: len(_core(i)), reverse=True)  # longest first
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    skipped = 0
    for item in items:
        names = _text(item, "productName", "skuName", "meterName")
        if any(word in names for word in SKIPPED_TOKEN_METERS) or str(item.get("currencyCode", "USD")) != "USD":
            skipped += 1
            continue
        direction = _token_direction(item)
        haystack = _norm(names).replace("instruct", "")
        model = next((i for i in ids if _core(i) in haystack), None)
        if direction is None or model is None or tokens_per_unit(str(item.get("unitOfMeasure", ""))) is None:
            skipped += 1
            continue
        found.setdefault((model, direction), []).append(item)
    chosen = {}
    for key, candidates in found.items():
        preferred = [c for c in candidates if "glbl" in _text(c, "meterName", "skuName") or "global" in _text(c, "meterName", "skuName")] or candidates
        prices = {_per_1k(c) for c in preferred}
        if len(prices) == 1:
            chosen[key] = max(preferred, key=lambda c: str(c.get("effectiveStartDate") or ""))
    return chosen, skipped


def _per_1k(item: dict[str, Any]) -> Decimal | None:
    price, unit = _decimal(item.get("retailPrice", item.get("unitPrice"))), tokens_per_unit(str(item.get("unitOfMeasure", "")))
    if price is None or not unit:
        return None
    return (price * 1000 / unit).normalize()


def _is_provisioned(item: dict[str, Any]) -> bool:
    names = _text(item, "productName", "skuName", "meterName")
    return "provisioned" in names or re.search(r"\bptu\b", names) is not None


def _term_months(item: dict[str, Any]) -> int | None:
    """12 for a "1 Year" reservation, 1 for "1 Month" (None: not a reservation term we read)."""
    term = str(item.get("reservationTerm") or "").lower()
    return {"1 month": 1, "1 year": 12}.get(term)


def _prefer_global(candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The Global meter among several (Llama is sold as Global Provisioned only), else the only one; None if ambiguous."""
    preferred = [c for c in candidates if "global" in _text(c, "meterName", "skuName") or "glbl" in _text(c, "meterName", "skuName")] or candidates
    prices = {_decimal(c.get("retailPrice", c.get("unitPrice"))) for c in preferred}
    return max(preferred, key=lambda c: str(c.get("effectiveStartDate") or "")) if len(prices) == 1 else None


def learn_ptu_prices(hourly_items: list[dict[str, Any]], reservation_items: list[dict[str, Any]], catalog: Catalog, book: PriceBook, *,
                     region: str, source_url: str, today: date) -> tuple[list[PtuPrice], list[str]]:  # fmt: skip
    """PTU price rows for the catalog's provisioned models from the meters that name them, and a sentence per model on what was found.

    A row holds only what the API lists (an unlisted reservation term is left empty, not copied from the
    bundled assumption). Provisioned meters that name no catalog model (Azure OpenAI's PTU units) are
    listed in the note but never used for Llama.
    """
    rows, notes = [], []
    provisioned = [m for m in catalog if m.offer("provisioned") is not None]
    usd = [i for i in hourly_items if _is_provisioned(i) and str(i.get("currencyCode", "USD")) == "USD"]
    hourly = [i for i in usd if "hour" in str(i.get("unitOfMeasure", "")).lower()]
    reserved = [i for i in reservation_items if _is_provisioned(i) and _term_months(i) and str(i.get("currencyCode", "USD")) == "USD"]
    for model in provisioned:
        core = _core(model.id)
        mine = [i for i in hourly if core in _norm(_text(i, "productName", "skuName", "meterName")).replace("instruct", "")]
        terms = {n: [i for i in reserved if _term_months(i) == n and core in _norm(_text(i, "productName", "skuName", "meterName")).replace("instruct", "")]
                 for n in (1, 12)}  # fmt: skip
        hour, month, year = (_prefer_global(found) if found else None for found in (mine, terms[1], terms[12]))
        if hour is None and month is None and year is None:
            others = sorted({f"{i.get('meterName')!r} ({i.get('productName')}) ${_decimal(i.get('retailPrice', i.get('unitPrice')))}/hour" for i in hourly})
            listed = f"; provisioned meters it lists name no Llama model: {', '.join(others)}" if others else ""
            kept = book.ptu_price(model.id)
            stays = f"stays {kept.label} from {Path(kept.table).name}" if kept and kept.known else "stays unknown"
            notes.append(f"{model.id}: the API lists no provisioned (PTU) meter for it in {region}{listed}; its PTU price {stays}")
            continue
        price = lambda item: _decimal(item.get("retailPrice", item.get("unitPrice"))) if item else None  # noqa: E731
        found = [item for item in (hour, month, year) if item]
        offer = model.offer("provisioned")
        assert offer is not None and offer.provisioned is not None
        rows.append(PtuPrice(
            model=model.id,
            deployment_type=offer.provisioned.deployment_type,
            usd_per_ptu_hour=price(hour),
            usd_per_ptu_month_1m=price(month),
            usd_per_ptu_year_1y=price(year),
            currency="USD",
            effective_date=max(_effective(i, today) for i in found),
            source_url=source_url,
            note=f"Azure Retail Prices API meters {', '.join(repr(i.get('meterName')) for i in found)} ({region})",
            checked=today,
        ))  # fmt: skip
        missing = [name for name, item in (("hourly", hour), ("1-month reservation", month), ("1-year reservation", year)) if item is None]
        notes.append(f"{model.id}: learned its PTU price from the API" + (f"; not listed: {', '.join(missing)} (left empty)" if missing else ""))
    return rows, notes


def update_prices(
    book: PriceBook,
    *,
    region: str = "eastus",
    api_url: str = DEFAULT_API_URL,
    catalog: Catalog | None = None,
    today: date | None = None,
    timeout_s: float = 30.0,
) -> UpdateResult:
    """Fetch current VM and Llama token prices for ``region``; compare with ``book``. Writes nothing."""
    catalog = catalog or load_catalog()
    today = today or clock.today()
    result = UpdateResult()
    known_skus = {sku: price for (sku, _), price in sorted(book.compute_prices.items(), key=lambda kv: kv[0][1] == region)}  # this region's row wins
    vm_url = query_url(api_url, VM_SERVICE, region, known_skus)
    vm_items, pages = fetch_all(vm_url, timeout_s=timeout_s)
    token_url = query_url(api_url, MODELS_SERVICE, region)
    token_items, token_pages = fetch_all(token_url, timeout_s=timeout_s)
    reservation_url = query_url(api_url, MODELS_SERVICE, region, price_type="Reservation")
    reservation_items, reservation_pages = fetch_all(reservation_url, timeout_s=timeout_s)
    result.pages = pages + token_pages + reservation_pages

    by_sku: dict[str, dict[str, Any]] = {}
    for item in vm_items:
        sku = str(item.get("armSkuName") or "")
        if sku not in known_skus or str(item.get("armRegionName", region)) != region:
            continue
        if not is_linux_on_demand(item):
            result.skipped_meters += 1
            continue
        if sku not in by_sku or str(item.get("effectiveStartDate") or "") > str(by_sku[sku].get("effectiveStartDate") or ""):
            by_sku[sku] = item
    for sku, template in known_skus.items():
        item = by_sku.get(sku)
        price = _decimal(item.get("retailPrice", item.get("unitPrice"))) if item else None
        if item is None or price is None:
            result.missing.append(f"{sku} ({region})")
            continue
        row = replace(template, usd_per_hour=price, region=region, effective_date=_effective(item, today), source_url=vm_url, table="", checked=today)
        result.compute.append(row)
        old = book.compute_prices.get((sku, region))
        if old is None or old.usd_per_hour != price:
            result.changes.append(PriceChange("compute", f"{sku} ({region}) $/hour", str(old.usd_per_hour) if old else None, str(price)))

    meters, skipped = match_token_meters(token_items, catalog)
    result.skipped_meters += skipped
    for model in sorted({m for m, _ in meters}):
        inp, out = meters.get((model, "input")), meters.get((model, "output"))
        if inp is None or out is None:
            result.missing.append(f"{model} token meters (input and output)")
            continue
        new_in, new_out = _per_1k(inp), _per_1k(out)
        assert new_in is not None and new_out is not None
        row = TokenPrice(
            model=model,
            offer="serverless",
            input_per_1k=new_in,
            output_per_1k=new_out,
            currency="USD",
            effective_date=max(_effective(inp, today), _effective(out, today)),
            source_url=token_url,
            note=f"Azure Retail Prices API meters {inp.get('meterName')!r} / {out.get('meterName')!r} ({region})",
            checked=today,
        )
        result.tokens.append(row)
        old = book.token_price(model, "serverless")
        if old is None or (old.input_per_1k, old.output_per_1k) != (new_in, new_out):
            before = f"{old.input_per_1k}/{old.output_per_1k}" if old and old.known else None
            result.changes.append(PriceChange("token", f"{model} $/1K in/out", before, f"{new_in}/{new_out}"))

    result.ptu, result.ptu_notes = learn_ptu_prices(token_items, reservation_items, catalog, book, region=region, source_url=token_url, today=today)
    for row in result.ptu:
        old_ptu = book.ptu_price(row.model)
        new_text = f"{row.usd_per_ptu_hour}/{row.usd_per_ptu_month_1m}/{row.usd_per_ptu_year_1y}"
        old_text = f"{old_ptu.usd_per_ptu_hour}/{old_ptu.usd_per_ptu_month_1m}/{old_ptu.usd_per_ptu_year_1y}" if old_ptu else None
        if old_text != new_text or (old_ptu is not None and old_ptu.assumption):
            if old_text and old_ptu is not None and old_ptu.assumption:
                old_text += " (assumed)"
            result.changes.append(PriceChange("ptu", f"{row.model} $/PTU hour, 1-month, 1-year", old_text, new_text))
    return result


def _csv_text(columns: tuple[str, ...], rows: list[list[str]], header_comment: str) -> str:
    buffer = io.StringIO()
    buffer.write(header_comment)
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*columns, CHECKED_COLUMN])
    writer.writerows(rows)
    return buffer.getvalue()


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_overrides(result: UpdateResult, out_dir: str | Path, region: str) -> list[Path]:
    """Write ``compute_prices.<region>.csv`` and ``prices.<region>.csv`` (the latter only if a token meter matched)."""
    out = Path(out_dir)
    stamp = f"# Written by `llama-eval prices update` on {clock.now():%Y-%m-%d %H:%M} UTC from the Azure Retail Prices API.\n"
    compute_rows = [
        [p.sku, str(p.gpus), p.gpu_type, str(p.gpu_memory_gb), str(p.usd_per_hour), p.region, p.effective_date.isoformat(), p.source_url, str(p.checked_on)]
        for p in result.compute
    ]
    files = []
    if compute_rows:
        path = out / f"compute_prices.{region}.csv"
        comment = stamp + "# Linux pay-as-you-go VM meters; effective_date is the meter's effectiveStartDate. Use with --compute-prices.\n"
        _write_atomic(path, _csv_text(COMPUTE_PRICE_COLUMNS, compute_rows, comment))
        files.append(path)
    if result.tokens:
        token_rows = [
            [
                p.model,
                p.offer,
                str(p.input_per_1k),
                str(p.output_per_1k),
                p.currency,
                p.effective_date.isoformat(),
                p.source_url,
                p.note,
                p.checked_on.isoformat(),
            ]
            for p in result.tokens
        ]
        path = out / f"prices.{region}.csv"
        _write_atomic(path, _csv_text(TOKEN_PRICE_COLUMNS, token_rows, stamp + "# Llama token meters Microsoft lists (Foundry Models). Use with --prices.\n"))
        files.append(path)
    if result.ptu:
        ptu_rows = [
            [p.model, p.deployment_type, *("" if v is None else str(v) for v in (p.usd_per_ptu_hour, p.usd_per_ptu_month_1m, p.usd_per_ptu_year_1y)),
             p.currency, p.effective_date.isoformat(), p.source_url, p.note, "false", "", p.checked_on.isoformat()]
            for p in result.ptu
        ]  # fmt: skip
        path = out / f"ptu_prices.{region}.csv"
        comment = stamp + "# Llama provisioned (PTU) meters Microsoft lists; reservation prices are per PTU for the whole term. Use with --ptu-prices.\n"
        _write_atomic(path, _csv_text(PTU_PRICE_COLUMNS, ptu_rows, comment))
        files.append(path)
    result.written = files
    return files
