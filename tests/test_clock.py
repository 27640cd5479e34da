"""The simulated clock every crisisdesk process reads (bot/clock.py)."""

from __future__ import annotations

import time
from datetime import datetime

from bot import clock
from bot.store import now


def test_without_a_clock_file_the_clock_is_real_time(monkeypatch) -> None:
    monkeypatch.delenv(clock.ENV, raising=False)
    assert clock.offset() == 0.0
    assert abs(clock.timestamp() - time.time()) < 1.0


def test_advancing_the_clock_file_moves_the_store_times_forward(tmp_path, monkeypatch) -> None:
    path = tmp_path / "clock"
    path.write_text("0")
    monkeypatch.setenv(clock.ENV, str(path))
    before = datetime.fromisoformat(now())
    assert clock.advance(path, 86_400) == 86_400
    after = datetime.fromisoformat(now())
    assert 86_399 <= (after - before).total_seconds() <= 86_402
    clock.advance(path, 3_600)
    assert abs(clock.timestamp() - time.time() - 90_000) < 1.0


def test_an_unreadable_clock_file_falls_back_to_real_time(tmp_path, monkeypatch) -> None:
    path = tmp_path / "clock"
    path.write_text("not a number")
    monkeypatch.setenv(clock.ENV, str(path))
    assert clock.offset() == 0.0
    monkeypatch.setenv(clock.ENV, str(tmp_path / "missing"))
    assert clock.offset() == 0.0
