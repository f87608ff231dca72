"""``supervisor-desk [--screenshot P] [--exit-after S] open FILE``: offline review from a shell.

The file is checked before any window appears (a bad one: one line on stderr, exit 2). Then
the window reads it in the background until closed (exit 0), ``--exit-after`` elapses (exit
0) or SIGINT/SIGTERM arrives (exit 130), at any moment of the load: the reading thread is
stopped and every task ended before the loop closes, so nothing is left to complain.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from supervisor_desk.models.export import MAX_REVIEW_SESSIONS, ExportFileError, check_export
from supervisor_desk.posix_signals import QuitOnSignal
from supervisor_desk.views.offline.window import OfflineWindow
from supervisor_desk.views.tasks import TaskOwner

log = logging.getLogger(__name__)

EXIT_INTERRUPTED = 130


def open_file_command(
    path: str | Path, *, screenshot: Path | None = None, exit_after: float | None = None
) -> int:
    """Check the file, then review it offline; returns the process exit code."""
    path = Path(path)
    try:
        check_export(path, max_sessions=MAX_REVIEW_SESSIONS)
    except ExportFileError as exc:
        sys.stderr.write(f"supervisor-desk: {exc}\n")
        return 2
    from supervisor_desk.views.qt_loop import DeskEventLoop

    app = QApplication.instance() or QApplication([sys.argv[0], str(path)])
    assert isinstance(app, QApplication)
    app.setApplicationName("Supervisor Desk")
    interrupted = False

    async def review() -> None:
        nonlocal interrupted
        owner = TaskOwner()
        closed = asyncio.Event()

        def on_signal() -> None:
            nonlocal interrupted
            interrupted = True
            closed.set()

        signals = QuitOnSignal(on_signal)
        signals.install()
        window = OfflineWindow(path, tasks=owner.scope("offline-window"))
        window.destroyed.connect(closed.set)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        window.show()
        window.start()
        shot = _Screenshot(window, screenshot) if screenshot is not None else None
        if shot is not None:
            owner.spawn(shot.when_loaded(), "screenshot")
        if exit_after is not None:
            asyncio.get_running_loop().call_later(exit_after, closed.set)
        try:
            await closed.wait()
            if shot is not None and not interrupted:
                shot.save()  # --exit-after came before the end of the load: as it is now
            await window.aclose()
            await owner.aclose()
            window.close()
        finally:
            signals.restore()

    try:
        asyncio.run(review(), loop_factory=DeskEventLoop)
    except KeyboardInterrupt:  # before the handler was installed, or after it was restored
        return EXIT_INTERRUPTED
    return EXIT_INTERRUPTED if interrupted else 0


class _Screenshot:
    """``--screenshot``: a PNG of the window once the file is read (or failed), else at exit."""

    def __init__(self, window: OfflineWindow, path: Path) -> None:
        self.window = window
        self.path = path
        self.saved = False

    async def when_loaded(self) -> None:
        loader = self.window.loader
        if not loader.done:
            loaded = asyncio.Event()
            loader.finished.connect(lambda *_: loaded.set())
            loader.failed.connect(lambda *_: loaded.set())
            await loaded.wait()
        await asyncio.sleep(0.5)  # the last refresh lays out and paints
        self.save()

    def save(self) -> None:
        if self.saved:
            return
        self.saved = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.window.grab().toImage().save(str(self.path)):
            log.error("could not write the screenshot %s", self.path)
