"""Language detection and text folding."""

from __future__ import annotations

import pytest

from bot.language import detect, fold, normalize, words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("siparişim 2 haftadır gelmedi", "tr"),
        ("siparisim 2 haftadir gelmedi", "tr"),
        ("iflas ediyormuşsunuz doğru mu", "tr"),
        ("iade nasil yapilir", "tr"),
        ("KARGOM NEREDE", "tr"),
        ("your yogurt made my son sick", "en"),
        ("a forwarded message says your cards were hacked", "en"),
        ("where is your official statement?", "en"),
        ("pls i need a human", "en"),
        ("merhaba, my order is late and nobody answers", "en"),
        ("kargom gelmedi wtf", "tr"),
    ],
)
def test_detect(text, expected):
    assert detect(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "😡😡", "123456", "?!"])
def test_no_language_keeps_the_previous_one(text):
    assert detect(text, previous="en") == "en"
    assert detect(text, previous="tr") == "tr"


def test_fold_and_normalize():
    assert fold("Şikâyet İÇİN ığdır") == "Sikayet ICIN igdir"
    assert normalize("  SİPARİŞ   ödemesi ") == "siparis odemesi"
    assert words("Kargo?! 😡 #123 gelmedi...") == ["kargo", "123", "gelmedi"]


def test_long_and_mixed_input_does_not_break_detection():
    text = "kargom nerede " * 500 + "where is my parcel " * 100
    assert detect(text) == "tr"
    assert detect("<script>alert('x')</script> SELECT * FROM users; --") == "en"
