"""Privacy: `crisisdesk forget` leaves no trace, retention blanks old texts, the desk masks.

The store is a real SQLite file; Rasa's tracker store and event broker are SQLite
files written by Rasa's own classes (`SQLTrackerStore`, `SQLEventBroker`); the
training data is a small git work tree of its own. After a forget, every column
of every table of the three databases is searched for the customer's id and
texts. Retention runs on a moved crisisdesk clock (CRISISDESK_CLOCK_FILE), no
sleeps. The desk's pages are fetched as each role through the real app.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List

import pytest
from rasa.core.brokers.sql import SQLEventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import clock
from bot.cli import main
from bot.privacy import display_sender, display_text, scrub
from bot.privacy_ops import Refused, forget_customer, remove_examples, run_retention
from bot.store import Store
from bot.store.base import now
from bot.store.privacy import CUSTOMER_DATA, NO_CUSTOMER_DATA
from bot.store.rasa_data import blank_event
from tests.desk_client import Desk

CUSTOMER = "whatsapp:+905551112233"
OTHER = "whatsapp:+905559998877"
MASKED = "whatsapp:+90 5** *** **33"
SAID = "kuzey sutte camasir suyu var diye duydum beni 0532 123 45 67 den arayin"
COMPLAINT = "siparisim 48213 bozuk geldi ve cocugum hastalandi hemen donun"
RUMOUR = "kuzey sut fabrikasi yarin kapaniyormus dogru mu acaba"
COMMENT = "temsilci cok ilgiliydi ama gec dondu maalesef"
EXAMPLE = "kuzey sutte camasir suyu var diye duydum beni <phone> den arayin"
NEEDLES = [CUSTOMER, "+905551112233", "905551112233", "5551112233", SAID, COMPLAINT, RUMOUR]
ID_LIKE = re.compile(r"sender|recipient|customer|asker|visitor", re.I)


# -- Rasa's databases, written by Rasa's own classes ------------------------------------


def user_event(sender: str, text: str, at: float, intent: str = "rumour") -> UserUttered:
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.91},
        "entities": [{"entity": "order_number", "value": "48213", "start": 0, "end": 5}],
    }
    return UserUttered(text, parse["intent"], parse["entities"], parse, timestamp=at)


async def save_tracker(path: Path, sender: str, texts: List[str], at: float) -> None:
    events = [ActionExecuted("action_listen", timestamp=at)]
    for n, text in enumerate(texts):
        events.append(user_event(sender, text, at + n))
        events.append(BotUttered("Bunu kontrol ediyoruz.", timestamp=at + n + 0.5))
    tracker = DialogueStateTracker.from_events(sender, events)
    await SQLTrackerStore(Domain.empty(), db=str(path)).save(tracker)


def publish(path: Path, sender: str, texts: List[str], at: float) -> None:
    broker = SQLEventBroker(db=str(path))
    for n, text in enumerate(texts):
        broker.publish({**user_event(sender, text, at + n).as_dict(), "sender_id": sender})
        broker.publish(
            {
                "event": "bot",
                "text": "Bunu kontrol ediyoruz.",
                "timestamp": at + n + 0.5,
                "sender_id": sender,
            }
        )


def all_values(path: Path) -> List[tuple]:
    """(table, column, value as text) of every cell of every table of a SQLite file."""
    conn = sqlite3.connect(str(path))
    found = []
    try:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f"pragma table_info({table})")]
            for row in conn.execute(f"select * from {table}"):
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    if value is not None:
                        found.append((table, column, str(value)))
    finally:
        conn.close()
    return found


def traces(path: Path, needles: List[str]) -> List[tuple]:
    return [
        (table, column, needle)
        for table, column, value in all_values(path)
        for needle in needles
        if needle in value or json.dumps(needle)[1:-1] in value
    ]


# -- the store, with every declared table holding the customer ----------------------------


def fill(store: Store, table: str, values: Dict[str, Any]) -> bool:
    """One row in `table` with `values`, other not-null columns made up; False if it can't."""
    db = store.db
    keys = {r[3]: (r[2], r[4]) for r in db.execute(f"pragma foreign_key_list({table})")}
    row: Dict[str, Any] = {}
    for _cid, name, kind, notnull, default, pk in db.execute(f"pragma table_info({table})"):
        kind = (kind or "").upper()
        if name in values:
            row[name] = values[name]
        elif name in keys:
            parent, to = keys[name]
            found = None
            owner = next((e.ids[0] for e in CUSTOMER_DATA if e.table == parent and e.ids), "")
            if owner and set(values) & {"sender_id", "recipient", "sender"}:
                mine = next(
                    v for k, v in values.items() if k in ("sender_id", "recipient", "sender")
                )
                found = db.execute(
                    f"select {to or 'rowid'} from {parent} where {owner} = ? limit 1", [mine]
                ).fetchone()
            found = found or db.execute(f"select {to or 'rowid'} from {parent} limit 1").fetchone()
            if found is None and notnull and parent != table and fill(store, parent, {}):
                found = db.execute(f"select {to or 'rowid'} from {parent} limit 1").fetchone()
            if found is None and notnull:
                return False
            row[name] = found[0] if found else None
        elif pk and "INT" in kind:
            continue
        elif notnull and default is None:
            row[name] = (
                uuid.uuid4().int % 10**9
                if "INT" in kind
                else 1.0
                if kind in ("REAL", "FLOAT")
                else b"x"
                if "BLOB" in kind
                else f"{table}-{name}-{uuid.uuid4().hex[:8]}"
            )
    with db.conn:
        db[table].insert(row)
    return True


def seed_customer(store: Store, sender: str, texts: Dict[str, str]) -> int:
    """The customer everywhere the product writes them; returns their handoff id."""
    store.record_inbound("whatsapp", f"SM{uuid.uuid4().hex}", sender, texts["said"])
    store.create_ticket(
        sender_id=sender,
        channel="whatsapp",
        text=texts["complaint"],
        language="tr",
        severity="high",
        reasons=["health"],
    )
    handoff = store.open_handoff(
        sender_id=sender,
        channel="whatsapp",
        reason="complaint: health",
        priority="high",
        language="tr",
        last_messages=[{"from": "customer", "text": texts["complaint"]}],
    )
    store.claim_handoff(handoff, "ayse")
    store.claim_handoff_notice(handoff, "staff_alert")
    outbox_id = store.enqueue_outgoing("whatsapp", sender, {"text": "Bunu kontrol ediyoruz."})
    store.record_reply(
        sender_id=sender,
        handoff_id=handoff,
        agent="ayse",
        channel="whatsapp",
        text="Merhaba, sizi arayacagiz.",
        outbox_id=outbox_id,
        tracker_event={"event": "bot", "text": "Merhaba", "timestamp": 1000.0},
    )
    store.add_note(sender, "ayse", f"aradim: {sender}", handoff)
    store.mark_misunderstood(
        sender_id=sender,
        event_time=1000.0,
        text=texts["said"],
        intent="rumour",
        confidence=0.4,
        language="tr",
        marked_by="ayse",
    )
    store.record_feedback(sender, "fact", "F1", False)
    store.record_rumour(texts["rumour"], "tr", sender, "whatsapp")
    store.opt_out("whatsapp", sender)
    store.offer_choices("whatsapp", sender, [{"title": "Evet", "payload": "/affirm"}])
    store.offer_payloads("whatsapp", sender, ["/affirm"])
    item, _ = store.add_inbox_item(
        source="unsure",
        reason="low confidence",
        sender_id=sender,
        event_time=1000.0,
        text=texts["example"],
        channel="whatsapp",
        intent="complaint",
        confidence=0.4,
    )
    store.resolve_inbox_item(item, "assigned", "complaint", "tugba")
    store.record_inbox_example(
        item_id=item,
        intent="complaint",
        language="tr",
        text=texts["example"],
        path="data/nlu/complaint.yml",
        added_by="tugba",
        sender_id=sender,
    )
    # every other declared table (issue 10's, and any added later) gets a row too
    for entry in CUSTOMER_DATA:
        if not entry.ids or entry.table not in store.db.table_names():
            continue
        column = entry.ids[0]
        if store.db.execute(f"select 1 from {entry.table} where {column} = ?", [sender]).fetchone():
            continue
        values: Dict[str, Any] = {column: sender}
        for text_column in entry.texts:
            if text_column in store.db[entry.table].columns_dict:
                values[text_column] = texts["said"] if text_column != "vector" else b"\x00"
        assert fill(store, entry.table, values), entry.table
    return handoff


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git work tree with one NLU file holding the customer's example and others'."""
    root = tmp_path / "project"
    (root / "data/nlu").mkdir(parents=True)
    (root / "data/nlu/complaint.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: complaint\n  metadata:\n    language: tr\n'
        "  examples: |\n    - urun bozuk cikti\n"
        f"    - {EXAMPLE}\n    - kargo gelmedi\n",
        encoding="utf-8",
    )
    for args in (
        ["init", "-q"],
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start"],
    ):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    return root


def test_every_table_declares_its_customer_columns(store):
    undeclared = store.undeclared_tables()
    assert undeclared == [], (
        f"declare {undeclared} in bot/store/privacy.py: CUSTOMER_DATA (which columns hold"
        " a customer's id or words) or NO_CUSTOMER_DATA (why none)"
    )
    declared = {entry.table: entry for entry in CUSTOMER_DATA}
    for table in store.db.table_names():
        columns = [c for c in store.db[table].columns_dict if ID_LIKE.search(c)]
        if not columns:
            continue
        assert table in declared, f"{table} has {columns}: declare it in CUSTOMER_DATA"
        assert table not in NO_CUSTOMER_DATA
        entry = declared[table]
        for column in columns:
            assert column in entry.ids, f"{table}.{column} is not in its entry's ids"


async def test_forget_leaves_no_trace_of_the_customer_anywhere(store, tmp_path, project, capsys):
    tracker_db, broker_db = tmp_path / "rasa_tracker.db", tmp_path / "rasa_events.db"
    store.create_user("ali", "admin", "not-a-real-hash", must_change=False)
    texts = {"said": SAID, "complaint": COMPLAINT, "rumour": RUMOUR, "example": EXAMPLE}
    seed_customer(store, CUSTOMER, texts)
    kept = {
        "said": "baska biri: sut fiyatlari artacak mi",
        "complaint": "kargom hala gelmedi",
        "rumour": "kuzey sut satiliyor mu",
        "example": "kargom <order> nerede",
    }
    seed_customer(store, OTHER, kept)
    with store.db.conn:  # the rating's comment and a "not helpful" message (issue 10)
        store.db.execute(
            "update handoffs set rating_comment = ? where sender_id = ?", [COMMENT, CUSTOMER]
        )
        store.db.execute("update feedback set message = ? where sender_id = ?", [COMMENT, CUSTOMER])
    # the customer's words quoted where their id is not: an alert's and a report's examples
    fill(
        store,
        "alerts",
        {"examples": json.dumps([{"text": scrub(SAID)}, {"text": "başka"}]), "raised_at": now()},
    )
    report = {"top_unanswered": [SAID], "rows": [{"sender_id": CUSTOMER}]}
    fill(store, "frozen_reports", {"data": json.dumps(report)})
    await save_tracker(tracker_db, CUSTOMER, [SAID, COMPLAINT, RUMOUR], time.time())
    await save_tracker(tracker_db, OTHER, [kept["said"]], time.time())
    publish(broker_db, CUSTOMER, [SAID, COMPLAINT], time.time())
    publish(broker_db, OTHER, [kept["said"]], time.time())
    store.close()
    assert traces(tmp_path / "crisisdesk.db", NEEDLES)  # the search finds what is there

    db = str(tmp_path / "crisisdesk.db")
    common = [
        "--tracker-db",
        str(tracker_db),
        "--broker-db",
        str(broker_db),
        "--project",
        str(project),
    ]
    assert main(["--db", db, "forget", CUSTOMER, *common]) == 2  # who forgets?
    assert main(["--db", db, "forget", CUSTOMER, "--as", "ali", "--dry-run", *common]) == 0
    dry = capsys.readouterr().out
    assert "would remove" in dry and "store tickets" in dry and "tracker store" in dry
    assert traces(tmp_path / "crisisdesk.db", NEEDLES)  # a dry run changes nothing

    assert main(["--db", db, "forget", CUSTOMER, "--as", "ali", *common]) == 0
    out = capsys.readouterr().out
    for where in (
        "store inbound_messages",
        "store tickets",
        "store handoffs",
        "store outbox",
        "store rumour_askers",
        "store inbox_examples",
        "store message_log",
        "store alerts",
        "store frozen_reports",
        "tracker store",
        "event broker",
        "data/nlu/complaint.yml",
        "training change",
    ):
        assert re.search(rf"^{re.escape(where)}\s+\d+$", out, re.M), (where, out)
    assert CUSTOMER in out  # the admin sees whom they forgot

    for path in (tmp_path / "crisisdesk.db", tracker_db, broker_db):
        assert traces(path, [*NEEDLES, EXAMPLE, COMMENT, scrub(SAID)]) == [], path
    nlu = (project / "data/nlu/complaint.yml").read_text("utf-8")
    assert EXAMPLE not in nlu and "- urun bozuk cikti" in nlu and "- kargo gelmedi" in nlu
    log = subprocess.run(
        ["git", "-C", str(project), "log", "-1", "--format=%an%n%B"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert log.startswith("ali\n") and "Forget" in log and "5551112233" not in log

    after = Store.open(db)
    try:  # the other customer is untouched; the forget is audited without the id
        assert [t["sender_id"] for t in after.list_tickets()] == [OTHER]
        assert after.open_handoff_for(OTHER) is not None
        audit = [a for a in after.list_audit() if a["action"] == "privacy.forget"]
        assert len(audit) == 1 and audit[0]["actor"] == "ali"
        assert MASKED in audit[0]["subject"]
        change = after.list_training_changes()[0]
        assert change["action"] == "forget_examples" and change["author"] == "ali"
        assert change["intent"] == "complaint"
    finally:
        after.close()
    assert traces(tracker_db, [kept["said"], OTHER]) and traces(broker_db, [OTHER])


def test_forget_is_refused_to_non_admins_and_for_bad_ids(store):
    store.create_user("ayse", "agent", "not-a-real-hash", must_change=False)
    store.create_user("ali", "admin", "not-a-real-hash", must_change=False)
    with pytest.raises(Refused, match="admin"):
        forget_customer(store, CUSTOMER, by="ayse", tracker_db=None, broker_db=None, root=None)
    with pytest.raises(Refused, match="conversation id"):
        forget_customer(store, "  ", by="ali", tracker_db=None, broker_db=None, root=None)
    assert (
        forget_customer(store, "telegram:1", by="ali", tracker_db=None, broker_db=None, root=None)
        == {}
    )


def test_removing_the_last_example_of_a_block_removes_the_block():
    text = (
        'version: "3.1"\nnlu:\n- intent: a\n  examples: |\n    - x\n'
        "- intent: b\n  examples: |\n    - y\n"
    )
    assert remove_examples(text, ["x"]) == (
        'version: "3.1"\nnlu:\n- intent: b\n  examples: |\n    - y\n',
        1,
    )


# -- retention ----------------------------------------------------------------------------

DAY = 86400.0


def tracker_rows(path: Path) -> List[tuple]:
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute(
            "select type_name, intent_name, timestamp, data from events order by id"
        ).fetchall()
    finally:
        conn.close()


async def test_retention_blanks_old_texts_on_a_moved_clock_and_keeps_counts(
    store, tmp_path, monkeypatch, capsys
):
    clock_file = tmp_path / "clock"
    clock_file.write_text("0")
    monkeypatch.setenv(clock.ENV, str(clock_file))
    tracker_db, broker_db = tmp_path / "rasa_tracker.db", tmp_path / "rasa_events.db"
    started = time.time()
    old = store.create_ticket(
        sender_id=CUSTOMER, channel="whatsapp", text=COMPLAINT, language="tr", severity="low"
    )
    store.record_inbound("whatsapp", "SM1", CUSTOMER, SAID)
    store.finish_inbound("whatsapp", "SM1")
    store.record_inbound("whatsapp", "SM2", CUSTOMER, "not handled yet")  # kept: still to do
    sent = store.enqueue_outgoing("whatsapp", CUSTOMER, {"text": "eski cevap"})
    store.mark_sent(sent, "SMx")
    pending = store.enqueue_outgoing("whatsapp", CUSTOMER, {"text": "bekleyen"})
    closed = store.open_handoff(
        sender_id=CUSTOMER,
        channel="whatsapp",
        reason="asked",
        priority="normal",
        language="tr",
        last_messages=[{"from": "customer", "text": SAID}],
    )
    store.close_handoff(closed)
    waiting = store.open_handoff(
        sender_id=OTHER,
        channel="whatsapp",
        reason="asked",
        priority="normal",
        language="tr",
        last_messages=[{"from": "customer", "text": "hala bekliyorum"}],
    )
    fill(
        store,
        "message_log",
        {"sender_id": CUSTOMER, "text": SAID, "intent": "rumour", "at": now(), "vector": b"\x01"},
    )
    await save_tracker(tracker_db, CUSTOMER, [SAID], started)
    publish(broker_db, CUSTOMER, [SAID], started)

    clock.advance(clock_file, 31 * DAY)  # a month later on crisisdesk's clock
    young = store.create_ticket(
        sender_id=OTHER, channel="whatsapp", text="yeni sikayet", language="tr", severity="low"
    )
    await save_tracker(tracker_db, OTHER, ["bugunku mesaj"], clock.timestamp())
    publish(broker_db, OTHER, ["bugunku mesaj"], clock.timestamp())
    counts = {t: store.db[t].count for t in ("tickets", "inbound_messages", "outbox", "handoffs")}

    db = str(tmp_path / "crisisdesk.db")
    rasa = ["--tracker-db", str(tracker_db), "--broker-db", str(broker_db)]
    assert main(["--db", db, "retention", "run", "--days", "30", "--dry-run", *rasa]) == 0
    dry = capsys.readouterr().out
    assert "would blank" in dry and re.search(r"^store tickets\s+1$", dry, re.M)
    assert store.list_tickets(CUSTOMER)[0]["text"] == COMPLAINT  # nothing changed

    done = run_retention(store, 30, tracker_db=tracker_db, broker_db=broker_db)
    assert done == {
        "store inbound_messages": 1,
        "store outbox": 1,
        "store tickets": 1,
        "store handoffs": 1,
        "store message_log": 1,
        "tracker store": 2,
        "event broker": 2,
    }
    assert run_retention(store, 30, tracker_db=tracker_db, broker_db=broker_db) == {}
    assert {t: store.db[t].count for t in counts} == counts  # the rows stay
    tickets = {t["id"]: t for t in store.list_tickets()}
    assert tickets[old.id]["text"] == "" and tickets[old.id]["severity"] == "low"
    assert tickets[young.id]["text"] == "yeni sikayet"
    inbound = {m["message_id"]: m["body"] for m in store.list_inbound()}
    assert inbound == {"SM1": "", "SM2": "not handled yet"}
    assert json.loads(store.get_outgoing(sent)["payload"]) == {}
    assert json.loads(store.get_outgoing(pending)["payload"]) == {"text": "bekleyen"}
    assert store.get_handoff(closed)["last_messages"] == "[]"
    assert "hala bekliyorum" in store.get_handoff(waiting)["last_messages"]
    log = store.db.execute("select text, intent, vector from message_log").fetchone()
    assert log == ("", "rumour", None)

    rows = tracker_rows(tracker_db)
    users = [(r[1], r[2], json.loads(r[3])) for r in rows if r[0] == "user"]
    assert [(intent, event["text"], event["parse_data"]["text"]) for intent, _, event in users] == [
        ("rumour", "", ""),
        ("rumour", "bugunku mesaj", "bugunku mesaj"),
    ]
    assert users[0][2]["parse_data"]["intent"]["name"] == "rumour"
    assert users[0][2]["parse_data"]["entities"][0] == {
        "entity": "order_number",
        "value": "",
        "start": 0,
        "end": 5,
    }
    assert abs(users[0][1] - started) < 1 and users[0][2]["timestamp"] == users[0][1]
    assert traces(broker_db, [SAID]) == [] and traces(broker_db, ["bugunku mesaj"])


def test_retention_off_changes_nothing(store, capsys):
    store.create_ticket(
        sender_id=CUSTOMER, channel="whatsapp", text=COMPLAINT, language="tr", severity="low"
    )
    assert run_retention(store, 0, tracker_db=None, broker_db=None) == {}
    assert store.list_tickets()[0]["text"] == COMPLAINT


# -- masking --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, role, shown",
    [
        (CUSTOMER, "agent", MASKED),
        (CUSTOMER, "admin", CUSTOMER),
        ("telegram:123456789", "editor", "telegram:12*****89"),
        (None, "agent", "-"),
    ],
)
def test_display_sender(text, role, shown):
    assert display_sender(text, role) == shown


def test_display_text_masks_phone_numbers_but_not_orders_or_tickets():
    text = "beni +90 532 123 45 67 veya 0532 123 45 67 arayin, siparis 48213, CD-000012"
    assert display_text(text, "trainer") == (
        "beni +90 5** *** ** 67 veya 0*** *** ** 67 arayin, siparis 48213, CD-000012"
    )
    assert display_text(text, "admin") == text


class FakeRasa(ThreadingHTTPServer):
    """Rasa's tracker API on loopback: one conversation whose customer gave a number."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Tracker)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Tracker(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        events = [
            {
                "event": "user",
                "text": SAID,
                "timestamp": time.time() - 60,
                "parse_data": {"intent": {"name": "rumour", "confidence": 0.9}},
            }
        ]
        body = json.dumps({"sender_id": CUSTOMER, "events": events, "paused": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def desk(store, tmp_path) -> Iterator[SimpleNamespace]:
    rasa = FakeRasa()
    threading.Thread(target=rasa.serve_forever, daemon=True).start()
    desk = Desk(store, RASA_URL=rasa.url, RASA_TOKEN="t" * 32)
    desk.app.state.live = SimpleNamespace(broker_db=tmp_path / "no-broker.db")
    for name, role in (
        ("ayse", "agent"),
        ("eda", "editor"),
        ("tugba", "trainer"),
        ("ali", "admin"),
    ):
        desk.user(name, role)
    waiting = store.open_handoff(
        sender_id=CUSTOMER,
        channel="whatsapp",
        reason="asked for a person",
        priority="high",
        language="tr",
        last_messages=[{"from": "customer", "text": SAID}],
    )
    done = store.open_handoff(
        sender_id=OTHER,
        channel="whatsapp",
        reason="asked",
        priority="normal",
        language="tr",
        last_messages=[],
    )
    store.close_handoff(done)
    store.record_rumour(SAID, "tr", CUSTOMER, "whatsapp")
    store.add_inbox_item(
        source="unsure",
        reason="low confidence",
        sender_id=CUSTOMER,
        event_time=1000.0,
        text=EXAMPLE,
        channel="whatsapp",
    )
    yield SimpleNamespace(desk=desk, handoff=waiting)
    rasa.shutdown()
    rasa.server_close()


PAGES = {
    "agent": ["/queue/items", "/conversations/{id}", "/dashboard"],
    "editor": ["/rumours"],
    "trainer": ["/training/inbox"],
}
WHOLE = {
    "/queue/items": [CUSTOMER, "0532 123 45 67"],
    "/conversations/{id}": [CUSTOMER, SAID],
    "/dashboard": [OTHER],
    "/rumours": ["0532 123 45 67"],
    "/training/inbox": [CUSTOMER],
}
MASKS = {
    "/queue/items": [MASKED, "0*** *** ** 67"],
    "/conversations/{id}": [MASKED, "0*** *** ** 67"],
    "/dashboard": ["whatsapp:+90 5** *** **77"],
    "/rumours": ["0*** *** ** 67"],
    "/training/inbox": [MASKED],
}


@pytest.mark.parametrize("name, role", [("ayse", "agent"), ("eda", "editor"), ("tugba", "trainer")])
def test_desk_pages_mask_phone_numbers_for_everyone_but_admins(desk, name, role):
    staff = desk.desk.login(name)
    admin = desk.desk.login("ali")
    for page in PAGES[role]:
        path = page.format(id=desk.handoff)
        seen = staff.get(path)
        assert seen.status_code == 200, (path, seen.text[:300])
        for masked in MASKS[page]:
            assert masked in seen.text, (role, path, masked)
        for number in ("905551112233", "5551112233", "905559998877", "0532 123 45 67"):
            assert number not in seen.text, (role, path, number)
        whole = admin.get(path)
        assert whole.status_code == 200
        for text in WHOLE[page]:
            assert text in whole.text, ("admin", path, text)


# -- the real thing: a running Rasa server's tracker store and event broker -------------


@pytest.mark.slow
def test_forget_in_a_running_rasa_servers_databases(demo_bot, demo_workdir):
    sender = f"rest-forget-{uuid.uuid4().hex[:8]}"
    said = "kuzey sut iflas mi ediyor, numaram 0532 765 43 21 beni arayin"
    assert demo_bot.say(sender, said)  # the bot answered: events are in both files
    tracker_db, broker_db = demo_workdir / "tracker.db", demo_bot.events_db
    assert traces(tracker_db, [sender, said]) and traces(broker_db, [sender, said])
    store = Store.open(demo_bot.db_path)
    try:
        if store.find_user("privacyadmin") is None:
            store.create_user("privacyadmin", "admin", "not-a-real-hash", must_change=False)
        removed = forget_customer(
            store,
            sender,
            by="privacyadmin",
            tracker_db=tracker_db,
            broker_db=broker_db,
            root=None,
        )
    finally:
        store.close()
    assert removed["tracker store"] > 0 and removed["event broker"] > 0
    for path in (demo_bot.db_path, tracker_db, broker_db):
        assert traces(path, [sender, said, "0532 765 43 21"]) == [], path
    assert [e for e in demo_bot.tracker(sender)["events"] if e["event"] == "user"] == []


async def test_the_background_task_runs_retention_until_stopped(store, tmp_path):
    from datetime import timedelta

    from bot.privacy_ops import retention_task

    store.create_ticket(
        sender_id=CUSTOMER, channel="whatsapp", text=COMPLAINT, language="tr", severity="low"
    )
    later = clock.now() + timedelta(days=31)
    task = retention_task(tmp_path / "crisisdesk.db", 30, None, None, lambda: later, 0.01)
    assert task is not None
    task.start()
    try:
        deadline = time.monotonic() + 10
        # Until a round has finished, not only scrubbed: the scrub commits in a
        # worker thread before the round counts, and stopping in between races.
        while (store.list_tickets()[0]["text"] or task.rounds < 1) and (
            time.monotonic() < deadline
        ):
            await asyncio.sleep(0.01)  # until the condition holds, not a fixed wait
        assert store.list_tickets()[0]["text"] == ""
    finally:
        await task.stop()
    assert task.task is None and task.rounds >= 1


def test_the_desk_lifespan_starts_and_stops_retention(store):
    from starlette.testclient import TestClient

    desk = Desk(store, CRISISDESK_RETENTION_DAYS="30")
    with TestClient(desk.app):
        running = desk.app.state.retention
        assert running.task is not None and not running.task.done()
    assert desk.app.state.retention.task is None
    off = Desk(store, CRISISDESK_RETENTION_DAYS="0")
    with TestClient(off.app):
        assert off.app.state.retention is None


@pytest.mark.parametrize(
    "event, blanked",
    [
        ({"event": "slot", "name": "rating_comment", "value": COMMENT}, ""),
        ({"event": "slot", "name": "order_number", "value": "48213"}, ""),
        ({"event": "slot", "name": "pending", "value": "fact:F1"}, "fact:F1"),
        ({"event": "slot", "name": "language", "value": "tr"}, "tr"),
    ],
)
def test_retention_blanks_slots_that_may_hold_the_customers_words(event, blanked):
    assert blank_event(event) == (blanked == "")
    assert event["value"] == blanked
