"""Sign-in: the dialog (server, username, password) and the flow that drives it.

The dialog never touches the network; :class:`SignInFlow` does, on the qasync loop: it opens the
dialog with ``open()`` (never ``exec()`` inside a coroutine, docs/architecture.md), awaits the
user's submit, logs in over REST and stores the token through the CredentialStore in an executor
(keyring calls can block on an unlock prompt). Without a keyring the sign-in is session-only
and the dialog says so; the token is never written to a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.client.rest import HubClient, HubError, normalize_base_url
from supervisor_desk.client.settings import Preferences
from supervisor_desk.models.wire import LoginAnswer, MeAnswer

if TYPE_CHECKING:
    from supervisor_desk.client.credentials import CredentialStore

log = logging.getLogger(__name__)

DEFAULT_SERVER = "http://127.0.0.1:8765"


class SignInDialog(QDialog):
    """Server (editable, remembered list), username, password; shows errors and notes."""

    submitted = Signal(str, str, str)  # server, username, password

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sign in — Supervisor Desk")
        self.setObjectName("signInDialog")
        self.setMinimumWidth(420)
        layout = QVBoxLayout(self)
        intro = QLabel("Sign in to a Supervisor Desk hub to watch live sessions.", self)
        intro.setTextFormat(Qt.TextFormat.PlainText)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.reason_label = QLabel(self)
        self.reason_label.setObjectName("signInReason")
        self.reason_label.setTextFormat(Qt.TextFormat.PlainText)
        self.reason_label.setWordWrap(True)
        self.reason_label.hide()
        layout.addWidget(self.reason_label)
        form = QFormLayout()
        self.server_combo = QComboBox(self)
        self.server_combo.setEditable(True)
        self.server_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.server_combo.setObjectName("serverCombo")
        self.username_edit = QLineEdit(self)
        self.username_edit.setObjectName("usernameEdit")
        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("passwordEdit")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Server", self.server_combo)
        form.addRow("Username", self.username_edit)
        form.addRow("Password", self.password_edit)
        layout.addLayout(form)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("signInError")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b91c1c;")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.note_label = QLabel(self)
        self.note_label.setObjectName("keyringNote")
        self.note_label.setTextFormat(Qt.TextFormat.PlainText)
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet("color: #92400e;")
        self.note_label.hide()
        layout.addWidget(self.note_label)
        self.buttons = QDialogButtonBox(self)
        self.sign_in_button = self.buttons.addButton(
            "Sign in", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.sign_in_button.setDefault(True)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    def set_servers(self, servers: list[str], current: str | None) -> None:
        self.server_combo.clear()
        self.server_combo.addItems(servers or [DEFAULT_SERVER])
        self.server_combo.setCurrentText(current or (servers[0] if servers else DEFAULT_SERVER))

    def set_username(self, username: str | None) -> None:
        self.username_edit.setText(username or "")
        (self.password_edit if username else self.username_edit).setFocus()

    def set_reason(self, reason: str) -> None:
        self.reason_label.setText(reason)
        self.reason_label.setVisible(bool(reason))

    def set_note(self, note: str) -> None:
        self.note_label.setText(note)
        self.note_label.setVisible(bool(note))

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def set_busy(self, busy: bool) -> None:
        for widget in (self.server_combo, self.username_edit, self.password_edit,
                       self.sign_in_button):
            widget.setEnabled(not busy)
        self.sign_in_button.setText("Signing in…" if busy else "Sign in")

    def _on_buttons_accepted(self) -> None:
        server = self.server_combo.currentText().strip()
        username = self.username_edit.text().strip()
        password = self.password_edit.text()
        if not server or not username or not password:
            self.show_error("Enter the server address, your username and your password.")
            return
        self.show_error("")
        self.submitted.emit(server, username, password)


@dataclass(frozen=True, slots=True)
class SignedIn:
    client: HubClient
    username: str  # as typed at sign-in: the keyring entry's name
    display_name: str
    role: str
    persistent: bool  # token kept in the keyring (False: session-only)


class SignInFlow:
    """Gets a signed-in HubClient: from the keyring, or by asking the user."""

    def __init__(self, credentials: CredentialStore, prefs: Preferences,
                 parent: QWidget | None = None) -> None:
        self.credentials = credentials
        self.prefs = prefs
        self._parent = parent
        self.dialog: SignInDialog | None = None

    async def _run_blocking[T](self, fn: object, *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, fn, *args)  # type: ignore[arg-type]

    async def resume(self, server: str | None = None) -> SignedIn | None:
        """Sign in silently with a stored token for the last (or given) server, if valid."""
        url = server or self.prefs.last_server
        if not url:
            return None
        try:
            url = normalize_base_url(url)
        except ValueError:
            return None
        username = self.prefs.usernames.get(url) or self.prefs.last_username
        if not username:
            return None
        token: str | None = await self._run_blocking(self.credentials.load, url, username)
        if not token:
            return None
        client = HubClient(url, token)
        try:
            me: MeAnswer = await client.me()
        except HubError as exc:
            if exc.unreachable:
                # The hub is down, not the sign-in: follow it and connect when it is back
                # (the header says "Hub unreachable — retrying"); a refused token comes
                # back as UNAUTHORIZED from the feed and leads to the dialog then.
                return SignedIn(client, username, username, "", self.credentials.persistent)
            await client.aclose()
            if exc.unauthorized:
                await self._run_blocking(self.credentials.delete, url, username)
            return None
        return SignedIn(client, username, me.user.name, me.role, self.credentials.persistent)

    async def ask(self, *, reason: str = "", server: str | None = None) -> SignedIn | None:
        """Show the dialog until a sign-in succeeds (result) or the user cancels (None)."""
        dialog = SignInDialog(self._parent)
        self.dialog = dialog
        current = server or self.prefs.last_server
        dialog.set_servers(list(self.prefs.servers), current)
        dialog.set_username(self.prefs.usernames.get(current or "") or self.prefs.last_username)
        dialog.set_reason(reason)
        dialog.set_note(self.credentials.note)
        submissions: asyncio.Queue[tuple[str, str, str] | None] = asyncio.Queue()
        dialog.submitted.connect(lambda s, u, p: submissions.put_nowait((s, u, p)))
        dialog.rejected.connect(lambda: submissions.put_nowait(None))
        dialog.open()
        dialog.raise_()
        dialog.activateWindow()
        try:
            while True:
                item = await submissions.get()
                if item is None:
                    return None
                server_text, username, password = item
                dialog.set_busy(True)
                try:
                    result = await self._login(server_text, username, password)
                except HubError as exc:
                    dialog.show_error(_login_error_text(exc))
                    continue
                except ValueError as exc:
                    dialog.show_error(str(exc))
                    continue
                finally:
                    dialog.set_busy(False)
                dialog.set_note(self.credentials.note)
                dialog.accept()
                return result
        finally:
            with contextlib.suppress(RuntimeError):
                dialog.hide()
                dialog.deleteLater()
            self.dialog = None

    async def _login(self, server: str, username: str, password: str) -> SignedIn:
        url = normalize_base_url(server)
        client = HubClient(url)
        try:
            answer: LoginAnswer = await client.login(username, password)
        except BaseException:
            await client.aclose()
            raise
        persistent: bool = await self._run_blocking(
            self.credentials.save, url, username, answer.token
        )
        self.prefs.remember_sign_in(url, username)
        await self._run_blocking(self.prefs.save)
        log.info("signed in to %s as %s (%s)", url, username,
                 "keyring" if persistent else "session-only")
        return SignedIn(client, username, answer.user.name, answer.role, persistent)

    async def sign_out(self, signed: SignedIn) -> None:
        """Revoke the token on the hub (best effort) and forget it locally."""
        url = signed.client.base_url
        try:
            await signed.client.logout()
        except HubError as exc:
            log.info("logout on the hub failed: %s", exc.code)
        await self._run_blocking(self.credentials.delete, url, signed.username)

    async def forget(self, signed: SignedIn) -> None:
        """The hub refused the token: drop it from the keyring."""
        await self._run_blocking(self.credentials.delete, signed.client.base_url, signed.username)


def _login_error_text(exc: HubError) -> str:
    if exc.unauthorized:
        return "Wrong username or password."
    if exc.unreachable:
        return exc.message or "The hub cannot be reached."
    return exc.message or f"Sign-in failed ({exc.code})."
