"""Account rules every backend applies the same way: what a user may be named, who a stored
token row is, and whether a sign-in's stored hash is to be upgraded (``hub.passwords``)."""

from __future__ import annotations

from datetime import UTC, datetime

from supervisor_desk.hub import passwords
from supervisor_desk.hub.store.interface import Principal

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
