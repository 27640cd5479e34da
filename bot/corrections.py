"""Corrections to every asker, and statement broadcasts: one mechanism for both.

A **correction** is a fact's answer, sent to the people who should know it:

- everyone who asked a rumour the fact answers and was told "we are checking";
- everyone already told an earlier version of the fact, by the bot itself
  (`Store.record_fact_told`, from the actions) or by an earlier correction: they
  get the new version with a note that it corrects what we told them.

`queue_corrections` runs whenever a fact is published, its verdict or answer
changes, or a rumour group is confirmed (`bot/publishing.py`, `bot/rumours.py`;
the CLI and the desk both go through them). Every version of a fact's answer
(`Store.fact_version`: a new one only when what a customer reads changes) is
one campaign, and each recipient one delivery in it, unique in the store: a
repeated publish, or two processes publishing at once, never sends a version twice.

A **statement broadcast** (`broadcast_statement`) sends an incident's live
statement to everyone who wrote about the incident's topic, under the same rules.

The rules, for every delivery:

- in the recipient's language, on their channel; REST askers cannot be written
  to (`unreachable`); opted-out customers get nothing (`opted_out`);
- WhatsApp's 24-hour window, on crisisdesk's clock (`bot/clock.py`): open while
  the customer's newest message (`inbound_messages.received_at`, or when they
  asked) is less than 24 hours old, less a margin; then the full message is
  queued at once. Closed, the approved template `update_waiting` of
  data/whatsapp_templates.yml goes out ("We have an update... Reply to see it.",
  with a quick-reply button) and the delivery waits as `waiting_window` with the
  full message kept. When the customer next writes or presses the button, the
  channel pipeline calls `on_customer_message`, which queues it, once. A newer
  version for someone still waiting replaces the older one (`superseded`; no
  second template).
- Every message goes through the outbox, which paces proactive messages per
  sender and retries; each delivery follows its outbox row (sent, delivered,
  read, failed: `Store.follow_outbox`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Sequence

import yaml

from bot import clock
from bot.answers import fact_message
from bot.channels.common import DomainResponses, split_text
from bot.config import PROJECT_ROOT
from bot.privacy import mask
from bot.store import Store

logger = logging.getLogger(__name__)

# channel -> longest message. A web chat message waits in the outbox until the
# visitor's page is open again (bot/channels/webchat.py); REST cannot be written to.
REACHABLE = {"whatsapp": 1600, "telegram": 4096, "webchat": 4096}
WINDOW = timedelta(hours=24)
# A message queued this close to the window's end could reach Twilio after it:
# such a customer gets the template instead.
WINDOW_MARGIN = timedelta(minutes=10)
TEMPLATES_FILE = PROJECT_ROOT / "data" / "whatsapp_templates.yml"
TEMPLATE_NAME = "update_waiting"
UPDATE_PAYLOAD = "crisisdesk_update"


@dataclass(frozen=True)
class Corrections:
    """What one run queued: deliveries with something in the outbox now (`queued`,
    of which `waiting` are templates waiting for the window), and those not sent."""

    queued: int = 0
    waiting: int = 0
    unreachable: int = 0
    opted_out: int = 0
    campaigns: List[int] = field(default_factory=list)

    def __add__(self, other: Corrections) -> Corrections:
        return Corrections(
            self.queued + other.queued,
            self.waiting + other.waiting,
            self.unreachable + other.unreachable,
            self.opted_out + other.opted_out,
            sorted(set(self.campaigns) | set(other.campaigns)),
        )


# The name publishing, rumours, the CLI and the desk knew it by.
Followups = Corrections


@dataclass(frozen=True)
class UpdateTemplate:
    """The approved WhatsApp template that says an update is waiting, per language."""

    content_sid: Dict[str, str]
    buttons: Dict[str, str]
    payload: str

    def message(self, language: str | None) -> Dict[str, Any]:
        """The outbox message for it (Twilio ContentSid, no variables)."""
        sid = self.content_sid.get(language or "") or self.content_sid.get("tr") or ""
        return {"content_sid": sid, "content_variables": {}, "template": TEMPLATE_NAME}

    def pressed(self, text: str, button_payload: str | None) -> bool:
        """Whether an incoming message is a press of its button."""
        if button_payload:
            return button_payload == self.payload
        folded = " ".join(text.split()).casefold()
        return bool(folded) and folded in {b.casefold() for b in self.buttons.values()}


def load_update_template(path: Path = TEMPLATES_FILE) -> UpdateTemplate:
    """`update_waiting` from the templates file; ValueError when it is missing or malformed."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for entry in data.get("templates") or []:
        if entry.get("name") != TEMPLATE_NAME:
            continue
        languages = entry.get("languages") or {}
        sids = {lang: str(spec.get("content_sid") or "") for lang, spec in languages.items()}
        if not sids or not all(sid.startswith("HX") for sid in sids.values()):
            raise ValueError(f"template {TEMPLATE_NAME}: every content_sid must start with HX")
        return UpdateTemplate(
            sids,
            {lang: str(spec.get("button") or "") for lang, spec in languages.items()},
            str(entry.get("button_payload") or UPDATE_PAYLOAD),
        )
    raise ValueError(f"{path} has no template {TEMPLATE_NAME}")


_template: UpdateTemplate | None = None


def update_template() -> UpdateTemplate:
    """The update template, read once per process."""
    global _template
    if _template is None:
        _template = load_update_template()
    return _template


# -- the window -----------------------------------------------------------------------


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    at = datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def window_open(
    store: Store, channel: str, recipient: str, seen: Iterable[str | None] = ()
) -> bool:
    """Whether a normal message may go to the customer now (always, except WhatsApp).

    On WhatsApp: the customer's newest message, from the store's inbound messages
    or the times in `seen` (when they asked), is less than 24 hours (less a margin)
    old on crisisdesk's clock.
    """
    if channel != "whatsapp":
        return True
    times = [_parse(t) for t in [store.last_inbound_at(channel, recipient), *seen]]
    last = max((t for t in times if t is not None), default=None)
    return last is not None and clock.now() < last + WINDOW - WINDOW_MARGIN


# -- one delivery ---------------------------------------------------------------------


@dataclass
class _Run:
    store: Store
    responses: DomainResponses
    template: UpdateTemplate | None
    queued: int = 0
    waiting: int = 0
    unreachable: int = 0
    opted_out: int = 0
    campaigns: set = field(default_factory=set)

    def result(self) -> Corrections:
        return Corrections(
            self.queued, self.waiting, self.unreachable, self.opted_out, sorted(self.campaigns)
        )

    def deliver(
        self,
        campaign: Dict[str, Any],
        channel: str,
        recipient: str,
        language: str | None,
        text: Callable[[str | None], str],
        corrects_earlier: bool,
        seen: Sequence[str | None] = (),
        supersedes: Callable[[Dict[str, Any]], bool] = lambda row: False,
    ) -> None:
        """Records and queues one recipient's delivery of a campaign (nothing if it has one)."""
        store, campaign_id = self.store, int(campaign["id"])
        language = language if language in ("tr", "en") else None
        common = dict(corrects_earlier=corrects_earlier)
        limit = REACHABLE.get(channel or "")
        if not limit:
            if store.add_delivery(
                campaign_id,
                channel or "",
                recipient,
                language,
                "unreachable",
                error=f"no proactive messages on {channel or 'this channel'}",
                **common,
            ):
                self.unreachable += 1
            return
        if store.is_opted_out(channel, recipient):
            if store.add_delivery(campaign_id, channel, recipient, language, "opted_out", **common):
                self.opted_out += 1
            return
        messages = [{"text": piece} for piece in split_text(text(language), limit)]
        if window_open(store, channel, recipient, seen):
            if store.add_delivery(
                campaign_id, channel, recipient, language, "queued", messages=messages, **common
            ):
                self.queued += 1
                self.campaigns.add(campaign_id)
            return
        earlier = [row for row in store.waiting_deliveries(channel, recipient)]
        template = None
        if not earlier:  # one template says "an update is waiting", however many wait
            if self.template is None:
                self.template = update_template()
            template = self.template.message(language)
        delivery = store.add_delivery(
            campaign_id,
            channel,
            recipient,
            language,
            "waiting_window",
            template=template,
            waiting=messages,
            **common,
        )
        if delivery is None:
            return
        replaced = [row["id"] for row in earlier if supersedes(row)]
        if replaced:
            store.supersede_waiting(replaced, campaign_id)
        self.queued += 1
        self.waiting += 1
        self.campaigns.add(campaign_id)


# -- corrections ----------------------------------------------------------------------


def fact_text(
    responses: DomainResponses, fact: Dict[str, Any], language: str | None, corrects: bool
) -> str:
    """The message with a fact's answer: its verdict line on the claim, answer, source.

    `corrects`: it replaces an earlier answer we gave this customer (said so first).
    """
    values = fact_message(fact, language)
    verdict = responses.render(f"utter_fact_{fact['verdict']}", language)["text"]
    values["verdict"] = verdict.split("\n\n", 1)[0].format(**values)
    name = "utter_fact_correction" if corrects else "utter_rumour_followup"
    return str(responses.render(name, language)["text"]).format(**values)


def queue_corrections(
    store: Store,
    responses: DomainResponses | None = None,
    fact_ids: Iterable[str] | None = None,
    by: str = "",
) -> Corrections:
    """Queues every published fact's current answer for whoever should have it and has not.

    Args:
        store: the operational store.
        responses: the domain's texts (read from domain.yml when None).
        fact_ids: only these facts (default: every published fact).
        by: who published (recorded on a new answer version and campaign).
    """
    run = _Run(store, responses or DomainResponses(), None)
    facts = (
        [f for f in (store.get_fact(i, missing_ok=True) for i in fact_ids) if f]
        if fact_ids is not None
        else store.published_facts()
    )
    for fact in facts:
        if fact["status"] == "published":
            _correct(run, fact, by)
    return run.result()


def _correct(run: _Run, fact: Dict[str, Any], by: str) -> None:
    store = run.store
    version = store.fact_version(fact["id"], by)
    number = int(version["version"])
    # (channel, recipient) -> language, times they wrote, whether told an earlier version
    wanted: Dict[tuple, Dict[str, Any]] = {}
    told_now = set()
    with_deliveries = store.fact_delivery_recipients(fact["id"])
    for asker in store.fact_askers(fact["id"]):
        key = (asker["channel"] or "", asker["sender_id"])
        entry = wanted.setdefault(key, {"language": None, "seen": [], "earlier": False})
        entry["language"] = asker["language"] or entry["language"]
        entry["seen"].append(asker["asked_at"])
        if asker.get("notified_at") and key not in with_deliveries:
            # Followed up before answer versions existed: told version 1.
            if number == 1:
                told_now.add(key)
            else:
                entry["earlier"] = True
    for told in store.told_versions(fact["id"]):
        key = (told["channel"] or "", told["recipient"])
        if int(told["version"]) >= number:
            told_now.add(key)
            continue
        entry = wanted.setdefault(key, {"language": None, "seen": [], "earlier": False})
        entry["language"] = told["language"] or entry["language"]
        entry["seen"].append(told["wrote_at"])
        entry["earlier"] = True
    for key in told_now:
        wanted.pop(key, None)
    if not wanted:
        _mark_askers(store, fact["id"], told_now)
        return
    campaign = store.campaign_for(
        f"fact:{fact['id']}:v{number}",
        "correction",
        by or str(fact.get("verified_by") or ""),
        fact_id=fact["id"],
        fact_version=number,
    )
    store.reopen_withdrawn(int(campaign["id"]))  # retired before they went, published again
    done = store.campaign_recipients(int(campaign["id"]))
    older = {
        int(c["id"])
        for c in store.list_campaigns()
        if c["kind"] == "correction" and c["fact_id"] == fact["id"] and c["id"] != campaign["id"]
    }
    for (channel, recipient), entry in wanted.items():
        if (channel, recipient) in done:
            continue
        corrects = bool(entry["earlier"])
        run.deliver(
            campaign,
            channel,
            recipient,
            entry["language"],
            lambda language, c=corrects: fact_text(run.responses, fact, language, c),
            corrects,
            entry["seen"],
            supersedes=lambda row: int(row["campaign_id"]) in older,
        )
    reached = {
        (d["channel"], d["recipient"])
        for d in store.list_deliveries(int(campaign["id"]))
        if d["status"] not in ("unreachable", "opted_out", "failed", "superseded", "waiting_window")
    }  # a waiting one is marked when it is released (Store.release_waiting)
    _mark_askers(store, fact["id"], reached | told_now)
    logger.info(
        "fact %s v%s: %s recipient(s) considered for campaign %s",
        fact["id"],
        number,
        len(wanted),
        campaign["id"],
    )


def _mark_askers(store: Store, fact_id: str, reached: set) -> None:
    """Marks the rumour askers who have the answer as followed up (`rumour_askers`)."""
    for asker in store.fact_askers(fact_id):
        key = (asker["channel"] or "", asker["sender_id"])
        if key in reached and not asker.get("notified_at"):
            store.mark_followup_sent(asker["rumour_id"], asker["sender_id"])


def queue_followups(store: Store, responses: DomainResponses | None = None) -> Corrections:
    """The follow-ups of publishing (the old name): `queue_corrections` for every fact."""
    return queue_corrections(store, responses)


# -- statement broadcasts -------------------------------------------------------------


def statement_text(
    responses: DomainResponses, statement: Dict[str, Any], language: str | None, update: bool
) -> str:
    """A statement broadcast in `language` (both languages when unknown)."""
    if language in ("tr", "en"):
        body = str(statement[f"text_{language}"])
    else:
        body = f"{statement['text_tr']}\n\n{statement['text_en']}"
    name = "utter_statement_update" if update else "utter_statement_broadcast"
    return str(responses.render(name, language)["text"]).format(statement=body)


Recipients = Callable[[Store, int], List[Dict[str, Any]]]


def broadcast_statement(
    store: Store,
    incident_id: int,
    actor: str,
    responses: DomainResponses | None = None,
    recipients: Recipients | None = None,
) -> Corrections:
    """Sends an incident's live statement to everyone who wrote about its topic, once each.

    Recipients come from `recipients(store, incident_id)` (default:
    `Store.incident_recipients`, the message log and the incident's conversations):
    dicts with sender_id, channel, language and at (when they last wrote). A
    recipient sent an earlier statement of the incident gets this one as an update.
    A conversation already shown this version in the chat is skipped, and one
    that gets it here is recorded as shown, so the chat does not repeat it.

    Raises:
        NotFound: no such incident.
        ValueError: the incident has no live statement.
    """
    store.get_incident(incident_id)
    statement = store.live_statement(incident_id)
    if not statement:
        raise ValueError(f"incident {incident_id} has no live statement to broadcast")
    run = _Run(store, responses or DomainResponses(), None)
    campaign = store.campaign_for(
        f"statement:{statement['id']}",
        "statement",
        actor,
        incident_id=incident_id,
        statement_id=int(statement["id"]),
    )
    earlier = {int(c["id"]) for c in store.list_campaigns(incident_id) if c["id"] != campaign["id"]}
    told_earlier = {
        (d["channel"], d["recipient"])
        for campaign_id in earlier
        for d in store.list_deliveries(campaign_id)
        if d["status"] in ("queued", "sent", "delivered", "read")
    }
    done = store.campaign_recipients(int(campaign["id"]))
    shown = store.statement_shown_to(int(statement["id"]))  # in the chat: not again
    for person in (recipients or Store.incident_recipients)(store, incident_id):
        channel, recipient = person.get("channel") or "", person["sender_id"]
        if (channel, recipient) in done or recipient in shown:
            continue
        update = (channel, recipient) in told_earlier
        run.deliver(
            campaign,
            channel,
            recipient,
            person.get("language"),
            lambda language, u=update: statement_text(run.responses, statement, language, u),
            update,
            [person.get("at")],
            supersedes=lambda row: int(row["campaign_id"]) in earlier,
        )
        # The conversation has had this version now: the chat does not repeat it.
        store.mark_statement_shown(int(statement["id"]), recipient, person.get("language"))
    run.campaigns.add(int(campaign["id"]))
    logger.info(
        "statement %s of incident %s broadcast by %s: campaign %s",
        statement["id"],
        incident_id,
        actor,
        campaign["id"],
    )
    return run.result()


# -- when the customer writes again ---------------------------------------------------


def release(
    store: Store,
    channel: str,
    sender: str,
    message_id: str | None,
    text: str = "",
    button_payload: str | None = None,
) -> tuple[List[int], bool]:
    """Queues what waited for this customer's window (they just wrote: it is open).

    Returns the outbox ids queued and whether the message was only the template's
    button (then it is not for the dialogue). An opted-out customer's waiting
    deliveries are marked opted out instead.
    """
    queued = store.release_on_message(channel, sender, message_id)
    return queued, bool(queued) and update_template().pressed(text, button_payload)


async def on_customer_message(pipeline: Any, incoming: Any) -> bool:
    """The channel pipeline's hook, before the dialogue: queues what waited for the window.

    True when the message was only the update template's button, so the dialogue
    need not read it ("Show me" is not a question).
    """
    if pipeline.channel != "whatsapp":
        return False
    queued = await pipeline.store.release_on_message(
        pipeline.channel, incoming.sender, incoming.message_id
    )
    if not queued:
        return False
    outbox = getattr(pipeline.output_for(None), "outbox", None)
    if outbox is not None:
        outbox.wake()
    meta = (incoming.metadata or {}).get(pipeline.channel) or {}
    pressed = update_template().pressed(incoming.text, meta.get("button_payload"))
    logger.info(
        "%s wrote again: %s waiting message(s) queued%s",
        mask(incoming.sender),
        len(queued),
        " (the update button)" if pressed else "",
    )
    return pressed


# -- the command line -------------------------------------------------------------------

STATE_COLUMNS = [
    "queued",
    "waiting_window",
    "sent",
    "delivered",
    "read",
    "failed",
    "opted_out",
    "unreachable",
]


def _subject(campaign: Dict[str, Any]) -> str:
    if campaign["kind"] == "correction":
        return f"fact {campaign['fact_id']} v{campaign['fact_version']}"
    return f"incident {campaign['incident_id']} statement {campaign['statement_id']}"


def cli_list(args: Any) -> int:
    """Lists corrections and broadcasts with their deliveries by state."""
    import json

    from bot.cli import _store, _table

    campaigns = _store(args).list_campaigns()
    if args.json:
        print(json.dumps(campaigns, ensure_ascii=False, indent=2))
        return 0
    rows = [{**c, "subject": _subject(c), "all": c["total"], **c["counts"]} for c in campaigns]
    _table(rows, ["id", "kind", "subject", "created_at", "created_by", "all", *STATE_COLUMNS])
    return 0


def cli_show(args: Any) -> int:
    """One campaign: its progress and every delivery (customers masked)."""
    import json

    from bot.cli import _store, _table
    from bot.privacy import display_sender

    store = _store(args)
    campaign = store.get_campaign(args.id)
    deliveries = store.list_deliveries(args.id)
    for delivery in deliveries:
        delivery["recipient"] = display_sender(delivery["recipient"], None)
        delivery.pop("payload", None)
    if args.json:
        print(json.dumps({**campaign, "deliveries": deliveries}, ensure_ascii=False, indent=2))
        return 0
    counts = ", ".join(f"{k} {v}" for k, v in sorted(campaign["counts"].items())) or "none"
    print(f"campaign {campaign['id']}: {campaign['kind']}, {_subject(campaign)}")
    print(f"started {campaign['created_at']} by {campaign['created_by']}; deliveries: {counts}")
    _table(
        deliveries,
        [
            "id",
            "recipient",
            "channel",
            "language",
            "status",
            "corrects_earlier",
            "queued_at",
            "sent_at",
            "delivered_at",
            "read_at",
            "error",
        ],
    )
    return 0


def cli_broadcast(args: Any) -> int:
    """Broadcasts an incident's live statement to everyone who wrote about its topic."""
    import sys

    from bot.cli import _store

    store = _store(args)
    try:
        from bot.incidents import NotAllowed, check_actor

        check_actor(store, args.user)
    except NotAllowed as problem:
        print(str(problem), file=sys.stderr)
        return 2
    try:
        done = broadcast_statement(store, args.id, args.user)
    except ValueError as problem:
        print(str(problem), file=sys.stderr)
        return 2
    print(
        f"campaign {', '.join(map(str, done.campaigns))}: {done.queued} message(s) queued"
        f" ({done.waiting} waiting for WhatsApp's window), {done.opted_out} opted out,"
        f" {done.unreachable} on channels the bot cannot write to"
    )
    return 0


def add_commands(groups: Any, command: Callable[..., Any]) -> None:
    """`crisisdesk corrections list|show ID` and `crisisdesk incidents broadcast ID`.

    Call after the `incidents` group exists (bot/incidents.py); without it the
    broadcast is `crisisdesk broadcast ID`.
    """
    import argparse

    group = groups.add_parser(
        "corrections",
        help="corrections and statement broadcasts, with their delivery progress",
        description="Corrections (a fact's answer to its askers and to whoever was told an"
        " earlier version) and statement broadcasts, each recipient's delivery tracked.",
    )
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = command(sub, "list", cli_list, "list campaigns with their deliveries by state")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command(sub, "show", cli_show, "one campaign and each recipient's delivery")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="print JSON")
    incidents = groups.choices.get("incidents")
    actions = [
        a
        for a in (incidents._actions if incidents else [])
        if isinstance(a, argparse._SubParsersAction)
    ]
    where = actions[0] if actions else groups
    p = command(
        where,
        "broadcast",
        cli_broadcast,
        "send an incident's live statement to everyone who wrote about its topic (once each)",
    )
    p.add_argument("id", type=int, help="the incident")
    # Checked by check_actor (an empty name is refused), like the other incident commands.
    p.add_argument("--as", dest="user", default="", help="an editor or admin of the desk's users")
