"""The desk's Starlette app: `create_app(settings=None, store=None)`.

Each area is a module of this package with its routes, every one built with
`bot.desk.auth.route(...)` (an access policy is required); the module exposes
them as `routes` (a list, or a function returning one), and may expose
`exception_handlers` (exception class -> handler) for the refusals its routes
raise. `AREAS` lists the modules; one not written yet is skipped, so areas land
independently.

On `app.state`: `settings`, `store` (an `AsyncStore`: await every call),
`templates` (see bot/desk/web.py) and `clock` (now, as an aware UTC datetime;
tests move it forward instead of sleeping). Background tasks start and stop with
the app's lifespan (bot/desk/lifespan.py).
"""

from __future__ import annotations

import importlib
import importlib.util
from datetime import datetime
from typing import Any, Callable, List

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute
from starlette.staticfiles import StaticFiles

from bot import clock as crisis_clock
from bot.config import Settings
from bot.config import settings as default_settings
from bot.desk.auth import ANY_ROLE, PUBLIC, DeskGuard, current_user, mount, route
from bot.desk.lifespan import lifespan
from bot.desk.web import STATIC, make_templates
from bot.store import Store
from bot.store.aio import AsyncStore

AREAS = (
    "bot.desk.auth",
    "bot.desk.users",
    "bot.desk.queue",
    "bot.desk.conversations",
    "bot.desk.content",
    "bot.desk.chat",
    "bot.desk.dashboard",
    "bot.desk.training",
    "bot.desk.models",
    "bot.desk.incidents",
    "bot.desk.alerts",
    "bot.desk.reports",
    "bot.desk.campaigns",
)

# Where each role lands after login ("/").
HOME = {"agent": "/queue", "editor": "/facts", "trainer": "/training/inbox", "admin": "/users"}


async def home(request: Request) -> Response:
    """Sends the user to their role's first page."""
    user = current_user(request)
    return RedirectResponse(HOME.get(user["role"], "/account"), 303)


async def account(request: Request) -> Response:
    """The user's own page: name, role, password change, logout."""
    from bot.desk.web import render

    return render(request, "auth/account.html", {})


async def health(request: Request) -> Response:
    """For process checks: answers without touching the session."""
    return PlainTextResponse("ok")


def area_routes(module_name: str) -> List[BaseRoute]:
    """The routes of one area module ([] when the module does not exist yet)."""
    if importlib.util.find_spec(module_name) is None:
        return []
    module = importlib.import_module(module_name)
    found: Any = getattr(module, "routes", [])
    return list(found() if callable(found) else found)


def area_exception_handlers(module_name: str) -> dict:
    """The exception handlers an area module declares ({} when none or no module)."""
    if importlib.util.find_spec(module_name) is None:
        return {}
    return dict(getattr(importlib.import_module(module_name), "exception_handlers", {}))


def create_app(
    settings: Settings | None = None,
    store: Store | AsyncStore | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """Builds the desk app (opening the store of `settings` when none is given)."""
    cfg = settings or default_settings()
    async_store = AsyncStore.of(store) if store is not None else AsyncStore(cfg.db_path)
    routes: List[BaseRoute] = [
        route("/", home, roles=ANY_ROLE, methods=["GET"]),
        route("/account", account, roles=ANY_ROLE, methods=["GET"]),
        route("/healthz", health, roles=PUBLIC, methods=["GET"]),
        mount("/static", StaticFiles(directory=str(STATIC)), roles=PUBLIC, name="static"),
    ]
    handlers: dict = {}
    for name in AREAS:
        routes.extend(area_routes(name))
        handlers.update(area_exception_handlers(name))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(DeskGuard)],
        exception_handlers=handlers,
        lifespan=lifespan,  # the waiting sweep; every background task stopped at shutdown
    )
    app.state.settings = cfg
    app.state.store = async_store
    app.state.templates = make_templates()
    app.state.clock = clock or crisis_clock.now
    return app
