"""The trainers' review inbox (bot/training/inbox.py, bot/store/inbox.py, bot/desk/training.py).

Every test writes training data into a temporary copy of the project (data/,
domain.yml, config.yml, heldout/), a git repository of its own, never into the
real data/ folder. The store is a fresh SQLite file; the event broker is a
SQLite file with the table Rasa's SQL event broker writes (`events`: id,
sender_id, data), filled with user events shaped like Rasa's, except in the one
test that reads what a real Rasa server wrote.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pytest
import yaml

from bot.store import Store
from bot.training import inbox
from tests.conftest import ROOT
from tests.desk_client import Desk
from tests.projects import copy_project

THRESHOLD, AMBIGUITY = inbox.fallback_thresholds(ROOT / "config.yml")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git work tree holding a copy of the project's training data, domain and config."""
    return copy_project(tmp_path / "project")


class FakeBroker:
    """A SQLite file with the table of Rasa's SQL event broker, written like Rasa does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path)
        self.conn.execute(
            "create table events (id integer primary key, sender_id varchar(255), data text)"
        )
        self.clock = 1_700_000_000.0

    def add(self, sender_id: str, event: Dict[str, Any]) -> float:
        self.clock += 1.5
        event = {"timestamp": self.clock, **event}
        self.conn.execute(
            "insert into events (sender_id, data) values (?, ?)", [sender_id, json.dumps(event)]
        )
        self.conn.commit()
        return float(event["timestamp"])

    def user(
        self,
        sender_id: str,
        text: str,
        ranked: Sequence[Tuple[str, float]],
        language: str = "tr",
        channel: str = "whatsapp",
        entities: Sequence[Dict[str, Any]] = (),
        **parse: Any,
    ) -> float:
        """A user event; `ranked` is the model's ranking (nlu_fallback put first when low)."""
        top = ranked[0]
        intent = {"name": top[0], "confidence": top[1]}
        ranking = [{"name": n, "confidence": c} for n, c in ranked]
        if top[1] < THRESHOLD:  # what Rasa's FallbackClassifier does
            intent = {"name": "nlu_fallback", "confidence": THRESHOLD}
            ranking = [dict(intent), *ranking]
        return self.add(
            sender_id,
            {
                "event": "user",
                "text": text,
                "input_channel": channel,
                "parse_data": {
                    "text": text,
                    "intent": intent,
                    "intent_ranking": ranking,
                    "entities": list(entities),
                    "language": language,
                    **parse,
                },
            },
        )

    def bot(self, sender_id: str, text: str) -> float:
        return self.add(sender_id, {"event": "bot", "text": text})


@pytest.fixture
def broker(tmp_path: Path) -> FakeBroker:
    found = FakeBroker(tmp_path / "rasa_events.db")
    yield found
    found.conn.close()


def collect(store: Store, broker: FakeBroker) -> int:
    collector = inbox.Collector(store, broker.path, ROOT / "config.yml")
    try:
        return collector.collect()
    finally:
        collector.close()


def nlu_examples(root: Path, intent: str) -> List[Tuple[str, str]]:
    """(language, example line) of an intent in the project's data/nlu."""
    found = []
    for path in sorted((root / "data/nlu").glob("*.yml")):
        for block in yaml.safe_load(path.read_text("utf-8"))["nlu"]:
            if block.get("intent") == intent:
                lang = (block.get("metadata") or {}).get("language")
                found += [(lang, line[2:]) for line in block["examples"].splitlines() if line]
    return found


# -- what is unsure, scrubbing --------------------------------------------------------


@pytest.mark.parametrize(
    "ranked, ood, expected",
    [
        ([("question", 0.31), ("complaint", 0.20)], False, "confidence 0.31 < 0.50"),
        ([("question", 0.62), ("complaint", 0.57)], False, "margin 0.05 < 0.10"),
        ([("out_of_scope", 0.97), ("question", 0.01)], False, "out_of_scope"),
        ([("question", 0.95), ("complaint", 0.02)], False, None),
        ([("question", 0.20), ("complaint", 0.10)], True, None),  # the out-of-domain guard's
    ],
)
def test_unsure_reason(ranked, ood, expected):
    parse = {
        "intent": {"name": ranked[0][0], "confidence": ranked[0][1]},
        "intent_ranking": [{"name": n, "confidence": c} for n, c in ranked],
    }
    if ood:
        parse["out_of_domain"] = {"kind": "emoji", "reason": "only emoji"}
    assert inbox.unsure_reason(parse, THRESHOLD, AMBIGUITY) == expected


def test_fallback_is_reported_with_the_models_own_ranking():
    parse = {
        "intent": {"name": "nlu_fallback", "confidence": 0.5},
        "intent_ranking": [
            {"name": "nlu_fallback", "confidence": 0.5},
            {"name": "complaint", "confidence": 0.44},
            {"name": "question", "confidence": 0.21},
        ],
    }
    assert inbox.ranking(parse) == [("complaint", 0.44), ("question", 0.21)]
    assert inbox.unsure_reason(parse, THRESHOLD, AMBIGUITY) == "confidence 0.44 < 0.50"


def test_scrub_message_replaces_personal_data_and_moves_entities():
    text = "siparis 48219377 icin  0532 123 45 67 ara, ayse@example.com, bilet CD-1042"
    entities = [
        {"entity": "order_number", "start": 8, "end": 16, "value": "48219377"},
        {"entity": "ticket_number", "start": 67, "end": 74, "value": "CD-1042"},
    ]
    assert text[67:74] == "CD-1042"
    clean, kept = inbox.scrub_message(text, entities)
    assert clean == "siparis <order> icin <phone> ara, <email>, bilet CD-1042"
    at = clean.index("CD-1042")
    # the order number's entity went with its text; the ticket's moved with the text
    assert kept == [{"entity": "ticket_number", "start": at, "end": at + 7, "value": "CD-1042"}]


def test_annotated_keeps_entities_and_neutralises_customer_brackets():
    text = "bilet CD-1042 [bakin](burada)"
    line = inbox.annotated(
        text,
        [{"entity": "ticket_number", "start": 6, "end": 13, "value": "CD-1042"}],
        ["ticket_number"],
    )
    assert line == "bilet [CD-1042](ticket_number) (bakin)(burada)"
    assert inbox.plain(line) == "bilet CD-1042 (bakin)(burada)"


# -- collection ------------------------------------------------------------------------


def test_collects_unsure_messages_scrubbed_once(store, broker):
    who = "whatsapp:+905321110001"
    broker.user(
        who,
        "kart puanlarım nerede, numaram 0532 123 45 67",
        [("question", 0.31), ("complaint", 0.15)],
    )
    broker.bot(who, "Bunu kontrol ediyoruz.")
    broker.user(who, "merhaba", [("greet", 0.99), ("affirm", 0.0)])
    broker.user(who, "/affirm", [("affirm", 1.0)])  # a button payload: not language
    broker.user(
        who, "😡😡😡", [("nlu_fallback", 1.0), ("affirm", 0.2)], out_of_domain={"kind": "emoji"}
    )
    assert collect(store, broker) == 1
    assert collect(store, broker) == 0  # the cursor moved on: nothing is read twice
    [item] = store.list_inbox_items()
    assert item["text"] == "kart puanlarım nerede, numaram <phone>"
    assert "123 45 67" not in json.dumps(item)  # (the conversation id is the sender's)
    assert (item["intent"], item["confidence"]) == ("question", 0.31)
    assert (item["runner_up"], item["runner_up_confidence"]) == ("complaint", 0.15)
    assert (item["language"], item["channel"], item["sources"]) == ("tr", "whatsapp", ["unsure"])
    assert item["reasons"] == ["confidence 0.31 < 0.50"]


def test_a_misunderstood_mark_joins_the_same_item_with_its_ranking(store, broker):
    who = "telegram:4242"
    sure = broker.user(
        who, "faturam yanlis geldi", [("question", 0.93), ("complaint", 0.05)], channel="telegram"
    )
    unsure = broker.user(
        who, "neden bu kadar pahali", [("complaint", 0.40), ("question", 0.35)], channel="telegram"
    )
    assert collect(store, broker) == 1
    for at, text in ((sure, "faturam yanlis geldi"), (unsure, "neden bu kadar pahali")):
        store.mark_misunderstood(
            sender_id=who,
            event_time=at,
            text=text,
            intent=None,
            confidence=None,
            language="tr",
            marked_by="ayse",
        )
    assert collect(store, broker) == 1  # the confident one is new; the other gains a source
    items = {i["text"]: i for i in store.list_inbox_items()}
    assert items["faturam yanlis geldi"]["sources"] == ["misunderstood"]
    assert items["faturam yanlis geldi"]["intent"] == "question"  # from the broker's event
    assert items["faturam yanlis geldi"]["reasons"] == ["marked by ayse"]
    assert items["neden bu kadar pahali"]["sources"] == ["unsure", "misunderstood"]


def test_no_to_was_this_helpful_brings_the_message_the_fact_answered(store, broker):
    who = "webchat:abc"
    broker.user(
        who,
        "sütünüzde plastik var diyorlar, 0532 765 43 21 arayın",
        [("rumour", 0.91), ("complaint", 0.05)],
        channel="webchat",
    )
    broker.bot(who, "Bu doğru değil. Bu yanıt işinize yaradı mı?")
    broker.user(who, "hayır", [("deny", 0.98), ("affirm", 0.01)], channel="webchat")
    store.record_feedback(who, "fact", "plastic_milk", helpful=False)
    store.record_feedback("webchat:other", "fact", "plastic_milk", helpful=True)
    store.record_feedback("webchat:third", "handoff", "7", helpful=False)  # about a person
    assert collect(store, broker) == 1
    [item] = store.list_inbox_items()
    assert item["text"] == "sütünüzde plastik var diyorlar, <phone> arayın"
    assert (item["sources"], item["intent"]) == (["unhelpful"], "rumour")
    assert item["reasons"] == ["fact plastic_milk: not helpful"]
    assert collect(store, broker) == 0


def test_a_replaced_broker_file_is_read_from_its_start(store, broker, tmp_path):
    broker.user("rest:1", "bir", [("question", 0.2), ("complaint", 0.1)])
    broker.user("rest:1", "iki", [("question", 0.2), ("complaint", 0.1)])
    assert collect(store, broker) == 2
    broker.conn.close()
    broker.path.unlink()
    fresh = FakeBroker(broker.path)
    fresh.clock += 100
    fresh.user("rest:2", "uc", [("question", 0.2), ("complaint", 0.1)])
    assert collect(store, fresh) == 1
    fresh.conn.close()


# -- grouping --------------------------------------------------------------------------


def test_group_items_puts_the_same_meaning_together():
    items = [
        {"id": 1, "text": "kuzey kart puanlarımı nasıl harcarım"},
        {"id": 2, "text": "faturamda fazladan ücret var"},
        {"id": 3, "text": "kuzey kart puanlarımı nerede harcayabilirim"},
        {"id": 4, "text": "how can I spend my kuzey card points"},
    ]
    groups = [[i["id"] for i in group] for group in inbox.group_items(items)]
    assert groups[0][:2] == [1, 3]
    assert [2] in groups
    assert inbox.group_items([]) == []


# -- resolving -------------------------------------------------------------------------


def _item(
    store: Store,
    broker: FakeBroker,
    text: str,
    ranked=(("question", 0.3), ("complaint", 0.2)),
    language="tr",
    sender="whatsapp:+905321119999",
    **extra,
) -> int:
    at = broker.user(sender, text, ranked, language=language, **extra)
    collect(store, broker)
    return next(i["id"] for i in store.list_inbox_items() if abs(i["event_time"] - at) < 1e-6)


def test_assign_writes_the_scrubbed_example_records_who_and_commits(store, broker, project):
    before = _git(project, "rev-parse", "HEAD").strip()
    item_id = _item(store, broker, "kuzey kart puanlarım kayboldu, numaram 0532 123 45 67")
    outcome = inbox.resolve(store, [item_id], "assign", "tina", intent="complaint", root=project)
    assert outcome.resolved == [item_id] and not outcome.refused
    assert ("tr", "kuzey kart puanlarım kayboldu, numaram <phone>") in nlu_examples(
        project, "complaint"
    )
    assert "0532 123" not in (project / "data/nlu/complaint.yml").read_text("utf-8")
    assert store.get_inbox_item(item_id)["status"] == "assigned"
    [example] = store.list_inbox_examples()
    assert example["added_by"] == "tina"
    assert example["sender_id"] == "whatsapp:+905321119999"
    assert (example["path"], example["intent"], example["item_id"]) == (
        "data/nlu/complaint.yml",
        "complaint",
        item_id,
    )
    [change] = store.list_training_changes()
    assert (change["author"], change["action"], change["intent"]) == (
        "tina",
        "add_examples",
        "complaint",
    )
    assert example["change_id"] == change["id"]
    assert change["files"] == ["data/nlu/complaint.yml"]
    # one commit as the trainer, holding only that file
    assert _git(project, "rev-parse", "HEAD~1").strip() == before
    assert (
        _git(project, "log", "-1", "--format=%an <%ae>").strip() == "tina <tina@crisisdesk.local>"
    )
    assert _git(project, "show", "--name-only", "--format=", "HEAD").split() == [
        "data/nlu/complaint.yml"
    ]
    assert change["git_commit"] == _git(project, "rev-parse", "HEAD").strip()


def test_the_written_file_is_read_by_rasa_with_its_entity(store, broker, project):
    from rasa.shared.nlu.training_data.loading import load_data

    text = "CD-1042 numarali biletim hala cevapsiz"
    item_id = _item(
        store,
        broker,
        text,
        entities=[
            {
                "entity": "ticket_number",
                "start": 0,
                "end": 7,
                "value": "CD-1042",
                "extractor": "RegexEntityExtractor",
            }
        ],
    )
    inbox.resolve(store, [item_id], "assign", "tina", intent="complaint", root=project)
    data = load_data(str(project / "data/nlu/complaint.yml"))
    [example] = [m for m in data.intent_examples if m.get("text") == text]
    assert example.get("intent") == "complaint"
    assert [(e["entity"], e["value"]) for e in example.get("entities")] == [
        ("ticket_number", "CD-1042")
    ]


def test_confirm_an_english_message_goes_to_the_english_block(store, broker, project):
    item_id = _item(
        store,
        broker,
        "the milk carton I bought smelled really odd yesterday",
        ranked=(("complaint", 0.45), ("rumour", 0.30)),
        language="en",
    )
    outcome = inbox.resolve(store, [item_id], "confirm", "tina", root=project)
    assert outcome.resolved == [item_id]
    assert ("en", "the milk carton I bought smelled really odd yesterday") in nlu_examples(
        project, "complaint"
    )
    assert store.get_inbox_item(item_id)["status"] == "confirmed"
    assert store.get_inbox_item(item_id)["resolved_intent"] == "complaint"


def test_an_example_another_intent_has_is_refused_naming_it(store, broker, project):
    lang, existing = nlu_examples(project, "request_human")[0]
    item_id = _item(store, broker, existing.upper() + " !!")
    outcome = inbox.resolve(store, [item_id], "assign", "tina", intent="complaint", root=project)
    assert outcome.resolved == [] and item_id in outcome.refused
    assert (
        "request_human" in outcome.refused[item_id]
        and inbox.plain(existing) in outcome.refused[item_id]
    )
    assert store.get_inbox_item(item_id)["status"] == "new"  # stays for the trainer
    assert store.list_training_changes() == []
    assert _git(project, "status", "--porcelain") == ""


def test_a_near_duplicate_of_another_intent_is_refused(store, broker, project):
    _, existing = max(nlu_examples(project, "request_human"), key=lambda e: len(e[1]))
    near = inbox.plain(existing) + " lütfen"
    item_id = _item(store, broker, near)
    outcome = inbox.resolve(store, [item_id], "assign", "tina", intent="complaint", root=project)
    assert "nearly the same" in outcome.refused[item_id]
    assert "request_human" in outcome.refused[item_id]
    assert _git(project, "status", "--porcelain") == ""


def test_an_example_the_intent_already_has_is_resolved_without_a_write(store, broker, project):
    _, existing = nlu_examples(project, "complaint")[0]
    item_id = _item(store, broker, inbox.plain(existing))
    outcome = inbox.resolve(store, [item_id], "assign", "tina", intent="complaint", root=project)
    assert outcome.resolved == [item_id] and item_id in outcome.already
    assert outcome.written == [] and store.list_training_changes() == []
    assert _git(project, "status", "--porcelain") == ""


def test_bulk_assign_writes_one_of_each_duplicate_in_one_change(store, broker, project):
    ids = [
        _item(store, broker, "kuzey kart puanlarımı nasıl harcarım", sender="rest:a"),
        _item(store, broker, "Kuzey kart puanlarımı nasıl harcarım?", sender="rest:b"),
        _item(store, broker, "sadakat puanlarım hesabıma hiç yüklenmedi", sender="rest:c"),
    ]
    outcome = inbox.resolve(store, ids, "assign", "tina", intent="complaint", root=project)
    assert sorted(outcome.resolved) == sorted(ids)
    assert len(outcome.written) == 2 and ids[1] in outcome.already
    written = [t for _, t in nlu_examples(project, "complaint")]
    assert written.count("kuzey kart puanlarımı nasıl harcarım") == 1
    assert len(store.list_training_changes()) == 1
    assert {e["sender_id"] for e in store.list_inbox_examples()} == {"rest:a", "rest:c"}


def test_new_intent_is_proposed_with_its_examples_file(store, broker, project):
    ids = [
        _item(store, broker, "kuzey kart puanım kaç oldu", sender="rest:a"),
        _item(store, broker, "how many loyalty points do I have", language="en", sender="rest:b"),
    ]
    outcome = inbox.resolve(store, ids, "new", "tina", intent="loyalty_points", root=project)
    assert sorted(outcome.resolved) == sorted(ids)
    assert store.get_inbox_item(ids[0])["status"] == "proposed"
    assert yaml.safe_load(inbox.examples_file(store, "loyalty_points")) == {
        "tr": ["kuzey kart puanım kaç oldu"],
        "en": ["how many loyalty points do I have"],
    }
    assert _git(project, "status", "--porcelain") == ""  # nothing written yet
    with pytest.raises(inbox.Refused, match="existing intent"):
        inbox.resolve(store, [ids[0]], "new", "tina", intent="complaint", root=project)
    with pytest.raises(inbox.Refused, match="lower-case"):
        inbox.resolve(store, [ids[0]], "new", "tina", intent="Bad Name", root=project)


def test_discard_and_resolving_twice(store, broker, project):
    item_id = _item(store, broker, "asdf bir sey")
    assert inbox.resolve(store, [item_id], "discard", "tina", root=project).resolved == [item_id]
    again = inbox.resolve(store, [item_id], "assign", "tina", intent="complaint", root=project)
    assert again.refused == {item_id: "already discarded"}
    assert store.list_inbox_items() == []


def test_unknown_intent_and_uncommitted_file_are_refused(store, broker, project):
    item_id = _item(store, broker, "kuzey kart puanlarım kayboldu")
    outcome = inbox.resolve(store, [item_id], "assign", "tina", intent="nlu_fallback", root=project)
    assert "not an intent with training data" in outcome.refused[item_id]
    (project / "data/nlu/complaint.yml").write_text(
        (project / "data/nlu/complaint.yml").read_text("utf-8") + "# a local edit\n", "utf-8"
    )
    with pytest.raises(inbox.Refused, match="uncommitted changes"):
        inbox.resolve(store, [item_id], "assign", "tina", intent="complaint", root=project)
    assert store.get_inbox_item(item_id)["status"] == "new"


# -- the desk pages --------------------------------------------------------------------


class Broker:
    def __init__(self, path: Path) -> None:
        self.broker_db = path


@pytest.fixture
def desk(store, broker, project) -> Desk:
    desk = Desk(store)
    desk.app.state.project = project
    desk.app.state.live = Broker(broker.path)  # the feed's broker file, never started here
    desk.user("tina", "trainer")
    desk.user("ayse", "agent")
    return desk


def test_only_trainers_and_admins_see_the_inbox(desk):
    assert desk.login("ayse").get("/training/inbox").status_code == 403
    assert desk.client().get("/training/inbox").status_code == 303  # to /login
    assert desk.login("tina").get("/training/inbox").status_code == 200


def test_the_page_lists_items_with_their_reading_and_resolves_them(desk, store, broker, project):
    who = "whatsapp:+905321110002"
    broker.user(
        who,
        "kuzey kart puanlarım silinmiş 0532 123 45 67",
        [("question", 0.31), ("complaint", 0.22)],
    )
    broker.user(who, "kuzey kart puanlarım yok olmuş", [("question", 0.33), ("complaint", 0.30)])
    client = desk.login("tina")
    page = client.get("/training/inbox")
    assert page.status_code == 200
    assert "kuzey kart puanlarım silinmiş &lt;phone&gt;" in page.text
    assert "0532" not in page.text and "905321110002" not in page.text
    assert "question</span> 0.31" in page.text and "complaint 0.22" in page.text
    assert "WhatsApp" in page.text and "Turkish" in page.text
    ids = [i["id"] for i in store.list_inbox_items()]
    token = desk.csrf(client)
    # without the CSRF token: refused, nothing changed
    refused = client.post("/training/inbox/resolve", data={"do": f"discard:{ids[0]}"})
    assert refused.status_code == 403
    answer = client.post(
        "/training/inbox/resolve",
        data={
            "csrf_token": token,
            "do": "assign:selected",
            "selected": [str(i) for i in ids],
            "bulk_intent": "complaint",
        },
    )
    assert answer.status_code == 303
    shown = client.get(answer.headers["location"])
    assert "2 message(s) assigned to complaint" in shown.text
    assert "Nothing to review" in shown.text
    assert {t for _, t in nlu_examples(project, "complaint")} >= {
        "kuzey kart puanlarım silinmiş <phone>",
        "kuzey kart puanlarım yok olmuş",
    }
    [audit] = [r for r in store.list_audit(limit=10) if r["action"] == "inbox.assign"]
    assert audit["actor"] == "tina"


@pytest.mark.parametrize(
    "form, says",
    [
        ({"do": "explode:1"}, "Please choose what to do"),
        ({"do": "assign:selected"}, "Please tick the messages first"),
        ({"do": "assign:abc"}, "is not an inbox item"),
        ({"do": "assign:1"}, "Please choose an intent"),
        ({"do": "new:1", "new_1": "Bad Name"}, "lower-case letters"),
        ({"do": "discard:999"}, "not in the inbox any more"),
    ],
)
def test_bad_forms_get_a_polite_answer(desk, store, broker, form, says):
    _item(store, broker, "kuzey kart puanlarım")
    client = desk.login("tina")
    answer = client.post("/training/inbox/resolve", data={"csrf_token": desk.csrf(client), **form})
    assert answer.status_code == 303
    assert says in client.get(answer.headers["location"]).text
    assert store.list_inbox_items()[0]["status"] == "new"


def test_a_refusal_names_the_example_on_the_page(desk, store, broker, project):
    _, existing = nlu_examples(project, "request_human")[0]
    item_id = _item(store, broker, inbox.plain(existing))
    client = desk.login("tina")
    answer = client.post(
        "/training/inbox/resolve",
        data={
            "csrf_token": desk.csrf(client),
            "do": f"assign:{item_id}",
            f"intent_{item_id}": "complaint",
        },
    )
    page = client.get(answer.headers["location"]).text
    assert f"Message {item_id}:" in page and "request_human" in page
    assert f'id="item-{item_id}"' in page  # still in the inbox


def test_the_conversation_page_is_scrubbed(desk, store, broker):
    who = "whatsapp:+905321110003"
    broker.user(who, "merhaba, e-postam ayse.kaya@example.com", [("greet", 0.97), ("affirm", 0.01)])
    broker.bot(who, "Merhaba! Size nasıl yardım edebilirim?")
    item_id = _item(store, broker, "kartım 4111 1111 1111 1111 bloke oldu", sender=who)
    client = desk.login("tina")
    page = client.get(f"/training/inbox/{item_id}/conversation")
    assert page.status_code == 200
    assert "&lt;email&gt;" in page.text and "&lt;card&gt;" in page.text
    assert (
        "example.com" not in page.text
        and "4111" not in page.text
        and "905321110003" not in page.text
    )
    assert 'id="this-message"' in page.text
    assert client.get("/training/inbox/9999/conversation").status_code == 404


def test_proposed_examples_download(desk, store, broker):
    item_id = _item(store, broker, "kuzey kart puanım kaç oldu")
    client = desk.login("tina")
    client.post(
        "/training/inbox/resolve",
        data={
            "csrf_token": desk.csrf(client),
            "do": f"new:{item_id}",
            f"new_{item_id}": "loyalty_points",
        },
    )
    answer = client.get("/training/inbox/proposed/loyalty_points")
    assert answer.status_code == 200
    assert yaml.safe_load(answer.text) == {"tr": ["kuzey kart puanım kaç oldu"], "en": []}
    assert client.get("/training/inbox/proposed/nothing_here").status_code == 404


# -- against a real Rasa server --------------------------------------------------------


@pytest.mark.slow
def test_collects_what_the_real_rasa_server_was_unsure_of(demo_bot, tmp_path):
    """The real model and Rasa's own SQL event broker: an off-topic question is collected."""
    import requests

    sender = "inbox-rest-customer-1"
    text = "matematik ödevime yardım eder misin"  # out_of_scope: the kind a new intent may be
    answer = requests.post(
        f"{demo_bot.rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
        timeout=60,
    )
    assert answer.status_code == 200
    store = Store.open(tmp_path / "inbox.db")
    try:
        collector = inbox.Collector(store, demo_bot.events_db, ROOT / "config.yml")
        try:
            collector.collect()
        finally:
            collector.close()
        [item] = [i for i in store.list_inbox_items() if i["sender_id"] == sender]
    finally:
        store.close()
    assert item["text"] == text
    assert item["intent"] and item["confidence"] is not None and item["runner_up"]
    assert item["language"] == "tr" and item["channel"] == "rest"
    assert item["sources"] == ["unsure"]


def test_many_refusals_are_counted_not_all_named(desk, store, broker, project):
    examples = [t for _, t in nlu_examples(project, "request_human")][:12]
    ids = [_item(store, broker, inbox.plain(t), sender=f"rest:{n}") for n, t in enumerate(examples)]
    client = desk.login("tina")
    answer = client.post(
        "/training/inbox/resolve",
        data={
            "csrf_token": desk.csrf(client),
            "do": "assign:selected",
            "selected": [str(i) for i in ids],
            "bulk_intent": "complaint",
        },
    )
    page = client.get(answer.headers["location"]).text
    assert page.count("Message ") == 10 and "And 2 more refused." in page
    assert all(i["status"] == "new" for i in store.list_inbox_items())
