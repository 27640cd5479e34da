"""Corrections and broadcasts in the desk: progress per campaign, and the broadcast button.

Editors and admins (`/campaigns`) see every campaign (a fact's answer version
sent to its askers and to those told an earlier version; an incident's statement
broadcast) with its deliveries counted by state: queued, sent, delivered, read,
failed, waiting for WhatsApp's window, opted out, unreachable. One campaign's
page lists its recipients (phone numbers masked except for admins,
`bot.privacy.display_sender`). An active incident with a live statement can be
broadcast from the list (POST with the session's CSRF token, audited); a second
press sends nobody anything twice (`bot.corrections.broadcast_statement`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot import corrections
from bot.desk.auth import EDITORS, current_user, route
from bot.desk.web import audit, render, store
from bot.privacy import display_sender
from bot.store import NotFound, Store

# The columns of the progress table, in the order a delivery moves.
PROGRESS = [
    ("queued", "Queued"),
    ("waiting_window", "Waiting"),  # for WhatsApp's 24-hour window (the template went)
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("read", "Read"),
    ("failed", "Failed"),
    ("opted_out", "Opted out"),
    ("unreachable", "Unreachable"),
    ("superseded", "Replaced"),
]


def _run(path: Path, func: Callable[..., Any], *args: Any) -> Any:
    opened = Store.open(path, migrate=False)
    try:
        return func(opened, *args)
    finally:
        opened.close()


def _back(path: str, **query: str) -> RedirectResponse:
    shown = {k: v for k, v in query.items() if v}
    return RedirectResponse(path + ("?" + urlencode(shown) if shown else ""), status_code=303)


def _title(campaign: Dict[str, Any], incidents: Dict[int, Dict[str, Any]]) -> str:
    if campaign["kind"] == "correction":
        return f"Fact {campaign['fact_id']}, answer version {campaign['fact_version']}"
    incident = incidents.get(int(campaign["incident_id"] or 0))
    name = incident["name"] if incident else f"incident {campaign['incident_id']}"
    return f"Statement of {name} (statement {campaign['statement_id']})"


async def _incidents(db: Any) -> Dict[int, Dict[str, Any]]:
    return {int(i["id"]): i for i in await db.list_incidents()}


async def campaigns_page(request: Request) -> Response:
    """Every campaign with its progress, and the incidents whose statement can be broadcast."""
    db = store(request)
    incidents = await _incidents(db)
    campaigns = await db.list_campaigns()
    for campaign in campaigns:
        campaign["title"] = _title(campaign, incidents)
    broadcastable: List[Dict[str, Any]] = []
    for incident in incidents.values():
        if incident["status"] != "active":
            continue
        live = await db.live_statement(incident["id"])
        if live:
            broadcastable.append({**incident, "statement": live})
    return render(
        request,
        "campaigns/list.html",
        {
            "campaigns": campaigns,
            "progress": PROGRESS,
            "broadcastable": broadcastable,
            "notice": request.query_params.get("notice", ""),
            "problem": request.query_params.get("problem", ""),
        },
    )


async def campaign_page(request: Request) -> Response:
    """One campaign: its progress and every recipient's delivery."""
    db = store(request)
    try:
        campaign = await db.get_campaign(int(request.path_params["campaign_id"]))
    except NotFound:
        return render(request, "campaigns/not_found.html", {}, 404)
    campaign["title"] = _title(campaign, await _incidents(db))
    role = (current_user(request) or {}).get("role")
    deliveries = await db.list_deliveries(int(campaign["id"]))
    for delivery in deliveries:
        delivery["shown_recipient"] = display_sender(delivery["recipient"], role)
        delivery["template"] = None
        if delivery["template_outbox_id"]:
            sent = await db.get_outgoing(int(delivery["template_outbox_id"]))
            delivery["template"] = sent["delivery_status"] or sent["status"]
    return render(
        request,
        "campaigns/detail.html",
        {
            "campaign": campaign,
            "deliveries": deliveries,
            "progress": PROGRESS,
            "labels": dict(PROGRESS),
            "notice": request.query_params.get("notice", ""),
        },
    )


async def broadcast(request: Request) -> Response:
    """Broadcasts an active incident's live statement (editors, admins)."""
    form = await request.form()
    try:
        incident_id = int(str(form.get("incident_id") or ""))
    except ValueError:
        return _back("/campaigns", problem="choose an incident")
    actor = (current_user(request) or {}).get("name") or "anonymous"
    try:
        done = await run_in_threadpool(
            _run, store(request).path, corrections.broadcast_statement, incident_id, actor
        )
    except NotFound:
        return _back("/campaigns", problem=f"there is no incident {incident_id}")
    except ValueError as problem:
        return _back("/campaigns", problem=str(problem))
    await audit(
        request,
        "incident.broadcast",
        f"incident:{incident_id}",
        {"campaigns": done.campaigns, "queued": done.queued, "waiting": done.waiting},
    )
    notice = (
        f"{done.queued} message(s) queued ({done.waiting} waiting for WhatsApp's window),"
        f" {done.opted_out} opted out, {done.unreachable} unreachable"
    )
    target = f"/campaigns/{done.campaigns[0]}" if done.campaigns else "/campaigns"
    return _back(target, notice=notice)


def routes() -> List[Any]:
    """The campaigns area (editors and admins)."""
    return [
        route("/campaigns", campaigns_page, roles=EDITORS, methods=["GET"]),
        route("/campaigns/{campaign_id:int}", campaign_page, roles=EDITORS, methods=["GET"]),
        route("/campaigns/broadcast", broadcast, roles=EDITORS, methods=["POST"]),
    ]
