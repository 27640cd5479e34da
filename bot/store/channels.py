"""Channels: the outbox, inbound message ids, opt-outs and offered choices."""

from __future__ import annotations

import json
import uuid
from typing import Any, Dict, List, Sequence

from bot.store.base import Area, NotFound, now

OUTGOING_STATUSES = ("pending", "sent", "failed")
INBOUND_STATUSES = ("received", "processed", "failed")
INBOUND_KINDS = ("text", "button", "start")
# Offers (the buttons of one bot message) kept per conversation; older ones lapse.
KEPT_OFFERS = 5
# Provider delivery reports, in the order they can happen; failures are final.
DELIVERY_RANK = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
}


class ChannelStore(Area):
    """What the customer channels keep: messages out and in, opt-outs, offered choices."""

    # -- outbox ----------------------------------------------------------------------
    # Messages to customers, written before they are sent (bot/outbox.py sends them).

    def enqueue_outgoing(
        self,
        channel: str,
        recipient: str,
        payload: Dict[str, Any],
        answers: str | None = None,
        due_at: float = 0.0,
    ) -> int:
        """Writes one outgoing message as pending; returns its id."""
        return int(
            self.db["outbox"]
            .insert(
                {
                    "channel": channel,
                    "recipient": recipient,
                    "payload": json.dumps(payload, ensure_ascii=False),
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": due_at,
                    "last_error": None,
                    "provider_id": None,
                    "delivery_status": None,
                    "answers": answers,
                    "created_at": now(),
                    "sent_at": None,
                }
            )
            .last_pk
        )

    def get_outgoing(self, outgoing_id: int) -> Dict[str, Any]:
        """One outbox row by id."""
        rows = list(self.db["outbox"].rows_where("id = ?", [outgoing_id]))
        if not rows:
            raise NotFound(f"no outgoing message with id {outgoing_id}")
        return rows[0]

    def list_outgoing(
        self, status: str | None = None, channel: str | None = None
    ) -> List[Dict[str, Any]]:
        """Outbox rows in the order they were written, optionally filtered."""
        clauses, args = [], []
        if status:
            clauses.append("status = ?")
            args.append(status)
        if channel:
            clauses.append("channel = ?")
            args.append(channel)
        where = " and ".join(clauses) or None
        return list(self.db["outbox"].rows_where(where, args, order_by="id"))

    def last_outgoing_id(self, channel: str) -> int:
        """The id of a channel's newest outbox row (0: none); a cheap "anything new?" check."""
        row = self.db.execute("select max(id) from outbox where channel = ?", [channel]).fetchone()
        return int(row[0] or 0)

    def outgoing_to(
        self, channel: str, recipient: str, after_id: int = 0, limit: int = 500
    ) -> List[Dict[str, Any]]:
        """One conversation's outbox rows after `after_id`, oldest first (its bot side)."""
        return list(
            self.db["outbox"].rows_where(
                "channel = ? and recipient = ? and id > ?",
                [channel, recipient, after_id],
                order_by="id",
                limit=limit,
            )
        )

    def due_recipients(
        self, at: float, channels: Sequence[str], limit: int = 1000
    ) -> List[tuple[str, str]]:
        """(channel, recipient) pairs of `channels` whose oldest pending message is due at `at`."""
        marks = ", ".join("?" for _ in channels)
        rows = self.db.execute(
            "select o.channel, o.recipient from outbox o"
            f" where o.status = 'pending' and o.next_attempt_at <= ? and o.channel in ({marks})"
            " and o.id = (select min(p.id) from outbox p where p.status = 'pending'"
            " and p.channel = o.channel and p.recipient = o.recipient)"
            " order by o.id limit ?",
            [at, *channels, limit],
        ).fetchall()
        return [(row[0], row[1]) for row in rows]

    def oldest_pending(self, channel: str, recipient: str) -> Dict[str, Any] | None:
        """The next message a recipient should get (messages go out in order)."""
        rows = list(
            self.db["outbox"].rows_where(
                "status = 'pending' and channel = ? and recipient = ?",
                [channel, recipient],
                order_by="id",
                limit=1,
            )
        )
        return rows[0] if rows else None

    def next_due_at(self, channels: Sequence[str]) -> float | None:
        """When the next recipient's oldest pending message of `channels` is due, or None."""
        marks = ", ".join("?" for _ in channels)
        row = self.db.execute(
            "select min(o.next_attempt_at) from outbox o"
            f" where o.status = 'pending' and o.channel in ({marks})"
            " and o.id = (select min(p.id) from outbox p where p.status = 'pending'"
            " and p.channel = o.channel and p.recipient = o.recipient)",
            list(channels),
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def claim_outgoing(self, outgoing_id: int, at: float, lease_until: float) -> bool:
        """Takes a due message for one attempt; False when someone else has it or it is done.

        Counting the attempt and pushing `next_attempt_at` to `lease_until` in one
        statement means two deliverers never send the same message at once; a
        deliverer that dies mid-send leaves the message to be retried after the lease.
        """
        with self.db.conn:
            cursor = self.db.execute(
                "update outbox set attempts = attempts + 1, next_attempt_at = ?"
                " where id = ? and status = 'pending' and next_attempt_at <= ?",
                [lease_until, outgoing_id, at],
            )
        return cursor.rowcount == 1

    def mark_sent(self, outgoing_id: int, provider_id: str) -> bool:
        """Records a successful send; True only the first time (a message is sent once)."""
        with self.db.conn:
            cursor = self.db.execute(
                "update outbox set status = 'sent', provider_id = ?, sent_at = ?,"
                " last_error = null where id = ? and status = 'pending'",
                [provider_id, now(), outgoing_id],
            )
        if cursor.rowcount == 1:
            self._follow(outgoing_id)
        return cursor.rowcount == 1

    def mark_retry(self, outgoing_id: int, at: float, error: str) -> None:
        """Leaves a message pending for another attempt at `at` (Unix time)."""
        with self.db.conn:
            self.db.execute(
                "update outbox set next_attempt_at = ?, last_error = ?"
                " where id = ? and status = 'pending'",
                [at, error[:1000], outgoing_id],
            )

    def mark_failed(self, outgoing_id: int, error: str) -> None:
        """Gives up on a message; it stays in the outbox for an operator."""
        with self.db.conn:
            self.db.execute(
                "update outbox set status = 'failed', last_error = ?"
                " where id = ? and status = 'pending'",
                [error[:1000], outgoing_id],
            )
        self._follow(outgoing_id)

    def retry_outgoing(self, outgoing_id: int) -> Dict[str, Any]:
        """Puts a failed message back in the queue, due now, with a fresh attempt count."""
        self.get_outgoing(outgoing_id)
        with self.db.conn:
            self.db.execute(
                "update outbox set status = 'pending', attempts = 0, next_attempt_at = 0"
                " where id = ? and status = 'failed'",
                [outgoing_id],
            )
        return self.get_outgoing(outgoing_id)

    def update_delivery_status(self, channel: str, provider_id: str, status: str) -> bool:
        """Records a provider's delivery report; a late report never moves a message back.

        Returns False when no sent message has that provider id.
        """
        row = self.db.execute(
            "select id, delivery_status from outbox where channel = ? and provider_id = ?",
            [channel, provider_id],
        ).fetchone()
        if row is None:
            return False
        if DELIVERY_RANK.get(status, 0) >= DELIVERY_RANK.get(row[1] or "", -1):
            with self.db.conn:
                self.db.execute(
                    "update outbox set delivery_status = ? where id = ?", [status, row[0]]
                )
            self._follow(int(row[0]))
        return True

    def _follow(self, outgoing_id: int) -> None:
        """Moves a correction's or broadcast's delivery along with its outbox row."""
        follow = getattr(self, "follow_outbox", None)  # bot/store/campaigns.py
        if follow is not None:
            follow(outgoing_id)

    def mark_shown(self, channel: str, recipient: str, up_to_id: int) -> int:
        """Records that a conversation's page shows its rows up to `up_to_id` (web chat).

        Their delivery status becomes "delivered" (what a provider's report says
        elsewhere); returns how many rows changed.
        """
        with self.db.conn:
            cursor = self.db.execute(
                "update outbox set delivery_status = 'delivered'"
                " where channel = ? and recipient = ? and id <= ?"
                " and status in ('pending', 'sent') and delivery_status is null",
                [channel, recipient, up_to_id],
            )
        shown = getattr(self, "deliveries_shown", None)  # bot/store/campaigns.py
        if shown is not None and cursor.rowcount:
            shown(channel, recipient, up_to_id)
        return cursor.rowcount

    # -- inbound messages --------------------------------------------------------------

    def record_inbound(
        self,
        channel: str,
        message_id: str,
        sender: str,
        body: str,
        media: Sequence[Dict[str, Any]] = (),
        kind: str = "text",
    ) -> bool:
        """Remembers an incoming message; False when its id was seen before (a retry).

        `kind` is how it came: typed (`text`), a button press (`button`) or a
        channel command (`start`).
        """
        assert kind in INBOUND_KINDS
        with self.db.conn:
            cursor = self.db.execute(
                "insert or ignore into inbound_messages"
                " (channel, message_id, sender, body, media, kind, status, received_at)"
                " values (?, ?, ?, ?, ?, ?, 'received', ?)",
                [
                    channel,
                    message_id,
                    sender,
                    body,
                    json.dumps(list(media), ensure_ascii=False),
                    kind,
                    now(),
                ],
            )
        return cursor.rowcount == 1

    def finish_inbound(
        self, channel: str, message_id: str, status: str = "processed", error: str | None = None
    ) -> None:
        """Marks an incoming message handled (`processed`) or not (`failed`, with why)."""
        assert status in INBOUND_STATUSES
        with self.db.conn:
            self.db.execute(
                "update inbound_messages set status = ?, processed_at = ?, error = ?"
                " where channel = ? and message_id = ?",
                [status, now(), error, channel, message_id],
            )

    def list_inbound(
        self, channel: str | None = None, status: str | None = None
    ) -> List[Dict[str, Any]]:
        """Incoming messages in arrival order, optionally filtered."""
        clauses, args = [], []
        if channel:
            clauses.append("channel = ?")
            args.append(channel)
        if status:
            clauses.append("status = ?")
            args.append(status)
        where = " and ".join(clauses) or None
        return list(self.db["inbound_messages"].rows_where(where, args, order_by="id"))

    def inbound_received_at(self, channel: str, message_id: str) -> str | None:
        """When an inbound message arrived (store clock, ISO), or None if it was not recorded."""
        row = self.db.execute(
            "select received_at from inbound_messages where channel = ? and message_id = ?",
            [channel, message_id],
        ).fetchone()
        return row[0] if row else None

    def inbound_from(self, channel: str, sender: str, limit: int = 500) -> List[Dict[str, Any]]:
        """One conversation's incoming messages, in arrival order (the newest `limit`)."""
        rows = list(
            self.db["inbound_messages"].rows_where(
                "channel = ? and sender = ?", [channel, sender], order_by="id desc", limit=limit
            )
        )
        return rows[::-1]

    # -- opt-outs ----------------------------------------------------------------------

    def opt_out(self, channel: str, recipient: str) -> bool:
        """Stops proactive messages to a recipient; True when they were opted in before."""
        with self.db.conn:
            cursor = self.db.execute(
                "insert or ignore into opt_outs (channel, recipient, opted_out_at)"
                " values (?, ?, ?)",
                [channel, recipient, now()],
            )
        drop = getattr(self, "opt_out_waiting", None)  # bot/store/campaigns.py
        if drop is not None:
            drop(channel, recipient)  # what waited for the window is never sent now
        return cursor.rowcount == 1

    def opt_in(self, channel: str, recipient: str) -> bool:
        """Allows proactive messages again; True when the recipient had opted out."""
        with self.db.conn:
            cursor = self.db.execute(
                "delete from opt_outs where channel = ? and recipient = ?", [channel, recipient]
            )
        return cursor.rowcount == 1

    def is_opted_out(self, channel: str, recipient: str) -> bool:
        """Whether a recipient asked for no proactive messages."""
        return bool(
            self.db["opt_outs"].count_where("channel = ? and recipient = ?", [channel, recipient])
        )

    # -- offered choices ---------------------------------------------------------------

    def offer_choices(
        self, channel: str, recipient: str, options: Sequence[Dict[str, Any]]
    ) -> None:
        """Remembers the numbered options last shown to a conversation (replacing older ones)."""
        self.db["offered_choices"].upsert(
            {
                "channel": channel,
                "recipient": recipient,
                "options": json.dumps(list(options), ensure_ascii=False),
                "offered_at": now(),
            },
            pk=("channel", "recipient"),
        )

    def take_choices(self, channel: str, recipient: str) -> List[Dict[str, Any]]:
        """The options offered to a conversation, forgotten once read (they answer one reply)."""
        with self.db.conn:
            row = self.db.execute(
                "select options from offered_choices where channel = ? and recipient = ?",
                [channel, recipient],
            ).fetchone()
            if row is None:
                return []
            self.db.execute(
                "delete from offered_choices where channel = ? and recipient = ?",
                [channel, recipient],
            )
        return list(json.loads(row[0]))

    # -- offered payloads ----------------------------------------------------------------

    def offer_payloads(self, channel: str, recipient: str, payloads: Sequence[str]) -> str:
        """Remembers the button payloads of one bot message to a conversation; returns the offer.

        Only the newest `KEPT_OFFERS` offers of a conversation are kept.
        """
        offer = uuid.uuid4().hex
        at = now()
        with self.db.conn:
            self.db.conn.executemany(
                "insert into offered_payloads (channel, recipient, offer, payload, offered_at)"
                " values (?, ?, ?, ?, ?)",
                [(channel, recipient, offer, payload, at) for payload in dict.fromkeys(payloads)],
            )
            self.db.execute(
                "delete from offered_payloads where channel = ? and recipient = ?"
                " and offer not in (select offer from offered_payloads"
                " where channel = ? and recipient = ? group by offer"
                " order by max(id) desc limit ?)",
                [channel, recipient, channel, recipient, KEPT_OFFERS],
            )
        return offer

    def take_payload(self, channel: str, recipient: str, payload: str) -> bool:
        """Uses an offered payload: True once, when it was offered to this conversation.

        The whole offer it came with is used up with it (a question is answered once).
        """
        with self.db.conn:
            row = self.db.execute(
                "select offer from offered_payloads"
                " where channel = ? and recipient = ? and payload = ? order by id desc limit 1",
                [channel, recipient, payload],
            ).fetchone()
            if row is None:
                return False
            cursor = self.db.execute("delete from offered_payloads where offer = ?", [row[0]])
        return cursor.rowcount > 0

    def offered_payloads(self, channel: str, recipient: str) -> List[str]:
        """The payloads a conversation may still use, newest first."""
        rows = self.db.execute(
            "select payload from offered_payloads where channel = ? and recipient = ?"
            " order by id desc",
            [channel, recipient],
        ).fetchall()
        return [row[0] for row in rows]
