"""``supervisor-desk open FILE``: offline review from the command line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from supervisor_desk.models.export import ExportFileError, check_export
from supervisor_desk.views.offline.window import OfflineWindow


def open_file_command(path: str | Path) -> int:
    """Check the file, then review it offline until closed.

    A file that cannot be opened prints one line on stderr naming it and the problem, and
    returns 2 before any window appears.
    """
    path = Path(path)
    try:
        check_export(path)
    except ExportFileError as exc:
        sys.stderr.write(f"supervisor-desk: {exc}\n")
        return 2
    import qasync

    app = QApplication.instance() or QApplication([sys.argv[0], str(path)])
    assert isinstance(app, QApplication)
    app.setApplicationName("Supervisor Desk")

    async def review() -> None:
        closed = asyncio.Event()
        window = OfflineWindow(path)
        window.destroyed.connect(closed.set)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        window.show()
        window.start()
        app.lastWindowClosed.connect(closed.set)
        await closed.wait()
        await window.aclose()

    try:
        asyncio.run(review(), loop_factory=qasync.QEventLoop)
    except KeyboardInterrupt:
        return 130
    return 0
