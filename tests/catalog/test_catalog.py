"""The Llama catalog: every variant present, every fact sourced or marked as an assumption, lifecycle computed from dates."""

from __future__ import annotations

from datetime import date

import pytest
import yaml

from _support.constants import CATALOG_IDS as EXPECTED
from llama_eval import CatalogError, load_catalog
from llama_eval.catalog.models import DEPRECATED, GA, LEGACY, MODEL_FACTS, RETIRED
from llama_eval.paths import data_dir


def test_every_variant_is_in_the_catalog():
    assert sorted(load_catalog().ids) == sorted(EXPECTED)


def test_every_fact_has_a_source_or_an_explicit_assumption():
    cat = load_catalog()
    assert cat.unsourced() == [], "each fact needs a source (with a checked date) or 'assumption: true' with a basis"
    for m in cat:
        assert m.json_object is False, m.id  # no Llama supports JSON mode
        for fact in MODEL_FACTS:
            p = m.provenance[fact]
            assert p.checked is not None, (m.id, fact)
            assert p.source is not None or (p.assumption and p.basis), (m.id, fact)
        for offer in m.offers.values():
            assert offer.source and offer.source_id in cat.sources, (m.id, offer.kind)
        if m.quota:
            assert m.quota.provenance is not None and m.quota.as_of, m.id
        if m.benchmark_accuracy is not None:
            assert m.benchmark_provenance is not None and m.benchmark_metric, m.id
    for source in cat.sources.values():
        # read on the catalog's day, or later for sources added since (the PTU facts: 2026-12-06)
        assert source.cite and date(2026, 11, 26) <= source.checked <= date(2026, 12, 6), source.id
    assert cat.as_of == date(2026, 11, 26)


def _catalog_without(tmp_path, model_id: str, fact: str):
    raw = yaml.safe_load((data_dir() / "models.yaml").read_text())
    model = next(m for m in raw["models"] if m["id"] == model_id)
    model["facts"] = {k: v for k, v in model["facts"].items() if k != fact}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_catalog(path)


@pytest.mark.parametrize("fact", ["max_output_tokens", "context_tokens", "managed.recommended_sku", "serverless.replacement"])
def test_a_fact_without_provenance_is_found(tmp_path, fact):
    cat = _catalog_without(tmp_path, "Meta-Llama-3.1-8B-Instruct", fact)
    assert cat.unsourced() == [f"Meta-Llama-3.1-8B-Instruct: {fact}"]


@pytest.mark.parametrize(
    "provenance, message",
    [
        ({"source": "no-such-source"}, "unknown source 'no-such-source'"),
        ({"assumption": True}, "an assumption needs a 'basis'"),
        ({"note": "trust me"}, "give a 'source'"),
    ],
)
def test_bad_provenance_is_rejected(tmp_path, provenance, message):
    raw = yaml.safe_load((data_dir() / "models.yaml").read_text())
    raw["models"][0]["facts"] = {**raw["models"][0]["facts"], "context_tokens": provenance}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)


def test_issue_13_facts():
    cat = load_catalog()
    maverick = cat.get("Llama-4-Maverick-17B-128E-Instruct-FP8")
    assert maverick.max_output_tokens == 16384 and maverick.is_estimate("max_output_tokens"), "1M is the context window, not an output cap"
    assert maverick.context_tokens == 1_000_000 and not maverick.is_estimate("context_tokens")
    for model in ("Meta-Llama-3-8B-Instruct", "Meta-Llama-3-70B-Instruct"):
        m = cat.get(model)
        assert m.max_output_tokens is None and "2,048" in m.provenance["max_output_tokens"].note, "8,192 is the context; 2,048 was LiteLLM's"
    for model, replacement in (
        ("Meta-Llama-3.1-8B-Instruct", "Llama-4-Scout-17B-16E-Instruct"),
        ("Meta-Llama-3.1-405B-Instruct", "Llama-4-Maverick-17B-128E-Instruct-FP8"),
    ):
        m = cat.get(model)
        assert m.offer("serverless").replacement == replacement and m.is_estimate("serverless.replacement"), "Microsoft names none: ours"
    assert not cat.get("Llama-2-70b-chat").is_estimate("serverless.replacement"), "the 2025 retirements name theirs"
    assert cat.get("Llama-4-Scout-17B-16E-Instruct").is_estimate("quota")
    assert cat.get("Llama-3.2-11B-Vision-Instruct").is_estimate("quota")
    assert not cat.get("Llama-3.3-70B-Instruct").is_estimate("quota")
    assert cat.get("Meta-Llama-3.1-405B-Instruct").is_estimate("managed.recommended_sku")
    assert all(m.is_estimate("managed.recommended_sku") for m in cat), "no Microsoft SKU list exists: every SKU is our sizing"
    assert "base" in cat.get("Llama-2-7b-chat").benchmark_metric, "Llama 2 MMLU is the base model's, applied to -chat"
    for model in ("Llama-3.3-70B-Instruct", "Llama-4-Scout-17B-16E-Instruct", "Llama-4-Maverick-17B-128E-Instruct-FP8"):
        assert set(cat.get(model).unverified_extras) == {"best_of", "use_beam_search"}
    assert "shared_quota_pool_since" not in (data_dir() / "models.yaml").read_text(), "the shared pool does not apply to Llama"


def test_lifecycle_on_the_day_of_writing():
    cat = load_catalog()
    today = date(2026, 11, 26)
    retired = {m.id for m in cat if m.status("serverless", today) == RETIRED}
    ga = {m.id for m in cat if m.status("serverless", today) == GA}
    assert ga == {"Llama-3.3-70B-Instruct", "Llama-4-Scout-17B-16E-Instruct", "Llama-4-Maverick-17B-128E-Instruct-FP8"}
    assert "Meta-Llama-3.1-405B-Instruct" in retired and "Llama-2-70b-chat" in retired
    assert all(m.status("managed", today) == GA for m in cat), "managed compute keeps every model deployable"


@pytest.mark.parametrize(
    "model, day, status",
    [
        ("Meta-Llama-3.1-405B-Instruct", date(2024, 6, 1), GA),  # before any announcement: not "deprecated" (the old bug)
        ("Meta-Llama-3.1-405B-Instruct", date(2026, 2, 13), LEGACY),
        ("Meta-Llama-3.1-405B-Instruct", date(2026, 3, 13), DEPRECATED),
        ("Meta-Llama-3.1-405B-Instruct", date(2026, 6, 12), DEPRECATED),
        ("Meta-Llama-3.1-405B-Instruct", date(2026, 6, 13), RETIRED),
        ("Llama-2-7b-chat", date(2025, 2, 27), GA),
        ("Llama-2-7b-chat", date(2025, 2, 28), LEGACY),
        ("Llama-2-7b-chat", date(2025, 3, 31), DEPRECATED),
        ("Llama-2-7b-chat", date(2025, 6, 30), RETIRED),
    ],
)
def test_status_follows_published_dates(model, day, status):
    assert load_catalog().get(model).status("serverless", day) == status


def test_managed_only_model_has_no_serverless_status():
    assert load_catalog().get("Llama-3.2-1B-Instruct").status("serverless") is None


def test_replacement_chain_marks_suggestions():
    cat = load_catalog()
    on = date(2026, 11, 26)
    assert cat.available_replacement("Llama-2-7b-chat", on=on) == "Llama-4-Scout-17B-16E-Instruct"
    assert cat.replacement_is_suggestion("Llama-2-7b-chat", on=on), "the chain passes through 3.1-8B -> Scout, our suggestion"
    assert not cat.replacement_is_suggestion("Llama-2-70b-chat", on=on)


def test_facts_from_the_azure_docs():
    cat = load_catalog()
    assert cat.get("Meta-Llama-3.1-405B-Instruct").context_tokens == 131072
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


def test_the_provisioned_offer_states_microsofts_ptu_terms_each_sourced():
    """Llama-3.3-70B-Instruct as Global Provisioned: 100 PTU minimum, steps of 100, 8,450 input TPM per PTU, output x4."""
    model = load_catalog().get("Llama-3.3-70B-Instruct")
    terms = model.offer("provisioned").provisioned
    assert (terms.deployment_type, terms.min_ptu, terms.step_ptu, terms.input_tpm_per_ptu, terms.output_token_weight) == (
        "Global Provisioned", 100, 100, 8450, 4)  # fmt: skip
    assert "99%" in terms.latency_target and "50 tokens/s" in terms.latency_target
    for fact in ("min_ptu", "step_ptu", "input_tpm_per_ptu", "output_token_weight", "latency_target", "deployment_type"):
        source = model.provenance[f"provisioned.{fact}"].source
        assert source is not None and source.url.startswith("https://learn.microsoft.com/"), fact
        assert not model.is_estimate(f"provisioned.{fact}"), fact
    assert terms.allowed(200) and not terms.allowed(150) and not terms.allowed(0)
    assert terms.nearest(150) == (100, 200) and terms.nearest(40) == (100,)
    others = [m.id for m in load_catalog() if m.offer("provisioned") and m.id != model.id]
    assert others == [], "only Llama-3.3-70B-Instruct is sold as provisioned throughput"


def test_a_provisioned_fact_without_provenance_is_found(tmp_path):
    cat = _catalog_without(tmp_path, "Llama-3.3-70B-Instruct", "provisioned.input_tpm_per_ptu")
    assert cat.unsourced() == ["Llama-3.3-70B-Instruct: provisioned.input_tpm_per_ptu"]
