"""Waiting customers are not forgotten: updates while nobody claims, and the staff chat.

One `WaitingSweep.sweep(now)` looks at the waiting handoffs and, once per handoff
each (reserved in the store's `handoff_notices` before anything is sent; a
reservation whose process died is taken over after `NOTICE_LEASE`):

- outside the staffed hours (`DESK_STAFFED_HOURS` in `DESK_TIMEZONE`), tells the
  customer when the team is back (`utter_handoff_after_hours`, "{opens}");
- after `DESK_REMINDER_MINUTES` of staffed time without a claim, tells them they
  are not forgotten (`utter_handoff_reminder`);
- announces a new high-priority handoff to the staff Telegram chat
  (`STAFF_TELEGRAM_CHAT_ID`, through bot/staff.py): reason, language, channel,
  the masked customer id, the customer's last words masked, and the desk link.

Customer texts are domain responses in the handoff's language, written to the
outbox of the conversation's channel by the `deliver` callable the desk gives
(REST conversations cannot be written to: the notice is recorded as skipped).
The desk runs the sweep as a background task (`start`/`stop`, see
bot/desk/lifespan.py); tests call `sweep(now)` with the time they want.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any, Awaitable, Callable, Dict, List, Tuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import clock as crisis_clock
from bot.channels.common import DomainResponses
from bot.language import LANGUAGE_NAMES
from bot.privacy import mask, mask_text, scrub
from bot.staff import post
from bot.store.cases import HANDOFF_KINDS, handoff_kind, last_customer_words

logger = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = {
    "tr": ("Pazartesi", "Salı", "Çarşamba", "Perşembe", "Cuma", "Cumartesi", "Pazar"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
# Seconds between two sweeps of the desk's background task.
SWEEP_SECONDS = 15.0
# A notice reserved longer ago than this, and never recorded as ended, belongs to a
# process that died in between: the next sweep sends it (a rare repeat, never silence).
NOTICE_LEASE = timedelta(minutes=10)
# Characters of the customer's last message in a staff announcement.
STAFF_QUOTE_CHARS = 200

_SEGMENT = re.compile(
    r"^(?P<days>[a-z]{3}(?:\s*-\s*[a-z]{3})?(?:\s*,\s*[a-z]{3}(?:\s*-\s*[a-z]{3})?)*)\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$"
)

Deliver = Callable[[str, str, Dict[str, Any]], Awaitable[int | None]]


def _minutes(text: str, allow_24: bool) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    value = hours * 60 + minutes
    if minutes > 59 or value > (1440 if allow_24 else 1439):
        raise ValueError(f"not a time of day: {text}")
    return value


def _days(text: str) -> List[int]:
    found: List[int] = []
    for part in text.split(","):
        first, _, last = (piece.strip() for piece in part.partition("-"))
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"days are Mon, Tue, Wed, Thu, Fri, Sat, Sun (got {part.strip()!r})")
        start, end = DAYS.index(first), DAYS.index(last or first)
        span = (end - start) % 7
        found.extend((start + step) % 7 for step in range(span + 1))
    return found


@dataclass(frozen=True)
class StaffedHours:
    """When people answer: (weekday, start minute, end minute) periods in one time zone.

    No periods means staffed around the clock.
    """

    periods: Tuple[Tuple[int, int, int], ...]
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, zone: str = "Europe/Istanbul") -> StaffedHours:
        """Reads "Mon-Fri 09:00-18:00; Sat 10:00-14:00" (empty: always staffed).

        A period that ends before it starts ("Fri 22:00-06:00") runs past midnight.

        Raises:
            ValueError: the text or the time zone is not understood.
        """
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone: {zone!r} (e.g. Europe/Istanbul)") from None
        periods: List[Tuple[int, int, int]] = []
        for segment in (s.strip().lower() for s in (spec or "").split(";")):
            if not segment:
                continue
            found = _SEGMENT.match(segment)
            if found is None:
                raise ValueError(f"staffed hours look like 'Mon-Fri 09:00-18:00' (got {segment!r})")
            start = _minutes(found["start"], allow_24=False)
            end = _minutes(found["end"], allow_24=True)
            for day in _days(found["days"]):
                if end > start:
                    periods.append((day, start, end))
                else:  # past midnight: two periods
                    periods.append((day, start, 1440))
                    if end:
                        periods.append(((day + 1) % 7, 0, end))
        return cls(tuple(sorted(set(periods))), tz)

    @property
    def always(self) -> bool:
        """Whether someone is on duty at every hour."""
        return not self.periods

    def _local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone)

    def _period_at(self, local: datetime) -> Tuple[int, int, int] | None:
        minute = local.hour * 60 + local.minute
        for period in self.periods:
            if period[0] == local.weekday() and period[1] <= minute < period[2]:
                return period
        return None

    def is_staffed(self, at: datetime) -> bool:
        """Whether `at` is within the staffed hours."""
        return self.always or self._period_at(self._local(at)) is not None

    def shift_start(self, at: datetime) -> datetime | None:
        """When the staffed stretch that `at` is in began (None: always staffed or off duty)."""
        if self.always:
            return None
        local = self._local(at)
        period = self._period_at(local)
        if period is None:
            return None
        start = datetime.combine(local.date(), time(), self.zone) + timedelta(minutes=period[1])
        for _ in range(7):  # a period that starts at midnight may continue the day before
            if period[1] != 0:
                break
            before = start - timedelta(minutes=1)
            period = self._period_at(before)
            if period is None:
                break
            start = datetime.combine(before.date(), time(), self.zone) + timedelta(
                minutes=period[1]
            )
        return start.astimezone(timezone.utc)

    def next_opening(self, at: datetime) -> datetime | None:
        """The next time a staffed period starts after `at` (None: always staffed)."""
        if self.always:
            return None
        local = self._local(at)
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            for weekday, start, _end in self.periods:
                if weekday != day.weekday():
                    continue
                opening = datetime.combine(day, time(), self.zone) + timedelta(minutes=start)
                if opening > local and self._period_at(opening - timedelta(minutes=1)) is None:
                    return opening.astimezone(timezone.utc)
        return None

    def describe(self, at: datetime, language: str | None) -> str:
        """A time for a customer: "Pazartesi 09:00 (Europe/Istanbul)"."""
        local = self._local(at)
        if language in DAY_NAMES:
            day = DAY_NAMES[language][local.weekday()]
        else:
            day = f"{DAY_NAMES['tr'][local.weekday()]}/{DAY_NAMES['en'][local.weekday()]}"
        return f"{day} {local:%H:%M} ({self.zone.key})"


def parse_time(text: str | None) -> datetime | None:
    """A store time stamp as an aware UTC datetime."""
    if not text:
        return None
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def iso(at: datetime) -> str:
    """An aware datetime as the store writes time stamps."""
    return at.astimezone(timezone.utc).isoformat(timespec="seconds")


def staff_text(handoff: Dict[str, Any], desk_url: str) -> str:
    """The staff chat's announcement of one handoff; customer words masked."""
    kind = handoff.get("kind") or handoff_kind(handoff.get("reason") or "")
    last = last_customer_words(handoff.get("last_messages") or [])
    lines = [
        f"New high-priority handoff #{handoff['id']}: {HANDOFF_KINDS.get(kind, kind)}",
        f"Reason: {mask_text(scrub(handoff.get('reason') or ''))}",
        f"Language: {LANGUAGE_NAMES.get(handoff.get('language') or '', 'unknown')}",
        f"Channel: {handoff.get('channel') or '?'}",
        f"Customer: {mask(handoff.get('sender_id'))}",
    ]
    if handoff.get("ticket_number"):
        lines.append(f"Ticket: {handoff['ticket_number']}")
    if last:
        quote = mask_text(scrub(str(last)))
        if len(quote) > STAFF_QUOTE_CHARS:
            quote = quote[: STAFF_QUOTE_CHARS - 1] + "…"
        lines.append(f"Last message: {quote}")
    lines.append(f"Open: {desk_url.rstrip('/')}/conversations/{handoff['id']}")
    return "\n".join(lines)


class WaitingSweep:
    """Sends each waiting handoff's updates and staff announcement once.

    Args:
        store: an `AsyncStore`.
        deliver: writes a customer message to its channel's outbox:
            `await deliver(channel, recipient, {"text": ...})` -> outbox id, or None
            when the channel cannot write to this customer.
        hours: the staffed hours.
        reminder_minutes: staffed minutes without a claim before the reminder (0: off).
        staff: an outbox-style sender for the staff chat (`send(recipient, message)`),
            with `staff_recipient` ("telegram:<chat id>"); None: no announcements.
        desk_url: the desk's public address (links in announcements).
        clock: now, as an aware datetime (the background task's time).
    """

    def __init__(
        self,
        store: Any,
        deliver: Deliver,
        hours: StaffedHours,
        reminder_minutes: float,
        *,
        staff: Any = None,
        staff_recipient: str = "",
        desk_url: str = "",
        responses: DomainResponses | None = None,
        clock: Callable[[], datetime] = crisis_clock.now,
        interval: float = SWEEP_SECONDS,
    ) -> None:
        self.store = store
        self.deliver = deliver
        self.hours = hours
        self.reminder = timedelta(minutes=reminder_minutes) if reminder_minutes > 0 else None
        self.staff = staff
        self.staff_recipient = staff_recipient
        self.desk_url = desk_url
        self.responses = responses or DomainResponses()
        self.clock = clock
        self.interval = interval
        self.task: asyncio.Task[None] | None = None
        self.rounds = 0

    # -- one sweep ---------------------------------------------------------------------

    async def sweep(self, now: datetime) -> Dict[str, int]:
        """Does what is due at `now`; returns how many of each notice were handled."""
        done = {"after_hours": 0, "reminder": 0, "staff_alert": 0}
        stale = iso(now - NOTICE_LEASE)
        if self.staff is not None:
            for handoff in await self.store.handoffs_without_notice(
                "staff_alert", priority="high", stale_before=stale
            ):
                done["staff_alert"] += await self._announce(handoff, stale)
        if not self.hours.is_staffed(now):
            opens = self.hours.next_opening(now)
            for handoff in await self.store.handoffs_without_notice(
                "after_hours", created_before=iso(now), stale_before=stale
            ):
                assert opens is not None
                when = self.hours.describe(opens, handoff.get("language"))
                done["after_hours"] += await self._tell(
                    handoff, "after_hours", "utter_handoff_after_hours", stale, opens=when
                )
        elif self.reminder is not None:
            shift = self.hours.shift_start(now)
            for handoff in await self.store.handoffs_without_notice(
                "reminder", created_before=iso(now - self.reminder), stale_before=stale
            ):
                created = parse_time(handoff["created_at"]) or now
                waited_from = max(created, shift) if shift else created
                if now - waited_from >= self.reminder:
                    done["reminder"] += await self._tell(
                        handoff, "reminder", "utter_handoff_reminder", stale
                    )
        self.rounds += 1
        return done

    async def _tell(
        self, handoff: Dict[str, Any], kind: str, response: str, stale: str, **values: str
    ) -> int:
        """One customer update, reserved first; 1 when it was queued or skipped."""
        if not await self.store.claim_handoff_notice(handoff["id"], kind, stale):
            return 0
        text = self.responses.render(response, handoff.get("language"))["text"].format(**values)
        channel, recipient = handoff.get("channel") or "", handoff["sender_id"]
        try:
            outbox_id = await self.deliver(channel, recipient, {"text": text})
        except Exception as problem:  # the store or a channel failed: try next round
            logger.warning("waiting: %s for %s not queued: %s", kind, mask(recipient), problem)
            await self.store.release_handoff_notice(handoff["id"], kind)
            return 0
        if outbox_id is None:
            await self.store.finish_handoff_notice(
                handoff["id"], kind, "skipped", detail=f"no proactive messages on {channel}"
            )
        else:
            await self.store.finish_handoff_notice(
                handoff["id"], kind, "queued", outbox_id=outbox_id
            )
        logger.info("waiting: %s for handoff %s (%s)", kind, handoff["id"], mask(recipient))
        return 1

    async def _announce(self, handoff: Dict[str, Any], stale: str) -> int:
        """The staff chat's announcement of one handoff; 1 when sent (or refused for good)."""
        if not await self.store.claim_handoff_notice(handoff["id"], "staff_alert", stale):
            return 0
        text = staff_text(handoff, self.desk_url)
        status, detail = await post(self.staff, self.staff_recipient, text)
        if status == "retry":
            await self.store.release_handoff_notice(handoff["id"], "staff_alert")
            return 0
        if status == "failed":
            logger.error("staff chat refused the announcement of %s", handoff["id"])
        await self.store.finish_handoff_notice(handoff["id"], "staff_alert", status, detail=detail)
        return 1

    # -- the background task -----------------------------------------------------------

    def start(self) -> None:
        """Sweeps every `interval` seconds in the running event loop (idempotent)."""
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(
                self._run(), name="crisisdesk-waiting-sweep"
            )

    async def stop(self) -> None:
        """Stops the background task (a sweep cut off here is redone by the next start)."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        close = getattr(self.staff, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep(self.clock())
            except asyncio.CancelledError:
                raise
            except Exception:  # e.g. the database is locked: the next round tries again
                logger.exception("waiting: sweep failed")
