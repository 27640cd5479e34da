"""A screenshot of an incident's post-crisis report, for docs/screenshots/.

    .venv/bin/python scripts/report_screenshot.py --db var/crisisdesk.db --incident 1
    .venv/bin/python scripts/report_screenshot.py --demo      # the scripted incident of the tests

Writes the report (bot/report.py, masked as for an editor) into a folder,
opens its report.html in headless Chromium (tests/browser.py's `chrome`, the
system driver, nothing downloaded), waits until every chart has drawn, and
saves a PNG of the whole page (`--height` cuts it), by default
docs/screenshots/report.png. `--demo` seeds a fresh store in a temporary
folder with tests/report_demo.py's two-hour incident on a moved clock.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from selenium.webdriver.common.by import By  # noqa: E402

from bot import report as post_crisis  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.browser import chrome, until  # noqa: E402

WIDTH = 1280


def charts_drawn(driver) -> bool:
    """Every chart has a size and at least one drawn mark."""
    charts = driver.find_elements(By.CSS_SELECTOR, "svg.chart")
    return bool(charts) and all(
        chart.size["width"] > 0
        and chart.size["height"] > 0
        and any(m.size["height"] > 0 for m in chart.find_elements(By.CSS_SELECTOR, ".bar, .point"))
        for chart in charts
    )


def screenshot(html: Path, png: Path, max_height: int | None = None) -> int:
    """Saves a PNG of the report page; returns how many charts it shows."""
    driver = chrome(WIDTH, 900)
    try:
        driver.get(html.resolve().as_uri())
        until(driver, charts_drawn, timeout=30)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        target = min(int(height) + 20, max_height or 20000)
        driver.set_window_size(WIDTH, target)
        inner = int(driver.execute_script("return window.innerHeight"))
        if inner < target:  # the window's own frame takes some of its height
            driver.set_window_size(WIDTH, 2 * target - inner)
        until(driver, charts_drawn, timeout=30)
        png.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(png))
        return len(driver.find_elements(By.CSS_SELECTOR, "svg.chart"))
    finally:
        driver.quit()


def demo_store(folder: Path) -> tuple[Store, int]:
    """A fresh store with the tests' scripted incident (on a clock file in `folder`)."""
    from bot import clock
    from tests.report_demo import CrisisClock, seed

    os.environ[clock.ENV] = str(folder / "clock")
    store = Store.open(folder / "crisisdesk.db")
    return store, seed(store, CrisisClock(folder / "clock"))


def main(argv: list[str] | None = None) -> int:
    """Writes the report and its screenshot; prints where."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="the store (default: CRISISDESK_DB or var/crisisdesk.db)")
    parser.add_argument("--incident", type=int, help="the incident's id")
    parser.add_argument("--demo", action="store_true", help="the tests' scripted incident")
    parser.add_argument("--from", dest="start", metavar="ISO")
    parser.add_argument("--to", dest="end", metavar="ISO")
    parser.add_argument("--out", default=str(ROOT / "docs/screenshots/report.png"))
    parser.add_argument("--height", type=int, help="cut the page at this many pixels")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="crisisdesk-report-"))
    if args.demo:
        store, incident = demo_store(work)
    elif args.incident:
        from bot.config import settings

        store, incident = Store.open(args.db or settings().db_path), args.incident
    else:
        parser.error("--incident ID or --demo")
    try:
        paths = post_crisis.write_report(
            store, incident, work / "report", start=args.start, end=args.end, role="editor"
        )
    finally:
        store.close()
    count = screenshot(paths[0], Path(args.out), args.height)
    print(f"{args.out}: {count} charts (report and CSV files in {work / 'report'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
