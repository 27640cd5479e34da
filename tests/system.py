"""The whole system without a browser: Rasa, actions, fake Twilio and the desk.

`running_system` starts a real Rasa server and action server (tests/servers.py)
with the REST, WhatsApp and web chat channels, the fake Twilio
(tests/fake_twilio.py), and the desk app under uvicorn on the same SQLite store,
its live feed tailing the Rasa server's SQL event broker; agent `ayse` and
editor `eda` can log in with PASSWORD. Used by the browser tests
(tests/browser.py), the restart tests and `make screenshots`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator

from bot.config import Settings
from bot.desk.app import create_app
from bot.desk.auth import hash_password
from bot.desk.live import LiveFeed
from bot.facts import import_facts, import_faqs
from bot.store import Store
from tests.fake_twilio import FakeTwilio, channel_env
from tests.servers import ROOT, Bot, running_bot, serving_desk

PASSWORD = "a long browser test password 7"  # the users running_system creates
CREDENTIALS = (
    "bot.channels.rest.RestInput:\n"
    "bot.channels.whatsapp.WhatsAppInput:\n"
    "bot.channels.webchat.WebchatInput:\n"
)


@contextmanager
def desk_on(settings: Settings, events_db: Path) -> Iterator[str]:
    """The desk under uvicorn, its live feed on the bot's event broker."""
    app = create_app(settings)
    app.state.live = LiveFeed(settings.db_path, events_db, poll_seconds=0.05)
    with serving_desk(app) as base:
        yield base


@dataclass
class System:
    bot: Bot
    fake: FakeTwilio
    desk: str
    db_path: Path

    def store(self) -> Store:
        return Store.open(self.db_path)


@contextmanager
def running_system(workdir: Path, extra_env: Dict[str, str] | None = None) -> Iterator[System]:
    """Rasa + actions + fake Twilio + the desk, with agent `ayse` and editor `eda`.

    `extra_env` is added to the servers' environment and the desk's settings.
    """
    db_path = workdir / "crisisdesk.db"
    store = Store.open(db_path)
    import_facts(store, ROOT / "data/facts/demo.csv")
    import_faqs(store, ROOT / "data/facts/faq.csv")
    for name, role in (("ayse", "agent"), ("eda", "editor")):
        store.create_user(name, role, hash_password(PASSWORD), must_change=False)
    store.close()
    credentials = workdir / "credentials.yml"
    credentials.write_text(CREDENTIALS, encoding="utf-8")
    with FakeTwilio() as fake:
        env = {**channel_env(fake), **(extra_env or {})}
        with running_bot(
            workdir, ROOT / "models/crisisdesk.tar.gz", extra_env=env, credentials=credentials
        ) as bot:
            settings = Settings.from_env(
                {
                    "CRISISDESK_DB": str(db_path),
                    "RASA_URL": bot.rasa_url,
                    "RASA_TOKEN": bot.token,
                    **env,
                }
            )
            with desk_on(settings, bot.events_db) as desk:
                yield System(bot, fake, desk, db_path)
