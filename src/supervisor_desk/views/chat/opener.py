"""Hand a link or a remote attachment to the desktop, and say so when nothing opens it.

``QDesktopServices.openUrl`` on Linux only starts ``xdg-open`` and reports whether it
started: a desktop with no browser, or no handler for an audio file, fails silently. Here
``xdg-open`` runs as a ``QProcess`` whose exit status is read (xdg-open documents 1-4), so
the reader learns that the recording did not open; elsewhere (Windows, macOS, no xdg-open)
``openUrl``'s answer is used. A launcher that is still running after a few seconds has
handed the link to a program (xdg-open waits for some browsers), which counts as opened.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QProcess, QTimer, QUrl
from PySide6.QtGui import QDesktopServices

Done = Callable[[str | None], None]  # None: opened; else why not, as a phrase

# xdg-open's documented exit codes.
XDG_OPEN_ERRORS = {
    1: "the link was not understood",
    2: "the file does not exist",
    3: "no application is set up to open it",
    4: "the application that should open it failed",
}
SETTLE_MS = 4000
_running: set[_XdgOpen] = set()


def launch(url: QUrl, done: Done) -> None:
    """Open ``url`` with the desktop's handler; ``done`` is called once with the outcome."""
    xdg_open = shutil.which("xdg-open") if sys.platform.startswith("linux") else None
    if xdg_open is None:
        done(None if QDesktopServices.openUrl(url) else XDG_OPEN_ERRORS[3])
        return
    _XdgOpen(xdg_open, url, done)


class _XdgOpen:
    """One xdg-open run, kept alive by its process (parented to the application)."""

    def __init__(self, program: str, url: QUrl, done: Done) -> None:
        self._done: Done | None = done
        _running.add(self)
        # Parented to the application, not a widget: closing the chat must not kill it.
        self.process = QProcess(QCoreApplication.instance())
        self.process.setProgram(program)
        self.process.setArguments([url.toString(QUrl.ComponentFormattingOption.FullyEncoded)])
        self.process.setStandardOutputFile(QProcess.nullDevice())
        self.process.setStandardErrorFile(QProcess.nullDevice())
        self.process.finished.connect(self._on_process_finished)
        self.process.errorOccurred.connect(self._on_process_error_occurred)
        self._timer = QTimer(self.process)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(lambda: self._report(None))
        self.process.start()
        self._timer.start(SETTLE_MS)

    def _report(self, problem: str | None) -> None:
        done, self._done = self._done, None
        if done is not None:
            done(problem)

    def _on_process_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        if status != QProcess.ExitStatus.NormalExit:
            self._report("the program that should open it stopped")
        elif code:
            self._report(XDG_OPEN_ERRORS.get(code, f"xdg-open failed (exit status {code})"))
        else:
            self._report(None)
        self._finish()

    def _on_process_error_occurred(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._report("xdg-open could not be started")
            self._finish()

    def _finish(self) -> None:
        self._timer.stop()
        self.process.deleteLater()
        _running.discard(self)
