"""The desk's access rules: policies on every route, sessions, CSRF, login throttling."""

from __future__ import annotations

import re

import pytest
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from bot.desk.auth import (
    ANON_CSRF_COOKIE,
    PUBLIC,
    SESSION_COOKIE,
    hash_password,
    policy_of,
    safe_next,
)
from tests.desk_client import CSRF_FIELD, PASSWORD, Desk

HX = {"HX-Request": "true"}


@pytest.fixture
def desk(store):
    return Desk(store)


def concrete(path: str) -> str:
    """A request path for a route template: every {param} becomes 1."""
    return re.sub(r"\{[^}]+\}", "1", path)


def app_routes(desk):
    """(path, method, policy) of every route of the app; mounts as GET of a file."""
    found = []
    for item in desk.app.routes:
        if isinstance(item, Mount):
            found.append((item.path + "/desk.css", "GET", policy_of(item)))
            continue
        for method in sorted(item.methods or {"GET"}):
            if method != "HEAD":
                found.append((concrete(item.path), method, policy_of(item)))
    return found


# -- every route declares a policy -----------------------------------------------------


def test_every_route_of_the_app_declares_an_access_policy(desk):
    missing = [item.path for item in desk.app.routes if policy_of(item) is None]
    assert missing == []
    assert len(desk.app.routes) >= 10


def test_public_routes_are_only_login_static_health_and_the_customer_chat(desk):
    public = {path for path, _m, policy in app_routes(desk) if policy is PUBLIC}
    allowed = ("/login", "/static/", "/healthz", "/chat")
    assert public and all(path.startswith(allowed) for path in public), public


def test_a_route_without_a_policy_is_refused_even_for_an_admin(desk):
    ran = []

    async def naked(request):
        ran.append(1)
        return PlainTextResponse("should not be reachable")

    desk.app.router.routes.append(Route("/naked", naked))
    desk.user("root", "admin")
    admin = desk.login("root")
    assert admin.get("/naked").status_code == 403
    assert admin.get("/naked", headers=HX).status_code == 403
    assert ran == []


def test_route_refuses_a_missing_or_unknown_role_set():
    from bot.desk.auth import route

    async def page(request):
        return PlainTextResponse("x")

    with pytest.raises(TypeError):
        route("/x", page)  # roles is a required keyword
    with pytest.raises(ValueError):
        route("/x", page, roles={"superuser"})
    with pytest.raises(ValueError):
        route("/x", page, roles=set())
    with pytest.raises(TypeError):
        route("/x", page, roles="agent")


# -- anonymous ----------------------------------------------------------------------------


def test_anonymous_is_refused_on_every_route_that_is_not_public(desk):
    client = desk.client()
    checked = 0
    for path, method, policy in app_routes(desk):
        if policy is PUBLIC:
            continue
        checked += 1
        if method == "GET":
            page = client.get(path)
            assert page.status_code == 303, (path, page.status_code)
            assert page.headers["location"].startswith("/login?next="), path
            assert client.get(path, headers=HX).status_code == 401, path
            events = client.get(path, headers={"Accept": "text/event-stream"})
            assert events.status_code == 401, path
        else:
            token = client.cookies.get(ANON_CSRF_COOKIE) or ""
            answer = client.request(method, path, data={"csrf_token": token})
            assert answer.status_code == 401, (path, method, answer.status_code)
    assert checked >= 8


def test_anonymous_on_an_unknown_address_learns_nothing(desk):
    client = desk.client()
    assert client.get("/no/such/page").status_code == 303
    assert client.get("/api/nothing").status_code == 401


def test_login_remembers_where_the_user_was_going_but_only_inside_the_desk(desk):
    desk.user("ayse", "agent")
    client = desk.client()
    assert client.get("/account?tab=1").headers["location"] == "/login?next=%2Faccount%3Ftab%3D1"
    answer = desk.post_login(client, "ayse", PASSWORD, next_="/account?tab=1")
    assert answer.headers["location"] == "/account?tab=1"
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "", None):
        assert safe_next(target) == "/"


# -- roles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["agent", "editor", "trainer"])
def test_a_role_is_refused_on_every_route_of_other_roles(desk, role):
    desk.user("someone", role)
    client = desk.login("someone")
    token = desk.csrf(client)
    refused = 0
    for path, method, policy in app_routes(desk):
        if policy is PUBLIC or role in policy:
            continue
        refused += 1
        if method == "GET":
            assert client.get(path).status_code == 403, (role, path)
            assert client.get(path, headers=HX).status_code == 403, (role, path)
        else:
            answer = client.request(method, path, data={"csrf_token": token})
            assert answer.status_code == 403, (role, path, method)
    assert refused >= 7  # at least the admin pages


def test_admin_may_open_every_page(desk):
    desk.user("root", "admin")
    admin = desk.login("root")
    for path in ("/users", "/audit", "/account"):
        assert admin.get(path).status_code == 200, path


def test_home_sends_each_role_to_its_first_page(desk):
    expected = {"agent": "/queue", "editor": "/facts", "admin": "/users"}
    for role, target in expected.items():
        desk.user(f"{role}1", role)
        assert desk.login(f"{role}1").get("/").headers["location"] == target


def test_the_nav_shows_what_the_role_may_open(desk):
    desk.user("ayse", "agent")
    desk.user("root", "admin")
    agent_page = desk.login("ayse").get("/account").text
    admin_page = desk.login("root").get("/account").text
    assert 'href="/queue"' in agent_page and 'href="/users"' not in agent_page
    assert 'href="/facts"' not in agent_page
    for path in ("/queue", "/facts", "/faq", "/rumours", "/users", "/audit"):
        assert f'href="{path}"' in admin_page, path
    assert '<meta name="csrf-token" content="' in admin_page
    assert '<script src="/static/htmx.min.js"' in admin_page


def test_static_files_are_served_to_anyone(desk):
    client = desk.client()
    assert client.get("/static/htmx.min.js").status_code == 200
    assert client.get("/static/desk.css").status_code == 200


# -- CSRF ---------------------------------------------------------------------------------


def test_a_state_change_without_the_csrf_token_is_refused(desk, store):
    desk.user("root", "admin")
    admin = desk.login("root")
    token = desk.csrf(admin)
    form = {"name": "newbie", "role": "agent"}
    assert admin.post("/users", data=form).status_code == 403
    forged = {**form, "csrf_token": "forged" + token[6:]}
    assert admin.post("/users", data=forged).status_code == 403
    assert admin.post("/users", data=form, headers={"X-CSRF-Token": ""}).status_code == 403
    assert admin.post("/users", data=form, files={"x": ("a", b"b")}).status_code == 403
    assert store.find_user("newbie") is None
    assert admin.post("/users", data=form, headers={"X-CSRF-Token": token}).status_code == 200
    assert store.find_user("newbie")["role"] == "agent"


def test_another_sessions_token_is_refused(desk, store):
    desk.user("root", "admin")
    desk.user("boss", "admin")
    first, second = desk.login("root"), desk.login("boss")
    their_token = desk.csrf(second)
    answer = first.post("/users", data={"name": "x1", "role": "agent", "csrf_token": their_token})
    assert answer.status_code == 403
    assert store.find_user("x1") is None


def test_multipart_forms_carry_the_token_too(desk, store):
    desk.user("root", "admin")
    admin = desk.login("root")
    token = desk.csrf(admin)
    answer = admin.post(
        "/users",
        data={"name": "multi", "role": "editor", "csrf_token": token},
        files={"ignored": ("a.txt", b"hello")},
    )
    assert answer.status_code == 200
    assert store.find_user("multi")["role"] == "editor"


def test_the_login_form_needs_its_token(desk, store):
    desk.user("ayse", "agent")
    client = desk.client()
    client.get("/login")
    answer = client.post("/login", data={"name": "ayse", "password": PASSWORD})
    assert answer.status_code == 403
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    # A page of another site cannot know the visitor's cookie token.
    other = desk.client()
    forged = other.post(
        "/login", data={"name": "ayse", "password": PASSWORD, "csrf_token": "x" * 43}
    )
    assert forged.status_code == 403


# -- sessions -----------------------------------------------------------------------------


def test_session_cookie_flags(desk, store):
    desk.user("ayse", "agent")
    answer = desk.post_login(desk.client(), "ayse", PASSWORD)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(SESSION_COOKIE + "=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here
    session_id = cookie.split(";")[0].split("=", 1)[1]
    assert len(session_id) >= 40
    # Only its hash is stored: the database does not hold a usable cookie.
    keys = [row[0] for row in store.db.execute("select key from desk_sessions")]
    assert len(keys) == 1 and session_id not in keys


def test_cookies_are_secure_when_the_desk_is_published_over_https(store):
    desk = Desk(store, PUBLIC_BASE_URL="https://desk.example.org")
    desk.user("ayse", "agent")
    client = desk.client(base_url="https://testserver")
    page = client.get("/login")
    assert "Secure" in page.headers["set-cookie"]  # the login form's token cookie
    answer = desk.post_login(client, "ayse", PASSWORD)
    cookie = answer.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_logout_ends_the_session(desk, store):
    user = desk.user("ayse", "agent")
    client = desk.login("ayse")
    stolen = client.cookies.get(SESSION_COOKIE)
    answer = client.post("/logout", data={"csrf_token": desk.csrf(client)})
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert "Max-Age=0" in answer.headers["set-cookie"]
    assert store.count_sessions(user["id"]) == 0
    replay = desk.client()
    replay.cookies.set(SESSION_COOKIE, stolen)
    assert replay.get("/account").status_code == 303
    actions = [row["action"] for row in store.list_audit(actor="ayse")]
    assert actions == ["logout", "login"]


def test_logout_needs_the_csrf_token(desk, store):
    user = desk.user("ayse", "agent")
    client = desk.login("ayse")
    assert client.post("/logout").status_code == 403
    assert store.count_sessions(user["id"]) == 1


def test_a_disabled_users_session_ends_at_once(desk, store):
    desk.user("root", "admin")
    agent = desk.user("ayse", "agent")
    client = desk.login("ayse")
    assert client.get("/account").status_code == 200
    admin = desk.login("root")
    done = admin.post(f"/users/{agent['id']}/disable", data={"csrf_token": desk.csrf(admin)})
    assert done.status_code == 303
    assert client.get("/account").status_code == 303
    assert client.get("/account", headers=HX).status_code == 401
    assert store.count_sessions(agent["id"]) == 0
    # ...and cannot log in again while disabled, with the same answer as a bad password.
    assert desk.post_login(desk.client(), "ayse", PASSWORD).status_code == 401


def test_the_user_is_checked_on_every_request_not_only_at_login(desk, store):
    agent = desk.user("ayse", "agent")
    client = desk.login("ayse")
    assert client.get("/users").status_code == 403
    store.set_user_role(agent["id"], "admin")  # e.g. by another process
    assert client.get("/users").status_code == 200
    # A disabled flag set without ending sessions (another process, an old
    # version) still keeps the user out.
    with store.db.conn:
        store.db.execute("update users set disabled = 1 where id = ?", [agent["id"]])
    assert store.count_sessions(agent["id"]) == 1
    assert client.get("/account").status_code == 303


def test_an_idle_session_expires(desk, store):
    desk.user("ayse", "agent")
    client = desk.login("ayse")
    desk.clock.advance(minutes=100)
    assert client.get("/account").status_code == 200  # used: the idle timer restarts
    desk.clock.advance(minutes=100)
    assert client.get("/account").status_code == 200
    desk.clock.advance(minutes=121)
    assert client.get("/account").status_code == 303


def test_a_session_lifetime_is_absolute(desk):
    desk.user("ayse", "agent")
    client = desk.login("ayse")
    for _ in range(11):
        desk.clock.advance(minutes=60)
        assert client.get("/account").status_code == 200
    desk.clock.advance(minutes=59)
    assert client.get("/account").status_code == 200  # 11 h 59 min
    desk.clock.advance(minutes=2)
    assert client.get("/account").status_code == 303  # 12 h 1 min


# -- passwords ------------------------------------------------------------------------------


def test_passwords_are_stored_only_as_argon2id_hashes(desk, store, tmp_path):
    desk.user("root", "admin")
    admin = desk.login("root")
    page = admin.post(
        "/users", data={"name": "newbie", "role": "agent", "csrf_token": desk.csrf(admin)}
    )
    one_time = re.search(r'<span class="secret">([^<]+)</span>', page.text).group(1)
    newbie = desk.login("newbie", one_time)
    newbie.post(
        "/account/password",
        data={
            "current": one_time,
            "new": "my very own passphrase",
            "repeat": "my very own passphrase",
            "csrf_token": desk.csrf(newbie, "/account/password"),
        },
    )
    store.db.conn.execute("pragma wal_checkpoint(FULL)")
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("crisisdesk.db*"))
    for secret in (PASSWORD, one_time, "my very own passphrase"):
        assert secret.encode() not in raw
    hashes = [row[0] for row in store.db.execute("select password_hash from users")]
    assert all(h.startswith("$argon2id$") and "m=65536" in h for h in hashes)


def test_a_one_time_password_must_be_replaced_before_anything_else(desk, store):
    desk.user("ayse", "agent", must_change=True)
    client = desk.client()
    assert desk.post_login(client, "ayse", PASSWORD).headers["location"] == "/account/password"
    assert client.get("/queue").headers["location"] == "/account/password"
    assert client.get("/account", headers=HX).status_code == 403
    token = desk.csrf(client, "/account/password")
    weak = client.post(
        "/account/password",
        data={"current": PASSWORD, "new": "short", "repeat": "short", "csrf_token": token},
    )
    assert weak.status_code == 400 and "at least 12" in weak.text
    new = "a brand new passphrase"
    done = client.post(
        "/account/password",
        data={"current": PASSWORD, "new": new, "repeat": new, "csrf_token": token},
    )
    assert done.status_code == 303
    assert client.get("/account").status_code == 200
    assert not store.find_user("ayse")["must_change_password"]
    assert desk.post_login(desk.client(), "ayse", PASSWORD).status_code == 401
    assert desk.post_login(desk.client(), "ayse", new).status_code == 303


def test_changing_the_password_ends_other_sessions(desk, store):
    desk.user("ayse", "agent")
    laptop, phone = desk.login("ayse"), desk.login("ayse")
    new = "another long passphrase"
    laptop.post(
        "/account/password",
        data={"current": PASSWORD, "new": new, "repeat": new, "csrf_token": desk.csrf(laptop)},
    )
    assert laptop.get("/account").status_code == 200
    assert phone.get("/account").status_code == 303


# -- login and throttling -----------------------------------------------------------------


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(desk):
    desk.user("ayse", "agent")
    wrong = desk.post_login(desk.client(), "ayse", "not it at all")
    unknown = desk.post_login(desk.client(), "nobody", "not it at all")
    assert wrong.status_code == unknown.status_code == 401

    def message(text):
        return re.search(r'role="alert">([^<]+)<', text).group(1)

    assert message(wrong.text) == message(unknown.text)


def test_failed_logins_are_slowed_per_account(desk):
    desk.user("ayse", "agent")
    attacker = desk.client("198.51.100.7")
    for _ in range(5):
        assert desk.post_login(attacker, "ayse", "guess").status_code == 401
    throttled = desk.post_login(attacker, "ayse", PASSWORD)  # even the right password waits
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "2"
    assert "please wait 2 seconds" in throttled.text
    # From another address too: the account is what is protected.
    assert desk.post_login(desk.client("203.0.113.9"), "ayse", PASSWORD).status_code == 429
    desk.clock.advance(seconds=2)
    assert desk.post_login(attacker, "ayse", "guess").status_code == 401
    assert desk.post_login(attacker, "ayse", "guess").status_code == 429
    desk.clock.advance(seconds=4)  # the wait doubled
    assert desk.post_login(attacker, "ayse", "guess").status_code == 401
    desk.clock.advance(seconds=7)
    assert desk.post_login(attacker, "ayse", "guess").status_code == 429
    desk.clock.advance(seconds=1)
    owner = desk.client()
    assert desk.post_login(owner, "ayse", PASSWORD).status_code == 303
    # A success starts the count again.
    assert desk.post_login(attacker, "ayse", "guess").status_code == 401


def test_the_wait_grows_to_its_maximum_and_the_window_forgets(desk):
    desk.user("ayse", "agent")
    client = desk.client()
    for _ in range(5):
        desk.post_login(client, "ayse", "guess")
    waits = []
    for _ in range(12):
        answer = desk.post_login(client, "ayse", "guess")
        assert answer.status_code == 429
        wait = int(answer.headers["retry-after"])
        waits.append(wait)
        desk.clock.advance(seconds=wait)
        assert desk.post_login(client, "ayse", "guess").status_code == 401
    assert waits[:4] == [2, 4, 8, 16] and max(waits) == 900
    desk.clock.advance(minutes=61)  # every failure is outside the window now
    assert desk.post_login(client, "ayse", PASSWORD).status_code == 303


def test_unknown_names_are_throttled_like_real_ones(desk):
    desk.user("ayse", "agent")
    answers = {}
    for name in ("ayse", "nobody"):
        client = desk.client(f"192.0.2.{len(answers) + 50}")
        answers[name] = [desk.post_login(client, name, "guess").status_code for _ in range(7)]
    assert answers["ayse"] == answers["nobody"] == [401] * 5 + [429, 429]


def test_failed_logins_are_slowed_per_address(store):
    desk = Desk(store, DESK_LOGIN_ADDRESS_FREE_ATTEMPTS="3")
    desk.user("ayse", "agent")
    sprayer = desk.client("198.51.100.7")
    for name in ("a1", "a2", "a3"):
        assert desk.post_login(sprayer, name, "guess").status_code == 401
    assert desk.post_login(sprayer, "a4", "guess").status_code == 429
    assert desk.post_login(sprayer, "ayse", PASSWORD).status_code == 429
    # Someone else's address is not affected, and a success does not reset the address.
    assert desk.post_login(desk.client("203.0.113.9"), "ayse", PASSWORD).status_code == 303
    assert desk.post_login(sprayer, "a5", "guess").status_code == 429


def test_a_throttled_login_records_nothing_and_checks_no_password(desk, store):
    desk.user("ayse", "agent")
    client = desk.client()
    for _ in range(5):
        desk.post_login(client, "ayse", "guess")
    before = store.db.execute("select count(*) from login_attempts").fetchone()[0]
    for _ in range(3):
        assert desk.post_login(client, "ayse", "guess").status_code == 429
    assert store.db.execute("select count(*) from login_attempts").fetchone()[0] == before


def test_login_and_failed_login_are_audited_without_the_password(desk, store):
    desk.user("ayse", "agent")
    desk.post_login(desk.client(), "ayse", "wrong password here")
    desk.login("ayse")
    rows = store.list_audit()
    assert [r["action"] for r in rows] == ["login", "login.failed"]
    assert all("wrong password" not in str(r) and PASSWORD not in str(r) for r in rows)


def test_bad_form_input_gets_a_clean_answer(desk):
    client = desk.client()
    token = CSRF_FIELD.search(client.get("/login").text).group(1)
    for data in ({}, {"name": "x" * 5000, "password": ""}, {"name": "", "password": "p"}):
        assert client.post("/login", data={**data, "csrf_token": token}).status_code == 401
    huge = client.post("/login", data={"csrf_token": token, "name": "x" * 1_100_000})
    assert huge.status_code == 413


def test_hashes_are_argon2id_and_salted():
    first, second = hash_password("same"), hash_password("same")
    assert first != second and first.startswith("$argon2id$")


# -- the process ------------------------------------------------------------------------


def test_the_launcher_serves_the_desk_on_desk_port(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from tests.desk_client import ROOT

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DESK_PORT": str(port), "CRISISDESK_DB": str(tmp_path / "d.db")}
    desk = subprocess.Popen(
        [sys.executable, "-m", "bot.launch", "desk"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        answer = None
        while time.monotonic() < deadline and desk.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    answer = r.read()
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)  # polling for the port to open, with a deadline
        assert desk.poll() is None, desk.stdout.read()
        assert answer == b"ok"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(
                urllib.request.Request(
                    f"http://127.0.0.1:{port}/users", headers={"HX-Request": "true"}
                ),
                timeout=5,
            )
        assert refused.value.code == 401
    finally:
        desk.terminate()
        desk.wait(timeout=20)
