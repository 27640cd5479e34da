"""The desk's post-crisis reports (editors and admins): the same report as `crisisdesk report`.

`/reports` lists the incidents; `/reports/incidents/{id}` shows an incident's
report (`?from=&to=` narrow it), `/reports/incidents/{id}/report.html` is the
self-contained file the command writes, and `/reports/incidents/{id}/{table}.csv`
one underlying table. Everything is built by bot/report.py from a plain
`Store` in a worker thread (a report reads many tables); customer ids and
phone numbers are masked unless the reader is an admin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot import report as post_crisis
from bot.desk import web
from bot.desk.auth import EDITORS, current_user, route
from bot.store import NotFound, Store


def _role(request: Request) -> str | None:
    user = current_user(request)
    return user["role"] if user else None


def _in_thread(path: Path, func: Callable[[Store], Any]) -> Any:
    store = Store.open(path, migrate=False)
    try:
        return func(store)
    finally:
        store.close()


async def _with_store(request: Request, func: Callable[[Store], Any]) -> Any:
    return await run_in_threadpool(_in_thread, web.store(request).path, func)


def _narrowing(request: Request) -> Dict[str, str]:
    return {
        key: request.query_params.get(key, "").strip()[:40]
        for key in ("from", "to")
        if request.query_params.get(key, "").strip()
    }


def _incident_id(request: Request) -> int | None:
    value = request.path_params["incident_id"]
    return int(value) if value.isdigit() else None


def _missing(request: Request, incident: str) -> Response:
    return web.render(
        request, "content/not_found.html", {"what": f"incident {incident}"}, status_code=404
    )


async def reports_list(request: Request) -> Response:
    """Every incident, newest first, with a link to its report."""
    incidents = await web.store(request).list_incidents()
    incidents = sorted(incidents, key=lambda i: i["started_at"], reverse=True)
    return web.render(request, "reports/list.html", {"incidents": incidents})


async def _data(request: Request) -> tuple[Dict[str, Any] | None, str, Response | None]:
    """The report data asked for, a problem with the range, or a response to send instead."""
    incident_id = _incident_id(request)
    if incident_id is None:
        return None, "", _missing(request, request.path_params["incident_id"])
    narrow = _narrowing(request)

    def build(store: Store) -> Dict[str, Any]:
        return post_crisis.build_report(store, incident_id, narrow.get("from"), narrow.get("to"))

    try:
        return await _with_store(request, build), "", None
    except NotFound:
        return None, "", _missing(request, str(incident_id))
    except post_crisis.ReportProblem as problem:
        if not narrow:
            raise

        # The range asked for is empty or malformed: show the whole report and say why.
        def whole(store: Store) -> Dict[str, Any]:
            return post_crisis.build_report(store, incident_id)

        return await _with_store(request, whole), str(problem), None


async def report_page(request: Request) -> Response:
    """An incident's report inside the desk, with its downloads."""
    data, problem, refusal = await _data(request)
    if refusal is not None:
        return refusal
    assert data is not None
    narrow = {} if problem else _narrowing(request)
    context = {
        **post_crisis.view(data, _role(request)),
        "tables": post_crisis.CSV_TABLES,
        "narrow_from": narrow.get("from", ""),
        "narrow_to": narrow.get("to", ""),
        "query": ("?" + urlencode(narrow)) if narrow else "",
        "problem": problem,
    }
    return web.render(request, "reports/page.html", context, status_code=422 if problem else 200)


async def report_file(request: Request) -> Response:
    """The self-contained report.html (what `crisisdesk report` writes)."""
    data, problem, refusal = await _data(request)
    if refusal is not None:
        return refusal
    if problem:
        return Response(problem, status_code=422, media_type="text/plain")
    assert data is not None
    html = post_crisis.render_html(data, _role(request))
    name = f"incident-{data['incident']['id']}-report.html"
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def report_csv(request: Request) -> Response:
    """One underlying table of the report as CSV."""
    table = request.path_params["table"]
    if table not in post_crisis.CSV_TABLES:
        return Response(f"no table {table!r} in the report", 404, media_type="text/plain")
    data, problem, refusal = await _data(request)
    if refusal is not None:
        return refusal
    if problem:
        return Response(problem, status_code=422, media_type="text/plain")
    assert data is not None
    role = _role(request)
    text = await _with_store(request, lambda store: post_crisis.table_csv(store, data, table, role))
    await web.audit(
        request, "report.export", f"incident:{data['incident']['id']}", {"table": table}
    )
    name = f"incident-{data['incident']['id']}-{table}.csv"
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def routes() -> List[Any]:
    """The reports' routes (editors; admins too)."""
    get = ["GET"]
    return [
        route("/reports", reports_list, roles=EDITORS, methods=get),
        route("/reports/incidents/{incident_id}", report_page, roles=EDITORS, methods=get),
        route(
            "/reports/incidents/{incident_id}/report.html", report_file, roles=EDITORS, methods=get
        ),
        route(
            "/reports/incidents/{incident_id}/{table}.csv", report_csv, roles=EDITORS, methods=get
        ),
    ]
