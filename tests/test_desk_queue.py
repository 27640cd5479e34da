"""The agents' queue page: order, what each row shows, claims, release, transfer, access."""

from __future__ import annotations

import re
import threading

import pytest

from bot.desk.queue import waited
from bot.store import Store
from tests.conftest import open_handoff
from tests.desk_client import Desk


@pytest.fixture
def desk(store: Store) -> Desk:
    desk = Desk(store)
    desk.user("ayse", "agent")
    desk.user("mehmet", "agent")
    desk.user("ed", "editor")
    desk.user("root", "admin")
    return desk


def rows(page: str) -> list:
    """Handoff ids in the order the page lists them."""
    return [int(found) for found in re.findall(r'data-handoff="(\d+)"', page)]


def claim(desk: Desk, client, hid: int, **headers):
    return client.post(
        f"/queue/{hid}/claim", data={"csrf_token": desk.csrf(client)}, headers=headers
    )


def test_a_long_queue_shows_the_next_ones_to_take_and_counts_them_all(desk, store, monkeypatch):
    monkeypatch.setattr("bot.desk.queue.WAITING_SHOWN", 3)
    normal = [open_handoff(store, f"whatsapp:+90555000010{i}") for i in range(4)]
    urgent = open_handoff(store, "whatsapp:+905550000200", priority="high")
    taken = open_handoff(store, "whatsapp:+905550000300")
    store.claim_handoff(taken, "mehmet")
    page = desk.login("ayse").get("/queue/items").text
    waiting_part, assigned_part = page.split("With an agent", 1)
    assert rows(waiting_part) == [urgent, normal[0], normal[1]]
    assert re.search(r"data-waiting-count>5<", page)
    assert "Showing the first 3 of 5" in page
    assert rows(assigned_part) == [taken]  # every owned conversation stays listed

    store.claim_handoff(urgent, "ayse")
    store.claim_handoff(normal[0], "ayse")
    page = desk.login("ayse").get("/queue/items").text
    assert rows(page.split("With an agent", 1)[0]) == normal[1:]
    assert "Showing the first" not in page  # all three fit


def test_the_queue_shows_reasons_and_orders_by_priority_then_wait(desk, store):
    ticket = store.create_ticket(
        sender_id="whatsapp:+905550000002",
        channel="whatsapp",
        text="hastalandım",
        language="tr",
        severity="high",
    )
    asked = open_handoff(store, "whatsapp:+905550000001")
    complaint = open_handoff(
        store,
        "whatsapp:+905550000002",
        reason="complaint: illness",
        priority="high",
        ticket_number=ticket.number,
        intents=[{"name": "complaint", "confidence": 0.93}],
    )
    failed = open_handoff(
        store,
        "telegram:42",
        channel="telegram",
        language="en",
        reason="bot failed: no reply",
        priority="high",
    )
    confused = open_handoff(
        store, "rest:x", channel="rest", reason="the bot did not understand twice"
    )
    desk.clock.advance(minutes=12, seconds=30)
    page = desk.login("ayse").get("/queue")
    assert page.status_code == 200
    assert rows(page.text) == [complaint, failed, asked, confused]
    text = page.text
    for words in (
        "asked for a person",
        "severe complaint",
        "bot did not understand",
        "bot failed",
        ticket.number,
        "(high)",
        "complaint</span>",
        "WhatsApp",
        "Telegram",
        "Turkish",
        "English",
        "12 min",
        'sse-connect="/queue/events"',
        'hx-trigger="sse:queue"',
    ):
        assert words in text, words
    assert "+905550000001" not in text  # the number is masked in the list


def test_customer_text_is_escaped(desk, store):
    open_handoff(
        store,
        "rest:evil",
        last_messages=[{"from": "customer", "text": "<script>alert(1)</script>"}],
    )
    page = desk.login("ayse").get("/queue/items")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_claim_opens_the_conversation_and_everyone_sees_the_owner(desk, store):
    hid = open_handoff(store, "whatsapp:+905550000003")
    ayse, mehmet = desk.login("ayse"), desk.login("mehmet")
    answer = claim(desk, ayse, hid)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/conversations/{hid}"
    assert store.get_handoff(hid)["assigned_to"] == "ayse"
    page = mehmet.get("/queue").text
    assert f'data-handoff="{hid}" data-owner="ayse"' in page
    assert f"/queue/{hid}/release" not in page  # not mehmet's to release
    assert "ayse</strong> (you)" in ayse.get("/queue").text
    # htmx: the browser is sent to the conversation by header
    other = open_handoff(store, "whatsapp:+905550000004")
    answer = claim(desk, ayse, other, **{"HX-Request": "true"})
    assert (answer.status_code, answer.headers["HX-Redirect"]) == (204, f"/conversations/{other}")


def test_the_loser_of_a_claim_is_told_politely_who_has_it(desk, store):
    hid = open_handoff(store, "whatsapp:+905550000005")
    ayse, mehmet = desk.login("ayse"), desk.login("mehmet")
    assert claim(desk, ayse, hid).status_code == 303
    lost = claim(desk, mehmet, hid)
    assert lost.status_code == 409
    assert "Sorry, ayse took this conversation a moment before you." in lost.text
    lost = claim(desk, mehmet, hid, **{"HX-Request": "true"})
    assert lost.status_code == 200  # htmx swaps the list with the message in it
    assert "data-queue-problem" in lost.text and "ayse took this conversation" in lost.text


def test_two_agents_claiming_at_once_over_http_exactly_one_wins(desk, store):
    agents = ["ayse", "mehmet"]
    clients = {name: desk.login(name) for name in agents}
    tokens = {name: desk.csrf(client) for name, client in clients.items()}
    for round_ in range(5):
        hid = open_handoff(store, f"telegram:{100 + round_}", channel="telegram")
        barrier = threading.Barrier(len(agents))
        answers: dict = {}

        def post(name: str, hid=hid, barrier=barrier, answers=answers) -> None:
            barrier.wait()
            answers[name] = clients[name].post(
                f"/queue/{hid}/claim", data={"csrf_token": tokens[name]}
            )

        threads = [threading.Thread(target=post, args=(name,)) for name in agents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        codes = sorted(answer.status_code for answer in answers.values())
        assert codes == [303, 409], codes
        winner = next(n for n, a in answers.items() if a.status_code == 303)
        loser = next(n for n in agents if n != winner)
        assert store.get_handoff(hid)["assigned_to"] == winner
        assert f"{winner} took this conversation" in answers[loser].text


def test_release_and_transfer_only_by_the_owner_or_an_admin(desk, store):
    hid = open_handoff(store, "whatsapp:+905550000006")
    ayse, mehmet, root = desk.login("ayse"), desk.login("mehmet"), desk.login("root")
    claim(desk, ayse, hid)
    # mehmet cannot move ayse's conversation
    answer = mehmet.post(
        f"/queue/{hid}/transfer", data={"csrf_token": desk.csrf(mehmet), "to": "mehmet"}
    )
    assert answer.status_code == 409
    answer = mehmet.post(f"/queue/{hid}/release", data={"csrf_token": desk.csrf(mehmet)})
    assert answer.status_code == 409
    assert store.get_handoff(hid)["assigned_to"] == "ayse"
    # only to an active agent
    for to in ("ed", "nobody", ""):
        answer = ayse.post(f"/queue/{hid}/transfer", data={"csrf_token": desk.csrf(ayse), "to": to})
        assert answer.status_code == 400, to
        assert "Please choose an active agent." in answer.text
    answer = ayse.post(
        f"/queue/{hid}/transfer", data={"csrf_token": desk.csrf(ayse), "to": "mehmet"}
    )
    assert answer.status_code == 200 and "with mehmet now" in answer.text
    assert store.get_handoff(hid)["assigned_to"] == "mehmet"
    # an admin may release anyone's
    answer = root.post(f"/queue/{hid}/release", data={"csrf_token": desk.csrf(root)})
    assert answer.status_code == 200 and "back in the queue" in answer.text
    assert store.get_handoff(hid)["status"] == "waiting"
    audit = [
        (r["actor"], r["action"]) for r in store.db.query("select * from audit_log order by id")
    ]
    assert [a for a in audit if a[1].startswith("conversation.")] == [
        ("bot", "conversation.opened"),
        ("ayse", "conversation.claim"),
        ("ayse", "conversation.transfer"),
        ("root", "conversation.release"),
    ]


def test_only_agents_and_admins_and_never_without_the_csrf_token(desk, store):
    hid = open_handoff(store, "whatsapp:+905550000007")
    anonymous = desk.client()
    assert anonymous.get("/queue").status_code == 303  # to the login page
    stream = {"Accept": "text/event-stream"}  # what a browser's EventSource sends
    assert anonymous.get("/queue/events", headers=stream).status_code == 401
    editor = desk.login("ed")
    for path in ("/queue", "/queue/items", "/queue/events"):
        assert editor.get(path).status_code == 403, path
    assert (
        editor.post(f"/queue/{hid}/claim", data={"csrf_token": desk.csrf(editor)}).status_code
        == 403
    )
    ayse = desk.login("ayse")
    assert ayse.post(f"/queue/{hid}/claim").status_code == 403
    assert ayse.post(f"/queue/{hid}/claim", data={"csrf_token": "forged"}).status_code == 403
    assert store.get_handoff(hid)["status"] == "waiting"
    assert desk.login("root").get("/queue").status_code == 200
    assert claim(desk, ayse, 999_999).status_code == 404


@pytest.mark.parametrize(
    "seconds, text",
    [(5, "5 s"), (125, "2 min"), (3 * 3600 + 300, "3 h 5 min"), (2 * 86400 + 7200, "2 d 2 h")],
)
def test_waiting_time_for_a_person(seconds, text):
    from datetime import datetime, timedelta, timezone

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert waited(start.isoformat(), start + timedelta(seconds=seconds)) == text
