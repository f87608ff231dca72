"""The composition root: sign-in from the keyring, live rows, clean shutdown (menu, SIGTERM,
--exit-after), the CLI, and the canary for the PySide6 6.12 / Python 3.11 emit crash."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialogButtonBox

from supervisor_desk.__main__ import build_parser
from supervisor_desk.app import AppOptions, DeskApp
from supervisor_desk.client.credentials import CredentialStore
from supervisor_desk.client.settings import Preferences
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.views.live_viewmodel import FeedHold
from tests.client.hub_events import ended, now, started
from tests.conftest import ingest
from tests.helpers import MemoryKeyring, wait_until
from tests.views import conftest as qt_fixtures

# The shared qasync loop fixtures live in tests/views/conftest.py; this module sits above it.
qloop = qt_fixtures.qloop
qrun = qt_fixtures.qrun


@pytest.fixture
def signed_in_profile(running_hub: EmbeddedHub) -> CredentialStore:
    """A profile that signed in before: server in the preferences, token in the keyring."""
    answer = httpx.post(f"{running_hub.url}/api/v1/auth/login",
                        json={"username": "supervisor", "password": "supervisor"})
    token = answer.json()["token"]
    prefs = Preferences()
    prefs.remember_sign_in(running_hub.url, "supervisor")
    prefs.save()
    store = CredentialStore(MemoryKeyring())
    store.save(running_hub.url, "supervisor", token)
    return store


_made: list[DeskApp] = []


@pytest.fixture
def desk_env(qapp: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    before = qapp.quitOnLastWindowClosed()
    yield
    qapp.setQuitOnLastWindowClosed(before)
    # Delete on the Qt thread: Python's cyclic GC may otherwise free these QObjects on an
    # executor thread, where Qt cannot unregister their timers (a later crash).
    while _made:
        desk = _made.pop()
        desk.window.deleteLater()
        desk.deleteLater()
    qtbot.wait(10)
    gc.collect()


def make_desk(qapp: Any, store: CredentialStore, tmp_path: Path, **options: Any) -> DeskApp:
    desk = DeskApp(qapp, AppOptions(state_file=tmp_path / "state.json", **options),
                   credentials=store)
    desk.errors.show_dialogs = False
    _made.append(desk)
    return desk


@pytest.fixture
def signed_in_desk(
    qapp: Any, qloop: Any, signed_in_profile: CredentialStore, tmp_path: Path, desk_env: None
) -> DeskApp:
    """The app of ``signed_in_profile``, not yet running. Made once the test's loop is (as the
    app is made in its own), and deleted (``desk_env``) before that loop closes."""
    return make_desk(qapp, signed_in_profile, tmp_path)


@contextlib.asynccontextmanager
async def _running(
    desk: DeskApp, ready: Callable[[], bool], ask_to_quit: Callable[[], object]
) -> AsyncIterator[asyncio.Future[int]]:
    """``desk`` running, once ``ready()``; at the end ``ask_to_quit()``, and ``desk`` stopped.
    Yields its run: the exit code once the block is left."""
    run = asyncio.ensure_future(desk.run())
    await wait_until(ready)
    yield run
    ask_to_quit()
    await asyncio.wait_for(run, 15)


def _connected(desk: DeskApp) -> contextlib.AbstractAsyncContextManager[asyncio.Future[int]]:
    """``desk`` running and connected to its hub, then asked to quit (``request_quit``)."""
    return _running(desk, lambda: desk.window.connection_pill.text() == "Connected",
                    desk.request_quit)


def _live_until_quit_from_the_menu(
    desk: DeskApp,
) -> contextlib.AbstractAsyncContextManager[asyncio.Future[int]]:
    """``desk`` running with its live view-model made, then quit from the menu."""
    return _running(desk, lambda: desk.live is not None, desk.window.quit_action.trigger)


def test_signs_in_from_keyring_shows_rows_and_quits_cleanly(
    running_hub: EmbeddedHub, signed_in_desk: DeskApp, qrun: Any, tmp_path: Path
) -> None:
    desk = signed_in_desk

    async def scenario() -> int:
        run = asyncio.ensure_future(desk.run())
        await wait_until(lambda: desk.live is not None)
        await asyncio.to_thread(ingest, running_hub, [started("app-1"), started("app-2")])
        await wait_until(lambda: desk.model.rowCount() == 2)
        await asyncio.to_thread(ingest, running_hub, [ended("app-2")])
        await wait_until(lambda: desk.model.session_at(desk.model.row_of("app-2")) is not None
                         and not desk.model.session_at(desk.model.row_of("app-2")).is_live)
        desk.window.refresh_action.trigger()
        await wait_until(lambda: desk.model.rowCount() == 1)
        # The History page (Live/History switch) lists both, from the hub's REST API.
        assert desk.window.page_switch.isVisibleTo(desk.window)
        desk.window.show_page(desk.history_page)
        await wait_until(lambda: {s.id for s in desk.history.shown_sessions()}
                         >= {"app-1", "app-2"})
        assert not desk.window.metric_cards.isVisibleTo(desk.window)
        desk.window.show_page(0)
        await wait_until(lambda: (tmp_path / "state.json").exists())
        assert desk.window.user_button.text().startswith("supervisor")
        assert desk.window.connection_pill.text() == "Connected"
        client = desk.signed.client if desk.signed else None
        assert client is not None
        # Quit from the menu: every task stops, connections close, the window goes.
        desk.window.quit_action.trigger()
        code = await asyncio.wait_for(run, 15)
        assert client._http.is_closed
        return code

    assert qrun(scenario()) == 0
    assert desk.shutdown_clean is True
    assert not desk.tasks.tasks
    assert not desk.window.isVisible()
    assert desk.errors.errors == []
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["rows"] == 1 and state["connection"] in ("connected", "stopped")


def test_the_hub_gathers_the_feed_by_what_is_on_screen(
    running_hub: EmbeddedHub, signed_in_desk: DeskApp, qrun: Any
) -> None:
    """On screen the Live list's changes come with the second's tick (View → "Update once a
    second", remembered); minimised, up to a second of everything; the option off, each event
    at once."""
    desk = signed_in_desk

    async def scenario() -> None:
        async with _connected(desk):
            live = desk.live
            assert live is not None
            await wait_until(lambda: live.feed_hold is FeedHold.EACH_SECOND
                             and live.feed.held_ms == 1000)
            desk.window.live_options.each_second_action.trigger()
            await wait_until(lambda: live.feed.held_ms == 0)
            assert live.feed_hold is FeedHold.NONE and desk.prefs.live_each_second is False
            desk.window.showMinimized()
            await wait_until(lambda: live.feed_hold is FeedHold.HIDDEN
                             and live.feed.held_ms == 1000)
            desk.window.showNormal()
            await wait_until(lambda: live.feed_hold is FeedHold.NONE and live.feed.held_ms == 0)
            desk.window.live_options.each_second_action.trigger()
            await wait_until(lambda: live.feed_hold is FeedHold.EACH_SECOND)

    qrun(scenario())


def test_revoked_token_returns_to_sign_in_with_the_reason(
    running_hub: EmbeddedHub, signed_in_profile: CredentialStore, signed_in_desk: DeskApp,
    qrun: Any,
) -> None:
    desk = signed_in_desk

    async def scenario() -> int:
        async with _connected(desk) as run:
            assert desk.signed is not None
            token = desk.signed.client.token
            # An administrator (or another device) revokes this token on the hub.
            await asyncio.to_thread(
                httpx.post, f"{running_hub.url}/api/v1/auth/logout",
                headers={"Authorization": f"Bearer {token}"},
            )
            await wait_until(lambda: desk.flow is not None and desk.flow.dialog is not None
                             and desk.flow.dialog.isVisible(), 15)
            dialog = desk.flow.dialog  # type: ignore[union-attr]
            assert dialog is not None
            assert dialog.reason_label.isVisible() and dialog.reason_label.text()
            assert dialog.server_combo.currentText() == running_hub.url
            assert desk.window.connection_pill.text() == "Signed out"
            assert desk.model.rowCount() == 0
            # The refused token is gone from the keyring.
            assert signed_in_profile.load(running_hub.url, "supervisor") is None
        return run.result()

    assert qrun(scenario()) == 0
    assert desk.shutdown_clean is True


def test_sigterm_quits_cleanly(signed_in_desk: DeskApp, qrun: Any) -> None:
    desk = signed_in_desk
    previous = signal.getsignal(signal.SIGTERM)

    async def scenario() -> int:
        run = asyncio.ensure_future(desk.run())
        await wait_until(lambda: desk.live is not None and desk.live.running)
        os.kill(os.getpid(), signal.SIGTERM)
        return await asyncio.wait_for(run, 15)

    try:
        assert qrun(scenario()) == 0
        assert desk.shutdown_clean is True
        # Our handler is gone after shutdown (a second SIGTERM would end the process at once).
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert desk.errors.errors == []
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_exit_after_quits_before_sign_in_completes(
    qapp: Any, qrun: Any, tmp_path: Path, desk_env: None
) -> None:
    # No stored sign-in: the dialog is open when --exit-after fires; shutdown closes it.
    desk = make_desk(qapp, CredentialStore(MemoryKeyring()), tmp_path, exit_after=0.5)
    assert qrun(desk.run()) == 0
    assert desk.shutdown_clean is True
    assert desk.flow is not None and desk.flow.dialog is None


def test_unexpected_errors_are_logged_and_reported(
    qapp: Any, qrun: Any, tmp_path: Path, desk_env: None
) -> None:
    desk = make_desk(qapp, CredentialStore(MemoryKeyring()), tmp_path, exit_after=1.0)

    async def boom() -> None:
        raise ValueError("kaboom")

    async def scenario() -> int:
        run = asyncio.ensure_future(desk.run())
        await asyncio.sleep(0.1)
        desk.tasks.spawn(boom(), "boom")
        return await asyncio.wait_for(run, 10)

    assert qrun(scenario()) == 0
    assert any("kaboom" in e for e in desk.errors.errors)


def test_cli_parses_the_documented_options() -> None:
    args = build_parser().parse_args(
        ["--server", "https://hub:8765", "--screenshot", "x.png", "--exit-after", "5"]
    )
    assert args.server == "https://hub:8765"
    assert args.screenshot == Path("x.png") and args.exit_after == 5.0 and not args.demo
    assert build_parser().parse_args(["--demo"]).demo


def test_demo_cli_shows_rows_saves_a_screenshot_and_exits_zero(tmp_path: Path) -> None:
    shot = tmp_path / "live.png"
    state = tmp_path / "state.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "SUPERVISOR_DESK_STATE_FILE": str(state)}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "supervisor_desk", "--demo", "--screenshot", str(shot),
         "--exit-after", "9", "--demo-rate", "25"],
        env=env, capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    final = json.loads(state.read_text())
    assert final["rows"] > 0
    assert final["first_rows_after"] is not None
    assert final["errors"] == []
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------------------------
# Canary: PySide6 6.12.0 on CPython 3.11 drops a reference to True on every Signal.emit() and aborts
# with "Fatal Python error: bool_dealloc" after a few hundred emits (docs/architecture.md). Python
# 3.12+ makes True immortal, which hides it; these tests fail loudly if either guard goes.


class _Emitter(QObject):
    fired = Signal(int)
    flag = Signal(bool)


def test_canary_python_is_at_least_3_12() -> None:
    assert sys.version_info >= (3, 12), "PySide6 6.12 crashes on Python 3.11 (bool_dealloc)"


def test_canary_ten_thousand_emits_keep_true_alive() -> None:
    emitter = _Emitter()
    received: list[int] = []
    emitter.fired.connect(received.append)
    emitter.flag.connect(lambda _b: None)
    before = sys.getrefcount(True)
    for i in range(10_000):
        emitter.fired.emit(i)
        emitter.flag.emit(True)
    after = sys.getrefcount(True)
    assert len(received) == 10_000
    # Immortal on 3.12+ (a huge constant); on a mortal True any drift is the bug.
    assert after >= before


def test_customer_view_header_click_shows_that_session_live_or_ended(
    running_hub: EmbeddedHub, signed_in_desk: DeskApp, qrun: Any
) -> None:
    desk = signed_in_desk

    async def scenario() -> None:
        async with _live_until_quit_from_the_menu(desk):
            await asyncio.to_thread(ingest, running_hub, [started("cv-live"), started("cv-old")])
            await asyncio.to_thread(ingest, running_hub, [ended("cv-old")])
            await wait_until(lambda: (s := desk.model.session_at(desk.model.row_of("cv-old")))
                             is not None and not s.is_live)
            desk.window.refresh_action.trigger()  # the ended one leaves the live list
            await wait_until(lambda: desk.model.rowCount() == 1)
            # What a click on a session header in the customer view emits:
            desk.detail_tools.session_activated.emit("cv-live")
            await wait_until(lambda: desk.window.table.selected_session() is not None
                             and desk.window.table.selected_session().id == "cv-live")
            desk.detail_tools.session_activated.emit("cv-old")
            await wait_until(lambda: desk.detail.summary is not None
                             and desk.detail.summary.id == "cv-old")
            assert desk.window.results_dock.summary is not None
            assert desk.window.results_dock.summary.id == "cv-old"

    qrun(scenario())
    assert desk.errors.errors == []


def test_open_logs_drawer_follows_new_log_entries_of_the_selected_session(
    running_hub: EmbeddedHub, signed_in_desk: DeskApp, qrun: Any
) -> None:
    desk = signed_in_desk

    def log_event(sid: str, n: int) -> dict[str, Any]:
        entry = {"at": now(), "level": "info", "text": f"router step {n}"}
        return {"id": f"log-{sid}-{n}", "type": "log.appended", "session_id": sid,
                "at": now(), "data": {"kind": "system", "entries": [entry]}}

    async def scenario() -> None:
        async with _live_until_quit_from_the_menu(desk):
            await asyncio.to_thread(ingest, running_hub, [started("lg-1"), log_event("lg-1", 1)])
            await wait_until(lambda: desk.model.rowCount() == 1)
            assert desk.window.reveal_session("lg-1")
            await wait_until(lambda: desk.detail.summary is not None)
            desk.detail_tools.set_logs_visible(True)
            drawer = desk.detail_tools.logs
            await wait_until(lambda: len(drawer._entries["system"]) == 1)
            # A platform appends a log line while the supervisor reads the drawer:
            await asyncio.to_thread(ingest, running_hub, [log_event("lg-1", 2)])
            await wait_until(lambda: [e.text for e in drawer._entries["system"]]
                             == ["router step 1", "router step 2"])

    qrun(scenario())
    assert desk.errors.errors == []


def _visible_in(menu: Any) -> list[str]:
    return [a.text() for a in menu.actions() if a.isVisible() and not a.isSeparator()]


def test_sign_out_asks_first_clears_everything_and_a_cancelled_sign_in_offers_sign_in(
    running_hub: EmbeddedHub, signed_in_profile: CredentialStore, signed_in_desk: DeskApp,
    qrun: Any,
) -> None:
    from PySide6.QtWidgets import QMessageBox

    desk = signed_in_desk
    w = desk.window

    async def scenario() -> int:
        async with _connected(desk) as run:
            await asyncio.to_thread(ingest, running_hub, [started("so-1"), started("so-2")])
            await wait_until(lambda: desk.model.rowCount() == 2)
            assert w.reveal_session("so-1")
            await wait_until(lambda: desk.detail.summary is not None)
            await wait_until(lambda: w.metric_cards.cards["live"].value() == "2")
            assert _visible_in(w.file_menu)[0] == "Sign out…"

            # Sign out asks first; Cancel keeps everything as it was.
            w.sign_out_action.trigger()
            question = w.sign_out_question
            assert question is not None and question.isVisible()
            assert question.text() == "Sign out of Supervisor Desk?"
            question.button(QMessageBox.StandardButton.Cancel).click()
            await wait_until(lambda: w.sign_out_question is None)
            assert desk.signed is not None and w.connection_pill.text() == "Connected"

            # Confirmed: the table, the cards, the chat and the dock of that account go.
            w.sign_out_action.trigger()
            question = w.sign_out_question
            assert question is not None
            question.defaultButton().click()
            await wait_until(lambda: desk.flow is not None and desk.flow.dialog is not None
                             and desk.flow.dialog.isVisible(), 15)
            assert desk.model.rowCount() == 0
            assert {c.value() for c in w.metric_cards.cards.values()} == {"—"}
            assert desk.detail.session_id is None and w.results_dock.summary is None
            assert w.connection_pill.text() == "Signed out"
            assert signed_in_profile.load(running_hub.url, "supervisor") is None

            # Cancel the sign-in: the app stays, and says how to sign in (never "restart").
            dialog = desk.flow.dialog  # type: ignore[union-attr]
            assert dialog is not None
            dialog.cancel_button.click()
            await wait_until(lambda: desk.flow is not None and desk.flow.dialog is None)
            assert not desk.quit_requested.is_set()
            assert "restart" not in w.status_left.text().lower()
            assert "File → Sign in…" in w.status_left.text()
            assert _visible_in(w.file_menu)[0] == "Sign in…"
            assert "Sign in…" in _visible_in(w.user_menu)
            assert w.user_button.text() == "Not signed in"
            assert w.signed_out_panel.isVisible() and w.sign_in_button.isVisible()
            assert not w.table.isVisible()

            # The empty Live page's button signs in again; the rows come back.
            w.sign_in_button.click()
            await wait_until(lambda: desk.flow is not None and desk.flow.dialog is not None
                             and desk.flow.dialog.isVisible())
            dialog = desk.flow.dialog  # type: ignore[union-attr]
            assert dialog is not None
            dialog.username_edit.setText("supervisor")
            dialog.password_edit.setText("supervisor")
            dialog.sign_in_button.click()
            await wait_until(lambda: w.connection_pill.text() == "Connected", 15)
            await wait_until(lambda: desk.model.rowCount() == 2)
            assert w.table.isVisible() and not w.signed_out_panel.isVisible()
            assert _visible_in(w.file_menu)[0] == "Sign out…"
            await wait_until(lambda: w.metric_cards.cards["live"].value() == "2")
        return run.result()

    assert qrun(scenario()) == 0
    assert desk.shutdown_clean is True
    assert desk.errors.errors == []


def test_history_full_text_hit_opens_the_chat_on_the_match_and_theme_is_remembered(
    running_hub: EmbeddedHub, signed_in_profile: CredentialStore, qapp: Any, qrun: Any,
    tmp_path: Path, desk_env: None,
) -> None:
    """A session listed by a full-text search opens with the chat's search on the words;
    the theme chosen in View → Theme (here: from the preferences) survives a restart."""
    from supervisor_desk.client.settings import load_preferences
    from supervisor_desk.models.filters import SessionFilter
    from supervisor_desk.views import theme
    from tests.client.hub_events import message

    controller = theme.apply_theme(qapp, "light")
    prefs = load_preferences()[0]
    prefs.theme = "dark"
    prefs.save()
    desk = make_desk(qapp, signed_in_profile, tmp_path)

    async def scenario() -> None:
        async with _live_until_quit_from_the_menu(desk):
            assert theme.current_theme().name == "dark"
            await asyncio.to_thread(ingest, running_hub, [
                started("ft-1"), message("ft-1", "Hello there"), message("ft-1", "ok"),
                message("ft-1", "my parcel never arrived"), started("ft-2"),
            ])
            desk.window.show_page(desk.history_page)
            desk.history_vm.set_filter(SessionFilter(text="parcel"))
            await wait_until(lambda: [s.id for s in desk.history.shown_sessions()] == ["ft-1"])
            desk.history.session_selected.emit(desk.history.shown_sessions()[0])
            chat = desk.window.chat
            await wait_until(lambda: chat.current_match is not None)
            assert chat.search_bar.isVisibleTo(desk.window)
            assert chat.search_bar.edit.text() == "parcel"
            assert chat.search_bar.count_label.text() == "1 of 1"
            # Chosen in the menu: saved in the preferences.
            controller.set_choice("high_contrast")
            await wait_until(lambda: load_preferences()[0].theme == "high_contrast")

    try:
        qrun(scenario())
    finally:
        controller.set_choice("light")
    assert desk.errors.errors == []


def test_preferences_switch_notification_kinds_and_history_has_its_own_status(
    running_hub: EmbeddedHub, signed_in_desk: DeskApp, qrun: Any
) -> None:
    from supervisor_desk.client.settings import load_preferences

    desk = signed_in_desk
    w = desk.window

    async def scenario() -> None:
        async with _connected(desk):
            await asyncio.to_thread(ingest, running_hub, [started("st-1")])
            await wait_until(lambda: desk.model.rowCount() == 1)
            await wait_until(lambda: "sessions on screen" in w.status_left.text())
            assert desk.coalescer.min_interval == 60.0  # one per kind per minute by default

            w.preferences_action.trigger()
            dialog = desk.preferences_dialog
            assert dialog is not None and dialog.isVisible()
            assert dialog.new_check.isChecked() and dialog.failed_check.isChecked()
            dialog.new_check.setChecked(False)
            dialog.interval.setValue(2)
            dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
            assert not desk.coalescer.notify_new and desk.coalescer.notify_failed
            assert desk.coalescer.min_interval == 120.0
            await wait_until(lambda: not load_preferences()[0].notifications.new_sessions)
            assert load_preferences()[0].notifications.min_interval_s == 120.0

            # History's status bar speaks of History.
            w.show_page(desk.history_page)
            await wait_until(lambda: w.status_left.text().startswith("History: Showing"))
            assert "on screen" not in w.status_left.text()
            w.show_page(0)
            await wait_until(lambda: "sessions on screen" in w.status_left.text())

    qrun(scenario())
    assert desk.errors.errors == []


class _SlowKeyring(MemoryKeyring):
    """A keyring that does not answer (an unlock prompt nobody has seen yet) until told to."""

    def __init__(self) -> None:
        super().__init__()
        self.unlocked = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.unlocked.wait(30)
        return super().get_password(service, username)


def test_a_slow_keyring_never_blocks_start_up_and_gets_the_token_when_it_answers(
    running_hub: EmbeddedHub, qapp: Any, qrun: Any, tmp_path: Path, desk_env: None,
) -> None:
    from supervisor_desk.account import WAITING_NOTE

    prefs = Preferences()
    prefs.remember_sign_in(running_hub.url, "supervisor")
    prefs.save()
    backend = _SlowKeyring()
    desk = make_desk(qapp, CredentialStore(backend), tmp_path)
    desk.account.keyring_patience = 0.3
    w = desk.window

    async def scenario() -> None:
        run = asyncio.ensure_future(desk.run())
        try:
            # The keyring is stuck, yet the sign-in dialog comes, and says why.
            await wait_until(lambda: desk.flow is not None and desk.flow.dialog is not None
                             and desk.flow.dialog.isVisible())
            assert w.connection_pill.text() == "Waiting for the system keyring…"
            dialog = desk.flow.dialog  # type: ignore[union-attr]
            assert dialog is not None and dialog.note_label.text() == WAITING_NOTE
            dialog.password_edit.setText("supervisor")
            dialog.sign_in_button.click()
            await wait_until(lambda: w.connection_pill.text() == "Connected", 15)
            assert "session-only" in w.user_button.toolTip()
            assert backend.secrets == {}
            # The keyring answers: the token of this sign-in goes there.
            backend.unlocked.set()
            await wait_until(lambda: len(backend.secrets) == 1)
            assert desk.signed is not None
            assert list(backend.secrets.values()) == [desk.signed.client.token]
            await wait_until(lambda: "stored in the system keyring"
                             in w.statusBar().currentMessage())
            assert "session-only" not in w.user_button.toolTip()
        finally:
            backend.unlocked.set()
            desk.request_quit()
            await asyncio.wait_for(run, 15)

    qrun(scenario())
    assert desk.errors.errors == []


def test_help_lists_the_shortcuts_and_the_session_keys_work(
    running_hub: EmbeddedHub, signed_in_desk: DeskApp, qrun: Any
) -> None:
    from supervisor_desk import __version__

    desk = signed_in_desk
    w = desk.window

    async def scenario() -> None:
        async with _connected(desk):
            await asyncio.to_thread(ingest, running_hub, [
                started("hk-active"), started("hk-q1", status="queued"),
                started("hk-q2", status="queued"),
            ])
            await wait_until(lambda: desk.model.rowCount() == 3)

            sheet = w.show_shortcuts()
            rows = dict(sheet.rows())
            for keys, words in (("Ctrl+J", "Next queued session"), ("Ctrl+K", "Search sessions"),
                                ("Ctrl+U", "Customer view"), ("F5", "Refresh"),
                                ("Ctrl+Shift+H", "Hand over to an operator"),
                                ("Ctrl+E", "Export"), ("Ctrl+L", "Logs")):
                assert rows.get(keys) == words, (keys, rows)
            sheet.close()

            # Next queued session: the queue's rows in turn, never the active one.
            w.next_queued_action.trigger()
            first = w.table.selected_session()
            assert first is not None and first.status == "queued"
            w.next_queued_action.trigger()
            second = w.table.selected_session()
            assert second is not None and second.status == "queued" and second.id != first.id
            await wait_until(lambda: desk.detail.summary is not None
                             and desk.detail.summary.id == second.id)

            # Customer view and hand-over of the session in the chat.
            w.customer_view_action.trigger()
            await wait_until(lambda: len(desk.detail_tools.customer_windows) == 1)
            desk.detail_tools.close_windows()
            await wait_until(lambda: desk.detail_tools.handover_button.button.isEnabled())
            w.handover_action.trigger()
            assert desk.detail_tools.handover_button.dialog is not None
            desk.detail_tools.handover_button.dialog.reject()

            # Search goes to History's search box.
            w.search_action.trigger()
            assert w.pages.currentIndex() == desk.history_page
            assert desk.history.filter_bar.search.hasFocus() or not w.isActiveWindow()

            w.about_action.trigger()
            about = desk.about_dialog
            assert about is not None and about.version_label.text() == f"Version {__version__}"
            await wait_until(lambda: f"version {__version__}" in about.hub_label.text())
            assert running_hub.url in about.hub_label.text()
            about.close()

    qrun(scenario())
    assert desk.errors.errors == []


def test_start_up_imports_no_page_dialog_or_library_that_is_not_on_screen() -> None:
    # The window and the live rows come first (docs/performance.md, start-up): Analytics'
    # charts and their plotting library, dialogs and the Wall load when first opened.
    later = ["pyqtgraph", "supervisor_desk.views.analytics.page",
             "supervisor_desk.views.export_dialog", "supervisor_desk.views.alerts.editor",
             "supervisor_desk.views.wall.window", "supervisor_desk.views.preferences_dialog",
             "supervisor_desk.views.import_audio_dialog"]
    code = ("import json, sys; import supervisor_desk.app; "
            f"print(json.dumps([m for m in {later!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert json.loads(out.stdout) == []


def test_the_analytics_page_is_built_when_first_shown(
    qapp: Any, qtbot: Any, tmp_path: Path, desk_env: None
) -> None:
    desk = make_desk(qapp, CredentialStore(MemoryKeyring()), tmp_path)
    desk.window.show()
    assert not desk.analytics_holder.built
    desk.window.show_page(desk.analytics_page)
    qtbot.waitUntil(lambda: desk.analytics_holder.built)
    assert desk.analytics.vm is desk.analytics_vm and desk.analytics.isVisible()
    desk.window.show_page(0)


def test_the_demo_hub_boots_in_a_child_process_that_stops_when_the_app_lets_go() -> None:
    from supervisor_desk.demo import start_demo_hub_process

    demo = start_demo_hub_process(rate=5.0, seed=3)
    try:
        assert demo.process.pid != os.getpid() and demo.process.poll() is None
        answer = httpx.post(f"{demo.url}/api/v1/auth/login",
                            json={"username": demo.username, "password": demo.password})
        assert answer.status_code == 200
        token = answer.json()["token"]
        history = httpx.get(f"{demo.url}/api/v1/sessions", params={"live": "false"},
                            headers={"Authorization": f"Bearer {token}"})
        assert history.json()["total"] >= 120  # the history was stored before "ready"
    finally:
        demo.stop()  # closes its stdin: the hub stops, the process exits on its own
    assert demo.process.returncode == 0
