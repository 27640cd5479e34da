"""Incidents: statements with four eyes, topic detection, the CLI, the desk, the conversation.

Real store (SQLite in a temporary file), real sentence encoder, the real desk
app through Starlette's TestClient, the real actions with a real Tracker and the
real NLG with the real domain; no Rasa server (the conversation changes are in
the actions and the NLG, which these tests call as Rasa would).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any, Dict, Iterator, List

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk.executor import CollectingDispatcher
from starlette.testclient import TestClient

from actions.complaints import ActionLogComplaint
from actions.facts import ActionAnswerQuestion, ActionAnswerRumour
from actions.fallback import ActionFallback
from actions.handoff import ActionHandoff
from actions.out_of_scope import ActionOutOfScope
from bot import clock, incidents
from bot.cli import main
from bot.desk.app import create_app
from bot.desk.auth import SESSION_COOKIE
from bot.nlg import BilingualNLG
from bot.store import NotFound, Store
from bot.store.aio import AsyncStore
from bot.store.incidents import StatementRefused
from tests.conftest import ROOT, make_tracker

STATEMENT_TR = "Bildirimleri inceliyoruz. Şüpheli bir şişeyi lütfen tüketmeyin."
STATEMENT_EN = "We are investigating the reports. Please do not drink a bottle you doubt."
# Written for these tests (a bleach scare); the crisis-day script is the lead's.
EXAMPLES = {
    "tr": ["sütünüzde çamaşır suyu var mı", "sütten çamaşır suyu kokusu geliyor"],
    "en": ["is there bleach in your milk", "your milk smells of bleach"],
}


def open_bleach(store: Store, by: str = "eda", **extra: Any) -> Dict[str, Any]:
    values: Dict[str, Any] = dict(
        name="Bleach in milk reports",
        severity="high",
        keywords=["çamaşır suyu", "bleach"],
        examples=EXAMPLES,
        by=by,
    )
    values.update(extra)
    return incidents.open_incident(store, **values)


def draft(store: Store, incident_id: int, by: str = "eda", suffix: str = "") -> Dict[str, Any]:
    return incidents.write_statement(
        store, incident_id, text_tr=STATEMENT_TR + suffix, text_en=STATEMENT_EN + suffix, by=by
    )


def audit_actions(store: Store) -> List[str]:
    return [row["action"] for row in reversed(store.list_audit())]


@pytest.fixture
def editors(store: Store) -> Store:
    """The store with two editors (eda, emre), an admin (ali) and an agent (ayse)."""
    for name, role in (("eda", "editor"), ("emre", "editor"), ("ali", "admin"), ("ayse", "agent")):
        store.create_user(name, role, "not-a-real-hash", must_change=False)
    return store


# -- statements: versions and four eyes -------------------------------------------------


def test_a_statement_goes_live_only_when_a_second_person_approves_it(editors):
    incident = open_bleach(editors)
    first = draft(editors, incident["id"])
    assert first["version"] == 1 and first["status"] == "draft"
    assert editors.live_statement(incident["id"]) is None

    with pytest.raises(incidents.NotAllowed, match="second person"):
        incidents.approve_statement(editors, first["id"], by="eda")
    assert editors.live_statement(incident["id"]) is None

    live = incidents.approve_statement(editors, first["id"], by="emre")
    assert (live["status"], live["written_by"], live["approved_by"]) == ("live", "eda", "emre")
    assert live["approved_at"] and live["live_at"] and live["written_at"]
    assert editors.live_statement(incident["id"])["id"] == first["id"]
    assert audit_actions(editors)[-3:] == [
        "incident.statement",
        "incident.approve_refused",
        "incident.approve",
    ]


def test_a_new_version_supersedes_the_live_one_only_once_approved(editors):
    incident = open_bleach(editors)
    v1 = incidents.approve_statement(editors, draft(editors, incident["id"])["id"], by="ali")
    v2 = draft(editors, incident["id"], by="emre", suffix=" (2)")
    assert v2["version"] == 2
    assert editors.live_statement(incident["id"])["id"] == v1["id"]  # the draft changes nothing
    incidents.approve_statement(editors, v2["id"], by="eda")
    versions = {s["version"]: s for s in editors.list_statements(incident["id"])}
    assert versions[1]["status"] == "superseded" and versions[1]["superseded_at"]
    assert versions[1]["approved_by"] == "ali"  # each version keeps its own writer and approver
    assert (versions[2]["status"], versions[2]["written_by"], versions[2]["approved_by"]) == (
        "live",
        "emre",
        "eda",
    )


def test_an_older_draft_cannot_replace_a_newer_live_version(editors):
    incident = open_bleach(editors)
    older = draft(editors, incident["id"])
    newer = draft(editors, incident["id"], suffix=" (newer)")
    incidents.approve_statement(editors, newer["id"], by="emre")
    with pytest.raises(incidents.IncidentProblem, match="superseded"):
        incidents.approve_statement(editors, older["id"], by="emre")
    assert editors.live_statement(incident["id"])["id"] == newer["id"]


def test_the_store_itself_refuses_the_writer_as_approver(editors):
    incident = open_bleach(editors)
    statement = draft(editors, incident["id"])
    with pytest.raises(StatementRefused):
        editors.approve_statement(statement["id"], "eda")
    assert editors.get_statement(statement["id"])["status"] == "draft"


def test_a_rejected_draft_never_goes_live(editors):
    incident = open_bleach(editors)
    statement = draft(editors, incident["id"])
    incidents.reject_statement(editors, statement["id"], by="emre")
    with pytest.raises(incidents.IncidentProblem, match="rejected"):
        incidents.approve_statement(editors, statement["id"], by="ali")
    assert editors.live_statement(incident["id"]) is None


def test_closing_stops_the_statement_and_new_versions(editors):
    incident = open_bleach(editors)
    incidents.approve_statement(editors, draft(editors, incident["id"])["id"], by="emre")
    pending = draft(editors, incident["id"], suffix=" (2)")
    closed = incidents.close_incident(editors, incident["id"], by="ali")
    assert (closed["status"], closed["closed_by"]) == ("closed", "ali") and closed["closed_at"]
    assert editors.live_statement(incident["id"]) is None
    assert editors.active_incidents() == [] and editors.greeting_statement() is None
    with pytest.raises(incidents.IncidentProblem, match="closed"):
        draft(editors, incident["id"])
    with pytest.raises(incidents.IncidentProblem, match="closed"):
        incidents.approve_statement(editors, pending["id"], by="ali")
    assert incidents.close_incident(editors, incident["id"], by="eda")["closed_by"] == "ali"
    assert audit_actions(editors).count("incident.close") == 1


def test_closing_freezes_the_incidents_report_once(editors):
    started = (clock.now() - timedelta(hours=2)).isoformat(timespec="seconds")
    incident = open_bleach(editors, started_at=started)
    incidents.approve_statement(editors, draft(editors, incident["id"])["id"], by="emre")
    incidents.close_incident(editors, incident["id"], by="ali")
    frozen = editors.frozen_report_data(incident["id"])
    assert frozen is not None and frozen.get("frozen_at")
    incidents.close_incident(editors, incident["id"], by="ali")
    assert editors.frozen_report_data(incident["id"]) == frozen


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"name": "  "}, "name"),
        ({"severity": "huge"}, "severity"),
        ({"examples": {"tr": ["bir"], "en": []}}, "examples_en"),
        ({"keywords": ["!!!"]}, "keywords"),
        ({"started_at": "yesterday"}, "ISO 8601"),
        ({"started_at": "2026-12-03T12:00"}, "time zone"),
    ],
)
def test_bad_incident_fields_are_refused_with_the_reason(editors, fields, problem):
    with pytest.raises(incidents.IncidentProblem, match=problem):
        open_bleach(editors, **fields)
    assert editors.list_incidents() == []


def test_the_start_time_is_kept_in_utc(editors):
    incident = open_bleach(editors, started_at="2026-12-03T12:00+03:00")
    assert incident["started_at"] == "2026-12-03T09:00:00+00:00"


# -- topic detection ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "SÜTÜNÜZDE ÇAMAŞIR SUYU VARMIŞ",  # Turkish capitals, İ/I
        "sutunuzde camasir suyu varmis",  # no Turkish letters
        "camasir suyunu sute mi katiyorsunuz",  # a suffix on the phrase's last word
        "is it true there's BLEACH in the milk?",
        "bleached milk??",
    ],
)
def test_keywords_match_without_diacritics_case_or_suffixes(editors, text):
    incident = open_bleach(editors)
    found = incidents.TopicDetector(editors, threshold=0.99).match(text)
    assert found is not None and found.incident["id"] == incident["id"] and found.keyword


def test_a_short_keyword_needs_a_turkish_ending_not_any_longer_word(editors):
    incidents.open_incident(
        editors,
        name="Glass",
        severity="high",
        keywords=["cam"],
        examples={"tr": ["x"], "en": ["y"]},
        by="eda",
    )
    detector = incidents.TopicDetector(editors, threshold=0.99)
    assert detector.match("ayrandan camlar çıktı").keyword == "cam"
    assert detector.match("şişenin camı kırık").keyword == "cam"
    assert detector.match("çamaşır makinesi bozuldu") is None  # camasir is not cam+ending


def test_meaning_finds_a_wording_without_keywords_and_leaves_other_topics(editors):
    incident = open_bleach(editors, keywords=[])
    detector = incidents.TopicDetector(editors, threshold=0.50)
    found = detector.match("they say your milk has chlorine cleaning liquid in it")
    assert found is not None and found.incident["id"] == incident["id"]
    assert found.keyword is None and found.score >= 0.50 and found.example
    for other in ("siparişim üç gündür gelmedi", "what are your opening hours?", "merhaba"):
        assert detector.incident_for(other) is None, other


def test_example_vectors_are_computed_once_per_incident_change(editors):
    from bot import encoder

    calls: List[int] = []

    def counting(texts):
        calls.append(len(texts))
        return encoder.encode(texts)

    incident = open_bleach(editors, keywords=[])
    detector = incidents.TopicDetector(editors, threshold=0.5, encode=counting)
    for text in ("a", "b", "c", "d"):
        detector.incident_for(f"message {text} about cows")
    examples = len(EXAMPLES["tr"]) + len(EXAMPLES["en"])
    assert calls.count(examples) == 1 and calls.count(1) == 4  # examples once, each message once
    editors.update_incident(incident["id"], examples={"tr": ["yeni örnek"], "en": ["new one"]})
    detector.incident_for("message e about cows")
    assert calls[-2:] == [2, 1]  # re-encoded after the change


def test_only_active_incidents_are_detected(editors):
    incident = open_bleach(editors)
    detector = incidents.TopicDetector(editors, threshold=0.5)
    assert detector.incident_for("bleach in milk?")["id"] == incident["id"]
    incidents.close_incident(editors, incident["id"], by="ali")
    assert detector.incident_for("bleach in milk?") is None


def test_opening_puts_the_messages_since_its_start_on_it(editors):
    def log(event_id: int, text: str, at: str, **extra: Any) -> int:
        row = {
            "event_id": event_id,
            "channel": "whatsapp",
            "sender_id": f"whatsapp:+9055500{event_id}",
            "message_id": f"SM{event_id}",
            "text": text,
            "intent": "rumour",
            "confidence": 0.9,
            "language": "en",
            "incident_id": None,
            "topic": "",
            "at": at,
            **extra,
        }
        return editors.log_message(row)

    before = log(1, "is there bleach in your milk?", "2026-12-01T08:00:00+00:00")
    on_topic = log(2, "your milk has bleach in it, people say", "2026-12-01T10:00:00+00:00")
    other = log(3, "is Kuzey Süt going bankrupt?", "2026-12-01T10:05:00+00:00")
    elsewhere = log(4, "bleach in milk again?", "2026-12-01T10:10:00+00:00", incident_id=99)
    incident = open_bleach(editors, started_at="2026-12-01T09:00:00+00:00")
    rows = dict(editors.db.execute("select id, incident_id from message_log").fetchall())
    assert rows == {before: None, on_topic: incident["id"], other: None, elsewhere: 99}


def test_headline_is_the_first_sentence_for_one_line():
    assert incidents.headline("İnceliyoruz. Lütfen tüketmeyin.") == "İnceliyoruz."
    assert incidents.headline("Parti 19. gün toplatıldı. Sonra") == "Parti 19. gün toplatıldı."
    long = "word " * 60
    assert len(incidents.headline(long)) <= incidents.MAX_HEADLINE
    assert incidents.headline(long).endswith("…")


# -- the command line -------------------------------------------------------------------------


def cli(db, *args: str) -> int:
    return main(["--db", str(db), *args])


def test_cli_open_statement_approve_show_close(editors, tmp_path, capsys):
    db = tmp_path / "crisisdesk.db"
    assert (
        cli(
            db,
            *("incidents", "open", "Bleach reports", "--severity", "high"),
            *("--keyword", "çamaşır suyu, bleach", "--example-tr", EXAMPLES["tr"][0]),
            *("--example-en", EXAMPLES["en"][0], "--started-at", "2026-12-03T11:00Z"),
            *("--as", "eda"),
        )
        == 0
    )
    incident = editors.list_incidents()[0]
    assert incident["keywords"] == ["çamaşır suyu", "bleach"] and incident["opened_by"] == "eda"
    assert cli(db, "incidents", "statement", str(incident["id"]), "--tr", STATEMENT_TR,
               "--en", STATEMENT_EN, "--as", "eda") == 0  # fmt: skip
    statement = editors.list_statements(incident["id"])[0]
    capsys.readouterr()
    assert cli(db, "incidents", "approve", str(statement["id"]), "--as", "eda") == 2
    assert "second person" in capsys.readouterr().err
    assert editors.live_statement(incident["id"]) is None
    assert cli(db, "incidents", "approve", str(statement["id"]), "--as", "ali") == 0
    assert "approved by ali" in capsys.readouterr().out
    assert cli(db, "incidents", "show", str(incident["id"])) == 0
    shown = capsys.readouterr().out
    assert "version 1: live; written by eda" in shown and "approved by ali" in shown
    assert cli(db, "incidents", "list") == 0 and "Bleach reports" in capsys.readouterr().out
    assert cli(db, "incidents", "close", str(incident["id"]), "--as", "emre") == 0
    assert editors.get_incident(incident["id"])["status"] == "closed"
    assert cli(db, "incidents", "list") == 0 and "(none)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("user", "problem"),
    [("ayse", "only editors and admins"), ("nobody", "not a desk user"), ("", "--as NAME")],
)
def test_cli_refuses_someone_who_is_not_an_editor_or_admin(
    editors, tmp_path, capsys, user, problem
):
    incident = open_bleach(editors)
    statement = draft(editors, incident["id"])
    assert cli(tmp_path / "crisisdesk.db", "incidents", "approve", str(statement["id"]),
               "--as", user) == 2  # fmt: skip
    assert problem in capsys.readouterr().err
    assert editors.live_statement(incident["id"]) is None


def test_cli_topic_changes_keywords_and_the_detector_follows(editors, tmp_path, capsys):
    incident = open_bleach(editors)
    detector = incidents.TopicDetector(editors, threshold=0.99)
    assert detector.incident_for("kostik soda mı var") is None
    db = tmp_path / "crisisdesk.db"
    assert cli(db, "incidents", "topic", str(incident["id"]), "--keyword", "kostik soda, bleach",
               "--severity", "critical", "--as", "emre") == 0  # fmt: skip
    changed = editors.get_incident(incident["id"])
    assert changed["keywords"] == ["kostik soda", "bleach"] and changed["severity"] == "critical"
    assert changed["examples"] == EXAMPLES  # not given: unchanged
    assert detector.incident_for("KOSTİK SODA mı var")["id"] == incident["id"]
    assert "incident.topic" in audit_actions(editors)
    incidents.close_incident(editors, incident["id"], by="ali")
    capsys.readouterr()
    assert cli(db, "incidents", "topic", str(incident["id"]), "--keyword", "x", "--as", "ali") == 2
    assert "closed" in capsys.readouterr().err


def test_cli_unknown_incident_is_a_clean_error(editors, tmp_path, capsys):
    assert cli(tmp_path / "crisisdesk.db", "incidents", "show", "99") == 2
    assert "no incident 99" in capsys.readouterr().err


# -- the conversation (actions and NLG, as Rasa calls them) ------------------------------


@pytest.fixture
def crisis(action_store: Store) -> Dict[str, Any]:
    """The demo store behind the actions, with an active bleach incident and two editors."""
    for name in ("eda", "emre"):
        action_store.create_user(name, "editor", "not-a-real-hash", must_change=False)
    return open_bleach(action_store)


def approve_first(store: Store, incident: Dict[str, Any], suffix: str = "") -> Dict[str, Any]:
    statement = draft(store, incident["id"], suffix=suffix)
    return incidents.approve_statement(store, statement["id"], by="emre")


async def run_rumour(text: str, sender: str, language: str = "tr", domain=None):
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(text, "rumour", language=language, sender_id=sender)
    events = await ActionAnswerRumour().run(dispatcher, tracker, domain or {})
    return [m["response"] for m in dispatcher.messages], dispatcher.messages, events


async def test_a_draft_statement_is_never_shown_to_customers(crisis, action_store):
    draft(action_store, crisis["id"])  # written, not approved
    responses, _, _ = await run_rumour("sütünüzde çamaşır suyu var mı", "whatsapp:+905550000001")
    assert "utter_incident_statement" not in responses
    assert responses  # the usual answer still comes
    assert action_store.greeting_statement() is None


async def test_on_topic_message_gets_the_live_statement_first_once_per_version(
    crisis, action_store
):
    approve_first(action_store, crisis)
    sender = "whatsapp:+905550000002"
    responses, messages, _ = await run_rumour("sütünüzde çamaşır suyu var mı", sender)
    assert responses[0] == "utter_incident_statement" and len(responses) >= 2
    assert messages[0]["statement"] == STATEMENT_TR  # the customer's language
    assert responses[1].startswith("utter_fact_")  # then the usual fact handling
    for again in ("camasir suyu konusu ne oldu", "hala camasir suyu diyorlar"):
        responses, _, _ = await run_rumour(again, sender)
        assert "utter_incident_statement" not in responses  # told once, not every time
    approve_first(action_store, crisis, suffix=" Güncelleme.")  # a new version: told again
    responses, messages, _ = await run_rumour("çamaşır suyu?", sender)
    assert responses[0] == "utter_incident_statement"
    assert messages[0]["statement"].endswith("Güncelleme.")
    conversation = action_store.incident_conversations(crisis["id"])
    assert [(c["sender_id"], c["messages"]) for c in conversation] == [(sender, 4)]


async def test_statement_in_english_and_not_for_other_topics(crisis, action_store):
    approve_first(action_store, crisis)
    _, messages, _ = await run_rumour("is there bleach in kuzey milk", "telegram:1", language="en")
    assert messages[0]["response"] == "utter_incident_statement"
    assert messages[0]["statement"] == STATEMENT_EN
    responses, _, _ = await run_rumour("kuzey sut iflas mi ediyor", "telegram:2")
    assert "utter_incident_statement" not in responses


async def test_a_claim_about_another_brand_gets_no_statement_of_ours(crisis, action_store):
    approve_first(action_store, crisis)
    responses, _, _ = await run_rumour(
        "Anka Holding sütünde çamaşır suyu varmış", "telegram:3", language="tr"
    )
    assert responses == ["utter_other_brand"]


async def test_questions_and_complaints_on_topic_get_it_first_too(crisis, action_store):
    approve_first(action_store, crisis)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("sütte çamaşır suyu olup olmadığını nasıl anlarım", "question",
                           language="tr", sender_id="rest:q")  # fmt: skip
    await ActionAnswerQuestion().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["response"] == "utter_incident_statement"
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("sütünüzden çamaşır suyu kokusu geldi, çocuğum hastalandı",
                           "complaint", language="tr", sender_id="rest:c")  # fmt: skip
    events = await ActionLogComplaint().run(dispatcher, tracker, {})
    responses = [m["response"] for m in dispatcher.messages]
    assert responses == ["utter_incident_statement", "utter_complaint_escalated"]
    handoff = action_store.open_handoff_for("rest:c")
    assert handoff["incident_id"] == crisis["id"] and handoff["priority"] == "high"
    assert any(e.get("event") == "pause" for e in events)


async def test_an_on_topic_message_read_as_out_of_scope_gets_the_statement_instead(
    crisis, action_store
):
    async def out_of_scope(text: str, sender: str) -> List[str]:
        dispatcher = CollectingDispatcher()
        tracker = make_tracker(text, "out_of_scope", language="en", sender_id=sender)
        assert await ActionOutOfScope().run(dispatcher, tracker, {}) == []
        return [m["response"] for m in dispatcher.messages]

    on_topic = "what is going on with the bleach in milk reports?"
    assert await out_of_scope(on_topic, "rest:o1") == ["utter_out_of_scope"]  # only a draft
    approve_first(action_store, crisis)
    assert await out_of_scope(on_topic, "rest:o1") == ["utter_incident_statement"]
    assert await out_of_scope(on_topic, "rest:o1") == ["utter_out_of_scope"]  # once
    assert await out_of_scope("who will win the cup", "rest:o2") == ["utter_out_of_scope"]


async def test_a_fallback_on_the_topic_gives_the_statement_then_asks_to_rephrase(
    crisis, action_store, domain
):
    approve_first(action_store, crisis)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("camasir suyu ???", "nlu_fallback", language="tr", sender_id="rest:f")
    await ActionFallback().run(dispatcher, tracker, domain)
    responses = [m["response"] for m in dispatcher.messages]
    assert responses == ["utter_incident_statement", "utter_ask_rephrase"]


async def test_handoffs_on_the_topic_are_raised_and_tagged(crisis, action_store):
    history = [
        {
            "event": "user",
            "text": "sütten çamaşır suyu kokusu geliyor",
            "parse_data": {"language": "tr", "intent": {"name": "rumour"}},
            "timestamp": 0.5,
        }
    ]
    tracker = make_tracker("temsilci istiyorum", "request_human", language="tr",
                           sender_id="whatsapp:+905550000009", history=history)  # fmt: skip
    await ActionHandoff().run(CollectingDispatcher(), tracker, {})
    tagged = action_store.open_handoff_for("whatsapp:+905550000009")
    assert (tagged["priority"], tagged["incident_id"]) == ("high", crisis["id"])
    queue = {row["sender_id"]: row for row in action_store.queue()}
    assert queue["whatsapp:+905550000009"]["incident_name"] == crisis["name"]

    tracker = make_tracker("temsilci istiyorum", "request_human", language="tr",
                           sender_id="whatsapp:+905550000010")  # fmt: skip
    await ActionHandoff().run(CollectingDispatcher(), tracker, {})
    plain = action_store.open_handoff_for("whatsapp:+905550000010")
    assert (plain["priority"], plain["incident_id"]) == ("normal", None)


@pytest.fixture(scope="module")
def domain_nlg() -> BilingualNLG:
    return BilingualNLG(domain=Domain.load(str(ROOT / "domain.yml")))


def greeting_tracker(language: str | None) -> DialogueStateTracker:
    tracker = DialogueStateTracker("c1", [])
    tracker.update(UserUttered("merhaba", {"name": "greet"}, parse_data={"language": language}))
    return tracker


@pytest.fixture
def nlg_on(domain_nlg: BilingualNLG, editors: Store) -> Iterator[BilingualNLG]:
    domain_nlg.incident_store = AsyncStore.of(editors, threads=1)
    yield domain_nlg
    domain_nlg.incident_store.close()
    domain_nlg.incident_store = None


async def test_the_greeting_mentions_the_live_statement_in_one_line(nlg_on, editors):
    incident = open_bleach(editors)
    statement = draft(editors, incident["id"])
    plain = (await nlg_on.generate("utter_greet", greeting_tracker("tr"), "rest"))["text"]
    assert "📢" not in plain  # a draft: nothing
    incidents.approve_statement(editors, statement["id"], by="emre")
    turkish = (await nlg_on.generate("utter_greet", greeting_tracker("tr"), "rest"))["text"]
    assert turkish == plain + "\n📢 Güncel duyuru: Bildirimleri inceliyoruz."
    english = (await nlg_on.generate("utter_greet", greeting_tracker("en"), "rest"))["text"]
    assert english.endswith("\n📢 Current notice: We are investigating the reports.")
    other = (await nlg_on.generate("utter_goodbye", greeting_tracker("tr"), "rest"))["text"]
    assert "📢" not in other
    incidents.close_incident(editors, incident["id"], by="ali")
    assert (await nlg_on.generate("utter_greet", greeting_tracker("tr"), "rest"))["text"] == plain


# -- the desk -------------------------------------------------------------------------------


class DeskUser:
    """A TestClient on the desk app, logged in as one user (a session row, no password)."""

    def __init__(self, store: Store, client: TestClient, name: str, role: str) -> None:
        self.client = client
        user = store.find_user(name) or store.create_user(
            name, role, "not-a-real-hash", must_change=False
        )
        session_id, self.csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        store.create_session(session_id, user["id"], self.csrf, clock.now() + timedelta(hours=1))
        client.cookies.set(SESSION_COOKIE, session_id)

    def get(self, path: str):
        return self.client.get(path, follow_redirects=False)

    def post(self, path: str, data: Dict[str, Any] | None = None):
        form = {**(data or {}), "csrf_token": self.csrf}
        return self.client.post(path, data=form, follow_redirects=False)


@pytest.fixture
def desk(editors: Store) -> Iterator[Any]:
    app = create_app(store=editors)
    clients: List[TestClient] = []

    def as_user(name: str, role: str = "editor") -> DeskUser:
        client = TestClient(app, base_url="http://desk.test")
        client.__enter__()
        clients.append(client)
        return DeskUser(editors, client, name, role)

    yield as_user
    for client in clients:
        client.__exit__(None, None, None)
    app.state.store.close()


NEW_INCIDENT = {
    "name": "Bleach reports",
    "severity": "high",
    "keywords": "çamaşır suyu, bleach",
    "examples_tr": "\n".join(EXAMPLES["tr"]),
    "examples_en": "\n".join(EXAMPLES["en"]),
    "started_at": "",
}


def test_desk_editors_open_write_approve_and_close(desk, editors):
    eda, emre = desk("eda"), desk("emre")
    opened = eda.post("/incidents/new", NEW_INCIDENT)
    assert opened.status_code == 303
    incident = editors.list_incidents()[0]
    assert opened.headers["location"].startswith(f"/incidents/{incident['id']}")
    assert incident["examples"] == EXAMPLES and incident["opened_by"] == "eda"

    page = f"/incidents/{incident['id']}"
    written = eda.post(f"{page}/statements", {"text_tr": STATEMENT_TR, "text_en": STATEMENT_EN})
    assert written.status_code == 303
    statement = editors.list_statements(incident["id"])[0]

    refused = eda.post(f"{page}/statements/{statement['id']}/approve")
    assert refused.status_code == 403
    assert "a second person" in refused.text and "eda wrote version 1" in refused.text
    assert editors.live_statement(incident["id"]) is None

    shown = eda.get(page).text
    assert "draft" in shown and "waiting for a second editor or admin" in shown

    approved = emre.post(f"{page}/statements/{statement['id']}/approve")
    assert approved.status_code == 303
    assert editors.live_statement(incident["id"])["approved_by"] == "emre"
    shown = emre.get(page).text
    assert "live" in shown and "emre" in shown and STATEMENT_TR in shown
    assert f'href="/reports/incidents/{incident["id"]}"' in shown

    assert emre.post(f"{page}/close").status_code == 303
    assert editors.get_incident(incident["id"])["status"] == "closed"
    actions = audit_actions(editors)
    for action in ("incident.open", "incident.statement", "incident.approve_refused",
                   "incident.approve", "incident.close"):  # fmt: skip
        assert action in actions


def test_desk_form_problems_are_shown_and_nothing_is_saved(desk, editors):
    eda = desk("eda")
    response = eda.post("/incidents/new", {**NEW_INCIDENT, "name": "", "examples_en": ""})
    assert response.status_code == 422
    assert "give the incident a name" in response.text and "English example" in response.text
    assert editors.list_incidents() == []
    incident = open_bleach(editors)
    response = eda.post(f"/incidents/{incident['id']}/statements", {"text_tr": "x", "text_en": ""})
    assert response.status_code == 422 and "in English is required" in response.text
    assert editors.list_statements(incident["id"]) == []


def test_desk_agents_may_look_but_not_change(desk, editors):
    incident = open_bleach(editors)
    statement = draft(editors, incident["id"])
    ayse = desk("ayse", "agent")
    assert ayse.get("/incidents").status_code == 200
    seen = ayse.get(f"/incidents/{incident['id']}")
    assert seen.status_code == 200 and "/reports/incidents/" not in seen.text  # editors' page
    assert ayse.post("/incidents/new", NEW_INCIDENT).status_code == 403
    approve = f"/incidents/{incident['id']}/statements/{statement['id']}/approve"
    assert ayse.post(approve).status_code == 403
    assert ayse.post(f"/incidents/{incident['id']}/close").status_code == 403
    assert editors.live_statement(incident["id"]) is None
    assert len(editors.list_incidents("active")) == 1


def test_desk_topic_form_saves_or_shows_the_problem(desk, editors):
    incident = open_bleach(editors)
    emre = desk("emre")
    topic = {"severity": "medium", "keywords": "bleach, klor", "examples_tr": "sütte klor var",
             "examples_en": "chlorine in milk"}  # fmt: skip
    assert emre.post(f"/incidents/{incident['id']}/topic", topic).status_code == 303
    changed = editors.get_incident(incident["id"])
    assert (changed["severity"], changed["keywords"]) == ("medium", ["bleach", "klor"])
    assert changed["examples"] == {"tr": ["sütte klor var"], "en": ["chlorine in milk"]}
    refused = emre.post(f"/incidents/{incident['id']}/topic", {**topic, "examples_en": ""})
    assert refused.status_code == 422 and "English example" in refused.text
    assert editors.get_incident(incident["id"])["examples"]["en"] == ["chlorine in milk"]
    agent = desk("ayse", "agent")
    assert agent.post(f"/incidents/{incident['id']}/topic", topic).status_code == 403


def test_desk_shows_statement_text_as_text(desk, editors):
    incident = open_bleach(editors, name="<b>bold</b> name")
    incidents.write_statement(
        editors, incident["id"], text_tr="<script>alert(1)</script>", text_en="ok", by="eda"
    )
    page = desk("emre").get(f"/incidents/{incident['id']}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page
    assert "<b>bold</b>" not in page


def test_desk_unknown_incident_is_404(desk):
    assert desk("eda").get("/incidents/999").status_code == 404
    assert desk("emre").post("/incidents/999/close").status_code == 404


def test_desk_queue_shows_the_incident_tag(desk, editors):
    incident = open_bleach(editors)
    editors.open_handoff(
        sender_id="whatsapp:+905550000011",
        channel="whatsapp",
        reason="customer asked for a person",
        priority="high",
        language="tr",
        last_messages=[{"from": "customer", "text": "çamaşır suyu?"}],
        incident_id=incident["id"],
    )
    page = desk("ali", "admin").get("/queue")
    assert page.status_code == 200 and incident["name"] in page.text


def test_store_lookups_raise_not_found(editors):
    with pytest.raises(NotFound):
        editors.get_incident(5)
    with pytest.raises(NotFound):
        editors.get_statement(5)
