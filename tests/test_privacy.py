"""Personal data is masked before logging."""

from __future__ import annotations

import logging

import pytest

from actions.handoff import ActionHandoff
from bot.privacy import mask, mask_text
from tests.conftest import make_tracker


@pytest.mark.parametrize(
    ("sender", "masked"),
    [
        ("whatsapp:+905321234567", "whatsapp:+90*******567"),
        ("telegram:12345678", "telegram:12****78"),
        ("ayse", "a**e"),
        ("ab", "**"),
        ("", "-"),
        (None, "-"),
    ],
)
def test_mask(sender, masked):
    assert mask(sender) == masked


def test_mask_text_hides_numbers():
    assert mask_text("card 4111 1111, call +90 532") == "card #### ####, call +## ###"


async def test_action_logs_never_contain_the_phone_number(action_store, dispatcher, domain, caplog):
    caplog.set_level(logging.INFO)
    tracker = make_tracker("insan istiyorum", "request_human", sender_id="whatsapp:+905321234567")
    await ActionHandoff().run(dispatcher, tracker, domain)
    assert "handoff" in caplog.text
    assert "5321234567" not in caplog.text
    assert "whatsapp:+90*******567" in caplog.text
