"""Incidents in the desk: the list, opening one, its statement versions, four-eyes approval.

Editors and admins open incidents, write statement versions, approve or reject
another person's draft and close incidents; agents may look (the queue links an
incident's tag here). Every change goes through bot/incidents.py, as the CLI's
does, which writes the audit log: the approver is the logged-in user, and the
writer approving their own version is refused (403) with the reason on the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot import incidents
from bot.desk import web
from bot.desk.auth import EDITORS, current_user, route
from bot.store import NotFound, Store
from bot.store.incidents import SEVERITIES

VIEWERS = frozenset({"agent", "editor", "admin"})
MAX_FIELD = 8000  # characters per form field read (the checks allow less)
# The desk's badge classes (desk.css) for a version's status.
STATUS_BADGE = {"live": "published", "draft": "draft", "superseded": "", "rejected": "off"}
INCIDENT_FIELDS = ("name", "severity", "keywords", "examples_tr", "examples_en", "started_at")


def _run_sync(path: Path, func: Callable[..., Any], args: Sequence[Any], kwargs: Dict) -> Any:
    store = Store.open(path, migrate=False)
    try:
        return func(store, *args, **kwargs)
    finally:
        store.close()


async def _sync(request: Request, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Runs `func(store, *args, **kwargs)` on a plain `Store` in a worker thread."""
    return await run_in_threadpool(_run_sync, web.store(request).path, func, args, kwargs)


def _actor(request: Request) -> str:
    user = current_user(request)
    return user["name"] if user else "anonymous"


def _can_edit(request: Request) -> bool:
    user = current_user(request)
    return bool(user and user["role"] in incidents.STATEMENT_ROLES)


async def _form(request: Request, fields: Sequence[str]) -> Dict[str, str]:
    form = await request.form()
    out = {}
    for name in fields:
        value = form.get(name)
        out[name] = value[:MAX_FIELD] if isinstance(value, str) else ""
    return out


def _back(path: str, **query: str) -> RedirectResponse:
    shown = {k: v for k, v in query.items() if v}
    return RedirectResponse(path + ("?" + urlencode(shown) if shown else ""), status_code=303)


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def _not_found(request: Request, what: str) -> Response:
    return web.render(
        request, "incidents/not_found.html", {"what": what, "can_edit": False}, status_code=404
    )


# -- pages ----------------------------------------------------------------------------


def _board(store: Store) -> List[Dict[str, Any]]:
    rows = []
    for incident in store.list_incidents():
        live = store.live_statement(int(incident["id"]))
        drafts = [s for s in store.list_statements(int(incident["id"])) if s["status"] == "draft"]
        rows.append({**incident, "live": live, "drafts": len(drafts)})
    return rows


async def incidents_list(request: Request) -> Response:
    """Every incident, active ones first: severity, start, live version, drafts waiting."""
    return web.render(
        request,
        "incidents/list.html",
        {
            "incidents": await _sync(request, _board),
            "can_edit": _can_edit(request),
            "notice": request.query_params.get("notice", "")[:300],
        },
    )


def _new_form(
    request: Request, row: Dict[str, str], errors: Dict[str, str], status_code: int = 200
) -> Response:
    return web.render(
        request,
        "incidents/new.html",
        {"row": row, "errors": errors, "severities": SEVERITIES, "can_edit": True},
        status_code=status_code,
    )


async def incident_new(request: Request) -> Response:
    """The form for a new incident."""
    return _new_form(request, {name: "" for name in INCIDENT_FIELDS}, {})


async def incident_create(request: Request) -> Response:
    """Opens an incident, or shows the form again with every problem (422)."""
    row = await _form(request, INCIDENT_FIELDS)
    keywords = incidents.split_keywords(row["keywords"])
    examples = {lang: incidents.split_lines(row[f"examples_{lang}"]) for lang in ("tr", "en")}
    errors = incidents.incident_problems(row["name"], row["severity"], keywords, examples)
    try:
        incidents.parse_started_at(row["started_at"])
    except incidents.IncidentProblem as problem:
        errors["started_at"] = str(problem)
    if errors:
        return _new_form(request, row, errors, 422)
    incident = await _sync(
        request,
        incidents.open_incident,
        name=row["name"],
        severity=row["severity"],
        keywords=keywords,
        examples=examples,
        by=_actor(request),
        started_at=row["started_at"] or None,
    )
    return _back(
        f"/incidents/{incident['id']}",
        notice="incident opened; customers see nothing until a statement is approved",
    )


def _page_context(store: Store, incident_id: int) -> Dict[str, Any] | None:
    try:
        found = incidents.summary(store, incident_id)
    except NotFound:
        return None
    return {"incident": found}


async def _incident_page(
    request: Request,
    incident_id: int | None,
    *,
    problem: str = "",
    draft: Dict[str, str] | None = None,
    errors: Dict[str, str] | None = None,
    topic: Dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = await _sync(request, _page_context, incident_id) if incident_id else None
    if context is None:
        return _not_found(request, f"incident {request.path_params.get('incident_id', '')}")
    incident = context["incident"]
    shown_topic = topic or {
        "severity": incident["severity"],
        "keywords": ", ".join(incident["keywords"]),
        "examples_tr": "\n".join(incident["examples"]["tr"]),
        "examples_en": "\n".join(incident["examples"]["en"]),
    }
    return web.render(
        request,
        "incidents/page.html",
        {
            **context,
            "me": _actor(request),
            "can_edit": _can_edit(request),
            "badge": STATUS_BADGE,
            "notice": request.query_params.get("notice", "")[:300],
            "problem": problem or request.query_params.get("problem", "")[:300],
            "draft": draft or {"text_tr": "", "text_en": ""},
            "errors": errors or {},
            "topic": shown_topic,
            "severities": SEVERITIES,
        },
        status_code=status_code,
    )


async def incident_page(request: Request) -> Response:
    """One incident: its topic, statement versions (who wrote, approved, when), actions."""
    return await _incident_page(request, _int(request.path_params["incident_id"]))


# -- changes --------------------------------------------------------------------------


async def _existing(request: Request) -> int | None:
    incident_id = _int(request.path_params["incident_id"])
    if incident_id is None:
        return None
    try:
        await web.store(request).get_incident(incident_id)
    except NotFound:
        return None
    return incident_id


async def statement_create(request: Request) -> Response:
    """Saves a new version of the statement as a draft (422 with the problems)."""
    incident_id = await _existing(request)
    if incident_id is None:
        return _not_found(request, f"incident {request.path_params['incident_id']}")
    row = await _form(request, ("text_tr", "text_en"))
    errors = incidents.statement_problems(row["text_tr"].strip(), row["text_en"].strip())
    if errors:
        return await _incident_page(request, incident_id, draft=row, errors=errors, status_code=422)
    try:
        statement = await _sync(
            request,
            incidents.write_statement,
            incident_id,
            text_tr=row["text_tr"],
            text_en=row["text_en"],
            by=_actor(request),
        )
    except incidents.IncidentProblem as problem:
        return await _incident_page(
            request, incident_id, problem=str(problem), draft=row, status_code=409
        )
    return _back(
        f"/incidents/{incident_id}",
        notice=f"version {statement['version']} saved as a draft: another editor or admin"
        " must approve it before customers see it",
    )


async def _statement_of(request: Request, incident_id: int) -> Dict[str, Any] | None:
    statement_id = _int(request.path_params["statement_id"])
    if statement_id is None:
        return None
    try:
        statement = await web.store(request).get_statement(statement_id)
    except NotFound:
        return None
    return statement if int(statement["incident_id"]) == incident_id else None


async def statement_approve(request: Request) -> Response:
    """Approves a draft: it goes live. Its writer is refused (403), with the reason shown."""
    incident_id = await _existing(request)
    statement = await _statement_of(request, incident_id) if incident_id else None
    if incident_id is None or statement is None:
        return _not_found(request, "statement")
    try:
        live = await _sync(
            request, incidents.approve_statement, int(statement["id"]), by=_actor(request)
        )
    except incidents.NotAllowed as refused:
        return await _incident_page(request, incident_id, problem=str(refused), status_code=403)
    except incidents.IncidentProblem as refused:
        return await _incident_page(request, incident_id, problem=str(refused), status_code=409)
    return _back(
        f"/incidents/{incident_id}",
        notice=f"version {live['version']} is live: customers writing about this topic get it"
        " first, once each",
    )


async def statement_reject(request: Request) -> Response:
    """Rejects a draft: it never goes live."""
    incident_id = await _existing(request)
    statement = await _statement_of(request, incident_id) if incident_id else None
    if incident_id is None or statement is None:
        return _not_found(request, "statement")
    try:
        done = await _sync(
            request, incidents.reject_statement, int(statement["id"]), by=_actor(request)
        )
    except incidents.IncidentProblem as refused:
        return await _incident_page(request, incident_id, problem=str(refused), status_code=409)
    return _back(f"/incidents/{incident_id}", notice=f"version {done['version']} rejected")


async def topic_change(request: Request) -> Response:
    """Saves an active incident's severity, keywords and examples (422 with the problems)."""
    incident_id = await _existing(request)
    if incident_id is None:
        return _not_found(request, f"incident {request.path_params['incident_id']}")
    row = await _form(request, ("severity", "keywords", "examples_tr", "examples_en"))
    try:
        await _sync(
            request,
            incidents.change_topic,
            incident_id,
            by=_actor(request),
            severity=row["severity"],
            keywords=incidents.split_keywords(row["keywords"]),
            examples={
                lang: incidents.split_lines(row[f"examples_{lang}"]) for lang in ("tr", "en")
            },
        )
    except incidents.IncidentProblem as problem:
        return await _incident_page(
            request, incident_id, problem=str(problem), topic=row, status_code=422
        )
    return _back(f"/incidents/{incident_id}", notice="topic saved")


async def incident_close(request: Request) -> Response:
    """Closes an incident: no more statement, greeting line or priority for its topic."""
    incident_id = await _existing(request)
    if incident_id is None:
        return _not_found(request, f"incident {request.path_params['incident_id']}")
    await _sync(request, incidents.close_incident, incident_id, by=_actor(request))
    return _back(f"/incidents/{incident_id}", notice="incident closed")


def routes() -> List[Any]:
    """The incidents area: agents may look; editors and admins change."""
    get, post = ["GET"], ["POST"]
    base = "/incidents/{incident_id}"
    return [
        route("/incidents", incidents_list, roles=VIEWERS, methods=get),
        route("/incidents/new", incident_new, roles=EDITORS, methods=get),
        route("/incidents/new", incident_create, roles=EDITORS, methods=post),
        route(base, incident_page, roles=VIEWERS, methods=get),
        route(f"{base}/statements", statement_create, roles=EDITORS, methods=post),
        route(
            f"{base}/statements/{{statement_id}}/approve",
            statement_approve,
            roles=EDITORS,
            methods=post,
        ),
        route(
            f"{base}/statements/{{statement_id}}/reject",
            statement_reject,
            roles=EDITORS,
            methods=post,
        ),
        route(f"{base}/topic", topic_change, roles=EDITORS, methods=post),
        route(f"{base}/close", incident_close, roles=EDITORS, methods=post),
    ]
