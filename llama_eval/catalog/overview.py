"""One table of every catalog model: what it is, where it can be deployed today, what it costs.

Used by ``llama-eval models`` and by the notebooks (``model_overview_frame``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from llama_eval import clock

from .models import Catalog, load_catalog
from .prices import PriceBook, load_prices


def _per_million(price: Decimal | None) -> str | None:
    """USD per 1M tokens as text (exact: a Decimal times 1000), or None for no price."""
    return None if price is None else format((price * 1000).normalize(), "f")


def _lifecycle(model: Any, kind: str, on: date) -> str:
    offer = model.offer(kind)
    if offer is None:
        return "-"
    status = offer.status(on)
    if status == "retired":
        return f"retired {offer.retired}"
    if status in ("deprecated", "legacy"):
        return f"{status}, retires {offer.retired}" if offer.retired else status
    return "GA"


def model_overview(on: date | None = None, *, catalog: Catalog | None = None, prices: PriceBook | None = None) -> list[dict[str, Any]]:
    """A row per catalog model, with lifecycle as of ``on`` (default today) and serverless prices."""
    on = on or clock.today()
    catalog = catalog or load_catalog()
    prices = prices or load_prices(catalog=catalog)
    rows = []
    for m in catalog:
        price = prices.token_price(m.id, "serverless")
        managed = m.offer("managed")
        rows.append(
            {
                "model": m.id,
                "family": m.family,
                "params_b": f"{m.parameters_b:g}" if m.active_parameters_b is None else f"{m.active_parameters_b:g}/{m.parameters_b:g}",
                "context": m.context_tokens,
                "max_output": m.max_output_tokens,
                "modality": m.modality,
                "serverless": _lifecycle(m, "serverless", on),
                "managed": _lifecycle(m, "managed", on),
                "input_usd_per_1m": _per_million(price.input_per_1k) if price else None,
                "output_usd_per_1m": _per_million(price.output_per_1k) if price else None,
                "replacement": catalog.available_replacement(m.id, "serverless", on)
                if m.status("serverless", on) in ("retired", "deprecated", "legacy")
                else None,
                "replacement_is_suggestion": catalog.replacement_is_suggestion(m.id, "serverless", on),
                "max_output_estimated": m.is_estimate("max_output_tokens"),
                "managed_sku": managed.recommended_sku if managed else None,
                "managed_sku_estimated": m.is_estimate("managed.recommended_sku") if managed and managed.recommended_sku else None,
                "quota_tpm": m.quota.tpm if m.quota else None,
                "quota_rpm": m.quota.rpm if m.quota else None,
                "quota_estimated": m.quota.is_estimate if m.quota else None,
                "unverified_extras": list(m.unverified_extras),
            }
        )
    return rows


def model_overview_frame(on: date | None = None, **kwargs: Any):
    """model_overview as a pandas DataFrame indexed by model id."""
    import pandas as pd

    return pd.DataFrame(model_overview(on, **kwargs)).set_index("model")
