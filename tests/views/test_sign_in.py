"""Sign-in flows against a real hub: with an in-memory keyring (persisted token, silent resume)
and with no keyring at all (session-only, visible note, nothing written to disk)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import fail

from supervisor_desk.client.credentials import SERVICE, CredentialStore
from supervisor_desk.client.settings import Preferences
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.views.sign_in_dialog import SignInFlow
from tests.helpers import MemoryKeyring, wait_until


@pytest.fixture(autouse=True)
def _app_owns_quit(qapp: Any) -> Any:
    """As in the app: closing the last window (the dialog) must not quit the Qt loop under
    the running coroutine (qasync would then resume it with no running asyncio loop)."""
    before = qapp.quitOnLastWindowClosed()
    qapp.setQuitOnLastWindowClosed(False)
    yield
    qapp.setQuitOnLastWindowClosed(before)


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
