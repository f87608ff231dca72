"""Hand-over end to end against a real hub: disabled reasons, success, refusals, network."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from supervisor_desk.client.feed import ConnectionState, FeedClient
from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.models.wire import LiveSnapshot, StoredEvent
from supervisor_desk.views.chat.pane import DetailPane
from supervisor_desk.views.detail_viewmodel import DetailViewModel
from supervisor_desk.views.handover import (
    NEXT_AVAILABLE,
    REASON_FINISHED,
    REASON_FORBIDDEN,
    REASON_HUMAN,
    HandoverController,
    disabled_reason,
)
from supervisor_desk.views.results_dock import ResultsDock
from tests.conftest import ingest
from tests.helpers import wait_until
from tests.views.chat_samples import hub_session_events, summary

OPERATOR = {"kind": "human", "operator": {"id": "op-7", "name": "Anna Petrova"}}


@pytest.fixture
def hub(running_hub: EmbeddedHub) -> Iterator[EmbeddedHub]:
    ingest(
        running_hub,
        [
            *hub_session_events("live-ai"),
            *hub_session_events("live-human", responsible=OPERATOR),
            *hub_session_events("done", ended=True),
        ],
    )
    yield running_hub


class Forward:
    """Feed listener that hands live changes to the detail view-model (as LiveViewModel does)."""

    def __init__(self, vm: DetailViewModel) -> None:
        self.vm = vm
        self.state = ConnectionState.STOPPED

    def on_snapshot(self, snapshot: LiveSnapshot) -> None:
        pass

    def on_event(self, seq: int, event: StoredEvent, replayed: bool) -> None:
        msg = event.message()
        if msg is not None:
            self.vm.on_message(msg)
        session = event.session()
        if session is not None:
            self.vm.on_session(session)

    def on_state(self, state: ConnectionState, retry_in: float | None, detail: str) -> None:
        self.state = state


class Desk:
    def __init__(self, client: HubClient, qtbot: QtBot) -> None:
        self.client = client
        self.vm = DetailViewModel(client)
        self.controller = HandoverController(client)
        self.pane = DetailPane(self.vm, self.controller, time_zone="UTC")
        self.dock = ResultsDock(time_zone="UTC")
        self.pane.bind_dock(self.dock)
        qtbot.addWidget(self.pane)
        qtbot.addWidget(self.dock)
        self.pane.resize(800, 600)
        self.pane.show()

    @property
    def button(self) -> Any:
        return self.pane.handover_button.button

    async def open(self, session_id: str) -> None:
        self.vm.select(session_id)
        await wait_until(lambda: self.vm.summary is not None and not self.vm.loading)
        await wait_until(lambda: self.controller.permissions is not None)

    async def close(self) -> None:
        await self.vm.aclose()
        await self.controller.aclose()
        await self.client.aclose()


async def confirm(desk: Desk, qtbot: QtBot, operator_id: str | None = None) -> None:
    """Click the button, then (in the dialog that asks) pick the operator and confirm."""
    qtbot.mouseClick(desk.button, Qt.MouseButton.LeftButton)
    dialog = desk.pane.handover_button.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.operator_combo.currentText() == NEXT_AVAILABLE
    await wait_until(lambda: desk.controller.operators is not None)
    if operator_id is not None:
        dialog.select_operator(operator_id)
    qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)


async def desk_for(hub: EmbeddedHub, user: str, qtbot: QtBot) -> Desk:
    client = HubClient(hub.url)
    await client.login(user, user)
    return Desk(client, qtbot)


def test_disabled_reasons_pure() -> None:
    live = summary()
    assert disabled_reason(live, ["sessions:handover"]) is None
    assert disabled_reason(live, ["sessions:read"]) == REASON_FORBIDDEN
    assert disabled_reason(summary(status="completed"), ["sessions:handover"]) == REASON_FINISHED
    assert disabled_reason(summary(responsible=OPERATOR), ["sessions:handover"]) == REASON_HUMAN
    assert (
        disabled_reason(summary(responsible={"kind": "unassigned"}), ["sessions:handover"])
        == REASON_HUMAN
    )


def test_viewer_may_not_hand_over(hub: EmbeddedHub, qtbot: QtBot, qrun: Callable[..., Any]) -> None:
    async def scenario() -> None:
        desk = await desk_for(hub, "viewer", qtbot)
        try:
            await desk.open("live-ai")
            assert not desk.button.isEnabled()
            assert desk.button.toolTip() == REASON_FORBIDDEN
        finally:
            await desk.close()

    qrun(scenario())


def test_finished_and_human_sessions_are_disabled(
    hub: EmbeddedHub, qtbot: QtBot, qrun: Callable[..., Any]
) -> None:
    async def scenario() -> None:
        desk = await desk_for(hub, "supervisor", qtbot)
        try:
            await desk.open("done")
            assert not desk.button.isEnabled()
            assert desk.button.toolTip() == REASON_FINISHED
            await desk.open("live-human")
            assert not desk.button.isEnabled()
            assert desk.button.toolTip() == REASON_HUMAN
            await desk.open("live-ai")
            assert desk.button.isEnabled()
        finally:
            await desk.close()

    qrun(scenario())


def test_hand_over_to_the_next_available_operator(
    hub: EmbeddedHub, qtbot: QtBot, qrun: Callable[..., Any]
) -> None:
    """Confirmed in the dialog; Responsible becomes Unassigned (never the supervisor), the
    marker and the system log say what happened, and the hub tells the rest by the feed."""

    async def scenario() -> None:
        desk = await desk_for(hub, "supervisor", qtbot)
        listener = Forward(desk.vm)
        feed = FeedClient(desk.client, listener)
        feed_task = asyncio.ensure_future(feed.run())
        try:
            await wait_until(lambda: listener.state is ConnectionState.CONNECTED)
            await desk.open("live-ai")
            assert desk.dock.facts()["Responsible"] == "AI"
            assert not [r for r in desk.pane.chat.model.rows() if r.kind == "marker"]
            # Cancel changes nothing.
            qtbot.mouseClick(desk.button, Qt.MouseButton.LeftButton)
            dialog = desk.pane.handover_button.dialog
            assert dialog is not None
            dialog.reject()
            assert desk.pane.handover_button.dialog is None
            assert (await desk.client.session("live-ai")).session.responsible.kind == "ai"

            await confirm(desk, qtbot)
            label = desk.pane.handover_button.result_label
            await wait_until(lambda: label.text() != "")
            assert label.text() == "Handed over: waiting for the next available operator"
            # Responsible comes from the hub's answer, the marker from the hub's feed.
            await wait_until(lambda: desk.dock.facts()["Responsible"] == "Unassigned")
            await wait_until(lambda: any(r.kind == "marker" for r in desk.pane.chat.model.rows()))
            marker = next(r for r in desk.pane.chat.model.rows() if r.kind == "marker")
            assert marker.text.startswith("Transfer to human agent at 20")
            assert not desk.button.isEnabled()
            assert desk.button.toolTip() == REASON_HUMAN
            # The hub really changed it, and wrote who did it to the session's system log.
            detail = await desk.client.session("live-ai")
            assert detail.session.responsible.kind == "unassigned"
            assert sum(1 for m in detail.messages if m.kind == "marker") == 1
            assert sum(1 for r in desk.pane.chat.model.rows() if r.kind == "marker") == 1
            system = await desk.client.logs("live-ai", "system")
            assert system[-1].text == (
                "Handed over to the next available operator by supervisor"
            )
        finally:
            feed_task.cancel()
            await asyncio.gather(feed_task, return_exceptions=True)
            await desk.close()

    qrun(scenario())


def test_hand_over_to_a_chosen_operator_never_to_oneself(
    hub: EmbeddedHub, qtbot: QtBot, qrun: Callable[..., Any]
) -> None:
    async def scenario() -> None:
        desk = await desk_for(hub, "supervisor", qtbot)
        try:
            # The supervisor once took a session themselves (an old hub did that on hand-over).
            me = (await desk.client.me()).user
            own = {"kind": "human", "operator": {"id": me.id, "name": me.name}}
            ingest(hub, hub_session_events("old", responsible=own, ended=True))
            await desk.open("live-ai")
            qtbot.mouseClick(desk.button, Qt.MouseButton.LeftButton)
            dialog = desk.pane.handover_button.dialog
            assert dialog is not None
            await wait_until(lambda: dialog.operator_combo.count() > 1)
            names = [
                dialog.operator_combo.itemText(i) for i in range(dialog.operator_combo.count())
            ]
            assert names == [NEXT_AVAILABLE, "Anna Petrova"]  # not the supervisor's account
            dialog.select_operator("op-7")
            qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)
            label = desk.pane.handover_button.result_label
            await wait_until(lambda: label.text() == "Handed over to Anna Petrova")
            await wait_until(lambda: desk.dock.facts()["Responsible"] == "Anna Petrova")
            detail = await desk.client.session("live-ai")
            operator = detail.session.responsible.operator
            assert operator is not None and operator.id == "op-7"
            system = await desk.client.logs("live-ai", "system")
            assert system[-1].text == "Handed over to Anna Petrova by supervisor"
        finally:
            await desk.close()

    qrun(scenario())


def test_refusal_from_the_hub_is_shown(
    hub: EmbeddedHub, qtbot: QtBot, qrun: Callable[..., Any]
) -> None:
    async def scenario() -> None:
        desk = await desk_for(hub, "supervisor", qtbot)
        other = HubClient(hub.url)
        try:
            await desk.open("live-ai")
            await other.login("admin", "admin")
            await other.handover("live-ai")  # someone else was faster; our view is stale
            assert desk.button.isEnabled()
            await confirm(desk, qtbot)
            label = desk.pane.handover_button.result_label
            await wait_until(lambda: label.text() != "")
            assert label.text() == f"Hand-over refused: {REASON_HUMAN}"
        finally:
            await other.aclose()
            await desk.close()

    qrun(scenario())


def test_network_error_is_shown(hub: EmbeddedHub, qtbot: QtBot, qrun: Callable[..., Any]) -> None:
    async def scenario() -> None:
        desk = await desk_for(hub, "supervisor", qtbot)
        try:
            await desk.open("live-ai")
            await desk.controller._load_operators()  # the list, before the hub goes away
            hub.stop()
            await confirm(desk, qtbot)
            label = desk.pane.handover_button.result_label
            await wait_until(lambda: label.text() != "", timeout=20)
            assert label.text().startswith("Hand-over failed: The hub cannot be reached")
            assert desk.button.isEnabled()  # nothing changed: the supervisor may retry
        finally:
            await desk.close()

    qrun(scenario(), timeout=60)


def test_signing_in_later_brings_permissions(
    hub: EmbeddedHub, qtbot: QtBot, qrun: Callable[..., Any]
) -> None:
    """The app builds the pane before sign-in: the client arrives through the view-model."""

    async def scenario() -> None:
        vm = DetailViewModel(None)
        pane = DetailPane(vm, time_zone="UTC")
        qtbot.addWidget(pane)
        assert pane.handover.reason == "Not connected to a hub"
        client = HubClient(hub.url)
        await client.login("supervisor", "supervisor")
        try:
            vm.set_client(client)
            await wait_until(lambda: pane.handover.permissions is not None)
            vm.select("live-ai")
            await wait_until(lambda: pane.handover_button.button.isEnabled())
        finally:
            await vm.aclose()
            await pane.handover.aclose()
            await client.aclose()

    qrun(scenario())


def test_forbidden_by_the_hub_is_shown(
    hub: EmbeddedHub, qtbot: QtBot, qrun: Callable[..., Any]
) -> None:
    """Even if the desktop believed it may (stale permissions), the hub's 403 is shown."""

    async def scenario() -> None:
        desk = await desk_for(hub, "viewer", qtbot)
        try:
            await desk.open("live-ai")
            desk.controller.set_permissions(["sessions:handover"])  # stale: role was changed
            assert desk.button.isEnabled()
            await confirm(desk, qtbot)
            label = desk.pane.handover_button.result_label
            await wait_until(lambda: label.text() != "")
            assert label.text() == f"Hand-over refused: {REASON_FORBIDDEN}"
            detail = await desk.client.session("live-ai")
            assert detail.session.responsible.kind == "ai"
        finally:
            await desk.close()

    qrun(scenario())
