"""Admins manage users in the desk and read the audit log; the CLI's users commands."""

from __future__ import annotations

import re

import pytest

from bot import cli
from bot.desk.auth import verify_password
from tests.desk_client import PASSWORD, Desk

SECRET = re.compile(r'<span class="secret">([^<]+)</span>')


@pytest.fixture
def desk(store):
    return Desk(store)


@pytest.fixture
def admin(desk):
    desk.user("root", "admin")
    return desk.login("root")


def post(desk, client, path, **data):
    return client.post(path, data={**data, "csrf_token": desk.csrf(client)})


def test_an_admin_adds_a_user_whose_one_time_password_is_shown_once(desk, admin, store):
    page = post(desk, admin, "/users", name="Ayse", role="agent")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    password = SECRET.search(page.text).group(1)
    assert len(password) >= 20
    user = store.find_user("ayse")
    assert user["role"] == "agent" and user["must_change_password"]
    assert verify_password(store.find_user("ayse")["password_hash"], password)
    assert password not in admin.get("/users").text
    first = desk.client()
    assert desk.post_login(first, "ayse", password).headers["location"] == "/account/password"
    entry = store.list_audit(action="user.add")[0]
    assert (entry["actor"], entry["subject"]) == ("root", "user:ayse")
    assert password not in entry["detail"]


@pytest.mark.parametrize(
    "name, role, problem",
    [
        ("x", "agent", "2-32 characters"),
        ("bad name!", "agent", "2-32 characters"),
        ("root", "agent", "already exists"),
        ("newbie", "king", "unknown role"),
    ],
)
def test_a_bad_new_user_is_refused_politely(desk, admin, store, name, role, problem):
    page = post(desk, admin, "/users", name=name, role=role)
    assert page.status_code == 400
    assert problem in page.text
    assert not SECRET.search(page.text)
    assert len(store.list_users()) == 1


def test_an_admin_changes_a_role_and_it_applies_to_the_open_session(desk, admin, store):
    agent = desk.user("ayse", "agent")
    ayse = desk.login("ayse")
    assert ayse.get("/facts").status_code == 403
    done = post(desk, admin, f"/users/{agent['id']}/role", role="editor")
    assert done.status_code == 303 and done.headers["location"] == "/users?done=role"
    assert store.find_user("ayse")["role"] == "editor"
    assert ayse.get("/facts").status_code != 403
    assert ayse.get("/queue").status_code == 403
    entry = store.list_audit(action="user.role")[0]
    assert entry["subject"] == "user:ayse" and '"from": "agent"' in entry["detail"]
    assert post(desk, admin, f"/users/{agent['id']}/role", role="boss").status_code == 400


def test_an_admin_disables_and_enables_a_user(desk, admin, store):
    agent = desk.user("ayse", "agent")
    ayse = desk.login("ayse")
    assert post(desk, admin, f"/users/{agent['id']}/disable").status_code == 303
    assert "disabled" in admin.get("/users?done=disabled").text
    assert ayse.get("/account").status_code == 303
    assert desk.post_login(desk.client(), "ayse", PASSWORD).status_code == 401
    assert post(desk, admin, f"/users/{agent['id']}/enable").status_code == 303
    assert desk.post_login(desk.client(), "ayse", PASSWORD).status_code == 303
    actions = [row["action"] for row in store.list_audit(action="user.")]
    assert actions == ["user.enable", "user.disable"]


def test_an_admin_cannot_lock_the_desk(desk, admin, store):
    me = store.find_user("root")
    assert post(desk, admin, f"/users/{me['id']}/disable").status_code == 400
    assert post(desk, admin, f"/users/{me['id']}/role", role="agent").status_code == 400
    other = desk.user("boss", "admin")
    boss = desk.login("boss")
    assert post(desk, boss, f"/users/{me['id']}/role", role="agent").status_code == 303
    # boss is now the last admin; root (an agent now) cannot act, and boss cannot leave.
    assert post(desk, admin, f"/users/{other['id']}/disable").status_code == 403
    assert store.find_user("boss")["role"] == "admin" and not store.find_user("boss")["disabled"]


def test_an_unknown_user_id_is_a_clean_404(desk, admin):
    assert post(desk, admin, "/users/999/disable").status_code == 404
    assert post(desk, admin, "/users/999/role", role="agent").status_code == 404
    assert admin.get("/users/abc/role").status_code in (404, 405)


def test_an_admin_resets_a_password_which_ends_the_users_sessions(desk, admin, store):
    agent = desk.user("ayse", "agent")
    ayse = desk.login("ayse")
    page = post(desk, admin, f"/users/{agent['id']}/password")
    password = SECRET.search(page.text).group(1)
    assert ayse.get("/account").status_code == 303
    assert desk.post_login(desk.client(), "ayse", PASSWORD).status_code == 401
    assert desk.post_login(desk.client(), "ayse", password).status_code == 303
    assert store.list_audit(action="user.password_reset")[0]["subject"] == "user:ayse"


def test_the_audit_log_page_lists_and_filters(desk, admin, store):
    desk.user("ayse", "agent")
    desk.login("ayse")
    store.audit("ayse", "conversation.claim", "conversation:<script>alert(1)</script>", "x")
    page = admin.get("/audit")
    assert page.status_code == 200
    for action in ("login", "conversation.claim"):
        assert f"<td>{action}</td>" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    only_ayse = admin.get("/audit?actor=ayse").text
    assert "<td>root</td>" not in only_ayse and "<td>ayse</td>" in only_ayse
    claims = admin.get("/audit?action=conversation.").text
    assert "<td>conversation.claim</td>" in claims and "<td>login</td>" not in claims
    today = store.list_audit()[0]["at"][:10]
    assert "<td>login</td>" in admin.get(f"/audit?since={today}&until={today}").text
    assert "Nothing recorded" in admin.get("/audit?until=2000-01-01").text
    assert admin.get("/audit?offset=abc").status_code == 200


def test_the_audit_log_pages_through_many_entries(desk, admin, store):
    for number in range(130):
        store.audit("cli", "test.entry", f"item:{number}")
    first = admin.get("/audit?action=test.").text
    assert "item:129" in first and "item:29<" not in first
    assert "offset=100" in first
    second = admin.get("/audit?action=test.&offset=100").text
    assert "item:29<" in second and "item:0<" in second and "item:129" not in second


def test_store_audit_records_who_what_when(store):
    entry_id = store.audit("ayse", "reply.send", "conversation:7", {"chars": 12})
    [row] = store.list_audit()
    assert row["id"] == entry_id
    assert (row["actor"], row["action"], row["subject"]) == ("ayse", "reply.send", "conversation:7")
    assert row["detail"] == '{"chars": 12}' and row["at"].endswith("+00:00")


# -- the command line -------------------------------------------------------------------


def test_cli_users_add_list_disable(tmp_path, capsys):
    db = str(tmp_path / "cli.db")
    assert cli.main(["--db", db, "users", "add", "Ayse", "--role", "editor"]) == 0
    out = capsys.readouterr().out
    password = out.rsplit(": ", 1)[1].strip()
    assert "added ayse (editor)" in out
    assert cli.main(["--db", db, "users", "add", "ayse", "--role", "agent"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["--db", db, "users", "list"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"ayse\s+editor\s+active", listing) and password not in listing
    assert cli.main(["--db", db, "users", "disable", "ayse"]) == 0
    assert cli.main(["--db", db, "users", "disable", "nobody"]) == 2
    capsys.readouterr()
    assert cli.main(["--db", db, "users", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    assert '"disabled": true' in listed and "password_hash" not in listed and "argon2" not in listed
    from bot.store import Store

    store = Store.open(db)
    user = store.find_user("ayse")
    assert verify_password(user["password_hash"], password) and user["disabled"]
    assert [r["action"] for r in store.list_audit(actor="cli")] == ["user.disable", "user.add"]
    store.close()


def test_cli_refuses_an_unknown_role(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--db", str(tmp_path / "cli.db"), "users", "add", "x1", "--role", "boss"])
    assert stop.value.code == 2


def test_setup_creates_the_first_admin_once_and_prints_its_password_once(tmp_path, capsys):
    db = str(tmp_path / "setup.db")
    assert cli.main(["--db", db, "setup"]) == 0
    out = capsys.readouterr().out
    password = re.search(r"first sign-in\):\s+(\S+)", out).group(1)
    assert cli.main(["--db", db, "setup"]) == 0
    again = capsys.readouterr().out
    assert "admin" not in again and password not in again
    from bot.store import Store

    store = Store.open(db)
    [admin] = store.list_users()
    assert admin["name"] == "admin" and admin["role"] == "admin" and admin["must_change_password"]
    assert verify_password(store.find_user("admin")["password_hash"], password)
    store.close()
