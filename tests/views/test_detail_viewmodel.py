"""DetailViewModel against a real hub: load, logs, live messages, errors, cancellation."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.models.wire import SessionDetail
from supervisor_desk.views.detail_viewmodel import DetailViewModel
from tests.conftest import ingest
from tests.helpers import wait_until
from tests.views.chat_samples import hub_session_events, message


def collect(vm: DetailViewModel) -> dict[str, list[Any]]:
    seen: dict[str, list[Any]] = {
        "detail": [],
        "appended": [],
        "updated": [],
        "session": [],
        "error": [],
        "logs": [],
    }
    vm.detail_loaded.connect(seen["detail"].append)
    vm.message_appended.connect(seen["appended"].append)
    vm.message_updated.connect(seen["updated"].append)
    vm.session_changed.connect(seen["session"].append)
    vm.error_occurred.connect(seen["error"].append)
    vm.logs_loaded.connect(lambda kind, entries: seen["logs"].append((kind, entries)))
    return seen


@contextlib.asynccontextmanager
async def _signed_in(hub: EmbeddedHub, user: str = "viewer") -> AsyncIterator[HubClient]:
    """A client of ``hub`` signed in as ``user`` (the hub's seeded account of that name),
    closed at the end."""
    async with HubClient(hub.url) as client:
        await client.login(user, user)
        yield client


@contextlib.asynccontextmanager
async def _watched_detail_vm(
    client: HubClient,
) -> AsyncIterator[tuple[DetailViewModel, dict[str, list[Any]]]]:
    """A view-model on ``client`` and what it emits (``collect``), closed at the end."""
    vm = DetailViewModel(client)
    seen = collect(vm)
    try:
        yield vm, seen
    finally:
        await vm.aclose()


def test_select_loads_detail_and_logs(running_hub: EmbeddedHub, qrun: Callable[..., Any]) -> None:
    ingest(running_hub, hub_session_events("s1", messages=4))

    async def scenario() -> None:
        async with _signed_in(running_hub) as client, _watched_detail_vm(client) as (vm, seen):
            vm.select("s1")
            assert vm.loading
            await wait_until(lambda: bool(seen["detail"]))
            detail: SessionDetail = seen["detail"][0]
            assert detail.session.id == "s1" and len(detail.messages) == 4
            assert not vm.loading and vm.summary is not None
            vm.load_logs()
            await wait_until(lambda: len(seen["logs"]) == 2)
            kinds = dict(seen["logs"])
            assert kinds["trace"][0].generation.action == "reply"
            assert kinds["system"][0].text == "Session s1 opened"

    qrun(scenario())


def test_live_messages_of_the_selected_session_only(
    running_hub: EmbeddedHub, qrun: Callable[..., Any]
) -> None:
    ingest(running_hub, hub_session_events("s1", messages=2))

    async def scenario() -> None:
        async with _signed_in(running_hub) as client, _watched_detail_vm(client) as (vm, seen):
            vm.select("s1")
            await wait_until(lambda: bool(seen["detail"]))
            new = message(3, "customer", "hello again", session_id="s1", id="s1-m3")
            vm.on_message(new)
            vm.on_message(message(1, "customer", "other", session_id="s2"))
            assert [m.id for m in seen["appended"]] == ["s1-m3"]
            vm.on_message(new.model_copy(update={"reaction": "up"}))
            assert [m.reaction for m in seen["updated"]] == ["up"]
            summary = seen["detail"][0].session
            vm.on_session(
                summary.model_copy(update={"version": summary.version + 1, "results": {"a": "b"}})
            )
            vm.on_session(summary.model_copy(update={"version": summary.version - 1}))
            assert [s.results for s in seen["session"]] == [{"a": "b"}]

    qrun(scenario())


def test_messages_arriving_during_load_are_not_lost(
    running_hub: EmbeddedHub, qrun: Callable[..., Any]
) -> None:
    ingest(running_hub, hub_session_events("s1", messages=2))

    async def scenario() -> None:
        async with _signed_in(running_hub) as client, _watched_detail_vm(client) as (vm, seen):
            vm.select("s1")
            # The feed is faster than the REST answer: the message waits for the detail.
            vm.on_message(message(9, "ai", "early", session_id="s1", id="early"))
            assert seen["appended"] == []
            await wait_until(lambda: bool(seen["appended"]))
            assert [m.id for m in seen["appended"]] == ["early"]

    qrun(scenario())


def test_unknown_session_and_switching(running_hub: EmbeddedHub, qrun: Callable[..., Any]) -> None:
    ingest(running_hub, hub_session_events("s1", messages=1))

    async def scenario() -> None:
        async with _signed_in(running_hub) as client, _watched_detail_vm(client) as (vm, seen):
            vm.select("nope")
            await wait_until(lambda: bool(seen["error"]))
            assert seen["error"][0].startswith("Could not open the session:")
            vm.select("s1")
            vm.select(None)  # a quick change of mind cancels the load
            vm.select("s1")
            await wait_until(lambda: any(d is not None for d in seen["detail"]))
            loaded = [d for d in seen["detail"] if d is not None]
            assert len(loaded) == 1 and loaded[0].session.id == "s1"

    qrun(scenario())


def test_hub_unreachable_is_reported(qrun: Callable[..., Any]) -> None:
    async def scenario() -> None:
        unreachable = HubClient("http://127.0.0.1:9", timeout=2.0)
        async with unreachable as client, _watched_detail_vm(client) as (vm, seen):
            vm.select("s1")
            await wait_until(lambda: bool(seen["error"]))
            assert "cannot be reached" in seen["error"][0]

    qrun(scenario())


def test_chat_attached_to_the_vm_opens_logs_with_ctrl_l(
    running_hub: EmbeddedHub, qtbot: Any, qrun: Callable[..., Any]
) -> None:
    """The main window's way: it routes the transcript itself and attaches the tools."""
    from PySide6.QtCore import Qt

    from supervisor_desk.views.chat import ChatView
    from supervisor_desk.views.results_dock import ResultsDock

    ingest(running_hub, hub_session_events("s1", messages=2))

    async def scenario() -> None:
        async with _signed_in(running_hub, "supervisor") as client:
            vm = DetailViewModel(None)
            chat = ChatView(time_zone="UTC")
            dock = ResultsDock(time_zone="UTC")
            qtbot.addWidget(chat)
            qtbot.addWidget(dock)
            vm.detail_loaded.connect(chat.set_detail)
            tools = chat.attach_detail(vm, dock=dock)
            chat.resize(700, 600)
            chat.show()
            try:
                vm.set_client(client)
                vm.select("s1")
                await wait_until(lambda: chat.model.rowCount() > 0 and dock.summary is not None)
                await wait_until(lambda: tools.handover_button.button.isEnabled())
                chat.list_view.setFocus()
                qtbot.keyClick(chat.list_view, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
                assert tools.logs.isVisible()
                await wait_until(lambda: "Session s1 opened" in tools.logs.text("system"))
                assert "Action: reply" in tools.logs.text("trace")
            finally:
                await vm.aclose()
                await tools.handover.aclose()

    qrun(scenario())


def test_tasks_run_in_the_scope_the_app_gives(
    running_hub: EmbeddedHub, qrun: Callable[..., Any]
) -> None:
    """The app's owner sees the detail's tasks (named) and closing the view-model ends them."""
    from supervisor_desk.views.tasks import TaskOwner

    ingest(running_hub, hub_session_events("s1", messages=2))
    owner = TaskOwner(lambda task, exc: None)

    async def scenario() -> list[str]:
        async with _signed_in(running_hub) as client:
            vm = DetailViewModel(client, tasks=owner.scope("detail"))
            vm.select("s1")
            names = [task.get_name() for task in owner.tasks]
            await vm.aclose()
            return names

    assert qrun(scenario()) == ["detail-load-s1"]
    assert not owner.tasks


def test_select_from_a_full_text_search_asks_the_chat_to_find_it(
    running_hub: EmbeddedHub, qtbot: Any, qrun: Callable[..., Any]
) -> None:
    from supervisor_desk.views.chat.pane import DetailPane

    ingest(running_hub, hub_session_events("s1", messages=6))

    async def scenario() -> None:
        async with _signed_in(running_hub) as client:
            vm = DetailViewModel(client)
            pane = DetailPane(vm, time_zone="UTC")
            qtbot.addWidget(pane)
            pane.resize(700, 600)
            pane.show()
            order: list[str] = []
            vm.detail_loaded.connect(lambda _d: order.append("detail"))
            vm.find_requested.connect(order.append)
            try:
                vm.select("s1", find="message 5")
                await wait_until(lambda: len(order) == 2)
                assert order == ["detail", "message 5"]
                assert pane.chat.search_bar.isVisible()
                assert pane.chat.current_match == ("s1/m/s1-m5", 0)
                # A plain selection afterwards asks nothing.
                vm.select("s1")
                await wait_until(lambda: len(order) == 3)
                assert order[-1] == "detail"
            finally:
                await vm.aclose()

    qrun(scenario())
