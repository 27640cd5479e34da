"""Fact matching: across languages, with abstention, never the wrong fact."""

from __future__ import annotations

import csv

import pytest
import yaml

from bot.answers import Knowledge
from bot.config import settings
from bot.matching import Index, fact_index, faq_index
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def facts():
    with (ROOT / "data/facts/demo.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def index(facts):
    return fact_index(facts)


def search(index, text):
    cfg = settings()
    return index.search(text, cfg.match_threshold, cfg.match_margin)


@pytest.mark.parametrize(
    ("text", "fact_id"),
    [
        ("kuzey sut iflas mi ediyor", "bankruptcy"),
        ("Kuzey Süt iflas mı ediyor?", "bankruptcy"),
        ("is kuzey going bankrupt", "bankruptcy"),
        ("sutunuze camasir suyu katiyormussunuz", "bleach-in-milk"),
        ("was the kuzey kart app hacked", "kuzey-kart-breach"),
    ],
)
def test_claims_find_their_fact_in_both_languages(index, text, fact_id):
    assert search(index, text).id == fact_id


@pytest.mark.parametrize(
    "text",
    ["bugun hava cok guzel", "my car caught fire on the highway", "cheese pizza recipe", "", "😀"],
)
def test_unrelated_text_finds_nothing(index, text):
    assert search(index, text).id is None


def test_dev_set_quality(index):
    """The development set: high accuracy and never a wrong fact."""
    cases = yaml.safe_load((ROOT / "tests/match_dev.yml").read_text(encoding="utf-8"))["cases"]
    found = [(case["fact"], search(index, case["text"]).id) for case in cases]
    wrong = [(want, got) for want, got in found if got is not None and got != want]
    assert wrong == []
    assert sum(want == got for want, got in found) / len(found) >= 0.9


def test_empty_index_matches_nothing():
    assert Index([]).search("anything", 0.1, 0.0).id is None


def test_faq_index_answers_procedures():
    with (ROOT / "data/facts/faq.csv").open(encoding="utf-8") as handle:
        faqs = faq_index(list(csv.DictReader(handle)))
    cfg = settings()
    assert (
        faqs.search(
            "iade nasil yapilir paramı nasil geri alirim", cfg.match_threshold, cfg.match_margin
        ).id
        == "return-refund"
    )


def test_knowledge_sees_publishing_without_restart(demo_store):
    cfg = settings()
    knowledge = Knowledge(demo_store, cfg.match_threshold, cfg.match_margin)
    claim = "kuzey sut iflas mi ediyor"
    assert knowledge.match_fact(claim).id == "bankruptcy"
    demo_store.set_fact_status("bankruptcy", "retired")
    assert knowledge.match_fact(claim).id is None
