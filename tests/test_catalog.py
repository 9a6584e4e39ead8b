"""The Llama catalog: every variant present, facts sourced, lifecycle computed from dates."""

from __future__ import annotations

from datetime import date

import pytest

from llama_eval import CatalogError, load_catalog
from llama_eval.catalog import DEPRECATED, GA, RETIRED

EXPECTED = [
    "Llama-2-7b-chat", "Llama-2-13b-chat", "Llama-2-70b-chat",
    "Meta-Llama-3-8B-Instruct", "Meta-Llama-3-70B-Instruct",
    "Meta-Llama-3.1-8B-Instruct", "Meta-Llama-3.1-70B-Instruct", "Meta-Llama-3.1-405B-Instruct",
    "Llama-3.2-1B-Instruct", "Llama-3.2-3B-Instruct",
    "Llama-3.2-11B-Vision-Instruct", "Llama-3.2-90B-Vision-Instruct",
    "Llama-Guard-3-1B", "Llama-Guard-3-11B-Vision",
    "Llama-3.3-70B-Instruct", "Llama-4-Scout-17B-16E-Instruct", "Llama-4-Maverick-17B-128E-Instruct-FP8",
]  # fmt: skip


def test_every_variant_is_in_the_catalog():
    assert sorted(load_catalog().ids) == sorted(EXPECTED)


def test_every_fact_has_a_source():
    for m in load_catalog():
        assert m.json_object is False, m.id  # no Llama supports JSON mode
        assert "context_tokens" in m.sources, m.id
        for offer in m.offers.values():
            assert offer.source, (m.id, offer.kind)
        if m.quota:
            assert m.quota.source and m.quota.as_of, m.id
    assert load_catalog().as_of == date(2026, 11, 26)


def test_lifecycle_on_the_day_of_writing():
    cat = load_catalog()
    today = date(2026, 11, 26)
    retired = {m.id for m in cat if m.status("serverless", today) == RETIRED}
    ga = {m.id for m in cat if m.status("serverless", today) == GA}
    assert ga == {"Llama-3.3-70B-Instruct", "Llama-4-Scout-17B-16E-Instruct", "Llama-4-Maverick-17B-128E-Instruct-FP8"}
    assert "Meta-Llama-3.1-405B-Instruct" in retired and "Llama-2-70b-chat" in retired
    assert all(m.status("managed", today) == GA for m in cat), "managed compute keeps every model deployable"


def test_status_follows_dates():
    m = load_catalog().get("Meta-Llama-3.1-405B-Instruct")
    assert m.status("serverless", date(2026, 6, 12)) == DEPRECATED
    assert m.status("serverless", date(2026, 6, 13)) == RETIRED
    assert load_catalog().get("Llama-3.2-1B-Instruct").status("serverless") is None


def test_facts_from_the_azure_docs():
    cat = load_catalog()
    assert cat.get("Meta-Llama-3.1-405B-Instruct").context_tokens == 131072
    assert cat.get("Meta-Llama-3-8B-Instruct").max_output_tokens == 2048
    assert cat.get("Llama-3.2-90B-Vision-Instruct").accepts_images
    assert not cat.get("Llama-3.3-70B-Instruct").accepts_images
    assert cat.get("Meta-Llama-3.1-8B-Instruct").quota.tpm == 200000
    assert cat.get("Llama-3.3-70B-Instruct").quota.tpm == 400000
    assert set(cat.get("Llama-2-7b-chat").extra_parameters) == {
        "n",
        "best_of",
        "logprobs",
        "ignore_eos",
        "use_beam_search",
        "stop_token_ids",
        "skip_special_tokens",
    }


def test_unknown_model_suggests_closest():
    with pytest.raises(CatalogError, match="did you mean 'Meta-Llama-3.1-405B-Instruct'"):
        load_catalog().get("Meta-Llama-3.1-405B")


def test_malformed_catalog_is_rejected(tmp_path):
    bad = tmp_path / "models.yaml"
    bad.write_text("models:\n  - id: X\n    family: f\n    parameters_b: 1\n    context_tokens: 10\n    modality: audio\n")
    with pytest.raises(CatalogError, match="modality must be one of"):
        load_catalog(bad)
