"""What every desk page shares: templates, rendering, the store and the audit log.

    from bot.desk.web import audit, render, store

    async def page(request):
        rows = await store(request).list_facts("draft")      # AsyncStore: always await
        await audit(request, "fact.publish", f"fact:{fact_id}", {"by": "..."})
        return render(request, "content/facts.html", {"rows": rows})

Templates live in bot/desk/templates/<area>/ and extend "base.html" (blocks:
`title`, `content`, `scripts`). Jinja2 autoescapes everything: never use `|safe`
on customer text. Show a conversation id as `{{ sender_id|sender }}` and customer
text as `{{ text|phones }}`: masked unless the user is an admin. Every page gets
`user` and `csrf_token` in its context (base.html reads both from the request
itself, so it works with any Jinja2Templates too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from bot.desk.auth import csrf_token, current_user
from bot.privacy import template_filters

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def _context(request: Request) -> Dict[str, Any]:
    return {"user": current_user(request), "csrf_token": csrf_token(request)}


def make_templates() -> Jinja2Templates:
    """The desk's Jinja2 environment (autoescape on for .html)."""
    templates = Jinja2Templates(directory=str(TEMPLATES), context_processors=[_context])
    # `{{ id|sender }}`, `{{ text|phones }}`: masked for everyone but admins (bot/privacy.py)
    templates.env.filters.update(template_filters())
    return templates


def render(
    request: Request, name: str, context: Dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    """Renders a template of bot/desk/templates with the shared context."""
    return request.app.state.templates.TemplateResponse(
        request, name, context or {}, status_code=status_code
    )


def store(request: Request) -> Any:
    """The app's `AsyncStore` (every Store method, awaited)."""
    return request.app.state.store


def settings(request: Request) -> Any:
    """The app's `Settings`."""
    return request.app.state.settings


async def audit(request: Request, action: str, subject: str = "", detail: Any = None) -> int:
    """Records in the audit log that the logged-in user did `action` to `subject`."""
    user = current_user(request)
    actor = user["name"] if user else "anonymous"
    return await store(request).audit(actor, action, subject, detail)
