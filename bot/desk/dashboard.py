"""The agents' dashboard: how the queue is doing now, and the measures of closed handoffs.

`/dashboard` shows the queue length (waiting and assigned), the waiting time of
the conversations waiting now (p50/p95), the agents online (a live session used
in the last ONLINE_MINUTES), and for the latest closed handoffs the measures the
post-crisis report uses: time to the first agent reply, time to close, the
agent and the customer's 1-5 rating, with their medians.
"""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta
from typing import Any, Dict, Iterable, List

from starlette.requests import Request
from starlette.responses import Response

from bot.desk.auth import AGENTS, current_user, route
from bot.desk.queue import CHANNEL_NAMES, waited
from bot.desk.web import render, store
from bot.privacy import display_sender, mask

# An agent counts as online with a live session used this recently.
ONLINE_MINUTES = 15
# Closed handoffs listed (newest first).
RECENT_CLOSED = 50


def percentile(values: List[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of `values`, None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds from one ISO time stamp to another (None when either is missing)."""
    if not start or not end:
        return None
    return max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())


def duration(seconds: float | None) -> str:
    """A duration for a person: "45 s", "12 min", "2 h 5 min" ("–" when unknown)."""
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes == 0:
        return f"{secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{minutes} min" if hours == 0 else f"{hours} h {minutes} min"


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def measures(
    queue: List[Dict[str, Any]], closed: List[Dict[str, Any]], now: datetime, online: List[str]
) -> Dict[str, Any]:
    """Everything the dashboard shows, from the queue and the closed handoffs."""
    waiting = [row for row in queue if row["status"] == "waiting"]
    waits = [seconds_between(row["created_at"], now.isoformat()) or 0.0 for row in waiting]
    rows = [
        {
            "id": row["id"],
            "customer": mask(row["sender_id"]),
            "channel": CHANNEL_NAMES.get(row["channel"], row["channel"]),
            "agent": row.get("assigned_to") or row.get("closed_by") or "–",
            "first_reply": seconds_between(row["created_at"], row.get("first_reply_at")),
            "to_close": seconds_between(row["created_at"], row.get("closed_at")),
            "rating": row.get("rating"),
            "closed_ago": waited(row.get("closed_at"), now),
        }
        for row in closed
    ]
    ratings = [row["rating"] for row in rows if row["rating"] is not None]
    return {
        "waiting": len(waiting),
        "assigned": len(queue) - len(waiting),
        "wait_p50": percentile(waits, 50),
        "wait_p95": percentile(waits, 95),
        "online": online,
        "closed": rows,
        "first_reply_median": _median(row["first_reply"] for row in rows),
        "to_close_median": _median(row["to_close"] for row in rows),
        "rating_mean": round(statistics.mean(ratings), 2) if ratings else None,
        "rated": len(ratings),
    }


async def dashboard_page(request: Request) -> Response:
    """Queue length, waiting time p50/p95, agents online, measures of closed handoffs."""
    db = store(request)
    now = request.app.state.clock()
    online = await db.users_seen_since(
        now - timedelta(minutes=ONLINE_MINUTES), sorted(AGENTS), at=now
    )
    closed = await db.closed_handoffs(RECENT_CLOSED)
    context = measures(await db.queue(), closed, now, online)
    role = (current_user(request) or {}).get("role")
    for row, handoff in zip(context["closed"], closed, strict=True):  # admins: whole id
        row["customer"] = display_sender(handoff["sender_id"], role)
    return render(request, "dashboard/page.html", {**context, "duration": duration})


def routes() -> List[Any]:
    """The dashboard's route (agents; admin too)."""
    return [route("/dashboard", dashboard_page, roles=AGENTS, methods=["GET"])]
