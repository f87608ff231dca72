"""Sign-in flows against a real hub: with an in-memory keyring (persisted token, silent resume)
and with no keyring at all (session-only, visible note, nothing written to disk)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton

from supervisor_desk.client import tls
from supervisor_desk.client.credentials import SERVICE, CredentialStore
from supervisor_desk.client.settings import Preferences, ServerTrust
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.views.sign_in_dialog import SignInFlow
from tests.helpers import MemoryKeyring, wait_until
from tests.security.certs import Pki, make_pki


async def submit(flow: SignInFlow, server: str, user: str, password: str) -> None:
    await wait_until(lambda: flow.dialog is not None and flow.dialog.isVisible())
    dialog = flow.dialog
    assert dialog is not None
    dialog.server_combo.setCurrentText(server)
    dialog.username_edit.setText(user)
    dialog.password_edit.setText(password)
    dialog.sign_in_button.click()


def test_sign_in_with_keyring_then_resume_silently(
    running_hub: EmbeddedHub, qrun: Any, tmp_path: Path
) -> None:
    backend = MemoryKeyring()
    store = CredentialStore(backend)
    prefs = Preferences()
    flow = SignInFlow(store, prefs)

    async def scenario() -> None:
        task = asyncio.ensure_future(flow.ask())
        # A wrong password keeps the dialog open with the reason.
        await submit(flow, running_hub.url, "supervisor", "wrong")
        await wait_until(lambda: flow.dialog is not None
                         and flow.dialog.error_label.text() == "Wrong username or password.")
        assert flow.dialog is not None and not flow.dialog.note_label.isVisible()
        await submit(flow, running_hub.url, "supervisor", "supervisor")
        signed = await asyncio.wait_for(task, 10)
        assert signed is not None and signed.persistent and signed.role == "supervisor"
        token = signed.client.token
        assert token and backend.secrets[(SERVICE, f"supervisor@{running_hub.url}")] == token
        await signed.client.aclose()
        # The server list is remembered (and the preferences file holds no secret).
        assert prefs.servers == [running_hub.url] and prefs.last_username == "supervisor"
        saved = (Path(tmp_path) / "profile" / "config" / "preferences.json").read_text()
        assert token not in saved and "supervisor" in saved
        # Next start: a fresh store over the same keyring resumes without a dialog.
        again = SignInFlow(CredentialStore(backend), Preferences.load())
        resumed = await again.resume()
        assert resumed is not None and resumed.client.token == token
        # Sign out revokes the token on the hub and forgets it locally.
        await again.sign_out(resumed)
        assert (SERVICE, f"supervisor@{running_hub.url}") not in backend.secrets
        await resumed.client.aclose()
        # A revoked token is not resumed; the user is asked again (with the reason shown).
        backend.secrets[(SERVICE, f"supervisor@{running_hub.url}")] = token
        assert await SignInFlow(CredentialStore(backend), Preferences.load()).resume() is None
        assert (SERVICE, f"supervisor@{running_hub.url}") not in backend.secrets
        third = SignInFlow(CredentialStore(backend), Preferences.load())
        task = asyncio.ensure_future(third.ask(reason="Your sign-in was revoked."))
        await wait_until(lambda: third.dialog is not None and third.dialog.isVisible())
        assert third.dialog is not None
        assert third.dialog.reason_label.text() == "Your sign-in was revoked."
        assert third.dialog.server_combo.currentText() == running_hub.url
        assert third.dialog.username_edit.text() == "supervisor"
        third.dialog.reject()
        assert await asyncio.wait_for(task, 5) is None

    qrun(scenario())


def test_no_keyring_means_session_only_with_a_visible_note(
    running_hub: EmbeddedHub, qrun: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        store = CredentialStore()
        assert not store.persistent
        flow = SignInFlow(store, Preferences())

        async def scenario() -> None:
            task = asyncio.ensure_future(flow.ask())
            await wait_until(lambda: flow.dialog is not None and flow.dialog.isVisible())
            assert flow.dialog is not None
            assert flow.dialog.note_label.isVisible()
            assert "only while the app runs" in flow.dialog.note_label.text()
            await submit(flow, running_hub.url, "viewer", "viewer")
            signed = await asyncio.wait_for(task, 10)
            assert signed is not None and not signed.persistent
            token = signed.client.token
            assert token
            me = await signed.client.me()
            assert me.role == "viewer"
            await signed.client.aclose()
            # Next start: nothing to resume, and the token is in no file of the profile.
            assert await SignInFlow(CredentialStore(), Preferences.load()).resume() is None
            for path in (Path(tmp_path) / "profile").rglob("*"):
                if path.is_file():
                    assert token not in path.read_text(errors="replace"), path

        qrun(scenario())
    finally:
        keyring.set_keyring(previous)


def test_unreachable_server_is_explained(qrun: Any) -> None:
    flow = SignInFlow(CredentialStore(MemoryKeyring()), Preferences())

    async def scenario() -> None:
        task = asyncio.ensure_future(flow.ask())
        await submit(flow, "http://127.0.0.1:9", "supervisor", "pw")
        await wait_until(lambda: flow.dialog is not None
                         and bool(flow.dialog.error_label.text()), 15)
        assert flow.dialog is not None
        assert flow.dialog.sign_in_button.isEnabled()
        flow.dialog.reject()
        assert await asyncio.wait_for(task, 5) is None

    qrun(scenario())


def test_stored_sign_in_survives_a_hub_that_is_down_at_start(qrun: Any) -> None:
    backend = MemoryKeyring()
    store = CredentialStore(backend)
    prefs = Preferences()
    prefs.remember_sign_in("http://127.0.0.1:9", "supervisor")
    store.save("http://127.0.0.1:9", "supervisor", "stored-token")

    async def scenario() -> None:
        signed = await SignInFlow(store, prefs).resume()
        # The feed will retry and show "Hub unreachable"; the token is kept, not forgotten.
        assert signed is not None and signed.client.token == "stored-token"
        assert store.load("http://127.0.0.1:9", "supervisor") == "stored-token"
        await signed.client.aclose()

    qrun(scenario())


# ------------------------------------------------------------------------------------------
# After a failure: the password again, Enter = Sign in, the error beside the field


def test_wrong_password_leaves_the_password_selected_and_enter_signs_in(
    running_hub: EmbeddedHub, qrun: Any, qtbot: Any
) -> None:
    flow = SignInFlow(CredentialStore(MemoryKeyring()), Preferences())

    async def scenario() -> None:
        task = asyncio.ensure_future(flow.ask(startup=True))
        await wait_until(lambda: flow.dialog is not None and flow.dialog.isVisible())
        dialog = flow.dialog
        assert dialog is not None
        attempts: list[str] = []
        dialog.submitted.connect(lambda s, u, p: attempts.append(p))
        dialog.server_combo.setCurrentText(running_hub.url)
        dialog.username_edit.setText("supervisor")
        dialog.focus_password()
        qtbot.keyClicks(dialog.password_edit, "wrong")
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
        await wait_until(lambda: dialog.error_label.text() == "Wrong username or password.")
        # Still open, the error shown under the password (no popup), the password selected
        # and focused so the next keystrokes replace it.
        assert dialog.isVisible() and not task.done() and attempts == ["wrong"]
        assert dialog.error_label.isVisible() and not dialog.view_certificate_button.isVisible()
        assert dialog.quit_question is None
        assert dialog.focusWidget() is dialog.password_edit
        assert dialog.password_edit.selectedText() == "wrong"
        # Enter again is another attempt, even with the focus on Cancel: never a quit.
        dialog.cancel_button.setFocus()
        qtbot.keyClick(dialog.cancel_button, Qt.Key.Key_Return)
        await wait_until(lambda: len(attempts) == 2
                         and dialog.error_label.text() == "Wrong username or password."
                         and dialog.sign_in_button.isEnabled())
        assert dialog.isVisible() and not task.done() and dialog.quit_question is None
        assert dialog.focusWidget() is dialog.password_edit
        # Typing over the selection and pressing Enter signs in.
        qtbot.keyClicks(dialog.password_edit, "supervisor")
        assert dialog.password_edit.text() == "supervisor"
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
        signed = await asyncio.wait_for(task, 10)
        assert signed is not None and signed.role == "supervisor"
        await signed.client.aclose()

    qrun(scenario())


def test_cancel_at_start_up_asks_before_quitting(qrun: Any, qtbot: Any) -> None:
    flow = SignInFlow(CredentialStore(MemoryKeyring()), Preferences())

    async def scenario() -> None:
        task = asyncio.ensure_future(flow.ask(startup=True))
        await wait_until(lambda: flow.dialog is not None and flow.dialog.isVisible())
        dialog = flow.dialog
        assert dialog is not None
        dialog.cancel_button.click()
        await wait_until(lambda: dialog.quit_question is not None
                         and dialog.quit_question.isVisible())
        question = dialog.quit_question
        assert question is not None and question.text() == "Quit Supervisor Desk?"
        # No: back to the dialog, which is still waiting for a sign-in.
        no = question.button(QMessageBox.StandardButton.No)
        assert question.defaultButton() is no  # an Enter here does not quit either
        no.click()
        await wait_until(lambda: dialog.quit_question is None)
        assert dialog.isVisible() and not task.done()
        # The window's close button asks too.
        dialog.close()
        await wait_until(lambda: dialog.quit_question is not None
                         and dialog.quit_question.isVisible())
        assert dialog.isVisible() and not task.done()
        dialog.quit_question.button(QMessageBox.StandardButton.No).click()
        await wait_until(lambda: dialog.quit_question is None)
        # Escape asks too; Yes quits (the flow ends with no sign-in).
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
        await wait_until(lambda: dialog.quit_question is not None
                         and dialog.quit_question.isVisible())
        assert dialog.isVisible() and not task.done()
        dialog.quit_question.button(QMessageBox.StandardButton.Yes).click()
        assert await asyncio.wait_for(task, 5) is None

    qrun(scenario())


def test_cancel_of_a_later_sign_in_just_closes(qrun: Any) -> None:
    flow = SignInFlow(CredentialStore(MemoryKeyring()), Preferences())

    async def scenario() -> None:
        task = asyncio.ensure_future(flow.ask(reason="You signed out."))
        await wait_until(lambda: flow.dialog is not None and flow.dialog.isVisible())
        assert flow.dialog is not None
        flow.dialog.cancel_button.click()
        assert await asyncio.wait_for(task, 5) is None

    qrun(scenario())


# ------------------------------------------------------------------------------------------
# Certificates: refused with the reason and the certificate to view; Advanced trusts a CA


@pytest.fixture
def tls_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EmbeddedHub, Pki]]:
    pki = make_pki(tmp_path / "pki")
    # This computer's store (as OpenSSL reads it) holds some CA, not the hub's.
    store = tmp_path / "store.pem"
    store.write_text(pki.other_ca_cert.read_text())
    empty = tmp_path / "store.d"
    empty.mkdir()
    monkeypatch.setenv("SSL_CERT_FILE", str(store))
    monkeypatch.setenv("SSL_CERT_DIR", str(empty))
    hub = EmbeddedHub(tmp_path / "tls-hub.db", tls_cert=pki.server_cert, tls_key=pki.server_key)
    hub.add_user("supervisor", "supervisor", "supervisor")
    hub.start()
    try:
        yield hub, pki
    finally:
        hub.stop()


def test_refused_certificate_is_explained_and_a_ca_file_fixes_it(
    tls_hub: tuple[EmbeddedHub, Pki], qrun: Any, tmp_path: Path
) -> None:
    hub, pki = tls_hub
    prefs = Preferences()
    flow = SignInFlow(CredentialStore(MemoryKeyring()), prefs)

    async def scenario() -> None:
        task = asyncio.ensure_future(flow.ask(startup=True))
        await submit(flow, hub.url, "supervisor", "supervisor")
        dialog = flow.dialog
        assert dialog is not None
        await wait_until(lambda: "does not trust" in dialog.error_label.text())
        assert dialog.error_label.text().startswith(
            "The certificate of 127.0.0.1 is issued by “Supervisor Desk test CA”, an "
            "authority this computer does not trust.")
        assert dialog.isVisible() and not task.done()
        # View certificate: the details, and nothing that would let it through.
        assert dialog.view_certificate_button.isVisible()
        dialog.view_certificate_button.click()
        await wait_until(lambda: dialog.certificate_dialog is not None
                         and dialog.certificate_dialog.isVisible())
        shown = dialog.certificate_dialog
        assert shown is not None
        der = ssl.PEM_cert_to_DER_cert(pki.server_cert.read_text())
        fingerprint = tls.format_fingerprint(tls.certificate_fingerprint(der))
        assert shown.fields["SHA-256 fingerprint"].text() == fingerprint
        assert shown.fields["Issued to"].text() == "CN=localhost"
        assert shown.fields["Issued by"].text() == "CN=Supervisor Desk test CA"
        assert shown.fields["Host names"].text() == "localhost, 127.0.0.1"
        assert "UTC" in shown.fields["Valid until"].text()
        labels = {b.text() for b in shown.findChildren(QPushButton)}
        assert labels == {"&Close"} or labels == {"Close"}
        shown.reject()
        # A key file is refused as CA file (only a CA certificate's path is ever stored).
        dialog.advanced_button.setChecked(True)
        assert dialog.advanced.isVisible()
        dialog.ca_file_edit.setText(str(pki.server_key))
        dialog.sign_in_button.click()
        await wait_until(lambda: "holds a private key" in dialog.error_label.text())
        # The CA file under Advanced: signed in, and the path kept with the server entry.
        dialog.ca_file_edit.setText(str(pki.ca_cert))
        dialog.sign_in_button.click()
        signed = await asyncio.wait_for(task, 10)
        assert signed is not None
        await signed.client.aclose()
        assert prefs.trust_for(hub.url).ca_file == str(pki.ca_cert.resolve())
        saved = (tmp_path / "profile" / "config" / "preferences.json").read_text()
        assert str(pki.ca_cert.resolve()) in saved and "BEGIN" not in saved

        # Next time: the stored entry fills Advanced in, and a pin that does not match the
        # hub's certificate refuses it with its own words.
        again = SignInFlow(CredentialStore(MemoryKeyring()), Preferences.load())
        task = asyncio.ensure_future(again.ask())
        await wait_until(lambda: again.dialog is not None and again.dialog.isVisible())
        dialog = again.dialog
        assert dialog is not None
        assert dialog.advanced.isVisible()
        assert dialog.ca_file_edit.text() == str(pki.ca_cert.resolve())
        dialog.pins_edit.setText("ab" * 32)
        await submit(again, hub.url, "supervisor", "supervisor")
        await wait_until(lambda: "is not the one pinned" in dialog.error_label.text())
        dialog.pins_edit.setText("not a fingerprint")
        dialog.sign_in_button.click()
        await wait_until(lambda: "64 hexadecimal digits" in dialog.error_label.text())
        dialog.pins_edit.setText(fingerprint)
        dialog.sign_in_button.click()
        signed = await asyncio.wait_for(task, 10)
        assert signed is not None
        await signed.client.aclose()
        stored = again.prefs.trust_for(hub.url)
        assert stored.pins == (tls.certificate_fingerprint(der),)

    qrun(scenario())


def test_ca_file_option_and_a_refused_stored_sign_in(
    tls_hub: tuple[EmbeddedHub, Pki], qrun: Any
) -> None:
    hub, pki = tls_hub
    backend = MemoryKeyring()
    store = CredentialStore(backend)
    prefs = Preferences()
    prefs.remember_sign_in(hub.url, "supervisor")
    store.save(hub.url, "supervisor", hub.create_token("desk", "supervisor"))

    async def scenario() -> None:
        # Without the CA the stored sign-in cannot be used; the dialog says why, token kept.
        flow = SignInFlow(store, prefs)
        assert await flow.resume() is None
        assert store.load(hub.url, "supervisor") is not None
        task = asyncio.ensure_future(flow.ask(startup=True))
        await wait_until(lambda: flow.dialog is not None and flow.dialog.isVisible())
        assert flow.dialog is not None
        assert "an authority this computer does not trust" in flow.dialog.error_label.text()
        assert flow.dialog.view_certificate_button.isVisible()
        flow.dialog.reject()
        assert await asyncio.wait_for(task, 5) is None
        # --ca-file: the stored sign-in resumes, and the dialog would show the file.
        with_option = SignInFlow(store, prefs, ca_file=pki.ca_cert)
        resumed = await with_option.resume()
        assert resumed is not None and resumed.role == "supervisor"
        await resumed.client.aclose()
        task = asyncio.ensure_future(with_option.ask())
        await wait_until(lambda: with_option.dialog is not None
                         and with_option.dialog.isVisible())
        assert with_option.dialog is not None
        assert with_option.dialog.ca_file_edit.text() == str(pki.ca_cert.resolve())
        with_option.dialog.reject()
        assert await asyncio.wait_for(task, 5) is None

    qrun(scenario())


def test_a_stored_ca_file_that_went_away_is_asked_for_again(qrun: Any, tmp_path: Path) -> None:
    backend = MemoryKeyring()
    store = CredentialStore(backend)
    prefs = Preferences()
    server = "https://127.0.0.1:9"
    prefs.remember_sign_in(server, "supervisor")
    prefs.set_trust(server, ServerTrust(ca_file=str(tmp_path / "moved-away.pem")))
    store.save(server, "supervisor", "stored-token")

    async def scenario() -> None:
        flow = SignInFlow(store, prefs)
        assert await flow.resume() is None
        task = asyncio.ensure_future(flow.ask(startup=True))
        await wait_until(lambda: flow.dialog is not None and flow.dialog.isVisible())
        assert flow.dialog is not None
        assert "moved-away.pem for this server cannot be used" in flow.dialog.error_label.text()
        assert flow.dialog.ca_file_edit.text() == str(tmp_path / "moved-away.pem")
        flow.dialog.reject()
        assert await asyncio.wait_for(task, 5) is None

    qrun(scenario())


def test_advanced_follows_the_picked_server_and_keeps_what_is_typed(
    qrun: Any, tmp_path: Path
) -> None:
    prefs = Preferences()
    prefs.remember_sign_in("https://plain.example.com", "alice")
    prefs.remember_sign_in("https://corp.example.com", "alice")
    prefs.set_trust("https://corp.example.com",
                    ServerTrust(ca_file="/etc/corp-ca.pem", pins=("ab" * 32,)))
    flow = SignInFlow(CredentialStore(MemoryKeyring()), prefs)

    async def scenario() -> None:
        task = asyncio.ensure_future(flow.ask())
        await wait_until(lambda: flow.dialog is not None and flow.dialog.isVisible())
        dialog = flow.dialog
        assert dialog is not None
        # The last server's entry: its CA file and pin, Advanced open.
        assert dialog.server_combo.currentText() == "https://corp.example.com"
        assert dialog.ca_file_edit.text() == "/etc/corp-ca.pem"
        assert dialog.pins_edit.text() == tls.format_fingerprint("ab" * 32)
        assert dialog.advanced.isVisible()
        # Picking the other remembered server shows its (empty) entry.
        dialog.server_combo.setCurrentIndex(dialog.server_combo.findText(
            "https://plain.example.com"))
        assert dialog.ca_file_edit.text() == "" and dialog.pins_edit.text() == ""
        # A CA file chosen, then the address corrected by typing: the choice is kept.
        dialog.ca_file_edit.setText(str(tmp_path / "new-ca.pem"))
        dialog.server_combo.setEditText("https://new.example.com")
        assert dialog.ca_file_edit.text() == str(tmp_path / "new-ca.pem")
        dialog.reject()
        assert await asyncio.wait_for(task, 5) is None

    qrun(scenario())
