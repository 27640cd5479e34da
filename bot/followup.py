"""Telling customers the answer to a rumour they asked about, once a fact is published.

When the bot could not answer a claim it said "we are checking this and will let
you know" and recorded who asked. After `crisisdesk facts publish` links such open
rumours to the new fact, `queue_followups` writes one message per asker into the
outbox; the running server's channels deliver it (never to someone who opted
out; a web chat visitor sees it when their page is open). Customers on the REST
channel cannot be written to and stay pending.
The message names the claim with the fact's verdict line (the first paragraph
of `utter_fact_<verdict>`, as in a direct answer), in the asker's language. A
customer who asked several wordings grouped as one rumour is one asker; one
already told this fact through another rumour is not told again.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.answers import fact_message
from bot.channels.common import DomainResponses, split_text
from bot.store import Store

# channel -> longest message. A web chat follow-up waits in the outbox until the
# visitor's page is open again (bot/channels/webchat.py).
REACHABLE = {"whatsapp": 1600, "telegram": 4096, "webchat": 4096}


@dataclass(frozen=True)
class Followups:
    """How many askers were queued a message and how many cannot be reached."""

    queued: int
    unreachable: int


def queue_followups(store: Store, responses: DomainResponses | None = None) -> Followups:
    """Queues the answer for every asker of an answered rumour not told yet."""
    responses = responses or DomainResponses()
    queued = unreachable = 0
    for row in store.pending_followups():
        fact = store.get_fact(row["fact_id"], missing_ok=True)
        if not fact or fact["status"] != "published":
            continue
        limit = REACHABLE.get(row["channel"] or "")
        if not limit:
            unreachable += 1
            continue
        if store.already_told(row["sender_id"], fact["id"]):
            store.mark_followup_sent(row["rumour_id"], row["sender_id"])
            continue
        language = row["language"] if row["language"] in ("tr", "en") else None
        values = fact_message(fact, language)
        verdict = responses.render(f"utter_fact_{fact['verdict']}", language)["text"]
        values["verdict"] = verdict.split("\n\n", 1)[0].format(**values)
        template = responses.render("utter_rumour_followup", language)["text"]
        text = template.format(**values)
        for piece in split_text(text, limit):
            store.enqueue_outgoing(row["channel"], row["sender_id"], {"text": piece}, None)
        store.mark_followup_sent(row["rumour_id"], row["sender_id"])
        queued += 1
    return Followups(queued, unreachable)
