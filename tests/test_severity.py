"""Complaint severity: what goes straight to a person."""

from __future__ import annotations

import pytest

from bot.severity import assess


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("yogurdunuz yuzunden oglum hastanelik oldu", "health"),
        ("çocuğum alerji krizi geçirdi, acile gittik", "health"),
        ("your yogurt made my son sick", "health"),
        ("sarj aleti patladi elim yandi", "safety"),
        ("there was glass in the jar, I cut my mouth", "safety"),
        ("avukatima verdim, dava acacagim", "legal"),
        ("tuketici hakem heyetine basvuracagim", "legal"),
        ("I'm going to sue you", "legal"),
        ("gazeteci arkadasim haber yapacak", "press"),
        ("a journalist friend is writing about this", "press"),
        ("gelirsem sizi oldururum", "violence"),
    ],
)
def test_serious_complaints_are_high(text, reason):
    found = assess(text)
    assert found.is_high
    assert reason in found.reasons


@pytest.mark.parametrize(
    "text",
    [
        "siparisim 2 haftadir gelmedi",
        "the newsletter emails are annoying",
        "gunaydin, faturam yanlis gelmis",
        "my suede shoes arrived scratched",
        "",
    ],
)
def test_ordinary_complaints_are_normal(text):
    assert assess(text).level == "normal"
    assert assess(text).reasons == []


def test_repeat_complaint_is_high():
    found = assess("kargo gecikti", previous_complaints=1)
    assert found.is_high and found.reasons == ["repeated"]
