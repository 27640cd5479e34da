"""`make bench`, crisis operations: the simulated crisis day's figures, measured in one run.

Plays tests/crisis_day_script.py through the whole system (tests/crisis_day.py:
signed WhatsApp webhook, real Rasa and action servers, the desk, fake Twilio and
Telegram, crisisdesk's clock moved from message to message) and prints what it
measured: the alert's delay in simulated seconds from the message that made the
rate a spike, the four-eyes check, corrections per recipient (duplicates must be
0), templates for those outside WhatsApp's window, messages to the opted-out
customer, delivery states, and the run's wall time. With `--screenshot PATH` it
also saves the desk's report page as headless Chromium shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("LOG_LEVEL", "ERROR")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.crisis_day import simulate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, help="save the report page here (PNG)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="crisis-day-"))
    try:
        day = simulate(work, screenshot=args.screenshot or work / "report.png")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    alert = day.alert or {}
    rows = [
        (
            "alert",
            f"{alert.get('kind', 'none')} ({alert.get('intent', '')}, "
            f"{alert.get('count', 0)} messages)",
        ),
        ("alert delay after the spike (simulated s)", day.alert_delay_seconds),
        ("alert in the staff Telegram chat", bool(day.staff_chat_messages)),
        ("statement's writer could approve it", day.writer_could_approve),
        ("customers shown the draft statement", day.statement_before_approval),
        ("customers shown it after approval", day.statement_after_approval),
        ('askers told "we are checking"', len(day.askers)),
        ("recipients of the correction", len(day.corrections)),
        ("duplicates", day.duplicates),
        ("outside the 24-hour window: templates", sum(day.templates.values())),
        ("messages to the opted-out customer", day.opted_out_messages),
        ("new messages from publishing again", day.republished_new_messages),
        ("deliveries by status", ", ".join(f"{k} {v}" for k, v in sorted(day.deliveries.items()))),
        ("report charts (colours in each screenshot)", day.report_chart_colours),
        ("whole simulated day, wall time (s)", day.seconds),
    ]
    print("\ncrisis day (tests/crisis_day_script.py, one run)")
    for label, value in rows:
        print(f"  {label:<46} {value}")
    figures = {label: value for label, value in rows}
    print(json.dumps({"crisis_day": figures}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
