"""`make screenshots`: the README's pictures of the desk, taken from the running system.

Starts what the browser tests start (tests/browser.py): a real Rasa server and
action server with the REST, WhatsApp and web chat channels, the loopback fake
Twilio, and the desk, on a fresh store with the demo facts of Kuzey Süt. Then it
walks a demo in headless Chromium (1280x800) and saves PNGs to docs/screenshots/:

- three customers need a person: one asks on the web chat page (/chat) in
  Turkish after a rumour question, one on WhatsApp with a severe complaint, one
  on WhatsApp in English; two more ask about a claim no fact answers yet;
- `queue.png`: agent ayse's live queue with the three waiting conversations;
- the agent claims the web chat conversation and replies; the customer answers:
  `conversation.png` (the agent's view) and `webchat.png` (the customer's page);
- the agent takes the English WhatsApp conversation, replies and hands it back;
  the customer rates it 5;
- `dashboard.png`: queue length, waiting times, agents online, the closed handoff;
- editor eda publishes a draft fact: `facts.png` (the fact list with verdicts,
  statuses and who verified each) and `rumours.png` (the open rumour groups).

Every wait is a condition, never a fixed sleep. Loopback only; nothing is
downloaded. Needs `make train` and Debian's chromium/chromium-driver
(scripts/install-browser).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
from tests.fake_twilio import WhatsAppCustomer  # noqa: E402
from tests.servers import wait_for  # noqa: E402

OUT = ROOT / "docs/screenshots"
WORK = ROOT / "var/screenshots"
MODEL = ROOT / "models/crisisdesk.tar.gz"
WIDTH, HEIGHT = 1280, 800
WAIT = 90  # seconds for one condition (the bot's first replies are the slowest)


def shoot(driver, name: str, show: str = "", where: str = "end") -> Path:
    """Saves the visible page as docs/screenshots/NAME.png.

    Scrolled to the top, or with `show` (CSS) so that the last element it matches
    is in view at `where` ("start", "center", "end") of the window.
    """
    if show:
        driver.execute_script(
            "var all = document.querySelectorAll(arguments[0]);"
            "all[all.length - 1].scrollIntoView({block: arguments[1]});",
            show,
            where,
        )
    else:
        driver.execute_script("window.scrollTo(0, 0)")
    path = OUT / f"{name}.png"
    if not driver.save_screenshot(str(path)):
        raise RuntimeError(f"no screenshot for {name}")
    print(f"  {path.relative_to(ROOT)}")
    return path


def browser():
    """A headless Chromium whose page area (what a screenshot holds) is WIDTH x HEIGHT."""
    driver = chrome(WIDTH, HEIGHT)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(2 * WIDTH - inner[0], 2 * HEIGHT - inner[1])
    return driver


def send_chat(driver, text: str) -> None:
    """Types `text` into the web chat composer and sends it."""
    box = until(driver, EC.element_to_be_clickable((By.ID, "text")))
    box.send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "#composer button[type=submit]").click()
    until(driver, text_in(driver, "#messages .msg-me .text", text))


def chat_messages(driver) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, "#messages .msg"))


def demo(system: System) -> None:
    store = system.store()
    customer = browser()  # the web chat customer: own browser, own cookies
    agent = browser()
    editor = browser()
    try:
        # The web chat customer asks about a rumour first, then for a person.
        customer.get(f"{system.desk}/chat")
        send_chat(customer, "Kuzey Süt iflas mı ediyor, doğru mu?")
        until(customer, text_in(customer, "#messages .msg-bot .text", "iflas"), WAIT)
        before = chat_messages(customer)
        send_chat(customer, "Siparişim hâlâ gelmedi, bir insanla konuşmak istiyorum lütfen")
        visitor = customer.get_cookie("crisisdesk_visitor")["value"].partition(".")[0]
        web_sender = f"webchat:{visitor}"
        web = wait_for(lambda: store.open_handoff_for(web_sender), WAIT, "the web chat handoff")
        until(customer, lambda d: chat_messages(d) > before + 1, WAIT)  # the bot said so

        # Two WhatsApp customers need a person too; two more ask about an unknown claim.
        severe = WhatsAppCustomer(system.bot.rasa_url, "+905321110042")
        severe.send("yogurdunuz yuzunden oglum hastanelik oldu, cok kizginim")
        english = WhatsAppCustomer(system.bot.rasa_url, "+447700900123")
        english.send("I want to talk to a real person about my order 48213 please")
        for phone, claim in (
            ("+905321110077", "kuzey sut genel muduru tutuklandi diyorlar dogru mu"),
            ("+905321110078", "Kuzey Süt'ün genel müdürü tutuklandı diyorlar, doğru mu?"),
        ):
            WhatsAppCustomer(system.bot.rasa_url, phone).send(claim)
        for who in (severe, english):
            wait_for(lambda w=who: store.open_handoff_for(w.address), WAIT, "a WhatsApp handoff")
        wait_for(
            lambda: sum(g["askers"] for g in store.rumour_groups("open")) == 2,
            WAIT,
            "the two askers of the unknown claim recorded",
        )

        log_in(agent, system.desk, "ayse")
        agent.get(f"{system.desk}/queue")
        until(agent, lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr[data-kind]")) >= 3)
        shoot(agent, "queue")

        # The agent claims the web chat conversation and replies in Turkish.
        open_conversation_after_claim(agent, web["id"])
        reply(agent, "Merhaba, ben Ayşe. Siparişinizi hemen kontrol ediyorum.")
        until(customer, text_in(customer, "#messages .msg .text", "ben Ayşe"), WAIT)
        send_chat(customer, "Teşekkürler, sipariş numaram 48213")
        until(
            agent,
            text_in(agent, "#messages .transcript .msg.customer .text", "sipariş numaram 48213"),
            WAIT,
        )
        shoot(agent, "conversation", "#messages .transcript .msg", "center")
        shoot(customer, "webchat", "#composer")

        # The English WhatsApp conversation: claimed, answered, handed back, rated.
        handoff = store.open_handoff_for(english.address)
        agent.get(f"{system.desk}/queue")
        open_conversation_after_claim(agent, handoff["id"])
        reply(agent, "Hello, this is Ayse. Order 48213 left our depot today.")
        system.fake.wait_for(lambda ms: any("this is Ayse" in m.body for m in ms), WAIT)
        told = len(system.fake.messages_to(english.address))
        hand_back(agent)
        system.fake.wait_for(
            lambda ms: len([m for m in ms if m.to == english.address]) > told, WAIT
        )
        wait_for(lambda: store.get_handoff(handoff["id"])["status"] == "closed", WAIT, "the close")
        english.send("5")
        wait_for(lambda: store.get_handoff(handoff["id"])["rating"], WAIT, "the rating")
        agent.get(f"{system.desk}/dashboard")
        until(agent, EC.presence_of_element_located((By.ID, "m-waiting")))
        shoot(agent, "dashboard")

        # Two facts are drafts being checked; the editor publishes one (verified by eda)
        # and reviews the open rumours.
        for draft in ("bleach-in-milk", "bursa-factory-fire"):
            store.set_fact_status(draft, "draft")
        log_in(editor, system.desk, "eda")
        editor.get(f"{system.desk}/facts/bleach-in-milk")
        button = "form[action$='/publish'] button[type=submit]"
        until(editor, EC.element_to_be_clickable((By.CSS_SELECTOR, button))).click()
        until(editor, lambda d: store.get_fact("bleach-in-milk")["verified_by"] == "eda")
        editor.get(f"{system.desk}/facts")
        until(editor, text_in(editor, "table.facts td", "eda"))
        shoot(editor, "facts")
        editor.get(f"{system.desk}/rumours")
        until(editor, text_in(editor, "main", "tutuklandi"))
        shoot(editor, "rumours")
    except Exception:
        # What each browser saw when a step failed, for the error message.
        for name, driver in (("customer", customer), ("agent", agent), ("editor", editor)):
            driver.save_screenshot(str(WORK / f"failed-{name}.png"))
            (WORK / f"failed-{name}.html").write_text(driver.page_source, encoding="utf-8")
        print(f"a step failed: the browsers' pages are in {WORK.relative_to(ROOT)}/failed-*")
        raise
    finally:
        for driver in (customer, agent, editor):
            driver.quit()
        store.close()


def main() -> int:
    if not MODEL.is_file():
        print(f"no trained model at {MODEL}: run `make train` first", file=sys.stderr)
        return 1
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        print("no Debian chromium/chromium-driver: run scripts/install-browser", file=sys.stderr)
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    OUT.mkdir(parents=True, exist_ok=True)
    print("starting Rasa, the action server, the fake Twilio and the desk...")
    with running_system(WORK) as system:
        print("walking the demo; screenshots:")
        demo(system)
    return 0


if __name__ == "__main__":
    sys.exit(main())
