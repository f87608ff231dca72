"""Off screen the live view-model follows the feed in the feed's own batches: every event is
applied, in order, alerts are told at once, and no frame timer is left to wake the app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

from supervisor_desk.client.feed import ConnectionState
from supervisor_desk.client.rest import HubClient
from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.views.alerts.viewmodel import AlertsViewModel
from supervisor_desk.views.live_viewmodel import LiveViewModel
from supervisor_desk.views.main_window import MainWindow
from supervisor_desk.views.session_table_model import SessionColumn, SessionTableModel
from supervisor_desk.views.tasks import standalone_scope
from tests.client.hub_events import ended, message, started, updated
from tests.conftest import ingest
from tests.helpers import wait_until
from tests.views.test_live_list import Feed, summary


def test_off_screen_a_burst_is_applied_in_order_told_at_once_and_no_timer_is_left(
    running_hub: Any, qrun: Any
) -> None:
    async def scenario() -> None:
        client = HubClient(running_hub.url)
        scope = standalone_scope("live")
        model = SessionTableModel()
        live = LiveViewModel(client, model, tasks=scope, metrics_poll_s=600.0)
        alerts = AlertsViewModel(default_rules())
        live.attach_alerts(alerts)
        told: list[str] = []  # session ids of the alerts told, in the order told
        alerts.notices_raised.connect(
            lambda notices: told.extend(a.session_id for n in notices for a in n.alerts))
        versions: dict[str, list[int]] = {}
        live.session_updated.connect(lambda s: versions.setdefault(s.id, []).append(s.version))
        try:
            await client.login("supervisor", "supervisor")
            await asyncio.to_thread(ingest, running_hub, [started("a")])
            live.start()
            await wait_until(lambda: model.rowCount() == 1
                             and live.feed.state is ConnectionState.CONNECTED)
            live.set_on_screen(False)  # closed to the tray
            burst = [started("b"), message("a", "one"), updated("b", stage="billing"),
                     message("a", "two"), ended("a"), started("c")]
            for event in burst:  # one post each: the feed gets them one frame at a time
                last = await asyncio.to_thread(ingest, running_hub, [event])
            await wait_until(lambda: live.feed.seq == last["last_seq"])
            # Applied, in order, as each batch came (no frame timer to wait for) …
            assert set(told) >= {"b", "a", "c"}  # new b, a ended, new c
            assert told.index("b") < told.index("c")
            assert versions == {}  # the followers that draw wait for the window
            a, b = live.store.get("a"), live.store.get("b")
            assert a is not None and not a.is_live and a.message_count == 2
            assert b is not None and b.stage == "billing"
            # … while the hidden table held still …
            assert [s.id for s in model.sessions()] == ["a"]
            # … and once the socket's rest is over, nothing is left to wake the app.
            await wait_until(lambda: not live.feed.resting)
            timers = live.findChildren(QTimer) + alerts.findChildren(QTimer)
            assert [t.objectName() or t.interval() for t in timers if t.isActive()] == []

            live.set_on_screen(True)  # current the instant it shows
            assert {s.id for s in model.sessions()} == {"a", "b", "c"}
            # … and the followers hear each changed session once, at its latest version.
            assert versions == {sid: [live.store.get(sid).version]  # type: ignore[union-attr]
                                for sid in ("a", "b", "c")}
            assert not live.feed.resting and live.feed.read_interval == 0
        finally:
            await live.stop()
            await scope.aclose()
            await client.aclose()
            live.deleteLater()
            alerts.deleteLater()

    qrun(scenario())



def test_shown_after_a_hidden_burst_the_first_painted_frame_is_current(qtbot: Any) -> None:
    """Off screen the table and the followers that draw hold still; the first frame painted
    after showing has every row, and every follower, at the store's latest version."""
    model = SessionTableModel()
    window = MainWindow(model)
    qtbot.addWidget(window)
    live = LiveViewModel(HubClient("http://127.0.0.1:9"), model, tasks=standalone_scope("live"))
    window.on_screen_changed.connect(live.set_on_screen)
    heard: dict[str, int] = {}  # a follower of session_updated: the latest version it heard
    live.session_updated.connect(lambda s: heard.__setitem__(s.id, s.version))
    feed = Feed(live)
    try:
        window.show()
        qtbot.waitExposed(window)
        feed.snapshot(*(summary(f"s{i}") for i in range(6)))
        window.hide()  # closed to the tray
        for round_ in range(2, 6):  # each event its own batch, as the feed hands them over
            for i in range(6):
                data = summary(f"s{i}", version=round_)
                data["stage"] = f"stage {round_}"
                feed.send("session.updated", data)
                live.on_batch_done()
        feed.send("session.started", summary("new"))
        feed.end("s0", version=6)
        live.on_batch_done()
        assert heard == {}  # nothing drawn off screen

        first_paint: list[dict[str, tuple[int, str, int | None]]] = []

        def on_paint() -> None:
            if not first_paint:
                first_paint.append({
                    s.id: (s.version,
                           model.data(model.index(row, SessionColumn.STAGE)),
                           heard.get(s.id))
                    for row, s in enumerate(model.sessions())})

        painted = _PaintSpy(window.table.viewport(), on_paint)
        window.show()
        qtbot.waitUntil(lambda: bool(first_paint), timeout=5000)
        painted.remove()
        expected = {s.id: (s.version, s.stage or "", s.version) for s in live.store}
        assert first_paint[0] == expected
        assert expected["s3"] == (5, "stage 5", 5) and expected["new"][0] == 1
    finally:
        live.deleteLater()


class _PaintSpy(QObject):
    """Calls ``seen`` on each paint event of ``widget``, before it paints."""

    def __init__(self, widget: QWidget, seen: Callable[[], None]) -> None:
        super().__init__()
        self.widget = widget
        self.seen = seen
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.widget and event.type() == QEvent.Type.Paint:
            self.seen()
        return False

    def remove(self) -> None:
        self.widget.removeEventFilter(self)
