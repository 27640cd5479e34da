"""Facts state their claim in both languages, and answers quote it naturally."""

from __future__ import annotations

import csv

import pytest

from bot.answers import claim_for, fact_message
from tests.conftest import ROOT


def test_every_demo_fact_states_its_claim_in_both_languages():
    rows = list(csv.DictReader((ROOT / "data/facts/demo.csv").open(encoding="utf-8")))
    assert rows and all(row["claim_tr"].strip() and row["claim_en"].strip() for row in rows)
    assert all(row["claim_tr"] != row["claim_en"] for row in rows)
    assert all("Kuzey" in row["claim_tr"] or "İstanbul" in row["claim_tr"] for row in rows)


@pytest.mark.parametrize(
    ("fact", "lang", "claim"),
    [
        (
            {"claim_en": "A viral video shows worms.", "claim_tr": "Video var."},
            "en",
            "a viral video shows worms",
        ),
        ({"claim_en": "The Kuzey Kart app was hacked."}, "en", "the Kuzey Kart app was hacked"),
        (
            {"claim_en": "Kuzey Süt is laying off 500 workers."},
            "en",
            "Kuzey Süt is laying off 500 workers",
        ),
        (
            {"claim_en": "Kuzey Süt raised its prices by 40%.", "claim_tr": "Zam yaptı."},
            "tr",
            "Zam yaptı",
        ),
        (
            {"claim_en": "Old English claim.", "claim_tr": ""},
            "tr",
            "Old English claim",
        ),  # imported before claim_tr
    ],
)
def test_claim_for(fact, lang, claim):
    assert claim_for(fact, lang) == claim


def test_fact_message_without_a_language_has_both():
    fact = {
        "claim_tr": "İflas ediyor.",
        "claim_en": "Kuzey is going bankrupt.",
        "answer_tr": "Hayır.",
        "answer_en": "No.",
        "source_url": "https://e.org",
    }
    values = fact_message(fact, None)
    assert (values["claim_tr"], values["claim_en"]) == ("İflas ediyor", "Kuzey is going bankrupt")
    assert values["answer"] == "Hayır.\n\nNo."
    assert fact_message(fact, "en")["claim"] == "Kuzey is going bankrupt"
