"""The post-crisis report: figures, SVG charts, HTML, CSV files, the CLI, the desk page, freezing.

One scripted incident is seeded through the real Store's own methods while
crisisdesk's clock (a CRISISDESK_CLOCK_FILE, bot/clock.py) is moved forward, so
every time stamp comes from the store as in production.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot import charts, clock
from bot import report as post_crisis
from bot.cli import main
from tests.desk_client import Desk
from tests.report_demo import PHONE_A, PHONE_B, CrisisClock, log, seed


@pytest.fixture
def crisis_clock(tmp_path, monkeypatch) -> CrisisClock:
    path = tmp_path / "clock"
    monkeypatch.setenv(clock.ENV, str(path))
    return CrisisClock(path)


@pytest.fixture
def incident(store, crisis_clock) -> int:
    return seed(store, crisis_clock)


# -- the figures ---------------------------------------------------------------------


def test_the_figures_of_each_section(store, incident, crisis_clock):
    data = post_crisis.build_report(store, incident)
    assert data["unit"] == "hour" and len(data["buckets"]) == 2
    messages = data["messages"]
    assert messages["total"] == 11
    assert list(messages["by_intent"].items()) == [
        ("rumour", [3, 5]),
        ("complaint", [1, 0]),
        ("question", [0, 2]),
    ]
    assert messages["by_language"] == {"en": [1, 2], "tr": [3, 5]}
    rumours = data["rumours"]
    assert (rumours["groups"], rumours["answered"], rumours["pending"]) == (2, 1, 1)
    assert rumours["answered_line"] == [0, 1] and rumours["pending_line"] == [2, 1]
    [wait] = rumours["time_to_answer"]
    assert wait["seconds"] == pytest.approx(70 * 60, abs=2) and wait["askers"] == 2
    corrections = data["corrections"]
    assert (corrections["recipients"], corrections["sent"]) == (4, 3)
    assert (corrections["delivered"], corrections["read"]) == (2, 1)
    assert corrections["statuses"]["failed"] == 1
    agents = data["agents"]
    assert agents["handoffs"] == 2 and agents["closed"] == 2
    assert agents["first_reply"]["p50"] == pytest.approx(5 * 60, abs=2)
    assert agents["first_reply"]["p90"] == pytest.approx(30 * 60, abs=2)
    assert agents["resolution"]["p90"] == pytest.approx(85 * 60, abs=2)
    assert agents["by_reason"] == {"asked for a person": 1, "severe complaint": 1}
    assert agents["by_topic"] == {"bleach": 2}
    assert agents["ratings"]["distribution"] == [0, 1, 0, 0, 1]
    assert agents["ratings"]["mean"] == 3.5
    [comment] = agents["comments"]
    assert comment["rating"] == 2
    helpfulness = data["helpfulness"]
    assert (helpfulness["answers"], helpfulness["helpful"]) == (5, 1)
    [fact] = helpfulness["least_helpful"]
    assert fact["fact_id"] == "bleach-in-milk" and fact["poor"] and fact["share"] == 0.2
    [statement] = data["statements"]
    assert statement["approved_by"] == "can" and statement["live_at"]
    assert statement["live_at"] > statement["written_at"]
    [question] = data["unanswered_questions"]
    assert (question["text"], question["askers"]) == ("when does the factory reopen", 2)
    better = " ".join(data["better"])
    assert "1 h 10 min" in better  # the slowest answer
    assert "genel muduru tutuklamislar mi" in better  # the pending rumour
    assert "Most escalated topic: bleach" in better
    assert "bleach-in-milk was found helpful by 20% of 5" in better
    assert "when does the factory reopen" in better
    assert "1 correction(s) could not be delivered" in better


def test_from_and_to_narrow_the_range(store, incident, crisis_clock):
    start = post_crisis.stamp(crisis_clock.start + timedelta(minutes=55))
    data = post_crisis.build_report(store, incident, start=start)
    assert data["range"]["narrowed"] and data["range"]["start"] == start
    assert data["messages"]["total"] == 7
    assert data["agents"]["handoffs"] == 0
    with pytest.raises(post_crisis.ReportProblem, match="the range is empty"):
        post_crisis.build_report(store, incident, start="2001-01-01", end="2001-01-02")
    with pytest.raises(post_crisis.ReportProblem, match="not an ISO time"):
        post_crisis.build_report(store, incident, start="yesterday")


def test_an_incident_with_no_data_says_so_in_words(store, crisis_clock):
    incident = store.open_incident(
        name="Quiet", severity="low", keywords=["x"], examples={}, opened_by="eda"
    )
    crisis_clock.at(30)
    html = post_crisis.render_html(post_crisis.build_report(store, incident))
    assert "<svg" not in html
    for sentence in (
        "No customer messages were logged in this range.",
        "No rumours were asked in this range.",
        "No corrections or statements were sent in this range.",
        "No conversation was handed to a person in this range.",
        "No statement was written for this incident.",
        "Nothing stood out",
    ):
        assert sentence in html


def test_a_closed_incident_report_is_frozen(store, incident, crisis_clock):
    store.close_incident(incident, "eda")
    assert post_crisis.freeze_report(store, incident) is True
    assert post_crisis.freeze_report(store, incident) is False
    frozen = post_crisis.build_report(store, incident)
    crisis_clock.at(200)
    log(store, 4, "rumour", "tr")  # after the close, and inside no narrowed range
    store.record_answer_feedback(PHONE_A, "fact", "bleach-in-milk", True)
    again = post_crisis.build_report(store, incident)
    assert again == frozen and again["frozen_at"]
    assert again["messages"]["total"] == 11 and again["helpfulness"]["answers"] == 5
    assert "frozen at close" in post_crisis.render_html(again)


# -- charts and HTML ----------------------------------------------------------------------


def test_charts_have_axes_legends_and_one_mark_per_value():
    svg = charts.bar_chart(
        "Messages <per> hour",
        ["09:00", "10:00"],
        [("rumour", [3, 5]), ("question", [0, 2])],
        x_label="hour",
        y_label="messages",
    )
    assert svg.startswith("<svg") and "Messages &lt;per&gt; hour" in svg
    assert re.findall(r'class="bar" data-series="(\w+)" data-value="(\d+)"', svg) == [
        ("rumour", "3"),
        ("rumour", "5"),
        ("question", "2"),
    ]
    assert 'class="legend"' in svg and ">question</text>" in svg and ">messages</text>" in svg
    line = charts.line_chart("x", ["a", "b", "c"], [("n", [1, 0, 4])], x_label="t", y_label="n")
    assert line.count('class="point"') == 3 and 'class="legend"' not in line
    with pytest.raises(ValueError):
        charts.bar_chart("empty", ["a"], [("n", [0])], x_label="", y_label="")
    assert charts.nice_ticks(7) == [0, 2, 4, 6, 8]


def test_the_html_is_self_contained_with_non_empty_charts(store, incident):
    html = post_crisis.render_html(post_crisis.build_report(store, incident), role="editor")
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html and "<link" not in html
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(svgs) == 8
    for svg in svgs:
        assert re.search(r'class="(bar|point)"[^>]*data-value="[1-9]', svg), svg[:200]
    for heading in (
        "Messages per hour by intent and language",
        "Rumours answered and pending",
        "Time from a rumour",
        "Corrections sent, delivered and read",
        "Agents: first response, resolution, escalations",
        "Ratings and helpfulness",
        "Statement versions",
        "Top unanswered questions and rumours",
        "What to do better",
    ):
        assert heading in html
    # The rating comment's phone number is masked for an editor, whole for an admin.
    assert "0532 765 43 21" not in html and "waited long" in html
    admin = post_crisis.render_html(post_crisis.build_report(store, incident), role="admin")
    assert "0532 765 43 21" in admin


# -- CSV and the command line ----------------------------------------------------------------


def read_csv(path: Path):
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_the_cli_writes_the_report_and_one_csv_per_table(store, incident, tmp_path, capsys):
    db = store.db.execute("pragma database_list").fetchone()[2]
    out = tmp_path / "out"
    assert main(["--db", db, "report", "--incident", str(incident), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out / "report.html") in printed and "masked" in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["report.html", *(f"{t}.csv" for t in post_crisis.CSV_TABLES)]
    )
    messages = read_csv(out / "message_log.csv")
    assert len(messages) == 11 and "text" not in messages[0]
    assert {m["sender_id"] for m in messages} == {
        post_crisis.display_sender(PHONE_A, None),
        post_crisis.display_sender(PHONE_B, None),
    }
    assert PHONE_A not in (out / "handoffs.csv").read_text()
    handoffs = read_csv(out / "handoffs.csv")
    assert sorted(h["rating"] for h in handoffs) == ["2", "5"]
    deliveries = read_csv(out / "deliveries.csv")
    assert sorted(d["status"] for d in deliveries) == ["delivered", "failed", "read", "sent"]
    feedback = read_csv(out / "feedback.csv")
    assert len(feedback) == 5 and all("0532 123 45 67" not in f["message"] for f in feedback)
    [statement] = read_csv(out / "incident_statements.csv")
    assert statement["approved_by"] == "can"
    assert len(read_csv(out / "unanswered_questions.csv")) == 2
    assert len(read_csv(out / "rumours.csv")) == 2


def test_the_cli_as_an_admin_unmasks_and_refuses_bad_input(store, incident, tmp_path, capsys):
    from bot.desk.auth import hash_password

    store.create_user("root", "admin", hash_password("a long test password 42"))
    db = store.db.execute("pragma database_list").fetchone()[2]
    out = tmp_path / "admin"
    argv = ["--db", db, "report", "--incident", str(incident), "--out", str(out)]
    assert main([*argv, "--as", "root"]) == 0
    assert PHONE_A in (out / "handoffs.csv").read_text()
    assert main([*argv, "--as", "nobody"]) == 2
    assert main([*argv, "--from", "not a time"]) == 2
    assert "not an ISO time" in capsys.readouterr().err
    assert main(["--db", db, "report", "--incident", "999", "--out", str(out)]) == 2


# -- the desk ----------------------------------------------------------------------------------


def test_the_desk_shows_the_same_report_to_editors_and_admins(store, incident):
    desk = Desk(store)
    for name, role in (("eda", "editor"), ("root", "admin"), ("ayse", "agent"), ("tom", "trainer")):
        desk.user(name, role)
    editor = desk.login("eda")
    listing = editor.get("/reports")
    assert listing.status_code == 200 and f"/reports/incidents/{incident}" in listing.text
    page = editor.get(f"/reports/incidents/{incident}")
    assert page.status_code == 200
    assert page.text.count("<svg") == 8 and "Bleach rumour" in page.text
    assert "0532 765 43 21" not in page.text
    narrowed = editor.get(f"/reports/incidents/{incident}?from=2001-01-01&to=2001-01-02")
    assert narrowed.status_code == 422 and "the range is empty" in narrowed.text
    download = editor.get(f"/reports/incidents/{incident}/report.html")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert download.text.count("<svg") == 8
    rows = editor.get(f"/reports/incidents/{incident}/handoffs.csv")
    assert rows.headers["content-type"].startswith("text/csv") and PHONE_A not in rows.text
    assert editor.get(f"/reports/incidents/{incident}/secrets.csv").status_code == 404
    assert editor.get("/reports/incidents/999").status_code == 404
    admin = desk.login("root")
    assert PHONE_A in admin.get(f"/reports/incidents/{incident}/handoffs.csv").text
    assert "0532 765 43 21" in admin.get(f"/reports/incidents/{incident}").text
    for name in ("ayse", "tom"):
        assert desk.login(name).get(f"/reports/incidents/{incident}").status_code == 403
    exports = [a for a in store.list_audit() if a["action"] == "report.export"]
    assert sorted(a["actor"] for a in exports) == ["eda", "root"]


# -- in a real browser -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(
    not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()),
    reason="needs Debian's chromium and chromium-driver (scripts/install-browser)",
)
def test_the_charts_render_in_chromium(store, incident, tmp_path):
    """Story: an editor opens report.html from `crisisdesk report` and reads the charts."""
    from PIL import Image
    from selenium.webdriver.common.by import By

    from tests.browser import chrome, until

    paths = post_crisis.write_report(store, incident, tmp_path / "out", role="editor")
    driver = chrome(1280, 900)
    try:
        driver.get(paths[0].resolve().as_uri())

        def drawn(d):
            charts_shown = d.find_elements(By.CSS_SELECTOR, "svg.chart")
            marks = d.find_elements(By.CSS_SELECTOR, "svg.chart .bar, svg.chart .point")
            return (
                len(charts_shown) == 8
                and all(c.size["width"] > 300 and c.size["height"] > 100 for c in charts_shown)
                and sum(1 for m in marks if m.size["height"] > 0) >= 20
            )

        until(driver, drawn, timeout=30)
        chart = driver.find_element(By.CSS_SELECTOR, "#messages svg.chart")
        driver.execute_script("arguments[0].scrollIntoView()", chart)
        shot = tmp_path / "messages.png"
        chart.screenshot(str(shot))
    finally:
        driver.quit()
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    counted = {rgb: n for n, rgb in colours}
    # The stacked bars' first two series colours (bot/charts.py PALETTE) fill real areas.
    assert counted.get((0x00, 0x72, 0xB2), 0) > 2000
    assert counted.get((0xE6, 0x9F, 0x00), 0) > 500


def test_an_incident_closed_in_the_second_it_opened_still_has_a_report(store, crisis_clock):
    incident = store.open_incident(
        name="Mistake", severity="low", keywords=["x"], examples={}, opened_by="eda"
    )
    store.close_incident(incident, "eda")
    assert post_crisis.freeze_report(store, incident) is True
    assert post_crisis.build_report(store, incident)["messages"]["total"] == 0
