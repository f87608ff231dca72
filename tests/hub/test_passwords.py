"""Password hashes: argon2id with its parameters inside the hash; scrypt hashes of earlier
hubs still sign in and are upgraded at that sign-in (SQLite here, PostgreSQL in
tests/hub/postgres/test_accounts.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from supervisor_desk.hub import passwords
from supervisor_desk.hub.store.sqlite import SqliteStore


def test_argon2id_hash_carries_its_parameters_and_checks_only_its_password() -> None:
    salt, digest = passwords.hash_password("corr3ct horse")
    text = digest.decode()
    assert text.startswith("$argon2id$v=19$")
    assert (f"m={passwords.ARGON2_MEMORY_KIB},t={passwords.ARGON2_TIME_COST},"
            f"p={passwords.ARGON2_PARALLELISM}$") in text
    assert "corr3ct" not in text
    assert passwords.verify_password("corr3ct horse", salt, digest)
    assert not passwords.verify_password("corr3ct horsE", salt, digest)
    assert not passwords.needs_rehash(salt, digest)
    assert not passwords.verify_password("x", b"", b"$argon2id$garbage")


def test_changed_parameters_or_scrypt_ask_for_a_rehash(monkeypatch: pytest.MonkeyPatch) -> None:
    salt, digest = passwords.hash_password("pw")
    monkeypatch.setattr(passwords, "ARGON2_TIME_COST", passwords.ARGON2_TIME_COST + 1)
    assert passwords.needs_rehash(salt, digest)
    assert passwords.verify_password("pw", salt, digest)  # still valid meanwhile
    old_salt, old_digest = passwords.legacy_scrypt_hash("pw", b"s" * 16)
    assert passwords.verify_password("pw", old_salt, old_digest)
    assert not passwords.verify_password("pW", old_salt, old_digest)
    assert passwords.needs_rehash(old_salt, old_digest)


def test_scrypt_user_signs_in_and_is_upgraded_to_argon2id(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hub.db")
    try:
        user_id = store.add_user("olga", "viewer", "old-secret")
        salt, digest = passwords.legacy_scrypt_hash("old-secret", b"\x01" * 16)
        with sqlite3.connect(tmp_path / "hub.db") as conn:
            conn.execute("UPDATE users SET salt = ?, hash = ? WHERE id = ?",
                         (salt, digest, user_id))
        conn.close()
        assert store.check_password("olga", "wrong") is None
        assert store.check_password("olga", "old-secret") == (user_id, "olga", "viewer")
        with sqlite3.connect(tmp_path / "hub.db") as conn:
            (stored,) = conn.execute("SELECT hash FROM users WHERE id = ?", (user_id,)).fetchone()
        conn.close()
        assert bytes(stored).startswith(b"$argon2id$")
        assert store.check_password("olga", "old-secret") == (user_id, "olga", "viewer")
    finally:
        store.close()
