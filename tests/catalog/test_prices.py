"""Price tables: sourced rows, 'no price' kept as None, overrides validated like the default."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from llama_eval import PriceTableError, load_catalog, load_prices
from llama_eval.paths import data_dir


def test_default_tables_load_with_provenance():
    book = load_prices()
    p = book.token_price("Meta-Llama-3.1-405B-Instruct")
    assert (p.input_per_1k, p.output_per_1k, p.currency) == (Decimal("0.00533"), Decimal("0.016"), "USD")
    assert p.source_url.startswith("https://") and p.effective_date.year == 2026
    assert book.compute_price("Standard_NC24ads_A100_v4").usd_per_hour == Decimal("3.673")
    assert len(book.digest) == 16


def test_every_serverless_model_has_a_row_and_unknown_prices_stay_unknown():
    book = load_prices()
    for m in load_catalog():
        if m.offer("serverless"):
            assert book.token_price(m.id) is not None, m.id
    for model in ("Llama-2-7b-chat", "Llama-2-70b-chat", "Meta-Llama-3-70B-Instruct"):
        price = book.token_price(model)
        assert not price.known and price.input_per_1k is None, "no price must never become a silent zero"
        assert price.note


def test_recommended_skus_have_compute_prices():
    book = load_prices()
    for m in load_catalog():
        sku = m.offer("managed").recommended_sku
        assert book.compute_price(sku).usd_per_hour > 0, m.id


def test_docs_example_cost_is_exact():
    # Azure docs: 19 prompt + 72 completion tokens on Meta-Llama-3.1-405B-Instruct.
    p = load_prices().token_price("Meta-Llama-3.1-405B-Instruct")
    cost = Decimal(19) / 1000 * p.input_per_1k + Decimal(72) / 1000 * p.output_per_1k
    assert cost == Decimal("0.00125327")  # 0.00010127 + 0.001152


def test_override_replaces_a_row_and_is_recorded(tmp_path):
    override = tmp_path / "negotiated.csv"
    override.write_text(
        "model,offer,input_per_1k,output_per_1k,currency,effective_date,source_url,note\n"
        "Llama-3.3-70B-Instruct,serverless,0.0005,0.0005,USD,2026-11-01,https://contract.example/123,negotiated\n"
    )
    book = load_prices(override)
    p = book.token_price("Llama-3.3-70B-Instruct")
    assert p.input_per_1k == Decimal("0.0005") and p.table == str(override)
    assert book.token_price("Meta-Llama-3.1-8B-Instruct").table.endswith("prices.csv")
    assert override in book.sources and book.digest != load_prices().digest


HEADER = "model,offer,input_per_1k,output_per_1k,currency,effective_date,source_url,note\n"


@pytest.mark.parametrize(
    "row, message",
    [
        ("Llama-9-Mega,serverless,1,1,USD,2026-01-01,u,n\n", r"line 2: unknown model 'Llama-9-Mega'"),
        ("Llama-3.3-70B-Instruct,serverless,-1,1,USD,2026-01-01,u,n\n", r"line 2: input_per_1k '-1' must be a non-negative number"),
        ("Llama-3.3-70B-Instruct,serverless,abc,1,USD,2026-01-01,u,n\n", r"line 2: input_per_1k 'abc' is not a number"),
        ("Llama-3.3-70B-Instruct,serverless,1,,USD,2026-01-01,u,n\n", r"line 2: give both input_per_1k and output_per_1k"),
        ("Llama-3.3-70B-Instruct,payg,1,1,USD,2026-01-01,u,n\n", r"line 2: offer must be one of"),
        ("Llama-3.3-70B-Instruct,serverless,1,1,USD,26/11/2026,u,n\n", r"line 2: effective_date '26/11/2026' is not a date"),
        ("Llama-3.3-70B-Instruct,serverless,1,1,USD,2026-01-01,u\n", r"line 2: expected 8 values, got 7"),
        ("Llama-3.3-70B-Instruct,serverless,1,1,USD,2026-01-01,u,n\nLlama-3.3-70B-Instruct,serverless,2,2,USD,2026-01-01,u,n\n", r"line 3: duplicate row"),
    ],
)
def test_malformed_override_names_the_row(tmp_path, row, message):
    path = tmp_path / "p.csv"
    path.write_text(HEADER + row)
    with pytest.raises(PriceTableError, match=message):
        load_prices(path)


def test_missing_column_is_named(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("model,offer,input_per_1k\nx,serverless,1\n")
    with pytest.raises(PriceTableError, match="missing column\\(s\\) output_per_1k"):
        load_prices(path)


def test_compute_override_and_unknown_sku(tmp_path):
    path = tmp_path / "c.csv"
    header = next(line for line in (data_dir() / "compute_prices.csv").read_text().splitlines() if line.startswith("sku,"))
    path.write_text(header + "\nStandard_NC24ads_A100_v4,1,A100 80GB,80,2.50,eastus,2026-11-01,https://contract,2026-11-02\n")
    book = load_prices(compute_overrides=path)
    assert book.compute_price("Standard_NC24ads_A100_v4").usd_per_hour == Decimal("2.50")
    assert book.compute_price("Standard_NC24ads_A100_v4").checked_on == date(2026, 11, 2)
    with pytest.raises(PriceTableError, match="no compute price for SKU 'Standard_Z1'"):
        book.compute_price("Standard_Z1")


def test_freshness_says_how_old_prices_are_and_warns_after_90_days():
    book = load_prices()
    fresh = book.freshness(date(2026, 12, 1))
    assert fresh.vm_checked == date(2026, 11, 26) and fresh.token_checked == date(2026, 11, 26)
    assert fresh.age_days == 5 and not fresh.stale and fresh.warning is None
    assert "VM prices checked 2026-11-26 (5 days ago)" in fresh.text
    old = book.freshness(date(2027, 3, 1))
    assert old.stale and old.age_days == 95 and "llama-eval prices update" in old.warning
    assert book.price_age_days(date(2027, 2, 24)) == 90 and not book.freshness(date(2027, 2, 24)).stale, "90 days is not yet 'older than 90'"


def test_a_day_before_the_check_is_said_in_words_not_as_negative_days_ago(capsys):
    """``llama-eval models --on`` a past day: the tables were checked after it, which "-209 days ago" garbles."""
    from llama_eval.cli import main

    book = load_prices()
    checked = book.freshness().vm_checked
    before = checked - timedelta(days=209)
    fresh = book.freshness(before)
    assert fresh.age_days == -209 and not fresh.stale and fresh.warning is None
    assert f"VM prices checked {checked}, after {before}, the day asked about" in fresh.text
    assert "ago" not in fresh.text and "-209" not in fresh.text
    assert f"checked {checked} (1 day ago)" in book.freshness(checked + timedelta(days=1)).text
    assert main(["models", "--on", before.isoformat()]) == 0
    out = capsys.readouterr().out
    assert f"serverless ({before})" in out and f"checked {checked}, after {before}, the day asked about" in out and "days ago" not in out


def test_freshness_follows_the_rows_in_use(tmp_path):
    path = tmp_path / "c.csv"
    header = next(line for line in (data_dir() / "compute_prices.csv").read_text().splitlines() if line.startswith("sku,"))
    path.write_text(header + "\nStandard_NC24ads_A100_v4,1,A100 80GB,80,2.50,eastus,2020-01-01,https://old,2020-01-01\n")
    book = load_prices(compute_overrides=path)
    assert book.freshness(date(2026, 11, 26)).vm_checked == date(2020, 1, 1), "the oldest row in use decides"
    assert book.freshness(date(2026, 11, 26), region="westus").vm_checked == date(2026, 11, 26), "scoped to what a report prices"


def test_bad_checked_date_names_the_row(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(HEADER.strip() + ",checked\nLlama-3.3-70B-Instruct,serverless,1,1,USD,2026-01-01,u,n,yesterday\n")
    with pytest.raises(PriceTableError, match="line 2: checked 'yesterday' is not a date"):
        load_prices(path)


def test_prices_for_run_reload_the_overrides_the_run_used(tmp_path):
    import json

    from llama_eval.catalog.prices import load_prices_for_run

    header = next(line for line in (data_dir() / "compute_prices.csv").read_text().splitlines() if line.startswith("sku,"))
    compute = tmp_path / "c.csv"
    compute.write_text(header + "\nStandard_NC24ads_A100_v4,1,A100 80GB,80,2.50,eastus,2026-11-01,https://contract,2026-11-02\n")
    book = load_prices(compute_overrides=compute)
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"prices": {"digest": book.digest, "tables": [str(p) for p in book.sources]}}))
    again = load_prices_for_run(run)
    assert again.digest == book.digest and again.compute_price("Standard_NC24ads_A100_v4").usd_per_hour == Decimal("2.50")
    compute.unlink()
    with pytest.raises(PriceTableError, match="which no longer exists"):
        load_prices_for_run(run)


def test_report_states_price_age_and_warns_when_a_table_in_use_is_stale(tmp_path):
    """The cost section says how old the prices are; an override checked long ago gets the warning."""
    import json

    from llama_eval.report.cost import price_age_line

    header = next(line for line in (data_dir() / "compute_prices.csv").read_text().splitlines() if line.startswith("sku,"))
    compute = tmp_path / "c.csv"
    compute.write_text(header + "\nStandard_NC24ads_A100_v4,1,A100 80GB,80,2.50,eastus,2025-01-01,https://contract,2025-01-02\n")
    book = load_prices(compute_overrides=compute)
    run = tmp_path / "run"
    run.mkdir()
    manifest = {
        "prices": {"digest": book.digest, "tables": [str(p) for p in book.sources]},
        "fingerprint": {"deployments": [{"model": "Llama-3.3-70B-Instruct"}]},
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    line = price_age_line(run)
    assert line.startswith("Prices: VM prices checked ") and "token prices checked" in line
    assert "checked 2025-01-02" in line and "**" in line, line


def test_the_ptu_price_is_loaded_and_marked_as_an_assumption():
    """No Llama PTU price is published: the bundled row is Azure OpenAI's Global PTU price, marked assumption with a basis."""
    from llama_eval.catalog.prices import price_for
    from llama_eval.records import PROVISIONED

    book = load_prices()
    ptu = book.ptu_price("Llama-3.3-70B-Instruct")
    assert ptu is not None and ptu.deployment_type == "Global Provisioned"
    assert (ptu.usd_per_ptu_hour, ptu.usd_per_ptu_month_1m, ptu.usd_per_ptu_year_1y) == (Decimal("1.00"), Decimal("260"), Decimal("2652"))
    assert ptu.assumption and "Azure OpenAI" in ptu.basis and ptu.label == "$1.00/PTU-hour (est.)"
    assert ptu.source_url.startswith("https://learn.microsoft.com/") and str(ptu.checked_on) == "2026-12-06"
    assert book.ptu_price("Meta-Llama-3.1-8B-Instruct") is None
    assert price_for(book, "Llama-3.3-70B-Instruct", PROVISIONED).reason == "provisioned throughput is billed per PTU-hour, not per token"


@pytest.mark.parametrize(
    "row, message",
    [
        ("Meta-Llama-3.1-8B-Instruct,Global Provisioned,1,,,USD,2026-07-31,u,n,false,,2026-12-06", "has no provisioned offer"),
        ("Llama-3.3-70B-Instruct,Global Provisioned,1,,,USD,2026-07-31,u,n,true,,2026-12-06", "needs a 'basis'"),
        ("Llama-3.3-70B-Instruct,Global Provisioned,1,,,USD,2026-07-31,u,n,maybe,,2026-12-06", "assumption must be true or false"),
    ],
)
def test_a_bad_ptu_row_says_what_to_write(tmp_path, row, message):
    from llama_eval.catalog.prices import PTU_PRICE_COLUMNS

    path = tmp_path / "ptu.csv"
    path.write_text(",".join((*PTU_PRICE_COLUMNS, "checked")) + "\n" + row + "\n")
    with pytest.raises(PriceTableError, match=message):
        load_prices(ptu_overrides=path)
