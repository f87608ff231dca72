"""The soak with the desktop's Qt view-model (offscreen) instead of the bare reducer.

Same hub process, producer and 20 feed clients as ``test_soak.py``; the desktop is
``LiveViewModel`` + ``SessionTableModel`` on a qasync loop, with F5 (``refresh``) every 30 s.
At the end the table model shows exactly the hub's live sessions. Slow only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from supervisor_desk.client.feed import ConnectionState, FeedClient
from supervisor_desk.client.rest import HubClient
from supervisor_desk.views.live_viewmodel import LiveViewModel
from supervisor_desk.views.session_table_model import SessionTableModel
from tests.helpers import wait_until
from tests.reliability.desk import LIVE, live_state
from tests.reliability.test_soak import check, save, soak
from tests.views.conftest import qloop, qrun  # noqa: F401 - fixtures used below


class QtDesk:
    def __init__(self, client: HubClient) -> None:
        self.model = SessionTableModel()
        self.vm = LiveViewModel(client, self.model, spawn=self._spawn)
        self.out_of_order = 0  # FeedClient hands events in seq order or resyncs

    @staticmethod
    def _spawn(coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        return asyncio.get_running_loop().create_task(coro, name=name)

    @property
    def feed(self) -> FeedClient:
        return self.vm.feed

    @property
    def snapshots(self) -> int:
        return self.vm.feed.snapshots

    @property
    def events(self) -> int:
        return self.vm.events_applied

    def start(self) -> None:
        self.vm.start()

    async def stop(self) -> None:
        await self.vm.stop()

    async def connected(self, timeout: float = 20.0) -> None:
        await wait_until(lambda: self.vm.feed.state is ConnectionState.CONNECTED, timeout)

    async def caught_up(self, url: str, token: str, timeout: float = 20.0) -> None:
        seq, hub = await asyncio.to_thread(live_state, url, token)
        await wait_until(lambda: self.vm.feed.seq >= seq, timeout)
        self.vm.refresh()  # flushes the pending frame and drops ended rows
        shown = {s.id: (s.status, s.message_count, s.stage) for s in self.model.sessions()
                 if s.status in LIVE}
        assert shown == hub, "the table does not show the hub's live sessions"
        assert self.model.rowCount() == len(hub)

    def refresh(self) -> None:
        self.vm.refresh()


@pytest.mark.slow
@pytest.mark.timeout(1300)
def test_soak_ten_minutes_with_the_qt_view_model(tmp_path: Path, qrun: Any) -> None:  # noqa: F811
    report = qrun(soak(tmp_path, 600.0, make_desk=QtDesk), timeout=1200)
    save(report, "600s-qt")
    check(report)
