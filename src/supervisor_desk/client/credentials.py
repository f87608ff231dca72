"""Hub tokens in the system keyring, or in memory only when there is no usable keyring.

Keyring calls can block (an unlock prompt, a slow D-Bus service), so every method here is
blocking on purpose: callers on the Qt thread run them in an executor
(``await loop.run_in_executor(None, store.load, url, user)``), never directly, or the feed's
websocket would miss its pings while a prompt is open.

Secrets never go to a file: without a keyring backend the store runs in *session-only* mode
(``persistent`` is False and ``note`` says why), keeping the token in this process's memory.
"""

from __future__ import annotations

import logging
import threading

import keyring
import keyring.backend
import keyring.errors
from keyring.backends import fail

log = logging.getLogger(__name__)

SERVICE = "supervisor-desk"
NO_KEYRING_NOTE = (
    "No system keyring is available, so your sign-in is kept only while the app runs; "
    "you will need to sign in again next time."
)
KEYRING_ERROR_NOTE = (
    "The system keyring could not be used ({reason}), so your sign-in is kept only while the "
    "app runs; you will need to sign in again next time."
)


def account_name(username: str, server_url: str) -> str:
    """The keyring "username" part: one entry per user per hub."""
    return f"{username}@{server_url.rstrip('/')}"


def _usable(backend: keyring.backend.KeyringBackend) -> bool:
    if isinstance(backend, fail.Keyring):
        return False
    # The null backend accepts and forgets everything: as good as none.
    return type(backend).__module__ != "keyring.backends.null"


class CredentialStore:
    """Tokens per (server, username) under service ``supervisor-desk``. Thread-safe; blocking."""

    def __init__(self, backend: keyring.backend.KeyringBackend | None = None) -> None:
        self._backend = backend if backend is not None else keyring.get_keyring()
        self._memory: dict[str, str] = {}
        self._lock = threading.Lock()
        self._persistent = _usable(self._backend)
        self._note = "" if self._persistent else NO_KEYRING_NOTE

    @property
    def persistent(self) -> bool:
        """True when tokens survive a restart (a real keyring backend is in use)."""
        return self._persistent

    @property
    def note(self) -> str:
        """Why sign-in is session-only ("" when the keyring works): show it to the user."""
        return self._note

    @property
    def backend_name(self) -> str:
        return type(self._backend).__name__

    def _fall_back(self, exc: Exception) -> None:
        # Keep running without the keyring rather than failing sign-in; never log secrets.
        log.warning("keyring unusable, switching to session-only sign-in: %s", type(exc).__name__)
        self._persistent = False
        if isinstance(exc, keyring.errors.NoKeyringError):
            self._note = NO_KEYRING_NOTE
        else:
            self._note = KEYRING_ERROR_NOTE.format(reason=type(exc).__name__)

    def save(self, server_url: str, username: str, token: str) -> bool:
        """Remember ``token``; returns True if it was stored persistently."""
        account = account_name(username, server_url)
        with self._lock:
            self._memory[account] = token
            if not self._persistent:
                return False
            try:
                self._backend.set_password(SERVICE, account, token)
            except (keyring.errors.KeyringError, OSError) as exc:
                self._fall_back(exc)
                return False
            return True

    def load(self, server_url: str, username: str) -> str | None:
        account = account_name(username, server_url)
        with self._lock:
            if account in self._memory:
                return self._memory[account]
            if not self._persistent:
                return None
            try:
                token = self._backend.get_password(SERVICE, account)
            except (keyring.errors.KeyringError, OSError) as exc:
                self._fall_back(exc)
                return None
            if token is not None:
                self._memory[account] = token
            return token

    def delete(self, server_url: str, username: str) -> None:
        """Forget the token (sign-out, or the hub rejected it)."""
        account = account_name(username, server_url)
        with self._lock:
            self._memory.pop(account, None)
            if not self._persistent:
                return
            try:
                self._backend.delete_password(SERVICE, account)
            except keyring.errors.PasswordDeleteError:
                pass  # nothing stored: already forgotten
            except (keyring.errors.KeyringError, OSError) as exc:
                self._fall_back(exc)
