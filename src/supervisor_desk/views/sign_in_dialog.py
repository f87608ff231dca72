"""Sign-in: the dialog (server, username, password, advanced trust) and the flow that drives it.

The dialog never touches the network; :class:`SignInFlow` does, on the qasync loop: it opens the
dialog with ``open()`` (never ``exec()`` inside a coroutine, docs/architecture.md), awaits the
user's submit, logs in over REST and stores the token through the CredentialStore in an executor
(keyring calls can block on an unlock prompt). Without a keyring the sign-in is session-only
and the dialog says so; the token is never written to a file.

A failed sign-in keeps the dialog open with the error under the password, the password
selected and Enter still meaning Sign in. A refused certificate says why and offers "View
certificate"; there is no way to continue with a certificate the app refused. Under
Advanced, a server can get its own CA file and pinned certificate fingerprints, stored with
the server entry in the preferences (a path and fingerprints, never key material).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk import APP_NAME
from supervisor_desk.client import tls
from supervisor_desk.client.rest import HubClient, HubError, normalize_server_address
from supervisor_desk.client.settings import Preferences, ServerTrust
from supervisor_desk.models.wire import LoginAnswer, MeAnswer

if TYPE_CHECKING:
    from supervisor_desk.client.credentials import CredentialStore

log = logging.getLogger(__name__)

DEFAULT_SERVER = "http://127.0.0.1:8765"
_CERTIFICATE_ADVICE = (
    "Ask your IT department to install the issuing authority on this computer, or choose its "
    "certificate under Advanced → CA file."
)


def _plain_label(parent: QWidget, name: str = "") -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)  # hub and certificate text is never HTML
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label


class CertificateDialog(QDialog):
    """ "View certificate": why it was refused, and who, by whom, when, which fingerprint."""

    def __init__(self, refusal: tls.CertificateRefusal, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Certificate of {refusal.host}")
        self.setObjectName("certificateDialog")
        layout = QVBoxLayout(self)
        self.reason_label = _plain_label(self, "certificateReason")
        self.reason_label.setText(refusal.message)
        layout.addWidget(self.reason_label)
        form = QFormLayout()
        self.fields: dict[str, QLabel] = {}
        details = refusal.certificate
        for label, value in details.rows() if details is not None else []:
            field = _plain_label(self)
            field.setText(value)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                          | Qt.TextInteractionFlag.TextSelectableByKeyboard)
            form.addRow(label, field)
            self.fields[label] = field
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class SignInDialog(QDialog):
    """Server (editable, remembered list), username, password, advanced trust; errors, notes.

    ``startup``: the sign-in the app cannot run without, so Cancel asks "Quit Supervisor
    Desk?" (Yes quits; No returns here) instead of closing silently.
    """

    submitted = Signal(str, str, str)  # server, username, password
    # A remembered server picked from the list (typing an address does not emit it, so a CA
    # file chosen before correcting the address is kept).
    server_picked = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, startup: bool = False) -> None:
        super().__init__(parent)
        self.startup = startup
        self.quit_question: QMessageBox | None = None
        self.certificate_dialog: CertificateDialog | None = None
        self._refusal: tls.CertificateRefusal | None = None
        self._ca_browser: QFileDialog | None = None
        self.setWindowTitle("Sign in — Supervisor Desk")
        self.setObjectName("signInDialog")
        self.setMinimumWidth(420)
        layout = QVBoxLayout(self)
        intro = _plain_label(self)
        intro.setText("Sign in to a Supervisor Desk hub to watch live sessions.")
        layout.addWidget(intro)
        self.reason_label = _plain_label(self, "signInReason")
        self.reason_label.hide()
        layout.addWidget(self.reason_label)
        form = QFormLayout()
        self.server_combo = QComboBox(self)
        self.server_combo.setEditable(True)
        self.server_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.server_combo.setObjectName("serverCombo")
        self.server_combo.currentIndexChanged.connect(self._on_server_combo_index_changed)
        # A hub run as several replicas: all their addresses, and the app fails over.
        self.server_combo.setToolTip(
            "The hub's address. For a hub with several replicas, give every replica's address, "
            "one per line or separated by commas: the app moves to another when one is down.")
        server_edit = self.server_combo.lineEdit()
        if server_edit is not None:
            server_edit.setPlaceholderText("https://hub.example.com:8765")
        self.username_edit = QLineEdit(self)
        self.username_edit.setObjectName("usernameEdit")
        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("passwordEdit")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Server", self.server_combo)
        form.addRow("Username", self.username_edit)
        form.addRow("Password", self.password_edit)
        layout.addLayout(form)
        # The error sits right under the password it is usually about, not in a popup.
        self.error_label = _plain_label(self, "signInError")
        self.error_label.setProperty("tone", "error")  # coloured by the theme
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.view_certificate_button = QPushButton("View certificate…", self)
        self.view_certificate_button.setObjectName("viewCertificateButton")
        self.view_certificate_button.setAutoDefault(False)
        self.view_certificate_button.clicked.connect(self._on_view_certificate_clicked)
        self.view_certificate_button.hide()
        layout.addWidget(self.view_certificate_button, 0, Qt.AlignmentFlag.AlignLeft)
        # Grow with wrapped error and note text shown after the dialog opened (never clip it).
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        self._build_advanced(layout)
        self.note_label = _plain_label(self, "keyringNote")
        self.note_label.setProperty("tone", "warning")  # coloured by the theme
        self.note_label.hide()
        layout.addWidget(self.note_label)
        self.buttons = QDialogButtonBox(self)
        self.sign_in_button = self.buttons.addButton(
            "Sign in", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.sign_in_button.setDefault(True)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        # Enter means Sign in wherever the focus is, never Cancel.
        self.cancel_button.setAutoDefault(False)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self._on_cancel_requested)
        layout.addWidget(self.buttons)

    def _build_advanced(self, layout: QVBoxLayout) -> None:
        self.advanced_button = QToolButton(self)
        self.advanced_button.setObjectName("advancedButton")
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.toggled.connect(self._on_advanced_button_toggled)
        layout.addWidget(self.advanced_button)
        self.advanced = QWidget(self)
        self.advanced.setObjectName("advancedTrust")
        column = QVBoxLayout(self.advanced)
        column.setContentsMargins(0, 0, 0, 0)
        explain = QLabel("For this server, besides the certificates this computer trusts:",
                         self.advanced)
        explain.setTextFormat(Qt.TextFormat.PlainText)
        column.addWidget(explain)
        form = QFormLayout()
        column.addLayout(form)
        ca_row = QHBoxLayout()
        self.ca_file_edit = QLineEdit(self.advanced)
        self.ca_file_edit.setObjectName("caFileEdit")
        self.ca_file_edit.setPlaceholderText("none: this computer's certificates only")
        self.ca_file_edit.setClearButtonEnabled(True)
        self.browse_button = QPushButton("Browse…", self.advanced)
        self.browse_button.setAutoDefault(False)
        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        ca_row.addWidget(self.ca_file_edit, 1)
        ca_row.addWidget(self.browse_button)
        form.addRow("CA file", ca_row)
        self.pins_edit = QLineEdit(self.advanced)
        self.pins_edit.setObjectName("pinsEdit")
        self.pins_edit.setPlaceholderText("optional SHA-256 fingerprint(s), comma-separated")
        self.pins_edit.setClearButtonEnabled(True)
        self.pins_edit.setToolTip(
            "Only accept the server certificate with this SHA-256 fingerprint (as “View "
            "certificate” or `openssl x509 -noout -fingerprint -sha256` shows it). Two, "
            "separated by a comma, while a certificate is being replaced."
        )
        form.addRow("Pinned certificate", self.pins_edit)
        self.advanced.hide()
        layout.addWidget(self.advanced)

    # ---------------------------------------------------------------- filled by the flow

    def set_servers(self, servers: list[str], current: str | None) -> None:
        self.server_combo.clear()
        self.server_combo.addItems(servers or [DEFAULT_SERVER])
        self.server_combo.setCurrentText(current or (servers[0] if servers else DEFAULT_SERVER))

    def set_username(self, username: str | None) -> None:
        self.username_edit.setText(username or "")
        (self.password_edit if username else self.username_edit).setFocus()

    def set_trust(self, ca_file: str | None, pins: tuple[str, ...]) -> None:
        self.ca_file_edit.setText(ca_file or "")
        self.pins_edit.setText(", ".join(tls.format_fingerprint(p) for p in pins))
        if ca_file or pins:
            self.advanced_button.setChecked(True)

    def trust_fields(self) -> tuple[str, str]:
        """What Advanced holds, as typed: (CA file path, pins)."""
        return self.ca_file_edit.text().strip(), self.pins_edit.text().strip()

    def set_reason(self, reason: str) -> None:
        self.reason_label.setText(reason)
        self.reason_label.setVisible(bool(reason))

    def set_note(self, note: str) -> None:
        self.note_label.setText(note)
        self.note_label.setVisible(bool(note))

    def show_error(self, message: str, refusal: tls.CertificateRefusal | None = None) -> None:
        """The error under the password (empty: none); the password ready to be retyped."""
        self._refusal = refusal
        if refusal is not None:
            message = f"{message}\n{_CERTIFICATE_ADVICE}"
        self.error_label.setText(message)
        self.view_certificate_button.setVisible(
            refusal is not None and refusal.certificate is not None
        )
        self.error_label.setVisible(bool(message))
        if message:
            self.focus_password()

    def focus_password(self) -> None:
        self.password_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self.password_edit.selectAll()

    def set_busy(self, busy: bool) -> None:
        for widget in (self.server_combo, self.username_edit, self.password_edit,
                       self.sign_in_button, self.advanced):
            widget.setEnabled(not busy)
        self.sign_in_button.setText("Signing in…" if busy else "Sign in")

    # ---------------------------------------------------------------- slots

    def _on_buttons_accepted(self) -> None:
        server = self.server_combo.currentText().strip()
        username = self.username_edit.text().strip()
        password = self.password_edit.text()
        if not server or not username or not password:
            self.show_error("Enter the server address, your username and your password.")
            return
        self.show_error("")
        self.submitted.emit(server, username, password)

    def _on_server_combo_index_changed(self, index: int) -> None:
        if index >= 0:
            self.server_picked.emit(self.server_combo.itemText(index))

    def _on_advanced_button_toggled(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.advanced_button.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )
        self.adjustSize()

    def _on_browse_button_clicked(self) -> None:
        start = self.ca_file_edit.text() or str(Path.home())
        browser = QFileDialog(self, "Certificate authority file", str(Path(start).parent))
        browser.setNameFilters(["Certificates (*.pem *.crt *.cer)", "All files (*)"])
        browser.setFileMode(QFileDialog.FileMode.ExistingFile)
        browser.fileSelected.connect(self.ca_file_edit.setText)
        self._ca_browser = browser
        browser.open()

    def _on_view_certificate_clicked(self) -> None:
        if self._refusal is None:
            return
        dialog = CertificateDialog(self._refusal, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(self._on_certificate_dialog_destroyed)
        self.certificate_dialog = dialog
        dialog.open()

    def _on_certificate_dialog_destroyed(self) -> None:
        self.certificate_dialog = None

    # ---------------------------------------------------------------- cancel

    def _on_cancel_requested(self) -> None:
        """Cancel, Escape or the window's close button: at start-up, ask before quitting."""
        if not self.startup:
            self.reject()
            return
        if self.quit_question is not None:
            self.quit_question.raise_()
            return
        question = QMessageBox(
            QMessageBox.Icon.Question, APP_NAME, f"Quit {APP_NAME}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self,
        )
        question.setInformativeText("You are not signed in. No: back to the sign-in.")
        question.setDefaultButton(QMessageBox.StandardButton.No)
        question.finished.connect(self._on_quit_question_finished)
        self.quit_question = question
        question.open()

    def _on_quit_question_finished(self, result: int) -> None:
        question, self.quit_question = self.quit_question, None
        if question is not None:
            question.deleteLater()
        if result == QMessageBox.StandardButton.Yes:
            self.reject()
        else:
            self.focus_password()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self._on_cancel_requested()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.startup and self.isVisible():
            event.ignore()
            self._on_cancel_requested()
            return
        super().closeEvent(event)


@dataclass(frozen=True, slots=True)
class SignedIn:
    client: HubClient
    username: str  # as typed at sign-in: the keyring entry's name
    display_name: str
    role: str
    persistent: bool  # token kept in the keyring (False: session-only)


class SignInFlow:
    """Gets a signed-in HubClient: from the keyring, or by asking the user.

    ``ca_file`` (``--ca-file``) is trusted for the server signed in to now, in addition to
    what its server entry already says; a successful sign-in stores it with that entry.
    """

    def __init__(self, credentials: CredentialStore, prefs: Preferences,
                 parent: QWidget | None = None, *, ca_file: Path | str | None = None) -> None:
        self.credentials = credentials
        self.prefs = prefs
        self._parent = parent
        self._ca_file = str(Path(ca_file).expanduser().resolve()) if ca_file else None
        self._resume_error: HubError | None = None
        self.dialog: SignInDialog | None = None

    async def _run_blocking[T](self, fn: object, *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, fn, *args)  # type: ignore[arg-type]

    def trust_for(self, url: str) -> ServerTrust:
        trust = self.prefs.trust_for(url)
        if self._ca_file:
            trust = trust.model_copy(update={"ca_file": self._ca_file})
        return trust

    def _client(self, url: str, token: str | None, trust: ServerTrust) -> HubClient:
        return HubClient(url, token, ca_file=trust.ca_file, pins=trust.pins)

    async def resume(self, server: str | None = None) -> SignedIn | None:
        """Sign in silently with a stored token for the last (or given) server, if valid."""
        self._resume_error = None
        url = server or self.prefs.last_server
        if not url:
            return None
        try:
            url = normalize_server_address(url)
        except ValueError:
            return None
        username = self.prefs.usernames.get(url) or self.prefs.last_username
        if not username:
            return None
        token: str | None = await self._run_blocking(self.credentials.load, url, username)
        if not token:
            return None
        trust = self.trust_for(url)
        try:
            client = self._client(url, token, trust)
        except (OSError, ssl.SSLError) as exc:
            # The server entry's CA file was moved or damaged since: ask, saying so.
            self._resume_error = HubError(
                None, "ca_file", f"The CA file {trust.ca_file} for this server cannot be used "
                f"({getattr(exc, 'strerror', None) or exc}). Choose it again under Advanced.")
            return None
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
            elif exc.certificate_refused:
                # The token is fine; the server's certificate is not: the dialog says why.
                self._resume_error = exc
            return None
        return SignedIn(client, username, me.user.name, me.role, self.credentials.persistent)

    async def ask(self, *, reason: str = "", server: str | None = None,
                  startup: bool = False) -> SignedIn | None:
        """Show the dialog until a sign-in succeeds (result) or the user cancels (None).

        ``startup``: the app's first sign-in; cancelling it asks whether to quit.
        """
        dialog = SignInDialog(self._parent, startup=startup)
        self.dialog = dialog
        current = server or self.prefs.last_server
        dialog.set_servers(list(self.prefs.servers), current)
        dialog.set_username(self.prefs.usernames.get(current or "") or self.prefs.last_username)
        self._show_trust(dialog, dialog.server_combo.currentText())
        dialog.server_picked.connect(lambda text: self._show_trust(dialog, text))
        dialog.set_reason(reason)
        dialog.set_note(self.credentials.note)
        if self._resume_error is not None:
            _show_failure(dialog, self._resume_error)
            self._resume_error = None
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
                    trust = await self._read_trust(dialog)
                    result = await self._login(server_text, username, password, trust)
                except (HubError, ValueError) as exc:
                    # Enabled again first: focus cannot go back to a disabled password field.
                    dialog.set_busy(False)
                    if isinstance(exc, HubError):
                        _show_failure(dialog, exc)
                    else:
                        dialog.show_error(str(exc))
                    continue
                dialog.set_busy(False)
                dialog.set_note(self.credentials.note)
                dialog.accept()
                return result
        finally:
            with contextlib.suppress(RuntimeError):
                dialog.hide()
                dialog.deleteLater()
            self.dialog = None

    def _show_trust(self, dialog: SignInDialog, server_text: str) -> None:
        try:
            url = normalize_server_address(server_text)
        except ValueError:
            return
        trust = self.trust_for(url)
        dialog.set_trust(trust.ca_file, trust.pins)

    async def _read_trust(self, dialog: SignInDialog) -> ServerTrust:
        ca_text, pins_text = dialog.trust_fields()
        pins = tls.parse_pins(pins_text)
        ca_file: Path | None = None
        if ca_text:
            ca_file = await self._run_blocking(tls.check_ca_file, ca_text)
        return ServerTrust(ca_file=str(ca_file) if ca_file else None, pins=pins)

    async def _login(self, server: str, username: str, password: str,
                     trust: ServerTrust | None = None) -> SignedIn:
        url = normalize_server_address(server)
        trust = trust if trust is not None else self.trust_for(url)
        client = self._client(url, None, trust)
        try:
            answer: LoginAnswer = await client.login(username, password)
        except BaseException:
            await client.aclose()
            raise
        persistent: bool = await self._run_blocking(
            self.credentials.save, url, username, answer.token
        )
        self.prefs.remember_sign_in(url, username)
        self.prefs.set_trust(url, trust)
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


def _show_failure(dialog: SignInDialog, exc: HubError) -> None:
    dialog.show_error(_login_error_text(exc), exc.refusal)


def _login_error_text(exc: HubError) -> str:
    if exc.unauthorized:
        return "Wrong username or password."
    if exc.unreachable or exc.certificate_refused:
        return exc.message or "The hub cannot be reached."
    return exc.message or f"Sign-in failed ({exc.code})."

