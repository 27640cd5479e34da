"""Responses follow the language of the customer's latest message."""

from __future__ import annotations

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.nlg import BilingualNLG
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def nlg():
    return BilingualNLG(domain=Domain.load(str(ROOT / "domain.yml")))


def tracker_with(*languages):
    tracker = DialogueStateTracker("c1", [])
    for number, language in enumerate(languages):
        tracker.update(
            UserUttered(f"m{number}", {"name": "greet"}, parse_data={"language": language})
        )
    return tracker


@pytest.mark.parametrize(
    ("languages", "start"),
    [
        (["tr"], "Merhaba! Ben"),
        (["en"], "Hello! I'm"),
        (["en", "tr"], "Merhaba! Ben"),
        (["tr", None], "Merhaba! Ben"),  # emoji-only message keeps Turkish
        ([None], "Merhaba! / Hello!"),  # unknown: both languages
    ],
)
async def test_greeting_language(nlg, languages, start):
    response = await nlg.generate("utter_greet", tracker_with(*languages), "rest")
    assert response["text"].startswith(start)


async def test_explicit_language_wins_and_variables_fill(nlg):
    response = await nlg.generate(
        "utter_complaint_logged", tracker_with("tr"), "rest", language="en", ticket_number="CD-1"
    )
    assert response["text"].startswith("I'm really sorry") and "CD-1" in response["text"]
