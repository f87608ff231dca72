"""Tokens in the keyring when there is one; session-only (never a file) when there is none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.errors
import pytest
from keyring.backends import fail

from supervisor_desk.client.credentials import SERVICE, CredentialStore, account_name
from tests.helpers import MemoryKeyring


class LockedKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("collection is locked")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


URL = "https://hub.example.com:8765"


def test_token_survives_a_restart_with_a_keyring(memory_keyring: MemoryKeyring) -> None:
    store = CredentialStore()
    assert store.persistent and store.note == ""
    assert store.save(URL, "ana", "tok-1") is True
    assert memory_keyring.secrets == {(SERVICE, "ana@https://hub.example.com:8765"): "tok-1"}
    # A new process (new store) finds it.
    assert CredentialStore().load(URL, "ana") == "tok-1"


def test_tokens_are_namespaced_per_server_and_user(memory_keyring: MemoryKeyring) -> None:
    store = CredentialStore()
    store.save(URL, "ana", "a1")
    store.save("http://127.0.0.1:9000", "ana", "a2")
    store.save(URL, "bob", "b1")
    fresh = CredentialStore()
    assert fresh.load(URL, "ana") == "a1"
    assert fresh.load("http://127.0.0.1:9000/", "ana") == "a2"
    assert fresh.load(URL, "bob") == "b1"
    assert fresh.load(URL, "carol") is None
    assert account_name("ana", URL + "/") == "ana@" + URL


def test_delete_forgets_the_token(memory_keyring: MemoryKeyring) -> None:
    store = CredentialStore()
    store.save(URL, "ana", "tok")
    store.delete(URL, "ana")
    store.delete(URL, "ana")  # twice is fine
    assert store.load(URL, "ana") is None
    assert CredentialStore().load(URL, "ana") is None
    assert memory_keyring.secrets == {}


def test_without_keyring_sign_in_is_session_only(no_keyring: None, tmp_path: Path) -> None:
    store = CredentialStore()
    assert not store.persistent
    assert "no system keyring" in store.note.lower()
    assert "sign in again next time" in store.note
    assert store.save(URL, "ana", "secret-token") is False
    assert store.load(URL, "ana") == "secret-token"  # usable for this run
    assert CredentialStore().load(URL, "ana") is None  # gone after a restart
    # Never plaintext: nothing in the profile holds the token.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"secret-token" not in path.read_bytes()


def test_a_locked_keyring_falls_back_to_session_only() -> None:
    backend = LockedKeyring()
    store = CredentialStore(backend)
    assert store.persistent
    assert store.save(URL, "ana", "tok") is False
    assert not store.persistent
    assert "KeyringLocked" in store.note and "sign in again next time" in store.note
    assert store.load(URL, "ana") == "tok"
    assert backend.secrets == {}
