"""The whole system in headless Chromium: what the browser tests and `make screenshots` share.

`running_system` starts a real Rasa server and action server (tests/servers.py)
with the REST, WhatsApp and web chat channels, the fake Twilio
(tests/fake_twilio.py), and the desk app under uvicorn on the same SQLite store,
its live feed tailing the Rasa server's SQL event broker. `chrome` is Debian's
headless Chromium driven through /usr/bin/chromedriver (scripts/install-browser
installs both), so Selenium Manager never downloads anything. The page helpers
wait on conditions (WebDriverWait), never on a fixed sleep.

Used by tests/test_desk_browser.py and scripts/screenshots.py.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from bot.config import Settings
from bot.desk.app import create_app
from bot.desk.auth import hash_password
from bot.desk.live import LiveFeed
from bot.facts import import_facts, import_faqs
from bot.store import Store
from tests.fake_twilio import FakeTwilio, channel_env
from tests.servers import ROOT, Bot, running_bot, serving_desk

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "a long browser test password 7"
CREDENTIALS = (
    "bot.channels.rest.RestInput:\n"
    "bot.channels.whatsapp.WhatsAppInput:\n"
    "bot.channels.webchat.WebchatInput:\n"
)
WAIT = 60  # seconds any one condition may take (the bot's first replies are the slowest)


def chrome(width: int = 1280, height: int = 800) -> webdriver.Chrome:
    """A headless Chromium with its own profile (own cookies), driven by the system driver."""
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",  # tests may run as root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


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
def running_system(workdir: Path) -> Iterator[System]:
    """Rasa + actions + fake Twilio + the desk, with agent `ayse` and editor `eda`."""
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
        env = channel_env(fake)
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


def until(driver, condition, timeout: float = WAIT):
    return WebDriverWait(
        driver, timeout, ignored_exceptions=[StaleElementReferenceException]
    ).until(condition)


def log_in(driver, base: str, name: str) -> None:
    driver.get(f"{base}/login")
    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    until(driver, lambda d: "/login" not in d.current_url)


def text_in(driver, css: str, text: str):
    """A condition: some element matching `css` shows `text`."""

    def check(d):
        return any(text in e.text for e in d.find_elements(By.CSS_SELECTOR, css))

    return check


def open_conversation_after_claim(driver, handoff_id: int) -> None:
    """Claims the queue row of `handoff_id`: the desk opens its conversation view."""
    row = f"#handoff-{handoff_id}"
    button = f"{row} button[type=submit]"

    def click_claim(d) -> bool:
        # The live queue re-renders its rows on every change: find and click at once,
        # and try again when the row was swapped in between (no click happened then).
        try:
            d.find_element(By.CSS_SELECTOR, button).click()
        except WebDriverException:
            return False
        return True

    until(driver, click_claim)
    until(driver, lambda d: d.current_url.endswith(f"/conversations/{handoff_id}"))
    until(driver, EC.presence_of_element_located((By.ID, "reply-text")))


def reply(driver, text: str) -> None:
    box = until(driver, EC.element_to_be_clickable((By.ID, "reply-text")))
    box.clear()
    box.send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "form[hx-post$='/reply'] button[type=submit]").click()
    until(driver, text_in(driver, "#messages .replies .reply", text))
    # Sent, so the box is empty again (nothing left to send twice).
    until(driver, lambda d: d.find_element(By.ID, "reply-text").get_attribute("value") == "")


def hand_back(driver) -> None:
    driver.find_element(By.CSS_SELECTOR, "form[hx-post$='/close'] button[type=submit]").click()
    until(driver, EC.alert_is_present()).accept()  # hx-confirm
