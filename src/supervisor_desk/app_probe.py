"""What the running app shows, for tests and smoke checks: a JSON state dump and a screenshot.

``SUPERVISOR_DESK_STATE_FILE`` makes the app write :func:`app_state` there every second (the
e2e tests drive the installed app through it); ``--screenshot PATH`` saves a PNG of the main
window once live rows show. Neither holds a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer

from supervisor_desk import __version__
from supervisor_desk.views.session_table_model import SessionColumn

if TYPE_CHECKING:
    from supervisor_desk.app import DeskApp
    from supervisor_desk.views.tasks import TaskScope

log = logging.getLogger("supervisor_desk")


def app_state(desk: DeskApp) -> dict[str, Any]:
    """What the app shows (no secrets)."""
    model = desk.model
    first_rows = []
    for row in range(min(5, model.rowCount())):
        index = model.index(row, SessionColumn.DURATION)
        s = model.session_at(row)
        first_rows.append({"id": s.id if s else None, "duration": index.data(),
                           "status": s.status if s else None})
    live = desk.live
    tray = desk.tray
    window = desk.window
    return {
        "pid": os.getpid(),
        "time": time.time(),
        "rows": model.rowCount(),
        "first_rows": first_rows,
        "first_rows_after": desk.first_rows_after,
        "connection": live.connection_state.value if live and live.connection_state else "",
        "connection_text": window.connection_pill.text(),
        "events_applied": live.events_applied if live else 0,
        "window_visible": window.isVisible(),
        "tray_visible": tray.tray_visible,
        "desktop_notifications": tray.desktop_notifications,
        "notifications_sent": tray.notifications_sent,
        "alerts": [{"title": a.title, "body": a.body, "session_id": a.session_id}
                   for a in tray.last_alerts],
        "in_window_notifications": window.notification_area.shown_count,
        "open_alerts": [{"session_id": a.session_id, "rule_id": a.rule_id, "state": a.state,
                         "repeats": a.repeats,
                         "who": a.session.user.name or a.session.user.external_id
                         or a.session.user.id}
                        for a in desk.alerts.alerts()],
        "highlighted_rows": sum(
            1 for row in range(model.rowCount())
            if model.index(row, SessionColumn.ID).data(Qt.ItemDataRole.BackgroundRole)
            is not None),
        "alert_sounds": desk.alert_notifier.sounds_played,
        "selected": desk.detail.session_id,
        "signed_in": desk.signed is not None,
        "screenshot": str(desk.screenshot_saved) if desk.screenshot_saved else None,
        "errors": list(desk.errors.errors),
        "version": __version__,
    }


class StateFile(QObject):
    """Writes ``state()`` as JSON to ``path`` every second, atomically, off the Qt thread."""

    def __init__(self, path: Path, state: Callable[[], dict[str, Any]], tasks: TaskScope,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self._state = state
        self._tasks = tasks
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        """Stop the timer and write the final state now (so a test sees it)."""
        self._timer.stop()
        with contextlib.suppress(OSError):
            self.path.write_text(json.dumps(self._state(), indent=1))

    def _on_timer_timeout(self) -> None:
        payload = json.dumps(self._state(), indent=1)
        path = self.path

        def write() -> None:
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(payload, encoding="utf-8")
            os.replace(tmp, path)

        async def write_async() -> None:
            await asyncio.get_running_loop().run_in_executor(None, write)

        self._tasks.spawn(write_async(), "state-file")


async def poll(predicate: Callable[[], bool], *, within: float, step: float = 0.05) -> bool:
    """Wait until ``predicate()`` holds (widget state has no event to await); False on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(step)
    return True


async def take_screenshot(desk: DeskApp, path: Path) -> Path | None:
    """Grab the window once rows show; with a session open when none is, so the picture
    shows the chat and the dock too (the docs' screenshot). None if the app quit first."""
    model, window = desk.model, desk.window
    # A few more sessions arrive and the tick runs; wait (briefly) for a chat worth showing.
    await asyncio.sleep(1.5)
    await poll(lambda: any(s.is_live and s.message_count >= 4 for s in model.sessions()),
               within=12.0)
    if desk.detail.session_id is None:
        # Among the rows on screen, so the table is not scrolled away from its top.
        first, last = window.table.visible_rows()
        sessions = [s for s in model.sessions()[first:last + 1] if s.is_live]
        if sessions:
            busiest = max(sessions, key=lambda s: (s.message_count, s.id))
            window.table.select_session(busiest.id)
            await poll(lambda: desk.detail.summary is not None, within=5.0)
            await asyncio.sleep(0.6)  # let the transcript lay out and paint
    if desk.quit_requested.is_set():
        return None
    image = window.grab().toImage()

    def save() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(path)):
            raise OSError(f"could not write {path}")

    await asyncio.get_running_loop().run_in_executor(None, save)
    log.info("screenshot saved to %s", path)
    return path
