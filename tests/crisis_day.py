"""A simulated crisis day through the whole system, on a compressed clock.

`simulate(workdir)` starts the real system (Rasa, actions, the desk with its
early-warning task, the fake Twilio and a fake Telegram for the staff chat),
plays tests/crisis_day_script.py through the signed WhatsApp webhook, and moves
crisisdesk's clock (bot/clock.py, `CRISISDESK_CLOCK_FILE`, read by every
process) from message to message, so a day passes in a couple of minutes. The
people's steps go through the same functions the CLI and the desk call: an
editor opens the incident and writes the statement, an admin approves it, the
editor publishes the verified fact and confirms the rumour groups the matcher
suggests for it, and finally closes the incident.

It returns `Day`: what happened, measured (alert delay in simulated seconds,
corrections per recipient, templates, opted-out messages, the report's
screenshot). tests/test_crisis_day.py asserts on it; scripts/bench_crisis_day.py
prints it for `make bench`.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterator, List

from bot import clock
from bot.desk.auth import hash_password
from bot.facts import import_facts
from bot.incidents import (
    NotAllowed,
    approve_statement,
    close_incident,
    open_incident,
    write_statement,
)
from bot.publishing import publish_fact
from bot.rumours import confirm
from bot.store import Store
from tests import crisis_day_script as script
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import Sent, WhatsAppCustomer
from tests.servers import wait_for
from tests.system import PASSWORD, System, running_system

STAFF_CHAT = "-1001234567"
STATUS = "/webhooks/whatsapp/status"
FACT_ID = "ayran-glass"
# Early-warning settings of the simulation: the defaults (15-minute window, 3x the
# usual rate, at least 10 messages).
ALERT_ENV = {
    "ALERT_WINDOW_MINUTES": "15",
    "ALERT_FACTOR": "3",
    "ALERT_MIN_COUNT": "10",
    "ALERT_EMERGING_MIN_COUNT": "10",
}


@dataclass
class Day:
    """What the simulated day measured."""

    alert: Dict[str, Any] | None = None
    alert_delay_seconds: float | None = None  # simulated, from the crossing message
    staff_chat_messages: List[str] = field(default_factory=list)
    statement_before_approval: int = 0  # customer messages carrying the draft
    statement_after_approval: int = 0
    writer_could_approve: bool = False
    incident_id: int = 0
    first_ask_at: str = ""
    askers: List[str] = field(default_factory=list)  # told "we are checking"
    corrections: Dict[str, int] = field(default_factory=dict)  # recipient -> full answers
    templates: Dict[str, int] = field(default_factory=dict)  # recipient -> templates
    outside_window: List[str] = field(default_factory=list)
    opted_out_messages: int = 0
    deliveries: Dict[str, int] = field(default_factory=dict)  # status -> count
    republished_new_messages: int = 0
    report_png: Path | None = None
    report_chart_colours: List[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def duplicates(self) -> int:
        return sum(max(0, n - 1) for n in self.corrections.values())


class SimClock:
    """The simulated clock: minutes of the script, on crisisdesk's clock file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("0")
        self.minute = script.YESTERDAY[0].minute

    def to(self, minute: float) -> None:
        if minute > self.minute:
            clock.advance(self.path, (minute - self.minute) * 60)
            self.minute = minute


class Traffic:
    """Customers writing through the signed webhook, each message answered before the next."""

    def __init__(self, system: System, sim: SimClock) -> None:
        self.system = system
        self.sim = sim
        self.customers: Dict[str, WhatsAppCustomer] = {}

    def customer(self, phone: str) -> WhatsAppCustomer:
        if phone not in self.customers:
            self.customers[phone] = WhatsAppCustomer(self.system.bot.rasa_url, phone)
        return self.customers[phone]

    def say(self, phone: str, text: str, logged: bool = True, **extra: str) -> List[Sent]:
        """Sends one message; returns the bot's messages to this customer it caused.

        The clock moves on only once the system is done with the message: its
        replies sent and, for a message the dialogue read (`logged`), the desk's
        early warning has it in the message log. In real time the system has the
        minutes between two messages for that; here they pass in a jump.
        """
        customer = self.customer(phone)
        before = len(self.system.fake.messages_to(customer.address))
        sid = customer.send(text, **extra)
        store = self.system.store()
        try:
            wait_for(
                lambda: _processed(store, sid),
                timeout=60,
                what=f"the bot to handle {text!r}",
            )
            if logged:
                wait_for(
                    lambda: _logged(store, sid),
                    timeout=60,
                    what=f"the message log to have {text!r}",
                )
        finally:
            store.close()
        # Replies go through the outbox; wait until every reply it queued was sent.
        wait_for(
            lambda: self._settled(customer.address),
            timeout=60,
            what="the replies to reach the fake Twilio",
        )
        return self.system.fake.messages_to(customer.address)[before:]

    def _settled(self, address: str) -> bool:
        store = self.system.store()
        try:
            rows = store.list_outgoing(status="pending", channel="whatsapp")
        finally:
            store.close()
        return not [row for row in rows if row["recipient"] == address]

    def play(self, lines: List[script.Line]) -> Dict[str, List[Sent]]:
        answers: Dict[str, List[Sent]] = {}
        for line in lines:
            self.sim.to(line.minute)
            answers.setdefault(line.phone, []).extend(self.say(line.phone, line.text))
        return answers


def _processed(store: Store, sid: str) -> bool:
    rows = store.db.execute(
        "select status from inbound_messages where channel = 'whatsapp' and message_id = ?", [sid]
    ).fetchall()
    return bool(rows) and rows[0][0] != "received"


def _logged(store: Store, sid: str) -> bool:
    rows = store.db.execute("select 1 from message_log where message_id = ?", [sid]).fetchall()
    return bool(rows)


def _is_checking(sent: Sent) -> bool:
    body = sent.body.lower()
    return "kontrol" in body or "checking" in body or "doğrul" in body or "verify" in body


def _statement_in(sent: Sent) -> bool:
    return any(script.INCIDENT[key][:40] in sent.body for key in ("statement_tr", "statement_en"))


@contextmanager
def _environment(names: Dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _alert_delay(store: Store, alert: Dict[str, Any]) -> float:
    """Simulated seconds from the message that made the rate a spike to the alert.

    A spike alert's crossing message is the one that brought its topic and
    intent to the alert level within one window; an emerging topic's is the
    `ALERT_EMERGING_MIN_COUNT`-th message of its cluster.
    """
    raised = datetime.fromisoformat(alert["raised_at"])
    window = int(ALERT_ENV["ALERT_WINDOW_MINUTES"]) * 60
    if alert["kind"] == "emerging":
        rows = store.db.execute(
            "select at from message_log where alert_id = ? order by at, id", [alert["id"]]
        ).fetchall()
        needed = int(ALERT_ENV["ALERT_EMERGING_MIN_COUNT"])
    else:
        rows = store.db.execute(
            "select at from message_log where intent = ? and topic = ? order by at, id",
            [alert["intent"], alert["topic"] or ""],
        ).fetchall()
        level = int(ALERT_ENV["ALERT_FACTOR"]) * max(alert["baseline"] or 0, 1.0)
        needed = math.ceil(max(int(ALERT_ENV["ALERT_MIN_COUNT"]), level))
    times = [datetime.fromisoformat(row[0]) for row in rows]
    for index, at in enumerate(times):
        inside = [t for t in times[: index + 1] if (at - t).total_seconds() < window]
        if len(inside) >= needed:
            return (raised - at).total_seconds()
    raise AssertionError(f"no message made the rate of alert {alert['id']} a spike")


def simulate(workdir: Path, screenshot: Path | None = None) -> Day:
    """Plays the crisis day through the whole system; returns what it measured."""
    started = time.perf_counter()
    day = Day()
    clock_file = workdir / "clock"
    sim = SimClock(clock_file)
    with FakeTelegram() as telegram, _environment({clock.ENV: str(clock_file)}):
        env = {
            clock.ENV: str(clock_file),
            "TELEGRAM_API_BASE_URL": telegram.base_url,
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "STAFF_TELEGRAM_CHAT_ID": STAFF_CHAT,
            **ALERT_ENV,
        }
        with running_system(workdir, extra_env=env) as system:
            seed = system.store()
            seed.create_user("ali", "admin", hash_password(PASSWORD), must_change=False)
            seed.close()
            traffic = Traffic(system, sim)
            _yesterday(day, traffic)
            traffic.play(script.MORNING)
            _spike(day, traffic, system, telegram)
            _incident(day, traffic, system)
            _correct(day, traffic, system)
            if screenshot is not None:
                _report(day, system, screenshot)
    day.seconds = round(time.perf_counter() - started, 1)
    return day


def _yesterday(day: Day, traffic: Traffic) -> None:
    day.first_ask_at = clock.now().isoformat(timespec="seconds")
    answers = traffic.play(script.YESTERDAY)
    for phone, sent in answers.items():
        if any(_is_checking(s) for s in sent):
            day.askers.append(phone)
    traffic.say(script.OPTED_OUT, script.OPT_OUT_WORD, logged=False)  # never reaches Rasa


def _spike(day: Day, traffic: Traffic, system: System, telegram: FakeTelegram) -> None:
    answers = traffic.play(script.SPIKE)
    day.askers += [p for p, sent in answers.items() if any(_is_checking(s) for s in sent)]
    store = system.store()
    try:
        alert = wait_for(
            lambda: next(iter(store.list_alerts()), None), timeout=60, what="a spike alert"
        )
        day.alert = alert
        day.alert_delay_seconds = _alert_delay(store, alert)
    finally:
        store.close()
    calls = telegram.wait_for("sendMessage", timeout=60)
    day.staff_chat_messages = [str(call.params.get("text", "")) for call in calls]


def _incident(day: Day, traffic: Traffic, system: System) -> None:
    store = system.store()
    try:
        # The incident starts with the first ask; its earlier messages join it.
        incident = open_incident(
            store,
            name=script.INCIDENT["name"],
            severity=script.INCIDENT["severity"],
            keywords=script.INCIDENT["keywords"],
            examples={"tr": script.INCIDENT["examples_tr"], "en": script.INCIDENT["examples_en"]},
            started_at=day.first_ask_at,
            by="eda",
        )
        statement = write_statement(
            store,
            incident["id"],
            text_tr=script.INCIDENT["statement_tr"],
            text_en=script.INCIDENT["statement_en"],
            by="eda",
        )
        day.incident_id = incident["id"]
    finally:
        store.close()
    answers = traffic.play(script.BEFORE_APPROVAL)
    day.askers += [p for p, sent in answers.items() if any(_is_checking(s) for s in sent)]
    day.statement_before_approval = sum(_statement_in(s) for v in answers.values() for s in v)
    store = system.store()
    try:
        try:
            approve_statement(store, statement["id"], by="eda")
            day.writer_could_approve = True
        except NotAllowed:
            day.writer_could_approve = False
        approve_statement(store, statement["id"], by="ali")
    finally:
        store.close()
    answers = traffic.play(script.AFTER_APPROVAL)
    day.askers += [p for p, sent in answers.items() if any(_is_checking(s) for s in sent)]
    day.statement_after_approval = sum(_statement_in(s) for v in answers.values() for s in v)


def _answer_in(sent: Sent) -> bool:
    """Whether a message carries the verified answer (not only a template)."""
    return any(piece in sent.body for piece in ("L-0412",))


def _new(fake: Any, phone: str, before: Dict[str, int]) -> List[Sent]:
    return fake.messages_to(f"whatsapp:{phone}")[before.get(phone, 0) :]


def _correct(day: Day, traffic: Traffic, system: System) -> None:
    fake = system.fake
    phones = sorted(set(traffic.customers))
    before = {phone: len(fake.messages_to(f"whatsapp:{phone}")) for phone in phones}
    traffic.sim.to(traffic.sim.minute + 20)  # the lab result is in twenty minutes later
    csv = system.db_path.parent / "ayran.csv"
    csv.write_text(script.FACT_CSV, encoding="utf-8")
    store = system.store()
    try:
        import_facts(store, csv, draft=True, verified_by="eda")
        publish_fact(store, FACT_ID, by="eda")
        for group in store.rumour_groups("open"):
            if FACT_ID in [fact for fact, _score in group["suggestions"]]:
                confirm(store, group["id"], FACT_ID, by="eda")
    finally:
        store.close()
    wait_for(lambda: _outbox_settled(system), timeout=120, what="the corrections to go out")
    for phone in phones:
        sent = _new(fake, phone, before)
        if any(s.form.get("ContentSid") for s in sent):
            day.outside_window.append(phone)
    # Those outside the window press the template's button; then the answer comes.
    for phone in day.outside_window:
        traffic.say(
            phone, "Göster", logged=False, ButtonPayload="crisisdesk_update", ButtonText="Göster"
        )
    wait_for(lambda: _outbox_settled(system), timeout=120, what="the waiting answers to go out")
    for phone in phones:
        sent = _new(fake, phone, before)
        answers = [s for s in sent if _answer_in(s)]
        templates = [s for s in sent if s.form.get("ContentSid")]
        if answers:
            day.corrections[phone] = len(answers)
        if templates:
            day.templates[phone] = len(templates)
    day.opted_out_messages = len(_new(fake, script.OPTED_OUT, before))
    # Twilio reports delivery (every answer) and reading (every other one).
    reports = [s for phone in phones for s in _new(fake, phone, before) if _answer_in(s)]
    for index, sent in enumerate(reports):
        customer = traffic.customer(sent.to.split(":", 1)[1])
        statuses = ["delivered", "read"] if index % 2 == 0 else ["delivered"]
        for status in statuses:
            form = {"MessageSid": sent.sid, "MessageStatus": status, "To": sent.to}
            customer.post(STATUS, form).raise_for_status()
    store = system.store()
    try:
        # Publishing the same answer again (a second click, another process) sends nothing.
        outbox_before = store.db.execute("select count(*) from outbox").fetchone()[0]
        publish_fact(store, FACT_ID, by="eda")
        outbox_after = store.db.execute("select count(*) from outbox").fetchone()[0]
        day.republished_new_messages = outbox_after - outbox_before
        wait_for(lambda: _reported(store, len(reports)), timeout=60, what="the delivery reports")
        counts: Dict[str, int] = {}
        for delivery in store.list_deliveries():
            counts[delivery["status"]] = counts.get(delivery["status"], 0) + 1
        day.deliveries = counts
        close_incident(store, day.incident_id, by="eda")
    finally:
        store.close()


def _outbox_settled(system: System) -> bool:
    store = system.store()
    try:
        return not store.list_outgoing(status="pending", channel="whatsapp")
    finally:
        store.close()


def _reported(store: Store, count: int) -> bool:
    rows = store.db.execute(
        "select count(*) from deliveries where status in ('delivered', 'read')"
    ).fetchone()
    return rows[0] >= count


def _report(day: Day, system: System, screenshot: Path) -> None:
    """The desk's report page in headless Chromium, as the editor sees it."""
    from PIL import Image
    from selenium.webdriver.common.by import By

    from tests.browser import chrome, log_in, until

    driver = chrome(1280, 900)
    try:
        log_in(driver, system.desk, "eda")
        driver.get(f"{system.desk}/reports/incidents/{day.incident_id}")
        until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "svg.chart"))
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1280, min(max(height, 900), 6000))
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
        for index, chart in enumerate(driver.find_elements(By.CSS_SELECTOR, "svg.chart")):
            path = screenshot.with_name(f"{screenshot.stem}-chart{index}.png")
            chart.screenshot(str(path))
            with Image.open(path) as image:
                colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
            day.report_chart_colours.append(len(colours))
            path.unlink()
        day.report_png = screenshot
    finally:
        driver.quit()
