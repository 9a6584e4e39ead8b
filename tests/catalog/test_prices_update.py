"""`llama-eval prices update` against a local fake of the Azure Retail Prices API (no network).

The fake pages its answers (NextPageLink), lists Windows, Spot and Low Priority meters beside the
Linux one, changes two prices, and lists Llama token meters the way the Foundry Models service does.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from _support.retail_fake import TOKEN_PAGES, FakeRetailPrices, tokens
from llama_eval import clock, load_prices
from llama_eval.catalog.prices import COMPUTE_PRICE_COLUMNS, TOKEN_PRICE_COLUMNS

CLI = [str(Path(sys.executable).parent / "llama-eval")]
L33 = "Llama-3.3-70B-Instruct"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def fake():
    with FakeRetailPrices() as server:
        yield server


def test_update_writes_overrides_skipping_windows_and_spot(fake, tmp_path):
    ran_from = clock.today()
    out = cli("prices", "update", "--api-url", fake.url, "--out", str(tmp_path), "--region", "eastus")
    ran_to = clock.today()  # the update ran on one of these days (two only across midnight)
    assert out.returncode == 0, out.stderr
    compute_file, token_file = tmp_path / "compute_prices.eastus.csv", tmp_path / "prices.eastus.csv"
    assert compute_file.is_file() and token_file.is_file()
    # the query is the documented one, and every page was read
    vm_queries = [q for q in fake.queries if "Virtual+Machines" in q or "Virtual%20Machines" in q]
    assert any("page=1" in q for q in vm_queries), "NextPageLink was followed"
    first = parse_qs(urlsplit(vm_queries[0]).query)["$filter"][0]
    assert "armRegionName eq 'eastus'" in first and "priceType eq 'Consumption'" in first and "armSkuName eq 'Standard_NC96ads_A100_v4'" in first

    book = load_prices(token_file, compute_file)
    nc96 = book.compute_price("Standard_NC96ads_A100_v4")
    assert nc96.usd_per_hour == Decimal("15.5"), "the Linux meter, not Windows (21.3), Spot (2.9) or Low Priority (2.1)"
    assert str(nc96.effective_date) == "2026-10-01" and nc96.source_url.startswith(fake.url)
    assert "$filter=serviceName%20eq%20%27Virtual%20Machines%27" in nc96.source_url, "the query URL is the source"
    assert nc96.gpus == 4 and nc96.gpu_type == "A100 80GB", "hardware columns kept from the bundled table"
    assert book.compute_price("Standard_NC24ads_A100_v4").usd_per_hour == Decimal("3.673")
    maverick = book.token_price("Llama-4-Maverick-17B-128E-Instruct-FP8")
    assert (maverick.input_per_1k, maverick.output_per_1k) == (Decimal("0.00027"), Decimal("0.0011")), "1M units converted to per 1K; batch meter skipped"
    l33 = book.token_price(L33)
    assert (l33.input_per_1k, l33.output_per_1k) == (Decimal("0.00071"), Decimal("0.00071")) and l33.table == str(token_file), "matched by name"
    # the rows it wrote are checked on the day it ran; the bundled rows it did not return keep their own day
    updated = book.freshness(region="eastus", skus=["Standard_NC96ads_A100_v4"], models=["Llama-4-Maverick-17B-128E-Instruct-FP8"])
    assert ran_from <= updated.vm_checked == updated.token_checked <= ran_to, updated
    assert f"on {updated.vm_checked} " in compute_file.read_text().splitlines()[0], "the file says when it was written"

    header = next(line for line in compute_file.read_text().splitlines() if not line.startswith("#"))
    assert header.split(",") == [*COMPUTE_PRICE_COLUMNS, "checked"]
    header = next(line for line in token_file.read_text().splitlines() if not line.startswith("#"))
    assert header.split(",") == [*TOKEN_PRICE_COLUMNS, "checked"]

    lines = out.stdout.splitlines()
    assert any("Standard_NC96ads_A100_v4 (eastus) $/hour: 14.692 -> 15.5" in line for line in lines), out.stdout
    assert any("Llama-4-Maverick-17B-128E-Instruct-FP8 $/1K in/out: 0.00025/0.001 -> 0.00027/0.0011" in line for line in lines), out.stdout
    changed = [line for line in lines if line.lstrip().startswith("changed")]
    assert not any("Standard_NC24ads_A100_v4 (eastus) $/hour" in line or L33 in line for line in changed), "unchanged rows are not listed as changes"
    assert "not listed by the API: Standard_NC4as_T4_v3 (eastus)" in out.stdout, "a SKU the API did not return is said, not invented"


def test_unreachable_api_is_one_line_and_writes_nothing(tmp_path):
    with FakeRetailPrices() as dead:
        url = dead.url
    out = cli("prices", "update", "--api-url", url, "--out", str(tmp_path / "p"), "--timeout", "5")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    assert "cannot reach the Azure Retail Prices API" in out.stderr and "nothing was written" in out.stderr
    assert not (tmp_path / "p").exists()


def test_an_http_error_is_one_line_too(fake, tmp_path):
    out = cli("prices", "update", "--api-url", fake.url.replace("/api/retail/prices", "/wrong"), "--out", str(tmp_path / "p"))
    assert out.returncode == 2 and "HTTP 404" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "p").exists()


def test_cost_uses_the_updated_vm_price(fake, tmp_path, monkeypatch):
    from llama_eval import Deployment
    from llama_eval.emulator import start_emulator
    from llama_eval.prompts.prompt_set import load_prompt_set
    from llama_eval.run import RunParams, run_evaluation

    assert cli("prices", "update", "--api-url", fake.url, "--out", str(tmp_path / "p")).returncode == 0
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"id": "a", "prompt": "What is 2 + 2?", "reference": "4", "scorer": "numeric"}\n')
    with start_emulator(time_scale=0, models=[L33]) as emu:
        monkeypatch.setenv("EMU_KEY", emu.key)
        dep = Deployment(name="l33", model=L33, kind="serverless", endpoint=emu.deployment_url(L33), key_env="EMU_KEY")
        run_evaluation([dep], load_prompt_set(prompts), tmp_path / "r", RunParams(max_tokens=20), progress="none")
    before = cli("cost", str(tmp_path / "r"), "--requests-per-day", "1000")
    after = cli("cost", str(tmp_path / "r"), "--requests-per-day", "1000", "--compute-prices", str(tmp_path / "p" / "compute_prices.eastus.csv"))
    assert before.returncode == 0 and after.returncode == 0, after.stderr
    assert "$10,725.16" in before.stdout, "bundled: 14.692 $/h x 730 h"
    assert "$11,315.00" in after.stdout and "$10,725.16" not in after.stdout, "updated: 15.5 $/h x 730 h"


def test_models_says_how_old_prices_are(tmp_path):
    out = cli("models", "--on", "2026-11-26")
    assert "VM prices checked 2026-11-26 (0 days ago)" in out.stdout and "warning:" not in out.stdout
    maverick = next(line for line in out.stdout.splitlines() if line.startswith("Llama-4-Maverick"))
    assert "16384 est." in maverick and "ND96isr_H100_v5 est." in maverick, "assumptions are marked where they are shown"
    row_405 = next(line for line in out.stdout.splitlines() if line.startswith("Meta-Llama-3.1-405B-Instruct "))
    assert "Llama-4-Maverick-17B-128E-Instruct-FP8 (suggested)" in row_405, "our replacement, not Microsoft's"
    old = cli("models", "--on", "2027-06-01")
    assert "warning: prices are more than 90 days old" in old.stdout and "llama-eval prices update" in old.stdout


# ------------------------------------------------------------------------ provisioned throughput (PTU) meters

AOAI_PTU = {**tokens("Provisioned Managed Global Unit", 1.0, "1 Hour"), "productName": "Azure OpenAI", "skuName": "Provisioned Managed Global"}


def ptu_meter(meter: str, price: float, unit: str = "1 Hour", term: str | None = None) -> dict:
    item = {**tokens(meter, price, unit), "productName": "Llama-3.3-70B-Instruct Provisioned", "skuName": meter}
    if term:
        item.update(type="Reservation", reservationTerm=term, productName="Azure AI Foundry Provisioned Throughput Reservation")
    return item


def test_without_a_llama_ptu_meter_the_update_says_so_and_keeps_the_assumed_price(fake, tmp_path):
    """The bundled fake lists no provisioned meter: nothing is learned, the sentence says what stays."""
    with FakeRetailPrices([[*TOKEN_PAGES[0], AOAI_PTU]]) as server:
        out = cli("prices", "update", "--api-url", server.url, "--out", str(tmp_path))
        reservations = [q for q in server.queries if "Reservation" in q]
    assert out.returncode == 0, out.stderr
    assert reservations, "the reservation meters were asked for"
    line = next(line for line in out.stdout.splitlines() if "provisioned  Llama-3.3-70B-Instruct" in line)
    assert "the API lists no provisioned (PTU) meter for it in eastus" in line
    assert "'Provisioned Managed Global Unit' (Azure OpenAI) $1.0/hour" in line, "other products' PTU meters are named, not used"
    assert "its PTU price stays $1.00/PTU-hour (est.) from ptu_prices.csv" in line
    assert "0 Llama PTU price(s)" in out.stdout and not (tmp_path / "ptu_prices.eastus.csv").exists()


def test_llama_ptu_meters_are_learned_hourly_and_per_reservation_term(tmp_path):
    """An hourly Global meter ($2.00/PTU-hour) beside a Data Zone one, and 1-month / 1-year reservations (whole term per PTU)."""
    hourly = [ptu_meter("Llama-3.3-70B-Instruct Provisioned Global", 2.0), ptu_meter("Llama-3.3-70B-Instruct Provisioned Data Zone", 2.2), AOAI_PTU]
    meter = "Llama-3.3-70B-Instruct Provisioned Global"
    reserved = [ptu_meter(meter, 1400, term="1 Month"), ptu_meter(meter, 14000, term="1 Year")]
    with FakeRetailPrices([[*TOKEN_PAGES[0], *hourly]], [reserved]) as server:
        out = cli("prices", "update", "--api-url", server.url, "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    ptu_file = tmp_path / "ptu_prices.eastus.csv"
    assert f"--ptu-prices {ptu_file}" in out.stdout and "1 Llama PTU price(s)" in out.stdout
    assert "Llama-3.3-70B-Instruct $/PTU hour, 1-month, 1-year: 1.00/260/2652 (assumed) -> 2.0/1400/14000" in out.stdout
    price = load_prices(ptu_overrides=ptu_file).ptu_price(L33)
    assert (price.usd_per_ptu_hour, price.usd_per_ptu_month_1m, price.usd_per_ptu_year_1y) == (Decimal("2.0"), Decimal("1400"), Decimal("14000"))
    assert not price.assumption and price.source_url.startswith(server.url) and "Provisioned Global" in price.note
    tokens_row = load_prices(token_overrides=tmp_path / "prices.eastus.csv").token_price(L33)
    assert tokens_row.input_per_1k == Decimal("0.00071"), "provisioned meters are not read as token prices"


def test_the_command_line_default_is_the_library_default(monkeypatch):
    """cli/prices.py repeats the public URL so `--help` stays fast; the two must not drift apart."""
    from llama_eval.catalog import retail
    from llama_eval.cli import prices

    assert prices.DEFAULT_API_URL == retail.DEFAULT_API_URL
    monkeypatch.setenv(prices.API_URL_ENV, "http://127.0.0.1:9/api/retail/prices")
    out = cli("prices", "update", "--out", "unused-never-written", "--timeout", "2")
    assert out.returncode == 2 and "127.0.0.1:9" in out.stderr, "the environment variable is the default --api-url"
