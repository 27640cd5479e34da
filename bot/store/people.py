"""People: desk users, their sessions, failed-login bookkeeping and the audit log.

Passwords never reach this module in clear: callers pass an argon2 hash
(bot/desk/auth.py hashes). Session ids are stored as their SHA-256, so a copy of
the database does not hold live cookies.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import Any, Dict, List, Sequence, Tuple

from bot.store.base import Area, NotFound, now

ROLES = ("agent", "editor", "trainer", "admin")
_USER_COLUMNS = (
    "id, name, role, password_hash, disabled, must_change_password, created_at, updated_at"
)
USER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")


def _iso(at: datetime | None) -> str:
    if at is None:
        return now()
    return at.astimezone(timezone.utc).isoformat(timespec="seconds")


def session_key(session_id: str) -> str:
    """What the store keeps of a session id (its SHA-256, hex)."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class PeopleStore(Area):
    """Users, sessions, login attempts and the audit log."""

    # -- users ---------------------------------------------------------------------

    def create_user(
        self, name: str, role: str, password_hash: str, *, must_change: bool = True
    ) -> Dict[str, Any]:
        """Adds a user; raises ValueError on a bad or taken name or an unknown role."""
        name = name.strip().lower()
        if not USER_NAME.match(name):
            raise ValueError(
                "a user name is 2-32 characters: lower-case letters, digits, '.', '_' or '-'"
            )
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        if self.find_user(name) is not None:
            raise ValueError(f"user {name!r} already exists")
        stamp = now()
        with self.db.conn:
            user_id = (
                self.db["users"]
                .insert(
                    {
                        "name": name,
                        "role": role,
                        "password_hash": password_hash,
                        "disabled": 0,
                        "must_change_password": int(must_change),
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                )
                .last_pk
            )
        return self.get_user(user_id)

    def get_user(self, user_id: int) -> Dict[str, Any]:
        """One user by id; NotFound when there is none."""
        row = self.db.execute(
            f"select {_USER_COLUMNS} from users where id = ?", [user_id]
        ).fetchone()
        if row is None:
            raise NotFound(f"no user with id {user_id}")
        return self._user(row)

    def find_user(self, name: str) -> Dict[str, Any] | None:
        """One user by name (case-insensitive), or None."""
        row = self.db.execute(
            f"select {_USER_COLUMNS} from users where name = ?", [name.strip().lower()]
        ).fetchone()
        return self._user(row) if row else None

    def list_users(self) -> List[Dict[str, Any]]:
        """Every user, by name (without password hashes)."""
        rows = self.db.execute(f"select {_USER_COLUMNS} from users order by name").fetchall()
        users = [self._user(row) for row in rows]
        for user in users:
            user.pop("password_hash")
        return users

    def count_users(self) -> int:
        """How many users exist (disabled ones too)."""
        return self.db.execute("select count(*) from users").fetchone()[0]

    def set_user_role(self, user_id: int, role: str) -> Dict[str, Any]:
        """Changes a user's role."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        return self._update_user(user_id, role=role)

    def set_user_disabled(self, user_id: int, disabled: bool) -> Dict[str, Any]:
        """Disables (ending every session of the user) or enables a user."""
        user = self._update_user(user_id, disabled=int(disabled))
        if disabled:
            self.end_user_sessions(user_id)
        return user

    def set_password_hash(
        self, user_id: int, password_hash: str, *, must_change: bool
    ) -> Dict[str, Any]:
        """Stores a new password hash."""
        return self._update_user(
            user_id, password_hash=password_hash, must_change_password=int(must_change)
        )

    def _update_user(self, user_id: int, **values: Any) -> Dict[str, Any]:
        self.get_user(user_id)
        columns = ", ".join(f"{column} = ?" for column in values)
        with self.db.conn:
            self.db.execute(
                f"update users set {columns}, updated_at = ? where id = ?",
                [*values.values(), now(), user_id],
            )
        return self.get_user(user_id)

    @staticmethod
    def _user(row: Any) -> Dict[str, Any]:
        user_id, name, role, password_hash, disabled, must_change, created, updated = row
        return {
            "id": user_id,
            "name": name,
            "role": role,
            "password_hash": password_hash,
            "disabled": bool(disabled),
            "must_change_password": bool(must_change),
            "created_at": created,
            "updated_at": updated,
        }

    # -- sessions ------------------------------------------------------------------

    def create_session(
        self,
        session_id: str,
        user_id: int,
        csrf_token: str,
        expires_at: datetime,
        *,
        address: str = "",
        at: datetime | None = None,
    ) -> None:
        """Records a new session (only the hash of `session_id` is kept)."""
        stamp = _iso(at)
        with self.db.conn:
            self.db["desk_sessions"].insert(
                {
                    "key": session_key(session_id),
                    "user_id": user_id,
                    "csrf_token": csrf_token,
                    "address": address,
                    "created_at": stamp,
                    "last_seen_at": stamp,
                    "expires_at": _iso(expires_at),
                }
            )

    def session_user(self, session_id: str, at: datetime | None = None) -> Dict[str, Any] | None:
        """The live session and its enabled user, or None (unknown, expired or disabled).

        Returns the user's fields plus `csrf_token`, `session_created_at`,
        `session_last_seen_at` and `session_expires_at`.
        """
        row = self.db.execute(
            "select u.id, u.name, u.role, u.password_hash, u.disabled, u.must_change_password,"
            " u.created_at, u.updated_at, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at"
            " from desk_sessions s join users u on u.id = s.user_id"
            " where s.key = ? and s.expires_at > ? and u.disabled = 0",
            [session_key(session_id), _iso(at)],
        ).fetchone()
        if row is None:
            return None
        user = self._user(row[:8])
        user.pop("password_hash")
        (
            user["csrf_token"],
            user["session_created_at"],
            user["session_last_seen_at"],
            user["session_expires_at"],
        ) = row[8:]
        return user

    def touch_session(self, session_id: str, expires_at: datetime, at: datetime | None = None):
        """Marks a session as used now and moves its expiry (idle timeout)."""
        with self.db.conn:
            self.db.execute(
                "update desk_sessions set last_seen_at = ?, expires_at = ? where key = ?",
                [_iso(at), _iso(expires_at), session_key(session_id)],
            )

    def end_session(self, session_id: str) -> None:
        """Ends one session (logout)."""
        with self.db.conn:
            self.db.execute("delete from desk_sessions where key = ?", [session_key(session_id)])

    def end_user_sessions(self, user_id: int) -> int:
        """Ends every session of a user; returns how many there were."""
        with self.db.conn:
            cursor = self.db.execute("delete from desk_sessions where user_id = ?", [user_id])
        return cursor.rowcount

    def count_sessions(self, user_id: int, at: datetime | None = None) -> int:
        """How many live sessions a user has."""
        return self.db.execute(
            "select count(*) from desk_sessions where user_id = ? and expires_at > ?",
            [user_id, _iso(at)],
        ).fetchone()[0]

    def users_seen_since(
        self, since: datetime, roles: Sequence[str], at: datetime | None = None
    ) -> List[str]:
        """Enabled users of `roles` with a session live at `at` and used since `since`."""
        marks = ", ".join("?" for _ in roles)
        rows = self.db.execute(
            "select distinct u.name from desk_sessions s join users u on u.id = s.user_id"
            f" where u.disabled = 0 and u.role in ({marks}) and s.last_seen_at >= ?"
            " and s.expires_at > ? order by u.name",
            [*roles, _iso(since), _iso(at)],
        )
        return [row[0] for row in rows.fetchall()]

    def delete_expired_sessions(self, at: datetime | None = None) -> int:
        """Removes expired sessions; returns how many."""
        with self.db.conn:
            cursor = self.db.execute("delete from desk_sessions where expires_at <= ?", [_iso(at)])
        return cursor.rowcount

    # -- login attempts ------------------------------------------------------------

    def record_login_attempt(
        self, name: str, address: str, ok: bool, at: datetime | None = None
    ) -> None:
        """Records one login attempt (the name as typed, lower-cased; known or not)."""
        with self.db.conn:
            self.db["login_attempts"].insert(
                {
                    "name": name.strip().lower()[:64],
                    "address": address[:64],
                    "ok": int(ok),
                    "at": _iso(at),
                }
            )

    def failed_logins(
        self, *, since: datetime, user_name: str | None = None, address: str | None = None
    ) -> Tuple[int, str | None]:
        """Failed logins since `since` for a user name (as typed), or for an address.

        For a name, only failures after its latest successful login count; for an
        address every failure counts (someone else's success there resets nothing).
        Returns (count, time of the latest failure as ISO text, or None).
        """
        if (user_name is None) == (address is None):
            raise ValueError("give exactly one of user_name or address")
        if user_name is not None:
            value = user_name.strip().lower()[:64]
            sql = (
                "select count(*), max(at) from login_attempts where name = ? and ok = 0"
                " and at >= ? and id > coalesce((select max(id) from login_attempts"
                " where name = ? and ok = 1), 0)"
            )
            params = [value, _iso(since), value]
        else:
            sql = (
                "select count(*), max(at) from login_attempts"
                " where address = ? and ok = 0 and at >= ?"
            )
            params = [(address or "")[:64], _iso(since)]
        count, latest = self.db.execute(sql, params).fetchone()
        return count, latest

    def delete_login_attempts(self, before: datetime) -> int:
        """Forgets attempts older than `before`; returns how many."""
        with self.db.conn:
            cursor = self.db.execute("delete from login_attempts where at < ?", [_iso(before)])
        return cursor.rowcount

    # -- audit log -----------------------------------------------------------------

    def audit(self, actor: str, action: str, subject: str = "", detail: Any = None) -> int:
        """Records that `actor` did `action` to `subject`, now; returns the entry's id.

        `actor` is a user name (or "cli", "system"); `action` a dotted verb such as
        "user.add", "login", "conversation.claim"; `subject` what it was done to
        ("user:ayse", "conversation:whatsapp:+90..." masked by the caller);
        `detail` a short text or a JSON-able dict.
        """
        if detail is not None and not isinstance(detail, str):
            detail = json.dumps(detail, ensure_ascii=False, sort_keys=True)
        with self.db.conn:
            return (
                self.db["audit_log"]
                .insert(
                    {
                        "at": now(),
                        "actor": actor,
                        "action": action,
                        "subject": subject or "",
                        "detail": detail or "",
                    }
                )
                .last_pk
            )

    def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        subject: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> List[Dict[str, Any]]:
        """Audit entries, newest first, filtered.

        `action` matches a prefix ("user." finds every user change); `subject` a
        substring; `since`/`until` are ISO dates or times (UTC), `until` inclusive
        of its whole day when only a date.
        """
        where, params = [], []
        if actor:
            where.append("actor = ?")
            params.append(actor)
        if action:
            where.append("substr(action, 1, ?) = ?")
            params.extend([len(action), action])
        if subject:
            where.append("instr(subject, ?) > 0")
            params.append(subject)
        if since:
            where.append("at >= ?")
            params.append(since)
        if until:
            where.append("at <= ?")
            params.append(until + "T23:59:59+00:00" if len(until) == 10 else until)
        sql = "select id, at, actor, action, subject, detail from audit_log"
        if where:
            sql += " where " + " and ".join(where)
        sql += " order by id desc limit ? offset ?"
        rows = self.db.execute(sql, [*params, int(limit), int(offset)]).fetchall()
        keys = ("id", "at", "actor", "action", "subject", "detail")
        return [dict(zip(keys, row, strict=True)) for row in rows]
