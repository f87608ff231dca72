"""Customer view against a real hub: every session of one user, chats one after another."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.views.chat.pane import DetailPane
from supervisor_desk.views.customer_view import CustomerView
from supervisor_desk.views.detail_viewmodel import DetailViewModel
from supervisor_desk.views.handover import HandoverController
from supervisor_desk.views.results_dock import ResultsDock
from tests.conftest import ingest
from tests.helpers import wait_until
from tests.views.chat_samples import hub_session_events


def seed(hub: EmbeddedHub) -> None:
    base = datetime.now(UTC) - timedelta(days=3)
    ingest(
        hub,
        [
            *hub_session_events("c-web", channel="web", ended=True, start=base),
            *hub_session_events(
                "c-wa", channel="whatsapp", ended=True, start=base + timedelta(days=1)
            ),
            *hub_session_events("c-tg", channel="telegram", start=base + timedelta(days=2)),
            *hub_session_events("someone-else", user="user-99", user_name="Other"),
        ],
    )


def test_customer_view_lists_every_session_of_the_user(
    running_hub: EmbeddedHub, qtbot: QtBot, qrun: Callable[..., Any]
) -> None:
    seed(running_hub)

    async def scenario() -> None:
        client = HubClient(running_hub.url)
        await client.login("viewer", "viewer")
        try:
            vm = DetailViewModel(client)
            pane = DetailPane(vm, HandoverController(client), time_zone="UTC")
            dock = ResultsDock(time_zone="UTC")
            qtbot.addWidget(pane)
            qtbot.addWidget(dock)
            pane.bind_dock(dock)
            vm.select("c-tg")
            await wait_until(lambda: dock.summary is not None)
            # The dock's button opens the window.
            qtbot.mouseClick(dock.customer_button, Qt.MouseButton.LeftButton)
            await wait_until(lambda: bool(pane.customer_windows))
            window: CustomerView = pane.customer_windows[0]
            qtbot.addWidget(window)
            await wait_until(lambda: window.session_list.count() == 3)
            assert window.windowTitle() == "Customer view — Dana Whitfield"
            assert window.session_ids() == ["c-web", "c-wa", "c-tg"]  # oldest first
            assert window.status_label.text() == "3 sessions across 3 channels"
            rows = window.chat.model.rows()
            headers = [r.session_id for r in rows if r.kind == "header"]
            assert headers == ["c-web", "c-wa", "c-tg"]
            texts = [r.plain_text() for r in rows if r.kind == "message"]
            assert texts[0] == "web message 1 of c-web"
            assert texts[-1] == "telegram message 3 of c-tg"
            assert "Other" not in " ".join(r.text for r in rows)
            assert window.chat.title_label.text() == "Chat · 9 messages"
            # A header in the list jumps to that session in the chat.
            window.resize(900, 500)
            window.show()
            await wait_until(lambda: window.chat.list_view.verticalScrollBar().maximum() > 0)
            window.chat.list_view.scrollToBottom()
            window.session_list.itemClicked.emit(window.session_list.item(0))
            await wait_until(lambda: window.chat.list_view.verticalScrollBar().value() == 0)
            # A header in the chat, clicked, asks the main window to select that session.
            activated: list[str] = []
            pane.session_activated.connect(activated.append)
            window.chat.session_header_clicked.emit("c-wa")
            assert activated == ["c-wa"]
            await vm.aclose()
            await pane.handover.aclose()
            await window.view_model.aclose()
        finally:
            await client.aclose()

    qrun(scenario())


def test_customer_view_is_a_360_view_with_counts_that_agree(
    running_hub: EmbeddedHub, qtbot: QtBot, qrun: Callable[..., Any]
) -> None:
    """Contact, collected data and channels across sessions; the hand-over marker is not
    counted as a message anywhere (list, headers, chat); Escape closes the window."""
    seed(running_hub)

    async def scenario() -> None:
        client = HubClient(running_hub.url)
        await client.login("supervisor", "supervisor")
        try:
            await client.handover("c-tg")  # adds a "Transfer to human agent" marker
            summary = (await client.session("c-tg")).session
            window = CustomerView(client, summary, time_zone="UTC")
            qtbot.addWidget(window)
            window.show()
            await wait_until(lambda: window.session_list.count() == 3)
            panel = window.profile_panel
            assert panel.channels_label.text() == "Channels: Telegram 1 · Web 1 · WhatsApp 1"
            assert panel.contact_section.values() == {
                "Name": "Dana Whitfield",
                "Email": "dana@example.com",
            }
            assert panel.parameters_section.values() == {"plan": "Premium"}
            # Counted like the chat: 3 messages in c-tg, not 4 with the marker.
            last = window.session_list.item(2).text()
            assert last.endswith("\n3 messages · live")
            header = next(
                r.text
                for r in window.chat.model.rows()
                if r.kind == "header" and r.session_id == "c-tg"
            )
            assert header.endswith("· 3 messages")
            assert window.chat.title_label.text() == "Chat · 9 messages"
            assert any(r.kind == "marker" for r in window.chat.model.rows())
            # Escape closes the window (the app keeps running: it lives in the tray).
            qapp = QApplication.instance()
            assert isinstance(qapp, QApplication)
            qapp.setQuitOnLastWindowClosed(False)
            window.activateWindow()
            window.session_list.setFocus()
            await window.view_model.aclose()
            try:
                qtbot.keyClick(window.session_list, Qt.Key.Key_Escape)
                assert not window.isVisible()
            finally:
                qapp.setQuitOnLastWindowClosed(True)
        finally:
            await client.aclose()

    qrun(scenario())


def test_supervisor_edits_the_contact_from_the_customer_view(
    running_hub: EmbeddedHub, qtbot: QtBot, qrun: Callable[..., Any]
) -> None:
    seed(running_hub)

    async def scenario() -> None:
        viewer = HubClient(running_hub.url)
        supervisor = HubClient(running_hub.url)
        await viewer.login("viewer", "viewer")
        await supervisor.login("supervisor", "supervisor")
        try:
            summary = (await viewer.session("c-tg")).session
            # A viewer reads but may not edit.
            read_only = CustomerView(viewer, summary, time_zone="UTC")
            qtbot.addWidget(read_only)
            await wait_until(lambda: read_only.session_list.count() == 3)
            assert not read_only.profile_panel.edit_button.isEnabled()
            assert read_only.edit_contact() is None
            await read_only.view_model.aclose()

            window = CustomerView(supervisor, summary, time_zone="UTC")
            qtbot.addWidget(window)
            window.show()
            await wait_until(lambda: window.session_list.count() == 3)
            await wait_until(window.profile_panel.edit_button.isEnabled)
            qtbot.mouseClick(window.profile_panel.edit_button, Qt.MouseButton.LeftButton)
            dialog = window.contact_dialog
            assert dialog is not None and dialog.isVisible()
            assert dialog.edits["email"].text() == "dana@example.com"
            dialog.edits["phone"].setText("+49 30 7654321")
            dialog.accept()
            await wait_until(lambda: window.status_label.text().endswith("· contact saved"))
            assert window.profile_panel.contact_section.values()["Phone"] == "+49 30 7654321"
            # Saved on the newest session, with an audit line naming the supervisor.
            detail = await viewer.session("c-tg")
            assert detail.session.contact is not None
            assert detail.session.contact.phone == "+49 30 7654321"
            system = await viewer.logs("c-tg", "system")
            assert system[-1].text == (
                'Contact edited by supervisor: phone (empty) → "+49 30 7654321"'
            )
            await window.view_model.aclose()
        finally:
            await viewer.aclose()
            await supervisor.aclose()

    qrun(scenario())
