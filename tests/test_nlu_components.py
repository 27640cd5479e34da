"""The custom Rasa NLU components on the locally built spaCy pipelines."""

from __future__ import annotations

import pytest
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.components import BilingualTokenizer, SpacyRuleEntityExtractor, turkish_lower


@pytest.fixture(scope="module")
def tokenizer():
    return BilingualTokenizer({**BilingualTokenizer.get_default_config()})


@pytest.fixture(scope="module")
def extractor():
    return SpacyRuleEntityExtractor(SpacyRuleEntityExtractor.get_default_config())


def lemmas(tokenizer, text):
    message = Message({TEXT: text})
    tokenizer.process([message])
    return [t.lemma for t in message.get(TOKENS_NAMES[TEXT])], message


@pytest.mark.parametrize(
    "text", ["siparişlerimi", "siparislerimi", "SİPARİŞLERİMİ", "SIPARISLERIMI", "sipariş"]
)
def test_turkish_forms_meet_at_one_lemma(tokenizer, text):
    assert lemmas(tokenizer, text)[0] == ["siparis"]


def test_english_lemmas_and_code_switching(tokenizer):
    found, message = lemmas(tokenizer, "my orders were cancelled and the cards hacked")
    assert "order" in found and "card" in found
    assert message.get("language") == "en"
    mixed, message = lemmas(tokenizer, "kargom hala gelmedi, refunds nerede")
    assert mixed[0] == "kargo" and "refund" in mixed
    assert message.get("language") == "tr"


def test_tokens_keep_offsets_and_emoji(tokenizer):
    message = Message({TEXT: "Kargom 😡 gelmedi!"})
    tokenizer.process([message])
    tokens = message.get(TOKENS_NAMES[TEXT])
    assert [(t.text, t.start, t.end) for t in tokens] == [
        ("Kargom", 0, 6),
        ("😡", 7, 8),
        ("gelmedi", 9, 16),
        ("!", 16, 17),
    ]


def test_turkish_lower():
    assert turkish_lower("İSTANBUL IĞDIR") == "istanbul ığdır"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("siparis no 4821937 hala gelmedi", [("order_number", "4821937")]),
        ("#4821937 nolu siparis", [("order_number", "4821937")]),
        ("order TR-55012 is late", [("order_number", "TR-55012")]),
        ("CD-000123 numarali sikayetim", [("ticket_number", "CD-000123")]),
        ("L2311A lot kodlu yogurt", [("lot_code", "L2311A")]),
        ("LOT 24-118 on the lid", [("lot_code", "24-118")]),
        ("parti l2311a", [("lot_code", "L2311A")]),
        ("kargom gelmedi", [("topic", "delivery")]),
        ("my refund never came", [("topic", "refund")]),
        ("merhaba", []),
    ],
)
def test_entity_rules(tokenizer, extractor, text, expected):
    message = Message({TEXT: text})
    tokenizer.process([message])
    extractor.process([message])
    found = [(e["entity"], e["value"]) for e in message.get(ENTITIES, [])]
    assert [
        f for f in found if f[0] != "topic" or expected and expected[0][0] == "topic"
    ] == expected
    for entity in message.get(ENTITIES, []):
        assert entity["extractor"] == "SpacyRuleEntityExtractor"
        assert text[entity["start"] : entity["end"]]


@pytest.mark.parametrize("text", ["", " ", "😡", "x" * 5000, "<b>hi</b>' OR 1=1 --"])
def test_odd_input_is_tokenized_without_error(tokenizer, extractor, text):
    message = Message({TEXT: text})
    tokenizer.process([message])
    extractor.process([message])
    assert isinstance(message.get(ENTITIES, []), list)
