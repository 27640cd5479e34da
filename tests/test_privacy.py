"""Personal data is masked before logging."""

from __future__ import annotations

import logging

import pytest

from actions.handoff import ActionHandoff
from bot.privacy import mask, mask_text, scrub
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


# --- scrub: provider error bodies before they are logged ----------------------

TWILIO_ERROR = (
    '{"code": 21211, "message": "The \'To\' number whatsapp:+905321234567 is not a valid'
    ' phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}'
)
BOT_TOKEN = "123456789:AAE_fake-token-for-tests-0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "To number whatsapp:+905321234567 is invalid",
            "To number whatsapp:+90*******567 is invalid",
        ),
        ("chat 123456789 not found", "chat 12*****89 not found"),
        ("write to ayse.k+crisis@mail.example.org now", "write to <e-mail> now"),
        ("HTTP 429, error 63016, retry in 30 s", "HTTP 429, error 63016, retry in 30 s"),
        ("", ""),
        (None, ""),
    ],
)
def test_scrub(text, expected):
    assert scrub(text) == expected


def test_scrub_keeps_a_twilio_error_readable_without_the_number():
    scrubbed = scrub(TWILIO_ERROR)
    assert "5321234567" not in scrubbed
    assert "whatsapp:+90*******567" in scrubbed
    # The error code and its documentation link stay, so the log is still useful.
    assert '"code": 21211' in scrubbed and "errors/21211" in scrubbed


@pytest.mark.parametrize(
    "number", ["+90 532 123 45 67", "+90-532-123-45-67", "0532.123.45.67", "4111 1111 1111 1111"]
)
def test_scrub_masks_numbers_written_with_separators(number):
    scrubbed = scrub(f"bad number {number} here")
    assert scrubbed.startswith("bad number ") and scrubbed.endswith(" here")
    digits = "".join(ch for ch in scrubbed if ch.isdigit())
    assert len(digits) <= 6  # at most the ends `mask` keeps; the middle is gone
    assert "*" in scrubbed


def test_scrub_hides_a_telegram_bot_token_in_a_quoted_url():
    error = f"Client error '403 Forbidden' for url 'https://api.telegram.org/bot{BOT_TOKEN}/sendMessage'"
    scrubbed = scrub(error)
    assert "AAE_fake" not in scrubbed and "123456789" not in scrubbed
    assert scrubbed == (
        "Client error '403 Forbidden' for url 'https://api.telegram.org/bot<bot-token>/sendMessage'"
    )


@pytest.mark.parametrize(
    "query", ["?token=abc", "?x=1&auth_token=abc", "&secret=abc", "?api_key=abc", "?Signature=abc"]
)
def test_scrub_hides_secret_query_values(query):
    scrubbed = scrub(f"GET http://localhost:5005/status{query}def#frag failed")
    assert "abcdef" not in scrubbed
    assert "<hidden>#frag failed" in scrubbed


def test_scrub_leaves_ordinary_text_alone():
    text = "Bad Request: message text is empty (see https://core.telegram.org/bots/api?page=2)"
    assert scrub(text) == text
