"""Early warning: spikes per topic and intent, emerging topics, open rumours by growth.

Read from the message log (bot/message_log.py, one row per customer message,
times on crisisdesk's clock). `Detector.check(at)` does, at time `at`:

- **Spikes.** For each known topic (an active incident's name or a published
  fact's topic) and intent (complaint, rumour, question), the messages of the
  last window (`ALERT_WINDOW_MINUTES`, 15) against the usual count per window:
  the average over the baseline period before the window (`ALERT_BASELINE_HOURS`,
  24), at least `ALERT_BASELINE_FLOOR` (1), so one message on a quiet topic is not
  a spike. It alerts when count >= `ALERT_FACTOR` (3) x baseline and count >=
  `ALERT_MIN_COUNT` (10). While the alert is open its count is updated and no
  second one is raised for the same topic and intent; it closes when the count
  falls below half of what raising it took (the rate fell back), so a rate
  hovering at the edge does not raise an alert every check.
- **Emerging topics.** Messages on no known topic (no incident, no fact the
  matcher answers with; complaints, rumours, questions and messages the NLU
  could not place) whose sentence vectors are close (cosine with a group's
  centroid >= `ALERT_EMERGING_THRESHOLD`, 0.45, measured on tests/emerging_dev.yml
  by scripts/emerging_threshold.py) form a group; a group of
  `ALERT_EMERGING_MIN_COUNT` (10) within one window raises one "emerging" alert.
  Later messages close to it are counted in the same alert (once per cluster);
  it closes after a baseline period without any.

Each alert carries up to `EXAMPLES` scrubbed example messages (`bot.privacy.scrub`),
its count and baseline. `Notifier` sends each alert once to the staff Telegram
chat (bot/staff.py; `notified_at`), with a link to the desk's /alerts/ID.

`EarlyWarning` is the desk's background task (bot/desk/lifespan.py): it reads
the broker into the message log every `POLL_SECONDS`, runs the check as soon as
new messages were logged (so an alert follows a spike within seconds, on
crisisdesk's clock) and at least every `CHECK_SECONDS` otherwise (alerts close
when the rate falls), then sends what the staff chat has not had.

`rumour_ranking` orders open rumour groups by askers and growth for
`crisisdesk rumours list` and the desk's rumours page.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

from bot import clock as crisis_clock
from bot.config import settings as default_settings
from bot.privacy import scrub

logger = logging.getLogger(__name__)

SPIKE_INTENTS = ("complaint", "rumour", "question")
EMERGING_INTENTS = ("complaint", "rumour", "question", "out_of_scope", "nlu_fallback")
EXAMPLES = 3  # example messages an alert carries
EXAMPLE_CHARS = 200
POLL_SECONDS = 0.5  # between looks at the broker that found nothing
CHECK_SECONDS = 60.0  # a check at least this often, messages or not
NOTICE_LEASE = timedelta(minutes=10)  # a staff notice reserved by a process that died
RUMOUR_WINDOW = timedelta(hours=1)  # rumour groups' growth: new askers in this window
INTENT_NAMES = {
    "complaint": "complaints",
    "rumour": "rumours",
    "question": "questions",
    "out_of_scope": "messages the bot could not place",
    "nlu_fallback": "messages the bot could not place",
}


def iso(at: datetime) -> str:
    """An aware datetime as the store writes time stamps."""
    return at.astimezone(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Thresholds:
    """When a rate is a spike and when similar messages are an emerging topic."""

    window: timedelta = timedelta(minutes=15)
    baseline: timedelta = timedelta(hours=24)
    factor: float = 3.0
    min_count: int = 10
    floor: float = 1.0
    emerging_threshold: float = 0.45
    emerging_min_count: int = 10

    @classmethod
    def from_settings(cls, cfg: Any = None) -> Thresholds:
        cfg = cfg or default_settings()
        return cls(
            window=timedelta(minutes=cfg.alert_window_minutes),
            baseline=timedelta(hours=cfg.alert_baseline_hours),
            factor=cfg.alert_factor,
            min_count=cfg.alert_min_count,
            floor=cfg.alert_baseline_floor,
            emerging_threshold=cfg.alert_emerging_threshold,
            emerging_min_count=cfg.alert_emerging_min_count,
        )

    @property
    def window_minutes(self) -> int:
        return int(round(self.window.total_seconds() / 60))

    def usual(self, baseline_count: int) -> float:
        """The usual count per window from the count over the baseline period (floored)."""
        windows = self.baseline / self.window
        return max(self.floor, baseline_count / windows if windows else 0.0)

    def raise_level(self, usual: float) -> float:
        """The count in a window that raises an alert."""
        return max(self.factor * usual, float(self.min_count))

    def spiking(self, count: int, usual: float) -> bool:
        return count >= self.raise_level(usual)

    def fell_back(self, count: int, usual: float) -> bool:
        """Whether an open spike's rate fell back (below half of the raise level)."""
        return count < self.raise_level(usual) / 2


def example(message: Dict[str, Any]) -> Dict[str, Any]:
    """What an alert keeps of a message: scrubbed text, language, channel, time."""
    text = scrub(str(message.get("text") or ""))
    if len(text) > EXAMPLE_CHARS:
        text = text[: EXAMPLE_CHARS - 1] + "…"
    return {
        "text": text,
        "language": message.get("language"),
        "channel": message.get("channel"),
        "at": message.get("at"),
    }


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def cluster(vectors: np.ndarray, threshold: float) -> List[List[int]]:
    """Groups of rows (in order) whose cosine with their group's centroid is >= threshold.

    One pass, in the order given (the messages' order of arrival): each vector
    joins the group whose centroid (the normalised sum of its members) is closest,
    when that is close enough, else starts one.
    """
    sums: List[np.ndarray] = []
    groups: List[List[int]] = []
    for index, vector in enumerate(vectors):
        best, best_score = -1, threshold
        for number, total in enumerate(sums):
            score = float(_unit(total) @ vector)
            if score >= best_score:
                best, best_score = number, score
        if best < 0:
            sums.append(np.array(vector, dtype=np.float64))
            groups.append([index])
        else:
            sums[best] += vector
            groups[best].append(index)
    return groups


class Detector:
    """Raises, updates and closes alerts from the message log.

    Args:
        store: a `bot.store.Store` (a plain one: the check runs in one thread).
        thresholds: default from the settings.
    """

    def __init__(self, store: Any, thresholds: Thresholds | None = None) -> None:
        self.store = store
        self.thresholds = thresholds or Thresholds.from_settings()

    def check(self, at: datetime | None = None) -> List[Dict[str, Any]]:
        """Brings the alerts up to date at `at` (default: now); returns the alerts raised."""
        at = at or crisis_clock.now()
        return self.spikes(at) + self.emerging(at)

    # -- spikes --------------------------------------------------------------------------

    def spikes(self, at: datetime) -> List[Dict[str, Any]]:
        t = self.thresholds
        until = iso(at + timedelta(seconds=1))
        start = iso(at - t.window)
        recent = self.store.topic_counts(start, until, SPIKE_INTENTS)
        before = self.store.topic_counts(iso(at - t.window - t.baseline), start, SPIKE_INTENTS)
        open_ = {(a["topic"], a["intent"]): a for a in self.store.open_alerts("spike")}
        raised = []
        for (topic, intent), count in sorted(recent.items()):
            usual = t.usual(before.get((topic, intent), 0))
            alert = open_.get((topic, intent))
            if alert is None and not t.spiking(count, usual):
                continue
            messages = self.store.topic_messages(topic, intent, start, until, EXAMPLES)
            examples = [example(m) for m in messages]
            if alert is not None:
                self.store.update_alert(alert["id"], count, examples, at=iso(at))
                continue
            incident = next((m["incident_id"] for m in messages if m["incident_id"]), None)
            alert_id = self.store.raise_alert(
                "spike",
                topic,
                intent,
                window_minutes=t.window_minutes,
                count=count,
                baseline=round(usual, 2),
                examples=examples,
                incident_id=incident,
                at=iso(at),
            )
            if alert_id is not None:
                logger.info("alert %s: spike of %s on %r (%s)", alert_id, intent, topic, count)
                raised.append(self.store.get_alert(alert_id))
        for (topic, intent), alert in open_.items():
            count = recent.get((topic, intent), 0)
            usual = t.usual(before.get((topic, intent), 0))
            if t.fell_back(count, usual) and self.store.close_alert(alert["id"], iso(at)):
                self.store.update_alert(alert["id"], count, at=iso(at))
                logger.info("alert %s: %s on %r fell back to %s", alert["id"], intent, topic, count)
        return raised

    # -- emerging topics -----------------------------------------------------------------

    def emerging(self, at: datetime) -> List[Dict[str, Any]]:
        t = self.thresholds
        until = iso(at + timedelta(seconds=1))
        start = iso(at - t.window)
        open_ = self.store.open_alerts("emerging")
        for alert in open_:
            if alert["updated_at"] < iso(at - t.baseline) and self.store.close_alert(
                alert["id"], iso(at)
            ):
                logger.info("alert %s: the emerging topic went quiet", alert["id"])
        open_ = [a for a in open_ if a["updated_at"] >= iso(at - t.baseline)]
        messages = self.store.unplaced_messages(start, until, EMERGING_INTENTS)
        if not messages:
            return []
        vectors = np.stack([np.frombuffer(m["vector"], dtype=np.float32) for m in messages])
        centroids = [
            np.frombuffer(a["vector"], dtype=np.float32) for a in open_ if a["vector"] is not None
        ]
        known = [a for a in open_ if a["vector"] is not None]
        joined: Dict[int, List[int]] = {}
        rest: List[int] = []
        for index, vector in enumerate(vectors):
            scores = [float(c @ vector) for c in centroids]
            best = int(np.argmax(scores)) if scores else -1
            if best >= 0 and scores[best] >= t.emerging_threshold:
                joined.setdefault(known[best]["id"], []).append(index)
            else:
                rest.append(index)
        for alert_id, indexes in joined.items():
            self.store.place_messages([messages[i]["id"] for i in indexes], alert_id)
            latest = self.store.alert_messages(alert_id, EXAMPLES)
            self.store.update_alert(
                alert_id,
                self.store.alert_message_count(alert_id),
                [example(m) for m in latest],
                at=iso(at),
            )
        raised = []
        for group in cluster(vectors[rest], t.emerging_threshold) if rest else []:
            if len(group) < t.emerging_min_count:
                continue
            members = [messages[rest[i]] for i in group]
            centroid = _unit(vectors[[rest[i] for i in group]].sum(axis=0)).astype(np.float32)
            intent = Counter(m["intent"] for m in members).most_common(1)[0][0]
            newest = sorted(members, key=lambda m: (m["at"], m["id"]), reverse=True)
            alert_id = self.store.raise_alert(
                "emerging",
                "",
                intent or "",
                window_minutes=t.window_minutes,
                count=len(members),
                baseline=0.0,
                examples=[example(m) for m in newest[:EXAMPLES]],
                vector=centroid.tobytes(),
                at=iso(at),
            )
            if alert_id is None:
                continue
            self.store.place_messages([m["id"] for m in members], alert_id)
            logger.info("alert %s: emerging topic of %s messages", alert_id, len(members))
            raised.append(self.store.get_alert(alert_id))
        return raised


# -- the staff chat ----------------------------------------------------------------------


def alert_title(alert: Dict[str, Any]) -> str:
    """One line saying what an alert is about."""
    what = INTENT_NAMES.get(alert.get("intent") or "", alert.get("intent") or "messages")
    if alert["kind"] == "spike":
        return f"Spike: {what} about {alert['topic']}"
    return f"Emerging topic: {alert['count']} similar {what} on no known topic"


def staff_text(alert: Dict[str, Any], desk_url: str) -> str:
    """The staff chat's message for one alert (examples scrubbed when they were stored)."""
    lines = [alert_title(alert)]
    if alert["kind"] == "spike":
        lines.append(
            f"{alert['count']} in the last {alert['window_minutes']} min"
            f" (usually {alert['baseline']:g} per {alert['window_minutes']} min)"
        )
    else:
        lines.append(f"{alert['count']} messages within {alert['window_minutes']} min")
    examples = alert.get("examples") or []
    if examples:
        lines.append("Examples:")
        lines.extend(f"- {e['text']}" for e in examples)
    lines.append(f"Open: {desk_url.rstrip('/')}/alerts/{alert['id']}")
    return "\n".join(lines)


class Notifier:
    """Sends every alert the staff chat has not had, once (reserved before sending).

    Args:
        store: an `AsyncStore`.
        chat: a `bot.staff.StaffChat` (None: nothing is sent).
        desk_url: the desk's public address, for the links.
    """

    def __init__(self, store: Any, chat: Any, desk_url: str) -> None:
        self.store = store
        self.chat = chat
        self.desk_url = desk_url

    async def notify(self, at: datetime | None = None) -> int:
        """Sends what is due; returns how many alerts were sent (or refused for good)."""
        if self.chat is None:
            return 0
        stale = iso((at or crisis_clock.now()) - NOTICE_LEASE)
        done = 0
        for alert in await self.store.alerts_to_notify(stale):
            if not await self.store.claim_alert_notice(alert["id"], stale):
                continue
            status, detail = await self.chat.post(staff_text(alert, self.desk_url))
            await self.store.finish_alert_notice(alert["id"], status, detail)
            if status == "retry":
                break  # the chat is not reachable: the next round tries again
            done += 1
        return done


# -- the desk's background task ----------------------------------------------------------


class EarlyWarning:
    """Reads the broker into the message log, checks, notifies; one per desk process.

    Args:
        store_path: the operational store's file (the reader opens its own connection).
        broker_db: Rasa's SQL event broker file (None: only the timed checks run).
        notifier: a `Notifier` (sends to the staff chat), or None.
        clock: now, as an aware datetime (the desk's clock).
        thresholds: default from the settings.
    """

    def __init__(
        self,
        store_path: Path,
        broker_db: Path | None,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] = crisis_clock.now,
        thresholds: Thresholds | None = None,
        poll_seconds: float = POLL_SECONDS,
        check_seconds: float = CHECK_SECONDS,
        topics: Any = None,
    ) -> None:
        self.store_path = Path(store_path)
        self.broker_db = broker_db
        self.notifier = notifier
        self.clock = clock
        self.thresholds = thresholds
        self.poll_seconds = poll_seconds
        self.check_seconds = check_seconds
        self.topics = topics
        self.task: asyncio.Task[None] | None = None
        self.rounds = 0
        self.raised = 0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="crisisdesk-alerts")
        self._store: Any = None
        self._log: Any = None
        self._detector: Detector | None = None

    def _open(self) -> None:
        from bot.message_log import MessageLog
        from bot.store import Store

        self._store = Store.open(self.store_path, migrate=False)
        self._log = MessageLog(self._store, self.broker_db, self.topics)
        self._detector = Detector(self._store, self.thresholds)

    def _round(self, check: bool, batches: int | None = 1) -> Tuple[int, int, bool]:
        """Reads (a batch) and, on news or `check`, checks; (logged, raised, more to read)."""
        if self._store is None:
            self._open()
        assert self._log is not None and self._detector is not None
        logged = self._log.read(batches=batches)
        raised = self._detector.check(self.clock()) if logged or check else []
        return logged, len(raised), self._log.pending

    async def run_once(self) -> Tuple[int, int]:
        """One round now: read the broker, check, notify; (messages logged, alerts raised).

        For simulations and tests that want the alerts at a moment they choose
        (the background task does the same every `poll_seconds`).
        """
        loop = asyncio.get_running_loop()
        logged, raised, _ = await loop.run_in_executor(self._pool, self._round, True, None)
        self.raised += raised
        if self.notifier is not None:
            await self.notifier.notify(self.clock())
        return logged, raised

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
        if self._store is not None:
            self._store.close()
        self._store = self._log = self._detector = None

    def start(self) -> None:
        """Runs in the running event loop until `stop` (idempotent)."""
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(
                self._run(), name="crisisdesk-early-warning"
            )

    async def stop(self) -> None:
        """Stops the task, closes its connections and the staff chat's sender."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        await asyncio.get_running_loop().run_in_executor(self._pool, self._close)
        self._pool.shutdown(wait=False)
        if self.notifier is not None and self.notifier.chat is not None:
            await self.notifier.chat.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_check = -self.check_seconds
        while True:
            try:
                due = loop.time() - last_check >= self.check_seconds
                logged, raised, more = await loop.run_in_executor(self._pool, self._round, due)
                if logged or due:
                    last_check = loop.time()
                self.raised += raised
                if self.notifier is not None:
                    await self.notifier.notify(self.clock())
                self.rounds += 1
            except asyncio.CancelledError:
                raise
            except Exception:  # the database busy, the broker unreadable: next round
                logger.exception("early warning: a round failed")
                more = False
            if not more:
                await asyncio.sleep(self.poll_seconds)


# -- open rumour groups by askers and growth ---------------------------------------------


def rumour_ranking(
    store: Any,
    at: datetime | None = None,
    window: timedelta | None = None,
    status: str | None = "open",
) -> List[Dict[str, Any]]:
    """Rumour groups with `recent` (askers in the last window, an hour) and `growth`, ranked.

    `growth` compares the last window with the rate before it: the askers who
    first asked in the last window divided by the average askers per window
    between the group's first ask and the window, at least 1 (a new group's
    growth is its recent askers). The rank is askers + recent x growth: a large
    group stays near the top, a small one climbs while it grows fast.
    """
    at = at or crisis_clock.now()
    window = window or RUMOUR_WINDOW
    since = iso(at - window)
    recent = store.rumour_growth(since)
    ranked = []
    for group in store.rumour_groups(status):
        new = recent.get(group["id"], 0)
        earlier = max(0, group["askers"] - new)
        try:
            first = datetime.fromisoformat(group.get("first_seen") or since)
            first = first if first.tzinfo else first.replace(tzinfo=timezone.utc)
            span = at - first - window
        except ValueError:
            span = timedelta(0)
        rate_before = earlier / max(1.0, span / window)
        growth = new / max(rate_before, 1.0)
        ranked.append(
            {
                **group,
                "recent": new,
                "earlier": earlier,
                "growth": round(growth, 2),
                "rank": round(group["askers"] + new * growth, 2),
            }
        )
    ranked.sort(key=lambda g: (-g["rank"], -g["askers"], g["id"]))
    return ranked


# -- the command line ----------------------------------------------------------------------


def alerts_list(args: argparse.Namespace) -> int:
    """Prints alerts, newest first."""
    import json

    from bot.cli import _store, _table

    store = _store(args)
    rows = store.list_alerts(args.status)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    shown = [
        {
            **row,
            "about": alert_title(row),
            "acknowledged": row["acknowledged_by"] or "",
            "closed": row["closed_at"] or "",
            "example": (row["examples"] or [{}])[0].get("text", ""),
        }
        for row in rows
    ]
    columns = ["id", "kind", "about", "count", "baseline", "raised_at", "closed"]
    _table(shown, columns + ["acknowledged", "example"])
    return 0


def alerts_ack(args: argparse.Namespace) -> int:
    """Acknowledges an alert."""
    from bot.cli import _store

    store = _store(args)
    if store.acknowledge_alert(args.id, args.by):
        print(f"alert {args.id} acknowledged by {args.by}")
        return 0
    alert = store.get_alert(args.id)
    print(f"alert {args.id} was already acknowledged by {alert['acknowledged_by']}")
    return 0


def add_commands(groups: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """`crisisdesk alerts list|ack` (called by bot/cli.py's parser)."""
    alerts = groups.add_parser(
        "alerts",
        help="early-warning alerts (spikes, emerging topics)",
        description="Early-warning alerts: spikes per topic and intent, emerging topics.",
    )
    sub = alerts.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = command(sub, "list", alerts_list, "list alerts, newest first")
    p.add_argument(
        "--status",
        choices=["open", "unacknowledged", "all"],
        default="all",
        help="open: not fallen back yet; unacknowledged: nobody has acknowledged it",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command(sub, "ack", alerts_ack, "acknowledge an alert (it leaves the desk's count)")
    p.add_argument("id", type=int)
    p.add_argument("--by", default="cli", help="who acknowledged it")


__all__: Sequence[str] = [
    "Detector",
    "EarlyWarning",
    "Notifier",
    "Thresholds",
    "add_commands",
    "cluster",
    "rumour_ranking",
    "staff_text",
]
