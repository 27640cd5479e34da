"""Early-warning alerts in a real browser: Debian's headless Chromium, driven by Selenium.

The desk alone under uvicorn, its early warning reading a file written by Rasa's
own SQL event broker class (no Rasa server needed: the broker rows are what a
server would publish). Every wait is a condition, never a fixed sleep.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Iterator

import pytest

from bot import clock
from bot.config import Settings
from bot.desk.app import create_app
from bot.desk.auth import hash_password
from bot.desk.live import LiveFeed
from bot.facts import import_facts
from bot.store import Store

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser import CHROMEDRIVER, CHROMIUM, PASSWORD, chrome, log_in, until  # noqa: E402
from tests.servers import ROOT, serving_desk  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="no Debian chromium/chromium-driver (make test installs them)",
    ),
]


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    driver = chrome()
    yield driver
    driver.quit()


def test_an_agent_sees_a_spike_in_the_nav_and_acknowledges_it(browser, tmp_path):
    """Story: ten customers ask within minutes whether the Bursa factory burned down; the
    agent on the queue page sees "Alerts 1" in the navigation, opens the alert with its
    scrubbed examples and acknowledges it, and the count goes away."""
    from rasa.core.brokers.sql import SQLEventBroker

    db = tmp_path / "crisisdesk.db"
    store = Store.open(db)
    import_facts(store, ROOT / "data/facts/demo.csv")
    store.create_user("ayse", "agent", hash_password(PASSWORD), must_change=False)
    broker = SQLEventBroker(db=str(tmp_path / "rasa_events.db"))
    settings = Settings.from_env({"CRISISDESK_DB": str(db)})
    app = create_app(settings)
    app.state.live = LiveFeed(settings.db_path, tmp_path / "rasa_events.db", poll_seconds=0.05)
    with serving_desk(app) as base:
        log_in(browser, base, "ayse")
        for n in range(10):
            broker.publish(
                {
                    "event": "user",
                    "sender_id": f"whatsapp:+9053255500{n:02d}",
                    "text": f"bursa fabrikaniz yaniyor mu beni 0532 555 00 {n:02d} den arayin",
                    "timestamp": time.time(),
                    "input_channel": "whatsapp",
                    "parse_data": {"intent": {"name": "rumour", "confidence": 0.9}},
                }
            )
        started = time.monotonic()
        while not store.list_alerts() and time.monotonic() - started < 30:
            time.sleep(0.05)  # polling for the condition
        (alert,) = store.list_alerts()
        raised = datetime.fromisoformat(alert["raised_at"])
        assert abs((clock.now() - raised).total_seconds()) < 30  # within seconds

        browser.get(f"{base}/queue")
        until(browser, lambda d: d.find_element(By.ID, "nav-alerts").text == "1")
        browser.find_element(By.CSS_SELECTOR, "nav.main a[href='/alerts']").click()
        until(browser, lambda d: d.find_elements(By.ID, f"alert-{alert['id']}"))
        row = browser.find_element(By.ID, f"alert-{alert['id']}")
        assert "Spike: rumours about factory fire" in row.text
        assert "bursa fabrikaniz yaniyor mu" in row.text and "555 00" not in row.text
        row.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        until(browser, lambda d: "Alert acknowledged." in d.page_source)
        until(browser, lambda d: d.find_element(By.ID, "nav-alerts").text == "")
        assert "ayse" in browser.find_element(By.ID, f"alert-{alert['id']}").text
    store.close()
