"""Accounts, the same on every backend: what a user may be named, who a stored token row is,
whether a sign-in's stored hash is to be upgraded (``hub.passwords``), and the SQL of the
users and tokens tables (given to each driver through its ``store/dialect.py`` Dialect)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from supervisor_desk.hub import passwords
from supervisor_desk.hub.store.dialect import Connection, Dialect
from supervisor_desk.hub.store.interface import Principal
from supervisor_desk.hub.store.tokens import hash_token

USER_ROLES = ("viewer", "supervisor", "admin")


def check_new_user(name: str, role: str, password: str) -> None:
    """``ValueError`` saying what is wrong with a user to add (or re-add)."""
    if role not in USER_ROLES:
        raise ValueError(f"a user's role is viewer, supervisor or admin, not {role!r}")
    if not name or len(name) > 200:
        raise ValueError("a user name has 1 to 200 characters")
    if not password:
        raise ValueError("the password is empty")


def principal_of(token_hash: str, role: str, label: str, user_id: str | None,
                 expires_ms: int | None, user_name: str | None,
                 now: datetime | None = None) -> Principal | None:
    """The caller a stored token row names, or ``None`` once it has expired at ``now``."""
    moment = now or datetime.now(UTC)
    if expires_ms is not None and expires_ms <= moment.timestamp() * 1000:
        return None
    expires = datetime.fromtimestamp(expires_ms / 1000, UTC) if expires_ms else None
    return Principal(token_hash, role, user_name or label, user_id, expires)


def sign_in(password: str, salt: bytes, digest: bytes) -> tuple[bool, tuple[bytes, bytes] | None]:
    """Whether ``password`` matches the stored hash, and the new ``(salt, digest)`` to store
    when it does and the stored one is older than today's (scrypt, other argon2 parameters)."""
    if not passwords.verify_password(password, salt, digest):
        return False, None
    if passwords.needs_rehash(salt, digest):
        return True, passwords.hash_password(password)
    return True, None


# The accounts' SQL, the same on every backend (each runs it in its own transactions).


def principal(conn: Connection, dialect: Dialect, token: str,
              now: datetime | None = None) -> Principal | None:
    """Who ``token`` is (by its hash), or ``None`` if unknown, revoked or expired."""
    token_hash = hash_token(token)
    row = dialect.execute(
        conn, "SELECT t.role, t.label, t.user_id, t.expires_ms, u.name FROM tokens t "
        "LEFT JOIN users u ON u.id = t.user_id WHERE t.hash = ?", (token_hash,)).fetchone()
    if row is None:
        return None
    role, label, user_id, expires_ms, user_name = row
    return principal_of(token_hash, role, label, user_id, expires_ms, user_name, now)


def password_row(conn: Connection, dialect: Dialect,
                 name: str) -> tuple[str, str, str, bytes, bytes] | None:
    """``(id, name, role, salt, hash)`` of the user named ``name``."""
    row = dialect.execute(conn, "SELECT id, name, role, salt, hash FROM users WHERE name = ?",
                          (name,)).fetchone()
    return None if row is None else (row[0], row[1], row[2], bytes(row[3]), bytes(row[4]))


def store_rehash(conn: Connection, dialect: Dialect, user_id: str, old_digest: bytes,
                 salt: bytes, digest: bytes) -> None:
    """Today's hash in place of an older one (unless the password changed meanwhile)."""
    dialect.execute(conn, "UPDATE users SET salt = ?, hash = ? WHERE id = ? AND hash = ?",
                    (salt, digest, user_id, old_digest))


def save_user(conn: Connection, dialect: Dialect, name: str, role: str, salt: bytes,
              digest: bytes) -> str:
    """Create the user, or reset an existing one's role and password and revoke its tokens;
    returns its id. In a write transaction."""
    row = dialect.execute(conn, f"SELECT id FROM users WHERE name = ?{dialect.for_update}",
                          (name,)).fetchone()
    if row:
        user_id = str(row[0])
        dialect.execute(conn, "UPDATE users SET role = ?, salt = ?, hash = ? WHERE id = ?",
                        (role, salt, digest, user_id))
        dialect.execute(conn, "DELETE FROM tokens WHERE user_id = ?", (user_id,))
        return user_id
    user_id = "u_" + uuid.uuid4().hex[:12]
    dialect.execute(conn, "INSERT INTO users (id, name, role, salt, hash, created_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (user_id, name, role, salt, digest, _now_ms()))
    return user_id


def insert_token(conn: Connection, dialect: Dialect, token: str, label: str, role: str,
                 user_id: str | None, now: datetime, expires: datetime | None) -> None:
    dialect.execute(
        conn, "INSERT INTO tokens (hash, label, role, user_id, created_ms, expires_ms) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (hash_token(token), label, role, user_id, int(now.timestamp() * 1000),
         int(expires.timestamp() * 1000) if expires else None))


def delete_token(conn: Connection, dialect: Dialect, token_hash: str) -> None:
    dialect.execute(conn, "DELETE FROM tokens WHERE hash = ?", (token_hash,))
    # Expired login tokens are garbage; drop them while we are here.
    dialect.execute(conn, "DELETE FROM tokens WHERE expires_ms IS NOT NULL AND expires_ms < ?",
                    (_now_ms(),))


def delete_tokens(conn: Connection, dialect: Dialect, *, user: str | None,
                  label: str | None) -> int | None:
    """Every token of the user named ``user`` (``None``: no such user) or every API token
    labelled ``label``; how many."""
    if user is not None:
        row = dialect.execute(conn, "SELECT id FROM users WHERE name = ?", (user,)).fetchone()
        if row is None:
            return None
        cursor = dialect.execute(conn, "DELETE FROM tokens WHERE user_id = ?", (row[0],))
    else:
        cursor = dialect.execute(
            conn, "DELETE FROM tokens WHERE label = ? AND user_id IS NULL", (label,))
    return int(cursor.rowcount)


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
