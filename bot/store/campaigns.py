"""Corrections and broadcasts: fact versions, who was told what, campaigns, deliveries.

`bot/corrections.py` decides who gets what; this module keeps it:

- `fact_versions`: a fact's answer as published, numbered per fact. A new
  version is recorded only when what a customer reads changes (verdict, claims,
  answers, source), so publishing the same fact again is the same version.
- `fact_tellings`: the bot itself told a customer a version of a fact (a direct
  answer); a later version reaches them as a correction.
- `campaigns`: one per fact answer version (`fact:ID:vN`) or live statement
  (`statement:ID`), found again by its unique `key`.
- `deliveries`: one per campaign and recipient, unique, so nobody is sent one
  version twice, whoever queues it and however often. A delivery and its outbox
  rows are written in one transaction. It then follows its outbox row (sent,
  delivered, read, failed, opted out): `ChannelStore` calls `follow_outbox`
  whenever a row changes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Dict, Iterable, List, Sequence

from bot.store.base import Area, NotFound, now

DELIVERY_STATUSES = (
    "queued",
    "waiting_window",
    "sent",
    "delivered",
    "read",
    "failed",
    "opted_out",
    "unreachable",
    "superseded",
)
# Where a delivery can still move forward; the rest are final.
_RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}
# What a customer reads of a fact: a change of any of these is a new answer version.
VERSION_FIELDS = ("verdict", "claim_tr", "claim_en", "answer_tr", "answer_en", "source_url")
# Deliveries that count as "this customer was told (or is being told) that version".
TOLD = ("queued", "sent", "delivered", "read")


def _digest(fact: Dict[str, Any]) -> str:
    text = json.dumps([str(fact.get(k) or "") for k in VERSION_FIELDS], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CampaignStore(Area):
    """Fact versions, tellings, campaigns and their per-recipient deliveries."""

    # -- fact answer versions --------------------------------------------------------

    def fact_version(self, fact_id: str, by: str = "") -> Dict[str, Any]:
        """The version row of a fact's answer as it is now, recorded when it is new.

        Raises NotFound for an unknown fact.
        """
        fact = self.get_fact(fact_id)  # type: ignore[attr-defined]
        digest = _digest(fact)
        for _ in range(3):  # another process may record the same version at once
            latest = self.latest_fact_version(fact_id)
            if latest and latest["digest"] == digest:
                return latest
            version = (latest["version"] + 1) if latest else 1
            with self.db.conn:
                self.db.execute(
                    "insert or ignore into fact_versions (fact_id, version, digest, verdict,"
                    " claim_tr, claim_en, answer_tr, answer_en, source_url, published_by,"
                    " published_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        fact_id,
                        version,
                        digest,
                        *(str(fact.get(k) or "") for k in VERSION_FIELDS),
                        by or str(fact.get("verified_by") or ""),
                        now(),
                    ],
                )
        latest = self.latest_fact_version(fact_id)
        assert latest is not None
        return latest

    def latest_fact_version(self, fact_id: str) -> Dict[str, Any] | None:
        """The newest recorded version of a fact's answer, or None."""
        rows = list(
            self.db.query(
                "select * from fact_versions where fact_id = ? order by version desc limit 1",
                [fact_id],
            )
        )
        return rows[0] if rows else None

    def fact_versions(self, fact_id: str) -> List[Dict[str, Any]]:
        """Every recorded version of a fact's answer, oldest first."""
        return list(
            self.db.query(
                "select * from fact_versions where fact_id = ? order by version", [fact_id]
            )
        )

    # -- who was told what -----------------------------------------------------------

    def record_fact_told(
        self, fact_id: str, channel: str, recipient: str, language: str | None
    ) -> int:
        """Records that the bot answered `recipient` with the fact as it is now; its version."""
        version = int(self.fact_version(fact_id)["version"])
        with self.db.conn:
            self.db.execute(
                "insert or ignore into fact_tellings"
                " (fact_id, version, channel, recipient, language, told_at)"
                " values (?, ?, ?, ?, ?, ?)",
                [fact_id, version, channel or "", recipient, language, now()],
            )
        return version

    def told_versions(self, fact_id: str) -> List[Dict[str, Any]]:
        """Everyone told a version of a fact: by the bot, or by a correction being sent.

        Rows of channel, recipient, language, version, at (when), newest last, and
        `wrote_at`: when the customer last wrote, as far as the row knows (the bot
        answers a message; a correction answers none: null).
        """
        return list(
            self.db.query(
                "select channel, recipient, language, version, told_at as at,"
                " told_at as wrote_at from fact_tellings where fact_id = ?"
                " union all"
                " select d.channel, d.recipient, d.language, c.fact_version as version,"
                " d.queued_at as at, null as wrote_at"
                " from deliveries d join campaigns c on c.id = d.campaign_id"
                " where c.kind = 'correction' and c.fact_id = ?"
                f" and d.status in ({', '.join('?' for _ in TOLD)})"
                " order by at",
                [fact_id, fact_id, *TOLD],
            )
        )

    def fact_delivery_recipients(self, fact_id: str) -> set:
        """(channel, recipient) pairs with a delivery of any version of a fact's answer."""
        return {
            (row[0], row[1])
            for row in self.db.execute(
                "select distinct d.channel, d.recipient from deliveries d"
                " join campaigns c on c.id = d.campaign_id"
                " where c.kind = 'correction' and c.fact_id = ?",
                [fact_id],
            ).fetchall()
        }

    def fact_askers(self, fact_id: str) -> List[Dict[str, Any]]:
        """Askers of the rumour groups a fact answers (sender_id, channel, language, asked_at)."""
        return list(
            self.db.query(
                "select a.rumour_id, a.sender_id, a.channel, a.language, a.asked_at, a.notified_at"
                " from rumour_askers a join rumours r on r.id = a.rumour_id"
                " where r.status = 'answered' and r.fact_id = ? order by a.asked_at",
                [fact_id],
            )
        )

    def incident_recipients(self, incident_id: int) -> List[Dict[str, Any]]:
        """Everyone who wrote about an incident's topic: sender_id, channel, language, at.

        From the message log (`message_log.incident_id`) and the conversations the
        incident's topic detection recorded (`incident_conversations`); one row per
        conversation, with its latest language.
        """
        rows = self.db.query(
            "select sender_id, channel, language, at from message_log where incident_id = ?"
            " union all"
            " select sender_id, channel, language, last_at as at from incident_conversations"
            " where incident_id = ? order by at",
            [incident_id, incident_id],
        )
        found: Dict[str, Dict[str, Any]] = {}
        for row in rows:
            known = found.setdefault(row["sender_id"], dict(row))
            known["channel"] = row["channel"] or known["channel"]
            known["language"] = row["language"] or known["language"]
            known["at"] = max(str(row["at"] or ""), str(known["at"] or ""))
        return list(found.values())

    def last_inbound_at(self, channel: str, recipient: str) -> str | None:
        """When a customer's newest message on a channel arrived (store clock, ISO), or None."""
        row = self.db.execute(
            "select max(received_at) from inbound_messages where channel = ? and sender = ?",
            [channel, recipient],
        ).fetchone()
        return row[0] if row and row[0] else None

    # -- campaigns -------------------------------------------------------------------

    def campaign_for(
        self,
        key: str,
        kind: str,
        created_by: str,
        *,
        fact_id: str | None = None,
        fact_version: int | None = None,
        incident_id: int | None = None,
        statement_id: int | None = None,
    ) -> Dict[str, Any]:
        """The campaign with `key`, created the first time it is asked for."""
        assert kind in ("correction", "statement")
        with self.db.conn:
            self.db.execute(
                "insert or ignore into campaigns (key, kind, fact_id, fact_version, incident_id,"
                " statement_id, created_by, created_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
                [key, kind, fact_id, fact_version, incident_id, statement_id, created_by, now()],
            )
        return next(iter(self.db.query("select * from campaigns where key = ?", [key])))

    def get_campaign(self, campaign_id: int) -> Dict[str, Any]:
        """One campaign with its progress (`counts`: status -> deliveries)."""
        rows = list(self.db.query("select * from campaigns where id = ?", [campaign_id]))
        if not rows:
            raise NotFound(f"no campaign with id {campaign_id}")
        return {**rows[0], "counts": self.campaign_counts(campaign_id)}

    def list_campaigns(
        self, incident_id: int | None = None, limit: int = 200
    ) -> List[Dict[str, Any]]:
        """Campaigns, newest first, each with `counts` (status -> deliveries) and `total`."""
        where, args = ("where incident_id = ?", [incident_id]) if incident_id else ("", [])
        campaigns = list(
            self.db.query(
                f"select * from campaigns {where} order by id desc limit ?", [*args, limit]
            )
        )
        counts: Dict[int, Dict[str, int]] = {}
        for row in self.db.query(
            "select campaign_id, status, count(*) as n from deliveries group by campaign_id, status"
        ):
            counts.setdefault(int(row["campaign_id"]), {})[row["status"]] = int(row["n"])
        for campaign in campaigns:
            campaign["counts"] = counts.get(int(campaign["id"]), {})
            campaign["total"] = sum(campaign["counts"].values())
        return campaigns

    def campaign_counts(self, campaign_id: int) -> Dict[str, int]:
        """Status -> number of deliveries of one campaign."""
        return {
            row["status"]: int(row["n"])
            for row in self.db.query(
                "select status, count(*) as n from deliveries where campaign_id = ?"
                " group by status",
                [campaign_id],
            )
        }

    # -- deliveries ------------------------------------------------------------------

    def campaign_recipients(self, campaign_id: int) -> set:
        """(channel, recipient) pairs that already have a delivery in a campaign."""
        return {
            (row[0], row[1])
            for row in self.db.execute(
                "select channel, recipient from deliveries where campaign_id = ?", [campaign_id]
            ).fetchall()
        }

    def add_delivery(
        self,
        campaign_id: int,
        channel: str,
        recipient: str,
        language: str | None,
        status: str,
        *,
        corrects_earlier: bool = False,
        messages: Sequence[Dict[str, Any]] = (),
        template: Dict[str, Any] | None = None,
        waiting: Sequence[Dict[str, Any]] = (),
        error: str | None = None,
    ) -> int | None:
        """Records one delivery and queues its outbox rows, in one transaction.

        `messages` go to the outbox now (status "queued"), proactive (no `answers`);
        with "waiting_window", `template` goes now and `waiting` (the full message)
        is kept for when the customer writes. Returns the delivery id, or None when
        the recipient already has one in this campaign (nothing is written).
        """
        assert status in DELIVERY_STATUSES
        stamp = now()
        with self.db.conn:
            cursor = self.db.execute(
                "insert or ignore into deliveries (campaign_id, channel, recipient, language,"
                " status, corrects_earlier, payload, queued_at, error, updated_at)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    campaign_id,
                    channel,
                    recipient,
                    language,
                    status,
                    int(corrects_earlier),
                    json.dumps(list(waiting), ensure_ascii=False) if waiting else None,
                    stamp,
                    error,
                    stamp,
                ],
            )
            if cursor.rowcount != 1:
                return None
            delivery_id = int(cursor.lastrowid)
            outbox_id = template_id = None
            for message in messages:
                outbox_id = self._outbox_row(channel, recipient, message, None, stamp)
            if template is not None:
                template_id = self._outbox_row(channel, recipient, template, None, stamp)
            self.db.execute(
                "update deliveries set outbox_id = ?, template_outbox_id = ? where id = ?",
                [outbox_id, template_id, delivery_id],
            )
        return delivery_id

    def _outbox_row(
        self,
        channel: str,
        recipient: str,
        message: Dict[str, Any],
        answers: str | None,
        stamp: str,
    ) -> int:
        """One pending outbox row, inside the caller's transaction (see ChannelStore)."""
        cursor = self.db.execute(
            "insert into outbox (channel, recipient, payload, status, attempts,"
            " next_attempt_at, answers, created_at) values (?, ?, ?, 'pending', 0, 0, ?, ?)",
            [channel, recipient, json.dumps(message, ensure_ascii=False), answers, stamp],
        )
        return int(cursor.lastrowid)

    def get_delivery(self, delivery_id: int) -> Dict[str, Any]:
        """One delivery by id."""
        rows = list(self.db.query("select * from deliveries where id = ?", [delivery_id]))
        if not rows:
            raise NotFound(f"no delivery with id {delivery_id}")
        return rows[0]

    def list_deliveries(
        self, campaign_id: int | None = None, status: str | None = None, limit: int = 1000
    ) -> List[Dict[str, Any]]:
        """Deliveries in the order they were queued, optionally of one campaign or status."""
        clauses, args = [], []
        if campaign_id is not None:
            clauses.append("campaign_id = ?")
            args.append(campaign_id)
        if status:
            clauses.append("status = ?")
            args.append(status)
        where = f"where {' and '.join(clauses)}" if clauses else ""
        return list(
            self.db.query(f"select * from deliveries {where} order by id limit ?", [*args, limit])
        )

    def waiting_deliveries(self, channel: str, recipient: str) -> List[Dict[str, Any]]:
        """A customer's deliveries waiting for WhatsApp's window, oldest first."""
        return list(
            self.db.query(
                "select * from deliveries where channel = ? and recipient = ?"
                " and status = 'waiting_window' order by id",
                [channel, recipient],
            )
        )

    def supersede_waiting(self, delivery_ids: Iterable[int], by_campaign: int) -> int:
        """Drops waiting deliveries a newer version replaces; returns how many."""
        changed = 0
        with self.db.conn:
            for delivery_id in delivery_ids:
                changed += self.db.execute(
                    "update deliveries set status = 'superseded', payload = null, error = ?,"
                    " updated_at = ? where id = ? and status = 'waiting_window'",
                    [f"replaced by campaign {by_campaign}", now(), delivery_id],
                ).rowcount
        return changed

    def release_waiting(self, channel: str, recipient: str, answers: str | None) -> List[int]:
        """Queues the full message of every delivery waiting for this customer's window.

        Called when the customer writes again (the window is open). Each delivery
        moves from `waiting_window` to `queued` and gets its outbox rows in one
        transaction, so two handlers of the same customer never both queue it.
        `answers` is the incoming message id they reply to. Returns the outbox ids.
        """
        queued: List[int] = []
        for row in self.waiting_deliveries(channel, recipient):
            stamp = now()
            if not self._still_current(int(row["campaign_id"])):
                with self.db.conn:
                    self.db.execute(
                        "update deliveries set status = 'superseded', payload = null,"
                        " error = 'no longer current (retired, changed or replaced)',"
                        " updated_at = ? where id = ? and status = 'waiting_window'",
                        [stamp, row["id"]],
                    )
                continue
            with self.db.conn:
                cursor = self.db.execute(
                    "update deliveries set status = 'queued', released_at = ?, updated_at = ?"
                    " where id = ? and status = 'waiting_window'",
                    [stamp, stamp, row["id"]],
                )
                if cursor.rowcount != 1:
                    continue
                outbox_id = None
                for message in json.loads(row["payload"] or "[]"):
                    outbox_id = self._outbox_row(channel, recipient, message, answers, stamp)
                    queued.append(outbox_id)
                self.db.execute(
                    "update deliveries set outbox_id = ?, payload = null where id = ?",
                    [outbox_id, row["id"]],
                )
                # A rumour asker now has the answer (what `notified_at` records).
                self.db.execute(
                    "update rumour_askers set notified_at = ? where sender_id = ?"
                    " and notified_at is null and rumour_id in (select r.id from rumours r"
                    " join campaigns c on c.fact_id = r.fact_id where c.id = ?)",
                    [stamp, recipient, row["campaign_id"]],
                )
        return queued

    def release_on_message(self, channel: str, recipient: str, answers: str | None) -> List[int]:
        """A customer wrote: their waiting deliveries are queued (opted out: marked so).

        Returns the outbox ids queued ([] when nothing waited).
        """
        if not self.waiting_deliveries(channel, recipient):
            return []
        if self.is_opted_out(channel, recipient):  # type: ignore[attr-defined]
            self.opt_out_waiting(channel, recipient)
            return []
        return self.release_waiting(channel, recipient, answers)

    def withdraw_fact_deliveries(self, fact_id: str, why: str) -> int:
        """Stops a fact's corrections not sent yet (it was retired): returns how many.

        Waiting ones and queued ones whose outbox rows are still pending (every
        piece: the rows written with the delivery) become `superseded`, with `why`.
        """
        stamp = now()
        withdrawn = 0
        with self.db.conn:
            rows = self.db.execute(
                "select d.id, d.status, d.channel, d.recipient, d.outbox_id,"
                " coalesce(d.released_at, d.queued_at) from deliveries d"
                " join campaigns c on c.id = d.campaign_id"
                " where c.kind = 'correction' and c.fact_id = ?"
                " and d.status in ('waiting_window', 'queued')",
                [fact_id],
            ).fetchall()
            for delivery_id, status, channel, recipient, outbox_id, written in rows:
                if status == "queued":
                    cancelled = self.db.execute(
                        "update outbox set status = 'failed', last_error = ?"
                        " where channel = ? and recipient = ? and status = 'pending'"
                        " and id <= ? and created_at = ?",
                        [f"withdrawn: {why}", channel, recipient, outbox_id or 0, written],
                    ).rowcount
                    if not cancelled:
                        continue  # on its way already
                withdrawn += self.db.execute(
                    "update deliveries set status = 'superseded', payload = null, error = ?,"
                    " updated_at = ? where id = ? and status = ?",
                    [f"withdrawn: {why}", stamp, delivery_id, status],
                ).rowcount
        return withdrawn

    def reopen_withdrawn(self, campaign_id: int) -> int:
        """Forgets a campaign's withdrawn deliveries (never sent), so that publishing the
        fact again sends them; returns how many."""
        with self.db.conn:
            return self.db.execute(
                "delete from deliveries where campaign_id = ? and status = 'superseded'"
                " and error like 'withdrawn:%'",
                [campaign_id],
            ).rowcount

    def _still_current(self, campaign_id: int) -> bool:
        """Whether a campaign's message may still go: the fact published at that version,
        or the statement still live."""
        campaign = self.db.execute(
            "select kind, fact_id, fact_version, statement_id from campaigns where id = ?",
            [campaign_id],
        ).fetchone()
        if campaign is None:
            return False
        kind, fact_id, version, statement_id = campaign
        if kind == "correction":
            row = self.db.execute(
                "select f.status, (select max(v.version) from fact_versions v"
                " where v.fact_id = f.id) from facts f where f.id = ?",
                [fact_id],
            ).fetchone()
            return bool(row) and row[0] == "published" and row[1] == version
        row = self.db.execute(
            "select status from incident_statements where id = ?", [statement_id]
        ).fetchone()
        return bool(row) and row[0] == "live"

    def opt_out_waiting(self, channel: str, recipient: str) -> int:
        """Marks a customer's waiting deliveries opted out (they asked for no more)."""
        with self.db.conn:
            return self.db.execute(
                "update deliveries set status = 'opted_out', payload = null, updated_at = ?"
                " where channel = ? and recipient = ? and status = 'waiting_window'",
                [now(), channel, recipient],
            ).rowcount

    def deliveries_shown(self, channel: str, recipient: str, up_to_id: int) -> int:
        """A web chat page shows the rows up to `up_to_id`: their deliveries are delivered."""
        stamp = now()
        with self.db.conn:
            return self.db.execute(
                "update deliveries set status = 'delivered', updated_at = ?,"
                " sent_at = coalesce(sent_at, ?), delivered_at = coalesce(delivered_at, ?)"
                " where channel = ? and recipient = ? and outbox_id <= ?"
                " and status in ('queued', 'sent')",
                [stamp, stamp, stamp, channel, recipient, up_to_id],
            ).rowcount

    def follow_outbox(self, outgoing_id: int) -> None:
        """Moves the deliveries of one outbox row along with it (sent, delivered, read, failed).

        A delivery never moves back (a late "sent" after "read"); failed and opted
        out are final. A failed template fails the delivery waiting behind it.
        """
        row = self.db.execute(
            "select status, delivery_status, last_error from outbox where id = ?", [outgoing_id]
        ).fetchone()
        if row is None:
            return
        status, report, error = row
        if status == "failed":
            new = "opted_out" if (error or "") == "opted out" else "failed"
        elif report in ("failed", "undelivered"):
            new, error = "failed", f"provider reported {report}"
        elif report in ("delivered", "read"):
            new = report
        elif status == "sent":
            new = "sent"
        else:
            return
        stamp = now()
        at_column = {"sent": "sent_at", "delivered": "delivered_at", "read": "read_at"}
        with self.db.conn:
            for delivery_id, current in self.db.execute(
                "select id, status from deliveries where outbox_id = ?", [outgoing_id]
            ).fetchall():
                if current not in _RANK or (new in _RANK and _RANK[new] <= _RANK[current]):
                    continue
                sets = ["status = ?", "updated_at = ?"]
                values: List[Any] = [new, stamp]
                if new in _RANK:
                    # delivered implies sent, read implies delivered: fill what was skipped
                    for step in ("sent", "delivered", "read")[: _RANK[new]]:
                        sets.append(f"{at_column[step]} = coalesce({at_column[step]}, ?)")
                        values.append(stamp)
                else:
                    sets.append("error = ?")
                    values.append((error or "")[:500])
                self.db.execute(
                    f"update deliveries set {', '.join(sets)} where id = ?", [*values, delivery_id]
                )
            if new in ("failed", "opted_out"):
                self.db.execute(
                    "update deliveries set status = ?, error = ?, payload = null, updated_at = ?"
                    " where template_outbox_id = ? and status = 'waiting_window'",
                    [new, f"template: {(error or '')[:480]}", stamp, outgoing_id],
                )
