"""Helpers for desk route tests: the real app over a real store, users, logging in.

    desk = Desk(store)                       # create_app over the test's store
    agent = desk.user("ayse", "agent")       # a user with a known password
    client = desk.login("ayse")              # a TestClient with a live session
    client.post("/queue/1/claim", data={"csrf_token": desk.csrf(client)})

The clock is the app's own (`desk.clock.now`); `desk.clock.advance(seconds=...)`
moves it instead of sleeping.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict

from starlette.testclient import TestClient

from bot.config import Settings
from bot.desk.app import create_app
from bot.desk.auth import hash_password
from bot.store import Store

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a long test password 42"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Desk:
    """The desk app over `store`, with helpers to add users and log in."""

    def __init__(self, store: Store, **env: str) -> None:
        self.store = store
        self.clock = Clock()
        self.settings = Settings.from_env({"CRISISDESK_DB": str(_path(store)), **env})
        self.app = create_app(self.settings, store, clock=self.clock)

    def client(self, address: str = "192.0.2.10", **kwargs: Any) -> TestClient:
        """A new browser (own cookies) from `address`."""
        return TestClient(self.app, client=(address, 50000), follow_redirects=False, **kwargs)

    def user(self, name: str, role: str, *, must_change: bool = False) -> Dict[str, Any]:
        """Adds a user whose password is PASSWORD."""
        return self.store.create_user(name, role, hash_password(PASSWORD), must_change=must_change)

    def login(self, name: str, password: str = PASSWORD, client: TestClient | None = None):
        """Logs in through the form like a browser; returns the client (asserts success)."""
        client = client or self.client()
        response = self.post_login(client, name, password)
        assert response.status_code == 303, response.text
        return client

    def post_login(self, client: TestClient, name: str, password: str, next_: str = ""):
        """GET /login, then POST the form with its CSRF token; returns the POST's response."""
        page = client.get("/login")
        token = CSRF_FIELD.search(page.text).group(1)
        return client.post(
            "/login",
            data={"name": name, "password": password, "csrf_token": token, "next": next_},
        )

    @staticmethod
    def csrf(client: TestClient, path: str = "/account") -> str:
        """The session's CSRF token, read from a page's <meta name="csrf-token">."""
        page = client.get(path)
        assert page.status_code == 200, page.status_code
        return CSRF_META.search(page.text).group(1)


def _path(store: Store) -> str:
    for _seq, name, file in store.db.execute("pragma database_list").fetchall():
        if name == "main":
            return file
    raise ValueError("store without a file")
