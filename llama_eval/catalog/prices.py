"""Price tables: serverless token prices, managed-compute VM-hour prices and PTU-hour prices, with provenance.

Prices are data (``data/prices.csv``, ``data/compute_prices.csv``, ``data/ptu_prices.csv``), never literals in code.
A PTU row may be an assumption (``assumption=true`` with a ``basis``): reports then print "est." beside it. A user
file (negotiated or regional rates) overrides rows of the default table and is validated the same
way. A model whose price is unknown has ``None`` prices — reports say "no price", never 0.
Prices are ``Decimal`` so that sums over many rows do not drift.

Prices age. Each row may carry a ``checked`` column (the day someone confirmed it against its source;
``effective_date`` when absent), and ``PriceBook.freshness`` says how old the prices in use are, with
a warning past ``STALE_AFTER_DAYS``. ``llama-eval prices update`` (``retail_prices.py``) refreshes
them from the Azure Retail Prices API into override files.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from llama_eval import clock
from llama_eval.errors import PriceTableError
from llama_eval.paths import data_dir
from llama_eval.records import MANAGED, PROVISIONED, SELF_HOSTED

from .models import OFFER_KINDS, Catalog, load_catalog

TOKEN_PRICE_COLUMNS = ("model", "offer", "input_per_1k", "output_per_1k", "currency", "effective_date", "source_url", "note")
COMPUTE_PRICE_COLUMNS = ("sku", "gpus", "gpu_type", "gpu_memory_gb", "usd_per_hour", "region", "effective_date", "source_url")
PTU_PRICE_COLUMNS = (
    "model", "deployment_type", "usd_per_ptu_hour", "usd_per_ptu_month_1m", "usd_per_ptu_year_1y", "currency", "effective_date", "source_url", "note",
    "assumption", "basis",
)  # fmt: skip
CHECKED_COLUMN = "checked"  # optional in both tables: the day the row was confirmed (default: effective_date)
STALE_AFTER_DAYS = 90


@dataclass(frozen=True)
class TokenPrice:
    """Price per 1,000 input and output tokens of one model on one offer (None: no price known)."""

    model: str
    offer: str
    input_per_1k: Decimal | None
    output_per_1k: Decimal | None
    currency: str
    effective_date: date
    source_url: str
    note: str = ""
    table: str = ""
    checked: date | None = None  # None: effective_date

    @property
    def checked_on(self) -> date:
        return self.checked or self.effective_date

    @property
    def known(self) -> bool:
        return self.input_per_1k is not None and self.output_per_1k is not None


@dataclass(frozen=True)
class ComputePrice:
    """Hourly list price of one VM SKU in one region."""

    sku: str
    gpus: int
    gpu_type: str
    gpu_memory_gb: int
    usd_per_hour: Decimal
    region: str
    effective_date: date
    source_url: str
    table: str = ""
    checked: date | None = None  # None: effective_date

    @property
    def checked_on(self) -> date:
        return self.checked or self.effective_date


@dataclass(frozen=True)
class PtuPrice:
    """What one PTU of a model's provisioned deployment costs: by the hour, and on 1-month and 1-year reservations.

    ``usd_per_ptu_month_1m`` is one PTU for a month on a 1-month reservation; ``usd_per_ptu_year_1y`` one
    PTU for a year on a 1-year reservation (None: not known). ``assumption``: no source gives this
    price for this model; ``basis`` says what stands in for it (reports print "est.").
    """

    model: str
    deployment_type: str
    usd_per_ptu_hour: Decimal | None
    usd_per_ptu_month_1m: Decimal | None
    usd_per_ptu_year_1y: Decimal | None
    currency: str
    effective_date: date
    source_url: str
    note: str = ""
    assumption: bool = False
    basis: str = ""
    table: str = ""
    checked: date | None = None  # None: effective_date

    @property
    def checked_on(self) -> date:
        return self.checked or self.effective_date

    @property
    def known(self) -> bool:
        return self.usd_per_ptu_hour is not None

    @property
    def label(self) -> str:
        """"$1.00/PTU-hour (est.)": the hourly price as reports show it, marked when assumed."""
        if self.usd_per_ptu_hour is None:
            return "no price"
        return f"${self.usd_per_ptu_hour:.2f}/PTU-hour" + (" (est.)" if self.assumption else "")


@dataclass(frozen=True)
class PriceFreshness:
    """How old the prices in use are: the oldest ``checked`` day of the token rows and of the VM rows."""

    on: date
    token_checked: date | None
    vm_checked: date | None

    @property
    def age_days(self) -> int | None:
        """Days since the older of the two tables was checked (None: no rows; negative: ``on`` is before
        the check, as with ``llama-eval models --on`` a past day)."""
        days = [(self.on - d).days for d in (self.token_checked, self.vm_checked) if d is not None]
        return max(days) if days else None

    @property
    def stale(self) -> bool:
        return self.age_days is not None and self.age_days > STALE_AFTER_DAYS

    @property
    def text(self) -> str:
        """E.g. "VM prices checked 2026-11-26 (5 days ago); token prices checked 2026-11-26 (5 days ago)". A table
        checked after ``on`` says so ("checked 2026-11-26, after 2026-05-01, the day asked about"): its age
        on that day is not a number of days ago."""
        parts = []
        for label, day in (("VM prices", self.vm_checked), ("token prices", self.token_checked)):
            if day is None:
                continue
            days = (self.on - day).days
            if days < 0:
                parts.append(f"{label} checked {day}, after {self.on}, the day asked about")
            else:
                parts.append(f"{label} checked {day} ({days} day{'' if days == 1 else 's'} ago)")
        return "; ".join(parts) or "no prices"

    @property
    def warning(self) -> str | None:
        """A sentence for reports and the CLI when a table is older than STALE_AFTER_DAYS, else None."""
        if not self.stale:
            return None
        return (
            f"prices are more than {STALE_AFTER_DAYS} days old ({self.text}): refresh them with "
            "`llama-eval prices update` and pass the files it writes with --prices / --compute-prices"
        )


def _rows(path: Path, columns: tuple[str, ...]) -> Iterable[tuple[int, dict[str, str]]]:
    """Yield (line number, row) from a CSV whose '#' lines are comments; check the header."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise PriceTableError(f"price file not found: {path}") from None
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise PriceTableError(f"{path}: no header row; expected columns {', '.join(columns)}")
    header_line, header = numbered[0]
    reader = csv.reader([line for _, line in numbered])
    fields = [f.strip() for f in next(reader)]
    missing = [c for c in columns if c not in fields]
    if missing:
        raise PriceTableError(f"{path} line {header_line}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}")
    for (line_no, _), values in zip(numbered[1:], reader, strict=True):
        if len(values) != len(fields):
            raise PriceTableError(f"{path} line {line_no}: expected {len(fields)} values, got {len(values)} (quote fields that contain commas)")
        yield line_no, {k: v.strip() for k, v in zip(fields, values, strict=True)}


def _decimal(value: str, where: str, column: str, *, optional: bool) -> Decimal | None:
    if value == "":
        if optional:
            return None
        raise PriceTableError(f"{where}: {column} is empty")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise PriceTableError(f"{where}: {column} {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise PriceTableError(f"{where}: {column} {value!r} must be a non-negative number")
    return number


def _date(value: str, where: str, column: str = "effective_date") -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PriceTableError(f"{where}: {column} {value!r} is not a date (YYYY-MM-DD)") from None


def _digest(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


class PriceBook:
    """Token prices and compute prices, keyed by (model, offer) and (sku, region)."""

    def __init__(self, token_prices: dict[tuple[str, str], TokenPrice], compute_prices: dict[tuple[str, str], ComputePrice], sources: list[Path],
                 ptu_prices: dict[str, PtuPrice] | None = None):  # fmt: skip
        self.token_prices = token_prices
        self.compute_prices = compute_prices
        self.ptu_prices = dict(ptu_prices or {})
        self.sources = sources
        self.digest = _digest(sources)

    def ptu_price(self, model: str) -> PtuPrice | None:
        """The PTU price row of a model's provisioned offer, or None when the table has none."""
        return self.ptu_prices.get(model)

    def token_price(self, model: str, offer: str = "serverless") -> TokenPrice | None:
        """The price row for a model's offer, or None when the table has no row for it."""
        return self.token_prices.get((model, offer))

    def freshness(self, on: date | None = None, *, region: str | None = None, models: list[str] | None = None, skus: list[str] | None = None) -> PriceFreshness:
        """How old the prices are on day ``on`` (default today, UTC): the oldest ``checked`` day among the rows
        in use, optionally only those of ``region`` / ``models`` / ``skus`` (what a report actually prices)."""
        on = on or clock.today()
        tokens = [p.checked_on for (model, _), p in self.token_prices.items() if p.known and (models is None or model in models)]
        vms = [p.checked_on for (sku, reg), p in self.compute_prices.items() if (region is None or reg == region) and (skus is None or sku in skus)]
        return PriceFreshness(on=on, token_checked=min(tokens) if tokens else None, vm_checked=min(vms) if vms else None)

    def price_age_days(self, on: date | None = None, **scope: object) -> int | None:
        """Days since the oldest price in use was checked (see ``freshness``)."""
        return self.freshness(on, **scope).age_days  # type: ignore[arg-type]

    def compute_price(self, sku: str, region: str = "eastus") -> ComputePrice:
        price = self.compute_prices.get((sku, region))
        if price is None:
            known = sorted({f"{s} ({r})" for s, r in self.compute_prices})
            raise PriceTableError(f"no compute price for SKU {sku!r} in region {region!r}; known: {', '.join(known)}")
        return price


def _load_token_prices(path: Path, catalog: Catalog) -> dict[tuple[str, str], TokenPrice]:
    prices: dict[tuple[str, str], TokenPrice] = {}
    for line_no, row in _rows(path, TOKEN_PRICE_COLUMNS):
        where = f"{path} line {line_no}"
        if row["model"] not in catalog:
            raise PriceTableError(f"{where}: unknown model {row['model']!r}{catalog.suggest(row['model'])}")
        model = catalog.get(row["model"]).id
        if row["offer"] not in OFFER_KINDS:
            raise PriceTableError(f"{where}: offer must be one of {OFFER_KINDS}, got {row['offer']!r}")
        key = (model, row["offer"])
        if key in prices:
            raise PriceTableError(f"{where}: duplicate row for {model} ({row['offer']}); keep one row per model and offer")
        input_price = _decimal(row["input_per_1k"], where, "input_per_1k", optional=True)
        output_price = _decimal(row["output_per_1k"], where, "output_per_1k", optional=True)
        if (input_price is None) != (output_price is None):
            raise PriceTableError(f"{where}: give both input_per_1k and output_per_1k, or leave both empty for 'no price'")
        if not row["currency"]:
            raise PriceTableError(f"{where}: currency is empty")
        prices[key] = TokenPrice(
            model=model,
            offer=row["offer"],
            input_per_1k=input_price,
            output_per_1k=output_price,
            currency=row["currency"],
            effective_date=_date(row["effective_date"], where),
            source_url=row["source_url"],
            note=row.get("note", ""),
            table=str(path),
            checked=_date(row[CHECKED_COLUMN], where, CHECKED_COLUMN) if row.get(CHECKED_COLUMN) else None,
        )
    return prices


def _load_compute_prices(path: Path) -> dict[tuple[str, str], ComputePrice]:
    prices: dict[tuple[str, str], ComputePrice] = {}
    for line_no, row in _rows(path, COMPUTE_PRICE_COLUMNS):
        where = f"{path} line {line_no}"
        key = (row["sku"], row["region"])
        if not row["sku"] or not row["region"]:
            raise PriceTableError(f"{where}: sku and region must not be empty")
        if key in prices:
            raise PriceTableError(f"{where}: duplicate row for {row['sku']} in {row['region']}")
        try:
            gpus, memory = int(row["gpus"]), int(row["gpu_memory_gb"])
        except ValueError:
            raise PriceTableError(f"{where}: gpus and gpu_memory_gb must be whole numbers") from None
        prices[key] = ComputePrice(
            sku=row["sku"],
            gpus=gpus,
            gpu_type=row["gpu_type"],
            gpu_memory_gb=memory,
            usd_per_hour=_decimal(row["usd_per_hour"], where, "usd_per_hour", optional=False),
            region=row["region"],
            effective_date=_date(row["effective_date"], where),
            source_url=row["source_url"],
            table=str(path),
            checked=_date(row[CHECKED_COLUMN], where, CHECKED_COLUMN) if row.get(CHECKED_COLUMN) else None,
        )
    return prices


_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0", "")


def _load_ptu_prices(path: Path, catalog: Catalog) -> dict[str, PtuPrice]:
    """PTU price rows, one per model with a provisioned offer; an assumed row must say its basis."""
    prices: dict[str, PtuPrice] = {}
    for line_no, row in _rows(path, PTU_PRICE_COLUMNS):
        where = f"{path} line {line_no}"
        if row["model"] not in catalog:
            raise PriceTableError(f"{where}: unknown model {row['model']!r}{catalog.suggest(row['model'])}")
        model = catalog.get(row["model"])
        if model.offer(PROVISIONED) is None:
            raise PriceTableError(f"{where}: {model.id} has no provisioned offer in the catalog (data/models.yaml); a PTU price for it cannot be used")
        if model.id in prices:
            raise PriceTableError(f"{where}: duplicate row for {model.id}; keep one PTU row per model")
        flag = row["assumption"].lower()
        if flag not in _TRUE + _FALSE:
            raise PriceTableError(f"{where}: assumption must be true or false, got {row['assumption']!r}")
        assumption = flag in _TRUE
        if assumption and not row["basis"]:
            raise PriceTableError(f"{where}: an assumed price needs a 'basis' saying what stands in for it and why")
        if not row["currency"]:
            raise PriceTableError(f"{where}: currency is empty")
        prices[model.id] = PtuPrice(
            model=model.id,
            deployment_type=row["deployment_type"],
            usd_per_ptu_hour=_decimal(row["usd_per_ptu_hour"], where, "usd_per_ptu_hour", optional=True),
            usd_per_ptu_month_1m=_decimal(row["usd_per_ptu_month_1m"], where, "usd_per_ptu_month_1m", optional=True),
            usd_per_ptu_year_1y=_decimal(row["usd_per_ptu_year_1y"], where, "usd_per_ptu_year_1y", optional=True),
            currency=row["currency"],
            effective_date=_date(row["effective_date"], where),
            source_url=row["source_url"],
            note=row.get("note", ""),
            assumption=assumption,
            basis=row["basis"],
            table=str(path),
            checked=_date(row[CHECKED_COLUMN], where, CHECKED_COLUMN) if row.get(CHECKED_COLUMN) else None,
        )
    return prices


def load_prices(
    token_overrides: str | Path | None = None,
    compute_overrides: str | Path | None = None,
    *,
    ptu_overrides: str | Path | None = None,
    catalog: Catalog | None = None,
    base_dir: str | Path | None = None,
) -> PriceBook:
    """The default price tables, with rows replaced (or added) by the override files if given.

    The bundled PTU table (``ptu_prices.csv``) is optional in ``base_dir``: without it no model has a
    PTU price. It is listed after the overrides in ``PriceBook.sources``.
    """
    catalog = catalog or load_catalog()
    base = Path(base_dir) if base_dir else data_dir()
    token_path, compute_path, ptu_path = base / "prices.csv", base / "compute_prices.csv", base / "ptu_prices.csv"
    sources = [token_path, compute_path]
    tokens = _load_token_prices(token_path, catalog)
    compute = _load_compute_prices(compute_path)
    if token_overrides:
        tokens.update(_load_token_prices(Path(token_overrides), catalog))
        sources.append(Path(token_overrides))
    if compute_overrides:
        compute.update(_load_compute_prices(Path(compute_overrides)))
        sources.append(Path(compute_overrides))
    ptu: dict[str, PtuPrice] = {}
    if ptu_path.is_file():
        ptu = _load_ptu_prices(ptu_path, catalog)
        sources.append(ptu_path)
    if ptu_overrides:
        ptu.update(_load_ptu_prices(Path(ptu_overrides), catalog))
        sources.append(Path(ptu_overrides))
    return PriceBook(tokens, compute, sources, ptu)


def load_prices_for_run(run_dir: str | Path, *, catalog: Catalog | None = None) -> PriceBook:
    """The price tables a run recorded in its manifest (overrides included), so a report prices it as the run did.

    The manifest lists the bundled tables first and any override after them; an override is told
    apart by its header (``model,...`` tokens, ``sku,...`` VM hours). A recorded override that no
    longer exists is an error naming it, not a silent fall-back to the bundled prices.
    """
    manifest_path = Path(run_dir) / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PriceTableError(f"no manifest.json in {run_dir}: not a run directory") from None
    tables = [Path(t) for t in (manifest.get("prices") or {}).get("tables", [])][2:]
    token_override = compute_override = ptu_override = None
    for table in tables:
        if not table.is_file():
            raise PriceTableError(f"the run was priced with {table}, which no longer exists; pass the table again or re-create it")
        header = next((line for line in table.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")), "")
        if header.startswith("sku"):
            compute_override = table
        elif "usd_per_ptu_hour" in header:  # a PTU override, or the bundled PTU table (listed after the overrides: loaded anyway)
            bundled = (data_dir() / "ptu_prices.csv").resolve()
            ptu_override = None if table.resolve() == bundled else table
        else:
            token_override = table
    return load_prices(token_override, compute_override, ptu_overrides=ptu_override, catalog=catalog)


THOUSAND = Decimal(1000)


@dataclass(frozen=True)
class RequestPrice:
    """The price that applies to one deployment's requests (None when tokens are not billed or unknown)."""

    price: TokenPrice | None
    reason: str = ""

    @property
    def known(self) -> bool:
        return self.price is not None and self.price.known

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal | None:
        """USD for this usage; None when there is no token price (never a silent zero)."""
        if not self.known:
            return None
        assert self.price is not None and self.price.input_per_1k is not None and self.price.output_per_1k is not None
        return Decimal(prompt_tokens) * self.price.input_per_1k / THOUSAND + Decimal(completion_tokens) * self.price.output_per_1k / THOUSAND


def price_for(prices: PriceBook, model: str | None, kind: str) -> RequestPrice:
    """The token price for a deployment's model and kind."""
    if kind == MANAGED:
        return RequestPrice(None, "managed compute is billed per VM-hour, not per token")
    if kind == SELF_HOSTED:
        return RequestPrice(None, "self-hosted: billed per GPU- or VM-hour, not per token")
    if kind == PROVISIONED:
        return RequestPrice(None, "provisioned throughput is billed per PTU-hour, not per token")
    if model is None:
        return RequestPrice(None, "no catalog model named for this deployment")
    price = prices.token_price(model, "serverless")
    if price is None or not price.known:
        note = f" ({price.note})" if price is not None and price.note else ""
        return RequestPrice(price, f"no price for {model}{note}")
    return RequestPrice(price)


def usd(value: Decimal | None, places: int = 6) -> str:
    """Dollars for display: 'no price' for None, never '0'."""
    if value is None:
        return "no price"
    return f"${value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)}"
