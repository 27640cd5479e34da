"""The desk in a real browser: Debian's headless Chromium, driven by Selenium.

The whole system runs: a real Rasa server and action server (tests/servers.py)
with the REST, WhatsApp and web chat channels, the fake Twilio
(tests/fake_twilio.py), and the desk app under uvicorn on the same SQLite store,
its live feed tailing the Rasa server's SQL event broker. One Rasa server is
shared by the module. The driver is /usr/bin/chromedriver (`make test` installs
Debian's chromium and chromium-driver through scripts/install-browser), so
Selenium Manager never downloads anything. The system and the page helpers are in
tests/browser.py, shared with scripts/screenshots.py.

Every wait is a condition (WebDriverWait or `wait_for`), never a fixed sleep.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from bot.store import Store
from tests.fake_twilio import WhatsAppCustomer
from tests.servers import wait_for

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402

from tests.browser import (  # noqa: E402
    CHROMEDRIVER,
    CHROMIUM,
    System,
    chrome,
    hand_back,
    log_in,
    open_conversation_after_claim,
    reply,
    running_system,
    text_in,
    until,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="no Debian chromium/chromium-driver (make test installs them)",
    ),
]


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
