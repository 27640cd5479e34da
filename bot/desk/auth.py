"""Who may do what in the desk: routes with a declared policy, sessions, CSRF, login.

Every route of the desk is built with `route(...)`, which makes the access
policy a required part of writing one:

    from bot.desk.auth import AGENTS, current_user, route

    async def queue_page(request):
        user = current_user(request)          # never None behind a role policy
        ...

    routes = [
        route("/queue", queue_page, roles=AGENTS),
        route("/queue/{id}/claim", claim, roles=AGENTS, methods=["POST"]),
    ]

`roles` is a set of role names (admin may always enter as well) or `PUBLIC`
(the login page, static files, the customer's chat page). `DeskGuard`, the
middleware, runs before any endpoint and, for the route a request matches:
- refuses a route without a policy (403, logged): it cannot be forgotten;
- loads the session from its cookie (checked on every request: the session must
  be live and its user enabled; a disabled user is out at once);
- refuses anonymous requests: pages (GET, not htmx) are sent to /login, API,
  htmx and event-stream requests get 401;
- refuses other roles with 403;
- refuses a state-changing request (POST/PUT/PATCH/DELETE) without the right
  CSRF token: the form field `csrf_token` or the header `X-CSRF-Token` (htmx
  sends it from the page's <meta name="csrf-token">, see base.html). Anonymous
  forms (login, customer chat) use a token from a cookie (double submit).

Endpoints read the user with `current_user(request)` (a dict: id, name, role...)
and the token for a form with `csrf_token(request)`.
"""

from __future__ import annotations

import logging
import math
import secrets
from datetime import datetime, timedelta, timezone
from http.cookies import SimpleCookie
from typing import Any, Callable, Collection, Dict, FrozenSet, Iterable
from urllib.parse import parse_qs, quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.store.people import ROLES

log = logging.getLogger(__name__)

PUBLIC: FrozenSet[str] = frozenset({"<public>"})
"""The policy of routes anyone may open (login, static files, the customer chat)."""
ANY_ROLE: FrozenSet[str] = frozenset(ROLES)
AGENTS: FrozenSet[str] = frozenset({"agent", "admin"})
EDITORS: FrozenSet[str] = frozenset({"editor", "admin"})
TRAINERS: FrozenSet[str] = frozenset({"trainer", "admin"})
ADMINS: FrozenSet[str] = frozenset({"admin"})

SESSION_COOKIE = "crisisdesk_session"
ANON_CSRF_COOKIE = "crisisdesk_csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_FORM_BYTES = 1_000_000
PASSWORD_CHANGE_PATH = "/account/password"
# Open to a user who must still replace a one-time password.
_ALLOWED_BEFORE_PASSWORD_CHANGE = frozenset({PASSWORD_CHANGE_PATH, "/logout"})

HASHER = PasswordHasher()  # argon2id, RFC 9106 defaults of argon2-cffi (64 MiB, t=3, p=4)


# -- declaring routes ------------------------------------------------------------------


def _policy(roles: Any) -> FrozenSet[str]:
    if roles is PUBLIC:
        return PUBLIC
    if isinstance(roles, str) or not isinstance(roles, Iterable):
        raise TypeError("roles must be a set of role names or PUBLIC")
    policy = frozenset(roles)
    unknown = policy - ANY_ROLE
    if not policy or unknown:
        raise ValueError(f"roles must name some of {', '.join(ROLES)} (got {sorted(roles)})")
    return policy | ADMINS


def route(
    path: str,
    endpoint: Callable[..., Any],
    *,
    roles: Collection[str] | FrozenSet[str],
    methods: Collection[str] | None = None,
    name: str | None = None,
) -> Route:
    """A Starlette `Route` with its access policy: `roles` (a set of roles, or PUBLIC).

    admin is always allowed in. `DeskGuard` refuses any route built without this.
    """
    built = Route(path, endpoint, methods=list(methods) if methods else None, name=name)
    built.desk_policy = _policy(roles)  # type: ignore[attr-defined]
    return built


def mount(path: str, app: ASGIApp, *, roles: Collection[str], name: str | None = None) -> Mount:
    """A Starlette `Mount` (e.g. static files) with its access policy."""
    built = Mount(path, app=app, name=name)
    built.desk_policy = _policy(roles)  # type: ignore[attr-defined]
    return built


def policy_of(item: BaseRoute) -> FrozenSet[str] | None:
    """The declared policy of a route, or None when it has none."""
    return getattr(item, "desk_policy", None)


# -- what endpoints use ----------------------------------------------------------------


def current_user(request: Request) -> Dict[str, Any] | None:
    """The logged-in user (id, name, role, ...) or None; set by `DeskGuard`."""
    return request.scope.get("desk_user")


def csrf_token(request: Request) -> str:
    """The CSRF token to put in this request's forms and <meta name="csrf-token">."""
    user = current_user(request)
    if user is not None:
        return user["csrf_token"]
    return request.scope["desk_anon_csrf"]


def client_address(request_or_scope: Any) -> str:
    """The peer's address (the one a throttle counts); '' when unknown."""
    scope = getattr(request_or_scope, "scope", request_or_scope)
    client = scope.get("client")
    return str(client[0]) if client else ""


def wants_page(scope: Scope, headers: Dict[str, str]) -> bool:
    """True for a browser navigation (redirect to /login); False for API/htmx/SSE (401)."""
    path = scope.get("path", "")
    accept = headers.get("accept", "")
    return (
        scope.get("method", "GET") in ("GET", "HEAD")
        and not path.startswith("/api/")
        and "hx-request" not in headers
        and "text/event-stream" not in accept
        and ("text/html" in accept or "*/*" in accept or not accept)
    )


def hash_password(password: str) -> str:
    """The argon2id hash of a password (the only form in which it is stored)."""
    return HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches the hash; never raises on a bad hash."""
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """A random one-time password (about 100 bits), easy to read out and type."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


PASSWORD_MIN_LENGTH = 12


def password_problem(password: str, name: str) -> str | None:
    """Why a new password is refused (None when it is fine)."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"Please choose at least {PASSWORD_MIN_LENGTH} characters."
    if len(password) > 256:
        return "Please choose at most 256 characters."
    if name and name.lower() in password.lower():
        return "Please do not use your user name in the password."
    return None


# -- sessions ----------------------------------------------------------------------------


def session_cookie(settings: Any, value: str, max_age: int) -> str:
    """The Set-Cookie value for a session: HttpOnly, SameSite=Lax, Secure behind https."""
    cookie = SimpleCookie()
    cookie[SESSION_COOKIE] = value
    morsel = cookie[SESSION_COOKIE]
    morsel["path"] = "/"
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    morsel["max-age"] = max_age
    if is_https(settings):
        morsel["secure"] = True
    return morsel.OutputString()


def is_https(settings: Any) -> bool:
    """True when the desk is published over https (PUBLIC_BASE_URL)."""
    return (getattr(settings, "public_base_url", "") or "").lower().startswith("https://")


async def start_session(request: Request, user: Dict[str, Any], response: Response) -> None:
    """Opens a new session for `user` and sets its cookie on `response`."""
    app = request.app
    cfg = app.state.settings
    at = app.state.clock()
    session_id = secrets.token_urlsafe(32)
    await app.state.store.create_session(
        session_id,
        user["id"],
        secrets.token_urlsafe(32),
        _expiry(cfg, at, at),
        address=client_address(request),
        at=at,
    )
    response.headers.append(
        "set-cookie", session_cookie(cfg, session_id, int(cfg.desk_session_hours * 3600))
    )


async def end_session(request: Request, response: Response) -> None:
    """Ends the request's session (if any) and clears its cookie on `response`."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await request.app.state.store.end_session(session_id)
    response.headers.append("set-cookie", session_cookie(request.app.state.settings, "", 0))


def _expiry(cfg: Any, created: datetime, at: datetime) -> datetime:
    """A session ends after the idle time or the absolute lifetime, whichever comes first."""
    return min(
        created + timedelta(hours=cfg.desk_session_hours),
        at + timedelta(minutes=cfg.desk_session_idle_minutes),
    )


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


# -- login throttling --------------------------------------------------------------------


async def login_wait(store: Any, cfg: Any, name: str, address: str, at: datetime) -> float:
    """Seconds before this name or address may try again (0: now).

    Within the window, the first `desk_login_free_attempts` failures for a name
    (counted whether or not the name exists, so nothing tells which do) cost
    nothing; each further one doubles the wait, from `desk_login_delay_seconds`
    up to `desk_login_max_delay_seconds`. An address gets more free failures
    (several people may share one) and then the same doubling.
    """
    since = at - timedelta(minutes=cfg.desk_login_window_minutes)
    waits = [0.0]
    checks = [
        ({"user_name": name}, cfg.desk_login_free_attempts),
        ({"address": address}, cfg.desk_login_address_free_attempts),
    ]
    for key, free in checks:
        count, latest = await store.failed_logins(since=since, **key)
        if count >= free and latest:
            delay = min(
                cfg.desk_login_delay_seconds * 2 ** (count - free),
                cfg.desk_login_max_delay_seconds,
            )
            waits.append((_parse_time(latest) + timedelta(seconds=delay) - at).total_seconds())
    return max(waits)


# -- the middleware ----------------------------------------------------------------------


def _find_route(routes: Iterable[BaseRoute], scope: Scope) -> BaseRoute | None:
    partial = None
    for item in routes:
        match, _child = item.matches(scope)
        if match == Match.FULL:
            return item
        if match == Match.PARTIAL and partial is None:
            partial = item
    return partial


class DeskGuard:
    """ASGI middleware: session, anonymous/role refusals, CSRF; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets in the desk
            await send({"type": "websocket.close", "code": 1008})
            return
        request = Request(scope, receive)
        app = scope["app"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        matched = _find_route(app.routes, scope)
        policy = policy_of(matched) if matched is not None else None
        user = await self._load_user(app, request)
        scope["desk_user"] = user
        anon_token = request.cookies.get(ANON_CSRF_COOKIE) or ""
        new_anon_token = ""
        if user is None and len(anon_token) < 32:
            new_anon_token = anon_token = secrets.token_urlsafe(32)
        scope["desk_anon_csrf"] = anon_token

        refusal = None
        if matched is not None and policy is None:
            log.error(
                "refused %s: the route has no access policy (use bot.desk.auth.route)",
                scope["path"],
            )
            refusal = _refuse(request, 403, "This address has no access rule, so it is closed.")
        elif policy is PUBLIC:
            pass
        elif user is None:
            # Unknown addresses too: an anonymous visitor learns nothing about what exists.
            if wants_page(scope, headers):
                target = scope["path"] + (
                    "?" + scope["query_string"].decode("latin-1") if scope["query_string"] else ""
                )
                refusal = RedirectResponse("/login?next=" + quote(target, safe=""), 303)
            else:
                refusal = _refuse(request, 401, "Please sign in first.")
        elif matched is not None and user["role"] not in policy:
            refusal = _refuse(request, 403, "Your role does not give access to this page.")
        elif (
            user["must_change_password"]
            and matched is not None
            and scope["path"] not in _ALLOWED_BEFORE_PASSWORD_CHANGE
        ):
            if wants_page(scope, headers):
                refusal = RedirectResponse(PASSWORD_CHANGE_PATH, 303)
            else:
                refusal = _refuse(request, 403, "Please choose a new password first.")

        if refusal is None and scope["method"] in UNSAFE_METHODS and matched is not None:
            expected = user["csrf_token"] if user is not None else anon_token
            receive, sent = await self._csrf_sent(scope, receive, headers)
            if sent is None:
                refusal = _refuse(request, 413, "That form is too large.")
            elif not expected or not secrets.compare_digest(sent.encode(), expected.encode()):
                refusal = _refuse(
                    request,
                    403,
                    "This form has expired or did not come from the desk. "
                    "Please reload the page and try again.",
                )

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and new_anon_token:
                cookie = SimpleCookie()
                cookie[ANON_CSRF_COOKIE] = new_anon_token
                morsel = cookie[ANON_CSRF_COOKIE]
                morsel["path"] = "/"
                morsel["httponly"] = True
                morsel["samesite"] = "Lax"
                if is_https(app.state.settings):
                    morsel["secure"] = True
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (b"set-cookie", morsel.OutputString().encode("latin-1"))
                ]
            await send(message)

        if refusal is not None:
            await refusal(scope, receive, send_with_cookie)
            return
        await self.app(scope, receive, send_with_cookie)

    @staticmethod
    async def _load_user(app: Any, request: Request) -> Dict[str, Any] | None:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id or len(session_id) > 128:
            return None
        at = app.state.clock()
        store = app.state.store
        user = await store.session_user(session_id, at=at)
        if user is None:
            return None
        last_seen = _parse_time(user["session_last_seen_at"])
        if (at - last_seen).total_seconds() >= 60:
            created = _parse_time(user["session_created_at"])
            await store.touch_session(session_id, _expiry(app.state.settings, created, at), at=at)
        return user

    @staticmethod
    async def _csrf_sent(scope: Scope, receive: Receive, headers: Dict[str, str]):
        """(a receive that replays the body, the token sent or '' / None if too large)."""
        if "x-csrf-token" in headers:
            return receive, headers["x-csrf-token"]
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_FORM_BYTES:
                return receive, None
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        content_type = headers.get("content-type", "")
        token = ""
        if content_type.startswith("application/x-www-form-urlencoded"):
            values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get("csrf_token")
            token = values[0] if values else ""
        elif content_type.startswith("multipart/form-data"):
            form = await Request(scope, replay).form()
            token = str(form.get("csrf_token") or "")
            await form.close()
            replayed = False
        return replay, token


def _refuse(request: Request, status: int, message: str) -> Response:
    """A polite refusal: a small page for browsers, plain text for API/htmx calls."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    if "hx-request" in headers or request.url.path.startswith("/api/"):
        return PlainTextResponse(message, status)
    templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


def retry_after_text(seconds: float) -> str:
    """'about 3 minutes' and the like, for the throttled-login page."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 90:
        return f"{seconds} seconds"
    return f"about {math.ceil(seconds / 60)} minutes"


# -- login, logout, password ------------------------------------------------------------

# A real argon2 hash to check against when the name is unknown, so an unknown
# name takes as long as a wrong password (no user enumeration by timing).
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))


def safe_next(target: str | None) -> str:
    """A local path to go to after login ('/' unless `target` is one)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def login_page(request: Request) -> Response:
    """The login form (already logged in: home)."""
    from bot.desk.web import render

    if current_user(request) is not None:
        return RedirectResponse("/", 303)
    return render(request, "auth/login.html", {"next": safe_next(request.query_params.get("next"))})


async def login_submit(request: Request) -> Response:
    """Checks name and password (throttled per name and address); opens a session."""
    from bot.desk.web import render

    app = request.app
    cfg, store = app.state.settings, app.state.store
    form = await request.form()
    name = str(form.get("name") or "").strip().lower()[:64]
    password = str(form.get("password") or "")
    target = safe_next(str(form.get("next") or ""))
    address = client_address(request)
    at = app.state.clock()
    wait = await login_wait(store, cfg, name, address, at)
    if wait > 0:
        response = render(
            request,
            "auth/throttled.html",
            {"wait": retry_after_text(wait), "next": target},
            status_code=429,
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    user = await store.find_user(name) if name else None
    ok = await run_in_threadpool(
        verify_password, user["password_hash"] if user else _DUMMY_HASH, password
    )
    ok = ok and user is not None and not user["disabled"]
    await store.record_login_attempt(name, address, ok, at=at)
    if not ok:
        if user is not None:
            await store.audit(
                "anonymous", "login.failed", f"user:{user['name']}", {"address": address}
            )
        return render(
            request,
            "auth/login.html",
            {
                "next": target,
                "error": "That name and password do not match an active account.",
                "name": name,
            },
            status_code=401,
        )
    if HASHER.check_needs_rehash(user["password_hash"]):
        new_hash = await run_in_threadpool(hash_password, password)
        await store.set_password_hash(
            user["id"], new_hash, must_change=user["must_change_password"]
        )
    response = RedirectResponse(
        PASSWORD_CHANGE_PATH if user["must_change_password"] else target, 303
    )
    await start_session(request, user, response)
    await store.audit(user["name"], "login", f"user:{user['name']}", {"address": address})
    return response


async def logout(request: Request) -> Response:
    """Ends the session and goes back to the login page."""
    user = current_user(request)
    response = RedirectResponse("/login", 303)
    await end_session(request, response)
    if user is not None:
        await request.app.state.store.audit(user["name"], "logout", f"user:{user['name']}")
    return response


async def password_page(request: Request) -> Response:
    """The form to choose a new password (required after a one-time password)."""
    from bot.desk.web import render

    return render(request, "auth/password.html", {})


async def password_submit(request: Request) -> Response:
    """Changes the logged-in user's password (the current one is asked again)."""
    from bot.desk.web import render

    store = request.app.state.store
    user = current_user(request)
    form = await request.form()
    current = str(form.get("current") or "")
    new = str(form.get("new") or "")
    repeat = str(form.get("repeat") or "")
    full = await store.find_user(user["name"])
    error = None
    if not await run_in_threadpool(verify_password, full["password_hash"], current):
        error = "The current password is not right."
    elif new != repeat:
        error = "The two new passwords differ."
    elif new == current:
        error = "Please choose a password different from the current one."
    else:
        error = password_problem(new, user["name"])
    if error:
        return render(request, "auth/password.html", {"error": error}, status_code=400)
    await store.set_password_hash(
        user["id"], await run_in_threadpool(hash_password, new), must_change=False
    )
    # Every session of this user ends (a stolen one too); a new one starts here.
    await store.end_user_sessions(user["id"])
    response = RedirectResponse("/", 303)
    await start_session(request, user, response)
    await store.audit(user["name"], "user.password", f"user:{user['name']}")
    return response


routes = [
    route("/login", login_page, roles=PUBLIC, methods=["GET"]),
    route("/login", login_submit, roles=PUBLIC, methods=["POST"]),
    route("/logout", logout, roles=ANY_ROLE, methods=["POST"]),
    route(PASSWORD_CHANGE_PATH, password_page, roles=ANY_ROLE, methods=["GET"]),
    route(PASSWORD_CHANGE_PATH, password_submit, roles=ANY_ROLE, methods=["POST"]),
]

__all__ = [
    "ADMINS",
    "AGENTS",
    "ANY_ROLE",
    "EDITORS",
    "PUBLIC",
    "TRAINERS",
    "DeskGuard",
    "csrf_token",
    "current_user",
    "hash_password",
    "mount",
    "route",
    "verify_password",
]
