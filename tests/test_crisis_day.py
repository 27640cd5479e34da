"""The simulated crisis day (tests/crisis_day.py): the playbook end to end.

One run of the scripted day through the signed WhatsApp webhook, the real Rasa
and action servers, the desk and the fake Twilio, on a compressed clock. The
figures it measures are printed by `make bench` (scripts/bench_crisis_day.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import crisis_day_script as script
from tests.crisis_day import Day, simulate

pytestmark = pytest.mark.slow  # the real Rasa server with the trained model


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Day:
    work = tmp_path_factory.mktemp("crisis-day")
    return simulate(work, screenshot=work / "report.png")


def test_the_spike_alert_arrives_within_one_simulated_minute(day: Day) -> None:
    assert day.alert is not None
    assert day.alert["kind"] in ("spike", "emerging")
    assert day.alert_delay_seconds is not None and 0 <= day.alert_delay_seconds <= 60
    assert any("/alerts/" in text for text in day.staff_chat_messages)


def test_the_statement_needs_a_second_approver_before_any_customer_sees_it(day: Day) -> None:
    assert not day.writer_could_approve
    assert day.statement_before_approval == 0
    assert day.statement_after_approval == len(script.AFTER_APPROVAL)


def test_the_correction_reaches_every_asker_exactly_once(day: Day) -> None:
    askers = set(day.askers) - {script.OPTED_OUT}
    assert len(askers) >= len(script.SPIKE) // 2  # most were told "we are checking"
    assert askers <= set(day.corrections)
    assert day.duplicates == 0
    assert day.republished_new_messages == 0


def test_those_outside_the_window_get_a_template_first(day: Day) -> None:
    yesterday = {line.phone for line in script.YESTERDAY} - {script.OPTED_OUT}
    assert yesterday & set(day.askers) <= set(day.outside_window)
    assert all(day.templates.get(phone) == 1 for phone in day.outside_window)
    today = set(day.askers) - yesterday
    assert not today & set(day.templates)


def test_opted_out_customers_get_nothing(day: Day) -> None:
    assert day.opted_out_messages == 0
    assert script.OPTED_OUT not in day.corrections


def test_deliveries_are_tracked(day: Day) -> None:
    assert day.deliveries.get("delivered", 0) + day.deliveries.get("read", 0) >= len(
        day.corrections
    )
    assert day.deliveries.get("read", 0) >= 1


def test_the_report_renders_with_non_empty_charts(day: Day) -> None:
    assert day.report_png is not None and Path(day.report_png).stat().st_size > 10_000
    assert day.report_chart_colours and min(day.report_chart_colours) >= 3
