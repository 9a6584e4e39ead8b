"""A local fake of the Azure Retail Prices API (no network): pages, Windows/Spot meters beside Linux, Llama token meters.

Used by the price-update tests and by the docs command runner (``llama-eval prices update`` as the
catalog guide shows it, pointed here through ``LLAMA_EVAL_RETAIL_PRICES_URL``).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def vm(sku: str, price: float, product: str = "Virtual Machines NCads A100 v4 Series", sku_name: str = "NC96ads A100 v4", meter: str | None = None) -> dict:
    return {
        "currencyCode": "USD",
        "retailPrice": price,
        "unitPrice": price,
        "armRegionName": "eastus",
        "armSkuName": sku,
        "productName": product,
        "skuName": sku_name,
        "meterName": meter or sku_name,
        "serviceName": "Virtual Machines",
        "unitOfMeasure": "1 Hour",
        "type": "Consumption",
        "effectiveStartDate": "2026-10-01T00:00:00Z",
    }


def tokens(meter: str, price: float, unit: str) -> dict:
    return {
        "currencyCode": "USD",
        "retailPrice": price,
        "armRegionName": "eastus",
        "productName": "Llama-4-Maverick-17B-128E-Instruct-FP8",
        "skuName": meter,
        "meterName": meter,
        "serviceName": "Foundry Models",
        "unitOfMeasure": unit,
        "type": "Consumption",
        "effectiveStartDate": "2026-09-15T00:00:00Z",
    }


VM_PAGES = [
    [
        vm("Standard_NC96ads_A100_v4", 15.5),  # changed: 14.692 in the bundled table
        vm("Standard_NC96ads_A100_v4", 21.3, product="Virtual Machines NCads A100 v4 Series Windows"),
        vm("Standard_NC96ads_A100_v4", 2.9, sku_name="NC96ads A100 v4 Spot"),
        vm("Standard_NC96ads_A100_v4", 2.1, sku_name="NC96ads A100 v4 Low Priority"),
    ],
    [
        vm("Standard_NC24ads_A100_v4", 3.673, sku_name="NC24ads A100 v4"),  # unchanged
        vm("Standard_ND96isr_H100_v5", 98.32, product="Virtual Machines ND H100 v5 Series", sku_name="ND96isr H100 v5"),
    ],
]
TOKEN_PAGES = [
    [
        tokens("Llama-4-Maverick-17B-128E-Instruct-FP8 Inp glbl", 0.00027, "1K"),  # changed: 0.00025
        tokens("Llama-4-Maverick-17B-128E-Instruct-FP8 Outp glbl", 1.1, "1M"),  # changed: 0.001 per 1K
        tokens("Llama-4-Maverick-17B-128E-Instruct-FP8 Batch Inp glbl", 0.0001, "1K"),  # batch: skipped
        {**tokens("gpt-4o-mini Inp glbl", 0.00015, "1K"), "productName": "Azure OpenAI"},  # not a Llama
        {**tokens("Llama 3.3 70B Inp glbl", 0.00071, "1K"), "productName": "Llama 3.3 70B"},  # spelled with spaces, unchanged
        {**tokens("Llama 3.3 70B Outp glbl", 0.71, "1M"), "productName": "Llama 3.3 70B"},
    ]
]


class FakeRetailPrices:
    """A stdlib HTTP server answering /api/retail/prices with pages chosen by the $filter's serviceName."""

    def __init__(self, token_pages: list[list[dict]] | None = None, reservation_pages: list[list[dict]] | None = None) -> None:
        self.queries: list[str] = []
        self.token_pages = token_pages or TOKEN_PAGES
        self.reservation_pages = reservation_pages or [[]]
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                fake.queries.append(self.path)
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if parts.path != "/api/retail/prices":
                    self.send_error(404)
                    return
                flt = query.get("$filter", [""])[0]
                pages = VM_PAGES if "Virtual Machines" in flt else fake.reservation_pages if "'Reservation'" in flt else fake.token_pages
                page = int(query.get("page", ["0"])[0])
                body = {"BillingCurrency": "USD", "Items": pages[page], "NextPageLink": None, "Count": len(pages[page])}
                if page + 1 < len(pages):
                    body["NextPageLink"] = f"http://127.0.0.1:{fake.port}/api/retail/prices?{parts.query}&page={page + 1}"
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/retail/prices"

    def __enter__(self) -> FakeRetailPrices:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
