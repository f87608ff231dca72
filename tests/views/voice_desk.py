"""The desktop parts a voice-session test drives against a real hub: a signed-in client, Live
feeding a detail pane, and an orderly teardown (player stopped, tasks cancelled, client
closed), shared by the import and player tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from supervisor_desk.client.rest import HubClient
from supervisor_desk.views.chat.pane import DetailPane
from supervisor_desk.views.detail_viewmodel import DetailViewModel
from supervisor_desk.views.live_viewmodel import LiveViewModel
from supervisor_desk.views.session_table_model import SessionTableModel
from supervisor_desk.views.tasks import TaskScope, standalone_scope


@dataclass
class VoiceDesk:
    client: HubClient
    scope: TaskScope
    table: SessionTableModel
    live: LiveViewModel
    detail: DetailViewModel
    pane: DetailPane

    def chat_texts(self) -> list[str]:
        return chat_texts(self.pane)


def chat_texts(pane: DetailPane) -> list[str]:
    model = pane.chat.model
    return [str(model.index(i, 0).data()) for i in range(model.rowCount())]


@asynccontextmanager
async def voice_desk(url: str, qtbot: Any, *, user: str = "supervisor",
                     size: tuple[int, int] | None = None) -> AsyncIterator[VoiceDesk]:
    """Signed in as ``user``, Live started and feeding the shown detail pane."""
    client = HubClient(url)
    scope = standalone_scope("voice")
    table = SessionTableModel()
    live = LiveViewModel(client, table, tasks=scope, metrics_poll_s=600.0)
    detail = DetailViewModel(client, tasks=scope)
    pane = DetailPane(detail)
    qtbot.addWidget(pane)
    if size is not None:
        pane.resize(*size)
    pane.show()
    live.session_updated.connect(detail.on_session)
    live.message_received.connect(detail.on_message)
    try:
        await client.login(user, user)
        live.start()
        yield VoiceDesk(client, scope, table, live, detail, pane)
    finally:
        pane.chat.recording_player.clear()
        await live.stop()
        await scope.aclose()
        await client.aclose()
        live.deleteLater()
