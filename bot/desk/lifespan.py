"""The desk's background work, started with the app and stopped cleanly on shutdown.

Starlette's lifespan (`create_app(...)` passes `lifespan`): on startup the
waiting-customers sweep (bot/waiting.py) starts when it has something to do, and
the loop that appends the events Rasa's tracker is owed (agents' replies sent
while Rasa was down, bot/desk/history.py) always; on shutdown every task the desk
started is stopped and awaited, and their HTTP clients closed:

- the sweep (`app.state.waiting`);
- the tracker-append retry loop (`app.state.tracker_appends`);
- retention (`app.state.retention`, bot/privacy_ops.py: old message texts
  blanked every hour, unless CRISISDESK_RETENTION_DAYS is 0);
- the desk's outbox for WhatsApp and Telegram (`app.state.outbox`, started on
  the first agent reply) and its senders' HTTP sessions;
- early warning (`app.state.early_warning`, bot/alerts.py): the message log
  read from Rasa's event broker, spike and emerging-topic checks, alerts to the
  staff chat; on the broker of a preset `app.state.live`, else endpoints.yml's;
- the live event feed's reader task (`app.state.live`, started by the first
  queue or conversation stream);
- the web chat hub's delivery tasks (`app.state.webchat.hub`).

So uvicorn's Ctrl-C (and a test's `with TestClient(app)`) ends without pending
tasks or "unclosed session" warnings.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, AsyncIterator, Dict

from bot.desk.history import tracker_appender
from bot.staff import staff_recipient, staff_sender
from bot.waiting import StaffedHours, WaitingSweep

logger = logging.getLogger(__name__)


def desk_url(cfg: Any) -> str:
    """Where people reach the desk: PUBLIC_BASE_URL, else this machine's DESK_PORT."""
    return cfg.public_base_url or f"http://localhost:{cfg.desk_port}"


async def deliver(app: Any, channel: str, recipient: str, message: Dict[str, Any]) -> int | None:
    """Writes a proactive message to the channel's outbox; None when it has no sender here."""
    if channel == "webchat":
        from bot.desk.chat import enqueue_for_visitor

        return await enqueue_for_visitor(app, recipient, message)
    from bot.desk.conversations import desk_outbox

    outbox = desk_outbox(app)
    if channel not in outbox.senders:
        return None
    return await outbox.enqueue(channel, recipient, message, None)


def waiting_sweep(app: Any) -> WaitingSweep | None:
    """The app's sweep (made once), or None when there is nothing for it to do.

    Raises:
        ValueError: DESK_STAFFED_HOURS or DESK_TIMEZONE is not understood.
    """
    found = getattr(app.state, "waiting", None)
    if found is not None:
        return found
    cfg = app.state.settings
    try:
        hours = StaffedHours.parse(cfg.desk_staffed_hours, cfg.desk_timezone)
    except ValueError as problem:
        raise ValueError(f"DESK_STAFFED_HOURS / DESK_TIMEZONE: {problem}") from None
    if cfg.staff_telegram_chat_id and not cfg.telegram_bot_token:
        logger.warning(
            "STAFF_TELEGRAM_CHAT_ID is set but TELEGRAM_BOT_TOKEN is not: no announcements"
        )
    staff = staff_sender(cfg)
    if hours.always and cfg.desk_reminder_minutes <= 0 and staff is None:
        return None

    async def send(channel: str, recipient: str, message: Dict[str, Any]) -> int | None:
        return await deliver(app, channel, recipient, message)

    sweep = WaitingSweep(
        app.state.store,
        send,
        hours,
        cfg.desk_reminder_minutes,
        staff=staff,
        staff_recipient=staff_recipient(cfg) if staff else "",
        desk_url=desk_url(cfg),
        clock=app.state.clock,
    )
    app.state.waiting = sweep
    return sweep


def retention(app: Any) -> Any:
    """The app's retention task (bot/privacy_ops.py, made once), or None when it is off."""
    if not hasattr(app.state, "retention"):
        from bot.privacy_ops import rasa_databases, retention_task

        cfg = app.state.settings
        tracker, broker = getattr(app.state, "rasa_databases", None) or rasa_databases()
        app.state.retention = retention_task(
            cfg.db_path, cfg.retention_days, tracker, broker, now=app.state.clock
        )
    return app.state.retention


def early_warning(app: Any) -> Any:
    """The app's early-warning task (bot/alerts.py), made once.

    It reads the broker a preset live feed reads (tests/system.py points it at
    the test's Rasa), else the SQL event broker of endpoints.yml.
    """
    found = getattr(app.state, "early_warning", None)
    if found is None:
        from bot.alerts import EarlyWarning, Notifier, Thresholds
        from bot.desk.live import broker_db_from_endpoints
        from bot.staff import staff_chat

        cfg = app.state.settings
        live = getattr(app.state, "live", None)
        broker = live.broker_db if live is not None else broker_db_from_endpoints()
        found = EarlyWarning(
            app.state.store.path,
            broker,
            Notifier(app.state.store, staff_chat(cfg), desk_url(cfg)),
            clock=app.state.clock,
            thresholds=Thresholds.from_settings(cfg),
        )
        app.state.early_warning = found
    return found


async def stop_background(app: Any) -> None:
    """Stops and awaits every background task the desk started; closes their clients."""
    state = app.state
    sweep = getattr(state, "waiting", None)
    if sweep is not None:
        await sweep.stop()
    appender = getattr(state, "tracker_appends", None)
    if appender is not None:
        await appender.stop()
    task = getattr(state, "retention", None)
    if task is not None:
        await task.stop()
    warning = getattr(state, "early_warning", None)
    if warning is not None:
        await warning.stop()
        state.early_warning = None
    outbox = getattr(state, "outbox", None)
    if outbox is not None:
        await outbox.stop()
        for sender in outbox.senders.values():
            close = getattr(sender, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
    live = getattr(state, "live", None)
    if live is not None:
        await live.stop()
        state.live = None
    webchat = getattr(state, "webchat", None)
    if webchat is not None:
        await webchat.hub.stop()


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Starts the sweep and the tracker retry loop; stops everything the desk started."""
    sweep = waiting_sweep(app)
    if sweep is not None:
        sweep.start()
    tracker_appender(app).start()
    task = retention(app)
    if task is not None:
        task.start()
    early_warning(app).start()
    try:
        yield
    finally:
        await stop_background(app)
