"""The desk: the web app agents, editors and admins work in (its own process).

- app.py: `create_app(settings=None, store=None)`, the Starlette app; `AREAS`.
- auth.py: `route(...)` (every route declares its roles), `current_user`,
  `csrf_token`, the `DeskGuard` middleware, login/logout, password change.
- web.py: `render`, `store`, `audit` for pages; templates in templates/<area>/.
- users.py: admins' pages (users, audit log).
- training.py: trainers' review inbox (messages the bot may have misread, made
  into training examples).
- static/: vendored htmx and its SSE extension (see static/README.md), desk.css.

Run it with `python -m bot.launch desk` (port DESK_PORT).
"""
