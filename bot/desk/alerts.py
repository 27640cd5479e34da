"""The desk's early-warning alerts: spikes and emerging topics, seen and acknowledged.

`/alerts` lists the alerts bot/alerts.py raised (not yet acknowledged first),
`/alerts/ID` shows one with its counts, baseline and scrubbed example messages
(stored scrubbed; autoescaped like every customer text), and `POST
/alerts/ID/ack` records who acknowledged it (audited; a second acknowledgement
changes nothing). `/alerts/badge` is the nav's count of unacknowledged alerts,
a fragment base.html loads and refreshes. Agents, editors and admins.
"""

from __future__ import annotations

from typing import Any, Dict, List

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.alerts import alert_title
from bot.desk.auth import current_user, route
from bot.desk.web import audit, render, store
from bot.store import NotFound

ROLES = frozenset({"agent", "editor", "admin"})
SHOWN = 200


def _shown(alert: Dict[str, Any]) -> Dict[str, Any]:
    return {**alert, "title": alert_title(alert)}


def _id(request: Request) -> int | None:
    try:
        return int(request.path_params["alert_id"])
    except (KeyError, ValueError):
        return None


async def alerts_page(request: Request) -> Response:
    """Every alert, those nobody acknowledged first, newest first within each."""
    rows = [_shown(a) for a in await store(request).list_alerts("all", SHOWN)]
    waiting: List[Dict[str, Any]] = [a for a in rows if not a["acknowledged_at"]]
    seen = [a for a in rows if a["acknowledged_at"]]
    return render(
        request,
        "alerts/list.html",
        {
            "waiting": waiting,
            "seen": seen,
            "notice": request.query_params.get("notice", ""),
        },
    )


async def alert_page(request: Request) -> Response:
    """One alert: what, how many against the usual, examples, acknowledgement."""
    alert_id = _id(request)
    try:
        alert = await store(request).get_alert(alert_id) if alert_id is not None else None
    except NotFound:
        alert = None
    if alert is None:
        return render(request, "alerts/missing.html", {}, status_code=404)
    return render(
        request,
        "alerts/page.html",
        {
            "alert": _shown(alert),
            "notice": request.query_params.get("notice", ""),
        },
    )


async def acknowledge(request: Request) -> Response:
    """Records that the logged-in user saw the alert (once)."""
    alert_id = _id(request)
    user = current_user(request)
    db = store(request)
    try:
        if alert_id is None:
            raise NotFound("no such alert")
        changed = await db.acknowledge_alert(alert_id, user["name"])
    except NotFound:
        return render(request, "alerts/missing.html", {}, status_code=404)
    if changed:
        await audit(request, "alert.acknowledge", f"alert:{alert_id}")
    form = await request.form()
    back = "/alerts" if form.get("back") == "list" else f"/alerts/{alert_id}"
    notice = "acknowledged" if changed else "already acknowledged"
    return RedirectResponse(f"{back}?notice={notice.replace(' ', '+')}", status_code=303)


async def badge(request: Request) -> Response:
    """The nav's count of unacknowledged alerts (an HTML fragment; empty when none)."""
    count = await store(request).unacknowledged_alert_count()
    if not count:
        return HTMLResponse("")
    return HTMLResponse(
        f'<span class="badge count alerts" title="{count} not acknowledged">{count}</span>'
    )


def routes() -> List[Any]:
    """The alerts area (agents, editors, admins)."""
    return [
        route("/alerts", alerts_page, roles=ROLES, methods=["GET"]),
        route("/alerts/badge", badge, roles=ROLES, methods=["GET"]),
        route("/alerts/{alert_id}", alert_page, roles=ROLES, methods=["GET"]),
        route("/alerts/{alert_id}/ack", acknowledge, roles=ROLES, methods=["POST"]),
    ]
