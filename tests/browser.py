"""The whole system in headless Chromium: what the browser tests and `make screenshots` share.

The system itself (`running_system`, `System`) is tests/system.py's. `chrome` is Debian's
headless Chromium driven through /usr/bin/chromedriver (scripts/install-browser
installs both), so Selenium Manager never downloads anything. The page helpers
wait on conditions (WebDriverWait), never on a fixed sleep.

Used by tests/test_desk_browser.py and scripts/screenshots.py.
"""

from __future__ import annotations

from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.system import PASSWORD, System, running_system  # noqa: F401 (shared)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
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
