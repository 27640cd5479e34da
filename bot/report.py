"""The post-crisis report of an incident: figures, SVG charts, HTML and CSV files.

    data = build_report(store, incident_id)             # a dict, JSON-ready
    html = render_html(data, role="editor")              # self-contained HTML
    write_report(store, incident_id, out_dir, role=None) # report.html + one CSV per table
    freeze_report(store, incident_id)                    # at close: the figures never change

The range is the incident's start to its close (or now); `start`/`end` narrow
it, never widen it. A closed incident's report is frozen when it closes
(`freeze_report`, called by bot.incidents.close_incident): the whole-range
report then comes from `frozen_reports`, so later changes (a late delivery
report, retention deleting texts) leave it as it was. A narrowed report of a
closed incident is computed from the tables. The CSV files are the underlying
rows of the range, read from the tables when written.

Customer ids and phone numbers in free text are masked for every role but
admin (bot.privacy), in the HTML and in the CSV files; the texts the store
keeps from customers for feedback, comments and questions were scrubbed when
they were stored.

The SQL is in bot/store/reports.py and bot/store/feedback.py; the charts in
bot/charts.py; the templates in bot/desk/templates/reports/, shared with the
desk's page (bot/desk/reports.py).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import statistics
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Sequence, Tuple

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from bot import charts, clock, privacy
from bot.config import settings
from bot.store import Store
from bot.store.cases import HANDOFF_KINDS

TEMPLATES = Path(__file__).resolve().parent / "desk" / "templates"
# The CSV files written beside report.html, one per underlying table.
CSV_TABLES = (
    "message_log",
    "rumours",
    "deliveries",
    "handoffs",
    "feedback",
    "incident_statements",
    "unanswered_questions",
)
MAX_HOURLY_BUCKETS = 72  # a longer range is drawn per day
SLOW_FIRST_REPLY_SECONDS = 15 * 60  # "what to do better" names a p90 first reply above this


class ReportProblem(ValueError):
    """A report that cannot be made as asked (bad range); the text says why."""


# -- time ---------------------------------------------------------------------------


def parse_time(text: str) -> datetime:
    """An ISO time from a person ("2026-12-03T09:00", "...+03:00"); naive means UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as problem:
        raise ReportProblem(f"not an ISO time: {text!r} (e.g. 2026-12-03T09:00)") from problem
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def stamp(moment: datetime) -> str:
    """A time in the store's format (bot.store.base.now)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds from one stored time to another (None when either is missing)."""
    if not start or not end:
        return None
    return max(0.0, (parse_time(end) - parse_time(start)).total_seconds())


def duration(seconds: float | None) -> str:
    """A duration for a person: "45 s", "12 min", "2 h 5 min" ("–" when unknown)."""
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes == 0:
        return f"{secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{minutes} min" if hours == 0 else f"{hours} h {minutes} min"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (nearest rank), None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, min(len(ordered), math.ceil(q / 100 * len(ordered)))) - 1]


def report_range(
    incident: Dict[str, Any], start: str | None = None, end: str | None = None
) -> Tuple[str, str]:
    """The report's [start, end) in the store's format: the incident's span, narrowed."""
    begin = parse_time(incident["started_at"])
    finish = parse_time(incident["closed_at"]) if incident.get("closed_at") else clock.now()
    if start:
        begin = max(begin, parse_time(start))
    if end:
        finish = min(finish, parse_time(end))
    if finish < begin or (finish == begin and (start or end)):
        raise ReportProblem(
            f"the range is empty: {stamp(begin)} to {stamp(finish)}"
            f" (the incident runs from {incident['started_at']}"
            f" to {incident.get('closed_at') or 'now'})"
        )
    return stamp(begin), stamp(finish + timedelta(seconds=1))


def buckets(start: str, end: str) -> Tuple[str, List[str]]:
    """The chart buckets of a range: ("hour", ["2026-12-03T09", ...]) or ("day", [...])."""
    begin, finish = parse_time(start), parse_time(end)
    if (finish - begin) <= timedelta(hours=MAX_HOURLY_BUCKETS):
        moment = begin.replace(minute=0, second=0, microsecond=0)
        step, size, unit = timedelta(hours=1), 13, "hour"
    else:
        moment = begin.replace(hour=0, minute=0, second=0, microsecond=0)
        step, size, unit = timedelta(days=1), 10, "day"
    keys = []
    while moment < finish:
        keys.append(stamp(moment)[:size])
        moment += step
    return unit, keys


def bucket_label(key: str, unit: str, one_day: bool) -> str:
    """ "09:00" (one day), "12-03 09h" (hours over days), "12-03" (days)."""
    if unit == "day":
        return key[5:10]
    return f"{key[11:13]}:00" if one_day else f"{key[5:10]} {key[11:13]}h"


def _bucket_end(key: str, unit: str) -> str:
    """The stored-format time at which a bucket ends."""
    if unit == "day":
        moment = datetime.fromisoformat(key + "T00:00:00+00:00") + timedelta(days=1)
    else:
        moment = datetime.fromisoformat(key + ":00:00+00:00") + timedelta(hours=1)
    return stamp(moment)


# -- building the data ----------------------------------------------------------------


def _messages(store: Store, start: str, end: str, unit: str, keys: List[str]) -> Dict[str, Any]:
    size = 13 if unit == "hour" else 10
    index = {key: i for i, key in enumerate(keys)}
    by_intent: Dict[str, List[int]] = {}
    by_language: Dict[str, List[int]] = {}
    total = 0
    for row in store.report_messages_per_hour(start, end):
        slot = index.get(row["hour"][:size])
        if slot is None:
            continue
        n = int(row["n"])
        total += n
        intent = row["intent"] or "unknown"
        language = row["language"] or "unknown"
        by_intent.setdefault(intent, [0] * len(keys))[slot] += n
        by_language.setdefault(language, [0] * len(keys))[slot] += n
    # The customer intents first, always in the same order (so in the same colours).
    known = ("rumour", "complaint", "question", "request_human")
    order = [k for k in known if k in by_intent]
    order += sorted((k for k in by_intent if k not in known), key=lambda k: -sum(by_intent[k]))
    return {
        "total": total,
        "by_intent": {k: by_intent[k] for k in order},
        "by_language": {k: by_language[k] for k in sorted(by_language)},
    }


def _rumours(store: Store, start: str, end: str, unit: str, keys: List[str]) -> Dict[str, Any]:
    groups = store.report_rumour_groups(start, end)
    answered_line, pending_line = [], []
    for key in keys:
        until = _bucket_end(key, unit)
        seen = [g for g in groups if g["first_seen"] < until]
        done = [g for g in seen if g["answered_at"] and g["answered_at"] < until]
        answered_line.append(len(done))
        pending_line.append(len(seen) - len(done))
    waits = []
    for g in groups:
        if g["answered_at"]:
            waits.append(
                {
                    "id": g["id"],
                    "text": g["text"],
                    "fact_id": g["fact_id"],
                    "askers": g["askers"],
                    "seconds": seconds_between(g["first_seen"], g["answered_at"]),
                }
            )
    waits.sort(key=lambda w: -(w["seconds"] or 0))
    pending = [
        {
            "id": g["id"],
            "text": g["text"],
            "askers": g["askers"],
            "first_seen": g["first_seen"],
            "waiting_seconds": seconds_between(g["first_seen"], end),
        }
        for g in groups
        if not g["answered_at"]
    ]
    return {
        "groups": len(groups),
        "answered": len(waits),
        "pending": len(pending),
        "answered_line": answered_line,
        "pending_line": pending_line,
        "time_to_answer": waits,
        "median_seconds": statistics.median([w["seconds"] for w in waits]) if waits else None,
        "open": pending[:10],
    }


def _corrections(store: Store, incident_id: int, start: str, end: str) -> Dict[str, Any]:
    rows = store.report_deliveries(incident_id, start, end)
    reached = {"sent": 0, "delivered": 0, "read": 0}
    statuses: Dict[str, int] = {}
    for row in rows:
        status = row["status"]
        statuses[status] = statuses.get(status, 0) + 1
        if row["sent_at"] or status in ("sent", "delivered", "read"):
            reached["sent"] += 1
        if row["delivered_at"] or status in ("delivered", "read"):
            reached["delivered"] += 1
        if row["read_at"] or status == "read":
            reached["read"] += 1
    return {
        "recipients": len(rows),
        "campaigns": len({row["campaign_id"] for row in rows}),
        "corrections": sum(1 for row in rows if row["kind"] == "correction"),
        "statements": sum(1 for row in rows if row["kind"] == "statement"),
        "corrects_earlier": sum(1 for row in rows if row["corrects_earlier"]),
        **reached,
        "statuses": dict(sorted(statuses.items())),
    }


def _agents(store: Store, start: str, end: str) -> Dict[str, Any]:
    rows = store.report_handoffs(start, end)
    first = [
        s
        for s in (seconds_between(r["created_at"], r["first_reply_at"]) for r in rows)
        if s is not None
    ]
    closed = [
        s for s in (seconds_between(r["created_at"], r["closed_at"]) for r in rows) if s is not None
    ]
    reasons: Dict[str, int] = {}
    topics: Dict[str, int] = {}
    for row in rows:
        label = HANDOFF_KINDS.get(row["kind"] or "", row["kind"] or row["reason"] or "other")
        reasons[label] = reasons.get(label, 0) + 1
        if row["topic"]:
            topics[row["topic"]] = topics.get(row["topic"], 0) + 1
    ratings = [int(r["rating"]) for r in rows if r["rating"] is not None]
    return {
        "handoffs": len(rows),
        "closed": len(closed),
        "tagged": sum(1 for r in rows if r.get("incident_id") is not None),
        "first_reply": {
            "n": len(first),
            "p50": percentile(first, 50),
            "p90": percentile(first, 90),
        },
        "resolution": {
            "n": len(closed),
            "p50": percentile(closed, 50),
            "p90": percentile(closed, 90),
        },
        "by_reason": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_topic": dict(sorted(topics.items(), key=lambda kv: (-kv[1], kv[0]))),
        "ratings": {
            "n": len(ratings),
            "mean": round(statistics.mean(ratings), 2) if ratings else None,
            "distribution": [sum(1 for r in ratings if r == stars) for stars in range(1, 6)],
        },
        "comments": [
            {"handoff_id": r["id"], "rating": r["rating"], "text": r["rating_comment"]}
            for r in rows
            if r["rating_comment"]
        ],
    }


def _helpfulness(store: Store, start: str, end: str) -> Dict[str, Any]:
    cfg = settings()
    facts = store.fact_helpfulness(start, end)
    answers = sum(f["answers"] for f in facts)
    helpful = sum(f["helpful"] for f in facts)
    for fact in facts:
        fact["poor"] = (
            fact["answers"] >= cfg.feedback_min_answers
            and fact["share"] < cfg.feedback_helpful_share
        )
    return {
        "answers": answers,
        "helpful": helpful,
        "share": helpful / answers if answers else None,
        "least_helpful": facts[:10],
        "min_answers": cfg.feedback_min_answers,
        "threshold": cfg.feedback_helpful_share,
    }


def _better(data: Dict[str, Any]) -> List[str]:
    """A short "what to do better" list from the figures (at most eight lines)."""
    out: List[str] = []
    rumours = data["rumours"]
    for wait in rumours["time_to_answer"][:2]:
        out.append(
            f"Slowest answer: the rumour “{wait['text']}” waited {duration(wait['seconds'])}"
            f" from its first ask to a verified answer ({wait['askers']} asker(s))."
        )
    if rumours["open"]:
        top = max(rumours["open"], key=lambda g: g["askers"])
        out.append(
            f"{rumours['pending']} rumour group(s) never got an answer; the most asked,"
            f" “{top['text']}” ({top['askers']} asker(s)), needs a fact."
        )
    agents = data["agents"]
    if agents["by_topic"]:
        topic, count = next(iter(agents["by_topic"].items()))
        out.append(
            f"Most escalated topic: {topic} ({count} of {agents['handoffs']} handoffs):"
            " a fact or FAQ entry on it could answer more customers without a person."
        )
    if agents["by_reason"]:
        reason, count = next(iter(agents["by_reason"].items()))
        out.append(f"Most common escalation: {reason} ({count} of {agents['handoffs']}).")
    p90 = agents["first_reply"]["p90"]
    if p90 is not None and p90 > SLOW_FIRST_REPLY_SECONDS:
        out.append(
            f"One customer in ten waited more than {duration(p90)} for an agent's first"
            " reply: more agents on shift during the peak hours."
        )
    for fact in [f for f in data["helpfulness"]["least_helpful"] if f["poor"]][:2]:
        out.append(
            f"Fact {fact['fact_id']} was found helpful by {fact['share']:.0%} of"
            f" {fact['answers']} customers: rewrite its answer (the facts page lists their"
            " messages)."
        )
    if data["unanswered_questions"]:
        top_q = data["unanswered_questions"][0]
        out.append(
            f"The question “{top_q['text']}” ({top_q['askers']} customer(s)) had no answer:"
            " add an FAQ entry."
        )
    corrections = data["corrections"]
    failed = corrections["statuses"].get("failed", 0) + corrections["statuses"].get(
        "unreachable", 0
    )
    if failed:
        out.append(f"{failed} correction(s) could not be delivered: check the outbox.")
    return out[:8]


def build_report(
    store: Store, incident_id: int, start: str | None = None, end: str | None = None
) -> Dict[str, Any]:
    """The report's data for an incident (from its frozen copy when closed and not narrowed)."""
    incident = store.get_incident(incident_id)
    if not start and not end:
        frozen = store.frozen_report_data(incident_id)
        if frozen is not None:
            return frozen
    begin, finish = report_range(incident, start, end)
    unit, keys = buckets(begin, finish)
    data: Dict[str, Any] = {
        "incident": {
            k: incident.get(k)
            for k in ("id", "name", "severity", "status", "started_at", "closed_at")
        },
        "range": {"start": begin, "end": finish, "narrowed": bool(start or end)},
        "generated_at": stamp(clock.now()),
        "frozen_at": None,
        "unit": unit,
        "buckets": keys,
        "messages": _messages(store, begin, finish, unit, keys),
        "rumours": _rumours(store, begin, finish, unit, keys),
        "corrections": _corrections(store, incident_id, begin, finish),
        "agents": _agents(store, begin, finish),
        "helpfulness": _helpfulness(store, begin, finish),
        "statements": store.report_statements(incident_id),
        "unanswered_questions": store.report_unanswered_questions(begin, finish),
    }
    data["better"] = _better(data)
    return data


def freeze_report(store: Store, incident_id: int) -> bool:
    """Stores a closed incident's whole-range report once; False when frozen already."""
    if store.frozen_report_data(incident_id) is not None:
        return False
    data = build_report(store, incident_id)
    data["frozen_at"] = stamp(clock.now())
    return store.freeze_report_data(incident_id, data)


# -- drawing --------------------------------------------------------------------------


def _safe_chart(draw: Callable[[], str]) -> Markup | None:
    try:
        return Markup(draw())  # noqa: S704 (bot/charts.py escapes every text it draws)
    except ValueError:
        return None


def chart_svgs(data: Dict[str, Any]) -> Dict[str, Markup | None]:
    """Every chart of the report as inline SVG (None where there is nothing to draw)."""
    unit, keys = data["unit"], data["buckets"]
    one_day = len({key[:10] for key in keys}) == 1
    labels = [bucket_label(key, unit, one_day) for key in keys]
    day = f" ({keys[0][:10]}, UTC)" if one_day and keys else " (UTC)"
    per = "hour" if unit == "hour" else "day"
    messages, rumours = data["messages"], data["rumours"]
    agents, corrections = data["agents"], data["corrections"]
    slow = rumours["time_to_answer"][:10]
    agent_bars = [
        (f"{name} {'median' if q == 'p50' else 'p90'}", agents[key][q])
        for key, name in (("first_reply", "first reply"), ("resolution", "resolution"))
        for q in ("p50", "p90")
    ]
    return {
        "by_intent": _safe_chart(
            lambda: charts.bar_chart(
                f"Messages per {per} by intent",
                labels,
                list(messages["by_intent"].items()),
                x_label=f"{per}{day}",
                y_label="messages",
            )
        ),
        "by_language": _safe_chart(
            lambda: charts.bar_chart(
                f"Messages per {per} by language",
                labels,
                list(messages["by_language"].items()),
                x_label=f"{per}{day}",
                y_label="messages",
            )
        ),
        "rumours": _safe_chart(
            lambda: charts.line_chart(
                "Rumour groups answered and pending",
                labels,
                [("answered", rumours["answered_line"]), ("pending", rumours["pending_line"])],
                x_label=f"end of {per}{day}",
                y_label="rumour groups",
            )
        ),
        "time_to_answer": _safe_chart(
            lambda: charts.hbar_chart(
                "Time from first ask to verified answer (slowest first)",
                [f"#{w['id']} {w['text']}" for w in slow],
                [round((w["seconds"] or 0) / 60, 1) for w in slow],
                x_label="minutes",
            )
        ),
        "corrections": _safe_chart(
            lambda: charts.hbar_chart(
                "Corrections and statements: recipients reached",
                ["recipients", "sent", "delivered", "read"],
                [corrections[k] for k in ("recipients", "sent", "delivered", "read")],
                x_label="recipients",
                label_width=120,
            )
        ),
        "agent_times": _safe_chart(
            lambda: charts.hbar_chart(
                "Agents: first reply and resolution (median, 90th percentile)",
                [label for label, _ in agent_bars],
                [round((v or 0) / 60, 1) for _, v in agent_bars],
                x_label="minutes",
                label_width=170,
            )
        ),
        "by_reason": _safe_chart(
            lambda: charts.hbar_chart(
                "Escalations by reason",
                list(agents["by_reason"]),
                list(agents["by_reason"].values()),
                x_label="handoffs",
                label_width=190,
            )
        ),
        "ratings": _safe_chart(
            lambda: charts.bar_chart(
                "Handoff ratings",
                ["1 ★", "2 ★", "3 ★", "4 ★", "5 ★"],
                [("ratings", agents["ratings"]["distribution"])],
                x_label="rating (1 very poor, 5 very good)",
                y_label="customers",
            )
        ),
    }


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"])
    )
    return env


def view(data: Dict[str, Any], role: str | None) -> Dict[str, Any]:
    """The templates' context: data, charts, and the masking of the reader's role."""
    return {
        "report": data,
        "charts": chart_svgs(data),
        "duration": duration,
        "text": lambda value: display_text(value, role),
        "kinds": HANDOFF_KINDS,
    }


def render_html(data: Dict[str, Any], role: str | None = None) -> str:
    """The report as one self-contained HTML document (inline CSS and SVG, no script)."""
    return _environment().get_template("reports/standalone.html").render(**view(data, role))


# -- privacy ----------------------------------------------------------------------------


def display_sender(sender_id: str | None, role: str | None) -> str:
    """A customer id as `role` may see it (bot.privacy.display_sender, else mask)."""
    shown = getattr(privacy, "display_sender", None)
    if shown is not None:
        return str(shown(sender_id, role))
    return sender_id or "-" if role == "admin" else privacy.mask(sender_id)


def display_text(text: str | None, role: str | None) -> str:
    """Free text with phone numbers masked unless `role` is admin."""
    shown = getattr(privacy, "display_text", None)
    if shown is not None:
        return str(shown(text, role))
    return text or "" if role == "admin" else privacy.scrub(text)


# -- CSV ----------------------------------------------------------------------------------

_SENDER_COLUMNS = ("sender_id", "recipient")
_TEXT_COLUMNS = ("text", "message", "rating_comment")


def table_rows(
    store: Store, table: str, incident_id: int, start: str, end: str
) -> List[Dict[str, Any]]:
    """The rows of one underlying table of the report's range (unmasked)."""
    if table == "message_log":
        return store.report_message_rows(start, end)
    if table == "rumours":
        return store.report_rumour_groups(start, end)
    if table == "deliveries":
        return store.report_deliveries(incident_id, start, end)
    if table == "handoffs":
        return store.report_handoffs(start, end)
    if table == "feedback":
        return store.report_feedback_rows(start, end)
    if table == "incident_statements":
        return store.report_statements(incident_id)
    if table == "unanswered_questions":
        return store.report_unanswered_rows(start, end)
    raise KeyError(table)


def masked_rows(rows: Iterable[Dict[str, Any]], role: str | None) -> List[Dict[str, Any]]:
    """Rows with customer ids and phone numbers in texts masked for `role`."""
    out = []
    for row in rows:
        row = dict(row)
        for column in _SENDER_COLUMNS:
            if column in row:
                row[column] = display_sender(row[column], role)
        for column in _TEXT_COLUMNS:
            if row.get(column):
                row[column] = display_text(row[column], role)
        out.append(row)
    return out


def csv_text(rows: Sequence[Dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows as CSV text with a header line (the columns of the first row)."""
    buffer = io.StringIO()
    names = list(columns or (rows[0].keys() if rows else []))
    writer = csv.DictWriter(buffer, fieldnames=names, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in names})
    return buffer.getvalue()


def table_csv(store: Store, data: Dict[str, Any], table: str, role: str | None) -> str:
    """One underlying table of a report as CSV, masked for `role`."""
    rows = table_rows(
        store, table, int(data["incident"]["id"]), data["range"]["start"], data["range"]["end"]
    )
    return csv_text(masked_rows(rows, role))


def write_report(
    store: Store,
    incident_id: int,
    out_dir: Path,
    *,
    start: str | None = None,
    end: str | None = None,
    role: str | None = None,
) -> List[Path]:
    """Writes report.html and one CSV per underlying table into `out_dir`; returns the paths."""
    data = build_report(store, incident_id, start, end)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "report.html"]
    written[0].write_text(render_html(data, role), encoding="utf-8")
    for table in CSV_TABLES:
        path = out_dir / f"{table}.csv"
        path.write_text(table_csv(store, data, table, role), encoding="utf-8")
        written.append(path)
    return written


# -- the command line -------------------------------------------------------------------


def cli_report(args: argparse.Namespace) -> int:
    """`crisisdesk report --incident ID [--from ISO --to ISO] [--out DIR] [--as NAME]`."""
    store = Store.open(args.db or settings().db_path)
    try:
        role = None
        if args.as_user:
            user = store.find_user(args.as_user)
            if not user or user.get("disabled"):
                print(f"no enabled desk user {args.as_user!r}", file=sys.stderr)
                return 2
            role = user["role"]
        out = Path(args.out or f"reports/incident-{args.incident}")
        try:
            paths = write_report(
                store, args.incident, out, start=args.start, end=args.end, role=role
            )
        except ReportProblem as problem:
            print(str(problem), file=sys.stderr)
            return 2
        for path in paths:
            print(path)
        if role != "admin":
            print("phone numbers and customer ids are masked (--as an admin to see them)")
        return 0
    finally:
        store.close()


def add_commands(groups: Any, command: Callable[..., Any]) -> None:
    """Adds `report` to the crisisdesk command line."""
    p = command(
        groups,
        "report",
        cli_report,
        "write an incident's post-crisis report: DIR/report.html (charts inline, no network)"
        " and one CSV per underlying table",
    )
    p.add_argument("--incident", type=int, required=True, metavar="ID", help="the incident's id")
    p.add_argument(
        "--from", dest="start", metavar="ISO", help="start later than the incident (ISO time)"
    )
    p.add_argument(
        "--to", dest="end", metavar="ISO", help="end before the incident's close (ISO time)"
    )
    p.add_argument(
        "--out", metavar="DIR", help="folder to write into (default: reports/incident-ID)"
    )
    p.add_argument(
        "--as",
        dest="as_user",
        metavar="NAME",
        help="a desk user's name: their role decides the masking (unmasked only for admins)",
    )
