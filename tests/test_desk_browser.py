"""The desk in a real browser: Debian's headless Chromium, driven by Selenium.

The whole system runs: a real Rasa server and action server (tests/servers.py)
with the REST, WhatsApp and web chat channels, the fake Twilio
(tests/fake_twilio.py), and the desk app under uvicorn on the same SQLite store,
its live feed tailing the Rasa server's SQL event broker. One Rasa server is
shared by the module. The driver is /usr/bin/chromedriver (`make test` installs
Debian's chromium and chromium-driver through scripts/install-browser), so
Selenium Manager never downloads anything.

Every wait is a condition (WebDriverWait or `wait_for`), never a fixed sleep.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from bot.config import Settings
from bot.desk.app import create_app
from bot.desk.auth import hash_password
from bot.desk.live import LiveFeed
from bot.facts import import_facts, import_faqs
from bot.store import Store
from tests.conftest import ROOT
from tests.fake_twilio import FakeTwilio, WhatsAppCustomer, channel_env
from tests.servers import Bot, running_bot, serving_desk, wait_for

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "a long browser test password 7"
CREDENTIALS = (
    "bot.channels.rest.RestInput:\n"
    "bot.channels.whatsapp.WhatsAppInput:\n"
    "bot.channels.webchat.WebchatInput:\n"
)
WAIT = 60  # seconds any one condition may take (the bot's first replies are the slowest)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="no Debian chromium/chromium-driver (make test installs them)",
    ),
]


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


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> Iterator[System]:
    with running_system(tmp_path_factory.mktemp("browser")) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    driver = chrome()
    yield driver
    driver.quit()


@pytest.fixture
def store(system) -> Iterator[Store]:
    opened = system.store()
    yield opened
    opened.close()


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


def hand_back(driver) -> None:
    driver.find_element(By.CSS_SELECTOR, "form[hx-post$='/close'] button[type=submit]").click()
    until(driver, EC.alert_is_present()).accept()  # hx-confirm


def test_whatsapp_handoff_end_to_end(system, browser, store):
    """Story: a WhatsApp customer asks for a person; an agent takes over in the desk,
    replies, sees the customer's next message live while the bot stays silent, and
    hands back; the bot asks for a 1-5 rating and the rating is stored."""
    agent = browser
    log_in(agent, system.desk, "ayse")
    agent.get(f"{system.desk}/queue")
    until(agent, EC.presence_of_element_located((By.ID, "queue-items")))
    until(
        agent, lambda d: d.execute_script("return document.querySelector('[sse-connect]') !== null")
    )

    customer = WhatsAppCustomer(system.bot.rasa_url, "+905321110001")
    customer.send("bir insanla konusmak istiyorum, canli destek lutfen")
    handoff = wait_for(lambda: store.open_handoff_for(customer.address), what="the handoff")
    # 2. it appears in the open queue page, without a reload
    until(agent, EC.presence_of_element_located((By.ID, f"handoff-{handoff['id']}")))
    assert agent.current_url.endswith("/queue")

    # 3. claim and reply
    open_conversation_after_claim(agent, handoff["id"])
    assert store.get_handoff(handoff["id"])["assigned_to"]
    sent_before = len(system.fake.messages_to(customer.address))
    reply(agent, "Merhaba, ben Ayse. Siparisinizi kontrol ediyorum.")
    # 4. it reaches the fake Twilio
    system.fake.wait_for(
        lambda ms: any("ben Ayse" in m.body for m in ms if m.to == customer.address)
    )
    until(
        agent,
        lambda d: (
            d.find_element(By.CSS_SELECTOR, "#messages .replies .reply").get_attribute(
                "data-status"
            )
            in ("sent", "delivered")
        ),
    )

    # 5. the customer writes again: live in the agent's view, and the bot is silent
    after_reply = len(system.fake.messages_to(customer.address))
    assert after_reply == sent_before + 1
    customer.send("tesekkurler, siparis numaram 48213")
    until(
        agent, text_in(agent, "#messages .transcript .msg.customer .text", "siparis numaram 48213")
    )
    wait_for(
        lambda: all(
            r["status"] != "received" for r in store.inbound_from("whatsapp", customer.address)
        ),
        what="the message during the handoff handled",
    )
    assert len(system.fake.messages_to(customer.address)) == after_reply  # the bot said nothing

    # 6. hand back; 7. the bot asks for a rating
    hand_back(agent)
    asked = system.fake.wait_for(
        lambda ms: (
            any(m.to == customer.address and "5" in m.body for m in ms[after_reply:])
            and len([m for m in ms if m.to == customer.address]) > after_reply
        )
    )
    question = [m for m in asked if m.to == customer.address][-1].body
    assert "1" in question and "5" in question, question
    wait_for(lambda: store.get_handoff(handoff["id"])["status"] == "closed", what="closed")

    # 8. the customer answers "4" (the numbered option) and the rating is stored
    customer.send("4")
    rated = wait_for(lambda: store.get_handoff(handoff["id"])["rating"], what="the rating")
    assert rated == 4


def test_webchat_handoff_in_a_second_browser(system, browser, store):
    """Story: a customer on the web chat page (/chat, own browser and cookies) asks
    for a person; the agent claims and replies; the reply shows on the customer's
    page through the outbox, and the customer's answer shows live to the agent."""
    agent = browser
    customer = chrome(480, 800)
    try:
        customer.get(f"{system.desk}/chat")
        box = until(customer, EC.element_to_be_clickable((By.ID, "text")))
        box.send_keys("I want to talk to a human agent please")
        customer.find_element(By.CSS_SELECTOR, "#composer button[type=submit]").click()
        sender = "webchat:" + customer.get_cookie("crisisdesk_visitor")["value"].partition(".")[0]
        handoff = wait_for(lambda: store.open_handoff_for(sender), what="the web chat handoff")
        assert not agent.get_cookies()  # the agent's browser shares nothing with the customer's

        log_in(agent, system.desk, "ayse")
        agent.get(f"{system.desk}/queue")
        open_conversation_after_claim(agent, handoff["id"])
        reply(agent, "Hello, this is Ayse from the desk. How can I help?")
        until(
            customer,
            lambda d: "this is Ayse from the desk" in d.find_element(By.TAG_NAME, "body").text,
        )

        box = until(customer, EC.element_to_be_clickable((By.ID, "text")))
        box.send_keys("My parcel never arrived")
        customer.find_element(By.CSS_SELECTOR, "#composer button[type=submit]").click()
        until(
            agent,
            text_in(agent, "#messages .transcript .msg.customer .text", "My parcel never arrived"),
        )
    finally:
        customer.quit()


def test_publishing_a_fact_in_the_desk_answers_the_waiting_askers_once(system, browser, store):
    """Story: an editor publishes a verified fact in the desk; the people waiting on a
    matching open rumour get the answer once, even if it is published again."""
    store.set_fact_status("layoffs-500", "draft")
    asker = "whatsapp:+905321110077"
    rumour = store.record_rumour(
        "500 isciyi isten cikariyormussunuz dogru mu", "tr", asker, "whatsapp"
    )
    editor = browser
    log_in(editor, system.desk, "eda")
    # Publish, retire, publish again: the second publication tells nobody twice.
    for action in ("publish", "retire", "publish"):
        editor.get(f"{system.desk}/facts/layoffs-500")
        button = f"form[action$='/{action}'] button[type=submit]"
        until(editor, EC.element_to_be_clickable((By.CSS_SELECTOR, button))).click()
        status = "published" if action == "publish" else "retired"
        until(editor, lambda d, want=status: store.get_fact("layoffs-500")["status"] == want)
    fact = store.get_fact("layoffs-500")
    assert (fact["status"], fact["verified_by"]) == ("published", "eda")
    assert store.get_rumour(rumour)["status"] == "answered"
    sent = system.fake.wait_for(lambda ms: any(m.to == asker for m in ms))
    wait_for(
        lambda: not [r for r in store.list_outgoing("pending") if r["recipient"] == asker],
        what="nothing pending for the asker",
    )
    told = [m for m in system.fake.messages_to(asker)]
    assert len(told) == 1, told
    assert fact["answer_tr"][:40] in told[0].body
    assert sent


def test_script_in_a_customer_message_is_text_in_the_agents_view(system, browser, store):
    """Story: whatever a customer writes is shown as text; a <script> never runs."""
    customer = WhatsAppCustomer(system.bot.rasa_url, "+905321110099")
    customer.send("canli destek istiyorum, bir temsilciyle gorusmek istiyorum")
    handoff = wait_for(lambda: store.open_handoff_for(customer.address), what="the handoff")
    attack = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'
    customer.send(attack)
    agent = browser
    log_in(agent, system.desk, "ayse")
    agent.get(f"{system.desk}/queue")
    open_conversation_after_claim(agent, handoff["id"])
    until(
        agent, text_in(agent, "#messages .transcript .msg.customer .text", "<script>window.__pwned")
    )
    assert agent.execute_script("return window.__pwned === undefined")
    assert not agent.find_elements(By.CSS_SELECTOR, "#messages .transcript script, #messages img")
