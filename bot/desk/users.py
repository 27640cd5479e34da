"""Admins' pages: users (add, change role, disable/enable, reset password) and the audit log.

A new user (or a reset) gets a random one-time password, shown once on the
page that answers the form (never stored in clear, never in a URL or log); the
user must choose their own at first login. Disabling a user ends their sessions
at once. An admin cannot disable or demote themselves, and the last enabled
admin always stays, so the desk cannot be locked. Every change is audited.
"""

from __future__ import annotations

from typing import Any, Dict

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.desk.auth import ADMINS, current_user, hash_password, new_password, route
from bot.desk.web import audit, render, store
from bot.store import NotFound
from bot.store.people import ROLES

AUDIT_PAGE = 100

NOTICES = {
    "role": "Role changed.",
    "disabled": "User disabled; their sessions have ended.",
    "enabled": "User enabled.",
}


async def _users_page(request: Request, status_code: int = 200, **context: Any) -> Response:
    users = await store(request).list_users()
    notice = NOTICES.get(request.query_params.get("done", ""))
    response = render(
        request,
        "users/list.html",
        {"users": users, "roles": ROLES, "notice": notice, **context},
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"  # the page may show a one-time password
    return response


async def users_list(request: Request) -> Response:
    """Every user with their role and state; the form to add one."""
    return await _users_page(request)


async def users_add(request: Request) -> Response:
    """Adds a user with a one-time password, shown once in the answer."""
    form = await request.form()
    name = str(form.get("name") or "").strip().lower()
    role = str(form.get("role") or "")
    password = new_password()
    try:
        user = await store(request).create_user(
            name, role, await run_in_threadpool(hash_password, password), must_change=True
        )
    except ValueError as problem:
        return await _users_page(
            request, status_code=400, error=str(problem), form={"name": name, "role": role}
        )
    await audit(request, "user.add", f"user:{user['name']}", {"role": role})
    return await _users_page(request, created={"name": user["name"], "password": password})


async def _target(request: Request) -> Dict[str, Any] | None:
    try:
        return await store(request).get_user(int(request.path_params["user_id"]))
    except (NotFound, ValueError):
        return None


async def _last_admin(request: Request, user: Dict[str, Any]) -> bool:
    """True when `user` is the only enabled admin."""
    admins = [
        u for u in await store(request).list_users() if u["role"] == "admin" and not u["disabled"]
    ]
    return [u["id"] for u in admins] == [user["id"]]


async def _refuse(request: Request, message: str, status_code: int = 400) -> Response:
    return await _users_page(request, status_code=status_code, error=message)


async def users_role(request: Request) -> Response:
    """Changes a user's role."""
    user = await _target(request)
    if user is None:
        return await _refuse(request, "There is no such user.", 404)
    role = str((await request.form()).get("role") or "")
    if role not in ROLES:
        return await _refuse(request, f"Unknown role. Choose one of: {', '.join(ROLES)}.")
    if role == user["role"]:
        return RedirectResponse("/users", 303)
    if user["id"] == current_user(request)["id"]:
        return await _refuse(request, "You cannot change your own role; ask another admin.")
    if user["role"] == "admin" and await _last_admin(request, user):
        return await _refuse(request, "This is the last active admin: add another one first.")
    await store(request).set_user_role(user["id"], role)
    await audit(request, "user.role", f"user:{user['name']}", {"from": user["role"], "to": role})
    return RedirectResponse("/users?done=role", 303)


def _set_disabled(disabled: bool):
    async def change(request: Request) -> Response:
        user = await _target(request)
        if user is None:
            return await _refuse(request, "There is no such user.", 404)
        if disabled and user["id"] == current_user(request)["id"]:
            return await _refuse(request, "You cannot disable yourself; ask another admin.")
        if disabled and user["role"] == "admin" and await _last_admin(request, user):
            return await _refuse(request, "This is the last active admin: add another one first.")
        if user["disabled"] != disabled:
            await store(request).set_user_disabled(user["id"], disabled)
            action = "user.disable" if disabled else "user.enable"
            await audit(request, action, f"user:{user['name']}")
        return RedirectResponse("/users?done=" + ("disabled" if disabled else "enabled"), 303)

    change.__doc__ = "Disables a user (ending their sessions)." if disabled else "Enables a user."
    return change


async def users_reset(request: Request) -> Response:
    """Gives a user a new one-time password (shown once) and ends their sessions."""
    user = await _target(request)
    if user is None:
        return await _refuse(request, "There is no such user.", 404)
    if user["id"] == current_user(request)["id"]:
        return await _refuse(request, "Change your own password on your account page.")
    password = new_password()
    await store(request).set_password_hash(
        user["id"], await run_in_threadpool(hash_password, password), must_change=True
    )
    await store(request).end_user_sessions(user["id"])
    await audit(request, "user.password_reset", f"user:{user['name']}")
    return await _users_page(
        request, created={"name": user["name"], "password": password, "reset": True}
    )


async def audit_page(request: Request) -> Response:
    """The audit log, newest first, filtered by actor, action, subject and dates."""
    query = request.query_params
    filters = {
        key: query.get(key, "").strip()[:100]
        for key in ("actor", "action", "subject", "since", "until")
    }
    try:
        offset = max(0, int(query.get("offset") or 0))
    except ValueError:
        offset = 0
    rows = await store(request).list_audit(
        **{key: value or None for key, value in filters.items()},
        limit=AUDIT_PAGE + 1,
        offset=offset,
    )
    more = len(rows) > AUDIT_PAGE
    return render(
        request,
        "users/audit.html",
        {
            "rows": rows[:AUDIT_PAGE],
            "filters": filters,
            "offset": offset,
            "next_offset": offset + AUDIT_PAGE if more else None,
            "prev_offset": max(0, offset - AUDIT_PAGE) if offset else None,
            "actors": [u["name"] for u in await store(request).list_users()],
        },
    )


post = ["POST"]
routes = [
    route("/users", users_list, roles=ADMINS, methods=["GET"]),
    route("/users", users_add, roles=ADMINS, methods=post),
    route("/users/{user_id:int}/role", users_role, roles=ADMINS, methods=post),
    route("/users/{user_id:int}/disable", _set_disabled(True), roles=ADMINS, methods=post),
    route("/users/{user_id:int}/enable", _set_disabled(False), roles=ADMINS, methods=post),
    route("/users/{user_id:int}/password", users_reset, roles=ADMINS, methods=post),
    route("/audit", audit_page, roles=ADMINS, methods=["GET"]),
]
