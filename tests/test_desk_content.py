"""Editors in the desk: facts, FAQ entries and open-rumour groups, over a real store."""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest
from starlette.testclient import TestClient

from bot.desk import content
from bot.desk.app import create_app
from bot.desk.auth import SESSION_COOKIE
from bot.store import Store

CLAIM_TR = "500 isciyi isten cikariyormussunuz dogru mu"
WHATSAPP = "whatsapp:+905320000001"
TELEGRAM = "telegram:4242"


class Desk:
    """A TestClient on the desk app, logged in as one user."""

    def __init__(self, store: Store, client: TestClient) -> None:
        self.store = store
        self.client = client
        self.csrf = ""

    def login(self, name: str, role: str) -> Desk:
        user = self.store.find_user(name) or self.store.create_user(
            name, role, "not-a-real-hash", must_change=False
        )
        session_id, self.csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = datetime.now(timezone.utc) + timedelta(hours=1)
        self.store.create_session(session_id, user["id"], self.csrf, expires)
        self.client.cookies.set(SESSION_COOKIE, session_id)
        return self

    def get(self, path: str, **kwargs):
        return self.client.get(path, follow_redirects=False, **kwargs)

    def post(self, path: str, data: dict | None = None, csrf: str | None = None):
        form = dict(data or {})
        form["csrf_token"] = self.csrf if csrf is None else csrf
        return self.client.post(path, data=form, follow_redirects=False)


@pytest.fixture
def desk(demo_store: Store) -> Iterator[Desk]:
    app = create_app(store=demo_store)
    with TestClient(app, base_url="http://desk.test") as client:
        yield Desk(demo_store, client).login("eda", "editor")
    app.state.store.close()


def texts(store: Store) -> dict:
    return {row["recipient"]: json.loads(row["payload"])["text"] for row in store.list_outgoing()}


def audit_actions(store: Store) -> list:
    return [(e["actor"], e["action"], e["subject"]) for e in store.list_audit()]


NEW_FACT = {
    "id": "water-supply",
    "topic": "operations",
    "claim_tr": "Fabrikanin suyu kesildi mi?",
    "claim_en": "Was the factory's water supply cut?",
    "verdict": "false",
    "answer_tr": "Hayir, su kesintisi yok.",
    "answer_en": "No, there is no water cut.",
    "source_url": "https://example.com/statement",
}


# -- publishing --------------------------------------------------------------------


def test_publishing_in_the_desk_tells_the_waiting_askers_once(desk):
    store = desk.store
    store.set_fact_status("layoffs-500", "draft")
    rumour = store.record_rumour(CLAIM_TR, "tr", WHATSAPP, "whatsapp")
    store.record_rumour(CLAIM_TR, "en", TELEGRAM, "telegram")
    store.record_rumour(CLAIM_TR, "tr", "rest-user", "rest")

    reply = desk.post("/facts/layoffs-500/publish")
    assert reply.status_code == 303
    page = desk.get(reply.headers["location"]).text
    assert "1 open rumour(s) answered, 2 follow-up(s) queued, 1 asker(s)" in page

    fact = store.get_fact("layoffs-500")
    assert (fact["status"], fact["verified_by"]) == ("published", "eda")
    assert store.get_rumour(rumour)["status"] == "answered"
    sent = texts(store)
    assert set(sent) == {WHATSAPP, TELEGRAM}
    assert fact["answer_tr"] in sent[WHATSAPP] and fact["answer_en"] in sent[TELEGRAM]
    assert ("eda", "fact.publish", "fact:layoffs-500") in audit_actions(store)

    assert desk.post("/facts/layoffs-500/publish").status_code == 303
    assert len(store.list_outgoing()) == 2  # nobody is told twice

    fact = store.get_fact("layoffs-500")  # verified again, at the second publish
    listing = desk.get("/facts?q=layoffs").text
    row = re.search(r"<tr class=\"status-published\">.*?</tr>", listing, re.S).group(0)
    assert "layoffs-500" in row and "eda" in row and fact["verified_at"] in row


def test_a_web_chat_asker_gets_the_followup_on_their_page(desk):
    desk.store.set_fact_status("layoffs-500", "draft")
    desk.store.record_rumour(CLAIM_TR, "tr", "webchat:" + "a" * 32, "webchat")
    desk.post("/facts/layoffs-500/publish")
    rows = desk.store.list_outgoing(channel="webchat")
    assert len(rows) == 1 and rows[0]["status"] == "pending"  # the page claims it when open


def test_the_cli_and_the_desk_publish_through_the_same_function(desk, monkeypatch):
    from bot import cli, publishing

    called = []
    real = publishing.publish_fact

    def spy(store, fact_id, by):
        called.append((fact_id, by))
        return real(store, fact_id, by)

    monkeypatch.setattr(content, "publish_fact", spy)
    monkeypatch.setattr(cli, "publish_fact", spy)
    desk.store.set_fact_status("bankruptcy", "draft")
    desk.post("/facts/bankruptcy/publish")
    db = desk.store.db.execute("pragma database_list").fetchone()[2]
    assert cli.main(["--db", db, "facts", "publish", "bankruptcy", "--by", "ali"]) == 0
    assert called == [("bankruptcy", "eda"), ("bankruptcy", "ali")]


def test_retire_takes_the_fact_off_the_air(desk):
    assert desk.post("/facts/bleach-in-milk/retire").status_code == 303
    assert desk.store.get_fact("bleach-in-milk")["status"] == "retired"
    assert ("eda", "fact.retire", "fact:bleach-in-milk") in audit_actions(desk.store)
    assert desk.post("/facts/no-such-fact/retire").status_code == 404


# -- drafts and validation -----------------------------------------------------------


def test_a_new_fact_is_saved_as_a_draft_in_both_languages(desk):
    reply = desk.post("/facts/new", NEW_FACT)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/facts/water-supply")
    fact = desk.store.get_fact("water-supply")
    assert fact["status"] == "draft" and not fact["verified_at"]
    assert {k: fact[k] for k in NEW_FACT} == NEW_FACT
    assert ("eda", "fact.create", "fact:water-supply") in audit_actions(desk.store)
    again = desk.post("/facts/new", NEW_FACT)
    assert again.status_code == 422 and "already exists" in again.text
    reserved = desk.post("/facts/new", NEW_FACT | {"id": "new"})
    assert reserved.status_code == 422 and "please choose another id" in reserved.text


def test_validation_errors_are_shown_next_to_their_fields(desk):
    bad = {
        **NEW_FACT,
        "id": "has spaces",
        "claim_tr": "",
        "verdict": "maybe",
        "source_url": "ftp://x",
    }
    reply = desk.post("/facts/new", bad)
    assert reply.status_code == 422
    page = reply.text
    for name, words in [
        ("id", "must be 1-64 letters"),
        ("claim_tr", "claim_tr is empty"),
        ("verdict", "must be one of"),
        ("source_url", "is not an http(s) link"),
    ]:
        error = re.search(rf'<span class="error" id="e-{name}">([^<]*)</span>', page)
        assert error and words in error.group(1), name
    assert 'id="e-claim_en"' not in page  # a good field has no error
    assert "Was the factory&#39;s water supply cut?" in page  # the editor's text is kept
    assert desk.store.get_fact("has spaces", missing_ok=True) is None


def test_editing_a_published_fact_makes_it_a_draft_until_published_again(desk):
    fact = desk.store.get_fact("bankruptcy")
    form = {k: fact[k] or "" for k in NEW_FACT} | {"answer_en": "New wording of the answer."}
    assert desk.post("/facts/bankruptcy", form).status_code == 303
    saved = desk.store.get_fact("bankruptcy")
    assert saved["status"] == "draft" and saved["answer_en"] == "New wording of the answer."
    entry = desk.store.list_audit(action="fact.edit")[0]
    assert json.loads(entry["detail"]) == {"changed": ["answer_en"], "was": "published"}
    refused = desk.post("/facts/bankruptcy", form | {"answer_tr": " "})
    assert refused.status_code == 422 and "answer_tr is empty" in refused.text
    assert desk.store.get_fact("bankruptcy")["answer_tr"] == fact["answer_tr"]


def test_search_finds_facts_by_claim_and_status(desk):
    page = desk.get("/facts?q=bleach").text
    assert "bleach-in-milk" in page and "layoffs-500" not in page
    desk.store.set_fact_status("layoffs-500", "retired")
    page = desk.get("/facts?status=retired").text
    assert "layoffs-500" in page and "bleach-in-milk" not in page
    assert "No facts match" in desk.get("/facts?q=100%25_nothing").text


# -- rumour groups -------------------------------------------------------------------


def test_groups_largest_and_fastest_growing_first(desk):
    store = desk.store
    big = store.record_rumour("kuzey sut zam yapacak mi", "tr", "telegram:1", "telegram")
    for n in range(2, 5):
        store.record_rumour("kuzey sut zam yapacak mi", "tr", f"telegram:{n}", "telegram")
    store.db.execute(
        "update rumour_askers set asked_at = '2000-01-01T00:00:00+00:00' where rumour_id = ?",
        [big],
    )
    store.db.conn.commit()
    new = store.record_rumour("is the new plant closing", "en", "telegram:9", "telegram")
    store.record_rumour("is the new plant closing", "en", "telegram:10", "telegram")
    largest = desk.get("/rumours").text
    assert largest.index(f'id="rumour-{big}"') < largest.index(f'id="rumour-{new}"')
    growing = desk.get("/rumours?order=growing").text
    assert growing.index(f'id="rumour-{new}"') < growing.index(f'id="rumour-{big}"')


def test_confirm_a_suggestion_answers_the_askers_and_keeps_the_wording(desk):
    store = desk.store
    wording = "duydum ki isten cikarma varmis"
    rumour = store.record_rumour(wording, "tr", WHATSAPP, "whatsapp")
    store.suggest_facts(rumour, [("layoffs-500", 0.41), ("bankruptcy", 0.33)])
    page = desk.get("/rumours").text
    assert wording in page and "layoffs-500" in page and "score 0.41" in page

    reply = desk.post(f"/rumours/{rumour}/confirm", {"fact_id": "layoffs-500"})
    assert reply.status_code == 303
    assert "1 follow-up(s) queued" in desk.get(reply.headers["location"]).text
    assert store.get_rumour(rumour)["fact_id"] == "layoffs-500"
    assert wording in store.claim_variants(["layoffs-500"])["layoffs-500"]
    assert set(texts(store)) == {WHATSAPP}
    assert ("eda", "rumour.confirm", f"rumour:{rumour}") in audit_actions(store)
    assert f'id="rumour-{rumour}"' not in desk.get("/rumours").text  # no longer open


def test_reject_a_suggestion(desk):
    store = desk.store
    rumour = store.record_rumour("yeni fabrika kapaniyor mu", "tr", TELEGRAM, "telegram")
    store.suggest_facts(rumour, [("bankruptcy", 0.31)])
    assert desk.post(f"/rumours/{rumour}/reject", {"fact_id": "bankruptcy"}).status_code == 303
    assert store.rumour_suggestions(rumour) == []
    assert store.rumour_suggestions(rumour, "rejected")[0]["updated_by"] == "eda"
    assert store.get_rumour(rumour)["status"] == "open" and store.list_outgoing() == []
    assert ("eda", "rumour.reject", f"rumour:{rumour}") in audit_actions(store)
    again = desk.post(f"/rumours/{rumour}/reject", {"fact_id": "bankruptcy"})
    assert "is not an open suggestion" in desk.get(again.headers["location"]).text


def test_confirming_a_draft_fact_is_refused_politely(desk):
    store = desk.store
    store.set_fact_status("bankruptcy", "draft")
    rumour = store.record_rumour("batiyor musunuz", "tr", TELEGRAM, "telegram")
    store.suggest_facts(rumour, [("bankruptcy", 0.35)])
    reply = desk.post(f"/rumours/{rumour}/confirm", {"fact_id": "bankruptcy"})
    assert "publish it first" in desk.get(reply.headers["location"]).text
    assert store.get_rumour(rumour)["status"] == "open" and store.list_outgoing() == []
    assert desk.post("/rumours/999/confirm", {"fact_id": "bankruptcy"}).status_code == 303
    assert store.list_audit(action="rumour.") == []


def test_a_new_fact_from_a_group_starts_from_its_wording(desk):
    store = desk.store
    rumour = store.record_rumour("<b>Sütünüzde</b> plastik var mı", "tr", TELEGRAM, "telegram")
    form = desk.get(f"/facts/new?rumour={rumour}").text
    assert "&lt;b&gt;Sütünüzde&lt;/b&gt; plastik var mı</textarea>" in form
    fields = NEW_FACT | {"id": "plastic", "claim_tr": "Sütünüzde plastik var mı", "rumour": rumour}
    assert desk.post("/facts/new", fields).status_code == 303
    assert store.rumour_suggestions(rumour)[0]["fact_id"] == "plastic"  # to confirm later


def test_a_script_in_a_customer_wording_is_shown_as_text(desk):
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    rumour = desk.store.record_rumour(attack + " bleach?", "en", TELEGRAM, "telegram")
    page = desk.get("/rumours").text
    assert f'id="rumour-{rumour}"' in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x" in page
    form = desk.get(f"/facts/new?rumour={rumour}").text
    assert "<script>alert" not in form and "&lt;script&gt;" in form


# -- FAQ -----------------------------------------------------------------------------


def test_faq_drafts_publish_and_retire(desk):
    store = desk.store
    entry = {
        "id": "opening-hours",
        "question_tr": "Saat kacta aciksiniz?",
        "question_en": "When are you open?",
        "answer_tr": "Her gun 9-18.",
        "answer_en": "Every day 9-18.",
        "source_url": "",
    }
    bad = desk.post("/faq/new", entry | {"answer_en": "", "source_url": "nope"})
    assert bad.status_code == 422
    assert re.search(r'id="e-answer_en">answer_en is empty<', bad.text)
    assert re.search(r'id="e-source_url">[^<]*not an http\(s\) link<', bad.text)
    assert desk.post("/faq/new", entry).status_code == 303
    assert store.get_faq("opening-hours")["status"] == "draft"
    assert "opening-hours" not in [f["id"] for f in store.published_faqs()]
    assert desk.post("/faq/opening-hours/publish").status_code == 303
    assert "opening-hours" in [f["id"] for f in store.published_faqs()]
    assert desk.post("/faq/opening-hours", entry | {"answer_en": "9 to 6."}).status_code == 303
    assert store.get_faq("opening-hours")["status"] == "draft"
    assert desk.post("/faq/opening-hours/retire").status_code == 303
    assert store.get_faq("opening-hours")["status"] == "retired"
    assert "retired" in desk.get("/faq?status=retired").text
    assert [a for _, a, s in audit_actions(store) if s == "faq:opening-hours"] == [
        "faq.retire",
        "faq.edit",
        "faq.publish",
        "faq.create",
    ]


# -- access and CSRF -----------------------------------------------------------------


def _content_paths():
    for item in content.routes():
        path = item.path.replace("{fact_id}", "bankruptcy").replace("{faq_id}", "cancel-delivery")
        for method in sorted(item.methods - {"HEAD"}):
            yield method, path.replace("{rumour_id}", "1")


def test_an_agent_is_refused_on_every_editor_route(desk):
    store = desk.store
    store.set_fact_status("bankruptcy", "draft")
    rumour = store.record_rumour(CLAIM_TR, "tr", WHATSAPP, "whatsapp")
    store.suggest_facts(rumour, [("bankruptcy", 0.3)])
    desk.login("ayse", "agent")
    paths = list(_content_paths())
    assert len(paths) == len(content.routes()) >= 17
    for method, path in paths:
        reply = desk.get(path) if method == "GET" else desk.post(path, {"fact_id": "bankruptcy"})
        assert reply.status_code == 403, (method, path)
    assert store.get_fact("bankruptcy")["status"] == "draft"
    assert store.get_faq("cancel-delivery")["status"] == "published"
    assert store.rumour_suggestions(rumour) and store.list_outgoing() == []


def test_anonymous_requests_are_refused(desk):
    desk.client.cookies.clear()
    for method, path in _content_paths():
        reply = desk.get(path) if method == "GET" else desk.post(path)
        assert reply.status_code in (303, 401), (method, path)
        if reply.status_code == 303:
            assert reply.headers["location"].startswith("/login")


@pytest.mark.parametrize("token", ["", "forged-token"])
def test_a_missing_or_forged_csrf_token_is_refused(desk, token):
    store = desk.store
    store.set_fact_status("layoffs-500", "draft")
    store.record_rumour(CLAIM_TR, "tr", WHATSAPP, "whatsapp")
    assert desk.post("/facts/layoffs-500/publish", csrf=token).status_code == 403
    assert desk.post("/facts/new", NEW_FACT, csrf=token).status_code == 403
    assert store.get_fact("layoffs-500")["status"] == "draft"
    assert store.get_fact("water-supply", missing_ok=True) is None
    assert store.list_outgoing() == [] and store.list_audit(action="fact.") == []


def test_an_admin_may_publish_too(desk):
    desk.login("root", "admin")
    desk.store.set_fact_status("bankruptcy", "draft")
    assert desk.post("/facts/bankruptcy/publish").status_code == 303
    assert desk.store.get_fact("bankruptcy")["verified_by"] == "root"
